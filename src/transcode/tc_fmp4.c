/* tc_fmp4: fragmented-MP4 segments for DASH ISO, CMAF and HLS fMP4 outputs.
 *
 * DESIGN: no segmenting muxer (dash, hls) is used here: they name and open
 * their own files, rename temporaries and write manifests we could not name
 * as MediaConvert does. Instead each output has one plain mp4 muxer in
 * fragmented mode (frag_custom: a fragment ends only when we say so) whose
 * AVIOContext is a dynamic memory buffer. After the header, that buffer is
 * the init segment; at every segment boundary we flush the fragment, close
 * the buffer into one bundle record (tc_bundle.c) and open a new one. The
 * child still opens no file and libav never sees a file name.
 *
 * Boundaries: a segment starts at the first keyframe at or after each
 * multiple of SegmentLength (keyframes are forced there, tc_hls.c), so
 * every rendition of a group cuts at the same frames; audio-only outputs
 * cut at the first packet at or after each multiple. With FragmentLength
 * shorter than the segment, further fragments start at keyframes after
 * each multiple of it inside a segment.
 *
 * Timing: the video track timescale is 90000 (as MediaConvert's). Encoders
 * start decode times below zero (B-frame reordering delay, AAC priming)
 * and fragments carry no edit lists, so every output of a group adds the
 * same shift to its timestamps: the largest start-up delay of the group's
 * encoders (has_b_frames frames, initial_padding samples). Content time t
 * is then file time t + shift in every rendition, so HLS renditions of
 * different encoders switch cleanly, and the MPD maps content time 0 with
 * presentationTimeOffset = shift. Should an encoder start even earlier,
 * that output alone is shifted further (and says so in the warnings).
 *
 * The last segment of an audio-only output also takes the encoder's
 * padding packets that start at or after the input's end, rather than
 * making a segment of a few milliseconds of them. */
#include "transcode/tc_internal.h"

#include <libavutil/bprint.h>
#include <math.h>
#include <string.h>

#define TC_FMP4_MAX_SEGMENTS 1000000

static const char *seg_ext(const tc_out *o)
{
    if (o->po->container != CT_CONTAINER_CMAF)
        return "mp4";
    return o->po->video.codec != CT_VCODEC_NONE ? "cmfv" : "cmfa";
}

void tc_fmp4_init_name(const tc_out *o, char *buf, size_t n)
{
    if (snprintf(buf, n, "%sinit.%s", o->po->name, seg_ext(o)) >= (int)n)
        buf[0] = '\0'; /* refused by tc_bundle_put */
}

/* k is 0-based; files count from 1 (9 digits for DASH/CMAF, 5 for HLS). */
void tc_fmp4_seg_name(const tc_out *o, int64_t k, char *buf, size_t n)
{
    int digits = o->po->container == CT_CONTAINER_HLS_FMP4 ? 5 : 9;
    if (snprintf(buf, n, "%s_%0*lld.%s", o->po->name, digits, (long long)(k + 1), seg_ext(o)) >= (int)n)
        buf[0] = '\0'; /* refused by tc_bundle_put */
}

int tc_fmp4_open_muxer(tc_job *j, tc_out *o, AVDictionary **opts)
{
    int ret = avformat_alloc_output_context2(&o->fmt, NULL, "mp4", NULL);
    o->seg_limit = tc_seg_limit(j, o->po);
    if (ret < 0 || !o->fmt)
        return tc_fail(j, CT_MC_ERR_UNKNOWN, "output %d: cannot create MP4 muxer", o->index + 1);
    if (avio_open_dyn_buf(&o->fmt->pb) < 0)
        return tc_fail(j, CT_MC_ERR_UNKNOWN, "output %d: out of memory", o->index + 1);
    o->fmt->flags |= AVFMT_FLAG_CUSTOM_IO;
    o->fmt->io_open = tc_input_io_open; /* refuses every open */
    o->fmt->avoid_negative_ts = AVFMT_AVOID_NEG_TS_DISABLED; /* we shift (see the top) */
    o->fm.on = 1;
    o->fm.cur_seg = o->fm.cur_frag = -1;
    /* frag_discont without edit lists: the first fragment's decode time is
     * the first packet's (shifted) dts, not 0. CMAF too is written with
     * unsigned composition offsets (MediaConvert's default
     * VideoCompositionOffsets UNSIGNED; libav's "cmaf" flag would sign
     * them), under the CMAF brand. */
    av_dict_set(opts, "movflags", "+frag_custom+empty_moov+default_base_moof+frag_discont+dash"
                "+skip_sidx+skip_trailer", 0);
    av_dict_set(opts, "use_editlist", "0", 0);
    if (o->po->container == CT_CONTAINER_CMAF)
        av_dict_set(opts, "brand", "cmfc", 0);
    return 0;
}

/* Closes the buffer the muxer wrote into as file name and opens a new one. */
static int emit(tc_job *j, tc_out *o, const char *name, int64_t *size)
{
    uint8_t *data = NULL;
    char eb[128];
    int len = avio_close_dyn_buf(o->fmt->pb, &data);
    int ret = len >= 0 ? tc_bundle_put(o, name, data, (size_t)len) : len;
    av_free(data);
    o->fmt->pb = NULL;
    if (ret >= 0)
        ret = avio_open_dyn_buf(&o->fmt->pb);
    if (ret < 0)
        return tc_fail(j, CT_MC_ERR_DISK, "output %d: cannot write %s (%s)", o->index + 1, name,
                       tc_averr(ret, eb, sizeof eb));
    if (size)
        *size = len;
    return 0;
}

/* ---- RFC 6381 codec strings from the sample entry boxes of the init segment ---- */

static const uint8_t *find_box(const uint8_t *p, size_t n, const char *type, size_t *len)
{
    for (size_t i = 4; i + 4 <= n; i++) {
        if (memcmp(p + i, type, 4) != 0)
            continue;
        size_t sz = ((size_t)p[i - 4] << 24) | ((size_t)p[i - 3] << 16) | ((size_t)p[i - 2] << 8) | p[i - 1];
        if (sz >= 8 && i - 4 + sz <= n) {
            *len = sz - 8;
            return p + i + 4;
        }
    }
    return NULL;
}

static uint32_t reverse32(uint32_t v)
{
    uint32_t r = 0;
    for (int i = 0; i < 32; i++, v >>= 1)
        r = (r << 1) | (v & 1);
    return r;
}

/* hvcC: profile space/tier/idc, compatibility flags (bit-reversed),
 * tier+level, then the constraint bytes without trailing zeros. */
static void hevc_str(const uint8_t *c, size_t n, char *buf, size_t bn)
{
    if (n < 13) {
        snprintf(buf, bn, "hvc1");
        return;
    }
    uint32_t compat = ((uint32_t)c[2] << 24) | ((uint32_t)c[3] << 16) | ((uint32_t)c[4] << 8) | c[5];
    int space = c[1] >> 6, last = 11;
    size_t k = (size_t)snprintf(buf, bn, "hvc1.%s%d.%X.%c%d", space ? (space == 1 ? "A" : space == 2 ? "B" : "C") : "",
                                c[1] & 0x1f, reverse32(compat), (c[1] & 0x20) ? 'H' : 'L', c[12]);
    while (last >= 6 && c[last] == 0)
        last--;
    for (int i = 6; i <= last && k + 4 < bn; i++)
        k += (size_t)snprintf(buf + k, bn - k, ".%02X", c[i]);
}

static void video_str(const uint8_t *p, size_t n, char *buf, size_t bn)
{
    const uint8_t *c;
    size_t cl;
    snprintf(buf, bn, "avc1.640028");
    if ((c = find_box(p, n, "avcC", &cl)) && cl >= 4)
        snprintf(buf, bn, "avc1.%02x%02x%02x", c[1], c[2], c[3]);
    else if ((c = find_box(p, n, "hvcC", &cl)))
        hevc_str(c, cl, buf, bn);
    else if ((c = find_box(p, n, "av1C", &cl)) && cl >= 3) /* av01.P.LLT.DD */
        snprintf(buf, bn, "av01.%d.%02d%c.%02d", c[1] >> 5, c[1] & 0x1f, (c[2] & 0x80) ? 'H' : 'M',
                 (c[2] & 0x40) ? ((c[2] & 0x20) ? 12 : 10) : 8);
    else if ((c = find_box(p, n, "vpcC", &cl)) && cl >= 7) /* full box: 4 bytes, then profile, level, depth */
        snprintf(buf, bn, "vp09.%02d.%02d.%02d", c[4], c[5], c[6] >> 4);
}

static void audio_str(const uint8_t *p, size_t n, char *buf, size_t bn)
{
    size_t cl;
    if (find_box(p, n, "dOps", &cl))
        snprintf(buf, bn, "opus");
    else if (find_box(p, n, ".mp3", &cl))
        snprintf(buf, bn, "mp4a.6B");
    else
        snprintf(buf, bn, "mp4a.40.2");
}

int tc_fmp4_after_header(tc_job *j, tc_out *o)
{
    char name[CT_PLAN_NAME_MAX + 16], eb[128];
    uint8_t *data = NULL;
    int ret = avio_close_dyn_buf(o->fmt->pb, &data);
    o->fmt->pb = NULL;
    if (ret >= 0) {
        o->fm.init_bytes = ret;
        if (o->v.enc)
            video_str(data, (size_t)ret, o->fm.vcodecs, sizeof o->fm.vcodecs);
        if (o->a.enc)
            audio_str(data, (size_t)ret, o->fm.acodecs, sizeof o->fm.acodecs);
        tc_fmp4_init_name(o, name, sizeof name);
        ret = tc_bundle_put(o, name, data, (size_t)ret);
    }
    av_free(data);
    if (ret >= 0)
        ret = avio_open_dyn_buf(&o->fmt->pb);
    if (ret < 0)
        return tc_fail(j, CT_MC_ERR_DISK, "output %d: cannot write the init segment (%s)",
                       o->index + 1, tc_averr(ret, eb, sizeof eb));
    return 0;
}

static int64_t index_of(int64_t ts, AVRational tb, int seconds)
{
    if (ts == AV_NOPTS_VALUE || seconds <= 0)
        return -1;
    if (ts < 0) /* encoder delay before content time 0 belongs to the first segment */
        return 0;
    return av_rescale_rnd(ts, tb.num, (int64_t)tb.den * seconds, AV_ROUND_DOWN);
}

static int cut_segment(tc_job *j, tc_out *o)
{
    char name[CT_PLAN_NAME_MAX + 24];
    int64_t k = o->fm.n_segs - 1;
    int ret = av_write_frame(o->fmt, NULL); /* flush the fragment */
    if (ret < 0)
        return tc_fail(j, CT_MC_ERR_DISK, "output %d: cannot flush a fragment", o->index + 1);
    tc_fmp4_seg_name(o, k, name, sizeof name);
    return emit(j, o, name, &o->fm.segs[k].bytes);
}

static int new_segment(tc_job *j, tc_out *o, int64_t start)
{
    if (o->fm.n_segs >= TC_FMP4_MAX_SEGMENTS)
        return tc_fail(j, CT_MC_ERR_SETTINGS, "output %d: more than %d segments", o->index + 1,
                       TC_FMP4_MAX_SEGMENTS);
    tc_seg *ns = av_realloc_array(o->fm.segs, (size_t)o->fm.n_segs + 1, sizeof *ns);
    if (!ns)
        return tc_fail(j, CT_MC_ERR_UNKNOWN, "output %d: out of memory", o->index + 1);
    o->fm.segs = ns;
    memset(&ns[o->fm.n_segs], 0, sizeof *ns);
    ns[o->fm.n_segs++].start = start;
    return 0;
}

/* The track segments are timed by: video when the output has it. */
static const tc_track *primary(const tc_out *o)
{
    return o->v.st ? &o->v : &o->a;
}

/* Start-up delay of an output's encoders, in 1/90000 s. */
static int64_t delay_90k(const tc_out *o)
{
    int64_t d = 0;
    if (o->v.enc && o->v.enc->has_b_frames > 0 && o->v.enc->framerate.num > 0)
        d = av_rescale_q_rnd(o->v.enc->has_b_frames, av_inv_q(o->v.enc->framerate),
                             (AVRational){1, 90000}, AV_ROUND_UP);
    if (o->a.enc && o->a.enc->initial_padding > 0 && o->a.enc->sample_rate > 0) {
        int64_t a = av_rescale_rnd(o->a.enc->initial_padding, 90000, o->a.enc->sample_rate, AV_ROUND_UP);
        d = a > d ? a : d;
    }
    return d;
}

/* The group's shift (see the top), then this output's own correction when
 * its first packet would still start before 0. */
static void shift_from(tc_job *j, tc_out *o, const tc_track *t, const AVPacket *pkt)
{
    int64_t c = 0, ts = pkt->dts != AV_NOPTS_VALUE ? pkt->dts : pkt->pts;
    tc_track *tr[2] = {&o->v, &o->a};
    for (int i = 0; i < j->n_out; i++)
        if (j->out[i].fm.on && j->out[i].po->group == o->po->group && delay_90k(&j->out[i]) > c)
            c = delay_90k(&j->out[i]);
    o->fm.shift_set = 1;
    int64_t own = av_rescale_q_rnd(c, (AVRational){1, 90000}, t->st->time_base, AV_ROUND_UP);
    if (ts != AV_NOPTS_VALUE && ts + own < 0) {
        tc_warn(j, "output %d: starts %.3f s earlier than the other renditions of its group",
                o->index + 1, -(double)(ts + own) * av_q2d(t->st->time_base));
        c = av_rescale_q_rnd(-ts, t->st->time_base, (AVRational){1, 90000}, AV_ROUND_UP);
    }
    for (int i = 0; i < 2; i++)
        if (tr[i]->st)
            o->fm.shift[i] = av_rescale_q_rnd(c, (AVRational){1, 90000}, tr[i]->st->time_base, AV_ROUND_UP);
}

/* Audio padding after the input's end stays in the last segment. */
static int past_input_end(const tc_job *j, const AVPacket *pkt, AVRational tb)
{
    return j->duration_s > 0 && pkt->pts != AV_NOPTS_VALUE &&
           (double)pkt->pts * av_q2d(tb) >= j->duration_s;
}

int64_t tc_fmp4_shift(const tc_out *o, const tc_track *t)
{
    return o->fm.shift[t == &o->v ? 0 : 1];
}

int tc_fmp4_write(tc_job *j, tc_out *o, tc_track *t, AVPacket *pkt)
{
    char eb[128];
    if (!o->fm.shift_set)
        shift_from(j, o, t, pkt);
    const ct_plan_output *po = o->po;
    AVRational tb = t->st->time_base;
    int64_t sh = tc_fmp4_shift(o, t);
    int lead = t == primary(o) && (pkt->flags & AV_PKT_FLAG_KEY) &&
               !(t == &o->a && o->fm.n_segs > 0 && past_input_end(j, pkt, tb));
    int64_t seg = index_of(pkt->pts, tb, po->segment_length);
    if (o->seg_limit > 0 && seg >= o->seg_limit) /* MinFinalSegmentLength: joins the one before */
        seg = o->seg_limit - 1;
    int64_t frag = index_of(pkt->pts, tb, po->fragment_length);
    if (pkt->pts != AV_NOPTS_VALUE) /* content time -> file time */
        pkt->pts += sh;
    if (pkt->dts != AV_NOPTS_VALUE)
        pkt->dts += sh;
    if (lead && (seg > o->fm.cur_seg || o->fm.n_segs == 0)) {
        if (o->fm.n_segs > 0 && cut_segment(j, o) < 0)
            return -1;
        if (new_segment(j, o, pkt->pts) < 0)
            return -1;
        o->fm.cur_seg = seg;
        o->fm.cur_frag = frag;
    } else if (lead && frag > o->fm.cur_frag && po->fragment_length > 0) {
        if (av_write_frame(o->fmt, NULL) < 0)
            return tc_fail(j, CT_MC_ERR_DISK, "output %d: cannot flush a fragment", o->index + 1);
        o->fm.cur_frag = frag;
    }
    if (o->fm.n_segs > 0) {
        tc_seg *s = &o->fm.segs[o->fm.n_segs - 1];
        s->pkt_bytes += pkt->size;
        if (t == primary(o) && pkt->pts != AV_NOPTS_VALUE && pkt->pts < s->start)
            s->start = pkt->pts;
    }
    int ret = av_write_frame(o->fmt, pkt);
    av_packet_unref(pkt);
    if (ret < 0)
        return tc_fail(j, CT_MC_ERR_DISK, "output %d: write failed (%s)", o->index + 1,
                       tc_averr(ret, eb, sizeof eb));
    return 0;
}

/* Seconds of segment k (0-based): to the next segment's start, the last to the track's end. */
double tc_fmp4_seg_seconds(const tc_out *o, int64_t k)
{
    const tc_track *t = primary(o);
    int64_t end = k + 1 < o->fm.n_segs ? o->fm.segs[k + 1].start : t->end_ts + tc_fmp4_shift(o, t);
    double d = (double)(end - o->fm.segs[k].start) * av_q2d(t->st->time_base);
    return d > 0 ? d : 0;
}

void tc_fmp4_bandwidth(const tc_out *o, int64_t *avg, int64_t *peak)
{
    double total = 0, bytes = 0, p = 0, L = o->po->segment_length > 0 ? o->po->segment_length : 10;
    for (int64_t k = 0; k < o->fm.n_segs; k++) {
        double d = tc_fmp4_seg_seconds(o, k);
        total += d;
        bytes += (double)o->fm.segs[k].bytes;
        double bps = (double)o->fm.segs[k].bytes * 8 / (d < L / 2 ? L / 2 : d);
        p = bps > p ? bps : p;
    }
    double a = total > 0 ? bytes * 8 / total : 0;
    *avg = (int64_t)ceil(a);
    *peak = (int64_t)ceil(p > a ? p : a);
}

/* HLS media playlist of an fMP4 rendition (HLS group with CMFC, or CMAF). */
static int write_media_playlist(tc_job *j, tc_out *o)
{
    AVBPrint bp;
    char name[CT_PLAN_NAME_MAX + 24];
    long target = 1;
    for (int64_t k = 0; k < o->fm.n_segs; k++) {
        long r = lround(tc_fmp4_seg_seconds(o, k));
        target = r > target ? r : target;
    }
    av_bprint_init(&bp, 0, AV_BPRINT_SIZE_UNLIMITED);
    tc_fmp4_init_name(o, name, sizeof name);
    av_bprintf(&bp, "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:%ld\n#EXT-X-MEDIA-SEQUENCE:1\n"
               "#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-MAP:URI=\"%s\"\n",
               target, name);
    for (int64_t k = 0; k < o->fm.n_segs; k++) {
        tc_fmp4_seg_name(o, k, name, sizeof name);
        av_bprintf(&bp, "#EXTINF:%.5f,\n%s\n", tc_fmp4_seg_seconds(o, k), name);
    }
    av_bprintf(&bp, "#EXT-X-ENDLIST\n");
    snprintf(name, sizeof name, "%s.m3u8", o->po->name);
    int ret = av_bprint_is_complete(&bp) ? tc_bundle_put(o, name, (const uint8_t *)bp.str, bp.len)
                                         : AVERROR(ENOMEM);
    av_bprint_finalize(&bp, NULL);
    if (ret < 0)
        return tc_fail(j, CT_MC_ERR_DISK, "output %d: cannot write %s", o->index + 1, name);
    return 0;
}

/* After the encoders were flushed: the last fragment, then the playlist. */
int tc_fmp4_finish(tc_job *j, tc_out *o)
{
    char eb[128];
    int ret = av_write_trailer(o->fmt); /* skip_trailer: only flushes the last fragment */
    o->header_written = 0;
    if (ret < 0)
        return tc_fail(j, CT_MC_ERR_DISK, "output %d: cannot finish (%s)", o->index + 1,
                       tc_averr(ret, eb, sizeof eb));
    if (o->fm.n_segs == 0)
        return tc_fail(j, CT_MC_ERR_NO_VIDEO, "output %d: no media was written", o->index + 1);
    char name[CT_PLAN_NAME_MAX + 24];
    tc_fmp4_seg_name(o, o->fm.n_segs - 1, name, sizeof name);
    if (emit(j, o, name, &o->fm.segs[o->fm.n_segs - 1].bytes) < 0)
        return -1;
    if (o->po->container != CT_CONTAINER_DASH && !o->po->no_hls && write_media_playlist(j, o) < 0)
        return -1;
    return 0;
}

void tc_fmp4_close(tc_out *o)
{
    if (o->fm.on && o->fmt && o->fmt->pb) {
        uint8_t *data = NULL;
        avio_close_dyn_buf(o->fmt->pb, &data);
        av_free(data);
        o->fmt->pb = NULL;
    }
    av_freep(&o->fm.segs);
    o->fm.n_segs = 0;
}
