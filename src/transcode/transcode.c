/* transcode: ct_transcode_run, the decode loop, and the mapping of failures
 * to MediaConvert error codes.
 *
 * Flow: probe + open every input (tc_input.c, tc_timeline.c) -> open every
 * output's encoders and write headers (tc_output.c) -> for each part of
 * the timeline (an input or one of its clippings): read packets, decode
 * once, move each frame onto the output timeline and push it into every
 * output's filter graph (tc_filter.c), drain the decoders -> flush graphs
 * and encoders -> sanity checks (decode error rate, truncation) -> trailers
 * (moov moved before mdat) -> group manifests (HLS master, MPD) ->
 * per-output results. Multi-file outputs (HLS, DASH, CMAF, frame capture)
 * write a bundle of named files to their fd (tc_bundle.c). */
#include "transcode/tc_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TC_MAX_CONSEC_ERRORS 50   /* undecodable packets in a row */
#define TC_MAX_ERROR_SHARE 10     /* more than 1 in 10 packets broken: fail */
#define TC_MIN_ERRORS_TO_FAIL 10

const char *tc_averr(int err, char *buf, size_t n)
{
    if (av_strerror(err, buf, n) < 0)
        snprintf(buf, n, "error %d", err);
    return buf;
}

int tc_fail(tc_job *j, int code, const char *fmt, ...)
{
    if (!j->failed) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(j->res->error_message, sizeof j->res->error_message, fmt, ap);
        va_end(ap);
        j->res->error_code = code;
        j->failed = 1;
    }
    return -1;
}

void tc_warn(tc_job *j, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    size_t len = strlen(j->res->warnings);
    if (len + 3 >= sizeof j->res->warnings)
        return;
    snprintf(j->res->warnings + len, sizeof j->res->warnings - len, "%s%s", len ? "; " : "", msg);
}

static void report(tc_job *j, const char *phase, int pct)
{
    if (j->progress)
        j->progress(j->pctx, phase, pct);
}

static int count_error(tc_job *j)
{
    j->dec_errors++;
    if (++j->consec_errors > TC_MAX_CONSEC_ERRORS)
        return tc_fail(j, CT_MC_ERR_BROKEN_INPUT, "input: too many undecodable packets (%lld in a row)",
                       (long long)j->consec_errors);
    return 0;
}

/* Timestamps, timeline, progress, duration cap; normalises unspecified
 * channel layouts. Returns 1 when the frame is outside the current part. */
static int prepare_frame(tc_job *j, AVFrame *f, int kind)
{
    AVStream *st = tc_input_stream(j, kind);
    int is_video = kind == TC_VIDEO;
    int64_t dur = f->pkt_duration;
    f->pts = f->best_effort_timestamp;
    if (is_video) {
        if (dur <= 0)
            dur = av_rescale_q(1, av_inv_q(j->frame_rate), st->time_base);
        if (f->pts == AV_NOPTS_VALUE)
            f->pts = j->next_vpts != AV_NOPTS_VALUE ? j->next_vpts
                   : llrint(j->parts[j->cur_part].start_s / av_q2d(st->time_base));
        j->next_vpts = f->pts + dur;
    } else {
        if (f->ch_layout.order == AV_CHANNEL_ORDER_UNSPEC) {
            int n = f->ch_layout.nb_channels;
            av_channel_layout_uninit(&f->ch_layout);
            av_channel_layout_default(&f->ch_layout, n);
        }
        if (dur <= 0 && f->sample_rate > 0)
            dur = av_rescale_q(f->nb_samples, (AVRational){1, f->sample_rate}, st->time_base);
    }
    if (f->pts == AV_NOPTS_VALUE)
        return 1;
    f->pkt_duration = dur;
    int ret = tc_timeline_frame(j, f, kind);
    if (ret != 0)
        return ret;
    if (is_video)
        j->vframes++;
    else
        j->aframes++;
    if (j->plan->max_duration_s > 0 && j->media_end_s > j->plan->max_duration_s + 1)
        return tc_fail(j, CT_MC_ERR_SETTINGS, "input: longer than the limit of %.1f s",
                       j->plan->max_duration_s);
    if (j->duration_s > 0) {
        int pct = (int)(100 * j->media_end_s / j->duration_s);
        pct = pct > 99 ? 99 : pct;
        if (pct > j->last_pct) {
            j->last_pct = pct;
            report(j, "TRANSCODING", pct);
        }
    }
    return 0;
}

/* A frame of one kind goes to every output that takes it (audio: the
 * outputs of that audio source). */
static int dispatch(tc_job *j, AVFrame *f, int kind)
{
    int is_video = kind == TC_VIDEO;
    for (int i = 0; i < j->n_out; i++) {
        tc_track *t = is_video ? &j->out[i].v : &j->out[i].a;
        if (!is_video && j->out[i].po->audio.source != kind - TC_AUDIO)
            continue;
        if (t->enc && tc_graph_push(j, &j->out[i], t, f, is_video) < 0)
            return -1;
    }
    return 0;
}

/* Sends pkt (NULL = drain) to the decoder of a kind and dispatches every frame. */
static int decode(tc_job *j, int kind, const AVPacket *pkt)
{
    AVCodecContext *dec = kind == TC_VIDEO ? j->vdec : j->adec[kind - TC_AUDIO];
    char eb[128];
    int ret = avcodec_send_packet(dec, pkt);
    if (ret == AVERROR(ENOMEM))
        return tc_fail(j, CT_MC_ERR_UNKNOWN, "input: out of memory while decoding");
    if (ret < 0 && ret != AVERROR_EOF)
        return count_error(j);
    for (;;) {
        ret = avcodec_receive_frame(dec, j->frame);
        if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF)
            return 0;
        if (ret == AVERROR(ENOMEM))
            return tc_fail(j, CT_MC_ERR_UNKNOWN, "input: %s", tc_averr(ret, eb, sizeof eb));
        if (ret < 0)
            return count_error(j);
        j->consec_errors = 0;
        ret = prepare_frame(j, j->frame, kind);
        if (ret == 0)
            ret = dispatch(j, j->frame, kind);
        av_frame_unref(j->frame);
        if (ret < 0)
            return -1;
    }
}

static void shift_ts(tc_job *j, AVPacket *pkt)
{
    if (j->in->start_time == AV_NOPTS_VALUE)
        return;
    int64_t off = av_rescale_q(j->in->start_time, AV_TIME_BASE_Q, j->in->streams[pkt->stream_index]->time_base);
    if (pkt->pts != AV_NOPTS_VALUE)
        pkt->pts -= off;
    if (pkt->dts != AV_NOPTS_VALUE)
        pkt->dts -= off;
}

static int check_decode_rate(tc_job *j);

/* Reads the current part until its end, EOF or a read error. */
static void read_part(tc_job *j)
{
    int ret, again = 0;
    while (!j->failed && !tc_timeline_all_done(j)) {
        ret = av_read_frame(j->in, j->pkt);
        if (ret == AVERROR(EAGAIN) && ++again < 1000)
            continue;
        if (ret < 0)
            return;
        again = 0;
        j->packets++;
        shift_ts(j, j->pkt);
        if (j->pkt->stream_index == j->vidx && !j->done[TC_VIDEO])
            decode(j, TC_VIDEO, j->pkt);
        for (int a = 0; a < j->n_aud; a++) /* two sources may share a stream */
            if (j->pkt->stream_index == j->aidx[a] && !j->done[TC_AUDIO + a])
                decode(j, TC_AUDIO + a, j->pkt);
        av_packet_unref(j->pkt);
    }
}

static int drain_decoders(tc_job *j)
{
    if (j->vdec && decode(j, TC_VIDEO, NULL) < 0)
        return -1;
    for (int a = 0; a < j->n_aud; a++)
        if (j->adec[a] && decode(j, TC_AUDIO + a, NULL) < 0)
            return -1;
    return j->failed ? -1 : 0;
}

/* Every part in order. A read error ends a part like EOF does; whether
 * that lost media is for the truncation check (tc_timeline_part_end). */
static void read_timeline(tc_job *j)
{
    for (int k = 0; k < j->n_parts && !j->failed; k++) {
        if (tc_timeline_part_begin(j, k) < 0)
            return;
        read_part(j);
        if (j->failed || drain_decoders(j) < 0 || check_decode_rate(j) < 0 ||
            (j->vdec && j->vframes == 0 && tc_fail(j, CT_MC_ERR_BROKEN_INPUT, "input: no decodable video frames")) ||
            tc_timeline_part_end(j) < 0)
            return;
    }
}

static int flush_all(tc_job *j)
{
    for (int i = 0; i < j->n_out && !j->failed; i++) {
        tc_out *o = &j->out[i];
        if (o->v.enc && tc_graph_push(j, o, &o->v, NULL, 1) < 0)
            return -1;
        if (o->a.enc && tc_graph_push(j, o, &o->a, NULL, 0) < 0)
            return -1;
    }
    return j->failed ? -1 : 0;
}

/* Too much of what was read would not decode: broken rather than truncated. */
static int check_decode_rate(tc_job *j)
{
    if (j->dec_errors >= TC_MIN_ERRORS_TO_FAIL && j->dec_errors * TC_MAX_ERROR_SHARE > j->packets)
        return tc_fail(j, CT_MC_ERR_BROKEN_INPUT, "input: %lld of %lld packets could not be decoded",
                       (long long)j->dec_errors, (long long)j->packets);
    return 0;
}

/* After the input ended: was it decodable enough? (Truncation is checked
 * per part, tc_timeline.c.) */
static int check_input_health(tc_job *j)
{
    if (j->vdec && j->vframes == 0)
        return tc_fail(j, CT_MC_ERR_BROKEN_INPUT, "input: no decodable video frames");
    if (check_decode_rate(j) < 0)
        return -1;
    if (j->dec_errors > 0)
        tc_warn(j, "input: %lld corrupt packets skipped", (long long)j->dec_errors);
    return 0;
}

static int open_outputs(tc_job *j, const int *out_fds)
{
    j->n_out = j->plan->n_outputs;
    for (int i = 0; i < j->n_out; i++) {
        j->out[i].index = i;
        j->out[i].po = &j->plan->outputs[i];
        if (!tc_input_has_audio(j, j->out[i].po) && j->out[i].po->audio.codec != CT_ACODEC_NONE)
            tc_warn(j, "output %d: input has no audio stream, written without audio", i + 1);
    }
    for (int i = 0; i < j->n_out; i++)
        if (tc_output_open(j, &j->out[i], out_fds[i]) < 0)
            return -1;
    return 0;
}

static int run(tc_job *j, const int *in_fds, int n_in, const int *out_fds)
{
    report(j, "PROBING", 0);
    if (tc_timeline_open(j, in_fds, n_in) < 0 || open_outputs(j, out_fds) < 0)
        return -1;
    j->pkt = av_packet_alloc();
    j->opkt = av_packet_alloc();
    j->frame = av_frame_alloc();
    j->filt = av_frame_alloc();
    if (!j->pkt || !j->opkt || !j->frame || !j->filt)
        return tc_fail(j, CT_MC_ERR_UNKNOWN, "out of memory");
    j->last_pct = 0;
    report(j, "TRANSCODING", 0);
    read_timeline(j);
    if (j->failed || flush_all(j) < 0 || check_input_health(j) < 0)
        return -1;
    for (int i = 0; i < j->n_out; i++)
        if (tc_output_finish(j, &j->out[i]) < 0)
            return -1;
    if (tc_hls_write_masters(j) < 0)
        return -1;
    report(j, "TRANSCODING", 100);
    return 0;
}

static ct_err code_to_err(int code)
{
    switch (code) {
    case 0: return CT_OK;
    case CT_MC_ERR_DISK: return CT_ERR_IO;
    case CT_MC_ERR_UNSUPPORTED_CODEC: return CT_ERR_UNSUPPORTED;
    case CT_MC_ERR_UNKNOWN: return CT_ERR_INTERNAL;
    default: return CT_ERR_INVALID;
    }
}

ct_err ct_transcode_run(const ct_plan *plan, int in_fd, const int *out_fds,
                        ct_transcode_progress_fn progress, void *ctx, ct_transcode_result *result)
{
    return ct_transcode_run_inputs(plan, &in_fd, 1, out_fds, progress, ctx, result);
}

ct_err ct_transcode_run_inputs(const ct_plan *plan, const int *in_fds, int n_in, const int *out_fds,
                               ct_transcode_progress_fn progress, void *ctx, ct_transcode_result *result)
{
    memset(result, 0, sizeof *result);
    if (!plan || plan->n_outputs < 1 || plan->n_outputs > CT_PLAN_MAX_OUTPUTS || n_in < 1 ||
        n_in > CT_PLAN_MAX_INPUTS) {
        result->error_code = CT_MC_ERR_SETTINGS;
        snprintf(result->error_message, sizeof result->error_message, "plan: bad input or output count");
        return CT_ERR_INVALID;
    }
    tc_job *j = calloc(1, sizeof *j);
    if (!j) {
        result->error_code = CT_MC_ERR_UNKNOWN;
        snprintf(result->error_message, sizeof result->error_message, "out of memory");
        return CT_ERR_NOMEM;
    }
    tc_log_install();
    j->plan = plan;
    j->res = result;
    j->progress = progress;
    j->pctx = ctx;
    j->vidx = -1;
    for (int a = 0; a < CT_PLAN_MAX_AUDIO; a++)
        j->aidx[a] = -1;
    j->n_aud = plan->n_audio > 0 ? plan->n_audio : 1;
    j->cur_src = -1;
    run(j, in_fds, n_in, out_fds);
    for (int i = 0; i < CT_PLAN_MAX_OUTPUTS; i++)
        tc_output_close(&j->out[i]);
    av_packet_free(&j->pkt);
    av_packet_free(&j->opkt);
    av_frame_free(&j->frame);
    av_frame_free(&j->filt);
    tc_timeline_close(j);
    free(j);
    return code_to_err(result->error_code);
}
