/* mc_jobs.c: CreateJob (API and the built-in template "Lambda"), the job
 * record on the wire, GetJob, ListJobs, SearchJobs, CancelJob.
 *
 * DESIGN: a job is stored as its static wire part (spec_json: arn, id, role,
 * settings with templates and presets already resolved, queue ARN, ...) plus
 * meta's columns for everything that changes (status, phase, timing, errors,
 * outputGroupDetails). mc_job_render joins the two into the Job shape. */
#include "iam/iam.h"
#include "mc/mc_internal.h"
#include "meta/meta_search.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *jstr(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* First non-NULL of a[k], b[k] (copied), or fallback (stolen). */
static json_t *pick(const json_t *a, const json_t *b, const char *k, json_t *fallback)
{
    json_t *v = json_object_get(a, k);
    if (!v)
        v = json_object_get(b, k);
    if (v) {
        json_decref(fallback);
        return json_deep_copy(v);
    }
    return fallback;
}

static ct_err load_template(ct_mc *mc, const char *ref, json_t **out, mc_diag *d)
{
    char *json = NULL;
    const char *name = mc_ref_name(ref);
    ct_err err = mc_name_ok(name) ? ct_meta_named_get(mc->meta, "template", name, &json)
                                  : CT_ERR_NOT_FOUND;
    if (err) {
        mc_fail_at(d, "jobTemplate", err == CT_ERR_NOT_FOUND ? "job template \"%.128s\" not found"
                                                             : "cannot read job template \"%.128s\"",
                   ref);
        return err;
    }
    *out = json_loads(json, 0, NULL);
    free(json);
    return *out ? CT_OK : CT_ERR_INTERNAL;
}

/* Settings of the job: template's merged with the job's, presets resolved,
 * checked against the supported subset. */
static ct_err job_settings(ct_mc *mc, const json_t *req, const json_t *tmpl, json_t **out,
                           mc_diag *d)
{
    json_t *s = mc_merge(json_object_get(tmpl, "settings"), json_object_get(req, "settings"));
    if (!s) {
        mc_fail_at(d, "settings", "required");
        return CT_ERR_INVALID;
    }
    size_t p = mc_path_key(d, "settings");
    ct_err err = mc_resolve_presets(mc, s, d);
    if (!err && mc_settings_plan(s, NULL, NULL, NULL, NULL, d))
        err = CT_ERR_INVALID;
    mc_path_pop(d, p);
    if (err) {
        json_decref(s);
        return err;
    }
    *out = s;
    return CT_OK;
}

static char *default_role(const ct_mc *mc)
{
    ct_buf b = CT_BUF_INIT;
    ct_buf_printf(&b, "arn:aws:iam::%s:role/MediaConvert_Default_Role", mc->account);
    return ct_buf_take(&b);
}

/* The built-in role: what every job could do before roles were enforced. */
#define DEFAULT_ROLE_POLICY                                                                      \
    "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Sid\":\"FullStoreAccess\","             \
    "\"Effect\":\"Allow\",\"Action\":\"s3:*\",\"Resource\":\"*\"}]}"

ct_err mc_ensure_default_role(ct_mc *mc)
{
    char id[22] = "AROA";
    ct_random_alnum(id + 4, 17, 1);
    return ct_meta_iam_role_seed(mc->meta, CT_IAM_DEFAULT_ROLE, id, "FullStoreAccess",
                                 DEFAULT_ROLE_POLICY);
}

const char *ct_mc_account_id(const ct_mc *mc) { return mc->account; }

int ct_mc_job_role(const char *spec_json, char name[72])
{
    json_t *spec = json_loads(spec_json, 0, NULL);
    const char *role = jstr(spec, "role");
    int ok = role && ct_iam_role_ref(role, name);
    json_decref(spec);
    return ok;
}

/* The job's role must be a role of this account (iam_roles.c): a job that
 * could not read its input anyway is refused here, naming the role. */
static ct_err check_role(ct_mc *mc, const char *role, mc_diag *d)
{
    char name[72];
    ct_meta_iam_role r;
    if (!role)
        return CT_OK; /* the model check requires it; the Lambda passes the default */
    if (!ct_iam_role_ref(role, name)) {
        mc_fail_at(d, "role", "\"%.300s\" is not an IAM role ARN "
                   "(arn:aws:iam::%s:role/NAME)", role, mc->account);
        return CT_ERR_INVALID;
    }
    ct_err err = ct_meta_iam_role_get(mc->meta, name, &r);
    if (err == CT_ERR_NOT_FOUND)
        mc_fail_at(d, "role", "role \"%s\" (%.300s) does not exist; create it with "
                   "'cattube admin role create %s'", name, role, name);
    else if (err)
        mc_fail_at(d, "role", "cannot read role \"%s\": %s", name, ct_err_str(err));
    return err == CT_ERR_NOT_FOUND ? CT_ERR_INVALID : err;
}

static json_t *job_spec(ct_mc *mc, const json_t *req, const json_t *tmpl, json_t *settings,
                        const char *queue_arn, const char *id, int64_t now_ms, json_t *warnings)
{
    char *arn = mc_arn(mc, "jobs", id), *role = default_role(mc);
    json_t *spec = json_pack("{s:s?, s:s, s:I, s:s, s:s, s:O}", "arn", arn, "id", id,
                             "createdAt", (json_int_t)(now_ms / 1000), "queue", queue_arn,
                             "role", jstr(req, "role") ? jstr(req, "role") : (role ? role : ""),
                             "settings", settings);
    free(arn);
    free(role);
    if (!spec)
        return NULL;
    json_object_set_new(spec, "priority", pick(req, tmpl, "priority", json_integer(0)));
    json_object_set_new(spec, "statusUpdateInterval",
                        pick(req, tmpl, "statusUpdateInterval", json_string("SECONDS_60")));
    json_object_set_new(spec, "accelerationSettings",
                        pick(req, tmpl, "accelerationSettings",
                             json_pack("{s:s}", "mode", "DISABLED")));
    json_object_set_new(spec, "userMetadata", pick(req, NULL, "userMetadata", json_object()));
    json_object_set_new(spec, "billingTagsSource",
                        pick(req, NULL, "billingTagsSource", json_string("JOB")));
    if (jstr(req, "jobTemplate"))
        json_object_set_new(spec, "jobTemplate", json_string(jstr(req, "jobTemplate")));
    if (jstr(req, "simulateReservedQueue"))
        json_object_set_new(spec, "simulateReservedQueue", json_string(jstr(req, "simulateReservedQueue")));
    json_object_set_new(spec, "messages", json_pack("{s:[], s:O}", "info", "warning", warnings));
    return spec;
}

static ct_err job_store(ct_mc *mc, json_t *spec, const char *queue_ref, const char *idem,
                        char id_out[40])
{
    ct_meta_job j;
    memset(&j, 0, sizeof j);
    snprintf(j.id, sizeof j.id, "%s", jstr(spec, "id"));
    snprintf(j.queue, sizeof j.queue, "%s", mc_ref_name(queue_ref));
    j.priority = (int)json_integer_value(json_object_get(spec, "priority"));
    j.created_ms = json_integer_value(json_object_get(spec, "createdAt")) * 1000;
    j.spec_json = json_dumps(spec, JSON_COMPACT);
    if (!j.spec_json)
        return CT_ERR_NOMEM;
    ct_err err = ct_meta_job_insert(mc->meta, &j, idem, id_out);
    free(j.spec_json);
    return err;
}

static void new_job_id(char id[40], int64_t now_ms)
{
    char rnd[7];
    ct_random_hex(rnd, 6);
    snprintf(id, 40, "%lld-%s", (long long)now_ms, rnd);
}

static ct_err job_render_id(ct_mc *mc, const char *id, json_t **out)
{
    ct_meta_job j;
    ct_err err = ct_meta_job_get(mc->meta, id, &j);
    if (err)
        return err;
    *out = mc_job_render(&j);
    ct_meta_job_free(&j);
    return *out ? CT_OK : CT_ERR_NOMEM;
}

typedef struct {
    json_t *req, *tmpl, *settings, *spec, *warnings;
    char *queue_arn, *idem;
} create_ctx;

static void create_ctx_free(create_ctx *c)
{
    json_decref(c->req);
    json_decref(c->tmpl);
    json_decref(c->settings);
    json_decref(c->spec);
    json_decref(c->warnings);
    free(c->queue_arn);
    free(c->idem);
}

static ct_err idem_for(const json_t *req, const char *idem_key, char **out)
{
    const char *tok = jstr(req, "clientRequestToken");
    ct_buf b = CT_BUF_INIT;
    *out = NULL;
    if (!idem_key && !tok)
        return CT_OK;
    if (idem_key ? ct_buf_puts(&b, idem_key) : ct_buf_printf(&b, "crt:%s", tok))
        return CT_ERR_NOMEM;
    *out = ct_buf_take(&b);
    return CT_OK;
}

ct_err mc_job_create(ct_mc *mc, json_t *body, const char *idem_key, json_t **job_out,
                     char id_out[40], mc_diag *d)
{
    create_ctx c = {0};
    char id[40];
    int64_t now = ct_now_ms();
    ct_err err = CT_ERR_INVALID;
    *job_out = NULL;
    c.warnings = json_array();
    d->warnings = c.warnings;
    if (!(c.req = mc_model_check("CreateJobRequest", body, d)) ||
        (err = idem_for(c.req, idem_key, &c.idem)))
        goto cleanup;
    /* A repeat returns the first job even if its template or queue is gone by now. */
    if (c.idem && ct_meta_job_find_idem(mc->meta, c.idem, id_out) == CT_OK) {
        err = job_render_id(mc, id_out, job_out);
        err = err ? err : CT_ERR_EXISTS;
        goto cleanup;
    }
    if (jstr(c.req, "jobTemplate") && (err = load_template(mc, jstr(c.req, "jobTemplate"), &c.tmpl, d)))
        goto cleanup;
    if ((err = job_settings(mc, c.req, c.tmpl, &c.settings, d)))
        goto cleanup;
    const char *qref = jstr(c.req, "queue") ? jstr(c.req, "queue") : jstr(c.tmpl, "queue");
    if (!qref)
        qref = MC_DEFAULT_QUEUE;
    if ((err = mc_resolve_queue(mc, qref, &c.queue_arn, d)) ||
        (err = check_role(mc, jstr(c.req, "role"), d)))
        goto cleanup;
    new_job_id(id, now);
    err = CT_ERR_NOMEM;
    if (!(c.spec = job_spec(mc, c.req, c.tmpl, c.settings, c.queue_arn, id, now, c.warnings)))
        goto cleanup;
    err = job_store(mc, c.spec, qref, c.idem, id_out);
    if (err && err != CT_ERR_EXISTS) {
        mc_fail(d, "cannot store the job: %s", ct_err_str(err));
        goto cleanup;
    }
    ct_err rerr = job_render_id(mc, id_out, job_out);
    if (rerr)
        err = rerr;
cleanup:
    d->warnings = NULL;
    create_ctx_free(&c);
    return err;
}

/* ------------------------------------------------------------------ render */

static void render_timing(json_t *job, const ct_meta_job *j)
{
    json_t *t = json_object();
    json_object_set_new(t, "submitTime", json_integer(j->created_ms / 1000));
    if (j->start_ms)
        json_object_set_new(t, "startTime", json_integer(j->start_ms / 1000));
    if (j->finish_ms)
        json_object_set_new(t, "finishTime", json_integer(j->finish_ms / 1000));
    json_object_set_new(job, "timing", t);
}

static void render_json_field(json_t *job, const char *key, const char *text)
{
    json_t *v = text ? json_loads(text, 0, NULL) : NULL;
    if (v)
        json_object_set_new(job, key, v);
}

/* Stored warnings carry a message each: the wire's warnings[] has only
 * code and count, the messages join messages.warning. */
static void render_warnings(json_t *job, const char *text)
{
    json_t *stored = text ? json_loads(text, 0, NULL) : NULL;
    if (!json_is_array(stored)) {
        json_decref(stored);
        return;
    }
    json_t *wire = json_array(), *msgs = json_object_get(job, "messages");
    json_t *list = json_object_get(msgs, "warning");
    size_t i;
    json_t *w;
    json_array_foreach(stored, i, w) {
        json_array_append_new(wire, json_pack("{s:O?, s:O?}", "code", json_object_get(w, "code"),
                                              "count", json_object_get(w, "count")));
        const char *m = json_string_value(json_object_get(w, "message"));
        if (m && json_is_array(list))
            json_array_append_new(list, json_string(m));
    }
    json_object_set_new(job, "warnings", wire);
    json_decref(stored);
}

char *ct_mc_warnings_json(const char *engine_warnings)
{
    if (!engine_warnings || !*engine_warnings)
        return NULL;
    json_t *arr = json_array();
    char *copy = strdup(engine_warnings), *save = NULL;
    for (char *t = copy ? strtok_r(copy, ";", &save) : NULL; t; t = strtok_r(NULL, ";", &save)) {
        while (*t == ' ')
            t++;
        if (*t)
            json_array_append_new(arr, json_pack("{s:i, s:i, s:s}", "code", CT_MC_WARN_ENGINE,
                                                 "count", 1, "message", t));
    }
    free(copy);
    char *out = json_array_size(arr) ? json_dumps(arr, JSON_COMPACT) : NULL;
    json_decref(arr);
    return out;
}

json_t *mc_job_render(const ct_meta_job *j)
{
    json_t *job = j->spec_json ? json_loads(j->spec_json, 0, NULL) : NULL;
    if (!json_is_object(job)) {
        json_decref(job);
        job = json_object();
    }
    json_object_set_new(job, "id", json_string(j->id));
    json_object_set_new(job, "status", json_string(j->status));
    json_object_set_new(job, "createdAt", json_integer(j->created_ms / 1000));
    json_object_set_new(job, "priority", json_integer(j->priority));
    json_object_set_new(job, "retryCount", json_integer(j->retry_count));
    render_timing(job, j);
    if (strcmp(j->status, "PROGRESSING") == 0) {
        if (j->phase[0])
            json_object_set_new(job, "currentPhase", json_string(j->phase));
        json_object_set_new(job, "jobPercentComplete", json_integer(j->percent));
    }
    if (strcmp(j->status, "ERROR") == 0) {
        json_object_set_new(job, "errorCode", json_integer(j->error_code));
        json_object_set_new(job, "errorMessage",
                            json_string(j->error_message ? j->error_message : "unknown error"));
    }
    if (strcmp(j->status, "COMPLETE") == 0)
        render_json_field(job, "outputGroupDetails", j->output_details_json);
    render_warnings(job, j->warnings_json);
    return job;
}

/* ------------------------------------------------------ built-in "Lambda" */

ct_err ct_mc_job_from_template(ct_mc *mc, const char *template_ref, const char *file_input,
                               const char *idem_key, char job_id[40], char *msg, size_t msglen)
{
    mc_diag d;
    json_t *job = NULL;
    char *role = default_role(mc);
    mc_diag_init(&d, "", NULL);
    json_t *body = json_pack("{s:s, s:s?, s:{s:[{s:s}]}, s:{}}", "jobTemplate", template_ref,
                             "role", role, "settings", "inputs", "fileInput", file_input,
                             "userMetadata");
    free(role);
    if (!body)
        return CT_ERR_NOMEM;
    ct_err err = mc_job_create(mc, body, idem_key, &job, job_id, &d);
    json_decref(body);
    json_decref(job);
    if (msglen)
        snprintf(msg, msglen, "%s", err && err != CT_ERR_EXISTS ? d.msg : "");
    return err;
}

/* -------------------------------------------------------------- handlers */

/* As in AWS, creating a job that runs as a role needs iam:PassRole on that
 * role (the account's default role when the request names none), so a
 * caller cannot borrow a role's store access it does not have itself. */
static ct_err check_pass_role(ct_mc *mc, const ct_http_req *req, const json_t *body, mc_diag *d)
{
    const char *role = json_string_value(json_object_get(body, "role"));
    if (!role) /* PascalCase is accepted too (mc_model.c) */
        role = json_string_value(json_object_get(body, "Role"));
    char *dflt = role ? NULL : default_role(mc);
    ct_err err = CT_OK;
    if (!mc->authorize)
        goto cleanup;
    if (!role && !(role = dflt)) {
        err = CT_ERR_NOMEM;
        goto cleanup;
    }
    err = mc->authorize(mc->authorize_ctx, req, "iam:PassRole", role);
    if (err == CT_ERR_DENIED)
        mc_fail(d, "User: %.300s is not authorized to perform: iam:PassRole on resource: %.300s",
                req->principal.arn[0] ? req->principal.arn : req->principal.access_key, role);
cleanup:
    free(dflt);
    return err;
}

void mc_h_job_create(ct_mc *mc, const ct_http_req *req, const char *id, ct_http_resp *resp)
{
    (void)id;
    mc_diag d;
    char jid[40];
    json_t *job = NULL;
    mc_diag_init(&d, "", NULL);
    json_t *body = mc_json_load(req->body, req->body_len, &d);
    if (!body) {
        mc_error(resp, CT_ERR_INVALID, d.msg);
        return;
    }
    ct_err err = check_pass_role(mc, req, body, &d);
    if (!err)
        err = mc_job_create(mc, body, NULL, &job, jid, &d);
    json_decref(body);
    if (err && err != CT_ERR_EXISTS) {
        mc_error(resp, err, d.msg);
        return;
    }
    mc_reply(resp, 201, json_pack("{s:o}", "job", job));
}

void mc_h_job_get(ct_mc *mc, const ct_http_req *req, const char *id, ct_http_resp *resp)
{
    (void)req;
    json_t *job = NULL;
    char msg[256];
    ct_err err = job_render_id(mc, id, &job);
    if (err) {
        snprintf(msg, sizeof msg, "job %.64s not found", id);
        mc_error(resp, err, err == CT_ERR_NOT_FOUND ? msg : NULL);
        return;
    }
    mc_reply(resp, 200, json_pack("{s:o}", "job", job));
}

/* A job that is committing its outputs (phase UPLOADING) can no longer be
 * stopped, so its cancel is refused like a finished job's: a 202 always ends
 * CANCELED with no outputs (see meta_search.h). */
void mc_h_job_cancel(ct_mc *mc, const ct_http_req *req, const char *id, ct_http_resp *resp)
{
    (void)req;
    char msg[256];
    ct_meta_job j;
    ct_err err = ct_meta_job_cancel_before_upload(mc->meta, id);
    if (err == CT_ERR_NOT_FOUND)
        snprintf(msg, sizeof msg, "job %.64s not found", id);
    else if (err == CT_ERR_CONFLICT && ct_meta_job_get(mc->meta, id, &j) == CT_OK) {
        snprintf(msg, sizeof msg, strcmp(j.status, "PROGRESSING") == 0
                     ? "job %.64s has begun uploading its outputs and can no longer be canceled"
                     : "job %.64s has already finished and cannot be canceled", id);
        ct_meta_job_free(&j);
    } else
        snprintf(msg, sizeof msg, "job %.64s has already finished and cannot be canceled", id);
    if (err) {
        mc_error(resp, err, err == CT_ERR_NOT_FOUND || err == CT_ERR_CONFLICT ? msg : NULL);
        return;
    }
    mc_reply(resp, 202, json_object());
}

static ct_err list_cb(void *ctx, const ct_meta_job *j)
{
    json_t *job = mc_job_render(j);
    return job && !json_array_append_new(ctx, job) ? CT_OK : CT_ERR_NOMEM;
}

/* Reads ListJobs'/SearchJobs' query parameters (q[] keeps the strings f
 * points into); returns 0 or -1 with msg. */
static int list_params(const ct_http_req *req, ct_meta_job_filter *f, char *q[5], char *msg,
                       size_t msglen)
{
    static const char *const status[] = {"SUBMITTED", "PROGRESSING", "COMPLETE", "CANCELED", "ERROR"};
    q[0] = ct_http_query(req, "queue");
    q[1] = ct_http_query(req, "status");
    q[2] = ct_http_query(req, "order");
    q[3] = ct_http_query(req, "maxResults");
    q[4] = ct_http_query(req, "inputFile");
    f->queue = q[0] ? mc_ref_name(q[0]) : NULL;
    f->status = q[1];
    f->input_file = q[4] && q[4][0] ? q[4] : NULL;
    f->ascending = q[2] && strcmp(q[2], "ASCENDING") == 0;
    if (q[2] && !f->ascending && strcmp(q[2], "DESCENDING") != 0)
        return snprintf(msg, msglen, "order: invalid value \"%.32s\" (valid: ASCENDING, DESCENDING)", q[2]), -1;
    int ok = !q[1];
    for (size_t i = 0; q[1] && i < CT_ARRAY_LEN(status); i++)
        ok |= strcmp(q[1], status[i]) == 0;
    if (!ok)
        return snprintf(msg, msglen, "status: invalid value \"%.32s\" (valid: SUBMITTED, "
                        "PROGRESSING, COMPLETE, CANCELED, ERROR)", q[1]), -1;
    if (q[4] && strlen(q[4]) > 300)
        return snprintf(msg, msglen, "inputFile: at most 300 characters"), -1;
    char *end = NULL;
    long max = q[3] ? strtol(q[3], &end, 10) : 20;
    if (q[3] && (*end || max < 1 || max > 20))
        return snprintf(msg, msglen, "maxResults: must be between 1 and 20"), -1;
    f->max = (int)max;
    return 0;
}

/* ListJobs and SearchJobs: the same filter (SearchJobs adds inputFile, a
 * substring of the first input's fileInput) and the same reply shape. */
static void job_list_reply(ct_mc *mc, const ct_http_req *req, int search, ct_http_resp *resp)
{
    ct_meta_job_filter f = {0};
    char *q[5] = {0}, *tok = ct_http_query(req, "nextToken"), *next = NULL, msg[256];
    json_t *jobs = json_array();
    ct_err err = CT_ERR_INVALID;
    if (list_params(req, &f, q, msg, sizeof msg))
        goto cleanup;
    if (!search)
        f.input_file = NULL;
    f.after_token = tok;
    err = ct_meta_job_list(mc->meta, &f, list_cb, jobs, &next);
    snprintf(msg, sizeof msg, "nextToken: invalid token");
    if (err)
        goto cleanup;
    json_t *body = json_pack("{s:O}", "jobs", jobs);
    if (next)
        json_object_set_new(body, "nextToken", json_string(next));
    mc_reply(resp, 200, body);
cleanup:
    if (err)
        mc_error(resp, err, err == CT_ERR_INVALID ? msg : NULL);
    for (int i = 0; i < 5; i++)
        free(q[i]);
    free(tok);
    free(next);
    json_decref(jobs);
}

void mc_h_job_list(ct_mc *mc, const ct_http_req *req, const char *id, ct_http_resp *resp)
{
    (void)id;
    job_list_reply(mc, req, 0, resp);
}

void mc_h_job_search(ct_mc *mc, const ct_http_req *req, const char *id, ct_http_resp *resp)
{
    (void)id;
    job_list_reply(mc, req, 1, resp);
}
