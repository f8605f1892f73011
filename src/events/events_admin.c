/* events_admin.c: admin API for webhooks, deliveries and the live stream.
 *
 *   POST   /cattube/admin/webhooks           {"name","url","secret"?,"jobEvents"?}
 *            -> 201 webhook record + "secret" (shown only here: it is stored
 *               sealed under the master key, see webhook.c, and no GET returns it)
 *   GET    /cattube/admin/webhooks           -> {"webhooks":[record...]}
 *   GET    /cattube/admin/webhooks/NAME      -> record
 *   DELETE /cattube/admin/webhooks/NAME      -> 204 (pending deliveries then fail)
 *   GET    /cattube/admin/deliveries?webhook=NAME&max=N -> {"deliveries":[...]}, newest first
 *   GET    /cattube/admin/deliveries/ID      -> one delivery with its "body"
 *   GET    /cattube/admin/events             -> text/event-stream (see sse.c)
 * Record: {"name","arn","url","jobEvents": false | true | {"queues"?,"statuses"?},
 *          "createdAt"}. Errors are {"message": ...} with 400/404/405/409/503. */
#include "events/events_internal.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WEBHOOK_URL_MAX 2048
#define WEBHOOK_SECRET_MAX 256
#define DELIVERIES_MAX 200

static void fail(ct_http_resp *resp, int status, const char *msg)
{
    json_t *b = json_pack("{s:s}", "message", msg);
    ct_http_resp_json(resp, status, json_dumps(b, JSON_COMPACT));
    json_decref(b);
}

static void reply(ct_http_resp *resp, int status, json_t *body)
{
    ct_http_resp_json(resp, status, body ? json_dumps(body, JSON_COMPACT) : NULL);
    json_decref(body);
}

static int valid_name(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    return n >= 1 && n <= 64 &&
           strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") == n;
}

static int printable(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s <= 0x20 || (unsigned char)*s == 0x7f)
            return 0;
    return 1;
}

/* http(s) only, bounded, no spaces or control characters. */
static const char *url_problem(const char *url)
{
    if (!url)
        return "url is required";
    if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
        return "url must be an http:// or https:// URL";
    if (strlen(url) > WEBHOOK_URL_MAX || !printable(url))
        return "url is too long or contains spaces or control characters";
    const char *host = strstr(url, "://") + 3;
    if (!*host || *host == '/')
        return "url has no host";
    return NULL;
}

static int string_array(json_t *a)
{
    size_t i;
    json_t *v;
    if (!json_is_array(a) || json_array_size(a) > 100)
        return 0;
    json_array_foreach(a, i, v) if (!json_is_string(v)) return 0;
    return 1;
}

/* jobEvents -> stored filter (heap; NULL for none). *bad on invalid input. */
static char *job_filter_of(json_t *je, int *bad)
{
    *bad = 0;
    if (!je || json_is_false(je) || json_is_null(je))
        return NULL;
    if (json_is_true(je))
        return strdup("{}");
    json_t *q = json_object_get(je, "queues"), *s = json_object_get(je, "statuses");
    if (!json_is_object(je) || (q && !string_array(q)) || (s && !string_array(s))) {
        *bad = 1;
        return NULL;
    }
    json_t *f = json_object();
    if (q)
        json_object_set(f, "queues", q);
    if (s)
        json_object_set(f, "statuses", s);
    char *out = json_dumps(f, JSON_COMPACT);
    json_decref(f);
    return out;
}

static json_t *webhook_json(ct_events *ev, const ct_meta_webhook *w)
{
    char arn[256], qarn[256], tarn[256], ts[32];
    snprintf(arn, sizeof arn, CT_EVENTS_WEBHOOK_ARN_PREFIX "%s:%s:webhook/%s", ev->region,
             ev->account_id, w->name);
    /* The same target as a Queue or Topic configuration names it (s3_notify.c). */
    snprintf(qarn, sizeof qarn, "arn:aws:sqs:%s:%s:%s", ev->region, ev->account_id, w->name);
    snprintf(tarn, sizeof tarn, "arn:aws:sns:%s:%s:%s", ev->region, ev->account_id, w->name);
    ct_time_iso8601(w->created_ms, ts);
    json_t *je = json_false();
    if (w->job_filter) {
        json_t *f = json_loads(w->job_filter, 0, NULL);
        if (json_object_size(f) == 0) {
            json_decref(f);
            je = json_true();
        } else {
            je = f;
        }
    }
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:s}", "name", w->name, "arn", arn,
                     "queueArn", qarn, "topicArn", tarn, "url", w->url, "jobEvents", je,
                     "createdAt", ts);
}

/* Fills w from a create request; returns an error message or NULL. */
static const char *parse_create(json_t *in, ct_meta_webhook *w)
{
    const char *name = json_string_value(json_object_get(in, "name"));
    const char *url = json_string_value(json_object_get(in, "url"));
    json_t *sec = json_object_get(in, "secret");
    int bad = 0;
    if (!json_is_object(in))
        return "body must be a JSON object";
    if (!valid_name(name))
        return "name must be 1-64 characters of A-Z a-z 0-9 - _";
    const char *problem = url_problem(url);
    if (problem)
        return problem;
    if (sec && (!json_is_string(sec) || !json_string_length(sec) ||
                json_string_length(sec) > WEBHOOK_SECRET_MAX || !printable(json_string_value(sec))))
        return "secret must be 1-256 printable characters";
    w->job_filter = job_filter_of(json_object_get(in, "jobEvents"), &bad);
    if (bad)
        return "jobEvents must be true, false or {\"queues\":[...],\"statuses\":[...]}";
    snprintf(w->name, sizeof w->name, "%s", name);
    w->url = strdup(url);
    if (sec) {
        w->secret = strdup(json_string_value(sec));
    } else if ((w->secret = malloc(48))) {
        memcpy(w->secret, "whsec_", 6);
        ct_random_hex(w->secret + 6, 40);
    }
    return NULL;
}

static void webhook_create(ct_events *ev, const ct_http_req *req, ct_http_resp *resp)
{
    ct_meta_webhook w;
    memset(&w, 0, sizeof w);
    json_t *in = json_loadb(req->body ? req->body : "", req->body_len, 0, NULL);
    const char *msg = parse_create(in, &w);
    json_decref(in);
    if (msg) {
        fail(resp, 400, msg);
        goto cleanup;
    }
    if (!w.url || !w.secret) {
        fail(resp, 500, "out of memory");
        goto cleanup;
    }
    w.created_ms = ct_now_ms();
    char *sealed = NULL, *plain = w.secret;
    ct_err e = events_secret_seal(ev, w.name, plain, &sealed);
    if (e) {
        fail(resp, 500, ct_err_str(e));
        goto cleanup;
    }
    w.secret = sealed; /* stored sealed; the answer shows the plain one once */
    e = ct_meta_webhook_create(ev->meta, &w);
    w.secret = plain;
    free(sealed);
    if (e == CT_ERR_EXISTS) {
        fail(resp, 409, "a webhook with this name already exists");
        goto cleanup;
    }
    if (e) {
        fail(resp, 500, ct_err_str(e));
        goto cleanup;
    }
    json_t *out = webhook_json(ev, &w);
    json_object_set_new(out, "secret", json_string(w.secret));
    reply(resp, 201, out);
cleanup:
    if (w.secret)
        explicit_bzero(w.secret, strlen(w.secret));
    ct_meta_webhook_free(&w);
}

typedef struct {
    ct_events *ev;
    json_t *list;
} list_ctx;

static ct_err list_webhook(void *ctx, const ct_meta_webhook *w)
{
    list_ctx *l = ctx;
    json_array_append_new(l->list, webhook_json(l->ev, w));
    return CT_OK;
}

static void webhooks(ct_events *ev, const ct_http_req *req, ct_http_resp *resp, const char *rest)
{
    int is_get = strcmp(req->method, "GET") == 0;
    if (!*rest) {
        if (strcmp(req->method, "POST") == 0)
            return webhook_create(ev, req, resp);
        if (!is_get)
            return fail(resp, 405, "use GET or POST");
        list_ctx l = {ev, json_array()};
        ct_err e = ct_meta_webhook_list(ev->meta, list_webhook, &l);
        if (e) {
            json_decref(l.list);
            return fail(resp, 500, ct_err_str(e));
        }
        return reply(resp, 200, json_pack("{s:o}", "webhooks", l.list));
    }
    if (!valid_name(rest))
        return fail(resp, 404, "no such webhook");
    if (strcmp(req->method, "DELETE") == 0) {
        ct_err e = ct_meta_webhook_delete(ev->meta, rest);
        if (e)
            return fail(resp, e == CT_ERR_NOT_FOUND ? 404 : 500,
                        e == CT_ERR_NOT_FOUND ? "no such webhook" : ct_err_str(e));
        resp->status = 204;
        return;
    }
    if (!is_get)
        return fail(resp, 405, "use GET or DELETE");
    ct_meta_webhook w;
    ct_err e = ct_meta_webhook_get(ev->meta, rest, &w);
    if (e)
        return fail(resp, e == CT_ERR_NOT_FOUND ? 404 : 500,
                    e == CT_ERR_NOT_FOUND ? "no such webhook" : ct_err_str(e));
    reply(resp, 200, webhook_json(ev, &w));
    ct_meta_webhook_free(&w);
}

static json_t *delivery_json(const ct_meta_delivery *d)
{
    char created[32], updated[32], next[32] = "";
    ct_time_iso8601(d->created_ms, created);
    ct_time_iso8601(d->updated_ms, updated);
    if (strcmp(d->status, "pending") == 0 && d->next_ms)
        ct_time_iso8601(d->next_ms, next);
    json_t *o = json_pack("{s:I, s:s, s:s, s:s, s:i, s:i, s:s, s:s}", "id", (json_int_t)d->id,
                          "webhook", d->webhook, "eventType", d->kind, "status", d->status,
                          "attempts", d->attempts, "httpStatus", d->http_status, "createdAt",
                          created, "updatedAt", updated);
    json_object_set_new(o, "nextAttemptAt", next[0] ? json_string(next) : json_null());
    json_object_set_new(o, "lastError", d->last_error ? json_string(d->last_error) : json_null());
    return o;
}

static ct_err list_delivery(void *ctx, const ct_meta_delivery *d)
{
    json_array_append_new(ctx, delivery_json(d));
    return CT_OK;
}

static void deliveries(ct_events *ev, const ct_http_req *req, ct_http_resp *resp,
                       const char *rest)
{
    if (strcmp(req->method, "GET") != 0)
        return fail(resp, 405, "use GET");
    if (*rest) {
        char *end = NULL;
        long long id = strtoll(rest, &end, 10);
        ct_meta_delivery d;
        if (!end || *end || id <= 0 || ct_meta_delivery_get(ev->meta, id, &d) != CT_OK)
            return fail(resp, 404, "no such delivery");
        json_t *o = delivery_json(&d);
        json_t *body = json_loads(d.body, 0, NULL);
        json_object_set_new(o, "body", body ? body : json_string(d.body));
        ct_meta_delivery_free(&d);
        return reply(resp, 200, o);
    }
    char *hook = ct_http_query(req, "webhook");
    char *maxs = ct_http_query(req, "max");
    int max = maxs ? atoi(maxs) : 50;
    if (max < 1 || max > DELIVERIES_MAX)
        max = DELIVERIES_MAX;
    json_t *list = json_array();
    ct_err e = ct_meta_delivery_list(ev->meta, hook && *hook ? hook : NULL, max, list_delivery,
                                     list);
    free(hook);
    free(maxs);
    if (e) {
        json_decref(list);
        return fail(resp, 500, ct_err_str(e));
    }
    reply(resp, 200, json_pack("{s:o}", "deliveries", list));
}

static void stream(ct_events *ev, const ct_http_req *req, ct_http_resp *resp)
{
    if (strcmp(req->method, "GET") != 0)
        return fail(resp, 405, "use GET");
    ct_err e = events_hub_attach(ev->hub, ct_http_header(req, "Last-Event-ID"), resp);
    if (e == CT_ERR_TOO_LARGE)
        fail(resp, 503, "too many event streams are open");
    else if (e)
        fail(resp, 500, ct_err_str(e));
}

/* rest after prefix: "" or "/X"; NULL when the path is something else. */
static const char *after(const char *path, const char *prefix)
{
    size_t n = strlen(prefix);
    if (strncmp(path, prefix, n) != 0)
        return NULL;
    if (path[n] == '\0')
        return "";
    if (path[n] == '/')
        return path + n + 1;
    return NULL;
}

void ct_events_admin_handle(ct_events *ev, const ct_http_req *req, ct_http_resp *resp)
{
    const char *rest;
    if (!ev)
        return fail(resp, 503, "events are not running");
    if ((rest = after(req->path, "/cattube/admin/webhooks")))
        return webhooks(ev, req, resp, rest);
    if ((rest = after(req->path, "/cattube/admin/deliveries")))
        return deliveries(ev, req, resp, rest);
    if ((rest = after(req->path, "/cattube/admin/events")) && !*rest)
        return stream(ev, req, resp);
    fail(resp, 404, "no such admin resource");
}
