/* events: delivers S3 event records from the outbox to their targets.
 *
 * DESIGN: one dispatcher thread reads due outbox rows (oldest first), matches
 * each against the bucket's notification configuration (event type, prefix,
 * suffix) and delivers it to every matching target. The built-in target is a
 * MediaConvert job template ARN used as a LambdaFunctionArn: delivery creates
 * one job from the template with an idempotency key derived from the outbox
 * row and configuration id, so a redelivery after a crash finds the existing
 * job instead of making a second. A row is marked done only after every
 * target accepted it; failures retry with exponential backoff.
 * Ownership: ct_events borrows meta and mc from main. */
#ifndef CT_EVENTS_H
#define CT_EVENTS_H

#include "mc/mc.h"
#include "meta/meta.h"

typedef struct ct_events ct_events;

typedef struct {
    const char *region;
    const char *account_id;
    /* 32 bytes sealing webhook secrets at rest (the IAM master key); NULL:
     * secrets are stored as given. Copied. */
    const unsigned char *master_key;
    /* PEM CAs webhook https URLs are verified against; NULL: the system's.
     * Copied; the caller checks that it parses (ct_client_ca_file_check). */
    const char *webhook_ca_file;
} ct_events_config;

ct_err ct_events_start(const ct_events_config *cfg, ct_meta *meta, ct_mc *mc, ct_events **out);
/* Wakes the dispatcher (safe from any thread). */
void ct_events_kick(ct_events *ev);
void ct_events_stop(ct_events *ev);

/* Admin API under /cattube/admin/webhooks, /cattube/admin/deliveries and
 * /cattube/admin/events (server-sent events). Requests arrive authenticated. */
#include "http/http.h"
void ct_events_admin_handle(ct_events *ev, const ct_http_req *req, ct_http_resp *resp);

/* The S3 event message {"Records":[...]} for one outbox row, exactly as S3
 * writes it (eventVersion 2.1, key form-URL-encoded). Heap string. */
char *ct_events_s3_message(const ct_meta_outbox_row *r, const char *region,
                           const char *config_id, const char *bucket_owner);

/* Does configuration json (one entry of the bucket's "configs") match? */
int ct_events_config_matches(const char *event_name, const char *key, const void *config_json);

/* ---- webhooks (webhook.c, jobevent.c; wire format in webhook.c and
 * docs/webhooks.md) ----
 * A webhook is named by arn:cattube:webhooks:REGION:ACCOUNT:webhook/NAME;
 * such an ARN in a bucket's notification configuration (any of Lambda, Queue
 * or Topic) delivers that configuration's S3 events to the webhook. */
#define CT_EVENTS_WEBHOOK_ARN_PREFIX "arn:cattube:webhooks:"
/* out = "sha256=" + hex(HMAC-SHA256(secret, timestamp "." body)). */
void ct_events_webhook_sign(const char *secret, const char *timestamp, const char *body,
                            size_t body_len, char out[72]);
/* Delay before the next attempt after `attempts` failed ones: 1 s, 2 s, 4 s, ... <= 5 min. */
int64_t ct_events_backoff_ms(int attempts);
/* The EventBridge "MediaConvert Job State Change" event for job event e of
 * job j (j as it is now). Heap string. */
char *ct_events_job_message(const ct_meta_job_event *e, const ct_meta_job *j, const char *region,
                            const char *account_id);
/* Does a webhook's job filter ({} = all; {"queues":[name|arn..], "statuses":[..]})
 * accept this event? NULL filter: the webhook takes no job events. */
int ct_events_job_filter_matches(const char *filter_json, const char *queue_name,
                                 const char *queue_arn, const char *status);

#endif
