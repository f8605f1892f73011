/* tc_input: probe and open the untrusted input, check it against the plan's
 * caps, pick the streams and open their decoders.
 *
 * Hardening: custom AVIOContext on the fd, our own probe so the container
 * is checked against a whitelist before any demuxer runs (hls, concat,
 * image2... never do), io_open refusing nested opens, bounded probing,
 * stream count and pixel count limits. */
#include "transcode/tc_internal.h"

#include <libavutil/avstring.h>
#include <libavutil/display.h>
#include <libavutil/opt.h>
#include <math.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

/* Real containers only: no playlists, no concat scripts, no image sequences. */
static const char k_formats[] = "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,avi,mpegts,flv,ogg,wav,mp3,aac";
/* Decoders the demuxer may open while probing (names of decoders). */
static const char k_codecs[] =
    "h264,hevc,av1,libdav1d,vp8,vp9,mpeg4,mpeg2video,mpeg1video,mjpeg,prores,theora,"
    "flv,h263,h263p,msmpeg4,"
    "aac,mp3float,mp3,mp2float,mp2,opus,vorbis,ac3,eac3,flac,alac,amrnb,amrwb,"
    "pcm_s16le,pcm_s16be,pcm_s24le,pcm_s24be,pcm_s32le,pcm_s32be,pcm_f32le,pcm_f32be,pcm_u8";
static const enum AVCodecID k_video_ids[] = {
    AV_CODEC_ID_H264, AV_CODEC_ID_HEVC, AV_CODEC_ID_AV1, AV_CODEC_ID_VP8, AV_CODEC_ID_VP9,
    AV_CODEC_ID_MPEG4, AV_CODEC_ID_MPEG2VIDEO, AV_CODEC_ID_MPEG1VIDEO, AV_CODEC_ID_MJPEG,
    AV_CODEC_ID_PRORES, AV_CODEC_ID_THEORA,
    /* Flash (Sorenson Spark), 3GP phones (H.263), DivX 3 AVIs */
    AV_CODEC_ID_FLV1, AV_CODEC_ID_H263, AV_CODEC_ID_H263P, AV_CODEC_ID_MSMPEG4V3, AV_CODEC_ID_NONE};
static const enum AVCodecID k_audio_ids[] = {
    AV_CODEC_ID_AAC, AV_CODEC_ID_MP3, AV_CODEC_ID_MP2, AV_CODEC_ID_OPUS, AV_CODEC_ID_VORBIS,
    AV_CODEC_ID_AC3, AV_CODEC_ID_EAC3, AV_CODEC_ID_FLAC, AV_CODEC_ID_ALAC,
    AV_CODEC_ID_AMR_NB, AV_CODEC_ID_AMR_WB, /* 3GP phones */
    AV_CODEC_ID_PCM_S16LE, AV_CODEC_ID_PCM_S16BE, AV_CODEC_ID_PCM_S24LE, AV_CODEC_ID_PCM_S24BE,
    AV_CODEC_ID_PCM_S32LE, AV_CODEC_ID_PCM_S32BE, AV_CODEC_ID_PCM_F32LE, AV_CODEC_ID_PCM_F32BE,
    AV_CODEC_ID_PCM_U8, AV_CODEC_ID_NONE};

#define TC_PROBESIZE (10 * 1024 * 1024)
#define TC_ANALYZE_US (10 * AV_TIME_BASE)
#define TC_MAX_STREAMS 32
#define TC_MAX_PIXELS (8192LL * 8192LL)

static int id_allowed(const enum AVCodecID *ids, enum AVCodecID id)
{
    for (; *ids != AV_CODEC_ID_NONE; ids++)
        if (*ids == id)
            return 1;
    return 0;
}

static int probe_format(tc_job *j, int in_fd, const AVInputFormat **fmt)
{
    struct stat sb;
    char eb[128];
    if (fstat(in_fd, &sb) != 0)
        return tc_fail(j, CT_MC_ERR_INPUT_UNREADABLE, "input: cannot stat (%s)", strerror(errno));
    if (sb.st_size == 0)
        return tc_fail(j, CT_MC_ERR_INPUT_UNREADABLE, "input: empty file (0 bytes)");
    int ret = tc_fdio_alloc(in_fd, 0, &j->in_pb);
    if (ret < 0)
        return tc_fail(j, CT_MC_ERR_UNKNOWN, "input: out of memory");
    ret = av_probe_input_buffer2(j->in_pb, fmt, "", NULL, 0, TC_PROBESIZE);
    if (ret < 0 || !*fmt)
        return tc_fail(j, CT_MC_ERR_INPUT_UNREADABLE, "input: unrecognised format (%s)",
                       tc_averr(ret < 0 ? ret : AVERROR_INVALIDDATA, eb, sizeof eb));
    if (av_match_list((*fmt)->name, k_formats, ',') <= 0)
        return tc_fail(j, CT_MC_ERR_INPUT_UNREADABLE, "input: container '%s' is not supported",
                       (*fmt)->name);
    return 0;
}

static int open_demuxer(tc_job *j, const AVInputFormat *fmt)
{
    AVDictionary *opts = NULL;
    char eb[128];
    j->in = avformat_alloc_context();
    if (!j->in)
        return tc_fail(j, CT_MC_ERR_UNKNOWN, "input: out of memory");
    j->in->pb = j->in_pb;
    j->in->flags |= AVFMT_FLAG_CUSTOM_IO;
    j->in->io_open = tc_input_io_open;
    j->in->max_streams = j->plan->max_streams > 0 ? j->plan->max_streams : TC_MAX_STREAMS;
    j->in->probesize = TC_PROBESIZE;
    j->in->max_analyze_duration = TC_ANALYZE_US;
    av_dict_set(&opts, "format_whitelist", k_formats, 0);
    av_dict_set(&opts, "protocol_whitelist", "none", 0);
    av_dict_set(&opts, "codec_whitelist", k_codecs, 0);
    tc_log_clear();
    int ret = avformat_open_input(&j->in, "", fmt, &opts);
    av_dict_free(&opts);
    if (ret < 0) { /* j->in was freed */
        const char *last = tc_log_last_error();
        if (strstr(last, "moov atom not found"))
            return tc_fail(j, CT_MC_ERR_TRUNCATED_INPUT, "input: truncated MP4 (moov atom not found)");
        if (strstr(last, "max_streams"))
            return tc_fail(j, CT_MC_ERR_SETTINGS, "input: more than %d streams exceeds the limit",
                           j->plan->max_streams > 0 ? j->plan->max_streams : TC_MAX_STREAMS);
        return tc_fail(j, CT_MC_ERR_INPUT_UNREADABLE, "input: cannot open %s container (%s%s%s)",
                       /* NOLINTNEXTLINE(clang-analyzer-core.NullDereference): probe_format set fmt or failed */
                       fmt->name, tc_averr(ret, eb, sizeof eb), *last ? ": " : "", last);
    }
    ret = avformat_find_stream_info(j->in, NULL);
    if (ret < 0)
        return tc_fail(j, CT_MC_ERR_INPUT_UNREADABLE, "input: cannot read stream info (%s)",
                       tc_averr(ret, eb, sizeof eb));
    return 0;
}

/* The default audio stream: flagged default, else the first. */
static int pick_audio(AVFormatContext *in)
{
    int first = -1;
    for (unsigned i = 0; i < in->nb_streams; i++) {
        if (in->streams[i]->codecpar->codec_type != AVMEDIA_TYPE_AUDIO)
            continue;
        if (in->streams[i]->disposition & AV_DISPOSITION_DEFAULT)
            return (int)i;
        if (first < 0)
            first = (int)i;
    }
    return first;
}

static int lang_is(const AVStream *st, const char *lang)
{
    const AVDictionaryEntry *e = av_dict_get(st->metadata, "language", NULL, 0);
    return e && av_strcasecmp(e->value, lang) == 0;
}

/* The audio stream an AudioSelector picks (tracks count audio streams from
 * 1, as MediaConvert does); -1 with the job failed when it names none. */
static int select_audio(tc_job *j, const ct_plan_asel *a)
{
    int n = 0;
    if (a->kind == CT_ASEL_DEFAULT)
        return pick_audio(j->in);
    for (unsigned i = 0; i < j->in->nb_streams; i++) {
        const AVStream *st = j->in->streams[i];
        if (st->codecpar->codec_type != AVMEDIA_TYPE_AUDIO)
            continue;
        n++;
        if ((a->kind == CT_ASEL_TRACK && n == a->value) || (a->kind == CT_ASEL_PID && st->id == a->value) ||
            (a->kind == CT_ASEL_LANG && lang_is(st, a->lang)))
            return (int)i;
    }
    if (a->kind == CT_ASEL_TRACK)
        return tc_fail(j, CT_MC_ERR_NO_AUDIO, "input: audio selector asks for track %d; the input has"
                       " %d audio track%s", a->value, n, n == 1 ? "" : "s");
    if (a->kind == CT_ASEL_PID)
        return tc_fail(j, CT_MC_ERR_NO_AUDIO, "input: audio selector asks for PID %d; no audio stream"
                       " of the input has it", a->value);
    return tc_fail(j, CT_MC_ERR_NO_AUDIO, "input: audio selector asks for language %s; no audio"
                   " stream of the input is tagged with it", a->lang);
}

/* kind TC_VIDEO, or TC_AUDIO + slot: does an output use it? */
static int plan_wants(const ct_plan *p, int kind)
{
    for (int i = 0; i < p->n_outputs; i++)
        if (kind == TC_VIDEO ? p->outputs[i].video.codec != CT_VCODEC_NONE
                             : p->outputs[i].audio.codec != CT_ACODEC_NONE &&
                               p->outputs[i].audio.source == kind - TC_AUDIO)
            return 1;
    return 0;
}

AVStream *tc_input_stream(const tc_job *j, int kind)
{
    int idx = kind == TC_VIDEO ? j->vidx : j->aidx[kind - TC_AUDIO];
    return idx >= 0 ? j->in->streams[idx] : NULL;
}

const char *tc_input_audio_lang(const tc_job *j, const ct_plan_output *po)
{
    const tc_src *s = &j->src[0];
    int idx = j->n_src > 0 && po->audio.source >= 0 && po->audio.source < CT_PLAN_MAX_AUDIO
                  ? s->aidx[po->audio.source] : -1;
    const AVDictionaryEntry *e = idx >= 0 && s->in ? av_dict_get(s->in->streams[idx]->metadata, "language",
                                                                 NULL, 0) : NULL;
    if (po->audio.lang_follow && e && e->value[0] && strcmp(e->value, "und") != 0 &&
        strlen(e->value) < sizeof po->audio.lang && ct_plan_url_ok(e->value))
        return e->value;
    return po->audio.lang[0] ? po->audio.lang : "und";
}

int tc_input_has_audio(const tc_job *j, const ct_plan_output *po)
{
    return po->audio.source >= 0 && po->audio.source < j->n_aud && j->aidx[po->audio.source] >= 0;
}

static int open_decoder(tc_job *j, int idx, AVCodecContext **out)
{
    AVStream *st = j->in->streams[idx];
    int video = st->codecpar->codec_type == AVMEDIA_TYPE_VIDEO;
    const AVCodec *dec = avcodec_find_decoder(st->codecpar->codec_id);
    char eb[128];
    if (!dec || !id_allowed(video ? k_video_ids : k_audio_ids, st->codecpar->codec_id))
        return tc_fail(j, CT_MC_ERR_UNSUPPORTED_CODEC, "input: unsupported %s codec '%s'",
                       video ? "video" : "audio", avcodec_get_name(st->codecpar->codec_id));
    AVCodecContext *c = avcodec_alloc_context3(dec);
    *out = c;
    if (!c)
        return tc_fail(j, CT_MC_ERR_UNKNOWN, "input: out of memory");
    int ret = avcodec_parameters_to_context(c, st->codecpar);
    if (ret < 0)
        return tc_fail(j, CT_MC_ERR_UNKNOWN, "input: decoder setup failed");
    c->pkt_timebase = st->time_base;
    c->thread_count = 0;
    c->max_pixels = TC_MAX_PIXELS;
    ret = avcodec_open2(c, dec, NULL);
    if (ret < 0)
        return tc_fail(j, CT_MC_ERR_UNSUPPORTED_CODEC, "input: cannot open %s decoder (%s)",
                       dec->name, tc_averr(ret, eb, sizeof eb));
    return 0;
}

/* Rotation (clockwise degrees the picture must be turned) from the display
 * matrix, the way ffmpeg's autorotate computes it. */
static int stream_rotation(AVStream *st)
{
    const uint8_t *dm = av_stream_get_side_data(st, AV_PKT_DATA_DISPLAYMATRIX, NULL);
    if (!dm)
        return 0;
    double theta = -av_display_rotation_get((const int32_t *)dm);
    if (isnan(theta))
        return 0;
    theta -= 360 * floor(theta / 360 + 0.9 / 360);
    int r = (int)lround(theta / 90.0) * 90 % 360;
    return r;
}

/* VideoSelector Rotate of input k (AUTO: the display matrix). */
static int plan_rotation(const tc_job *j, int k, AVStream *st)
{
    int r = k < j->plan->n_inputs ? j->plan->inputs[k].rotate : CT_ROTATE_AUTO;
    return r == CT_ROTATE_AUTO ? stream_rotation(st) : (r - CT_ROTATE_0) * 90;
}

static int check_video(tc_job *j, int k)
{
    AVStream *st = j->in->streams[j->vidx];
    const ct_plan *p = j->plan;
    int w = st->codecpar->width, h = st->codecpar->height;
    if (!id_allowed(k_video_ids, st->codecpar->codec_id))
        return tc_fail(j, CT_MC_ERR_UNSUPPORTED_CODEC, "input: unsupported video codec '%s'",
                       avcodec_get_name(st->codecpar->codec_id));
    if (w <= 0 || h <= 0)
        return tc_fail(j, CT_MC_ERR_INPUT_UNREADABLE, "input: video stream has no dimensions");
    if ((int64_t)w * h > TC_MAX_PIXELS)
        return tc_fail(j, CT_MC_ERR_SETTINGS, "input: video %dx%d is too large", w, h);
    /* Either orientation may fit the caps (portrait phone videos). */
    if (p->max_width > 0 && p->max_height > 0 && !(w <= p->max_width && h <= p->max_height) &&
        !(h <= p->max_width && w <= p->max_height))
        return tc_fail(j, CT_MC_ERR_SETTINGS, "input: video %dx%d exceeds the limit %dx%d", w, h,
                       p->max_width, p->max_height);
    AVRational sar = av_guess_sample_aspect_ratio(j->in, st, NULL);
    j->disp_w = w;
    j->disp_h = h;
    if (sar.num > 0 && sar.den > 0 && sar.num != sar.den)
        j->disp_w = (int)av_rescale(w, sar.num, sar.den);
    j->rotation = plan_rotation(j, k, st);
    if (j->rotation == 90 || j->rotation == 270) {
        int t = j->disp_w;
        j->disp_w = j->disp_h;
        j->disp_h = t;
    }
    j->interlaced = st->codecpar->field_order > AV_FIELD_PROGRESSIVE;
    j->frame_rate = av_guess_frame_rate(j->in, st, NULL);
    if (j->frame_rate.num <= 0 || j->frame_rate.den <= 0 || av_q2d(j->frame_rate) > 240)
        j->frame_rate = (AVRational){30, 1};
    return 0;
}

/* Input k: the video stream and, per audio source slot, the stream its
 * selector picks (the default track for inputs of a hand-made plan). */
static int select_streams(tc_job *j, int k)
{
    int want_v = plan_wants(j->plan, TC_VIDEO), want_a = 0;
    j->vidx = av_find_best_stream(j->in, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
    if (j->vidx >= 0 && (j->in->streams[j->vidx]->disposition & AV_DISPOSITION_ATTACHED_PIC))
        j->vidx = -1;
    if (want_v && j->vidx < 0)
        return tc_fail(j, CT_MC_ERR_NO_VIDEO, "input: no video stream");
    if (!want_v)
        j->vidx = -1;
    for (int s = 0; s < j->n_aud; s++) {
        static const ct_plan_asel dflt;
        const ct_plan_asel *a = k < j->plan->n_inputs ? &j->plan->inputs[k].audio[s] : &dflt;
        j->aidx[s] = -1;
        if (!plan_wants(j->plan, TC_AUDIO + s))
            continue;
        want_a = 1;
        j->aidx[s] = select_audio(j, a); /* DEFAULT without audio: -1, not a failure */
        if (j->failed)
            return -1;
    }
    int any_a = 0;
    for (int s = 0; s < j->n_aud; s++)
        any_a |= j->aidx[s] >= 0;
    if (want_a && !any_a && !want_v)
        return tc_fail(j, CT_MC_ERR_NO_AUDIO, "input: no audio stream");
    for (unsigned i = 0; i < j->in->nb_streams; i++) {
        int used = (int)i == j->vidx;
        for (int s = 0; s < j->n_aud; s++)
            used |= (int)i == j->aidx[s];
        if (!used)
            j->in->streams[i]->discard = AVDISCARD_ALL;
    }
    return 0;
}

int tc_input_open(tc_job *j, int in_fd, int k)
{
    const AVInputFormat *fmt = NULL;
    const ct_plan *p = j->plan;
    j->vidx = -1;
    for (int s = 0; s < CT_PLAN_MAX_AUDIO; s++)
        j->aidx[s] = -1;
    if (probe_format(j, in_fd, &fmt) < 0 || open_demuxer(j, fmt) < 0 || select_streams(j, k) < 0)
        return -1;
    if (j->in->duration != AV_NOPTS_VALUE && j->in->duration > 0)
        j->duration_s = (double)j->in->duration / AV_TIME_BASE;
    j->res->input_duration_s = j->duration_s;
    if (p->max_duration_s > 0 && j->duration_s > p->max_duration_s)
        return tc_fail(j, CT_MC_ERR_SETTINGS, "input: duration %.1f s exceeds the limit %.1f s",
                       j->duration_s, p->max_duration_s);
    if (j->vidx >= 0 && (check_video(j, k) < 0 || open_decoder(j, j->vidx, &j->vdec) < 0))
        return -1;
    for (int s = 0; s < j->n_aud; s++) {
        /* two slots on one stream share nothing: each decodes its own copy */
        if (j->aidx[s] >= 0 && open_decoder(j, j->aidx[s], &j->adec[s]) < 0)
            return -1;
    }
    return 0;
}

void tc_input_close(tc_job *j)
{
    avcodec_free_context(&j->vdec);
    for (int s = 0; s < CT_PLAN_MAX_AUDIO; s++)
        avcodec_free_context(&j->adec[s]);
    avformat_close_input(&j->in); /* custom IO: does not touch in_pb */
    tc_fdio_free(&j->in_pb);
}
