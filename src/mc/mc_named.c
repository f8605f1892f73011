/* mc_named.c: job templates and presets (Create/Get/Update/Delete/List).
 *
 * DESIGN: both are named records stored as wire JSON through
 * ct_meta_named_*; one set of handlers is driven by a small descriptor per
 * kind. What differs is how a request's fields are checked and applied:
 * templates validate their settings with a stand-in input and resolve their
 * queue to an ARN; presets validate one output description. */
#include "mc/mc_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *kind;          /* meta kind */
    const char *arn_kind;      /* ARN resource type */
    const char *wrap;          /* response key */
    const char *list_key;
    const char *create_shape, *update_shape;
    const char *label;         /* for messages */
    ct_err (*apply)(ct_mc *mc, json_t *rec, const json_t *req, mc_diag *d);
} named_kind;

static void copy_fields(json_t *rec, const json_t *req, const char *const *keys, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_object_get(req, keys[i]);
        if (v)
            json_object_set(rec, keys[i], v);
    }
}

static ct_err template_apply(ct_mc *mc, json_t *rec, const json_t *req, mc_diag *d)
{
    static const char *const keys[] = {"description", "category", "priority",
                                       "statusUpdateInterval", "accelerationSettings"};
    const json_t *settings = json_object_get(req, "settings");
    const char *qref = json_string_value(json_object_get(req, "queue"));
    char *arn = NULL;
    if (settings) {
        size_t p = mc_path_key(d, "settings");
        ct_err err = mc_template_settings_check(mc, settings, d);
        mc_path_pop(d, p);
        if (err)
            return err;
        json_object_set(rec, "settings", (json_t *)settings);
    }
    if (qref || !json_object_get(rec, "queue")) {
        ct_err err = mc_resolve_queue(mc, qref ? qref : MC_DEFAULT_QUEUE, &arn, d);
        if (err)
            return err;
        json_object_set_new(rec, "queue", json_string(arn));
        free(arn);
    }
    copy_fields(rec, req, keys, CT_ARRAY_LEN(keys));
    if (!json_object_get(rec, "priority"))
        json_object_set_new(rec, "priority", json_integer(0));
    if (!json_object_get(rec, "statusUpdateInterval"))
        json_object_set_new(rec, "statusUpdateInterval", json_string("SECONDS_60"));
    return CT_OK;
}

static ct_err preset_apply(ct_mc *mc, json_t *rec, const json_t *req, mc_diag *d)
{
    (void)mc;
    static const char *const keys[] = {"description", "category"};
    const json_t *settings = json_object_get(req, "settings");
    if (settings) {
        size_t p = mc_path_key(d, "settings");
        int rc = mc_output_check(settings, d);
        mc_path_pop(d, p);
        if (rc)
            return CT_ERR_INVALID;
        json_object_set(rec, "settings", (json_t *)settings);
    }
    copy_fields(rec, req, keys, CT_ARRAY_LEN(keys));
    return CT_OK;
}

static const named_kind k_template = {"template", "jobTemplates", "jobTemplate", "jobTemplates",
                                      "CreateJobTemplateRequest", "UpdateJobTemplateRequest",
                                      "job template", template_apply};
static const named_kind k_preset = {"preset", "presets", "preset", "presets",
                                    "CreatePresetRequest", "UpdatePresetRequest", "preset",
                                    preset_apply};

/* Parses and model-checks the body; NULL with d->msg set. */
static json_t *named_body(const ct_http_req *req, const char *shape, mc_diag *d)
{
    json_t *body = mc_json_load(req->body, req->body_len, d);
    json_t *out = body ? mc_model_check(shape, body, d) : NULL;
    json_decref(body);
    return out;
}

static ct_err named_store(ct_mc *mc, const named_kind *k, const char *name, json_t *rec,
                          int create_only)
{
    char *text = json_dumps(rec, JSON_COMPACT);
    if (!text)
        return CT_ERR_NOMEM;
    ct_err err = ct_meta_named_put(mc->meta, k->kind, name, text, create_only);
    free(text);
    return err;
}

static json_t *named_new(ct_mc *mc, const named_kind *k, const char *name)
{
    char *arn = mc_arn(mc, k->arn_kind, name);
    json_int_t now = ct_now_ms() / 1000;
    json_t *rec = json_pack("{s:s?, s:s, s:s, s:I, s:I}", "arn", arn, "name", name, "type",
                            "CUSTOM", "createdAt", now, "lastUpdated", now);
    free(arn);
    return rec;
}

static void named_create(const named_kind *k, ct_mc *mc, const ct_http_req *req,
                         ct_http_resp *resp)
{
    mc_diag d;
    json_t *rec = NULL;
    ct_err err = CT_ERR_INVALID;
    mc_diag_init(&d, "", NULL);
    json_t *body = named_body(req, k->create_shape, &d);
    const char *name = json_string_value(json_object_get(body, "name"));
    if (!body)
        goto cleanup;
    if (!mc_name_ok(name)) {
        mc_fail_at(&d, "name", "must be 1-128 characters without '/', '\\' or '%%'");
        goto cleanup;
    }
    err = CT_ERR_NOMEM;
    if (!(rec = named_new(mc, k, name)) || (err = k->apply(mc, rec, body, &d)))
        goto cleanup;
    if ((err = named_store(mc, k, name, rec, 1)) == CT_ERR_EXISTS)
        snprintf(d.msg, sizeof d.msg, "%s \"%.128s\" already exists", k->label, name);
cleanup:
    if (err)
        mc_error(resp, err, d.msg);
    else
        mc_reply(resp, 201, json_pack("{s:O}", k->wrap, rec));
    json_decref(rec);
    json_decref(body);
}

static ct_err named_load(ct_mc *mc, const named_kind *k, const char *name, json_t **rec,
                         mc_diag *d)
{
    char *text = NULL;
    ct_err err = ct_meta_named_get(mc->meta, k->kind, name, &text);
    if (err == CT_ERR_NOT_FOUND)
        snprintf(d->msg, sizeof d->msg, "%s \"%.128s\" not found", k->label, name);
    if (err)
        return err;
    *rec = json_loads(text, 0, NULL);
    free(text);
    return *rec ? CT_OK : CT_ERR_INTERNAL;
}

static void named_update(const named_kind *k, ct_mc *mc, const ct_http_req *req,
                         const char *name, ct_http_resp *resp)
{
    mc_diag d;
    json_t *rec = NULL;
    ct_err err = CT_ERR_INVALID;
    mc_diag_init(&d, "", NULL);
    json_t *body = named_body(req, k->update_shape, &d);
    if (!body || (err = named_load(mc, k, name, &rec, &d)))
        goto cleanup;
    if ((err = k->apply(mc, rec, body, &d)))
        goto cleanup;
    json_object_set_new(rec, "lastUpdated", json_integer(ct_now_ms() / 1000));
    err = named_store(mc, k, name, rec, 0);
cleanup:
    if (err)
        mc_error(resp, err, d.msg);
    else
        mc_reply(resp, 200, json_pack("{s:O}", k->wrap, rec));
    json_decref(rec);
    json_decref(body);
}

static void named_get(const named_kind *k, ct_mc *mc, const char *name, ct_http_resp *resp)
{
    mc_diag d;
    json_t *rec = NULL;
    mc_diag_init(&d, "", NULL);
    ct_err err = named_load(mc, k, name, &rec, &d);
    if (err)
        mc_error(resp, err, d.msg);
    else
        mc_reply(resp, 200, json_pack("{s:o}", k->wrap, rec));
}

static void named_delete(const named_kind *k, ct_mc *mc, const char *name, ct_http_resp *resp)
{
    char msg[256];
    ct_err err = ct_meta_named_delete(mc->meta, k->kind, name);
    snprintf(msg, sizeof msg, "%s \"%.128s\" not found", k->label, name);
    if (err)
        mc_error(resp, err, err == CT_ERR_NOT_FOUND ? msg : NULL);
    else
        mc_reply(resp, 202, json_object());
}

typedef struct {
    json_t *items;
    const char *category;
} list_ctx;

static ct_err named_collect(void *ctx, const char *json)
{
    list_ctx *c = ctx;
    json_t *v = json_loads(json, 0, NULL);
    const char *cat = json_string_value(json_object_get(v, "category"));
    if (v && (!c->category || (cat && strcmp(cat, c->category) == 0)))
        json_array_append(c->items, v);
    json_decref(v);
    return CT_OK;
}

static void named_list(const named_kind *k, ct_mc *mc, const ct_http_req *req, ct_http_resp *resp)
{
    char *cat = ct_http_query(req, "category");
    list_ctx c = {json_array(), cat};
    ct_err err = ct_meta_named_list(mc->meta, k->kind, named_collect, &c);
    free(cat);
    if (err) {
        json_decref(c.items);
        mc_error(resp, err, NULL);
        return;
    }
    mc_list_reply(req, c.items, k->list_key, resp);
}

/* ------------------------------------------------------------- handlers */

void mc_h_template_create(ct_mc *mc, const ct_http_req *req, const char *id, ct_http_resp *resp)
{
    (void)id;
    named_create(&k_template, mc, req, resp);
}

void mc_h_template_update(ct_mc *mc, const ct_http_req *req, const char *id, ct_http_resp *resp)
{
    named_update(&k_template, mc, req, id, resp);
}

void mc_h_template_get(ct_mc *mc, const ct_http_req *req, const char *id, ct_http_resp *resp)
{
    (void)req;
    named_get(&k_template, mc, id, resp);
}

void mc_h_template_delete(ct_mc *mc, const ct_http_req *req, const char *id, ct_http_resp *resp)
{
    (void)req;
    named_delete(&k_template, mc, id, resp);
}

void mc_h_template_list(ct_mc *mc, const ct_http_req *req, const char *id, ct_http_resp *resp)
{
    (void)id;
    named_list(&k_template, mc, req, resp);
}

void mc_h_preset_create(ct_mc *mc, const ct_http_req *req, const char *id, ct_http_resp *resp)
{
    (void)id;
    named_create(&k_preset, mc, req, resp);
}

void mc_h_preset_update(ct_mc *mc, const ct_http_req *req, const char *id, ct_http_resp *resp)
{
    named_update(&k_preset, mc, req, id, resp);
}

void mc_h_preset_get(ct_mc *mc, const ct_http_req *req, const char *id, ct_http_resp *resp)
{
    (void)req;
    named_get(&k_preset, mc, id, resp);
}

void mc_h_preset_delete(ct_mc *mc, const ct_http_req *req, const char *id, ct_http_resp *resp)
{
    (void)req;
    named_delete(&k_preset, mc, id, resp);
}

void mc_h_preset_list(ct_mc *mc, const ct_http_req *req, const char *id, ct_http_resp *resp)
{
    (void)id;
    named_list(&k_preset, mc, req, resp);
}
