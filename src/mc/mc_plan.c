/* mc_plan.c: normalised JobSettings -> the supported subset -> ct_plan.
 *
 * DESIGN: one pass both validates and builds, so what CreateJob accepts is
 * exactly what the worker can plan (CreateJob runs it and throws the plan
 * away; the worker runs it again on the stored spec). The input arrives
 * model-checked (types, enums, ranges), but this file still tests every type
 * so that ct_mc_job_plan is safe on any stored or fuzzed JSON.
 * Output naming follows MediaConvert: destination + input basename (without
 * extension) + nameModifier + "." + extension; when the destination does not
 * end in '/', its last segment replaces the input basename.
 * Multi-file outputs (MediaConvert's names; MediaLive's user guide
 * documents the same HLS scheme, MediaConvert's FrameCaptureSettings
 * documents the capture names):
 *   HLS group: master  DEST + base + ".m3u8"
 *              variant DEST + base + nameModifier + ".m3u8"
 *              segment DEST + base + nameModifier + "_00001.ts" (5 digits from 1)
 *   frame capture (FILE group, container RAW, codec FRAME_CAPTURE):
 *              DEST + base + nameModifier + ".0000000.jpg" (7 digits from 0)
 * where DEST is the destination up to its last '/'. */
#include "mc/mc_internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>


int mc_parse_s3(const char *url, char bucket[64], char *key, size_t keylen, int allow_empty_key)
{
    if (!url || strncmp(url, "s3://", 5) != 0)
        return -1;
    const char *b = url + 5, *slash = strchr(b, '/');
    size_t bl = slash ? (size_t)(slash - b) : strlen(b);
    if (bl < 3 || bl > 63)
        return -1;
    for (size_t i = 0; i < bl; i++) {
        char c = b[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_'))
            return -1;
    }
    const char *k = slash ? slash + 1 : "";
    size_t kl = strlen(k);
    if ((!kl && !allow_empty_key) || kl >= keylen || kl > 1024)
        return -1;
    memcpy(bucket, b, bl);
    bucket[bl] = '\0';
    memcpy(key, k, kl + 1);
    return 0;
}

/* ----------------------------------------------------------------- output */

typedef struct {
    const char *ext;
    const char *modifier;
} out_naming;

/* the output group an output is checked for (GK_ANY: a preset, any group) */
enum { GK_ANY = 0, GK_FILE, GK_HLS, GK_DASH, GK_CMAF };

#define V(c) (1u << (c))
#define A(c) (1u << (c))
#define V_STD (V(CT_VCODEC_H264) | V(CT_VCODEC_H265) | V(CT_VCODEC_AV1))
#define V_VPX (V(CT_VCODEC_VP8) | V(CT_VCODEC_VP9))
#define K_RAW_HELP "video FRAME_CAPTURE without audio, or audio MP3 without video"

/* Containers per group kind: the name in the settings, the plan's
 * container, the default extension, and the codecs each carries (as in
 * MediaConvert's supported-codecs table, limited to what CatTube encodes).
 * MKV is not a MediaConvert ContainerType (the model refuses it), so the
 * engine's matroska output (CT_CONTAINER_MKV) has no setting yet. */
static const struct {
    int gk;
    const char *name;
    ct_container container;
    const char *ext;
    unsigned vcodecs, acodecs;
    const char *help;
} k_containers[] = {
    {GK_FILE, "MP4", CT_CONTAINER_MP4, "mp4", V_STD, A(CT_ACODEC_AAC), "video H_264, H_265, AV1; audio AAC"},
    {GK_FILE, "MOV", CT_CONTAINER_MOV, "mov", V(CT_VCODEC_H264) | V(CT_VCODEC_H265),
     A(CT_ACODEC_AAC) | A(CT_ACODEC_MP3), "video H_264, H_265; audio AAC, MP3"},
    {GK_FILE, "WEBM", CT_CONTAINER_WEBM, "webm", V_VPX, A(CT_ACODEC_OPUS) | A(CT_ACODEC_VORBIS),
     "video VP8, VP9; audio OPUS, VORBIS"},
    {GK_FILE, "RAW", CT_CONTAINER_JPEG, "jpg", V(CT_VCODEC_JPEG), 0, K_RAW_HELP},
    {GK_FILE, "RAW", CT_CONTAINER_MP3, "mp3", 0, A(CT_ACODEC_MP3), K_RAW_HELP},
    {GK_HLS, "M3U8", CT_CONTAINER_HLS_TS, "m3u8", V(CT_VCODEC_H264), A(CT_ACODEC_AAC),
     "video H_264 (use container CMFC for H_265 and AV1); audio AAC"},
    {GK_HLS, "CMFC", CT_CONTAINER_HLS_FMP4, "m3u8", V_STD, A(CT_ACODEC_AAC), "video H_264, H_265, AV1; audio AAC"},
    {GK_DASH, "MPD", CT_CONTAINER_DASH, "mpd", V_STD | V(CT_VCODEC_VP9), A(CT_ACODEC_AAC),
     "video H_264, H_265, AV1, VP9; audio AAC"},
    {GK_CMAF, "CMFC", CT_CONTAINER_CMAF, "mp4", V_STD | V(CT_VCODEC_VP9), A(CT_ACODEC_AAC),
     "video H_264, H_265, AV1, VP9; audio AAC"},
};

static const char *k_container_help =
    "supported: MP4, MOV, WEBM and RAW (frame capture or MP3) in FILE_GROUP_SETTINGS; M3U8"
    " (TS segments) and CMFC (fMP4 segments) in HLS_GROUP_SETTINGS; MPD in DASH_ISO_GROUP_SETTINGS;"
    " CMFC in CMAF_GROUP_SETTINGS";

/* Index in k_containers of the container named in out (-1 with d set). */
static int container_check(const json_t *out, int gk, mc_diag *d)
{
    const json_t *cs = json_object_get(out, "containerSettings");
    if (cs && !json_is_object(cs))
        return mc_fail_at(d, "containerSettings", "expected an object");
    const char *c = cs ? mc_jstr(cs, "container") : NULL;
    if (!c)
        c = gk == GK_HLS ? "M3U8" : gk == GK_DASH ? "MPD" : gk == GK_CMAF ? "CMFC" : "MP4";
    for (size_t i = 0; i < CT_ARRAY_LEN(k_containers); i++)
        if (strcmp(c, k_containers[i].name) == 0 && (gk == GK_ANY || gk == k_containers[i].gk))
            return (int)i;
    return mc_fail_at(d, "containerSettings.container",
                      "unsupported value \"%.64s\" in this output group (%s)", c, k_container_help);
}

/* What the container can carry; RAW is frame capture or an MP3 file. */
static int streams_check(int ci, ct_plan_output *po, mc_diag *d)
{
    if (k_containers[ci].container == CT_CONTAINER_JPEG && po->video.codec == CT_VCODEC_NONE &&
        po->audio.codec == CT_ACODEC_MP3)
        ci++; /* RAW, MP3 */
    po->container = k_containers[ci].container;
    const char *cname = k_containers[ci].name;
    if (po->video.codec != CT_VCODEC_NONE && !(k_containers[ci].vcodecs & V(po->video.codec)))
        return mc_fail_at(d, "videoDescription.codecSettings.codec", "unsupported value \"%s\" in"
                          " container %s (supported: %s)", ct_vcodec_name(po->video.codec), cname,
                          k_containers[ci].help);
    if (po->audio.codec != CT_ACODEC_NONE && !(k_containers[ci].acodecs & A(po->audio.codec)))
        return mc_fail_at(d, "audioDescriptions[0].codecSettings.codec", "unsupported value \"%s\" in"
                          " container %s (supported: %s)", ct_acodec_name(po->audio.codec), cname,
                          k_containers[ci].help);
    if (po->container == CT_CONTAINER_JPEG && po->video.codec == CT_VCODEC_NONE)
        return mc_fail(d, "container RAW needs a FRAME_CAPTURE video codec, or MP3 audio and no video");
    if (po->container != CT_CONTAINER_JPEG && po->video.codec == CT_VCODEC_JPEG)
        return mc_fail_at(d, "containerSettings.container", "FRAME_CAPTURE needs container RAW");
    if ((po->container == CT_CONTAINER_DASH || po->container == CT_CONTAINER_CMAF) &&
        po->video.codec != CT_VCODEC_NONE && po->audio.codec != CT_ACODEC_NONE)
        return mc_fail(d, "an output of a DASH ISO or CMAF group carries either videoDescription or"
                       " audioDescriptions, not both: put audio in an output of its own");
    return 0;
}

static int naming_check(const json_t *out, const char *def_ext, out_naming *nm, mc_diag *d)
{
    const json_t *ext = json_object_get(out, "extension"), *mod = json_object_get(out, "nameModifier");
    if (ext && !json_is_string(ext))
        return mc_fail_at(d, "extension", "expected a string");
    if (mod && !json_is_string(mod))
        return mc_fail_at(d, "nameModifier", "expected a string");
    nm->ext = ext ? json_string_value(ext) : def_ext;
    if (nm->ext[0] == '.')
        nm->ext++;
    if (!nm->ext[0] || strlen(nm->ext) > 16 || strchr(nm->ext, '/'))
        return mc_fail_at(d, "extension", "must be 1-16 characters without '/'");
    nm->modifier = mod ? json_string_value(mod) : "";
    if (strlen(nm->modifier) > 256)
        return mc_fail_at(d, "nameModifier", "must be at most 256 characters");
    return 0;
}

/* VideoPreprocessors: only the Deinterlacer. Without one, an input flagged
 * interlaced is still deinterlaced (CT_DEINT_AUTO): outputs are progressive. */
static int deinterlacer_plan(const json_t *di, ct_plan_video *v, mc_diag *d)
{
    static const char *const algos[] = {"INTERPOLATE", "INTERPOLATE_TICKER", "BLEND", "BLEND_TICKER",
                                        "LINEAR_INTERPOLATION"};
    static const int algo_map[] = {CT_DEINT_INTERPOLATE, CT_DEINT_INTERPOLATE, CT_DEINT_BLEND,
                                   CT_DEINT_BLEND, CT_DEINT_LINEAR};
    if (!json_is_object(di))
        return mc_fail(d, "expected an object");
    if (mc_enum_only(di, "algorithm", "INTERPOLATE|INTERPOLATE_TICKER|BLEND|BLEND_TICKER|"
                     "LINEAR_INTERPOLATION", d) ||
        mc_enum_only(di, "mode", "DEINTERLACE|INVERSE_TELECINE|ADAPTIVE", d) ||
        mc_enum_only(di, "control", "FORCE_ALL_FRAMES|NORMAL", d))
        return -1;
    const char *algo = mc_jstr(di, "algorithm"), *mode = mc_jstr(di, "mode"), *ctl = mc_jstr(di, "control");
    v->deint_algo = CT_DEINT_INTERPOLATE;
    for (size_t i = 0; algo && i < CT_ARRAY_LEN(algos); i++)
        if (strcmp(algo, algos[i]) == 0)
            v->deint_algo = algo_map[i];
    v->deint_mode = !mode || strcmp(mode, "DEINTERLACE") == 0 ? CT_DEINT_DEINTERLACE
                  : strcmp(mode, "INVERSE_TELECINE") == 0 ? CT_DEINT_IVTC : CT_DEINT_ADAPTIVE;
    v->deint_force = ctl && strcmp(ctl, "FORCE_ALL_FRAMES") == 0;
    return 0;
}

static int preprocessors_plan(const json_t *vd, ct_plan_video *v, mc_diag *d)
{
    const json_t *pp = json_object_get(vd, "videoPreprocessors"), *val;
    const char *k;
    if (!pp)
        return 0;
    if (!json_is_object(pp))
        return mc_fail_at(d, "videoPreprocessors", "expected an object");
    size_t p = mc_path_key(d, "videoPreprocessors");
    int rc = 0;
    json_object_foreach((json_t *)pp, k, val) {
        if (strcmp(k, "deinterlacer") != 0) {
            rc = mc_fail_at(d, k, "not supported by CatTube (supported: deinterlacer)");
            break;
        }
        size_t q = mc_path_key(d, k);
        rc = deinterlacer_plan(val, v, d);
        mc_path_pop(d, q);
        if (rc)
            break;
    }
    mc_path_pop(d, p);
    return rc;
}

static int output_plan(const json_t *out, const json_t *selectors, int gk, ct_plan_output *po,
                       out_naming *nm, mc_diag *d)
{
    if (!json_is_object(out))
        return mc_fail(d, "expected an object");
    memset(po, 0, sizeof *po);
    int ci = container_check(out, gk, d);
    if (ci < 0 || naming_check(out, k_containers[ci].ext, nm, d))
        return -1;
    const json_t *vd = json_object_get(out, "videoDescription");
    const json_t *ads = json_object_get(out, "audioDescriptions");
    if (vd) {
        size_t p = mc_path_key(d, "videoDescription");
        int rc = mc_video_plan(vd, &po->video, d);
        if (!rc && po->video.codec != CT_VCODEC_NONE)
            rc = preprocessors_plan(vd, &po->video, d);
        mc_path_pop(d, p);
        if (rc)
            return -1;
    }
    if (ads) {
        size_t p = mc_path_key(d, "audioDescriptions");
        int rc = mc_audio_plan(ads, selectors, &po->audio, d);
        mc_path_pop(d, p);
        if (rc)
            return -1;
    }
    if (po->video.codec == CT_VCODEC_NONE && po->audio.codec == CT_ACODEC_NONE)
        return mc_fail(d, "output has neither videoDescription nor audioDescriptions");
    if (streams_check(ci, po, d))
        return -1;
    if (po->container == CT_CONTAINER_MP3 && !json_object_get(out, "extension"))
        nm->ext = "mp3";
    return 0;
}

int mc_output_check(const json_t *output, mc_diag *d)
{
    ct_plan_output po;
    out_naming nm;
    return output_plan(output, NULL, GK_ANY, &po, &nm, d);
}

/* ----------------------------------------------------------------- naming */

/* Input basename without directories and extension. */
static void input_base(const char *in_key, char *out, size_t n)
{
    const char *seg = strrchr(in_key, '/');
    seg = seg ? seg + 1 : in_key;
    const char *dot = strrchr(seg, '.');
    size_t l = dot && dot != seg ? (size_t)(dot - seg) : strlen(seg);
    if (l >= n)
        l = n - 1;
    memcpy(out, seg, l);
    out[l] = '\0';
}

static int dest_key(const char *prefix, const char *in_key, const out_naming *nm, char key[1025])
{
    char base[1025] = "";
    size_t pl = strlen(prefix);
    if (pl == 0 || prefix[pl - 1] == '/')
        input_base(in_key, base, sizeof base);
    int n = snprintf(key, 1025, "%s%s%s.%s", prefix, base, nm->modifier, nm->ext);
    return n < 0 || n > 1024 ? -1 : 0;
}

/* --------------------------------------------------------------- settings */

typedef struct {
    ct_plan *plan;
    ct_mc_dest dests[CT_PLAN_MAX_OUTPUTS];
    char in_bucket[64], in_key[1025];
    const json_t *selectors;
    const char *sources[CT_PLAN_MAX_AUDIO]; /* AudioSourceName of each audio slot (borrowed) */
    int n_sources;
} plan_state;

static int input_plan(const json_t *settings, plan_state *s, mc_diag *d)
{
    return mc_inputs_plan(settings, s->plan, s->in_bucket, s->in_key, &s->selectors, d);
}

/* One output group's kind and settings. */
typedef struct {
    int kind;                  /* GK_FILE, GK_HLS, GK_DASH or GK_CMAF */
    int segment_length;        /* HLS/DASH/CMAF: seconds */
    int fragment_length;       /* DASH/CMAF: seconds, 0 = one fragment per segment */
    int min_buffer_ms;         /* DASH/CMAF */
    int min_final_ms;          /* MinFinalSegmentLength */
    int manifests;             /* write the group's master playlist / MPD */
    int no_hls, no_dash;       /* CMAF: WriteHlsManifest / WriteDashManifest DISABLED */
    const char *base_url;      /* BaseUrl or NULL (borrowed) */
    char bucket[64], prefix[1025];
} group_info;

/* The group types: settings key, default group name, outputGroupDetails type. */
static const struct {
    const char *type, *key, *name, *detail;
    int kind;
} k_groups[] = {
    {"FILE_GROUP_SETTINGS", "fileGroupSettings", "File Group", "FILE_GROUP", GK_FILE},
    {"HLS_GROUP_SETTINGS", "hlsGroupSettings", "Apple HLS", "HLS_GROUP", GK_HLS},
    {"DASH_ISO_GROUP_SETTINGS", "dashIsoGroupSettings", "DASH ISO", "DASH_ISO_GROUP", GK_DASH},
    {"CMAF_GROUP_SETTINGS", "cmafGroupSettings", "CMAF", "CMAF_GROUP", GK_CMAF},
};

/* enum-valued key: absent or one of the allowed values ("A|B"). */
int mc_enum_only(const json_t *o, const char *k, const char *allowed, mc_diag *d)
{
    const char *v = mc_jstr(o, k);
    size_t n = v ? strlen(v) : 0;
    for (const char *a = allowed; v && *a;) {
        const char *bar = strchr(a, '|');
        size_t l = bar ? (size_t)(bar - a) : strlen(a);
        if (l == n && strncmp(a, v, n) == 0)
            return 0;
        a += l + (bar ? 1 : 0);
    }
    if (!v)
        return 0;
    return mc_fail_at(d, k, "unsupported value \"%.64s\" (supported: %s)", v, allowed);
}

/* Group settings that would change the output and that CatTube does not
 * do: allowed values ("A|B"; "" = must be absent or empty; "0" = a number
 * that must be 0). Members not listed are done or harmless. */
static const struct {
    int gk;
    const char *key, *allowed;
} k_group_limits[] = {
    {GK_HLS, "additionalManifests", ""}, {GK_HLS, "adMarkers", ""},
    {GK_HLS, "encryption", ""}, {GK_HLS, "imageBasedTrickPlay", "NONE"},
    {GK_HLS, "manifestCompression", "NONE"}, {GK_HLS, "manifestDurationFormat", "FLOATING_POINT"},
    {GK_HLS, "streamInfResolution", "INCLUDE"}, {GK_HLS, "directoryStructure", "SINGLE_DIRECTORY"},
    {GK_HLS, "programDateTime", "EXCLUDE"},
    {GK_DASH, "additionalManifests", ""}, {GK_DASH, "encryption", ""},
    {GK_DASH, "imageBasedTrickPlay", "NONE"}, {GK_DASH, "hbbtvCompliance", "NONE"},
    {GK_DASH, "audioChannelConfigSchemeIdUri", "MPEG_CHANNEL_CONFIGURATION"},
    {GK_DASH, "videoCompositionOffsets", "UNSIGNED"},
    {GK_CMAF, "additionalManifests", ""}, {GK_CMAF, "encryption", ""},
    {GK_CMAF, "imageBasedTrickPlay", "NONE"}, {GK_CMAF, "manifestCompression", "NONE"},
    {GK_CMAF, "manifestDurationFormat", "FLOATING_POINT"}, {GK_CMAF, "streamInfResolution", "INCLUDE"},
    {GK_CMAF, "videoCompositionOffsets", "UNSIGNED"},
};

static int group_limits(const json_t *gs, int gk, mc_diag *d)
{
    for (size_t i = 0; i < CT_ARRAY_LEN(k_group_limits); i++) {
        const json_t *v = json_object_get(gs, k_group_limits[i].key);
        const char *allowed = k_group_limits[i].allowed, *key = k_group_limits[i].key;
        if (k_group_limits[i].gk != gk || !v)
            continue;
        if (strcmp(allowed, "0") == 0 && json_is_number(v) && json_number_value(v) != 0)
            return mc_fail_at(d, key, "not supported by CatTube (supported: 0)");
        if (!allowed[0] && !(json_is_array(v) && json_array_size(v) == 0) &&
            !(json_is_string(v) && json_string_length(v) == 0) && !(json_is_object(v) && json_object_size(v) == 0))
            return mc_fail_at(d, key, "not supported by CatTube (leave it out)");
        if (allowed[0] && strcmp(allowed, "0") != 0 && mc_enum_only(gs, key, allowed, d))
            return -1;
    }
    return 0;
}

/* DASH ISO and CMAF: SegmentLength (default 30 s for DASH, 10 s for CMAF),
 * FragmentLength (shorter than the segment: several fragments per
 * segment), MinBufferTime (ms); segmented files and the main profile only. */
static int dash_settings(const json_t *gs, group_info *gi, mc_diag *d)
{
    json_int_t seg = gi->kind == GK_DASH ? 30 : 10, frag = 0, mbt = 0;
    if (mc_jint(gs, "segmentLength", &seg, d) < 0 || mc_jint(gs, "fragmentLength", &frag, d) < 0 ||
        mc_jint(gs, "minBufferTime", &mbt, d) < 0)
        return -1;
    if (seg < 1 || seg > 3600)
        return mc_fail_at(d, "segmentLength", "must be between 1 and 3600 seconds");
    if (frag < 0 || frag > 3600)
        return mc_fail_at(d, "fragmentLength", "must be between 1 and 3600 seconds");
    if (mbt < 0 || mbt > 3600000)
        return mc_fail_at(d, "minBufferTime", "must be between 0 and 3600000 milliseconds");
    if (mc_enum_only(gs, "segmentControl", "SEGMENTED_FILES", d) ||
        mc_enum_only(gs, "mpdProfile", "MAIN_PROFILE", d) ||
        mc_enum_only(gs, "writeSegmentTimelineInRepresentation", "ENABLED|DISABLED", d) ||
        mc_enum_only(gs, "mpdManifestBandwidthType", "MAX", d))
        return -1;
    if (gi->kind == GK_CMAF &&
        (mc_enum_only(gs, "writeHlsManifest", "ENABLED|DISABLED", d) ||
         mc_enum_only(gs, "writeDashManifest", "ENABLED|DISABLED", d)))
        return -1;
    const char *wh = mc_jstr(gs, "writeHlsManifest"), *wd = mc_jstr(gs, "writeDashManifest");
    gi->no_hls = gi->kind == GK_CMAF && wh && strcmp(wh, "DISABLED") == 0;
    gi->no_dash = gi->kind == GK_CMAF && wd && strcmp(wd, "DISABLED") == 0;
    gi->segment_length = (int)seg;
    gi->fragment_length = frag > 0 && frag < seg ? (int)frag : 0;
    gi->min_buffer_ms = (int)mbt;
    gi->manifests = 1;
    return 0;
}

static int hls_settings(const json_t *hgs, group_info *gi, mc_diag *d)
{
    json_int_t seg = 10, minseg = 0;
    const char *ctl = mc_jstr(hgs, "segmentControl"), *sel = mc_jstr(hgs, "outputSelection");
    if (mc_jint(hgs, "segmentLength", &seg, d) < 0 || mc_jint(hgs, "minSegmentLength", &minseg, d) < 0)
        return -1;
    if (seg < 1 || seg > 3600)
        return mc_fail_at(d, "segmentLength", "must be between 1 and 3600 seconds");
    if (minseg < 0 || minseg > seg)
        return mc_fail_at(d, "minSegmentLength", "must be between 0 and segmentLength");
    if (ctl && strcmp(ctl, "SEGMENTED_FILES") != 0)
        return mc_fail_at(d, "segmentControl", "unsupported value \"%.64s\" (supported: SEGMENTED_FILES)", ctl);
    gi->segment_length = (int)seg;
    gi->manifests = !(sel && strcmp(sel, "SEGMENTS_ONLY") == 0);
    return 0;
}

/* HLS, DASH ISO, CMAF BaseUrl: written into the manifests as it is. */
static int base_url(const json_t *gs, group_info *gi, mc_diag *d)
{
    const json_t *v = json_object_get(gs, "baseUrl");
    if (!v)
        return 0;
    if (!json_is_string(v))
        return mc_fail_at(d, "baseUrl", "expected a string");
    const char *u = json_string_value(v);
    if (strlen(u) >= CT_PLAN_PATH_MAX || !ct_plan_url_ok(u))
        return mc_fail_at(d, "baseUrl", "must be a URL or URL prefix of at most %d bytes without"
                          " spaces, control characters, quotes, '<', '>' or '\\' (got \"%.64s\")",
                          CT_PLAN_PATH_MAX - 1, u);
    gi->base_url = u[0] ? u : NULL;
    return 0;
}

/* MinFinalSegmentLength: seconds (fractions allowed), 0 to the segment length. */
static int min_final(const json_t *gs, group_info *gi, mc_diag *d)
{
    const json_t *v = json_object_get(gs, "minFinalSegmentLength");
    if (!v)
        return 0;
    if (!json_is_number(v) || json_number_value(v) < 0 || json_number_value(v) > gi->segment_length)
        return mc_fail_at(d, "minFinalSegmentLength", "must be a number of seconds from 0 to"
                          " segmentLength (%d)", gi->segment_length);
    gi->min_final_ms = (int)lround(json_number_value(v) * 1000);
    return 0;
}

static int group_kind(const char *type)
{
    for (size_t i = 0; type && i < CT_ARRAY_LEN(k_groups); i++)
        if (strcmp(type, k_groups[i].type) == 0)
            return (int)i;
    return -1;
}

static int group_dest(const json_t *g, group_info *gi, mc_diag *d)
{
    const json_t *ogs = json_object_get(g, "outputGroupSettings");
    if (!json_is_object(ogs))
        return mc_fail_at(d, "outputGroupSettings", ogs ? "expected an object" : "required");
    size_t p = mc_path_key(d, "outputGroupSettings");
    const char *type = mc_jstr(ogs, "type");
    int gt = group_kind(type), rc = -1;
    if (gt < 0) {
        mc_fail_at(d, "type", type ? "unsupported value \"%.64s\" (supported: FILE_GROUP_SETTINGS,"
                   " HLS_GROUP_SETTINGS, DASH_ISO_GROUP_SETTINGS, CMAF_GROUP_SETTINGS)" : "required", type);
        mc_path_pop(d, p);
        return -1;
    }
    const char *key = k_groups[gt].key;
    const json_t *gs = mc_jobj(ogs, key);
    const char *dst = gs ? mc_jstr(gs, "destination") : NULL;
    gi->kind = k_groups[gt].kind;
    size_t p2 = mc_path_key(d, key);
    if (!dst)
        mc_fail_at(d, "destination", "required");
    else if (mc_parse_s3(dst, gi->bucket, gi->prefix, 1025, 1))
        mc_fail_at(d, "destination", "must be an s3://bucket/prefix URL (got \"%.128s\")", dst);
    else if (gi->kind != GK_FILE && (group_limits(gs, gi->kind, d) || base_url(gs, gi, d)))
        rc = -1;
    else
        rc = gi->kind == GK_HLS ? hls_settings(gs, gi, d)
           : gi->kind == GK_FILE ? 0 : dash_settings(gs, gi, d);
    if (!rc && gi->kind != GK_FILE)
        rc = min_final(gs, gi, d);
    mc_path_pop(d, p2);
    mc_path_pop(d, p);
    return rc;
}

/* Multi-file output: key = destination up to its last '/', stem = base +
 * nameModifier, master = base + ".m3u8" on the group's first HLS output. */
static int multi_names(plan_state *s, int idx, const group_info *gi, int first, const out_naming *nm,
                       mc_diag *d)
{
    ct_mc_dest *dst = &s->dests[idx];
    ct_plan_output *po = &s->plan->outputs[idx];
    const char *slash = strrchr(gi->prefix, '/');
    size_t dl = slash ? (size_t)(slash - gi->prefix + 1) : 0;
    char base[1025];
    if (dl == strlen(gi->prefix))
        input_base(s->in_key, base, sizeof base);
    else
        snprintf(base, sizeof base, "%s", gi->prefix + dl);
    memcpy(dst->key, gi->prefix, dl);
    dst->key[dl] = '\0';
    dst->multi = 1;
    int n = snprintf(dst->stem, sizeof dst->stem, "%s%s", base, nm->modifier);
    if (n < 0 || n > 230 || !ct_plan_name_ok(dst->stem) || dl + (size_t)n + 16 > 1024)
        return mc_fail_at(d, "nameModifier", "file name \"%.64s\" is not usable (at most 230 bytes,"
                          " no control characters, quotes or backslashes, no leading '.')", dst->stem);
    if ((gi->kind == GK_DASH || gi->kind == GK_CMAF) && strchr(dst->stem, '$'))
        return mc_fail_at(d, "nameModifier", "format identifiers ($Number$, $Bandwidth$...) are not"
                          " supported in DASH ISO and CMAF names (got \"%.64s\")", dst->stem);
    if (gi->kind != GK_FILE && first && gi->manifests)
        snprintf(dst->master, sizeof dst->master, "%.240s.%s", base, gi->kind == GK_DASH ? "mpd" : "m3u8");
    snprintf(po->name, sizeof po->name, "%s", dst->stem);
    snprintf(po->master, sizeof po->master, "%s", dst->master);
    po->segment_length = gi->kind != GK_FILE ? gi->segment_length : 0;
    po->fragment_length = gi->fragment_length;
    po->min_buffer_ms = gi->min_buffer_ms;
    po->min_final_ms = gi->min_final_ms;
    if (gi->base_url)
        snprintf(po->base_url, sizeof po->base_url, "%s", gi->base_url);
    po->no_hls = dst->no_hls = gi->no_hls;
    po->no_dash = dst->no_dash = gi->no_dash;
    return 0;
}

static int dest_add(plan_state *s, int idx, int gidx, const json_t *g, const group_info *gi,
                    int first, const out_naming *nm, mc_diag *d)
{
    ct_mc_dest *dst = &s->dests[idx];
    memset(dst, 0, sizeof *dst);
    snprintf(dst->bucket, sizeof dst->bucket, "%s", gi->bucket);
    const char *name = mc_jstr(g, "name");
    size_t gt = 0;
    while (gt + 1 < CT_ARRAY_LEN(k_groups) && k_groups[gt].kind != gi->kind)
        gt++;
    snprintf(dst->group_name, sizeof dst->group_name, "%s", name ? name : k_groups[gt].name);
    snprintf(dst->group_type, sizeof dst->group_type, "%s", k_groups[gt].detail);
    dst->group_index = gidx;
    s->plan->outputs[idx].group = gidx;
    if (ct_plan_output_is_multi(&s->plan->outputs[idx])) {
        if (multi_names(s, idx, gi, first, nm, d))
            return -1;
        for (int i = 0; i < idx; i++)
            if (s->dests[i].multi && strcmp(s->dests[i].bucket, dst->bucket) == 0 &&
                strcmp(s->dests[i].key, dst->key) == 0 && strcmp(s->dests[i].stem, dst->stem) == 0)
                return mc_fail_at(d, "nameModifier", "two outputs would both write s3://%s/%.200s%.64s*;"
                                  " give each a distinct nameModifier", dst->bucket, dst->key, dst->stem);
        return 0;
    }
    if (dest_key(gi->prefix, s->in_key, nm, dst->key))
        return mc_fail(d, "output file name is longer than 1024 bytes");
    for (int i = 0; i < idx; i++)
        if (strcmp(s->dests[i].bucket, dst->bucket) == 0 && strcmp(s->dests[i].key, dst->key) == 0)
            return mc_fail_at(d, "nameModifier",
                              "two outputs would both write s3://%s/%.200s; give each a distinct"
                              " nameModifier", dst->bucket, dst->key);
    return 0;
}

/* LanguageCode / CustomLanguageCode, LanguageCodeControl (FOLLOW_INPUT,
 * the default: the input track's language tag wins when it has one) and
 * StreamName: the audio rendition's LANGUAGE and NAME. */
static int audio_labels(const json_t *ad, ct_plan_audio *a, mc_diag *d)
{
    const char *lang = mc_jstr(ad, "customLanguageCode"), *k = "customLanguageCode";
    const char *sn = mc_jstr(ad, "streamName");
    if (!lang) {
        lang = mc_jstr(ad, "languageCode");
        k = "languageCode";
    }
    size_t n = lang ? strlen(lang) : 0;
    if (n >= sizeof a->lang || strspn(lang ? lang : "", "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-") != n)
        return mc_fail_at(d, k, "expected a language code of letters and '-' (at most %zu)", sizeof a->lang - 1);
    for (size_t i = 0; i < n; i++)
        a->lang[i] = (char)(lang[i] >= 'A' && lang[i] <= 'Z' ? lang[i] - 'A' + 'a' : lang[i]);
    a->lang[n] = '\0';
    if (sn && (strlen(sn) >= sizeof a->stream_name || strpbrk(sn, "\"\\\r\n")))
        return mc_fail_at(d, "streamName", "at most %zu bytes, without quotes, backslashes or line breaks",
                          sizeof a->stream_name - 1);
    snprintf(a->stream_name, sizeof a->stream_name, "%s", sn ? sn : "");
    if (mc_enum_only(ad, "languageCodeControl", "FOLLOW_INPUT|USE_CONFIGURED", d))
        return -1;
    const char *ctl = mc_jstr(ad, "languageCodeControl");
    a->lang_follow = !ctl || strcmp(ctl, "FOLLOW_INPUT") == 0;
    return 0;
}

/* The output's AudioSourceName (default "Audio Selector 1") -> its slot. */
static int audio_source(const json_t *out, plan_state *s, ct_plan_output *po, mc_diag *d)
{
    const json_t *ad = json_array_get(json_object_get(out, "audioDescriptions"), 0);
    const char *name = mc_jstr(ad, "audioSourceName");
    if (po->audio.codec == CT_ACODEC_NONE)
        return 0;
    size_t p = mc_path_key(d, "audioDescriptions");
    mc_path_index(d, 0);
    int rc = audio_labels(ad, &po->audio, d);
    mc_path_pop(d, p);
    if (rc)
        return -1;
    if (!name)
        name = "Audio Selector 1";
    for (int i = 0; i < s->n_sources; i++)
        if (strcmp(s->sources[i], name) == 0) {
            po->audio.source = i;
            return 0;
        }
    if (s->n_sources >= CT_PLAN_MAX_AUDIO) {
        p = mc_path_key(d, "audioDescriptions");
        mc_path_index(d, 0);
        mc_fail_at(d, "audioSourceName", "at most %d different audio sources per job are supported",
                   CT_PLAN_MAX_AUDIO);
        mc_path_pop(d, p);
        return -1;
    }
    po->audio.source = s->n_sources;
    s->sources[s->n_sources++] = name;
    return 0;
}

static int group_outputs(const json_t *g, int gidx, plan_state *s, mc_diag *d)
{
    group_info gi;
    memset(&gi, 0, sizeof gi);
    if (group_dest(g, &gi, d))
        return -1;
    const json_t *outs = json_object_get(g, "outputs");
    if (!json_is_array(outs) || json_array_size(outs) == 0)
        return mc_fail_at(d, "outputs", outs ? "must have at least 1 item" : "required");
    size_t i;
    const json_t *o;
    json_array_foreach(outs, i, o) {
        int idx = s->plan->n_outputs;
        if (idx >= CT_PLAN_MAX_OUTPUTS)
            return mc_fail_at(d, "outputs", "at most %d outputs per job are supported",
                              CT_PLAN_MAX_OUTPUTS);
        out_naming nm;
        size_t p = mc_path_key(d, "outputs");
        mc_path_index(d, i);
        int rc = output_plan(o, s->selectors, gi.kind, &s->plan->outputs[idx], &nm, d);
        if (!rc)
            rc = audio_source(o, s, &s->plan->outputs[idx], d);
        if (!rc)
            rc = dest_add(s, idx, gidx, g, &gi, i == 0, &nm, d);
        mc_path_pop(d, p);
        if (rc)
            return -1;
        s->plan->n_outputs++;
    }
    return 0;
}

static int groups_plan(const json_t *settings, plan_state *s, mc_diag *d)
{
    const json_t *groups = json_object_get(settings, "outputGroups");
    if (!groups)
        return mc_fail_at(d, "outputGroups", "required");
    if (!json_is_array(groups) || json_array_size(groups) == 0)
        return mc_fail_at(d, "outputGroups", "must have at least 1 item");
    size_t i;
    const json_t *g;
    json_array_foreach(groups, i, g) {
        size_t p = mc_path_key(d, "outputGroups");
        mc_path_index(d, i);
        int rc = json_is_object(g) ? group_outputs(g, (int)i, s, d) : mc_fail(d, "expected an object");
        mc_path_pop(d, p);
        if (rc)
            return -1;
    }
    return 0;
}

int mc_settings_plan(const json_t *settings, ct_plan *plan, char in_bucket[64],
                     char in_key[1025], ct_mc_dest *dests, mc_diag *d)
{
    static __thread plan_state s; /* ~40 KiB: keep it off small thread stacks */
    ct_plan local;
    memset(&s, 0, sizeof s);
    /* cppcheck-suppress uninitvar ; cleared on the next line */
    s.plan = plan ? plan : &local;
    memset(s.plan, 0, sizeof *s.plan);
    int rc = -1;
    if (!json_is_object(settings)) {
        mc_fail(d, "expected an object");
        goto cleanup;
    }
    if (input_plan(settings, &s, d) || groups_plan(settings, &s, d))
        goto cleanup;
    mc_inputs_audio(settings, s.plan, s.sources, s.n_sources);
    if (in_bucket)
        memcpy(in_bucket, s.in_bucket, sizeof s.in_bucket);
    if (in_key)
        memcpy(in_key, s.in_key, sizeof s.in_key);
    if (dests)
        memcpy(dests, s.dests, sizeof(ct_mc_dest) * (size_t)s.plan->n_outputs);
    rc = 0;
cleanup:
    s.plan = NULL; /* it may point at local, which ends here */
    return rc;
}

/* ------------------------------------------------------------- public API */

ct_err ct_mc_job_plan(const char *spec_json, ct_plan *plan, char in_bucket[64],
                      char in_key[1025], ct_mc_dest dests[CT_PLAN_MAX_OUTPUTS], char *msg,
                      size_t msglen)
{
    mc_diag d;
    json_error_t je;
    mc_diag_init(&d, "settings", NULL);
    json_t *spec = json_loads(spec_json, JSON_REJECT_DUPLICATES, &je);
    if (!spec) {
        snprintf(msg, msglen, "job spec is not JSON: %s", je.text);
        return CT_ERR_INVALID;
    }
    int rc = mc_settings_plan(json_object_get(spec, "settings"), plan, in_bucket, in_key, dests, &d);
    json_decref(spec);
    if (rc) {
        snprintf(msg, msglen, "%s", d.msg);
        return CT_ERR_INVALID;
    }
    if (msglen)
        msg[0] = '\0';
    return CT_OK;
}

/* HLS groups: type, the master playlist, and each variant playlist. */
static void hls_details(json_t *group, json_t *od, const ct_mc_dest *dst)
{
    char url[1600];
    json_object_set_new(group, "type", json_string("HLS_GROUP"));
    if (dst->master[0]) {
        snprintf(url, sizeof url, "s3://%s/%s%s", dst->bucket, dst->key, dst->master);
        json_object_set_new(group, "playlistFilePaths", json_pack("[s]", url));
    }
    snprintf(url, sizeof url, "s3://%s/%s%s.m3u8", dst->bucket, dst->key, dst->stem);
    json_object_set_new(od, "outputFilePaths", json_pack("[s]", url));
}

/* DASH ISO: playlistFilePaths [BASE.mpd]; CMAF: [BASE.mpd, BASE.m3u8]
 * (MediaConvert returns no outputFilePaths for either). */
static void dash_details(json_t *group, const ct_mc_dest *dst)
{
    char url[1600];
    int cmaf = strcmp(dst->group_type, "CMAF_GROUP") == 0;
    json_object_set_new(group, "type", json_string(dst->group_type));
    if (!dst->master[0])
        return;
    size_t n = strlen(dst->master) - (cmaf ? 5 : 4);
    json_t *paths = json_array();
    snprintf(url, sizeof url, "s3://%s/%s%.*s.mpd", dst->bucket, dst->key, (int)n, dst->master);
    if (!dst->no_dash)
        json_array_append_new(paths, json_string(url));
    if (cmaf && !dst->no_hls) {
        snprintf(url, sizeof url, "s3://%s/%s%s", dst->bucket, dst->key, dst->master);
        json_array_append_new(paths, json_string(url));
    }
    json_object_set_new(group, "playlistFilePaths", paths);
}

char *ct_mc_output_details(const char *spec_json, const ct_mc_dest *dests, int n,
                           const double *durations_s, const int *widths, const int *heights)
{
    (void)spec_json;
    json_t *groups = json_array();
    for (int i = 0; i < n; i++) {
        int gi = dests[i].group_index < 0 ? 0 : dests[i].group_index;
        while ((int)json_array_size(groups) <= gi)
            json_array_append_new(groups, json_pack("{s:[]}", "outputDetails"));
        json_t *od = json_object();
        if (strcmp(dests[i].group_type, "HLS_GROUP") == 0)
            hls_details(json_array_get(groups, (size_t)gi), od, &dests[i]);
        else if (strcmp(dests[i].group_type, "DASH_ISO_GROUP") == 0 || strcmp(dests[i].group_type, "CMAF_GROUP") == 0)
            dash_details(json_array_get(groups, (size_t)gi), &dests[i]);
        double ms = durations_s ? durations_s[i] * 1000.0 : 0;
        json_object_set_new(od, "durationInMs",
                            json_integer(ms > 0 && ms < 9.2e15 ? (json_int_t)llround(ms) : 0));
        if (widths && heights && widths[i] > 0 && heights[i] > 0)
            json_object_set_new(od, "videoDetails", json_pack("{s:i, s:i}", "widthInPx", widths[i],
                                                              "heightInPx", heights[i]));
        json_array_append_new(json_object_get(json_array_get(groups, (size_t)gi), "outputDetails"), od);
    }
    char *s = json_dumps(groups, JSON_COMPACT);
    json_decref(groups);
    return s;
}
