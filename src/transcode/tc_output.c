/* tc_output: encoders and the MP4 muxer of one plan output.
 *
 * Rate control. QVBR becomes capped CRF: the QVBR level (1..10) picks a CRF
 * from the per-encoder table below and the VBV/max-bitrate cap is
 * max_bitrate with a buffer of hrd_buffer (or 2 * max_bitrate):
 *
 *   level    1   2   3   4   5   6   7   8   9  10
 *   x264    38  35  32  30  28  26  23  21  19  17   (x264 default crf 23 = level 7)
 *   x265    42  39  36  33  31  28  26  24  22  20   (x265 default crf 28 ~ level 6)
 *   svt-av1 55  51  47  44  41  38  35  32  29  26   (0..63 scale)
 *
 * CBR: target = max = bitrate, buffer = hrd_buffer or 2 * bitrate (SVT-AV1
 * 1.4 only does CBR in low-delay mode, so AV1 "CBR" is VBR at the bitrate).
 * VBR: target = bitrate, cap = max_bitrate when set.
 * VP8/VP9 (libvpx): VBR only, as in MediaConvert: target bitrate, peak
 * max_bitrate when set; deadline "good" with cpu-used 4 (row-mt for VP9).
 * Presets (fixed, see docs/benchmarks.md): x264 "fast", x265 "fast",
 * SVT-AV1 preset 8.
 *
 * Audio: AAC (native encoder, LC), Opus (libopus), MP3 (libmp3lame, CBR or
 * VBR quality 0..9), Vorbis (libvorbis, quality -1..10).
 * Containers: mp4/mov (moov first), matroska, webm, mp3 on the output fd;
 * fMP4 segments (tc_fmp4.c); HLS TS (tc_hls.c). */
#include "transcode/tc_internal.h"

#include <libavfilter/buffersink.h>
#include <libavutil/opt.h>
#include <math.h>
#include <string.h>

static const int k_crf_x264[10] = {38, 35, 32, 30, 28, 26, 23, 21, 19, 17};
static const int k_crf_x265[10] = {42, 39, 36, 33, 31, 28, 26, 24, 22, 20};
static const int k_crf_av1[10] = {55, 51, 47, 44, 41, 38, 35, 32, 29, 26};

static const char *encoder_name(ct_vcodec c)
{
    switch (c) {
    case CT_VCODEC_H264: return "libx264";
    case CT_VCODEC_H265: return "libx265";
    case CT_VCODEC_AV1: return "libsvtav1";
    case CT_VCODEC_JPEG: return "mjpeg";
    case CT_VCODEC_VP9: return "libvpx-vp9";
    case CT_VCODEC_VP8: return "libvpx";
    default: return NULL;
    }
}

static const char *audio_encoder_name(ct_acodec c)
{
    switch (c) {
    case CT_ACODEC_AAC: return "aac";
    case CT_ACODEC_OPUS: return "libopus";
    case CT_ACODEC_MP3: return "libmp3lame";
    case CT_ACODEC_VORBIS: return "libvorbis";
    default: return NULL;
    }
}

/* Output frame rate (tc_filter.c). */
static AVRational out_rate(const tc_job *j, const ct_plan_video *pv)
{
    return tc_out_rate(j, pv);
}

static int crf_for(ct_vcodec c, int level)
{
    if (level < 1 || level > 10)
        level = 7;
    return c == CT_VCODEC_H264 ? k_crf_x264[level - 1]
         : c == CT_VCODEC_H265 ? k_crf_x265[level - 1]
                               : k_crf_av1[level - 1];
}

static void vpx_rate_control(const ct_plan_video *pv, AVCodecContext *enc, AVDictionary **opts)
{
    enc->bit_rate = pv->bitrate;
    if (pv->max_bitrate > 0) {
        int64_t buf = pv->hrd_buffer > 0 ? pv->hrd_buffer : 2 * pv->max_bitrate;
        enc->rc_max_rate = pv->max_bitrate;
        enc->rc_buffer_size = (int)(buf > INT32_MAX ? INT32_MAX : buf);
    }
    av_dict_set(opts, "deadline", "good", 0);
    av_dict_set(opts, "cpu-used", "4", 0);
    if (pv->codec == CT_VCODEC_VP9)
        av_dict_set(opts, "row-mt", "1", 0);
}

/* Fills enc rate fields and the encoder option dictionary. */
static void rate_control(const ct_plan_video *pv, AVCodecContext *enc, AVDictionary **opts)
{
    if (pv->codec == CT_VCODEC_VP9 || pv->codec == CT_VCODEC_VP8) {
        vpx_rate_control(pv, enc, opts);
        return;
    }
    int64_t target = 0, cap = 0, buf;
    char x265[256] = "log-level=error", tmp[128];
    if (pv->rc_mode == CT_RC_QVBR) {
        av_dict_set_int(opts, "crf", crf_for(pv->codec, pv->qvbr_level), 0);
        cap = pv->max_bitrate;
    } else if (pv->rc_mode == CT_RC_CBR) {
        target = pv->bitrate;
        cap = pv->codec == CT_VCODEC_AV1 ? 0 : pv->bitrate;
    } else {
        target = pv->bitrate;
        cap = pv->max_bitrate;
    }
    buf = pv->hrd_buffer > 0 ? pv->hrd_buffer : 2 * (cap > 0 ? cap : target);
    enc->bit_rate = target;
    if (cap > 0) {
        enc->rc_max_rate = cap;
        enc->rc_buffer_size = (int)(buf > INT32_MAX ? INT32_MAX : buf);
    }
    if (pv->codec == CT_VCODEC_H265) {
        if (cap > 0) {
            snprintf(tmp, sizeof tmp, ":vbv-maxrate=%lld:vbv-bufsize=%lld", (long long)(cap / 1000),
                     (long long)(buf / 1000));
            strncat(x265, tmp, sizeof x265 - strlen(x265) - 1);
        }
        if (!pv->scene_change_detect)
            strncat(x265, ":scenecut=0", sizeof x265 - strlen(x265) - 1);
        av_dict_set(opts, "x265-params", x265, 0);
        av_dict_set(opts, "preset", "fast", 0);
    } else if (pv->codec == CT_VCODEC_H264) {
        av_dict_set(opts, "preset", "fast", 0);
        if (!pv->scene_change_detect)
            av_dict_set(opts, "sc_threshold", "0", 0);
    } else {
        av_dict_set(opts, "preset", "8", 0);
        if (pv->scene_change_detect)
            av_dict_set(opts, "svtav1-params", "scd=1", 0);
    }
}

/* CodecProfile / CodecLevel (H.264: x264's profile and level; H.265:
 * x265's profile, level-idc and high-tier). 10-bit profiles (and AV1
 * BitDepth BIT_10) encode yuv420p10le (Debian's x264, x265 and SVT-AV1
 * take both depths). */
static void profile_level(const ct_plan_video *pv, AVDictionary **opts)
{
    static const char *const avc[] = {NULL, "baseline", "main", "high"};
    char lv[16] = "";
    if (pv->level > 0)
        snprintf(lv, sizeof lv, "%d.%d", pv->level / 10, pv->level % 10);
    if (pv->codec == CT_VCODEC_H264) {
        if (pv->bit_depth == 10)
            av_dict_set(opts, "profile", "high10", 0);
        else if (pv->profile > CT_VPROF_DEFAULT && pv->profile <= CT_VPROF_HIGH)
            av_dict_set(opts, "profile", avc[pv->profile], 0);
        if (lv[0])
            av_dict_set(opts, "level", lv, 0);
        return;
    }
    if (pv->codec != CT_VCODEC_H265)
        return;
    if (pv->profile != CT_VPROF_DEFAULT || pv->bit_depth == 10)
        av_dict_set(opts, "profile", pv->bit_depth == 10 ? "main10" : "main", 0);
    const AVDictionaryEntry *e = av_dict_get(*opts, "x265-params", NULL, 0);
    char params[320];
    snprintf(params, sizeof params, "%s%s%s%s", e ? e->value : "log-level=error", lv[0] ? ":level-idc=" : "",
             lv, pv->high_tier ? ":high-tier=1" : "");
    av_dict_set(opts, "x265-params", params, 0);
}

static int add_stream(tc_job *j, tc_out *o, tc_track *t)
{
    char eb[128];
    int ret;
    t->st = avformat_new_stream(o->fmt, NULL);
    if (!t->st)
        return tc_fail(j, CT_MC_ERR_UNKNOWN, "output %d: out of memory", o->index + 1);
    if ((ret = avcodec_parameters_from_context(t->st->codecpar, t->enc)) < 0)
        return tc_fail(j, CT_MC_ERR_UNKNOWN, "output %d: %s", o->index + 1, tc_averr(ret, eb, sizeof eb));
    t->st->time_base = t->enc->time_base;
    if (o->fm.on && t == &o->v)
        t->st->time_base = (AVRational){1, 90000}; /* MediaConvert's video timescale */
    if (t->enc->codec_id == AV_CODEC_ID_HEVC)
        t->st->codecpar->codec_tag = MKTAG('h', 'v', 'c', '1'); /* QuickTime/Safari */
    t->last_pts = AV_NOPTS_VALUE;
    t->seg_idx = t->frag_idx = -1;
    return 0;
}

static void target_size(const tc_job *j, const ct_plan_video *pv, int *w, int *h)
{
    double dw = j->disp_w, dh = j->disp_h;
    double tw = pv->width, th = pv->height;
    if (tw <= 0 && th <= 0) {
        tw = dw;
        th = dh;
    } else if (th <= 0) {
        th = tw * dh / dw;
    } else if (tw <= 0) {
        tw = th * dw / dh;
    }
    *w = 2 * (int)lround(tw / 2.0); /* 4:2:0 needs even sizes */
    *h = 2 * (int)lround(th / 2.0);
    if (*w < 2)
        *w = 2;
    if (*h < 2)
        *h = 2;
}

/* Frame capture: full-range JPEG at a fixed quantiser from Quality 1..100. */
static void jpeg_settings(const ct_plan_video *pv, AVCodecContext *enc)
{
    int q = pv->fc_quality >= 1 && pv->fc_quality <= 100 ? pv->fc_quality : 80;
    int qscale = 2 + (100 - q) * 29 / 99; /* 100 -> 2 (best) .. 1 -> 31 */
    enc->pix_fmt = AV_PIX_FMT_YUVJ420P;
    enc->color_range = AVCOL_RANGE_JPEG;
    enc->flags |= AV_CODEC_FLAG_QSCALE;
    enc->global_quality = FF_QP2LAMBDA * qscale;
}

/* Segmented outputs: one GOP per segment (or fragment), keyframes forced
 * at their starts (tc_hls.c). Forced keyframes are IDR: x265 would make
 * them CRA pictures of an open GOP, whose leading pictures need the
 * previous segment, so a player starting or switching there would drop
 * them. */
static void segment_gop(tc_job *j, const ct_plan_output *po, AVCodecContext *enc, AVDictionary **opts)
{
    double fps = av_q2d(out_rate(j, &po->video));
    int len = po->fragment_length > 0 && po->fragment_length < po->segment_length ? po->fragment_length
                                                                                  : po->segment_length;
    int gop = (int)lround(len * (fps > 0 ? fps : 25));
    enc->gop_size = gop > 0 ? gop : 1;
    if (po->video.codec == CT_VCODEC_H264 || po->video.codec == CT_VCODEC_H265)
        av_dict_set(opts, "forced-idr", "1", 0);
    if (po->video.codec == CT_VCODEC_H265) { /* x265's own keyframes too: closed GOPs */
        const AVDictionaryEntry *e = av_dict_get(*opts, "x265-params", NULL, 0);
        char params[320];
        snprintf(params, sizeof params, "%s%sopen-gop=0", e ? e->value : "", e ? ":" : "");
        av_dict_set(opts, "x265-params", params, 0);
    }
}

static int open_video(tc_job *j, tc_out *o)
{
    const ct_plan_video *pv = &o->po->video;
    const AVCodec *codec = avcodec_find_encoder_by_name(encoder_name(pv->codec));
    AVStream *ist = j->in->streams[j->vidx];
    AVDictionary *opts = NULL;
    char eb[128];
    if (!codec)
        return tc_fail(j, CT_MC_ERR_UNSUPPORTED_CODEC, "output %d: encoder for %s not available",
                       o->index + 1, ct_vcodec_name(pv->codec));
    AVCodecContext *enc = o->v.enc = avcodec_alloc_context3(codec);
    if (!enc)
        return tc_fail(j, CT_MC_ERR_UNKNOWN, "output %d: out of memory", o->index + 1);
    target_size(j, pv, &o->target_w, &o->target_h);
    enc->width = o->target_w;
    enc->height = o->target_h;
    enc->pix_fmt = pv->bit_depth == 10 ? AV_PIX_FMT_YUV420P10LE : AV_PIX_FMT_YUV420P;
    enc->sample_aspect_ratio = (AVRational){1, 1};
    enc->framerate = out_rate(j, pv);
    /* constant frame rate (tc_filter.c): one tick per frame */
    enc->time_base = av_inv_q(enc->framerate);
    enc->color_primaries = ist->codecpar->color_primaries;
    enc->color_trc = ist->codecpar->color_trc;
    enc->colorspace = ist->codecpar->color_space;
    enc->color_range = AVCOL_RANGE_MPEG;
    /* Encoder threads as the ffmpeg CLI sets them ("auto"): libav's default
     * of 1 made libvpx (VP8/VP9) encode on the decode loop's thread. x264
     * already defaulted to auto; x265 and SVT-AV1 ignore it. */
    if (pv->codec != CT_VCODEC_JPEG)
        enc->thread_count = 0;
    if (pv->gop_frames > 0)
        enc->gop_size = pv->gop_frames;
    else if (pv->gop_ms > 0) /* GopSizeUnits SECONDS */
        enc->gop_size = (int)lround(pv->gop_ms / 1000.0 * av_q2d(enc->framerate));
    enc->gop_size = enc->gop_size < 1 && (pv->gop_frames > 0 || pv->gop_ms > 0) ? 1 : enc->gop_size;
    if (o->fmt && (o->fmt->oformat->flags & AVFMT_GLOBALHEADER))
        enc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    if (pv->codec == CT_VCODEC_JPEG)
        jpeg_settings(pv, enc);
    else
        rate_control(pv, enc, &opts);
    profile_level(pv, &opts);
    if (o->po->segment_length > 0 && pv->codec != CT_VCODEC_JPEG)
        segment_gop(j, o->po, enc, &opts);
    int ret = avcodec_open2(enc, codec, &opts);
    av_dict_free(&opts);
    if (ret < 0)
        return tc_fail(j, CT_MC_ERR_SETTINGS, "output %d: cannot open %s encoder at %dx%d (%s)",
                       o->index + 1, codec->name, enc->width, enc->height, tc_averr(ret, eb, sizeof eb));
    if (!o->fmt) /* frame capture: packets become files, no muxer */
        return 0;
    return add_stream(j, o, &o->v);
}

static int open_audio(tc_job *j, tc_out *o)
{
    const ct_plan_audio *pa = &o->po->audio;
    const char *name = audio_encoder_name(pa->codec);
    const AVCodec *codec = name ? avcodec_find_encoder_by_name(name) : NULL;
    char eb[128];
    if (!codec)
        return tc_fail(j, CT_MC_ERR_UNSUPPORTED_CODEC, "output %d: %s encoder not available", o->index + 1,
                       ct_acodec_name(pa->codec));
    AVCodecContext *enc = o->a.enc = avcodec_alloc_context3(codec);
    if (!enc)
        return tc_fail(j, CT_MC_ERR_UNKNOWN, "output %d: out of memory", o->index + 1);
    enc->sample_fmt = codec->sample_fmts ? codec->sample_fmts[0] : AV_SAMPLE_FMT_FLTP;
    enc->sample_rate = pa->sample_rate > 0 ? pa->sample_rate : 48000;
    av_channel_layout_default(&enc->ch_layout, pa->channels == 1 ? 1 : 2);
    enc->bit_rate = pa->bitrate > 0 ? pa->bitrate : 96000;
    if (pa->codec == CT_ACODEC_AAC)
        enc->profile = FF_PROFILE_AAC_LOW;
    if ((pa->codec == CT_ACODEC_MP3 || pa->codec == CT_ACODEC_VORBIS) && pa->vbr_quality != CT_PLAN_VBR_NONE) {
        enc->flags |= AV_CODEC_FLAG_QSCALE; /* VBR: quality, not bitrate */
        enc->global_quality = FF_QP2LAMBDA * pa->vbr_quality;
        enc->bit_rate = 0;
    }
    enc->time_base = (AVRational){1, enc->sample_rate};
    if (o->fmt->oformat->flags & AVFMT_GLOBALHEADER)
        enc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    int ret = avcodec_open2(enc, codec, NULL);
    if (ret < 0)
        return tc_fail(j, CT_MC_ERR_SETTINGS, "output %d: cannot open %s encoder (%d Hz, %d ch, %lld b/s): %s",
                       o->index + 1, codec->name, enc->sample_rate, pa->channels, (long long)enc->bit_rate,
                       tc_averr(ret, eb, sizeof eb));
    return add_stream(j, o, &o->a);
}

/* libav muxer of a single-file container. */
static const char *muxer_name(ct_container c)
{
    switch (c) {
    case CT_CONTAINER_MOV: return "mov";
    case CT_CONTAINER_MKV: return "matroska";
    case CT_CONTAINER_WEBM: return "webm";
    case CT_CONTAINER_MP3: return "mp3";
    default: return "mp4";
    }
}

static int open_muxer(tc_job *j, tc_out *o, int fd, AVDictionary **opts)
{
    AVIOContext *pb = NULL;
    o->bundle.fd = fd;
    if (o->po->container == CT_CONTAINER_JPEG)
        return 0;
    if (ct_plan_output_is_fmp4(o->po))
        return tc_fmp4_open_muxer(j, o, opts);
    if (o->po->container == CT_CONTAINER_HLS_TS)
        return tc_hls_open_muxer(j, o, opts);
    const char *mux = muxer_name(o->po->container);
    if (o->po->container == CT_CONTAINER_MP4 || o->po->container == CT_CONTAINER_MOV)
        av_dict_set(opts, "movflags", "+faststart", 0);
    int ret = avformat_alloc_output_context2(&o->fmt, NULL, mux, NULL);
    if (ret < 0 || !o->fmt)
        return tc_fail(j, CT_MC_ERR_UNKNOWN, "output %d: cannot create the %s muxer", o->index + 1, mux);
    if (tc_fdio_alloc(fd, 1, &pb) < 0)
        return tc_fail(j, CT_MC_ERR_UNKNOWN, "output %d: out of memory", o->index + 1);
    o->fmt->pb = pb;
    o->fmt->flags |= AVFMT_FLAG_CUSTOM_IO;
    o->fmt->io_open = tc_output_io_open;
    o->fmt->io_close2 = tc_output_io_close2;
    return 0;
}

int tc_output_open(tc_job *j, tc_out *o, int fd)
{
    AVDictionary *opts = NULL;
    char eb[128];
    o->v.last_pts = o->a.last_pts = AV_NOPTS_VALUE; /* also for frame capture (no stream) */
    o->v.seg_idx = o->a.seg_idx = o->v.frag_idx = o->a.frag_idx = -1;
    int ret = open_muxer(j, o, fd, &opts);
    if (ret < 0)
        goto cleanup;
    ret = -1;
    if (o->po->video.codec != CT_VCODEC_NONE && j->vidx >= 0 && open_video(j, o) < 0)
        goto cleanup;
    if (o->po->audio.codec != CT_ACODEC_NONE && tc_input_has_audio(j, o->po) && o->fmt && open_audio(j, o) < 0)
        goto cleanup;
    if (!o->v.enc && !o->a.enc) {
        tc_fail(j, o->po->video.codec == CT_VCODEC_JPEG ? CT_MC_ERR_NO_VIDEO : CT_MC_ERR_NO_AUDIO,
                "output %d: input has no stream this output can use", o->index + 1);
        goto cleanup;
    }
    ret = o->fmt ? avformat_write_header(o->fmt, &opts) : 0;
    if (ret < 0) {
        tc_fail(j, CT_MC_ERR_DISK, "output %d: cannot write %s header (%s)", o->index + 1,
                o->fmt->oformat->name, tc_averr(ret, eb, sizeof eb));
        goto cleanup;
    }
    o->header_written = 1;
    if (o->fm.on && tc_fmp4_after_header(j, o) < 0)
        ret = -1;
cleanup:
    av_dict_free(&opts);
    return ret < 0 ? -1 : 0;
}

/* Frame capture: every packet is one JPEG, NAME.NNNNNNN.jpg (0-based). */
static int write_capture(tc_job *j, tc_out *o, AVPacket *pkt)
{
    char name[CT_PLAN_NAME_MAX + 16], eb[128];
    snprintf(name, sizeof name, "%s.%07lld.jpg", o->po->name, (long long)o->captures);
    int ret = tc_bundle_put(o, name, pkt->data, (size_t)pkt->size);
    o->v.bytes += pkt->size;
    av_packet_unref(pkt);
    if (ret < 0)
        return tc_fail(j, CT_MC_ERR_DISK, "output %d: write failed (%s)", o->index + 1,
                       tc_averr(ret, eb, sizeof eb));
    o->captures++;
    return 0;
}

/* Encodes frame (NULL = flush) and writes every packet the encoder has. */
static int encode(tc_job *j, tc_out *o, tc_track *t, AVFrame *frame)
{
    AVPacket *pkt = j->opkt;
    char eb[128];
    int ret = avcodec_send_frame(t->enc, frame);
    t->flushed |= frame == NULL;
    if (ret < 0 && ret != AVERROR_EOF)
        return tc_fail(j, CT_MC_ERR_UNKNOWN, "output %d: %s encoder failed (%s)", o->index + 1,
                       t->enc->codec->name, tc_averr(ret, eb, sizeof eb));
    for (;;) {
        ret = avcodec_receive_packet(t->enc, pkt);
        if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF)
            return 0;
        if (ret < 0)
            return tc_fail(j, CT_MC_ERR_UNKNOWN, "output %d: %s encoder failed (%s)", o->index + 1,
                           t->enc->codec->name, tc_averr(ret, eb, sizeof eb));
        if (!o->fmt) {
            if (write_capture(j, o, pkt) < 0)
                return -1;
            continue;
        }
        if (pkt->duration <= 0 && t->enc->codec_type == AVMEDIA_TYPE_VIDEO)
            pkt->duration = av_rescale_q(1, av_inv_q(t->enc->framerate), t->enc->time_base);
        pkt->stream_index = t->st->index;
        av_packet_rescale_ts(pkt, t->enc->time_base, t->st->time_base);
        if (pkt->pts != AV_NOPTS_VALUE && pkt->pts + pkt->duration > t->end_ts)
            t->end_ts = pkt->pts + pkt->duration;
        t->bytes += pkt->size;
        if (o->fm.on) {
            if (tc_fmp4_write(j, o, t, pkt) < 0)
                return -1;
            continue;
        }
        if (o->po->segment_length > 0)
            tc_hls_count(o, pkt, t->st->time_base);
        ret = av_interleaved_write_frame(o->fmt, pkt); /* takes the packet's reference */
        if (ret < 0)
            return tc_fail(j, CT_MC_ERR_DISK, "output %d: write failed (%s)", o->index + 1,
                           tc_averr(ret, eb, sizeof eb));
    }
}

/* Moves every frame the graph has ready into the encoder; with flush, the
 * graph has seen EOF and the encoder is flushed too. */
int tc_output_drain(tc_job *j, tc_out *o, tc_track *t, int flush)
{
    AVFrame *f = j->filt;
    char eb[128];
    while (t->g.graph) {
        int ret = av_buffersink_get_frame(t->g.sink, f);
        if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF)
            break;
        if (ret < 0)
            return tc_fail(j, CT_MC_ERR_UNKNOWN, "output %d: filter failed (%s)", o->index + 1,
                           tc_averr(ret, eb, sizeof eb));
        if (f->pts != AV_NOPTS_VALUE)
            f->pts = av_rescale_q(f->pts, av_buffersink_get_time_base(t->g.sink), t->enc->time_base);
        if (f->pts == AV_NOPTS_VALUE || (t->last_pts != AV_NOPTS_VALUE && f->pts <= t->last_pts)) {
            av_frame_unref(f); /* encoders and the muxer need increasing timestamps */
            continue;
        }
        if (o->po->video.codec == CT_VCODEC_JPEG && t == &o->v && o->po->video.fc_max > 0 &&
            t->frames >= o->po->video.fc_max) {
            av_frame_unref(f); /* MaxCaptures reached */
            continue;
        }
        t->last_pts = f->pts;
        f->pict_type = tc_hls_force_key(o, t, f) ? AV_PICTURE_TYPE_I : AV_PICTURE_TYPE_NONE;
        if (!o->fmt)
            f->quality = t->enc->global_quality;
        t->frames++;
        ret = encode(j, o, t, f);
        av_frame_unref(f);
        if (ret < 0)
            return ret;
    }
    return flush ? encode(j, o, t, NULL) : 0;
}

static double track_seconds(const tc_track *t)
{
    return t->st && t->end_ts > 0 ? (double)t->end_ts * av_q2d(t->st->time_base) : 0;
}

int tc_output_finish(tc_job *j, tc_out *o)
{
    char eb[128];
    if (o->fm.on && tc_fmp4_finish(j, o) < 0)
        return -1;
    int ret = o->fmt && !o->fm.on ? av_write_trailer(o->fmt) : 0;
    o->header_written = 0;
    if (ret >= 0 && o->bundle.err < 0)
        ret = o->bundle.err;
    if (ret < 0)
        return tc_fail(j, CT_MC_ERR_DISK, "output %d: cannot finish %s (%s)", o->index + 1,
                       o->fmt ? o->fmt->oformat->name : "frame capture", tc_averr(ret, eb, sizeof eb));
    if (!o->fmt && o->captures == 0)
        return tc_fail(j, CT_MC_ERR_NO_VIDEO, "output %d: no frame was captured", o->index + 1);
    double vd = o->fmt ? track_seconds(&o->v) : j->media_end_s, ad = track_seconds(&o->a);
    j->res->outputs[o->index].duration_s = vd > ad ? vd : ad;
    j->res->outputs[o->index].width = o->v.enc ? o->target_w : 0;
    j->res->outputs[o->index].height = o->v.enc ? o->target_h : 0;
    j->res->outputs[o->index].video_bitrate = vd > 0 ? (int64_t)((double)o->v.bytes * 8 / vd) : 0;
    return 0;
}

/* SVT-AV1 1.4 can hang in deinit when it never saw end-of-stream: send EOS
 * and discard what comes out before freeing an encoder on an error path. */
static void quiesce(tc_track *t)
{
    AVPacket *pkt;
    if (!t->enc || t->flushed || !(pkt = av_packet_alloc()))
        return;
    if (avcodec_send_frame(t->enc, NULL) >= 0)
        while (avcodec_receive_packet(t->enc, pkt) >= 0)
            av_packet_unref(pkt);
    av_packet_free(&pkt);
}

void tc_output_close(tc_out *o)
{
    quiesce(&o->v);
    quiesce(&o->a);
    tc_graph_free(&o->v.g);
    tc_graph_free(&o->a.g);
    avcodec_free_context(&o->v.enc);
    avcodec_free_context(&o->a.enc);
    tc_fmp4_close(o);
    if (o->fmt) {
        AVIOContext *pb = o->fmt->pb;
        o->fmt->pb = NULL;
        avformat_free_context(o->fmt);
        o->fmt = NULL;
        tc_fdio_free(&pb);
    }
    tc_bundle_discard(o);
    av_freep(&o->seg_bytes);
    o->n_seg = 0;
}

static void preload_one(const char *name)
{
    const AVCodec *codec = avcodec_find_encoder_by_name(name);
    AVCodecContext *enc = codec ? avcodec_alloc_context3(codec) : NULL;
    AVDictionary *opts = NULL;
    if (!enc)
        return;
    enc->width = 64;
    enc->height = 64;
    enc->pix_fmt = AV_PIX_FMT_YUV420P;
    enc->time_base = (AVRational){1, 25};
    enc->framerate = (AVRational){25, 1};
    if (strcmp(name, "libx265") == 0)
        av_dict_set(&opts, "x265-params", "log-level=none", 0);
    if (avcodec_open2(enc, codec, &opts) < 0)
        av_log(NULL, AV_LOG_WARNING, "cattube: preload of %s failed\n", name);
    av_dict_free(&opts);
    avcodec_free_context(&enc);
}

void ct_transcode_preload(const ct_plan *plan)
{
    int seen[4] = {0};
    for (int i = 0; i < plan->n_outputs; i++) {
        ct_vcodec c = plan->outputs[i].video.codec;
        if (c == CT_VCODEC_H265 && !seen[c]++) /* the only one that needs it so far */
            preload_one(encoder_name(c));
    }
}
