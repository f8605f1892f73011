/* tc_filter: per-output filter graphs.
 *
 * Video: buffer -> [deinterlace] -> [deblock] [hqdn3d] (the input's
 *        DeblockFilter / DenoiseFilter) -> [transpose/flip for rotation:
 *        the display matrix, or VideoSelector Rotate]
 *        -> scale=WxH (or smaller + pad, ScalingBehavior DEFAULT
 *        letterboxing) -> setsar=1 -> format=yuv420p (yuv420p10le for a
 *        10-bit profile) -> fps (constant
 *        frame rate) -> buffersink
 *        (frame capture: fps=NUM/DEN first, full-range yuvj420p for JPEG)
 * Deinterlacing (Deinterlacer, see tc_deint_chain): without one in the
 * settings an input flagged interlaced (field order, or the first frame's
 * flag) is deinterlaced by bwdif on the frames flagged interlaced, since
 * every output is progressive.
 * Constant frame rate: FramerateControl INITIALIZE_FROM_SOURCE gives the
 * input's nominal rate (a variable-frame-rate input is resampled to it
 * with fps, duplicating or dropping whole frames), SPECIFIED the given one. 
 * FramerateControl SPECIFIED, by FramerateConversionAlgorithm:
 *   DUPLICATE_DROP -> fps (repeats or drops whole frames, nearest in time);
 *   INTERPOLATE    -> framerate (blends the two neighbouring frames);
 *   FRAMEFORMER    -> minterpolate, motion-compensated (bidirectional
 *                     motion estimation, overlapped blocks): the closest
 *                     libavfilter has to MediaConvert's FrameFormer, and
 *                     by far the slowest of the three.
 * The conversion runs after scaling, on the output size. At the end of
 * input the graph is closed at the last frame's end (not its start), so
 * the fps stage keeps the last frame (and a one-frame input its frame).
 * Audio: abuffer -> aformat=fltp:RATE:LAYOUT (aresample auto-inserted)
 *        -> abuffersink with frame size = encoder frame size
 * A graph is built from the first frame it receives and rebuilt whenever the
 * frame parameters change (resolution switch, HE-AAC rate change...).
 * Video graphs run slice-threaded (up to TC_GRAPH_THREADS): swscale cuts
 * each picture into slices, so scaling leaves the decode loop's thread
 * with the same pixels as a single-threaded scale. */
#include "transcode/tc_internal.h"

#include <libavfilter/buffersink.h>
#include <libavfilter/buffersrc.h>
#include <libavutil/cpu.h>
#include <libavutil/opt.h>
#include <math.h>
#include <string.h>

#define TC_GRAPH_THREADS 4 /* slice threads per video graph at most */

void tc_graph_free(tc_graph *g)
{
    avfilter_graph_free(&g->graph);
    g->src = g->sink = NULL;
    av_channel_layout_uninit(&g->key.ch_layout);
    memset(&g->key, 0, sizeof g->key);
}

/* Input filters of the current input (DeblockFilter, DenoiseFilter,
 * FilterStrength): bit 0 deblock, bit 1 denoise, bits 2.. strength + 5. */
static int prep_flags(const tc_job *j)
{
    const ct_plan_input *pi = j->cur_src >= 0 && j->cur_src < j->plan->n_inputs ? &j->plan->inputs[j->cur_src]
                            : j->plan->n_inputs > 0 ? &j->plan->inputs[0] : NULL;
    if (!pi || (!pi->deblock && !pi->denoise))
        return 0;
    return (pi->deblock ? 1 : 0) | (pi->denoise ? 2 : 0) | (pi->filter_strength + 5) << 2;
}

/* DeblockFilter -> deblock (libavfilter's defaults: strong filter, 8x8
 * blocks, alpha 0.098, beta 0.05), DenoiseFilter -> hqdn3d (its defaults:
 * spatial 4/3, temporal 6/4.5); FilterStrength s scales the thresholds and
 * strengths by 2^(s/5) (half at -5, double at 5). */
static void prep_chain(int flags, char *buf, size_t n)
{
    double f = pow(2.0, ((flags >> 2) - 5) / 5.0);
    int used = 0;
    buf[0] = '\0';
    if (flags & 1)
        used = snprintf(buf, n, "deblock=alpha=%.4f:beta=%.4f,", fmin(0.098 * f, 1.0), fmin(0.05 * f, 1.0));
    if ((flags & 2) && used >= 0 && (size_t)used < n)
        snprintf(buf + used, n - (size_t)used, "hqdn3d=%.3f:%.3f:%.3f:%.3f,", 4 * f, 3 * f, 6 * f, 4.5 * f);
}

static int key_matches(const tc_job *j, const tc_graph *g, const AVFrame *f, int is_video)
{
    if (!g->graph)
        return 0;
    if (is_video)
        return g->key.w == f->width && g->key.h == f->height && g->key.format == f->format &&
               av_cmp_q(g->key.sar, f->sample_aspect_ratio) == 0 && g->key.rotation == j->rotation &&
               g->key.prep == prep_flags(j);
    return g->key.format == f->format && g->key.sample_rate == f->sample_rate &&
           av_channel_layout_compare(&g->key.ch_layout, &f->ch_layout) == 0;
}

static const char *rotate_chain(int rotation)
{
    switch (rotation) {
    case 90: return "transpose=clock,";
    case 180: return "hflip,vflip,";
    case 270: return "transpose=cclock,";
    default: return "";
    }
}

/* Frames arrive in the job's time bases (tc_timeline.c), whatever the input. */
static int src_args(tc_job *j, tc_track *t, const AVFrame *f, int is_video, char *buf, size_t n)
{
    AVRational tb = is_video ? j->vtb : j->atb;
    if (is_video) {
        AVRational sar = f->sample_aspect_ratio.num > 0 ? f->sample_aspect_ratio : (AVRational){1, 1};
        snprintf(buf, n, "video_size=%dx%d:pix_fmt=%d:time_base=%d/%d:pixel_aspect=%d/%d:frame_rate=%d/%d",
                 f->width, f->height, f->format, tb.num, tb.den, sar.num,
                 sar.den, j->frame_rate.num, j->frame_rate.den);
        return 0;
    }
    char layout[128];
    if (av_channel_layout_describe(&f->ch_layout, layout, sizeof layout) < 0)
        return AVERROR(EINVAL);
    snprintf(buf, n, "time_base=%d/%d:sample_rate=%d:sample_fmt=%s:channel_layout=%s",
             tb.num, tb.den, f->sample_rate,
             av_get_sample_fmt_name(f->format), layout);
    (void)t;
    return 0;
}

/* ScalingBehavior DEFAULT: the picture keeps its display aspect inside the
 * output size, with black bars (letterbox or pillarbox); STRETCH_TO_OUTPUT
 * fills the output. Differences of a pixel or two are stretched away. */
static void fit_chain(const tc_job *j, const tc_out *o, const AVFrame *f, const char *extra, char *buf,
                      size_t n)
{
    int W = o->target_w, H = o->target_h, fw = W, fh = H;
    AVRational sar = f->sample_aspect_ratio.num > 0 ? f->sample_aspect_ratio : (AVRational){1, 1};
    double dw = f->width * av_q2d(sar), dh = f->height;
    if (j->rotation == 90 || j->rotation == 270) {
        double tmp = dw;
        dw = dh;
        dh = tmp;
    }
    if (!o->po->video.stretch && dw > 0 && dh > 0) {
        if (dw * H > dh * W)
            fh = 2 * (int)lround(W * dh / dw / 2);
        else
            fw = 2 * (int)lround(H * dw / dh / 2);
    }
    fw = fw < 2 ? 2 : fw > W ? W : fw;
    fh = fh < 2 ? 2 : fh > H ? H : fh;
    if (W - fw <= 2 && H - fh <= 2)
        snprintf(buf, n, "scale=%d:%d:flags=bicubic%s", W, H, extra);
    else
        snprintf(buf, n, "scale=%d:%d:flags=bicubic%s,pad=%d:%d:(ow-iw)/2:(oh-ih)/2:black", fw, fh, extra,
                 W, H);
}

AVRational tc_out_rate(const tc_job *j, const ct_plan_video *pv)
{
    if (pv->fr_num > 0 && pv->fr_den > 0)
        return (AVRational){pv->fr_num, pv->fr_den};
    if (pv->deint_mode == CT_DEINT_IVTC) /* 3:2 pulldown removed: 4 frames of every 5 */
        return av_mul_q(j->frame_rate, (AVRational){4, 5});
    return j->frame_rate;
}

/* Deinterlacer: Mode DEINTERLACE with Algorithm INTERPOLATE(_TICKER) ->
 * bwdif (motion-adaptive interpolation of the missing field), BLEND(_TICKER)
 * -> pp=lb (linear blend of the two fields), LINEAR_INTERPOLATION -> pp=li;
 * Control NORMAL touches only frames flagged interlaced (bwdif per frame;
 * the pp filters for an input flagged interlaced), FORCE_ALL_FRAMES every
 * frame. INVERSE_TELECINE -> fieldmatch + bwdif on what stays combed +
 * decimate (3:2 pulldown back to 4/5 of the rate); ADAPTIVE -> fieldmatch +
 * bwdif without decimate (telecined and interlaced parts both come out
 * progressive at the input's rate). */
static const char *deint_chain(const tc_job *j, const ct_plan_video *pv, const AVFrame *f)
{
    int flagged = j->interlaced || f->interlaced_frame;
    switch (pv->deint_mode) {
    case CT_DEINT_OFF: return "";
    case CT_DEINT_IVTC: return "fieldmatch=order=auto:combmatch=full,bwdif=mode=send_frame:deint=interlaced,decimate,";
    case CT_DEINT_ADAPTIVE: return "fieldmatch=order=auto:combmatch=full,bwdif=mode=send_frame:deint=interlaced,";
    case CT_DEINT_AUTO: return flagged ? "bwdif=mode=send_frame:deint=interlaced," : "";
    default: break;
    }
    if (pv->deint_algo == CT_DEINT_INTERPOLATE)
        return pv->deint_force ? "bwdif=mode=send_frame:deint=all," : "bwdif=mode=send_frame:deint=interlaced,";
    if (!pv->deint_force && !flagged)
        return "";
    return pv->deint_algo == CT_DEINT_BLEND ? "pp=lb," : "pp=li,";
}

static int chain_desc(const tc_job *j, tc_out *o, tc_track *t, const AVFrame *f, int is_video, char *buf,
                      size_t n)
{
    int rotation = j->rotation;
    const ct_plan_video *pv = &o->po->video;
    char fit[256], prep[160];
    prep_chain(prep_flags(j), prep, sizeof prep);
    if (is_video && pv->codec == CT_VCODEC_JPEG) { /* frame capture: first frame, then every den/num s */
        fit_chain(j, o, f, ":out_range=full", fit, sizeof fit);
        snprintf(buf, n, "%s%s%sfps=fps=%d/%d:round=near,%s,setsar=1,format=yuvj420p", deint_chain(j, pv, f),
                 prep, rotate_chain(rotation), pv->fc_num > 0 ? pv->fc_num : 1,
                 pv->fc_den > 0 ? pv->fc_den : 1, fit);
        return 0;
    }
    if (is_video) {
        char rate[160];
        AVRational r = tc_out_rate(j, pv);
        snprintf(rate, sizeof rate, pv->fr_num > 0 && pv->fr_algo == CT_FR_INTERPOLATE ? ",framerate=fps=%d/%d"
                 : pv->fr_num > 0 && pv->fr_algo == CT_FR_FRAMEFORMER
                     ? ",minterpolate=fps=%d/%d:mi_mode=mci:mc_mode=aobmc:me_mode=bidir"
                     : ",fps=fps=%d/%d:round=near", r.num, r.den);
        fit_chain(j, o, f, "", fit, sizeof fit);
        snprintf(buf, n, "%s%s%s%s,setsar=1,format=%s%s", deint_chain(j, pv, f), prep,
                 rotate_chain(rotation), fit, pv->bit_depth == 10 ? "yuv420p10le" : "yuv420p", rate);
        return 0;
    }
    char layout[64];
    av_channel_layout_describe(&t->enc->ch_layout, layout, sizeof layout);
    /* joined parts: fill audio gaps with silence so sound stays in sync
     * (first_pts only for the first graph: a graph rebuilt mid-stream for a
     * new sample rate starts where the sound is) */
    snprintf(buf, n, "%saformat=sample_fmts=%s:sample_rates=%d:channel_layouts=%s",
             !j->joined ? "" : t->frames == 0 ? "aresample=async=1:first_pts=0," : "aresample=async=1,",
             av_get_sample_fmt_name(t->enc->sample_fmt), t->enc->sample_rate, layout);
    return 0;
}

static int link_chain(AVFilterGraph *g, AVFilterContext *src, AVFilterContext *sink, const char *desc)
{
    AVFilterInOut *outs = avfilter_inout_alloc(), *ins = avfilter_inout_alloc();
    int ret = AVERROR(ENOMEM);
    if (!outs || !ins)
        goto cleanup;
    outs->name = av_strdup("in");
    outs->filter_ctx = src;
    ins->name = av_strdup("out");
    ins->filter_ctx = sink;
    if (!outs->name || !ins->name)
        goto cleanup;
    ret = avfilter_graph_parse_ptr(g, desc, &ins, &outs, NULL);
    if (ret >= 0)
        ret = avfilter_graph_config(g, NULL);
cleanup:
    avfilter_inout_free(&ins);
    avfilter_inout_free(&outs);
    return ret;
}

static int graph_build(tc_job *j, tc_out *o, tc_track *t, const AVFrame *f, int is_video)
{
    tc_graph *g = &t->g;
    char args[512], desc[1024];
    int ret;
    tc_graph_free(g);
    g->graph = avfilter_graph_alloc();
    if (!g->graph)
        return AVERROR(ENOMEM);
    /* Video graphs get slice threads like the CLI's filter graph (swscale
     * splits a scale into slices, same pixels), at most TC_GRAPH_THREADS
     * since every output has its own graph; audio has nothing to split. */
    int cpus = av_cpu_count();
    g->graph->nb_threads = !is_video ? 1 : cpus < TC_GRAPH_THREADS ? cpus : TC_GRAPH_THREADS;
    if ((ret = src_args(j, t, f, is_video, args, sizeof args)) < 0)
        return ret;
    ret = avfilter_graph_create_filter(&g->src, avfilter_get_by_name(is_video ? "buffer" : "abuffer"),
                                       "in", args, NULL, g->graph);
    if (ret < 0)
        return ret;
    ret = avfilter_graph_create_filter(&g->sink, avfilter_get_by_name(is_video ? "buffersink" : "abuffersink"),
                                       "out", NULL, NULL, g->graph);
    if (ret < 0)
        return ret;
    chain_desc(j, o, t, f, is_video, desc, sizeof desc);
    if ((ret = link_chain(g->graph, g->src, g->sink, desc)) < 0)
        return ret;
    if (!is_video && !(t->enc->codec->capabilities & AV_CODEC_CAP_VARIABLE_FRAME_SIZE))
        av_buffersink_set_frame_size(g->sink, (unsigned)t->enc->frame_size);
    g->key.w = f->width;
    g->key.h = f->height;
    g->key.format = f->format;
    g->key.sar = f->sample_aspect_ratio;
    g->key.rotation = j->rotation;
    g->key.prep = prep_flags(j);
    g->key.sample_rate = f->sample_rate;
    if (!is_video)
        return av_channel_layout_copy(&g->key.ch_layout, &f->ch_layout);
    return 0;
}

/* Pushes one decoded frame (or NULL at end of input) into the output's graph
 * and drains the graph into the encoder. */
int tc_graph_push(tc_job *j, tc_out *o, tc_track *t, AVFrame *frame, int is_video)
{
    char eb[128];
    int ret;
    if (frame && !key_matches(j, &t->g, frame, is_video)) {
        if (t->g.graph) { /* parameters changed: end the old graph where its last frame
                           * ends and encode what it held (fps keeps one frame back) */
            av_buffersrc_close(t->g.src, t->g.in_end, 0);
            tc_output_drain(j, o, t, 0);
        }
        ret = graph_build(j, o, t, frame, is_video);
        if (ret < 0) {
            tc_graph_free(&t->g);
            return tc_fail(j, CT_MC_ERR_UNKNOWN, "output %d: cannot build %s filters (%s)",
                           o->index + 1, is_video ? "video" : "audio", tc_averr(ret, eb, sizeof eb));
        }
    }
    if (!t->g.graph) /* EOF on a graph that never saw a frame: flush the encoder */
        return frame ? 0 : tc_output_drain(j, o, t, 1);
    if (frame && frame->pts != AV_NOPTS_VALUE)
        t->g.in_end = frame->pts + (frame->pkt_duration > 0 ? frame->pkt_duration : 0);
    ret = frame ? av_buffersrc_add_frame_flags(t->g.src, frame, AV_BUFFERSRC_FLAG_KEEP_REF)
                : av_buffersrc_close(t->g.src, t->g.in_end, 0);
    if (ret < 0)
        return tc_fail(j, CT_MC_ERR_UNKNOWN, "output %d: filter input failed (%s)", o->index + 1,
                       tc_averr(ret, eb, sizeof eb));
    return tc_output_drain(j, o, t, frame == NULL);
}
