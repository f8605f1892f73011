/* events.c: the outbox dispatcher: S3 events to their targets, job events to
 * webhooks and the live stream.
 *
 * Job events (rows the jobs-table triggers write, see meta_events.c) are
 * read when meta's on_outbox hook kicks the dispatcher (every job status
 * commit, in this process or, through LISTEN/NOTIFY or SQLite's watcher,
 * another) and every EVENTS_POLL_MS as a fallback: each is rendered once,
 * published to the SSE hub, and turned into one delivery row per webhook
 * whose job filter accepts it (dedup key "job:<event id>:<webhook>", so
 * redoing this after a crash adds nothing twice), then marked done. S3
 * events whose configuration names a webhook ARN become a delivery row the
 * same way ("s3:<outbox id>:<config id>:<webhook>"). The sender thread
 * (webhook.c) does the HTTP. */
#include "events/events_internal.h"

#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EVENTS_POLL_MS 200
#define EVENTS_MAX_ATTEMPTS 20
#define EVENTS_JOB_BATCH 32
#define EVENTS_PRUNE_EVERY_MS (10 * 60 * 1000)
#define EVENTS_KEEP_MS (7LL * 24 * 3600 * 1000)

/* S3 form-encodes event keys ("red flower+1.mp4" -> "red+flower%2B1.mp4")
 * but leaves the '/' separators as they are ("a b/c" -> "a+b/c"). */
static ct_err event_key_encode(ct_buf *out, const char *key)
{
    ct_buf seg = CT_BUF_INIT;
    ct_err e = CT_OK;
    for (const char *p = key;; p++) {
        if (*p != '/' && *p != '\0') {
            if ((e = ct_buf_append(&seg, p, 1)))
                break;
            continue;
        }
        if ((seg.len && (e = ct_form_encode(out, seg.data))) ||
            (*p == '/' && (e = ct_buf_append(out, "/", 1))))
            break;
        ct_buf_reset(&seg);
        if (*p == '\0')
            break;
    }
    ct_buf_free(&seg);
    return e;
}

char *ct_events_s3_message(const ct_meta_outbox_row *r, const char *region,
                           const char *config_id, const char *bucket_owner)
{
    char ts[32], seq[24], arn[128];
    ct_buf key = CT_BUF_INIT;
    ct_time_iso8601(r->time_ms, ts);
    /* Sequencer: hex, increasing per key; the outbox id is monotonic. */
    snprintf(seq, sizeof seq, "%016llX", (unsigned long long)r->id);
    snprintf(arn, sizeof arn, "arn:aws:s3:::%s", r->bucket);
    event_key_encode(&key, r->key);
    json_t *object = json_pack("{s:s, s:I, s:s, s:s}", "key", key.data ? key.data : "", "size",
                               (json_int_t)r->size, "eTag", r->etag, "sequencer", seq);
    if (strncmp(r->event_name, "ObjectRemoved", 13) == 0) {
        json_object_del(object, "size");
        json_object_del(object, "eTag");
    }
    json_t *rec = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:{s:s}, s:{s:s}, s:{s:s, s:s},"
        " s:{s:s, s:s, s:{s:s, s:{s:s}, s:s}, s:o}}",
        "eventVersion", "2.1", "eventSource", "aws:s3", "awsRegion", region, "eventTime", ts,
        "eventName", r->event_name, "userIdentity", "principalId",
        r->principal ? r->principal : "", "requestParameters", "sourceIPAddress",
        r->source_ip ? r->source_ip : "", "responseElements", "x-amz-request-id",
        r->request_id ? r->request_id : "", "x-amz-id-2", r->request_id ? r->request_id : "",
        "s3", "s3SchemaVersion", "1.0", "configurationId", config_id, "bucket", "name",
        r->bucket, "ownerIdentity", "principalId", bucket_owner, "arn", arn, "object", object);
    json_t *msg = json_pack("{s:[o]}", "Records", rec);
    char *s = json_dumps(msg, JSON_COMPACT);
    json_decref(msg);
    ct_buf_free(&key);
    return s;
}

static int event_matches(const char *pattern, const char *event_name)
{
    /* pattern "s3:ObjectCreated:*" vs event "ObjectCreated:Put" */
    if (strncmp(pattern, "s3:", 3) == 0)
        pattern += 3;
    size_t n = strlen(pattern);
    if (n >= 2 && strcmp(pattern + n - 2, ":*") == 0)
        return strncmp(pattern, event_name, n - 1) == 0;
    return strcmp(pattern, event_name) == 0;
}

int ct_events_config_matches(const char *event_name, const char *key, const void *config_json)
{
    json_t *c = (json_t *)config_json;
    const char *prefix = json_string_value(json_object_get(c, "prefix"));
    const char *suffix = json_string_value(json_object_get(c, "suffix"));
    if (prefix && strncmp(key, prefix, strlen(prefix)) != 0)
        return 0;
    if (suffix) {
        size_t kl = strlen(key), sl = strlen(suffix);
        if (sl > kl || strcmp(key + kl - sl, suffix) != 0)
            return 0;
    }
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(c, "events"), i, e) {
        if (event_matches(json_string_value(e), event_name))
            return 1;
    }
    return 0;
}

/* An S3 event for a webhook target: queue a delivery (idempotent). */
static ct_err deliver_webhook(ct_events *ev, const ct_meta_outbox_row *r, const char *arn,
                              const char *config_id, const char *owner)
{
    const char *name = strstr(arn, ":webhook/");
    ct_meta_webhook w;
    if (!name || ct_meta_webhook_get(ev->meta, name + 9, &w) != CT_OK) {
        ct_warn("events: no webhook %s; event for s3://%s/%s dropped", arn, r->bucket, r->key);
        return CT_OK;
    }
    ct_meta_webhook_free(&w);
    name += 9;
    char dedup[400];
    snprintf(dedup, sizeof dedup, "s3:%lld:%.200s:%s", (long long)r->id, config_id, name);
    char *body = ct_events_s3_message(r, ev->region, config_id, owner);
    if (!body)
        return CT_ERR_NOMEM;
    ct_err e = ct_meta_delivery_add(ev->meta, name, "s3", dedup, body, NULL);
    free(body);
    if (!e)
        events_sender_kick(ev->sender);
    return e;
}

/* Delivers to one configuration; CT_OK when accepted (or permanently
 * undeliverable, which is logged), else an error to retry. */
static ct_err deliver(ct_events *ev, const ct_meta_outbox_row *r, json_t *config,
                      const char *owner)
{
    const char *arn = json_string_value(json_object_get(config, "arn"));
    const char *id = json_string_value(json_object_get(config, "id"));
    if (!arn)
        return CT_OK;
    if (strstr(arn, ":mediaconvert:") && strstr(arn, ":jobTemplates/")) {
        char input[2200], idem[256], job_id[40] = "", msg[256] = "";
        snprintf(input, sizeof input, "s3://%s/%s", r->bucket, r->key);
        snprintf(idem, sizeof idem, "s3event:%lld:%s", (long long)r->id, id ? id : "");
        ct_err e = ct_mc_job_from_template(ev->mc, arn, input, idem, job_id, msg, sizeof msg);
        if (e == CT_OK || e == CT_ERR_EXISTS) {
            ct_info("events: %s s3://%s/%s -> job %s", r->event_name, r->bucket, r->key, job_id);
            return CT_OK;
        }
        if (e == CT_ERR_NOT_FOUND || e == CT_ERR_INVALID) {
            ct_error("events: cannot start job from %s for s3://%s/%s: %s", arn, r->bucket,
                     r->key, msg);
            return CT_OK; /* a missing template will not appear by retrying */
        }
        ct_warn("events: job creation failed (%s), will retry", ct_err_str(e));
        return e;
    }
    if (strncmp(arn, CT_EVENTS_WEBHOOK_ARN_PREFIX, strlen(CT_EVENTS_WEBHOOK_ARN_PREFIX)) == 0)
        return deliver_webhook(ev, r, arn, id ? id : "", owner);
    ct_warn("events: target %s is not supported; event for s3://%s/%s dropped", arn, r->bucket,
            r->key);
    return CT_OK;
}

static ct_err dispatch_row(void *ctx, const ct_meta_outbox_row *r)
{
    ct_events *ev = ctx;
    ct_meta_bucket b;
    ct_err e = ct_meta_bucket_get(ev->meta, r->bucket, &b);
    if (e == CT_ERR_NOT_FOUND)
        return ct_meta_outbox_done(ev->meta, r->id);
    if (e)
        return e;
    json_t *doc = b.notification_json ? json_loads(b.notification_json, 0, NULL) : NULL;
    ct_err failed = CT_OK;
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(doc, "configs"), i, c) {
        if (ct_events_config_matches(r->event_name, r->key, c)) {
            ct_err de = deliver(ev, r, c, ev->account_id);
            if (de)
                failed = de;
        }
    }
    json_decref(doc);
    ct_meta_bucket_free(&b);
    if (r->attempts == 0) { /* the live stream sees each S3 event once */
        char *msg = ct_events_s3_message(r, ev->region, "", ev->account_id);
        if (msg)
            events_hub_publish(ev->hub, "s3", msg);
        free(msg);
    }
    if (!failed || r->attempts + 1 >= EVENTS_MAX_ATTEMPTS)
        return ct_meta_outbox_done(ev->meta, r->id);
    int64_t backoff = 1000LL << (r->attempts < 10 ? r->attempts : 10);
    return ct_meta_outbox_retry_later(ev->meta, r->id, ct_now_ms() + backoff,
                                      ct_err_str(failed));
}

/* ---- job events ---- */

typedef struct {
    char names[64][65];
    int n;
    const char *queue, *queue_arn, *status;
} hook_names;

static ct_err collect_hook(void *ctx, const ct_meta_webhook *w)
{
    hook_names *h = ctx;
    if (h->n < 64 && ct_events_job_filter_matches(w->job_filter, h->queue, h->queue_arn,
                                                  h->status))
        snprintf(h->names[h->n++], sizeof h->names[0], "%s", w->name);
    return CT_OK;
}

/* Renders one job event, streams it and queues its webhook deliveries. */
static ct_err dispatch_job_event(ct_events *ev, const ct_meta_job_event *e)
{
    ct_meta_job j;
    ct_err err = ct_meta_job_get(ev->meta, e->job_id, &j);
    if (err == CT_ERR_NOT_FOUND)
        return ct_meta_job_event_done(ev->meta, e->id);
    if (err)
        return err;
    char queue_arn[300], dedup[160];
    snprintf(queue_arn, sizeof queue_arn, "arn:aws:mediaconvert:%s:%s:queues/%s", ev->region,
             ev->account_id, j.queue);
    hook_names *h = calloc(1, sizeof *h);
    char *body = ct_events_job_message(e, &j, ev->region, ev->account_id);
    if (!h || !body) {
        err = CT_ERR_NOMEM;
        goto cleanup;
    }
    *h = (hook_names){.queue = j.queue, .queue_arn = queue_arn, .status = e->status};
    if ((err = ct_meta_webhook_list(ev->meta, collect_hook, h)))
        goto cleanup;
    for (int i = 0; i < h->n && !err; i++) {
        snprintf(dedup, sizeof dedup, "job:%lld:%s", (long long)e->id, h->names[i]);
        err = ct_meta_delivery_add(ev->meta, h->names[i], "mediaconvert", dedup, body, NULL);
    }
    if (err)
        goto cleanup;
    events_hub_publish(ev->hub, "mediaconvert", body);
    if (h->n)
        events_sender_kick(ev->sender);
    err = ct_meta_job_event_done(ev->meta, e->id);
cleanup:
    free(body);
    free(h);
    ct_meta_job_free(&j);
    return err;
}

static void dispatch_job_events(ct_events *ev)
{
    ct_meta_job_event batch[EVENTS_JOB_BATCH];
    int n = 0;
    if (ct_meta_job_events_pending(ev->meta, batch, EVENTS_JOB_BATCH, &n))
        return;
    for (int i = 0; i < n; i++) {
        ct_err e = dispatch_job_event(ev, &batch[i]);
        if (e) { /* keep order: retry this one on the next round */
            ct_warn("events: job event %lld: %s", (long long)batch[i].id, ct_err_str(e));
            return;
        }
    }
}

static void wait_for_kick(ct_events *ev)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    long ns = ts.tv_nsec + EVENTS_POLL_MS * 1000000L;
    ts.tv_sec += ns / 1000000000L;
    ts.tv_nsec = ns % 1000000000L;
    pthread_mutex_lock(&ev->mu);
    while (!ev->kicked && !ev->stopping)
        if (pthread_cond_timedwait(&ev->cv, &ev->mu, &ts) != 0)
            break;
    ev->kicked = 0;
    pthread_mutex_unlock(&ev->mu);
}

static void maybe_prune(ct_events *ev)
{
    int64_t now = ct_now_ms();
    if (now - ev->last_prune_ms < EVENTS_PRUNE_EVERY_MS)
        return;
    ev->last_prune_ms = now;
    if (ct_meta_events_prune(ev->meta, now - EVENTS_KEEP_MS))
        ct_warn("events: prune failed");
}

static void *dispatcher(void *arg)
{
    ct_events *ev = arg;
    while (!ev->stopping) {
        ct_err e = ct_meta_outbox_due(ev->meta, 64, dispatch_row, ev);
        if (e)
            ct_warn("events: dispatch: %s", ct_err_str(e));
        dispatch_job_events(ev);
        maybe_prune(ev);
        wait_for_kick(ev);
    }
    return NULL;
}

void ct_events_kick(ct_events *ev)
{
    pthread_mutex_lock(&ev->mu);
    ev->kicked = 1;
    pthread_cond_signal(&ev->cv);
    pthread_mutex_unlock(&ev->mu);
}

static void kick_hook(void *ctx) { ct_events_kick(ctx); }

ct_err ct_events_start(const ct_events_config *cfg, ct_meta *meta, ct_mc *mc, ct_events **out)
{
    ct_events *ev = calloc(1, sizeof *ev);
    if (!ev)
        return CT_ERR_NOMEM;
    snprintf(ev->region, sizeof ev->region, "%s", cfg->region);
    snprintf(ev->account_id, sizeof ev->account_id, "%s", cfg->account_id);
    ev->meta = meta;
    ev->mc = mc;
    if (cfg->webhook_ca_file && *cfg->webhook_ca_file &&
        !(ev->webhook_ca_file = strdup(cfg->webhook_ca_file))) {
        free(ev);
        return CT_ERR_NOMEM;
    }
    if (cfg->master_key) {
        memcpy(ev->master, cfg->master_key, sizeof ev->master);
        ev->has_master = 1;
        events_secrets_seal_plaintext(ev);
    }
    pthread_mutex_init(&ev->mu, NULL);
    pthread_cond_init(&ev->cv, NULL);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    ct_err e = events_hub_open(&ev->hub);
    if (!e)
        e = events_sender_start(ev, &ev->sender);
    if (!e && pthread_create(&ev->thread, NULL, dispatcher, ev) != 0)
        e = CT_ERR_INTERNAL;
    if (e) {
        events_sender_stop(ev->sender);
        events_hub_close(ev->hub);
        free(ev->webhook_ca_file);
        free(ev);
        return e;
    }
    ct_meta_on_outbox(meta, kick_hook, ev);
    *out = ev;
    return CT_OK;
}

void ct_events_stop(ct_events *ev)
{
    if (!ev)
        return;
    pthread_mutex_lock(&ev->mu);
    ev->stopping = 1;
    pthread_cond_signal(&ev->cv);
    pthread_mutex_unlock(&ev->mu);
    pthread_join(ev->thread, NULL);
    ct_meta_on_outbox(ev->meta, NULL, NULL);
    events_sender_stop(ev->sender);
    events_hub_close(ev->hub);
    pthread_cond_destroy(&ev->cv);
    pthread_mutex_destroy(&ev->mu);
    explicit_bzero(ev->master, sizeof ev->master);
    free(ev->webhook_ca_file);
    free(ev);
}
