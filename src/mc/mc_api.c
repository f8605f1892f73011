/* mc_api.c: MediaConvert REST routing, open/close, DescribeEndpoints, queues
 * and the list/paging helper shared by every List* operation.
 *
 * DESIGN: one route table (collection, has {id}, method -> handler). The
 * path's {id}/{name} segment is percent-decoded once here; handlers get it as
 * a plain string. Bodies are parsed and model-checked in the handlers. */
#include "mc/mc_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ list helper */

static int cmp_name(const void *a, const void *b)
{
    const char *x = json_string_value(json_object_get(*(json_t *const *)a, "name"));
    const char *y = json_string_value(json_object_get(*(json_t *const *)b, "name"));
    return strcmp(x ? x : "", y ? y : "");
}

static int cmp_created(const void *a, const void *b)
{
    json_int_t x = json_integer_value(json_object_get(*(json_t *const *)a, "createdAt"));
    json_int_t y = json_integer_value(json_object_get(*(json_t *const *)b, "createdAt"));
    return x < y ? -1 : x > y ? 1 : cmp_name(a, b);
}

static int list_opts(const ct_http_req *req, int *by_date, int *desc, long *max, long *off,
                     char *msg, size_t n)
{
    char *by = ct_http_query(req, "listBy"), *order = ct_http_query(req, "order");
    char *mr = ct_http_query(req, "maxResults"), *tok = ct_http_query(req, "nextToken");
    char *end = NULL;
    int rc = 0;
    *by_date = by && strcmp(by, "CREATION_DATE") == 0;
    *desc = order && strcmp(order, "DESCENDING") == 0;
    *max = mr ? strtol(mr, &end, 10) : 20;
    *off = 0;
    if (mr && (*end || *max < 1 || *max > 20)) {
        snprintf(msg, n, "maxResults: must be between 1 and 20");
        rc = -1;
    } else if (tok && (tok[0] != 'o' || (*off = strtol(tok + 1, &end, 10)) < 0 || *end)) {
        snprintf(msg, n, "nextToken: invalid token");
        rc = -1;
    } else if (order && !*desc && strcmp(order, "ASCENDING") != 0) {
        snprintf(msg, n, "order: invalid value (valid: ASCENDING, DESCENDING)");
        rc = -1;
    }
    free(by);
    free(order);
    free(mr);
    free(tok);
    return rc;
}

void mc_list_reply(const ct_http_req *req, json_t *items, const char *key, ct_http_resp *resp)
{
    int by_date, desc;
    long max, off;
    char msg[128];
    size_t n = json_array_size(items);
    /* NOLINTNEXTLINE(bugprone-sizeof-expression): v is an array of pointers */
    json_t **v = calloc(n ? n : 1, sizeof *v);
    if (!v || list_opts(req, &by_date, &desc, &max, &off, msg, sizeof msg)) {
        mc_error(resp, v ? CT_ERR_INVALID : CT_ERR_NOMEM, v ? msg : NULL);
        goto cleanup;
    }
    for (size_t i = 0; i < n; i++)
        v[i] = json_array_get(items, i);
    /* NOLINTNEXTLINE(bugprone-sizeof-expression): v is an array of pointers */
    qsort(v, n, sizeof *v, by_date ? cmp_created : cmp_name);
    json_t *page = json_array();
    for (size_t i = (size_t)off; i < n && (long)json_array_size(page) < max; i++)
        json_array_append(page, v[desc ? n - 1 - i : i]);
    json_t *body = json_pack("{s:o}", key, page);
    if ((size_t)off + json_array_size(page) < n) {
        char tok[32];
        snprintf(tok, sizeof tok, "o%zu", (size_t)off + json_array_size(page));
        json_object_set_new(body, "nextToken", json_string(tok));
    }
    mc_reply(resp, 200, body);
cleanup:
    free(v);
    json_decref(items);
}

/* ------------------------------------------------------------------ queues */

static json_t *queue_render(ct_mc *mc, const char *json)
{
    json_t *q = json_loads(json, 0, NULL);
    if (!json_is_object(q))
        return q;
    int sub = 0, prog = 0;
    const char *name = json_string_value(json_object_get(q, "name"));
    if (name)
        ct_meta_queue_counts(mc->meta, name, &sub, &prog);
    json_object_set_new(q, "submittedJobsCount", json_integer(sub));
    json_object_set_new(q, "progressingJobsCount", json_integer(prog));
    return q;
}

/* The queue's concurrency limit (0 = unlimited): a RESERVED queue runs one
 * job per reserved transcode slot, an ON_DEMAND queue at most its
 * concurrentJobs when set (queue_apply_plan keeps the two apart). */
static int queue_limit(const json_t *rec)
{
    const char *plan = json_string_value(json_object_get(rec, "pricingPlan"));
    const json_t *n = plan && strcmp(plan, "RESERVED") == 0
                          ? json_object_get(json_object_get(rec, "reservationPlan"), "reservedSlots")
                          : json_object_get(rec, "concurrentJobs");
    json_int_t v = json_integer_value(n);
    return v > 0 && v <= MC_QUEUE_MAX_SLOTS ? (int)v : 0;
}

static ct_err queue_put(ct_mc *mc, json_t *rec, int create_only)
{
    char *text = json_dumps(rec, JSON_COMPACT);
    if (!text)
        return CT_ERR_NOMEM;
    ct_err err = ct_meta_queue_put_limit(mc->meta, json_string_value(json_object_get(rec, "name")),
                                         json_string_value(json_object_get(rec, "status")), text,
                                         create_only, queue_limit(rec));
    free(text);
    return err;
}

static json_t *queue_record(ct_mc *mc, const char *name, const char *type)
{
    char *arn = mc_arn(mc, "queues", name);
    json_int_t now = ct_now_ms() / 1000;
    json_t *rec = json_pack("{s:s?, s:s, s:s, s:s, s:s, s:I, s:I}", "arn", arn, "name", name,
                            "status", "ACTIVE", "type", type, "pricingPlan", "ON_DEMAND",
                            "createdAt", now, "lastUpdated", now);
    free(arn);
    return rec;
}

static void queue_reply(ct_mc *mc, const char *name, int status, ct_http_resp *resp)
{
    ct_meta_queue q;
    ct_err err = ct_meta_queue_get(mc->meta, name, &q);
    if (err) {
        mc_error(resp, err, err == CT_ERR_NOT_FOUND ? "queue not found" : NULL);
        return;
    }
    mc_reply(resp, status, json_pack("{s:o}", "queue", queue_render(mc, q.json)));
    ct_meta_queue_free(&q);
}

static int slots_ok(const json_t *v, mc_diag *d, const char *key)
{
    json_int_t n = json_integer_value(v);
    if (n < 1 || n > MC_QUEUE_MAX_SLOTS)
        return mc_fail_at(d, key, "must be between 1 and %d", MC_QUEUE_MAX_SLOTS);
    return 0;
}

/* A reservation plan as the Queue record shows it; the term is the 12-month
 * commitment AWS sells (CatTube bills nothing: only reservedSlots acts). */
static int queue_set_reservation(json_t *rec, const json_t *rps, mc_diag *d)
{
    size_t p = mc_path_key(d, "reservationPlanSettings");
    int rc = slots_ok(json_object_get(rps, "reservedSlots"), d, "reservedSlots");
    mc_path_pop(d, p);
    if (rc)
        return rc;
    json_int_t now = ct_now_ms() / 1000;
    json_object_set_new(rec, "reservationPlan",
                        json_pack("{s:O, s:O, s:O, s:s, s:I, s:I}", "commitment",
                                  json_object_get(rps, "commitment"), "renewalType",
                                  json_object_get(rps, "renewalType"), "reservedSlots",
                                  json_object_get(rps, "reservedSlots"), "status", "ACTIVE",
                                  "purchasedAt", now, "expiresAt", now + 365 * 86400));
    return 0;
}

/* pricingPlan (Create only), reservationPlanSettings and concurrentJobs.
 * As in MediaConvert, concurrentJobs belongs to ON_DEMAND queues and
 * reservationPlanSettings (required there) to RESERVED ones. */
static int queue_apply_plan(json_t *rec, const json_t *req, mc_diag *d)
{
    json_t *plan = json_object_get(req, "pricingPlan");
    if (plan)
        json_object_set(rec, "pricingPlan", plan);
    const char *p = json_string_value(json_object_get(rec, "pricingPlan"));
    int reserved = p && strcmp(p, "RESERVED") == 0;
    json_t *cj = json_object_get(req, "concurrentJobs");
    const json_t *rps = json_object_get(req, "reservationPlanSettings");
    if (cj && reserved)
        return mc_fail_at(d, "concurrentJobs", "not applicable to RESERVED queues (their limit "
                                               "is reservationPlanSettings.reservedSlots)");
    if (cj && slots_ok(cj, d, "concurrentJobs"))
        return -1;
    if (cj)
        json_object_set(rec, "concurrentJobs", cj);
    if (rps && !reserved)
        return mc_fail_at(d, "reservationPlanSettings",
                          "not applicable to ON_DEMAND queues (use concurrentJobs)");
    if (rps)
        return queue_set_reservation(rec, rps, d);
    if (reserved && !json_object_get(rec, "reservationPlan"))
        return mc_fail_at(d, "reservationPlanSettings", "required for RESERVED queues");
    return 0;
}

/* Applies a Create/UpdateQueue request to the stored record. */
static int queue_apply(json_t *rec, const json_t *req, mc_diag *d)
{
    if (queue_apply_plan(rec, req, d))
        return -1;
    const char *keys[] = {"description", "status"};
    for (size_t i = 0; i < CT_ARRAY_LEN(keys); i++) {
        json_t *v = json_object_get(req, keys[i]);
        if (v)
            json_object_set(rec, keys[i], v);
    }
    json_object_set_new(rec, "lastUpdated", json_integer(ct_now_ms() / 1000));
    return 0;
}

static json_t *checked_body(const ct_http_req *req, const char *shape, ct_http_resp *resp)
{
    mc_diag d;
    mc_diag_init(&d, "", NULL);
    json_t *body = mc_json_load(req->body, req->body_len, &d);
    json_t *out = body ? mc_model_check(shape, body, &d) : NULL;
    json_decref(body);
    if (!out)
        mc_error(resp, CT_ERR_INVALID, d.msg);
    return out;
}

static void h_queue_create(ct_mc *mc, const ct_http_req *req, const char *id, ct_http_resp *resp)
{
    (void)id;
    mc_diag d;
    mc_diag_init(&d, "", NULL);
    json_t *body = checked_body(req, "CreateQueueRequest", resp), *rec = NULL;
    if (!body)
        return;
    const char *name = json_string_value(json_object_get(body, "name"));
    ct_err err = CT_ERR_INVALID;
    if (!mc_name_ok(name)) {
        mc_fail_at(&d, "name", "must be 1-128 characters without '/', '\\' or '%%'");
        goto cleanup;
    }
    if (!(rec = queue_record(mc, name, "CUSTOM")) || queue_apply(rec, body, &d))
        goto cleanup;
    if ((err = queue_put(mc, rec, 1)) == CT_ERR_EXISTS)
        snprintf(d.msg, sizeof d.msg, "queue \"%.128s\" already exists", name);
cleanup:
    if (err)
        mc_error(resp, err, d.msg);
    else
        queue_reply(mc, name, 201, resp);
    json_decref(rec);
    json_decref(body);
}

static void h_queue_update(ct_mc *mc, const ct_http_req *req, const char *id, ct_http_resp *resp)
{
    mc_diag d;
    ct_meta_queue q = {0};
    json_t *rec = NULL;
    mc_diag_init(&d, "", NULL);
    json_t *body = checked_body(req, "UpdateQueueRequest", resp);
    if (!body)
        return;
    ct_err err = ct_meta_queue_get(mc->meta, id, &q);
    snprintf(d.msg, sizeof d.msg, "queue \"%.128s\" not found", id);
    if (err)
        goto cleanup;
    err = CT_ERR_INVALID;
    rec = json_loads(q.json, 0, NULL);
    if (!json_is_object(rec) || queue_apply(rec, body, &d))
        goto cleanup;
    err = queue_put(mc, rec, 0);
cleanup:
    if (err)
        mc_error(resp, err, err == CT_ERR_NOT_FOUND || err == CT_ERR_INVALID ? d.msg : NULL);
    else
        queue_reply(mc, id, 200, resp);
    ct_meta_queue_free(&q);
    json_decref(rec);
    json_decref(body);
}

static void h_queue_get(ct_mc *mc, const ct_http_req *req, const char *id, ct_http_resp *resp)
{
    (void)req;
    queue_reply(mc, id, 200, resp);
}

static void h_queue_delete(ct_mc *mc, const ct_http_req *req, const char *id, ct_http_resp *resp)
{
    (void)req;
    char msg[256];
    if (strcmp(id, MC_DEFAULT_QUEUE) == 0) {
        mc_error(resp, CT_ERR_INVALID, "the Default queue cannot be deleted");
        return;
    }
    ct_err err = ct_meta_queue_delete(mc->meta, id);
    if (err == CT_ERR_CONFLICT)
        snprintf(msg, sizeof msg, "queue \"%.128s\" still has SUBMITTED or PROGRESSING jobs", id);
    else
        snprintf(msg, sizeof msg, "queue \"%.128s\" not found", id);
    if (err)
        mc_error(resp, err, err == CT_ERR_CONFLICT || err == CT_ERR_NOT_FOUND ? msg : NULL);
    else
        mc_reply(resp, 202, json_object());
}

static ct_err collect_json(void *ctx, const char *json)
{
    json_t *v = json_loads(json, 0, NULL);
    if (v)
        json_array_append_new(ctx, v);
    return CT_OK;
}

static void h_queue_list(ct_mc *mc, const ct_http_req *req, const char *id, ct_http_resp *resp)
{
    (void)id;
    json_t *raw = json_array(), *items = json_array();
    ct_err err = ct_meta_queue_list(mc->meta, collect_json, raw);
    size_t i;
    json_t *q;
    json_array_foreach(raw, i, q) { /* counts outside meta's lock */
        char *text = json_dumps(q, JSON_COMPACT);
        json_t *r = text ? queue_render(mc, text) : NULL;
        free(text);
        if (r)
            json_array_append_new(items, r);
    }
    json_decref(raw);
    if (err) {
        json_decref(items);
        mc_error(resp, err, NULL);
        return;
    }
    mc_list_reply(req, items, "queues", resp);
}

/* --------------------------------------------------------------- endpoints */

static void h_endpoints(ct_mc *mc, const ct_http_req *req, const char *id, ct_http_resp *resp)
{
    (void)req;
    (void)id;
    mc_reply(resp, 200, json_pack("{s:[{s:s}]}", "endpoints", "url", mc->endpoint));
}

static void h_policy(ct_mc *mc, const ct_http_req *req, const char *id, ct_http_resp *resp)
{
    (void)mc;
    (void)req;
    (void)id;
    mc_reply(resp, 200, json_pack("{s:{s:s, s:s, s:s}}", "policy", "httpInputs", "DISALLOWED",
                                  "httpsInputs", "DISALLOWED", "s3Inputs", "ALLOWED"));
}

/* ------------------------------------------------------------------ routing */

static const struct {
    const char *collection;
    int has_id;
    const char *method;
    const char *operation; /* the IAM action's name */
    mc_handler fn;
} routes[] = {
    {"jobs", 0, "POST", "CreateJob", mc_h_job_create},
    {"jobs", 0, "GET", "ListJobs", mc_h_job_list},
    {"jobs", 1, "GET", "GetJob", mc_h_job_get},
    {"jobs", 1, "DELETE", "CancelJob", mc_h_job_cancel},
    {"search", 0, "GET", "SearchJobs", mc_h_job_search},
    {"queues", 0, "POST", "CreateQueue", h_queue_create},
    {"queues", 0, "GET", "ListQueues", h_queue_list},
    {"queues", 1, "GET", "GetQueue", h_queue_get},
    {"queues", 1, "PUT", "UpdateQueue", h_queue_update},
    {"queues", 1, "DELETE", "DeleteQueue", h_queue_delete},
    {"jobTemplates", 0, "POST", "CreateJobTemplate", mc_h_template_create},
    {"jobTemplates", 0, "GET", "ListJobTemplates", mc_h_template_list},
    {"jobTemplates", 1, "GET", "GetJobTemplate", mc_h_template_get},
    {"jobTemplates", 1, "PUT", "UpdateJobTemplate", mc_h_template_update},
    {"jobTemplates", 1, "DELETE", "DeleteJobTemplate", mc_h_template_delete},
    {"presets", 0, "POST", "CreatePreset", mc_h_preset_create},
    {"presets", 0, "GET", "ListPresets", mc_h_preset_list},
    {"presets", 1, "GET", "GetPreset", mc_h_preset_get},
    {"presets", 1, "PUT", "UpdatePreset", mc_h_preset_update},
    {"presets", 1, "DELETE", "DeletePreset", mc_h_preset_delete},
    {"endpoints", 0, "POST", "DescribeEndpoints", h_endpoints},
    {"policy", 0, "GET", "GetPolicy", h_policy},
    {"probe", 0, "POST", "Probe", mc_h_probe},
};

/* Splits "/2017-08-29/coll[/id]" into coll and decoded id (heap, NULL when absent). */
static int route_split(const char *path, char coll[32], char **id)
{
    size_t pl = strlen(MC_API_PREFIX);
    *id = NULL;
    if (strncmp(path, MC_API_PREFIX, pl) != 0 || path[pl] != '/')
        return -1;
    const char *c = path + pl + 1, *slash = strchr(c, '/');
    size_t cl = slash ? (size_t)(slash - c) : strlen(c);
    if (cl == 0 || cl >= 32)
        return -1;
    memcpy(coll, c, cl);
    coll[cl] = '\0';
    if (!slash || !slash[1])
        return 0;
    if (strchr(slash + 1, '/'))
        return -1;
    size_t n = 0;
    *id = ct_uri_decode(slash + 1, strlen(slash + 1), 0, &n);
    if (!*id || strlen(*id) != n || n == 0) {
        free(*id);
        *id = NULL;
        return -1;
    }
    return 0;
}

/* The route for method on coll[/id]: its index, or -1 (*path_ok says
 * whether another method would have matched). */
static int find_route(const char *method, const char *coll, int has_id, int *path_ok)
{
    *path_ok = 0;
    for (size_t i = 0; i < CT_ARRAY_LEN(routes); i++) {
        if (strcmp(routes[i].collection, coll) != 0 || routes[i].has_id != has_id)
            continue;
        *path_ok = 1;
        if (strcmp(routes[i].method, method) == 0)
            return (int)i;
    }
    return -1;
}

int ct_mc_request_action(const ct_mc *mc, const char *method, const char *path, char action[64],
                         char resource[512])
{
    char coll[32], *id = NULL;
    int path_ok, r = -1;
    snprintf(action, 64, "mediaconvert:*");
    snprintf(resource, 512, "*");
    if (route_split(path, coll, &id) == 0)
        r = find_route(method, coll, id != NULL, &path_ok);
    if (r >= 0) {
        snprintf(action, 64, "mediaconvert:%s", routes[r].operation);
        if (id) { /* jobs/ID, queues/NAME, jobTemplates/NAME, presets/NAME */
            char *arn = mc_arn(mc, coll, id);
            if (!arn || ct_snprintf(resource, 512, "%s", arn))
                r = -1; /* too long to name: only mediaconvert:* on * passes */
            free(arn);
        }
    }
    free(id);
    return r >= 0;
}

void ct_mc_handle(ct_mc *mc, const ct_http_req *req, ct_http_resp *resp)
{
    char coll[32], *id = NULL;
    int path_ok;
    if (req->principal.anonymous) {
        mc_error(resp, CT_ERR_DENIED, "MediaConvert requests must be signed");
        return;
    }
    if (route_split(req->path, coll, &id)) {
        mc_error(resp, CT_ERR_NOT_FOUND, "no such MediaConvert resource");
        return;
    }
    int r = find_route(req->method, coll, id != NULL, &path_ok);
    if (r >= 0)
        routes[r].fn(mc, req, id, resp);
    else if (path_ok)
        mc_error(resp, CT_ERR_INVALID, "method not allowed on this MediaConvert resource");
    else
        mc_error(resp, CT_ERR_NOT_FOUND, "no such MediaConvert operation");
    free(id);
}

/* ---------------------------------------------------------------- lifecycle */

static ct_err ensure_default_queue(ct_mc *mc)
{
    ct_meta_queue q;
    ct_err err = ct_meta_queue_get(mc->meta, MC_DEFAULT_QUEUE, &q);
    if (err != CT_ERR_NOT_FOUND) {
        ct_meta_queue_free(&q);
        return err;
    }
    json_t *rec = queue_record(mc, MC_DEFAULT_QUEUE, "SYSTEM");
    err = rec ? queue_put(mc, rec, 1) : CT_ERR_NOMEM;
    json_decref(rec);
    return err == CT_ERR_EXISTS ? CT_OK : err;
}

ct_err ct_mc_open(const ct_mc_config *cfg, ct_meta *meta, ct_mc **out)
{
    ct_mc *mc = calloc(1, sizeof *mc);
    if (!mc)
        return CT_ERR_NOMEM;
    mc->meta = meta;
    mc->probe = cfg->probe;
    mc->probe_ctx = cfg->probe_ctx;
    mc->authorize = cfg->authorize;
    mc->authorize_ctx = cfg->authorize_ctx;
    if (ct_snprintf(mc->region, sizeof mc->region, "%s", cfg->region ? cfg->region : "us-east-1") ||
        ct_snprintf(mc->account, sizeof mc->account, "%s",
                    cfg->account_id ? cfg->account_id : "000000000000") ||
        ct_snprintf(mc->endpoint, sizeof mc->endpoint, "%s",
                    cfg->endpoint_url ? cfg->endpoint_url : "")) {
        free(mc);
        return CT_ERR_INVALID;
    }
    ct_err err = ensure_default_queue(mc);
    if (!err)
        err = mc_ensure_default_role(mc);
    if (err) {
        free(mc);
        return err;
    }
    *out = mc;
    return CT_OK;
}

void ct_mc_close(ct_mc *mc) { free(mc); }
