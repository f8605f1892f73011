/* tc_hls: HLS renditions on libav's hls muxer, and the master playlist.
 *
 * Alignment: every rendition of a group forces a keyframe on the first
 * frame at or after each multiple of SegmentLength (same decoded frames,
 * same timestamps, so the same frames in every rendition), with the GOP
 * set to one segment so the encoder adds none in between on its own. The
 * hls muxer cuts a segment at the first keyframe at or after each multiple
 * of hls_time, i.e. exactly there: segment boundaries match across
 * renditions.
 *
 * The master playlist is written by us, not by the muxer: one
 * EXT-X-STREAM-INF per output with video (BANDWIDTH = peak segment
 * bitrate, AVERAGE-BANDWIDTH, CODECS, RESOLUTION, FRAME-RATE); outputs with
 * audio only become EXT-X-MEDIA entries of the audio group "program_audio"
 * that the video variants reference. Bitrates are measured: packet bytes
 * per segment, scaled by the group's real container overhead (bytes in the
 * segment files / packet bytes). */
#include "transcode/tc_internal.h"

#include <libavutil/bprint.h>
#include <math.h>
#include <string.h>

#define TC_HLS_MAX_SEGMENTS 1000000
#define TC_AUDIO_GROUP "program_audio"

static int is_hls(const ct_plan_output *po)
{
    return po->container == CT_CONTAINER_HLS_TS || po->container == CT_CONTAINER_HLS_FMP4 ||
           po->container == CT_CONTAINER_CMAF;
}

int tc_hls_open_muxer(tc_job *j, tc_out *o, AVDictionary **opts)
{
    const ct_plan_output *po = o->po;
    o->seg_limit = tc_seg_limit(j, po);
    int fmp4 = po->container == CT_CONTAINER_HLS_FMP4;
    char playlist[CT_PLAN_NAME_MAX + 8], pattern[2 * CT_PLAN_NAME_MAX + 16], init[CT_PLAN_NAME_MAX + 16];
    size_t k = 0;
    for (const char *p = po->name; *p && k + 2 < sizeof pattern; p++) { /* escape '%' for the pattern */
        if (*p == '%')
            pattern[k++] = '%';
        pattern[k++] = *p;
    }
    snprintf(pattern + k, sizeof pattern - k, "_%%05d.%s", fmp4 ? "mp4" : "ts");
    snprintf(playlist, sizeof playlist, "%s.m3u8", po->name);
    snprintf(init, sizeof init, "%s_init.mp4", po->name);
    int ret = avformat_alloc_output_context2(&o->fmt, NULL, "hls", playlist);
    if (ret < 0 || !o->fmt)
        return tc_fail(j, CT_MC_ERR_UNKNOWN, "output %d: cannot create HLS muxer", o->index + 1);
    o->fmt->opaque = o;
    o->fmt->io_open = tc_bundle_io_open;
    o->fmt->io_close2 = tc_bundle_io_close2;
    av_dict_set_int(opts, "hls_time", po->segment_length > 0 ? po->segment_length : 10, 0);
    av_dict_set(opts, "hls_list_size", "0", 0);
    av_dict_set(opts, "hls_playlist_type", "vod", 0); /* no temp files, no renames */
    av_dict_set(opts, "start_number", "1", 0);
    av_dict_set(opts, "hls_segment_type", fmp4 ? "fmp4" : "mpegts", 0);
    av_dict_set(opts, "hls_segment_filename", pattern, 0);
    av_dict_set(opts, "hls_flags", "independent_segments", 0);
    if (fmp4)
        av_dict_set(opts, "hls_fmp4_init_filename", init, 0);
    return 0;
}

static int64_t seg_index(int64_t ts, AVRational tb, int seglen)
{
    if (ts == AV_NOPTS_VALUE || ts < 0 || seglen <= 0)
        return -1;
    return av_rescale_rnd(ts, tb.num, (int64_t)tb.den * seglen, AV_ROUND_DOWN);
}

/* MinFinalSegmentLength: with the timeline's expected length D, the last
 * segment would start at n * SegmentLength and last r seconds; when r is
 * shorter than the minimum it joins segment n - 1, so at most n segments. */
int64_t tc_seg_limit(const tc_job *j, const ct_plan_output *po)
{
    double L = po->segment_length, D = j->duration_s;
    if (po->min_final_ms <= 0 || L <= 0 || D <= 0)
        return 0;
    int64_t n = (int64_t)floor(D / L + 1e-6);
    double r = D - (double)n * L;
    return n >= 1 && r > 1e-3 && r * 1000 < po->min_final_ms ? n : 0;
}

static int64_t capped(const tc_out *o, int64_t idx)
{
    return o->seg_limit > 0 && idx >= o->seg_limit ? o->seg_limit - 1 : idx;
}

/* A keyframe on the first frame of every segment and, with FragmentLength
 * (DASH/CMAF), of every fragment: fragments start at keyframes. */
int tc_hls_force_key(tc_out *o, tc_track *t, const AVFrame *f)
{
    int64_t idx = capped(o, seg_index(f->pts, t->enc->time_base, o->po->segment_length));
    int64_t fidx = seg_index(f->pts, t->enc->time_base, o->po->fragment_length);
    if (t != &o->v || idx < 0 || (idx == t->seg_idx && fidx == t->frag_idx))
        return 0;
    t->seg_idx = idx;
    t->frag_idx = fidx;
    return 1;
}

/* Per-segment bytes; in a final segment joined to the one before
 * (MinFinalSegmentLength), video keyframes lose their key flag so the hls
 * muxer does not cut there (an audio-only rendition still cuts). */
void tc_hls_count(tc_out *o, AVPacket *pkt, AVRational tb)
{
    int64_t raw = seg_index(pkt->pts, tb, o->po->segment_length), idx = capped(o, raw);
    if (raw != idx && o->v.st && pkt->stream_index == o->v.st->index)
        pkt->flags &= ~AV_PKT_FLAG_KEY;
    o->pkt_bytes += pkt->size;
    if (idx < 0 || idx >= TC_HLS_MAX_SEGMENTS)
        return;
    if (idx >= o->n_seg) {
        int64_t *nb = av_realloc_array(o->seg_bytes, (size_t)idx + 1, sizeof *nb);
        if (!nb)
            return;
        memset(nb + o->n_seg, 0, (size_t)(idx + 1 - o->n_seg) * sizeof *nb);
        o->seg_bytes = nb;
        o->n_seg = idx + 1;
    }
    o->seg_bytes[idx] += pkt->size;
}

static double out_seconds(const tc_out *o)
{
    double d = 0;
    const tc_track *ts[2] = {&o->v, &o->a};
    for (int i = 0; i < 2; i++)
        if (ts[i]->st && ts[i]->end_ts > 0 && ts[i]->end_ts * av_q2d(ts[i]->st->time_base) > d)
            d = (double)ts[i]->end_ts * av_q2d(ts[i]->st->time_base);
    return d;
}

/* Average and peak-segment bits per second of one rendition. */
static void bandwidth(const tc_out *o, int64_t *avg, int64_t *peak)
{
    if (o->fm.on) {
        tc_fmp4_bandwidth(o, avg, peak);
        return;
    }
    double d = out_seconds(o), L = o->po->segment_length > 0 ? o->po->segment_length : 10;
    double overhead = o->pkt_bytes > 0 ? (double)o->bundle.media_bytes / (double)o->pkt_bytes : 1;
    double a = d > 0 ? (double)o->bundle.media_bytes * 8 / d : 0, p = a;
    for (int64_t k = 0; k < o->n_seg; k++) {
        double sd = d - (double)k * L;
        sd = sd > L && k + 1 < o->n_seg ? L : sd < L / 2 ? L / 2 : sd;
        double bps = (double)o->seg_bytes[k] * 8 * (overhead < 1 ? 1 : overhead) / sd;
        if (bps > p)
            p = bps;
    }
    *avg = (int64_t)ceil(a);
    *peak = (int64_t)ceil(p);
}

/* RFC 6381 codec string of a video encoder: fMP4 outputs read it from
 * their init segment (tc_fmp4.c); TS outputs are H.264 only. */
static void video_codec_str(const tc_out *o, char *buf, size_t n)
{
    const AVCodecContext *enc = o->v.enc;
    const uint8_t *p = enc->extradata;
    int sz = enc->extradata_size;
    if (o->fm.on) {
        snprintf(buf, n, "%s", o->fm.vcodecs);
        return;
    }
    snprintf(buf, n, "avc1.640028");
    if (p && sz >= 4 && p[0] == 1) { /* avcC */
        snprintf(buf, n, "avc1.%02x%02x%02x", p[1], p[2], p[3]);
        return;
    }
    for (int i = 0; p && i + 6 < sz; i++) /* Annex B: find the SPS */
        if (p[i] == 0 && p[i + 1] == 0 && p[i + 2] == 1 && (p[i + 3] & 0x1f) == 7) {
            snprintf(buf, n, "avc1.%02x%02x%02x", p[i + 4], p[i + 5], p[i + 6]);
            return;
        }
}

static void media_line(AVBPrint *bp, const tc_job *j, const tc_out *o, int first)
{
    const ct_plan_audio *a = &o->po->audio;
    av_bprintf(bp, "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"%s\",NAME=\"%s\",LANGUAGE=\"%s\","
               "AUTOSELECT=YES,DEFAULT=%s,CHANNELS=\"%d\",URI=\"%s%s.m3u8\"\n",
               TC_AUDIO_GROUP, a->stream_name[0] ? a->stream_name : o->po->name, tc_input_audio_lang(j, o->po),
               first ? "YES" : "NO", o->a.enc->ch_layout.nb_channels, o->po->base_url, o->po->name);
}

static const char *audio_codec_str(const tc_out *o)
{
    return o->fm.on && o->fm.acodecs[0] ? o->fm.acodecs : "mp4a.40.2";
}

static void variant_line(AVBPrint *bp, const tc_out *o, int64_t audio_bw, const char *group_ac)
{
    char vc[64];
    int64_t avg, peak;
    bandwidth(o, &avg, &peak);
    video_codec_str(o, vc, sizeof vc);
    const char *ac = o->a.enc ? audio_codec_str(o) : audio_bw > 0 ? group_ac : NULL;
    av_bprintf(bp, "#EXT-X-STREAM-INF:BANDWIDTH=%lld,AVERAGE-BANDWIDTH=%lld,CODECS=\"%s%s%s\","
               "RESOLUTION=%dx%d,FRAME-RATE=%.3f%s\n%s%s.m3u8\n",
               (long long)peak + audio_bw, (long long)avg + audio_bw, vc, ac ? "," : "",
               ac ? ac : "", o->target_w, o->target_h, av_q2d(o->v.enc->framerate),
               audio_bw > 0 ? ",AUDIO=\"" TC_AUDIO_GROUP "\"" : "", o->po->base_url, o->po->name);
}

static int write_master(tc_job *j, tc_out *m)
{
    AVBPrint bp;
    int64_t audio_bw = 0, avg, peak;
    int n_audio = 0, ret;
    const char *group_ac = "mp4a.40.2";
    av_bprint_init(&bp, 0, AV_BPRINT_SIZE_UNLIMITED);
    av_bprintf(&bp, "#EXTM3U\n#EXT-X-VERSION:%d\n#EXT-X-INDEPENDENT-SEGMENTS\n",
               m->po->container == CT_CONTAINER_HLS_TS ? 3 : 7);
    for (int i = 0; i < j->n_out; i++) {
        const tc_out *o = &j->out[i];
        if (o->po->group != m->po->group || !is_hls(o->po) || o->v.enc || !o->a.enc)
            continue;
        media_line(&bp, j, o, n_audio++ == 0);
        group_ac = audio_codec_str(o);
        bandwidth(o, &avg, &peak);
        audio_bw = peak > audio_bw ? peak : audio_bw;
    }
    for (int i = 0; i < j->n_out; i++) {
        const tc_out *o = &j->out[i];
        if (o->po->group == m->po->group && is_hls(o->po) && o->v.enc)
            variant_line(&bp, o, audio_bw, group_ac);
    }
    if (!av_bprint_is_complete(&bp))
        ret = AVERROR(ENOMEM);
    else
        ret = tc_bundle_put(m, m->po->master, (const uint8_t *)bp.str, bp.len);
    av_bprint_finalize(&bp, NULL);
    return ret;
}

/* CMAF: master is BASE.m3u8; the MPD is BASE.mpd next to it. */
static int write_cmaf_mpd(tc_job *j, tc_out *o)
{
    char name[CT_PLAN_NAME_MAX + 8];
    size_t n = strlen(o->po->master);
    if (n < 5 || n - 5 + 5 >= sizeof name)
        return AVERROR(EINVAL);
    snprintf(name, sizeof name, "%.*s.mpd", (int)(n - 5), o->po->master);
    return tc_mpd_write(j, o, name);
}

int tc_hls_write_masters(tc_job *j)
{
    char eb[128];
    for (int i = 0; i < j->n_out; i++) {
        tc_out *o = &j->out[i];
        if (!o->po->master[0])
            continue;
        int ret = o->po->container == CT_CONTAINER_DASH ? tc_mpd_write(j, o, o->po->master)
                  : is_hls(o->po) && !o->po->no_hls ? write_master(j, o) : 0;
        if (ret >= 0 && o->po->container == CT_CONTAINER_CMAF && !o->po->no_dash)
            ret = write_cmaf_mpd(j, o);
        if (ret < 0)
            return tc_fail(j, CT_MC_ERR_DISK, "output %d: cannot write the group manifest (%s)",
                           o->index + 1, tc_averr(ret, eb, sizeof eb));
    }
    return 0;
}
