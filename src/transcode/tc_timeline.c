/* tc_timeline: the output timeline. Settings.Inputs are concatenated in
 * order, each cut to its InputClippings (in their order; no clipping = the
 * whole input), into "parts" that play one after the other.
 *
 * DESIGN: every input is probed and opened first (PROBING), so a broken
 * third input fails the job before any encoding. Then each part is decoded
 * once: seek to the keyframe before its start, drop frames before the
 * start and from the end on, and move the rest onto the output timeline
 * (output time = parts before + input time - part start). All frames reach
 * the filter graphs in one time base per media type (the first input's),
 * so graphs and encoders run across input boundaries as one stream; a
 * graph is rebuilt only when the picture or sound format changes. When
 * parts are joined, the audio resampler fills gaps with silence
 * (aresample async) so sound stays in sync after a part whose audio ended
 * early.
 *
 * Timecodes (HH:MM:SS:FF, FF at the input's frame rate, 30 without video)
 * are read against the input's TimecodeSource: EMBEDDED (the container's
 * or video stream's "timecode" tag, 00:00:00:00 without one), ZEROBASED,
 * or SPECIFIEDSTART. An EndTimecode frame is included (MediaConvert's
 * rule). Drop-frame timecodes are read as non-drop.
 *
 * tc_input.c opens an input into tc_job's single-input fields (in, vidx,
 * vdec...); here they are stashed per input and swapped in when a part
 * needs that input. */
#include "transcode/tc_internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static void stash(tc_job *j, int k)
{
    tc_src *s = &j->src[k];
    s->in = j->in;
    s->in_pb = j->in_pb;
    s->vidx = j->vidx;
    s->vdec = j->vdec;
    j->vdec = NULL;
    j->vidx = -1;
    for (int a = 0; a < CT_PLAN_MAX_AUDIO; a++) {
        s->aidx[a] = j->aidx[a];
        s->adec[a] = j->adec[a];
        j->adec[a] = NULL;
        j->aidx[a] = -1;
    }
    s->interlaced = j->interlaced;
    s->rotation = j->rotation;
    s->disp_w = j->disp_w;
    s->disp_h = j->disp_h;
    j->in = NULL;
    j->in_pb = NULL;
    j->cur_src = -1;
}

static void unstash(tc_job *j, int k)
{
    tc_src *s = &j->src[k];
    j->in = s->in;
    j->in_pb = s->in_pb;
    j->vidx = s->vidx;
    j->vdec = s->vdec;
    for (int a = 0; a < CT_PLAN_MAX_AUDIO; a++) {
        j->aidx[a] = s->aidx[a];
        j->adec[a] = s->adec[a];
    }
    j->interlaced = s->interlaced;
    j->rotation = s->rotation;
    j->disp_w = s->disp_w;
    j->disp_h = s->disp_h;
    j->cur_src = k;
}

/* "input: why" from tc_input.c becomes "input N: why" for inputs after the first. */
static void name_input(tc_job *j, int k)
{
    char msg[sizeof j->res->error_message];
    if (k == 0 || strncmp(j->res->error_message, "input: ", 7) != 0)
        return;
    snprintf(msg, sizeof msg, "input %d: %s", k + 1, j->res->error_message + 7);
    memcpy(j->res->error_message, msg, sizeof msg);
}

static double tc_secs(const ct_timecode *t, double fps)
{
    return t->h * 3600.0 + t->m * 60.0 + t->s + (fps > 0 ? t->f / fps : 0);
}

static int tag_tc(const AVDictionary *md, ct_timecode *t)
{
    const AVDictionaryEntry *e = av_dict_get(md, "timecode", NULL, 0);
    char sep;
    return e && sscanf(e->value, "%d:%d:%d%c%d", &t->h, &t->m, &t->s, &sep, &t->f) == 5 && t->h >= 0;
}

/* The timecode of the input's first frame, in seconds. */
static double origin_s(const tc_job *j, const tc_src *s, const ct_plan_input *pi, double fps)
{
    ct_timecode t = {0, 0, 0, 0};
    if (!pi || pi->tc_source == CT_TC_ZEROBASED)
        return 0;
    if (pi->tc_source == CT_TC_SPECIFIED)
        return pi->tc_start.h >= 0 ? tc_secs(&pi->tc_start, fps) : 0;
    if (s->vidx >= 0 && tag_tc(s->in->streams[s->vidx]->metadata, &t))
        return tc_secs(&t, fps);
    for (unsigned i = 0; i < s->in->nb_streams; i++)
        if (tag_tc(s->in->streams[i]->metadata, &t))
            return tc_secs(&t, fps);
    (void)j;
    return tag_tc(s->in->metadata, &t) ? tc_secs(&t, fps) : 0;
}

static int add_part(tc_job *j, int k, int c, double start, double end)
{
    const tc_src *s = &j->src[k];
    if (start < 0)
        return tc_fail(j, CT_MC_ERR_SETTINGS, "input %d: clipping %d starts %.3f s before the input's"
                       " first timecode", k + 1, c + 1, -start);
    if (end >= 0 && end <= start)
        return tc_fail(j, CT_MC_ERR_SETTINGS, "input %d: clipping %d ends before it starts", k + 1, c + 1);
    if (s->duration_s > 0 && start >= s->duration_s)
        return tc_fail(j, CT_MC_ERR_SETTINGS, "input %d: clipping %d starts at %.3f s, after the"
                       " input's end (%.3f s)", k + 1, c + 1, start, s->duration_s);
    if (j->n_parts >= TC_MAX_PARTS)
        return tc_fail(j, CT_MC_ERR_SETTINGS, "too many input clippings");
    j->parts[j->n_parts++] = (tc_part){k, start, end};
    return 0;
}

static int build_parts(tc_job *j, int n_in)
{
    double total = 0;
    int known = 1;
    for (int k = 0; k < n_in; k++) {
        const ct_plan_input *pi = k < j->plan->n_inputs ? &j->plan->inputs[k] : NULL;
        const tc_src *s = &j->src[k];
        double fps = s->vidx >= 0 && s->frame_rate.num > 0 ? av_q2d(s->frame_rate) : 30;
        double org = origin_s(j, s, pi, fps);
        if (!pi || pi->n_clips == 0 ? add_part(j, k, 0, 0, -1) < 0 : 0)
            return -1;
        for (int c = 0; pi && c < pi->n_clips; c++) {
            const ct_plan_clip *cl = &pi->clips[c];
            double start = cl->start.h >= 0 ? tc_secs(&cl->start, fps) - org : 0;
            double end = cl->end.h >= 0 ? tc_secs(&cl->end, fps) + 1 / fps - org : -1;
            if (add_part(j, k, c, start, end) < 0)
                return -1;
        }
    }
    for (int i = 0; i < j->n_parts; i++) {
        const tc_part *p = &j->parts[i];
        double d = j->src[p->src].duration_s;
        double end = p->end_s >= 0 && (d <= 0 || p->end_s < d) ? p->end_s : d;
        known &= end > 0;
        total += end - p->start_s;
    }
    if (known && j->plan->max_duration_s > 0 && total > j->plan->max_duration_s)
        return tc_fail(j, CT_MC_ERR_SETTINGS, "inputs: %.1f s joined exceed the limit of %.1f s", total,
                       j->plan->max_duration_s);
    j->joined = j->n_parts > 1 || j->parts[0].start_s > 0 || j->parts[0].end_s >= 0;
    j->duration_s = known ? total : 0;
    j->res->input_duration_s = j->duration_s;
    return 0;
}

static AVRational first_tb(const tc_job *j, int n_in, int video)
{
    for (int k = 0; k < n_in; k++)
        for (int a = 0; a < (video ? 1 : CT_PLAN_MAX_AUDIO); a++) {
            int idx = video ? j->src[k].vidx : j->src[k].aidx[a];
            if (idx >= 0)
                return j->src[k].in->streams[idx]->time_base;
        }
    return (AVRational){1, 90000};
}

int tc_timeline_open(tc_job *j, const int *in_fds, int n_in)
{
    j->n_src = 0;
    for (int k = 0; k < n_in; k++) {
        j->frame_rate = (AVRational){0, 1};
        j->duration_s = 0;
        j->interlaced = 0;
        int ret = tc_input_open(j, in_fds[k], k);
        j->src[k].frame_rate = j->frame_rate;
        j->src[k].duration_s = j->duration_s;
        stash(j, k);
        j->n_src = k + 1;
        if (ret < 0) {
            name_input(j, k);
            return -1;
        }
    }
    j->frame_rate = j->src[0].frame_rate;
    for (int k = 0; k < n_in && j->frame_rate.num <= 0; k++)
        j->frame_rate = j->src[k].frame_rate;
    if (j->frame_rate.num <= 0)
        j->frame_rate = (AVRational){30, 1};
    j->vtb = first_tb(j, n_in, 1);
    j->atb = first_tb(j, n_in, 0);
    unstash(j, 0);
    return build_parts(j, n_in);
}

static int seek_to(tc_job *j, double t)
{
    int64_t ts = llrint(t * AV_TIME_BASE);
    if (j->in->start_time != AV_NOPTS_VALUE)
        ts += j->in->start_time;
    int ret = avformat_seek_file(j->in, -1, INT64_MIN, ts, ts, 0);
    if (ret < 0)
        ret = av_seek_frame(j->in, -1, ts, AVSEEK_FLAG_BACKWARD);
    if (ret < 0)
        return tc_fail(j, CT_MC_ERR_INPUT_UNREADABLE, "input %d: cannot seek to %.3f s", j->cur_src + 1, t);
    if (j->vdec)
        avcodec_flush_buffers(j->vdec);
    for (int a = 0; a < j->n_aud; a++)
        if (j->adec[a])
            avcodec_flush_buffers(j->adec[a]);
    return 0;
}

int tc_timeline_all_done(const tc_job *j)
{
    for (int k = 0; k < TC_KINDS; k++)
        if (!j->done[k])
            return 0;
    return 1;
}

int tc_timeline_part_begin(tc_job *j, int k)
{
    const tc_part *p = &j->parts[k];
    if (j->cur_src != p->src) {
        if (j->cur_src >= 0)
            stash(j, j->cur_src);
        unstash(j, p->src);
    }
    tc_src *s = &j->src[p->src];
    if ((s->used || p->start_s > 0) && seek_to(j, p->start_s) < 0)
        return -1;
    s->used = 1;
    j->cur_part = k;
    for (int kind = 0; kind < TC_KINDS; kind++) {
        j->done[kind] = tc_input_stream(j, kind) == NULL || (kind >= TC_AUDIO && kind - TC_AUDIO >= j->n_aud);
        j->part_end[kind] = p->start_s;
    }
    j->next_vpts = AV_NOPTS_VALUE;
    return 0;
}

/* After the part's decoders were drained: truncation check, next offset. */
int tc_timeline_part_end(tc_job *j)
{
    const tc_part *p = &j->parts[j->cur_part];
    const tc_src *s = &j->src[p->src];
    double got = j->part_end[TC_VIDEO], aend = p->start_s;
    for (int a = 0; a < j->n_aud; a++)
        aend = j->part_end[TC_AUDIO + a] > aend ? j->part_end[TC_AUDIO + a] : aend;
    got = aend > got ? aend : got;
    double want = p->end_s >= 0 && (s->duration_s <= 0 || p->end_s < s->duration_s) ? p->end_s : s->duration_s;
    double slack = want * 0.05 > 0.5 ? want * 0.05 : 0.5;
    if (want > 0 && got + slack < want) {
        char name[24] = "input";
        if (p->src > 0)
            snprintf(name, sizeof name, "input %d", p->src + 1);
        return tc_fail(j, CT_MC_ERR_TRUNCATED_INPUT, "%s: truncated (media ends at %.2f s of %.2f s)",
                       name, got, want);
    }
    if (p->end_s >= 0 && s->duration_s > 0 && p->end_s > s->duration_s + 0.5)
        tc_warn(j, "input %d: clipping ends at %.3f s, after the input's end (%.3f s)", p->src + 1,
                p->end_s, s->duration_s);
    double end = j->vidx >= 0 ? j->part_end[TC_VIDEO] : aend;
    if (p->end_s >= 0 && end > p->end_s)
        end = p->end_s;
    if (end > p->start_s)
        j->offset_s += end - p->start_s;
    if (j->vdec)
        avcodec_flush_buffers(j->vdec); /* drained with NULL: reusable after a flush */
    for (int a = 0; a < j->n_aud; a++)
        if (j->adec[a])
            avcodec_flush_buffers(j->adec[a]);
    return 0;
}

/* Moves a decoded frame onto the output timeline. 1 = drop it (outside the
 * part), 0 = use it, -1 = failed. */
int tc_timeline_frame(tc_job *j, AVFrame *f, int kind)
{
    const tc_part *p = &j->parts[j->cur_part];
    AVStream *st = tc_input_stream(j, kind);
    int is_video = kind == TC_VIDEO;
    AVRational otb = is_video ? j->vtb : j->atb;
    double tb = av_q2d(st->time_base);
    double t = (double)f->pts * tb, te = (double)(f->pts + f->pkt_duration) * tb;
    if (t < p->start_s - 1e-6)
        return 1;
    if (p->end_s >= 0 && t >= p->end_s - 1e-6) {
        j->done[kind] = 1;
        return 1;
    }
    if (te > j->part_end[kind])
        j->part_end[kind] = te;
    if (is_video) /* the container's pixel aspect wins over the codec's (ffmpeg's rule) */
        f->sample_aspect_ratio = av_guess_sample_aspect_ratio(j->in, st, f);
    int64_t start = llrint(p->start_s / tb);
    f->pts = av_rescale_q(f->pts - start, st->time_base, otb) + llrint(j->offset_s / av_q2d(otb));
    f->pkt_duration = av_rescale_q(f->pkt_duration, st->time_base, otb);
    double out_end = j->offset_s + te - p->start_s;
    if (out_end > j->media_end_s)
        j->media_end_s = out_end;
    return 0;
}

void tc_timeline_close(tc_job *j)
{
    if (j->n_src == 0) {
        tc_input_close(j); /* nothing stashed */
        return;
    }
    if (j->cur_src >= 0)
        stash(j, j->cur_src);
    for (int k = 0; k < j->n_src; k++) {
        unstash(j, k);
        tc_input_close(j);
    }
}
