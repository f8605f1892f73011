/* tc_mpd: the DASH manifest (.mpd) of a DASH ISO or CMAF output group.
 *
 * One static Period. Representations are grouped into one AdaptationSet per
 * media type and codec (renditions of one codec can switch; different
 * codecs cannot), audio also per source slot and language. Each Representation has its own SegmentTemplate with a
 * SegmentTimeline built from the segments actually cut (tc_fmp4.c): t is
 * the segment's earliest presentation time, presentationTimeOffset the
 * first one, so the timeline is exact even when keyframes do not fall on
 * whole seconds. Bandwidth is the peak segment bit rate (MediaConvert's
 * default MpdManifestBandwidthType MAX). Names are written as they are
 * (ct_plan_name_ok names need no quoting beyond XML's &, < and >; mc
 * refuses '$' in DASH and CMAF names, which SegmentTemplate would read). */
#include "transcode/tc_internal.h"

#include <libavutil/bprint.h>
#include <string.h>

#define TC_MPD_MAX_SETS CT_PLAN_MAX_OUTPUTS

static void xml_name(AVBPrint *bp, const char *s)
{
    for (; *s; s++) {
        if (*s == '&')
            av_bprintf(bp, "&amp;");
        else if (*s == '<')
            av_bprintf(bp, "&lt;");
        else if (*s == '>')
            av_bprintf(bp, "&gt;");
        else
            av_bprint_chars(bp, *s, 1);
    }
}

static const tc_track *track_of(const tc_out *o)
{
    return o->v.st ? &o->v : &o->a;
}

static double out_span(const tc_out *o)
{
    double d = 0;
    for (int64_t k = 0; k < o->fm.n_segs; k++)
        d += tc_fmp4_seg_seconds(o, k);
    return d;
}

static void timeline(AVBPrint *bp, const tc_out *o)
{
    const tc_track *t = track_of(o);
    av_bprintf(bp, "          <SegmentTimeline>\n");
    for (int64_t k = 0; k < o->fm.n_segs;) {
        int64_t start = o->fm.segs[k].start;
        int64_t end = k + 1 < o->fm.n_segs ? o->fm.segs[k + 1].start : t->end_ts + tc_fmp4_shift(o, t);
        int64_t d = end - start, r = 0;
        while (k + r + 2 < o->fm.n_segs &&
               o->fm.segs[k + r + 2].start - o->fm.segs[k + r + 1].start == d)
            r++;
        if (r)
            av_bprintf(bp, "            <S t=\"%lld\" d=\"%lld\" r=\"%lld\"/>\n", (long long)start,
                       (long long)d, (long long)r);
        else
            av_bprintf(bp, "            <S t=\"%lld\" d=\"%lld\"/>\n", (long long)start, (long long)d);
        k += r + 1;
    }
    av_bprintf(bp, "          </SegmentTimeline>\n");
}

static void representation(AVBPrint *bp, const tc_out *o)
{
    const tc_track *t = track_of(o);
    char init[CT_PLAN_NAME_MAX + 16];
    int64_t avg, peak;
    tc_fmp4_bandwidth(o, &avg, &peak);
    tc_fmp4_init_name(o, init, sizeof init);
    const char *ext = strrchr(init, '.');
    if (o->v.st) {
        AVRational fr = o->v.enc->framerate;
        av_bprintf(bp, "      <Representation id=\"%d\" bandwidth=\"%lld\" width=\"%d\" height=\"%d\""
                   " codecs=\"%s\" frameRate=\"%d/%d\" sar=\"1:1\">\n", o->index + 1,
                   (long long)peak, o->target_w, o->target_h, o->fm.vcodecs, fr.num, fr.den);
    } else {
        av_bprintf(bp, "      <Representation id=\"%d\" bandwidth=\"%lld\" audioSamplingRate=\"%d\""
                   " codecs=\"%s\">\n        <AudioChannelConfiguration schemeIdUri="
                   "\"urn:mpeg:dash:23003:3:audio_channel_configuration:2011\" value=\"%d\"/>\n",
                   o->index + 1, (long long)peak, o->a.enc->sample_rate, o->fm.acodecs,
                   o->a.enc->ch_layout.nb_channels);
    }
    av_bprintf(bp, "        <SegmentTemplate timescale=\"%d\" presentationTimeOffset=\"%lld\""
               " startNumber=\"1\" initialization=\"", t->st->time_base.den,
               (long long)tc_fmp4_shift(o, t));
    xml_name(bp, init);
    av_bprintf(bp, "\" media=\"");
    xml_name(bp, o->po->name);
    av_bprintf(bp, "_$Number%%09d$%s\">\n", ext ? ext : ".mp4");
    timeline(bp, o);
    av_bprintf(bp, "        </SegmentTemplate>\n      </Representation>\n");
}

/* AdaptationSet key: media type and codec; for audio also the source
 * (another track, say another language, is another set). */
static int same_set(const tc_out *a, const tc_out *b)
{
    if (!!a->v.st != !!b->v.st)
        return 0;
    if (a->v.st)
        return a->v.enc->codec_id == b->v.enc->codec_id;
    return a->a.enc->codec_id == b->a.enc->codec_id && a->po->audio.source == b->po->audio.source &&
           strcmp(a->po->audio.lang, b->po->audio.lang) == 0 &&
           a->po->audio.lang_follow == b->po->audio.lang_follow;
}

static int in_group(const tc_out *o, const tc_out *m)
{
    return o->po->group == m->po->group && o->fm.on && o->fm.n_segs > 0 && (o->v.st || o->a.st);
}

static void adaptation_set(AVBPrint *bp, tc_job *j, const tc_out *first, int id)
{
    int maxw = 0, maxh = 0;
    for (int i = first->index; i < j->n_out; i++)
        if (in_group(&j->out[i], first) && same_set(&j->out[i], first)) {
            maxw = j->out[i].target_w > maxw ? j->out[i].target_w : maxw;
            maxh = j->out[i].target_h > maxh ? j->out[i].target_h : maxh;
        }
    if (first->v.st)
        av_bprintf(bp, "    <AdaptationSet id=\"%d\" contentType=\"video\" mimeType=\"video/mp4\""
                   " segmentAlignment=\"true\" startWithSAP=\"1\" maxWidth=\"%d\" maxHeight=\"%d\">\n",
                   id, maxw, maxh);
    else {
        const ct_plan_audio *a = &first->po->audio;
        av_bprintf(bp, "    <AdaptationSet id=\"%d\" contentType=\"audio\" mimeType=\"audio/mp4\""
                   " lang=\"", id);
        xml_name(bp, tc_input_audio_lang(j, first->po));
        av_bprintf(bp, "\" segmentAlignment=\"true\" startWithSAP=\"1\">\n");
        if (a->stream_name[0]) {
            av_bprintf(bp, "      <Label>");
            xml_name(bp, a->stream_name);
            av_bprintf(bp, "</Label>\n");
        }
    }
    for (int i = first->index; i < j->n_out; i++)
        if (in_group(&j->out[i], first) && same_set(&j->out[i], first))
            representation(bp, &j->out[i]);
    av_bprintf(bp, "    </AdaptationSet>\n");
}

static void iso_duration(AVBPrint *bp, const char *attr, double s)
{
    av_bprintf(bp, " %s=\"PT%.3fS\"", attr, s > 0 ? s : 0);
}

int tc_mpd_write(tc_job *j, tc_out *m, const char *name)
{
    AVBPrint bp;
    double dur = 0;
    int sets = 0, ret;
    for (int i = 0; i < j->n_out; i++)
        if (in_group(&j->out[i], m) && out_span(&j->out[i]) > dur)
            dur = out_span(&j->out[i]);
    av_bprint_init(&bp, 0, AV_BPRINT_SIZE_UNLIMITED);
    av_bprintf(&bp, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<MPD xmlns=\"urn:mpeg:dash:schema:mpd:2011\""
               " type=\"static\" profiles=\"%s\"",
               m->po->container == CT_CONTAINER_CMAF ? "urn:mpeg:dash:profile:isoff-live:2011"
                                                     : "urn:mpeg:dash:profile:isoff-main:2011");
    iso_duration(&bp, "minBufferTime", m->po->min_buffer_ms > 0 ? m->po->min_buffer_ms / 1000.0
                                                                : (double)m->po->segment_length);
    iso_duration(&bp, "mediaPresentationDuration", dur);
    av_bprintf(&bp, ">\n");
    if (m->po->base_url[0]) { /* BaseUrl: segment URLs resolve against it */
        av_bprintf(&bp, "  <BaseURL>");
        xml_name(&bp, m->po->base_url);
        av_bprintf(&bp, "</BaseURL>\n");
    }
    av_bprintf(&bp, "  <Period id=\"1\" start=\"PT0S\">\n");
    for (int i = 0; i < j->n_out && sets < TC_MPD_MAX_SETS; i++) {
        const tc_out *o = &j->out[i];
        int seen = 0;
        if (!in_group(o, m))
            continue;
        for (int k = 0; k < i && !seen; k++)
            seen = in_group(&j->out[k], m) && same_set(&j->out[k], o);
        if (!seen)
            adaptation_set(&bp, j, o, ++sets);
    }
    av_bprintf(&bp, "  </Period>\n</MPD>\n");
    ret = av_bprint_is_complete(&bp) ? tc_bundle_put(m, name, (const uint8_t *)bp.str, bp.len)
                                     : AVERROR(ENOMEM);
    av_bprint_finalize(&bp, NULL);
    return ret;
}
