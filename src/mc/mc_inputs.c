/* mc_inputs.c: Settings.Inputs -> the plan's inputs: their S3 locations,
 * InputClippings (StartTimecode/EndTimecode), TimecodeSource,
 * AudioSelectors, VideoSelector Rotate and DeblockFilter/DenoiseFilter.
 *
 * DESIGN: inputs are concatenated in order (MediaConvert's "assembling
 * multiple inputs"); the output names use the first input's basename.
 * Timecodes stay HH:MM:SS:FF here: only the child knows the input's frame
 * rate and embedded start timecode, so it turns them into seconds
 * (transcode/tc_timeline.c). Likewise audio selectors stay "track N" /
 * "PID N" / "language L": only the child sees the streams
 * (transcode/tc_input.c). */
#include "mc/mc_internal.h"

#include <stdio.h>
#include <string.h>

/* "HH:MM:SS:FF" or "HH:MM:SS;FF" (drop-frame, read as non-drop). */
static int parse_timecode(const char *s, ct_timecode *t)
{
    char sep;
    int n = 0;
    if (!s || sscanf(s, "%2d:%2d:%2d%c%2d%n", &t->h, &t->m, &t->s, &sep, &t->f, &n) != 5 ||
        s[n] != '\0' || (sep != ':' && sep != ';') || t->h < 0 || t->h > 24 || t->m < 0 ||
        t->m > 59 || t->s < 0 || t->s > 59 || t->f < 0 || t->f > 99)
        return -1;
    return 0;
}

static int timecode_at(const json_t *o, const char *k, ct_timecode *t, mc_diag *d)
{
    const json_t *v = json_object_get(o, k);
    t->h = -1;
    if (!v)
        return 0;
    if (!json_is_string(v) || parse_timecode(json_string_value(v), t))
        return mc_fail_at(d, k, "must be a timecode HH:MM:SS:FF or HH:MM:SS;FF");
    return 1;
}

static int clip_plan(const json_t *c, ct_plan_clip *cl, mc_diag *d)
{
    if (!json_is_object(c))
        return mc_fail(d, "expected an object");
    int s = timecode_at(c, "startTimecode", &cl->start, d), e = timecode_at(c, "endTimecode", &cl->end, d);
    if (s < 0 || e < 0)
        return -1;
    if (!s && !e)
        return mc_fail(d, "needs startTimecode, endTimecode or both");
    if (s && e && cl->start.h * 3600 + cl->start.m * 60 + cl->start.s > cl->end.h * 3600 + cl->end.m * 60 + cl->end.s)
        return mc_fail_at(d, "endTimecode", "must not be before startTimecode");
    return 0;
}

static int timecode_source(const json_t *in, ct_plan_input *pi, mc_diag *d)
{
    const char *src = mc_jstr(in, "timecodeSource");
    pi->tc_start.h = -1;
    if (!src || strcmp(src, "EMBEDDED") == 0)
        pi->tc_source = CT_TC_EMBEDDED;
    else if (strcmp(src, "ZEROBASED") == 0)
        pi->tc_source = CT_TC_ZEROBASED;
    else if (strcmp(src, "SPECIFIEDSTART") == 0)
        pi->tc_source = CT_TC_SPECIFIED;
    else
        return mc_fail_at(d, "timecodeSource", "unsupported value \"%.64s\" (supported: EMBEDDED,"
                          " ZEROBASED, SPECIFIEDSTART)", src);
    int has = timecode_at(in, "timecodeStart", &pi->tc_start, d);
    if (has < 0)
        return -1;
    if (pi->tc_source == CT_TC_SPECIFIED && !has)
        return mc_fail_at(d, "timecodeStart", "required when timecodeSource is SPECIFIEDSTART");
    return 0;
}

/* A one-item list of integers >= 1 (several tracks mixed into one
 * selector is not supported). 1 = *out set, 0 = absent, -1 = d set. */
static int one_number(const json_t *sel, const char *k, int *out, mc_diag *d)
{
    const json_t *v = json_object_get(sel, k);
    if (!v || (json_is_array(v) && json_array_size(v) == 0))
        return 0;
    if (!json_is_array(v))
        return mc_fail_at(d, k, "expected an array of integers");
    if (json_array_size(v) > 1)
        return mc_fail_at(d, k, "at most one per audio selector is supported (got %zu); use one"
                          " selector each", json_array_size(v));
    const json_t *n = json_array_get(v, 0);
    if (!json_is_integer(n) || json_integer_value(n) < 1 || json_integer_value(n) > 1000000)
        return mc_fail_at(d, k, "expected an integer from 1");
    *out = (int)json_integer_value(n);
    return 1;
}

static int language_of(const json_t *sel, ct_plan_asel *a, mc_diag *d)
{
    const char *k = mc_jstr(sel, "customLanguageCode") ? "customLanguageCode" : "languageCode";
    const char *l = mc_jstr(sel, k);
    if (!l)
        return 0;
    if (strlen(l) != 3)
        return mc_fail_at(d, k, "expected a 3-letter ISO 639-2 code (got \"%.64s\")", l);
    for (int i = 0; i < 3; i++) {
        char c = l[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c < 'a' || c > 'z')
            return mc_fail_at(d, k, "expected a 3-letter ISO 639-2 code (got \"%.64s\")", l);
        a->lang[i] = c;
    }
    a->lang[3] = '\0';
    return 1;
}

/* One AudioSelector: SelectorType TRACK (Tracks), PID (Pids), LANGUAGE_CODE
 * (LanguageCode / CustomLanguageCode); without a type, whichever of those
 * is given; with none, the input's default audio track. */
static int selector_plan(const json_t *sel, ct_plan_asel *a, mc_diag *d)
{
    const char *type = mc_jstr(sel, "selectorType");
    json_int_t off = 0;
    int track = 0, pid = 0;
    memset(a, 0, sizeof *a);
    if (!json_is_object(sel))
        return mc_fail(d, "expected an object");
    if (mc_enum_only(sel, "selectorType", "TRACK|PID|LANGUAGE_CODE", d) ||
        mc_enum_only(sel, "defaultSelection", "DEFAULT|NOT_DEFAULT", d))
        return -1;
    int ht = one_number(sel, "tracks", &track, d), hp = one_number(sel, "pids", &pid, d);
    int hl = ht < 0 || hp < 0 ? -1 : language_of(sel, a, d);
    if (ht < 0 || hp < 0 || hl < 0 || mc_jint(sel, "offset", &off, d) < 0)
        return -1;
    if (off != 0)
        return mc_fail_at(d, "offset", "not supported by CatTube (supported: 0)");
    if (json_object_get(sel, "remixSettings"))
        return mc_fail_at(d, "remixSettings", "not supported by CatTube (leave it out; outputs are"
                          " remixed to their CodingMode / Channels)");
    if (!type)
        type = ht ? "TRACK" : hp ? "PID" : hl ? "LANGUAGE_CODE" : "";
    if (strcmp(type, "TRACK") == 0 && !ht)
        return mc_fail_at(d, "tracks", "required when selectorType is TRACK");
    if (strcmp(type, "PID") == 0 && !hp)
        return mc_fail_at(d, "pids", "required when selectorType is PID");
    if (strcmp(type, "LANGUAGE_CODE") == 0 && !hl)
        return mc_fail_at(d, "languageCode", "required when selectorType is LANGUAGE_CODE");
    a->kind = !type[0] ? CT_ASEL_DEFAULT : type[0] == 'T' ? CT_ASEL_TRACK : type[0] == 'P' ? CT_ASEL_PID
            : CT_ASEL_LANG;
    a->value = a->kind == CT_ASEL_TRACK ? track : a->kind == CT_ASEL_PID ? pid : 0;
    if (a->kind != CT_ASEL_LANG)
        a->lang[0] = '\0';
    return 0;
}

static int selectors_check(const json_t *sels, mc_diag *d)
{
    const char *name;
    const json_t *sel;
    ct_plan_asel a;
    if (!sels)
        return 0;
    if (!json_is_object(sels))
        return mc_fail_at(d, "audioSelectors", "expected an object");
    size_t p = mc_path_key(d, "audioSelectors"), q = d->plen;
    int rc = 0;
    json_object_foreach((json_t *)sels, name, sel) {
        mc_path_mapkey(d, name);
        rc = selector_plan(sel, &a, d);
        mc_path_pop(d, q);
        if (rc)
            break;
    }
    mc_path_pop(d, p);
    return rc;
}

/* VideoSelector Rotate and the input filters DeblockFilter (libavfilter
 * deblock) and DenoiseFilter (hqdn3d), applied before scaling
 * (transcode/tc_filter.c), FilterEnable (DISABLE turns them off; AUTO
 * applies them like FORCE) and FilterStrength (-5..5). Without Rotate the
 * input's display matrix is followed (AUTO), so phone videos come out
 * upright. */
static int video_prep(const json_t *in, ct_plan_input *pi, mc_diag *d)
{
    static const char *const rot[] = {"AUTO", "DEGREE_0", "DEGREES_90", "DEGREES_180", "DEGREES_270"};
    const json_t *vs = json_object_get(in, "videoSelector");
    const char *r = mc_jstr(vs, "rotate");
    const char *fe = mc_jstr(in, "filterEnable");
    json_int_t strength = 0;
    if (mc_enum_only(in, "deblockFilter", "ENABLED|DISABLED", d) ||
        mc_enum_only(in, "denoiseFilter", "ENABLED|DISABLED", d) ||
        mc_enum_only(in, "filterEnable", "AUTO|DISABLE|FORCE", d) || mc_jint(in, "filterStrength", &strength, d) < 0)
        return -1;
    if (strength < -5 || strength > 5)
        return mc_fail_at(d, "filterStrength", "must be between -5 and 5");
    int on = !fe || strcmp(fe, "DISABLE") != 0;
    pi->deblock = on && mc_jstr(in, "deblockFilter") && strcmp(mc_jstr(in, "deblockFilter"), "ENABLED") == 0;
    pi->denoise = on && mc_jstr(in, "denoiseFilter") && strcmp(mc_jstr(in, "denoiseFilter"), "ENABLED") == 0;
    pi->filter_strength = (int)strength;
    pi->rotate = CT_ROTATE_AUTO;
    for (size_t i = 0; r && i < CT_ARRAY_LEN(rot); i++) {
        if (strcmp(r, rot[i]) == 0) {
            pi->rotate = (int)i;
            return 0;
        }
    }
    if (!r)
        return 0;
    return mc_fail_at(d, "videoSelector.rotate", "unsupported value \"%.64s\" (supported: AUTO, DEGREE_0,"
                      " DEGREES_90, DEGREES_180, DEGREES_270)", r);
}

static int one_input(const json_t *in, ct_plan_input *pi, char bucket[64], char *key, size_t keylen,
                     mc_diag *d)
{
    if (!json_is_object(in))
        return mc_fail(d, "expected an object");
    const char *fi = mc_jstr(in, "fileInput");
    if (!fi)
        return mc_fail_at(d, "fileInput", "required");
    if (mc_parse_s3(fi, bucket, key, keylen, 0))
        return mc_fail_at(d, "fileInput", "must be an s3://bucket/key URL (got \"%.128s\")", fi);
    if (selectors_check(json_object_get(in, "audioSelectors"), d) || timecode_source(in, pi, d) ||
        video_prep(in, pi, d))
        return -1;
    const json_t *clips = json_object_get(in, "inputClippings");
    if (!clips)
        return 0;
    if (!json_is_array(clips) || json_array_size(clips) > CT_PLAN_MAX_CLIPS)
        return mc_fail_at(d, "inputClippings", "expected an array of at most %d clippings", CT_PLAN_MAX_CLIPS);
    size_t i;
    const json_t *c;
    json_array_foreach(clips, i, c) {
        size_t p = mc_path_key(d, "inputClippings");
        mc_path_index(d, i);
        int rc = clip_plan(c, &pi->clips[i], d);
        mc_path_pop(d, p);
        if (rc)
            return -1;
    }
    pi->n_clips = (int)json_array_size(clips);
    return 0;
}

int mc_inputs_plan(const json_t *settings, ct_plan *plan, char in_bucket[64], char in_key[1025],
                   const json_t **selectors, mc_diag *d)
{
    const json_t *inputs = json_object_get(settings, "inputs");
    char bucket[64], key[1025];
    if (!inputs)
        return mc_fail_at(d, "inputs", "required");
    if (!json_is_array(inputs) || json_array_size(inputs) < 1 || json_array_size(inputs) > CT_PLAN_MAX_INPUTS)
        return mc_fail_at(d, "inputs", "expected 1 to %d inputs (got %zu)", CT_PLAN_MAX_INPUTS,
                          json_array_size(inputs));
    size_t i;
    const json_t *in;
    json_array_foreach(inputs, i, in) {
        size_t p = mc_path_key(d, "inputs");
        mc_path_index(d, i);
        int rc = one_input(in, &plan->inputs[i], i ? bucket : in_bucket, i ? key : in_key, 1025, d);
        mc_path_pop(d, p);
        if (rc)
            return -1;
    }
    plan->n_inputs = (int)json_array_size(inputs);
    *selectors = json_object_get(json_array_get(inputs, 0), "audioSelectors");
    return 0;
}

/* The selection for one slot in one input: its selector of that name, else
 * its DefaultSelection DEFAULT selector, else the default track. */
static void slot_plan(const json_t *sels, const char *name, ct_plan_asel *a)
{
    const json_t *sel = json_object_get(sels, name);
    const char *k;
    const json_t *v;
    mc_diag scratch;
    memset(a, 0, sizeof *a);
    if (!sel) {
        json_object_foreach((json_t *)sels, k, v) {
            const char *ds = mc_jstr(v, "defaultSelection");
            if (ds && strcmp(ds, "DEFAULT") == 0) {
                sel = v;
                break;
            }
        }
    }
    mc_diag_init(&scratch, "", NULL);
    if (sel && selector_plan(sel, a, &scratch)) /* checked before: cannot fail */
        memset(a, 0, sizeof *a);
}

void mc_inputs_audio(const json_t *settings, ct_plan *plan, const char *const *names, int n)
{
    const json_t *inputs = json_object_get(settings, "inputs");
    for (int k = 0; k < plan->n_inputs; k++)
        for (int s = 0; s < n; s++)
            slot_plan(json_object_get(json_array_get(inputs, (size_t)k), "audioSelectors"), names[s],
                      &plan->inputs[k].audio[s]);
    plan->n_audio = n;
}

ct_err ct_mc_job_input(const char *spec_json, int i, char bucket[64], char key[1025])
{
    json_t *spec = json_loads(spec_json, 0, NULL);
    const json_t *in = json_array_get(json_object_get(json_object_get(spec, "settings"), "inputs"),
                                      i < 0 ? (size_t)-1 : (size_t)i);
    const char *fi = mc_jstr(in, "fileInput");
    ct_err err = !in ? CT_ERR_NOT_FOUND : !fi || mc_parse_s3(fi, bucket, key, 1025, 0) ? CT_ERR_INVALID : CT_OK;
    json_decref(spec);
    return err;
}
