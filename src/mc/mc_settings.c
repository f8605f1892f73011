/* mc_settings.c: helpers over normalised settings: template merge, preset
 * resolution, name/ARN references, body parsing.
 *
 * DESIGN: a job created from a template is the template's settings with the
 * job's settings merged on top (objects by key, arrays index by index), so a
 * job that only names inputs[0].fileInput inherits every output of the
 * template, and one that sets outputGroups[0].outputs[1].videoDescription.width
 * changes only that. Presets are resolved when the job is created, so the
 * stored job is self-contained and later preset edits do not change it. */
#include "mc/mc_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

json_t *mc_merge(const json_t *base, const json_t *over)
{
    if (!base)
        return json_deep_copy(over);
    if (!over)
        return json_deep_copy(base);
    if (json_is_object(base) && json_is_object(over)) {
        json_t *out = json_deep_copy(base);
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)over, k, v)
            json_object_set_new(out, k, mc_merge(json_object_get(base, k), v));
        return out;
    }
    if (json_is_array(base) && json_is_array(over)) {
        json_t *out = json_array();
        size_t n = json_array_size(base) > json_array_size(over) ? json_array_size(base)
                                                                  : json_array_size(over);
        for (size_t i = 0; i < n; i++)
            json_array_append_new(out, mc_merge(json_array_get(base, i), json_array_get(over, i)));
        return out;
    }
    return json_deep_copy(over);
}

const char *mc_ref_name(const char *ref)
{
    if (strncmp(ref, "arn:", 4) != 0)
        return ref;
    const char *slash = strrchr(ref, '/');
    return slash ? slash + 1 : ref;
}

int mc_name_ok(const char *name)
{
    size_t l = name ? strlen(name) : 0;
    if (l == 0 || l > 128)
        return 0;
    for (size_t i = 0; i < l; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c < 0x20 || c == 0x7f || c == '/' || c == '\\' || c == '%')
            return 0;
    }
    return 1;
}

char *mc_arn(const ct_mc *mc, const char *kind, const char *name)
{
    ct_buf b = CT_BUF_INIT;
    if (ct_buf_printf(&b, "arn:aws:mediaconvert:%s:%s:%s/%s", mc->region, mc->account, kind, name)) {
        ct_buf_free(&b);
        return NULL;
    }
    return ct_buf_take(&b);
}

json_t *mc_json_load(const char *body, size_t len, mc_diag *d)
{
    json_error_t je;
    if (!body || len == 0) {
        mc_fail(d, "request body is empty; expected a JSON object");
        return NULL;
    }
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        mc_fail(d, "request body is not valid JSON: %s (line %d, column %d)", je.text, je.line,
                je.column);
        return NULL;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        mc_fail(d, "request body must be a JSON object");
        return NULL;
    }
    return root;
}

/* Resolves a queue reference (name or ARN) that must exist; *arn is heap. */
ct_err mc_resolve_queue(ct_mc *mc, const char *ref, char **arn, mc_diag *d)
{
    const char *name = mc_ref_name(ref);
    ct_meta_queue q;
    ct_err err = mc_name_ok(name) ? ct_meta_queue_get(mc->meta, name, &q) : CT_ERR_NOT_FOUND;
    if (err) {
        mc_fail_at(d, "queue", err == CT_ERR_NOT_FOUND ? "queue \"%.128s\" not found"
                                                       : "cannot read queue \"%.128s\"", ref);
        return err;
    }
    ct_meta_queue_free(&q);
    *arn = mc_arn(mc, "queues", name);
    return *arn ? CT_OK : CT_ERR_NOMEM;
}

/* ------------------------------------------------------------------ presets */

static ct_err preset_settings(ct_mc *mc, const char *ref, json_t **out, mc_diag *d)
{
    char *json = NULL;
    const char *name = mc_ref_name(ref);
    ct_err err = mc_name_ok(name) ? ct_meta_named_get(mc->meta, "preset", name, &json)
                                  : CT_ERR_NOT_FOUND;
    if (err == CT_ERR_NOT_FOUND) {
        mc_fail(d, "preset \"%.128s\" not found", ref);
        return err;
    }
    if (err) {
        mc_fail(d, "cannot read preset \"%.128s\": %s", ref, ct_err_str(err));
        return err;
    }
    json_t *p = json_loads(json, 0, NULL);
    free(json);
    json_t *s = p ? json_object_get(p, "settings") : NULL;
    *out = s ? json_incref(s) : json_object();
    json_decref(p);
    return CT_OK;
}

static ct_err resolve_output(ct_mc *mc, json_t *outs, size_t i, mc_diag *d)
{
    json_t *o = json_array_get(outs, i);
    json_t *ref = json_object_get(o, "preset");
    if (!json_is_string(ref) || json_string_length(ref) == 0)
        return CT_OK;
    json_t *ps = NULL;
    size_t p = mc_path_key(d, "preset");
    ct_err err = preset_settings(mc, json_string_value(ref), &ps, d);
    mc_path_pop(d, p);
    if (err)
        return err;
    json_t *merged = mc_merge(ps, o);
    json_decref(ps);
    json_array_set_new(outs, i, merged);
    return CT_OK;
}

ct_err mc_resolve_presets(ct_mc *mc, json_t *settings, mc_diag *d)
{
    json_t *groups = json_object_get(settings, "outputGroups");
    size_t gi, oi;
    json_t *g;
    json_array_foreach(groups, gi, g) {
        json_t *outs = json_object_get(g, "outputs");
        for (oi = 0; oi < json_array_size(outs); oi++) {
            size_t p = mc_path_key(d, "outputGroups");
            mc_path_index(d, gi);
            mc_path_key(d, "outputs");
            mc_path_index(d, oi);
            ct_err err = resolve_output(mc, outs, oi, d);
            mc_path_pop(d, p);
            if (err)
                return err;
        }
    }
    return CT_OK;
}

/* Templates have no fileInput: check them with a stand-in input. */
ct_err mc_template_settings_check(ct_mc *mc, const json_t *settings, mc_diag *d)
{
    json_t *s = json_deep_copy(settings);
    json_t *inputs = json_object_get(s, "inputs");
    ct_err err = CT_ERR_INVALID;
    if (!json_is_array(inputs) || json_array_size(inputs) == 0) {
        inputs = json_array();
        json_array_append_new(inputs, json_object());
        json_object_set_new(s, "inputs", inputs);
    }
    size_t i;
    json_t *in;
    json_array_foreach(inputs, i, in)
        if (json_is_object(in))
            json_object_set_new(in, "fileInput", json_string("s3://template-check/input.mp4"));
    if ((err = mc_resolve_presets(mc, s, d)))
        goto cleanup;
    err = mc_settings_plan(s, NULL, NULL, NULL, NULL, d) ? CT_ERR_INVALID : CT_OK;
cleanup:
    json_decref(s);
    return err;
}
