/* tc_probe: what MediaConvert's Probe reports about an input (container
 * format, duration, bit rate, and per track its type, codec, size, frame
 * rate, channels, sample rate, language), as the wire's Container JSON.
 *
 * Runs in the sandboxed child like a transcode, and opens the input through
 * the same hardened path (tc_input_open with an empty plan: own format
 * probe against the whitelist, no nested opens, bounded probing); no
 * decoder is opened and no packet is decoded beyond stream-info analysis. */
#include "transcode/tc_internal.h"

#include <jansson.h>
#include <string.h>

static const struct {
    enum AVCodecID id;
    const char *name;   /* MediaConvert's Codec enum */
} k_codecs[] = {
    {AV_CODEC_ID_H264, "AVC"},        {AV_CODEC_ID_HEVC, "HEVC"},
    {AV_CODEC_ID_AV1, "AV1"},         {AV_CODEC_ID_VP8, "VP8"},
    {AV_CODEC_ID_VP9, "VP9"},         {AV_CODEC_ID_MPEG4, "MP4V"},
    {AV_CODEC_ID_MPEG2VIDEO, "MPEG2"}, {AV_CODEC_ID_MPEG1VIDEO, "MPEG1"},
    {AV_CODEC_ID_MJPEG, "MJPEG"},     {AV_CODEC_ID_PRORES, "PRORES"},
    {AV_CODEC_ID_THEORA, "THEORA"},   {AV_CODEC_ID_H263, "H263"},
    {AV_CODEC_ID_VC1, "VC1"},         {AV_CODEC_ID_DNXHD, "VC3"},
    {AV_CODEC_ID_JPEG2000, "JPEG2000"}, {AV_CODEC_ID_QTRLE, "QTRLE"},
    {AV_CODEC_ID_DVVIDEO, "DV"},      {AV_CODEC_ID_AAC, "AAC"},
    {AV_CODEC_ID_MP3, "MP3"},         {AV_CODEC_ID_MP2, "MP2"},
    {AV_CODEC_ID_OPUS, "OPUS"},       {AV_CODEC_ID_VORBIS, "VORBIS"},
    {AV_CODEC_ID_AC3, "AC3"},         {AV_CODEC_ID_EAC3, "EAC3"},
    {AV_CODEC_ID_FLAC, "FLAC"},       {AV_CODEC_ID_AMR_NB, "AMR"},
    {AV_CODEC_ID_AMR_WB, "AMR"},      {AV_CODEC_ID_EIA_608, "C608"},
    {AV_CODEC_ID_RAWVIDEO, "UNCOMPRESSED"},
};

static const char *codec_name(enum AVCodecID id)
{
    for (size_t i = 0; i < CT_ARRAY_LEN(k_codecs); i++)
        if (k_codecs[i].id == id)
            return k_codecs[i].name;
    const AVCodecDescriptor *d = avcodec_descriptor_get(id);
    if (d && strncmp(d->name, "pcm_", 4) == 0)
        return "PCM";
    return "UNKNOWN";
}

/* MediaConvert's Format enum from the demuxer (and, for ISO BMFF, its brand). */
static const char *format_name(const AVFormatContext *in)
{
    const char *n = in->iformat->name;
    if (strncmp(n, "mov,", 4) == 0) {
        const AVDictionaryEntry *b = av_dict_get(in->metadata, "major_brand", NULL, 0);
        const char *brand = b ? b->value : "";
        if (strncmp(brand, "qt", 2) == 0)
            return "quicktime";
        if (strncmp(brand, "3g2", 3) == 0)
            return "three_g2";
        if (strncmp(brand, "3gp", 3) == 0)
            return "three_gp";
        return "mp4";
    }
    static const struct {
        const char *demuxer, *name;
    } map[] = {{"matroska,webm", "matroska"}, {"avi", "avi"}, {"mpegts", "mpegts"},
               {"ogg", "ogg"}, {"wav", "wave"}, {"mp3", "mp3"}, {"aac", "aac"},
               {"flv", "flv"}};
    for (size_t i = 0; i < CT_ARRAY_LEN(map); i++)
        if (strcmp(n, map[i].demuxer) == 0)
            return map[i].name;
    return n;
}

static double stream_duration(const AVFormatContext *in, const AVStream *st)
{
    if (st->duration != AV_NOPTS_VALUE && st->duration > 0)
        return (double)st->duration * av_q2d(st->time_base);
    return in->duration > 0 ? (double)in->duration / AV_TIME_BASE : 0.0;
}

static json_t *frame_rate(AVRational r)
{
    return json_pack("{s:i, s:i}", "numerator", r.num, "denominator", r.den);
}

static json_t *video_props(const AVStream *st)
{
    const AVCodecParameters *p = st->codecpar;
    AVRational fr = st->avg_frame_rate.num > 0 ? st->avg_frame_rate : st->r_frame_rate;
    json_t *v = json_pack("{s:i, s:i}", "width", p->width, "height", p->height);
    if (p->bit_rate > 0)
        json_object_set_new(v, "bitRate", json_integer(p->bit_rate));
    if (p->bits_per_raw_sample > 0)
        json_object_set_new(v, "bitDepth", json_integer(p->bits_per_raw_sample));
    if (fr.num > 0 && fr.den > 0)
        json_object_set_new(v, "frameRate", frame_rate(fr));
    return v;
}

static json_t *audio_props(const AVStream *st)
{
    const AVCodecParameters *p = st->codecpar;
    json_t *a = json_pack("{s:i, s:i}", "channels", p->ch_layout.nb_channels, "sampleRate",
                          p->sample_rate);
    if (p->bit_rate > 0)
        json_object_set_new(a, "bitRate", json_integer(p->bit_rate));
    int depth = p->bits_per_raw_sample ? p->bits_per_raw_sample : p->bits_per_coded_sample;
    if (depth > 0)
        json_object_set_new(a, "bitDepth", json_integer(depth));
    const AVDictionaryEntry *lang = av_dict_get(st->metadata, "language", NULL, 0);
    if (lang && strcmp(lang->value, "und") != 0)
        json_object_set_new(a, "languageCode", json_string(lang->value));
    return a;
}

/* One Track; NULL for attachments and other streams Probe does not list. */
static json_t *track(const AVFormatContext *in, const AVStream *st, int index)
{
    const char *type;
    switch (st->codecpar->codec_type) {
    case AVMEDIA_TYPE_VIDEO:
        if (st->disposition & AV_DISPOSITION_ATTACHED_PIC)
            return NULL;
        type = "video";
        break;
    case AVMEDIA_TYPE_AUDIO: type = "audio"; break;
    case AVMEDIA_TYPE_DATA:
    case AVMEDIA_TYPE_SUBTITLE: type = "data"; break;
    default: return NULL;
    }
    json_t *t = json_pack("{s:i, s:s, s:s, s:f}", "index", index, "trackType", type, "codec",
                          codec_name(st->codecpar->codec_id), "duration",
                          stream_duration(in, st));
    if (type[0] == 'v')
        json_object_set_new(t, "videoProperties", video_props(st));
    else if (type[0] == 'a')
        json_object_set_new(t, "audioProperties", audio_props(st));
    return t;
}

static json_t *container(const AVFormatContext *in)
{
    json_t *tracks = json_array();
    int index = 0;
    for (unsigned i = 0; i < in->nb_streams; i++) {
        json_t *t = track(in, in->streams[i], index + 1);
        if (t) {
            json_array_append_new(tracks, t);
            index++;
        }
    }
    json_t *c = json_pack("{s:s, s:f, s:o}", "format", format_name(in), "duration",
                          in->duration > 0 ? (double)in->duration / AV_TIME_BASE : 0.0,
                          "tracks", tracks);
    if (in->bit_rate > 0)
        json_object_set_new(c, "bitRate", json_integer(in->bit_rate));
    return c;
}

ct_err ct_transcode_probe(int in_fd, char **json_out, ct_transcode_result *result)
{
    static const ct_plan no_outputs; /* wants no stream: nothing is decoded */
    tc_job j;
    memset(&j, 0, sizeof j);
    memset(result, 0, sizeof *result);
    *json_out = NULL;
    j.plan = &no_outputs;
    j.res = result;
    tc_log_install();
    ct_err err = CT_ERR_INVALID;
    if (tc_input_open(&j, in_fd, 0) == 0) {
        json_t *c = container(j.in);
        *json_out = c ? json_dumps(c, JSON_COMPACT | JSON_REAL_PRECISION(9)) : NULL;
        json_decref(c);
        err = *json_out ? CT_OK : CT_ERR_NOMEM;
        if (err)
            tc_fail(&j, CT_MC_ERR_UNKNOWN, "probe: out of memory");
    }
    tc_input_close(&j);
    return err;
}
