/* mc_codecs.c: VideoDescription and AudioDescriptions -> the plan's video
 * and audio settings (codecs, rate control, GOP, frame rate, H.264/H.265
 * profile and level, frame capture), and the small JSON accessors the plan files share.
 *
 * DESIGN: as in mc_plan.c, every value is type-checked again here (the
 * model check ran before, but the plan is also built from stored and
 * fuzzed JSON) and every refusal names its JSON path and the supported
 * values. */
#include "mc/mc_internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

const char *mc_jstr(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* 1 when o[k] is an integer (stored in *out), 0 when absent, -1 when wrong type. */
int mc_jint(const json_t *o, const char *k, json_int_t *out, mc_diag *d)
{
    const json_t *v = json_object_get(o, k);
    if (!v)
        return 0;
    if (!json_is_integer(v))
        return mc_fail_at(d, k, "expected an integer");
    *out = json_integer_value(v);
    return 1;
}

const json_t *mc_jobj(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);
    return json_is_object(v) ? v : NULL;
}

/* ------------------------------------------------------------------ video */

static const struct {
    const char *name, *settings;
    ct_vcodec codec;
} vcodecs[] = {
    {"H_264", "h264Settings", CT_VCODEC_H264},
    {"H_265", "h265Settings", CT_VCODEC_H265},
    {"AV1", "av1Settings", CT_VCODEC_AV1},
    {"VP9", "vp9Settings", CT_VCODEC_VP9},
    {"VP8", "vp8Settings", CT_VCODEC_VP8},
};

static int is_vpx(ct_vcodec c)
{
    return c == CT_VCODEC_VP9 || c == CT_VCODEC_VP8;
}

/* GopSize in FRAMES (the default) or SECONDS (H.264/H.265 gopSizeUnits);
 * AUTO leaves the GOP to the encoder (segmented outputs still get one GOP
 * per segment). */
static int video_gop(const json_t *cs, ct_plan_video *v, mc_diag *d)
{
    const json_t *gs = json_object_get(cs, "gopSize");
    const char *units = mc_jstr(cs, "gopSizeUnits");
    int seconds = units && strcmp(units, "SECONDS") == 0;
    if (units && strcmp(units, "AUTO") == 0)
        return 0;
    if (units && !seconds && strcmp(units, "FRAMES") != 0)
        return mc_fail_at(d, "gopSizeUnits", "unsupported value \"%.64s\" (supported: FRAMES, SECONDS,"
                          " AUTO)", units);
    if (!gs)
        return 0;
    if (!json_is_number(gs) || json_number_value(gs) < 0)
        return mc_fail_at(d, "gopSize", "expected a non-negative number");
    double g = json_number_value(gs);
    if (seconds && g > 300)
        return mc_fail_at(d, "gopSize", "must be at most 300 seconds");
    if (!seconds && g > 10000)
        return mc_fail_at(d, "gopSize", "must be at most 10000 frames");
    if (seconds)
        v->gop_ms = (int)lround(g * 1000);
    else
        v->gop_frames = (int)lround(g);
    return 0;
}

/* FramerateControl SPECIFIED: FramerateNumerator/Denominator, converted by
 * FramerateConversionAlgorithm (see tc_filter.c for the filters). */
static int video_rate(const json_t *cs, ct_plan_video *v, mc_diag *d)
{
    const char *ctl = mc_jstr(cs, "framerateControl"), *alg = mc_jstr(cs, "framerateConversionAlgorithm");
    json_int_t num = 0, den = 0;
    if (mc_jint(cs, "framerateNumerator", &num, d) < 0 || mc_jint(cs, "framerateDenominator", &den, d) < 0)
        return -1;
    if (!ctl || strcmp(ctl, "INITIALIZE_FROM_SOURCE") == 0)
        return 0;
    if (strcmp(ctl, "SPECIFIED") != 0)
        return mc_fail_at(d, "framerateControl", "unsupported value \"%.64s\" (supported:"
                          " INITIALIZE_FROM_SOURCE, SPECIFIED)", ctl);
    if (num < 1 || den < 1 || num > 1000000 || den > 1000000)
        return mc_fail_at(d, num < 1 || num > 1000000 ? "framerateNumerator" : "framerateDenominator",
                          "required, between 1 and 1000000, when framerateControl is SPECIFIED");
    if ((double)num / (double)den < 0.5 || (double)num / (double)den > 120)
        return mc_fail_at(d, "framerateNumerator", "frame rate %lld/%lld is outside 0.5..120 fps",
                          (long long)num, (long long)den);
    if (!alg || strcmp(alg, "DUPLICATE_DROP") == 0)
        v->fr_algo = CT_FR_DUPLICATE_DROP;
    else if (strcmp(alg, "INTERPOLATE") == 0)
        v->fr_algo = CT_FR_INTERPOLATE;
    else if (strcmp(alg, "FRAMEFORMER") == 0)
        v->fr_algo = CT_FR_FRAMEFORMER;
    else
        return mc_fail_at(d, "framerateConversionAlgorithm", "unsupported value \"%.64s\" (supported:"
                          " DUPLICATE_DROP, INTERPOLATE, FRAMEFORMER)", alg);
    v->fr_num = (int)num;
    v->fr_den = (int)den;
    return 0;
}

static int video_scene(const json_t *cs, ct_vcodec codec, ct_plan_video *v)
{
    const char *scd = mc_jstr(cs, "sceneChangeDetect");
    if (codec == CT_VCODEC_AV1)
        v->scene_change_detect = 0;
    else
        v->scene_change_detect = !(scd && strcmp(scd, "DISABLED") == 0);
    return 0;
}

/* VP8/VP9: VBR only (MediaConvert's Vp8/Vp9RateControlMode). */
static int vpx_rc(const json_t *cs, ct_plan_video *v, mc_diag *d)
{
    json_int_t bitrate = 0, maxb = 0, hrd = 0;
    const char *rc = mc_jstr(cs, "rateControlMode");
    if (mc_jint(cs, "bitrate", &bitrate, d) < 0 || mc_jint(cs, "maxBitrate", &maxb, d) < 0 ||
        mc_jint(cs, "hrdBufferSize", &hrd, d) < 0)
        return -1;
    if (rc && strcmp(rc, "VBR") != 0)
        return mc_fail_at(d, "rateControlMode", "unsupported value \"%.64s\" (supported: VBR)", rc);
    if (bitrate < 1000)
        return mc_fail_at(d, "bitrate", "required (at least 1000)");
    if (maxb && maxb < bitrate)
        return mc_fail_at(d, "maxBitrate", "must be at least bitrate");
    if (hrd < 0)
        return mc_fail_at(d, "hrdBufferSize", "must not be negative");
    v->rc_mode = CT_RC_VBR;
    v->bitrate = bitrate;
    v->max_bitrate = maxb;
    v->hrd_buffer = hrd;
    return 0;
}

static int video_rc(const json_t *cs, ct_plan_video *v, mc_diag *d)
{
    if (is_vpx(v->codec))
        return vpx_rc(cs, v, d);
    json_int_t bitrate = 0, maxb = 0, hrd = 0, level = 7;
    int has_b = mc_jint(cs, "bitrate", &bitrate, d), has_m = mc_jint(cs, "maxBitrate", &maxb, d);
    if (has_b < 0 || has_m < 0 || mc_jint(cs, "hrdBufferSize", &hrd, d) < 0)
        return -1;
    const char *rc = mc_jstr(cs, "rateControlMode");
    if (!rc)
        rc = has_b && !has_m ? "CBR" : "QVBR";
    const json_t *q = mc_jobj(cs, "qvbrSettings");
    size_t p = mc_path_key(d, "qvbrSettings");
    int lv = q ? mc_jint(q, "qvbrQualityLevel", &level, d) : 0;
    mc_path_pop(d, p);
    if (lv < 0)
        return -1;
    if (level < 1 || level > 10)
        return mc_fail_at(d, "qvbrSettings.qvbrQualityLevel", "must be between 1 and 10");
    if (strcmp(rc, "QVBR") == 0) {
        if (!has_m)
            return mc_fail_at(d, "maxBitrate", "required when rateControlMode is QVBR");
        v->rc_mode = CT_RC_QVBR;
    } else if (strcmp(rc, "CBR") == 0 || strcmp(rc, "VBR") == 0) {
        if (!has_b)
            return mc_fail_at(d, "bitrate", "required when rateControlMode is %s", rc);
        if (has_m && maxb < bitrate)
            return mc_fail_at(d, "maxBitrate", "must be at least bitrate");
        v->rc_mode = rc[0] == 'C' ? CT_RC_CBR : CT_RC_VBR;
    } else {
        return mc_fail_at(d, "rateControlMode", "unsupported value \"%s\" (supported: QVBR, CBR, VBR)", rc);
    }
    if (bitrate < 0 || maxb < 0 || hrd < 0)
        return mc_fail(d, "bitrates must not be negative");
    v->qvbr_level = (int)level;
    v->bitrate = v->rc_mode == CT_RC_QVBR ? 0 : bitrate;
    v->max_bitrate = v->rc_mode == CT_RC_CBR ? 0 : maxb;
    v->hrd_buffer = hrd;
    return 0;
}

/* CodecLevel AUTO or LEVEL_X[_Y] -> 10 * X + Y (0 = AUTO). */
static int codec_level(const json_t *cs, ct_plan_video *v, mc_diag *d)
{
    const char *l = mc_jstr(cs, "codecLevel");
    int major = 0, minor = 0, n = 0;
    if (!l || strcmp(l, "AUTO") == 0)
        return 0;
    if ((sscanf(l, "LEVEL_%1d%n_%1d%n", &major, &n, &minor, &n) < 1) || l[n] != '\0' || major < 1)
        return mc_fail_at(d, "codecLevel", "unsupported value \"%.64s\" (supported: AUTO, LEVEL_1 ... LEVEL_6_2)",
                          l);
    v->level = major * 10 + minor;
    return 0;
}

/* CodecProfile: H.264 BASELINE, MAIN, HIGH, HIGH_10BIT (absent: x264's
 * choice, High for 4:2:0 8-bit); H.265 MAIN_MAIN, MAIN_HIGH, MAIN10_MAIN,
 * MAIN10_HIGH (Main / Main 10, main or high tier). 4:2:2 profiles are not
 * encoded. */
static int codec_profile(const json_t *cs, ct_plan_video *v, mc_diag *d)
{
    static const struct {
        ct_vcodec codec;
        const char *name;
        int profile, depth, high_tier;
    } k_profiles[] = {
        {CT_VCODEC_H264, "BASELINE", CT_VPROF_BASELINE, 0, 0},
        {CT_VCODEC_H264, "MAIN", CT_VPROF_MAIN, 0, 0},
        {CT_VCODEC_H264, "HIGH", CT_VPROF_HIGH, 0, 0},
        {CT_VCODEC_H264, "HIGH_10BIT", CT_VPROF_HIGH, 10, 0},
        {CT_VCODEC_H265, "MAIN_MAIN", CT_VPROF_MAIN, 0, 0},
        {CT_VCODEC_H265, "MAIN_HIGH", CT_VPROF_MAIN, 0, 1},
        {CT_VCODEC_H265, "MAIN10_MAIN", CT_VPROF_MAIN, 10, 0},
        {CT_VCODEC_H265, "MAIN10_HIGH", CT_VPROF_MAIN, 10, 1},
    };
    const char *p = mc_jstr(cs, "codecProfile");
    if (!p)
        return 0;
    for (size_t i = 0; i < CT_ARRAY_LEN(k_profiles); i++) {
        if (k_profiles[i].codec == v->codec && strcmp(p, k_profiles[i].name) == 0) {
            v->profile = k_profiles[i].profile;
            v->bit_depth = k_profiles[i].depth;
            v->high_tier = k_profiles[i].high_tier;
            return 0;
        }
    }
    return mc_fail_at(d, "codecProfile", "unsupported value \"%.64s\" (supported: %s)", p,
                      v->codec == CT_VCODEC_H264 ? "BASELINE, MAIN, HIGH, HIGH_10BIT"
                                                 : "MAIN_MAIN, MAIN_HIGH, MAIN10_MAIN, MAIN10_HIGH");
}

static int video_codec(const json_t *csets, ct_plan_video *v, mc_diag *d)
{
    const char *codec = mc_jstr(csets, "codec");
    if (!codec)
        return mc_fail_at(d, "codec", "required");
    size_t i;
    for (i = 0; i < CT_ARRAY_LEN(vcodecs); i++)
        if (strcmp(vcodecs[i].name, codec) == 0)
            break;
    if (i == CT_ARRAY_LEN(vcodecs))
        return mc_fail_at(d, "codec", "unsupported value \"%.64s\" (supported: H_264, H_265, AV1, VP9,"
                          " VP8, FRAME_CAPTURE)", codec);
    v->codec = vcodecs[i].codec;
    const json_t *cs = json_object_get(csets, vcodecs[i].settings);
    if (cs && !json_is_object(cs))
        return mc_fail_at(d, vcodecs[i].settings, "expected an object");
    json_t *empty = json_object();
    size_t p = mc_path_key(d, vcodecs[i].settings);
    int rc = video_rc(cs ? cs : empty, v, d);
    if (!rc)
        rc = video_gop(cs ? cs : empty, v, d);
    if (!rc)
        rc = video_rate(cs ? cs : empty, v, d);
    if (!rc && (v->codec == CT_VCODEC_H264 || v->codec == CT_VCODEC_H265))
        rc = codec_profile(cs ? cs : empty, v, d) || codec_level(cs ? cs : empty, v, d) ? -1 : 0;
    if (!rc && v->codec == CT_VCODEC_AV1) { /* BitDepth: SVT-AV1 Main profile, 8 or 10 bits */
        const char *bd = mc_jstr(cs ? cs : empty, "bitDepth");
        rc = mc_enum_only(cs ? cs : empty, "bitDepth", "BIT_8|BIT_10", d);
        v->bit_depth = bd && strcmp(bd, "BIT_10") == 0 ? 10 : 0;
    }
    if (!rc)
        video_scene(cs ? cs : empty, v->codec, v);
    mc_path_pop(d, p);
    json_decref(empty);
    return rc;
}

static int fc_int(const json_t *fc, const char *k, json_int_t def, json_int_t lo, json_int_t hi,
                  int *out, mc_diag *d)
{
    json_int_t v = def;
    if (mc_jint(fc, k, &v, d) < 0)
        return -1;
    if (v < lo || v > hi)
        return mc_fail_at(d, k, "must be between %lld and %lld", (long long)lo, (long long)hi);
    *out = (int)v;
    return 0;
}

/* FRAME_CAPTURE: JPEG stills, one every den/num seconds from the first frame. */
static int frame_capture_plan(const json_t *csets, ct_plan_video *v, mc_diag *d)
{
    const json_t *fc = json_object_get(csets, "frameCaptureSettings");
    if (fc && !json_is_object(fc))
        return mc_fail_at(d, "frameCaptureSettings", "expected an object");
    json_t *empty = json_object();
    size_t p = mc_path_key(d, "frameCaptureSettings");
    const json_t *f = fc ? fc : empty;
    int rc = fc_int(f, "framerateNumerator", 1, 1, 120, &v->fc_num, d) ||
             fc_int(f, "framerateDenominator", 1, 1, 3600, &v->fc_den, d) ||
             fc_int(f, "maxCaptures", 0, 0, 10000000, &v->fc_max, d) ||
             fc_int(f, "quality", 80, 1, 100, &v->fc_quality, d) ? -1 : 0;
    mc_path_pop(d, p);
    json_decref(empty);
    v->codec = CT_VCODEC_JPEG;
    return rc;
}

int mc_video_plan(const json_t *vd, ct_plan_video *v, mc_diag *d)
{
    json_int_t w = 0, h = 0;
    if (!json_is_object(vd))
        return mc_fail(d, "expected an object");
    if (mc_jint(vd, "width", &w, d) < 0 || mc_jint(vd, "height", &h, d) < 0)
        return -1;
    if (w < 0 || w > 8192 || h < 0 || h > 8192)
        return mc_fail(d, "width and height must be between 32 and 8192");
    v->width = (int)w;
    v->height = (int)h;
    const char *sb = mc_jstr(vd, "scalingBehavior");
    if (sb && strcmp(sb, "DEFAULT") != 0 && strcmp(sb, "STRETCH_TO_OUTPUT") != 0)
        return mc_fail_at(d, "scalingBehavior", "unsupported value \"%.64s\" (supported: DEFAULT,"
                          " STRETCH_TO_OUTPUT)", sb);
    v->stretch = sb && strcmp(sb, "STRETCH_TO_OUTPUT") == 0;
    const json_t *cs = json_object_get(vd, "codecSettings");
    if (!json_is_object(cs))
        return mc_fail_at(d, "codecSettings", cs ? "expected an object" : "required");
    size_t p = mc_path_key(d, "codecSettings");
    const char *codec = mc_jstr(cs, "codec");
    int rc = codec && strcmp(codec, "FRAME_CAPTURE") == 0 ? frame_capture_plan(cs, v, d)
                                                          : video_codec(cs, v, d);
    mc_path_pop(d, p);
    return rc;
}

/* ------------------------------------------------------------------ audio */

static int aac_rate_ok(json_int_t r)
{
    static const int rates[] = {8000, 11025, 12000, 16000, 22050, 24000,
                                32000, 44100, 48000, 64000, 88200, 96000};
    for (size_t i = 0; i < CT_ARRAY_LEN(rates); i++)
        if (rates[i] == r)
            return 1;
    return 0;
}

static int aac_plan(const json_t *aac, ct_plan_audio *a, mc_diag *d)
{
    json_int_t br = 96000, sr = 48000;
    const char *mode = mc_jstr(aac, "codingMode"), *prof = mc_jstr(aac, "codecProfile");
    if (mc_jint(aac, "bitrate", &br, d) < 0 || mc_jint(aac, "sampleRate", &sr, d) < 0)
        return -1;
    if (br < 6000 || br > 1024000)
        return mc_fail_at(d, "bitrate", "must be between 6000 and 1024000");
    if (!aac_rate_ok(sr))
        return mc_fail_at(d, "sampleRate", "unsupported value %lld", (long long)sr);
    if (prof && strcmp(prof, "LC") != 0)
        return mc_fail_at(d, "codecProfile", "unsupported value \"%.64s\" (supported: LC)", prof);
    if (!mode || strcmp(mode, "CODING_MODE_2_0") == 0)
        a->channels = 2;
    else if (strcmp(mode, "CODING_MODE_1_0") == 0)
        a->channels = 1;
    else
        return mc_fail_at(d, "codingMode",
                          "unsupported value \"%.64s\" (supported: CODING_MODE_1_0, CODING_MODE_2_0)",
                          mode);
    a->codec = CT_ACODEC_AAC;
    a->bitrate = br;
    a->sample_rate = (int)sr;
    return 0;
}

static int rate_in(json_int_t r, const int *rates, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (rates[i] == r)
            return 1;
    return 0;
}

static int channels_plan(const json_t *cs, ct_plan_audio *a, mc_diag *d)
{
    json_int_t ch = 2;
    if (mc_jint(cs, "channels", &ch, d) < 0)
        return -1;
    if (ch < 1 || ch > 2)
        return mc_fail_at(d, "channels", "must be 1 or 2");
    a->channels = (int)ch;
    return 0;
}

/* OPUS: Bitrate 32000..192000 (96000), Channels 1-2, SampleRate 16000, 24000, 48000. */
static int opus_plan(const json_t *cs, ct_plan_audio *a, mc_diag *d)
{
    static const int rates[] = {16000, 24000, 48000};
    json_int_t br = 96000, sr = 48000;
    if (mc_jint(cs, "bitrate", &br, d) < 0 || mc_jint(cs, "sampleRate", &sr, d) < 0 || channels_plan(cs, a, d))
        return -1;
    if (br < 32000 || br > 192000)
        return mc_fail_at(d, "bitrate", "must be between 32000 and 192000");
    if (!rate_in(sr, rates, CT_ARRAY_LEN(rates)))
        return mc_fail_at(d, "sampleRate", "unsupported value %lld (supported: 16000, 24000, 48000)",
                          (long long)sr);
    a->bitrate = br;
    a->sample_rate = (int)sr;
    return 0;
}

/* MP3: CBR Bitrate 16000..320000 (128000) or VBR VbrQuality 0..9 (4). */
static int mp3_plan(const json_t *cs, ct_plan_audio *a, mc_diag *d)
{
    static const int rates[] = {22050, 32000, 44100, 48000};
    json_int_t br = 128000, sr = 48000, q = 4;
    const char *rc = mc_jstr(cs, "rateControlMode");
    if (mc_jint(cs, "bitrate", &br, d) < 0 || mc_jint(cs, "sampleRate", &sr, d) < 0 ||
        mc_jint(cs, "vbrQuality", &q, d) < 0 || channels_plan(cs, a, d))
        return -1;
    if (rc && strcmp(rc, "CBR") != 0 && strcmp(rc, "VBR") != 0)
        return mc_fail_at(d, "rateControlMode", "unsupported value \"%.64s\" (supported: CBR, VBR)", rc);
    if (br < 16000 || br > 320000)
        return mc_fail_at(d, "bitrate", "must be between 16000 and 320000");
    if (q < 0 || q > 9)
        return mc_fail_at(d, "vbrQuality", "must be between 0 and 9");
    if (!rate_in(sr, rates, CT_ARRAY_LEN(rates)))
        return mc_fail_at(d, "sampleRate", "unsupported value %lld (supported: 22050, 32000, 44100, 48000)",
                          (long long)sr);
    a->bitrate = br;
    a->sample_rate = (int)sr;
    a->vbr_quality = rc && strcmp(rc, "VBR") == 0 ? (int)q : CT_PLAN_VBR_NONE;
    return 0;
}

/* VORBIS: VbrQuality -1..10 (4), Channels 1-2, SampleRate 22050..48000. */
static int vorbis_plan(const json_t *cs, ct_plan_audio *a, mc_diag *d)
{
    static const int rates[] = {22050, 32000, 44100, 48000};
    json_int_t sr = 48000, q = 4;
    if (mc_jint(cs, "sampleRate", &sr, d) < 0 || mc_jint(cs, "vbrQuality", &q, d) < 0 || channels_plan(cs, a, d))
        return -1;
    if (q < -1 || q > 10)
        return mc_fail_at(d, "vbrQuality", "must be between -1 and 10");
    if (!rate_in(sr, rates, CT_ARRAY_LEN(rates)))
        return mc_fail_at(d, "sampleRate", "unsupported value %lld (supported: 22050, 32000, 44100, 48000)",
                          (long long)sr);
    a->sample_rate = (int)sr;
    a->vbr_quality = (int)q;
    return 0;
}

static const struct {
    const char *name, *settings;
    ct_acodec codec;
    int (*plan)(const json_t *cs, ct_plan_audio *a, mc_diag *d);
} k_acodecs[] = {
    {"AAC", "aacSettings", CT_ACODEC_AAC, aac_plan},
    {"OPUS", "opusSettings", CT_ACODEC_OPUS, opus_plan},
    {"MP3", "mp3Settings", CT_ACODEC_MP3, mp3_plan},
    {"VORBIS", "vorbisSettings", CT_ACODEC_VORBIS, vorbis_plan},
};

static int audio_codec(const json_t *ad, ct_plan_audio *a, mc_diag *d)
{
    const json_t *cs = json_object_get(ad, "codecSettings");
    if (!json_is_object(cs))
        return mc_fail_at(d, "codecSettings", cs ? "expected an object" : "required");
    size_t p = mc_path_key(d, "codecSettings"), i = 0;
    const char *codec = mc_jstr(cs, "codec");
    int rc;
    while (codec && i < CT_ARRAY_LEN(k_acodecs) && strcmp(codec, k_acodecs[i].name) != 0)
        i++;
    if (!codec) {
        rc = mc_fail_at(d, "codec", "required");
    } else if (i == CT_ARRAY_LEN(k_acodecs)) {
        rc = mc_fail_at(d, "codec", "unsupported value \"%.64s\" (supported: AAC, OPUS, MP3, VORBIS)", codec);
    } else {
        const json_t *set = json_object_get(cs, k_acodecs[i].settings);
        json_t *empty = json_object();
        size_t p2 = mc_path_key(d, k_acodecs[i].settings);
        a->codec = k_acodecs[i].codec;
        a->vbr_quality = CT_PLAN_VBR_NONE;
        rc = set && !json_is_object(set) ? mc_fail(d, "expected an object")
                                         : k_acodecs[i].plan(set ? set : empty, a, d);
        mc_path_pop(d, p2);
        json_decref(empty);
    }
    mc_path_pop(d, p);
    return rc;
}

int mc_audio_plan(const json_t *ads, const json_t *selectors, ct_plan_audio *a, mc_diag *d)
{
    if (!json_is_array(ads))
        return mc_fail(d, "expected an array");
    if (json_array_size(ads) == 0)
        return 0;
    if (json_array_size(ads) > 1)
        return mc_fail(d, "at most one audio description per output is supported (got %zu)",
                       json_array_size(ads));
    const json_t *ad = json_array_get(ads, 0);
    size_t p = mc_path_index(d, 0);
    int rc = -1;
    if (!json_is_object(ad)) {
        mc_fail(d, "expected an object");
        goto cleanup;
    }
    const char *src = mc_jstr(ad, "audioSourceName");
    if (src && selectors && !json_object_get(selectors, src)) {
        mc_fail_at(d, "audioSourceName", "no audio selector named \"%.128s\" in settings.inputs[0]",
                   src);
        goto cleanup;
    }
    rc = audio_codec(ad, a, d);
cleanup:
    mc_path_pop(d, p);
    return rc;
}

