/* mc_model.c: request bodies checked and normalised against botocore's
 * MediaConvert model (embedded by mc_model_data.c).
 *
 * DESIGN: the model answers "does AWS know this field, and is the value the
 * right type/enum/range?" for every one of its ~1000 settings, so misspellings
 * fail with "unknown field" while harmless real settings (timecodeConfig,
 * afdSignaling, ...) pass. Whether CatTube *implements* a setting is a second,
 * much smaller question answered by the policy table below (reject / warn) and
 * by mc_plan.c. PascalCase keys are normalised by lowercasing the first
 * letter, which is exactly how every locationName in the model is formed. */
#include "mc/mc_internal.h"

#include <ctype.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static json_t *g_model;
static pthread_once_t g_model_once = PTHREAD_ONCE_INIT;

static void model_load(void)
{
    json_error_t je;
    g_model = json_loads(mc_model_json, 0, &je);
    if (!g_model)
        ct_error("mc: embedded model does not parse: %s (line %d)", je.text, je.line);
}

static const json_t *model_shape(const char *name)
{
    pthread_once(&g_model_once, model_load);
    return g_model ? json_object_get(g_model, name) : NULL;
}

const json_t *mc_model_enum(const char *shape)
{
    const json_t *def = model_shape(shape);
    return def ? json_object_get(def, "e") : NULL;
}

/* ------------------------------------------------------------ diagnostics */

void mc_diag_init(mc_diag *d, const char *base_path, json_t *warnings)
{
    memset(d, 0, sizeof *d);
    snprintf(d->path, sizeof d->path, "%s", base_path ? base_path : "");
    d->plen = strlen(d->path);
    d->warnings = warnings;
}

static size_t path_append(mc_diag *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static size_t path_append(mc_diag *d, const char *fmt, ...)
{
    size_t old = d->plen;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(d->path + old, sizeof d->path - old, fmt, ap);
    va_end(ap);
    if (n > 0)
        d->plen = old + (size_t)n < sizeof d->path ? old + (size_t)n : sizeof d->path - 1;
    return old;
}

size_t mc_path_key(mc_diag *d, const char *key)
{
    return path_append(d, "%s%s", d->plen ? "." : "", key);
}

size_t mc_path_index(mc_diag *d, size_t i) { return path_append(d, "[%zu]", i); }

size_t mc_path_mapkey(mc_diag *d, const char *key)
{
    return path_append(d, "[\"%s\"]", key);
}

void mc_path_pop(mc_diag *d, size_t len)
{
    d->plen = len;
    d->path[len] = '\0';
}

static void diag_vset(mc_diag *d, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

static void diag_vset(mc_diag *d, const char *fmt, va_list ap)
{
    char text[768];
    vsnprintf(text, sizeof text, fmt, ap);
    if (d->plen)
        snprintf(d->msg, sizeof d->msg, "%s: %s", d->path, text);
    else
        snprintf(d->msg, sizeof d->msg, "%s", text);
}

int mc_fail(mc_diag *d, const char *fmt, ...)
{
    if (d->failed)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    diag_vset(d, fmt, ap);
    va_end(ap);
    d->failed = 1;
    return -1;
}

int mc_fail_at(mc_diag *d, const char *key, const char *fmt, ...)
{
    if (d->failed)
        return -1;
    size_t p = mc_path_key(d, key);
    va_list ap;
    va_start(ap, fmt);
    diag_vset(d, fmt, ap);
    va_end(ap);
    mc_path_pop(d, p);
    d->failed = 1;
    return -1;
}

void mc_warn(mc_diag *d, const char *fmt, ...)
{
    if (!d->warnings || json_array_size(d->warnings) >= 64)
        return;
    char saved[sizeof d->msg];
    memcpy(saved, d->msg, sizeof saved);
    va_list ap;
    va_start(ap, fmt);
    diag_vset(d, fmt, ap);
    va_end(ap);
    json_array_append_new(d->warnings, json_string(d->msg));
    memcpy(d->msg, saved, sizeof saved);
}

/* ------------------------------------------------------------ policy table */

enum { POL_REJECT = 1, POL_WARN };

/* Model fields CatTube does not implement. REJECT: ignoring them would give
 * visibly different output. WARN: accepted, ignored, reported in
 * messages.warning unless the value is the one CatTube does anyway (ok). */
static const struct {
    const char *shape, *member;
    int action;
    const char *ok;
} policy[] = {
    {"Input", "crop", POL_REJECT, NULL},
    {"Input", "position", POL_REJECT, NULL},
    {"Input", "imageInserter", POL_REJECT, NULL},
    {"Input", "videoGenerator", POL_REJECT, NULL},
    {"Input", "supplementalImps", POL_REJECT, NULL},
    {"Input", "decryptionSettings", POL_REJECT, NULL},
    {"InputTemplate", "crop", POL_REJECT, NULL},
    {"InputTemplate", "position", POL_REJECT, NULL},
    {"InputTemplate", "imageInserter", POL_REJECT, NULL},
    {"JobSettings", "motionImageInserter", POL_REJECT, NULL},
    {"JobSettings", "kantarWatermark", POL_REJECT, NULL},
    {"JobSettings", "nielsenNonLinearWatermark", POL_REJECT, NULL},
    {"JobTemplateSettings", "motionImageInserter", POL_REJECT, NULL},
    {"JobTemplateSettings", "kantarWatermark", POL_REJECT, NULL},
    {"JobTemplateSettings", "nielsenNonLinearWatermark", POL_REJECT, NULL},
    {"Output", "captionDescriptions", POL_REJECT, NULL},
    {"PresetSettings", "captionDescriptions", POL_REJECT, NULL},
    {"VideoDescription", "crop", POL_REJECT, NULL},
    {"VideoDescription", "position", POL_REJECT, NULL},
    {"AudioDescription", "remixSettings", POL_REJECT, NULL},
    {"AudioSelector", "externalAudioFileInput", POL_REJECT, NULL},
    {"AudioDescription", "audioNormalizationSettings", POL_WARN, NULL},
    {"H264Settings", "interlaceMode", POL_WARN, "PROGRESSIVE"},
    {"H264Settings", "telecine", POL_WARN, "NONE"},
    {"H264Settings", "slowPal", POL_WARN, "DISABLED"},
    {"H265Settings", "interlaceMode", POL_WARN, "PROGRESSIVE"},
    {"H265Settings", "telecine", POL_WARN, "NONE"},
    {"H265Settings", "slowPal", POL_WARN, "DISABLED"},
    {"CreateJobRequest", "hopDestinations", POL_WARN, NULL},
    {"CreateJobTemplateRequest", "hopDestinations", POL_WARN, NULL},
    /* queues' reservationPlanSettings are implemented (mc_api.c: reservedSlots is the limit) */
};

/* 0 = go on, -1 = rejected. */
static int policy_check(const char *shape, const char *member, const json_t *val, mc_diag *d)
{
    for (size_t i = 0; i < CT_ARRAY_LEN(policy); i++) {
        if (strcmp(policy[i].shape, shape) != 0 || strcmp(policy[i].member, member) != 0)
            continue;
        if (policy[i].action == POL_REJECT)
            return mc_fail(d, "unsupported field (CatTube does not implement it)");
        if (policy[i].ok && json_is_string(val) && strcmp(json_string_value(val), policy[i].ok) == 0)
            return 0;
        mc_warn(d, "not supported by CatTube; ignored");
        return 0;
    }
    return mc_strict_member(shape, member, val, d);
}

/* ------------------------------------------------------------------ checker */

static json_t *check(const char *shape, json_t *in, mc_diag *d);

static int range_get(const json_t *def, const char *tag, double *lo, double *hi, int *has_lo,
                     int *has_hi)
{
    const json_t *r = json_object_get(def, tag);
    const json_t *a = json_array_get(r, 0), *b = json_array_get(r, 1);
    *has_lo = json_is_number(a);
    *has_hi = json_is_number(b);
    *lo = *has_lo ? json_number_value(a) : 0;
    *hi = *has_hi ? json_number_value(b) : 0;
    return 0;
}

static int check_range(const json_t *def, const char *tag, double v, mc_diag *d)
{
    double lo, hi;
    int has_lo, has_hi;
    range_get(def, tag, &lo, &hi, &has_lo, &has_hi);
    if (has_lo && has_hi && (v < lo || v > hi))
        return mc_fail(d, "must be between %.15g and %.15g (got %.15g)", lo, hi, v);
    if (has_lo && v < lo)
        return mc_fail(d, "must be at least %.15g (got %.15g)", lo, v);
    if (has_hi && v > hi)
        return mc_fail(d, "must be at most %.15g (got %.15g)", hi, v);
    return 0;
}

static void enum_list(const json_t *values, char *out, size_t n)
{
    size_t i, used = 0;
    json_t *v;
    out[0] = '\0';
    json_array_foreach(values, i, v) {
        if (i == 16) {
            snprintf(out + used, n - used, ", ...");
            return;
        }
        int w = snprintf(out + used, n - used, "%s%s", i ? ", " : "", json_string_value(v));
        if (w < 0 || (size_t)w >= n - used)
            return;
        used += (size_t)w;
    }
}

static json_t *check_enum(const json_t *values, json_t *in, mc_diag *d)
{
    if (!json_is_string(in))
        return mc_fail(d, "expected a string"), NULL;
    const char *s = json_string_value(in);
    size_t i;
    json_t *v;
    json_array_foreach(values, i, v)
        if (strcmp(json_string_value(v), s) == 0)
            return json_incref(in);
    char list[512];
    enum_list(values, list, sizeof list);
    mc_fail(d, "invalid value \"%.64s\" (valid: %s)", s, list);
    return NULL;
}

static json_t *check_string(const json_t *def, json_t *in, mc_diag *d)
{
    if (!json_is_string(in))
        return mc_fail(d, "expected a string"), NULL;
    size_t len = json_string_length(in);
    const json_t *r = json_object_get(def, "t");
    const json_t *lo = json_array_get(r, 0), *hi = json_array_get(r, 1);
    if (json_is_integer(lo) && (json_int_t)len < json_integer_value(lo))
        return mc_fail(d, "must be at least %lld characters", (long long)json_integer_value(lo)), NULL;
    if (json_is_integer(hi) && (json_int_t)len > json_integer_value(hi))
        return mc_fail(d, "must be at most %lld characters", (long long)json_integer_value(hi)), NULL;
    return json_incref(in);
}

static json_t *check_list(const char *item, json_t *in, mc_diag *d)
{
    if (!json_is_array(in))
        return mc_fail(d, "expected an array"), NULL;
    json_t *out = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(in, i, v) {
        size_t p = mc_path_index(d, i);
        json_t *nv = check(item, v, d);
        mc_path_pop(d, p);
        if (!nv || json_array_append_new(out, nv)) {
            json_decref(out);
            return NULL;
        }
    }
    return out;
}

static json_t *check_map(const char *item, json_t *in, mc_diag *d)
{
    if (!json_is_object(in))
        return mc_fail(d, "expected an object"), NULL;
    json_t *out = json_object();
    const char *k;
    json_t *v;
    json_object_foreach(in, k, v) {
        size_t p = mc_path_mapkey(d, k);
        json_t *nv = check(item, v, d);
        mc_path_pop(d, p);
        if (!nv || json_object_set_new(out, k, nv)) {
            json_decref(out);
            return NULL;
        }
    }
    return out;
}

/* Wire name of a request key: first letter lowercased. */
static int wire_name(const char *key, char *out, size_t n)
{
    size_t l = strlen(key);
    if (l == 0 || l >= n)
        return -1;
    memcpy(out, key, l + 1);
    out[0] = (char)tolower((unsigned char)out[0]);
    return 0;
}

static int check_member(const char *shape, const json_t *members, json_t *out, const char *key,
                        json_t *val, mc_diag *d)
{
    char wire[128];
    if (wire_name(key, wire, sizeof wire))
        return mc_fail_at(d, key, "unknown field");
    size_t p = mc_path_key(d, wire);
    const json_t *mshape = json_object_get(members, wire);
    int rc = -1;
    if (!json_is_string(mshape)) {
        mc_fail(d, "unknown field");
        goto cleanup;
    }
    if (json_object_get(out, wire)) {
        mc_fail(d, "duplicate field");
        goto cleanup;
    }
    if (json_is_null(val) || policy_check(shape, wire, val, d) == 0) {
        json_t *nv = json_is_null(val) ? NULL : check(json_string_value(mshape), val, d);
        rc = json_is_null(val) ? 0 : nv ? json_object_set_new(out, wire, nv) : -1;
    }
cleanup:
    mc_path_pop(d, p);
    return rc;
}

static json_t *check_struct(const char *shape, const json_t *def, json_t *in, mc_diag *d)
{
    if (!json_is_object(in))
        return mc_fail(d, "expected an object"), NULL;
    const json_t *members = json_object_get(def, "s");
    json_t *out = json_object();
    const char *k;
    json_t *v;
    json_object_foreach(in, k, v) {
        if (check_member(shape, members, out, k, v, d)) {
            json_decref(out);
            return NULL;
        }
    }
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(def, "r"), i, r) {
        if (!json_object_get(out, json_string_value(r))) {
            mc_fail_at(d, json_string_value(r), "required");
            json_decref(out);
            return NULL;
        }
    }
    return out;
}

static json_t *check_number(const json_t *def, json_t *in, mc_diag *d)
{
    if (json_object_get(def, "i")) {
        if (!json_is_integer(in))
            return mc_fail(d, "expected an integer"), NULL;
        return check_range(def, "i", (double)json_integer_value(in), d) ? NULL : json_incref(in);
    }
    if (!json_is_number(in))
        return mc_fail(d, "expected a number"), NULL;
    return check_range(def, "d", json_number_value(in), d) ? NULL : json_incref(in);
}

static json_t *check(const char *shape, json_t *in, mc_diag *d)
{
    const json_t *def = model_shape(shape);
    const json_t *sub;
    if (!def)
        return mc_fail(d, "internal error: no model shape %s", shape), NULL;
    if (json_object_get(def, "s"))
        return check_struct(shape, def, in, d);
    if ((sub = json_object_get(def, "l")))
        return check_list(json_string_value(sub), in, d);
    if ((sub = json_object_get(def, "m")))
        return check_map(json_string_value(sub), in, d);
    if ((sub = json_object_get(def, "e")))
        return check_enum(sub, in, d);
    if (json_object_get(def, "t"))
        return check_string(def, in, d);
    if (json_object_get(def, "b"))
        return json_is_boolean(in) ? json_incref(in) : (mc_fail(d, "expected a boolean"), NULL);
    return check_number(def, in, d);
}

json_t *mc_model_check(const char *shape, json_t *in, mc_diag *d)
{
    if (!model_shape(shape)) {
        mc_fail(d, "internal error: model unavailable");
        return NULL;
    }
    return check(shape, in, d);
}
