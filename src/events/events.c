/* events.c: the outbox dispatcher. */
#include "events/events.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EVENTS_POLL_MS 1000
#define EVENTS_MAX_ATTEMPTS 20

struct ct_events {
    char region[32];
    char account_id[16];
    ct_meta *meta;
    ct_mc *mc;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int kicked;
    int stopping;
};

char *ct_events_s3_message(const ct_meta_outbox_row *r, const char *region,
                           const char *config_id, const char *bucket_owner)
{
    char ts[32], seq[24], arn[128];
    ct_buf key = CT_BUF_INIT;
    ct_time_iso8601(r->time_ms, ts);
    /* Sequencer: hex, increasing per key; the outbox id is monotonic. */
    snprintf(seq, sizeof seq, "%016llX", (unsigned long long)r->id);
    snprintf(arn, sizeof arn, "arn:aws:s3:::%s", r->bucket);
    ct_form_encode(&key, r->key);
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

/* Delivers to one configuration; CT_OK when accepted (or permanently
 * undeliverable, which is logged), else an error to retry. */
static ct_err deliver(ct_events *ev, const ct_meta_outbox_row *r, json_t *config)
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
    ct_warn("events: target %s is not supported yet; event for s3://%s/%s dropped", arn,
            r->bucket, r->key);
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
            ct_err de = deliver(ev, r, c);
            if (de)
                failed = de;
        }
    }
    json_decref(doc);
    ct_meta_bucket_free(&b);
    if (!failed || r->attempts + 1 >= EVENTS_MAX_ATTEMPTS)
        return ct_meta_outbox_done(ev->meta, r->id);
    int64_t backoff = 1000LL << (r->attempts < 10 ? r->attempts : 10);
    return ct_meta_outbox_retry_later(ev->meta, r->id, ct_now_ms() + backoff,
                                      ct_err_str(failed));
}

static void wait_for_kick(ct_events *ev)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += EVENTS_POLL_MS / 1000;
    pthread_mutex_lock(&ev->mu);
    while (!ev->kicked && !ev->stopping)
        if (pthread_cond_timedwait(&ev->cv, &ev->mu, &ts) != 0)
            break;
    ev->kicked = 0;
    pthread_mutex_unlock(&ev->mu);
}

static void *dispatcher(void *arg)
{
    ct_events *ev = arg;
    while (!ev->stopping) {
        ct_err e = ct_meta_outbox_due(ev->meta, 64, dispatch_row, ev);
        if (e)
            ct_warn("events: dispatch: %s", ct_err_str(e));
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
    pthread_mutex_init(&ev->mu, NULL);
    pthread_cond_init(&ev->cv, NULL);
    if (pthread_create(&ev->thread, NULL, dispatcher, ev) != 0) {
        free(ev);
        return CT_ERR_INTERNAL;
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
    pthread_cond_destroy(&ev->cv);
    pthread_mutex_destroy(&ev->mu);
    free(ev);
}
