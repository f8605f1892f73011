/* meta: all metadata, the job queue and the event outbox, behind one API.
 *
 * DESIGN: every SQL statement in CatTube lives in this module, written once
 * against the small SQL seam in db.h, which has two drivers: SQLite (the
 * embedded default: WAL, synchronous=FULL, so a committed transaction
 * survives power loss) and PostgreSQL (several API nodes and workers on many
 * hosts share one database). Each ct_meta holds one connection guarded by a
 * mutex. With PostgreSQL, work that many processes poll for is claimed, not
 * just read: jobs, outbox rows, job events and webhook deliveries are taken
 * with SELECT ... FOR UPDATE SKIP LOCKED under a lease, so each is handled
 * once cluster-wide, and LISTEN/NOTIFY wakes other processes' workers and
 * dispatchers (the on_job/on_outbox hooks fire for their commits too).
 * Each file owns its tables: meta_objects.c (buckets, objects,
 * notifications, outbox), meta_uploads.c, meta_jobs.c (queues, templates,
 * presets, jobs), meta_iam.c, meta_events.c (webhooks, job events,
 * deliveries), meta_edge.c (distributions, edge items); meta.c (kv);
 * meta_retention.c deletes expired jobs across those tables.
 * Ownership: strings in returned structs that are char* are heap copies the
 * caller frees with the matching *_free function; ct_meta is owned by main. */
#ifndef CT_META_H
#define CT_META_H

#include "core/core.h"

typedef struct ct_meta ct_meta;

/* url_or_path: "postgres://..." / "postgresql://..." (a libpq URI) opens
 * PostgreSQL; anything else is a SQLite file path. */
ct_err ct_meta_open(const char *url_or_path, ct_meta **out);
ct_err ct_meta_open_sqlite(const char *path, ct_meta **out);
void ct_meta_close(ct_meta *m);
/* 1 when other hosts may share the database (PostgreSQL). */
int ct_meta_is_shared(const ct_meta *m);

/* Wake-up hooks, called outside meta's lock after a commit that added
 * outbox rows or job events (on_outbox) or made jobs claimable (on_job);
 * also for other processes' commits, from a listener thread (PostgreSQL:
 * LISTEN/NOTIFY; SQLite: PRAGMA data_version polled every 20 ms,
 * meta_watch.c).
 * Setting NULL waits for a running call to return. */
typedef void (*ct_meta_notify_fn)(void *ctx);
void ct_meta_on_outbox(ct_meta *m, ct_meta_notify_fn fn, void *ctx);
void ct_meta_on_job(ct_meta *m, ct_meta_notify_fn fn, void *ctx);

/* A number that changes whenever the database may have changed: after every
 * write transaction this process commits (before the call returns) and, on
 * SQLite, within the watch's 20 ms of another process's commit. A reader
 * that kept a row together with the epoch it read before fetching it may
 * reuse the row while the epoch is unchanged (the edge's inline objects).
 * 0 means "unknown" (PostgreSQL, where other hosts write): check the row. */
uint64_t ct_meta_write_epoch(ct_meta *m);

/* ---- key/value settings (root credentials, account id, ...) ---- */
ct_err ct_meta_kv_get(ct_meta *m, const char *key, char **value /* heap */);
ct_err ct_meta_kv_set(ct_meta *m, const char *key, const char *value);
/* Sets key only if absent; *stored (heap) gets the value now stored. */
ct_err ct_meta_kv_add(ct_meta *m, const char *key, const char *value, char **stored);

/* ---- buckets ---- */
typedef struct {
    char name[64];
    int64_t created_ms;
    char *notification_json; /* CatTube's normalised notification config, or NULL */
    char *policy_json;       /* bucket policy, or NULL */
} ct_meta_bucket;
void ct_meta_bucket_free(ct_meta_bucket *b);
ct_err ct_meta_bucket_create(ct_meta *m, const char *name); /* CT_ERR_EXISTS */
ct_err ct_meta_bucket_get(ct_meta *m, const char *name, ct_meta_bucket *out);
/* CT_ERR_CONFLICT when not empty. */
ct_err ct_meta_bucket_delete(ct_meta *m, const char *name);
typedef ct_err (*ct_meta_bucket_cb)(void *ctx, const ct_meta_bucket *b);
ct_err ct_meta_bucket_list(ct_meta *m, ct_meta_bucket_cb cb, void *ctx);
ct_err ct_meta_bucket_set_notification(ct_meta *m, const char *name, const char *json);
ct_err ct_meta_bucket_set_policy(ct_meta *m, const char *name, const char *json /* NULL = delete */);

/* ---- objects ----
 * Small objects are stored inline: their bytes are in the object row
 * (is_inline, blob_id ""), so a PUT costs one durable commit instead of a
 * blob fsync and then a commit. ct_meta_object_get returns the bytes
 * (inline_data, heap, followed by a NUL so a ct_buf may adopt it; freed by
 * ct_meta_object_free unless taken, i.e. set to NULL); listings set is_inline
 * but never read the bytes. A put writes inline_data when is_inline (NULL
 * with inline_len 0 is an empty object). */
typedef struct {
    char *bucket;
    char *key;
    char blob_id[64];        /* "" for an inline object */
    int is_inline;
    unsigned char *inline_data;
    size_t inline_len;
    uint64_t size;
    char etag[80];           /* without quotes */
    char *content_type;
    char *meta_json;         /* {"x-amz-meta-foo": "bar", "cache-control": ...} or NULL */
    int64_t mtime_ms;
} ct_meta_object;
void ct_meta_object_free(ct_meta_object *o);

/* An S3 event to write to the outbox in the same transaction. */
typedef struct {
    const char *event_name;  /* "ObjectCreated:Put", "ObjectRemoved:Delete", ... */
    const char *principal;   /* principalId of the requester */
    const char *source_ip;
    const char *request_id;
} ct_meta_event_info;

/* Inserts or replaces (bucket,key). Any replaced blob id is returned in
 * old_blob (empty string if none or inline) so the caller removes its bytes after the
 * commit. Writes one outbox row when ev is non-NULL. CT_ERR_NOT_FOUND when the
 * bucket does not exist. */
ct_err ct_meta_object_put(ct_meta *m, const ct_meta_object *o, const ct_meta_event_info *ev,
                          char old_blob[64]);
/* Conditional write (S3's If-None-Match: * / If-Match on PUT), checked in the
 * same transaction as the write: CT_ERR_PRECONDITION when it does not hold
 * (including If-Match on a missing object). */
typedef struct {
    int if_none_match_star;
    const char *if_match;    /* ETag, quoted or not; NULL = no condition */
} ct_meta_put_cond;
ct_err ct_meta_object_put_if(ct_meta *m, const ct_meta_object *o, const ct_meta_event_info *ev,
                             const ct_meta_put_cond *cond, char old_blob[64]);
ct_err ct_meta_object_get(ct_meta *m, const char *bucket, const char *key, ct_meta_object *out);
/* Deletes; old blob returned as above. CT_ERR_NOT_FOUND if absent (S3 still answers 204). */
ct_err ct_meta_object_delete(ct_meta *m, const char *bucket, const char *key,
                             const ct_meta_event_info *ev, char old_blob[64]);
/* Lists keys > after (byte order) with the prefix; at most max rows (+1 to
 * detect truncation is the caller's business). */
typedef ct_err (*ct_meta_object_cb)(void *ctx, const ct_meta_object *o);
ct_err ct_meta_object_list(ct_meta *m, const char *bucket, const char *prefix, const char *after,
                           int max, ct_meta_object_cb cb, void *ctx);
/* Whether an object or a multipart part uses the blob (orphan sweep at start). */
ct_err ct_meta_blob_is_referenced(ct_meta *m, const char *blob_id, int *referenced);

/* ---- multipart uploads (meta_uploads.c) ---- */
typedef struct {
    char upload_id[64];
    char *bucket;
    char *key;
    char *content_type;
    char *meta_json;
    int64_t created_ms;
} ct_meta_upload;
void ct_meta_upload_free(ct_meta_upload *u);
ct_err ct_meta_upload_create(ct_meta *m, const ct_meta_upload *u); /* NOT_FOUND: no bucket */
ct_err ct_meta_upload_get(ct_meta *m, const char *upload_id, ct_meta_upload *out);
typedef struct {
    int part_number;
    char blob_id[64];
    uint64_t size;
    char etag[40];
    int64_t mtime_ms;
} ct_meta_part;
/* Records a part; a replaced part's blob is returned in old_blob ("" if none). */
ct_err ct_meta_part_put(ct_meta *m, const char *upload_id, const ct_meta_part *p,
                        char old_blob[64]);
typedef ct_err (*ct_meta_part_cb)(void *ctx, const ct_meta_part *p);
/* Parts in part-number order, starting after part number `after`. */
ct_err ct_meta_part_list(ct_meta *m, const char *upload_id, int after, int max,
                         ct_meta_part_cb cb, void *ctx);
/* Removes the upload and its part rows; the caller removes part blobs it
 * listed before. */
ct_err ct_meta_upload_delete(ct_meta *m, const char *upload_id);
/* A completed upload's result, so that completing it again answers the same
 * ETag (as S3 does). */
ct_err ct_meta_upload_completed_put(ct_meta *m, const char *upload_id, const char *bucket,
                                    const char *key, const char *etag);
ct_err ct_meta_upload_completed_get(ct_meta *m, const char *upload_id, char bucket[64],
                                    char **key, char etag[80]);
typedef ct_err (*ct_meta_upload_cb)(void *ctx, const ct_meta_upload *u);
ct_err ct_meta_upload_list(ct_meta *m, const char *bucket, ct_meta_upload_cb cb, void *ctx);
/* Uploads older than cutoff (stale-upload cleanup). */
ct_err ct_meta_upload_list_older(ct_meta *m, int64_t cutoff_ms, ct_meta_upload_cb cb, void *ctx);

/* ---- outbox (S3 event records awaiting delivery) ---- */
typedef struct {
    int64_t id;              /* also the basis of the event's sequencer */
    char *bucket;
    char *key;
    char *event_name;
    uint64_t size;
    char etag[80];
    char *principal;
    char *source_ip;
    char *request_id;
    int64_t time_ms;
    int attempts;
} ct_meta_outbox_row;
void ct_meta_outbox_row_free(ct_meta_outbox_row *r);
/* Oldest undelivered rows whose next attempt is due, in id order. On
 * PostgreSQL they are claimed for 30 s: other processes do not get them
 * until done/retry_later settles them or the claim runs out. */
typedef ct_err (*ct_meta_outbox_cb)(void *ctx, const ct_meta_outbox_row *r);
ct_err ct_meta_outbox_due(ct_meta *m, int max, ct_meta_outbox_cb cb, void *ctx);
ct_err ct_meta_outbox_done(ct_meta *m, int64_t id);
ct_err ct_meta_outbox_retry_later(ct_meta *m, int64_t id, int64_t next_attempt_ms,
                                  const char *last_error);

/* ---- MediaConvert: queues, job templates, presets, jobs (meta_jobs.c) ----
 * Records are stored as their wire JSON (lowerCamelCase) plus the columns
 * needed to filter and order. */
typedef struct {
    char name[129];
    char *json;              /* wire form: {"name":..,"arn":..,"status":..,...} */
    char status[16];         /* ACTIVE | PAUSED */
    int max_running;         /* concurrency limit: PROGRESSING jobs at most; 0 = unlimited */
} ct_meta_queue;
void ct_meta_queue_free(ct_meta_queue *q);
/* A new queue is unlimited; an existing one keeps its limit. */
ct_err ct_meta_queue_put(ct_meta *m, const char *name, const char *status, const char *json,
                         int create_only /* CT_ERR_EXISTS if present */);
/* The same, setting the concurrency limit (0 = unlimited): a claim never
 * makes more than max_running of the queue's jobs PROGRESSING with a live
 * lease, on either engine and with any number of claimers (meta_jobs.c). */
ct_err ct_meta_queue_put_limit(ct_meta *m, const char *name, const char *status,
                               const char *json, int create_only, int max_running);
ct_err ct_meta_queue_get(ct_meta *m, const char *name, ct_meta_queue *out);
/* CT_ERR_CONFLICT while jobs are SUBMITTED or PROGRESSING in it. */
ct_err ct_meta_queue_delete(ct_meta *m, const char *name);
typedef ct_err (*ct_meta_json_cb)(void *ctx, const char *json);
ct_err ct_meta_queue_list(ct_meta *m, ct_meta_json_cb cb, void *ctx);
/* Jobs of the queue now SUBMITTED and PROGRESSING (for the Queue record). */
ct_err ct_meta_queue_counts(ct_meta *m, const char *name, int *submitted, int *progressing);

/* kind: "template" or "preset" */
ct_err ct_meta_named_put(ct_meta *m, const char *kind, const char *name, const char *json,
                         int create_only);
ct_err ct_meta_named_get(ct_meta *m, const char *kind, const char *name, char **json);
ct_err ct_meta_named_delete(ct_meta *m, const char *kind, const char *name);
ct_err ct_meta_named_list(ct_meta *m, const char *kind, ct_meta_json_cb cb, void *ctx);

typedef struct {
    char id[40];
    char queue[129];
    int priority;
    char status[16];         /* SUBMITTED PROGRESSING COMPLETE ERROR CANCELED */
    char phase[16];          /* PROBING TRANSCODING UPLOADING or "" */
    int percent;
    int64_t created_ms, start_ms, finish_ms;
    int retry_count;
    int error_code;
    char *error_message;
    char *spec_json;         /* the job as created, wire form (role, settings, ...) */
    char *output_details_json; /* outputGroupDetails array, or NULL */
    char *warnings_json;     /* warnings array, or NULL */
    int attempt;             /* lease generation; bumped by every claim */
    int cancel_requested;
} ct_meta_job;
void ct_meta_job_free(ct_meta_job *j);

/* Inserts a SUBMITTED job. When idem_key is non-NULL and a job with that key
 * exists, returns CT_ERR_EXISTS and that job's id in id_out instead. */
ct_err ct_meta_job_insert(ct_meta *m, ct_meta_job *j, const char *idem_key, char id_out[40]);
ct_err ct_meta_job_get(ct_meta *m, const char *id, ct_meta_job *out);
/* The id of the job inserted with idem_key; CT_ERR_NOT_FOUND when none. */
ct_err ct_meta_job_find_idem(ct_meta *m, const char *idem_key, char id_out[40]);
typedef struct {
    const char *queue;       /* NULL = any */
    const char *status;      /* NULL = any */
    int ascending;           /* order by created */
    int max;                 /* 1..20 */
    const char *after_token; /* opaque continuation from a previous call */
    const char *input_file;  /* substring of settings FileInput (SearchJobs) */
} ct_meta_job_filter;
typedef ct_err (*ct_meta_job_cb)(void *ctx, const ct_meta_job *j);
/* next_token (heap) is set when more rows exist. */
ct_err ct_meta_job_list(ct_meta *m, const ct_meta_job_filter *f, ct_meta_job_cb cb, void *ctx,
                        char **next_token);
/* Marks cancel_requested; a SUBMITTED job becomes CANCELED at once.
 * CT_ERR_CONFLICT when already finished. */
ct_err ct_meta_job_cancel(ct_meta *m, const char *id);

/* Worker side. Claims the best SUBMITTED job from an ACTIVE queue (priority
 * desc, then created asc), or a PROGRESSING job whose lease expired; sets it
 * PROGRESSING with lease_owner/lease_until, attempt+1. Queues at their
 * max_running are skipped (their jobs wait, other queues' jobs go ahead).
 * CT_ERR_NOT_FOUND when nothing is ready. */
ct_err ct_meta_job_claim(ct_meta *m, const char *worker_id, int64_t lease_ms, ct_meta_job *out);
/* Renews the lease and records progress; CT_ERR_CONFLICT when the lease was
 * lost (attempt differs) and *cancel set when a cancel was requested. */
ct_err ct_meta_job_heartbeat(ct_meta *m, const char *id, int attempt, const char *phase,
                             int percent, int64_t lease_ms, int *cancel);
/* Final state; CT_ERR_CONFLICT when the lease was lost. */
ct_err ct_meta_job_finish(ct_meta *m, const char *id, int attempt, const char *status,
                          int error_code, const char *error_message,
                          const char *output_details_json, const char *warnings_json);

/* Job retention (meta_retention.c): deletes jobs that finished (COMPLETE,
 * ERROR, CANCELED) more than retention_ms ago on meta's clock, with their job
 * events and settled webhook deliveries, in transactions of at most batch
 * jobs (<= 0: CT_META_JOB_PURGE_BATCH). SUBMITTED and PROGRESSING jobs are
 * never deleted; a job with an event not yet dispatched or a delivery still
 * pending is kept for a later pass. retention_ms <= 0 keeps everything.
 * Stops after max_jobs (<= 0: when none is left). Safe to run from several
 * processes at once. *deleted (optional): jobs deleted, also when a later
 * batch failed. */
#define CT_META_JOB_PURGE_BATCH 500
ct_err ct_meta_job_purge(ct_meta *m, int64_t retention_ms, int batch, int max_jobs,
                         int *deleted);

/* ---- edge distributions (meta_edge.c) ---- */
ct_err ct_meta_distribution_put(ct_meta *m, const char *id, const char *json, int create_only);
ct_err ct_meta_distribution_get(ct_meta *m, const char *id, char **json);
ct_err ct_meta_distribution_delete(ct_meta *m, const char *id);
ct_err ct_meta_distribution_list(ct_meta *m, ct_meta_json_cb cb, void *ctx);

/* ---- IAM users, access keys, inline identity policies (meta_iam.c) ----
 * Secrets are stored as given (SigV4 needs them back). Callbacks run with
 * meta's lock held: they must not call meta. */
typedef struct {
    char name[72];
    char user_id[32];
    int64_t created_ms;
    char access_key[32];     /* the user's first key, or "" */
} ct_meta_iam_user;
/* User and its first key in one transaction; CT_ERR_EXISTS when taken. */
ct_err ct_meta_iam_user_create(ct_meta *m, const char *name, const char *user_id,
                               const char *access_key, const char *secret);
/* Also deletes its keys and policies; CT_ERR_NOT_FOUND. */
ct_err ct_meta_iam_user_delete(ct_meta *m, const char *name);
ct_err ct_meta_iam_user_get(ct_meta *m, const char *name, ct_meta_iam_user *out);
typedef ct_err (*ct_meta_iam_user_cb)(void *ctx, const ct_meta_iam_user *u);
ct_err ct_meta_iam_user_list(ct_meta *m, ct_meta_iam_user_cb cb, void *ctx);
/* The user owning access_key and its secret; CT_ERR_NOT_FOUND. */
ct_err ct_meta_iam_key_get(ct_meta *m, const char *access_key, char user[72], char *secret,
                           size_t secret_len);
/* Inserts or replaces; CT_ERR_NOT_FOUND when the user does not exist. */
ct_err ct_meta_iam_policy_put(ct_meta *m, const char *user, const char *policy_name,
                              const char *document);
ct_err ct_meta_iam_policy_delete(ct_meta *m, const char *user, const char *policy_name);
typedef ct_err (*ct_meta_iam_policy_cb)(void *ctx, const char *policy_name, const char *document);
ct_err ct_meta_iam_policy_list(ct_meta *m, const char *user, ct_meta_iam_policy_cb cb, void *ctx);
/* ---- IAM roles and their inline identity policies (meta_iam.c) ----
 * The identities jobs run as (MediaConvert's Role); no trust policies. */
typedef struct {
    char name[72];
    char role_id[32];
    int64_t created_ms;
} ct_meta_iam_role;
/* CT_ERR_EXISTS when taken. */
ct_err ct_meta_iam_role_create(ct_meta *m, const char *name, const char *role_id);
/* Creates the role with one policy unless a role of that name exists
 * (then nothing changes: an operator's edits stay). */
ct_err ct_meta_iam_role_seed(ct_meta *m, const char *name, const char *role_id,
                             const char *policy_name, const char *document);
/* Also deletes its policies; CT_ERR_NOT_FOUND. */
ct_err ct_meta_iam_role_delete(ct_meta *m, const char *name);
ct_err ct_meta_iam_role_get(ct_meta *m, const char *name, ct_meta_iam_role *out);
typedef ct_err (*ct_meta_iam_role_cb)(void *ctx, const ct_meta_iam_role *r);
ct_err ct_meta_iam_role_list(ct_meta *m, ct_meta_iam_role_cb cb, void *ctx);
/* As the user policy calls; put: CT_ERR_NOT_FOUND when the role does not exist. */
ct_err ct_meta_iam_role_policy_put(ct_meta *m, const char *role, const char *policy_name,
                                   const char *document);
ct_err ct_meta_iam_role_policy_delete(ct_meta *m, const char *role, const char *policy_name);
ct_err ct_meta_iam_role_policy_list(ct_meta *m, const char *role, ct_meta_iam_policy_cb cb,
                                    void *ctx);
/* Other edge records by kind ("public-key", "key-group", ...): JSON by id,
 * listed oldest first (the callback must not call back into meta).
 * put with create_only: CT_ERR_EXISTS when present; delete: CT_ERR_NOT_FOUND. */
ct_err ct_meta_edge_item_put(ct_meta *m, const char *kind, const char *id, const char *json,
                             int create_only);
ct_err ct_meta_edge_item_get(ct_meta *m, const char *kind, const char *id, char **json);
ct_err ct_meta_edge_item_delete(ct_meta *m, const char *kind, const char *id);
ct_err ct_meta_edge_item_list(ct_meta *m, const char *kind, ct_meta_json_cb cb, void *ctx);

/* ---- webhooks, job-event outbox, webhook deliveries (meta_events.c) ----
 * Job events are written by triggers on the jobs table in the same
 * transaction as the job's state change; see meta_events.c. */
typedef struct {
    char name[65];
    char *url;
    char *secret;
    char *job_filter;        /* NULL: no job events; JSON {} all, or {"queues":[..],"statuses":[..]} */
    int64_t created_ms;
} ct_meta_webhook;
void ct_meta_webhook_free(ct_meta_webhook *w);
ct_err ct_meta_webhook_create(ct_meta *m, const ct_meta_webhook *w); /* CT_ERR_EXISTS */
ct_err ct_meta_webhook_get(ct_meta *m, const char *name, ct_meta_webhook *out);
ct_err ct_meta_webhook_delete(ct_meta *m, const char *name);
/* Replaces the stored secret only while it is still `old` (sealing a
 * plaintext row: another node may have done it first). CT_ERR_NOT_FOUND when
 * the row is gone or changed. */
ct_err ct_meta_webhook_set_secret(ct_meta *m, const char *name, const char *old,
                                  const char *secret);
typedef ct_err (*ct_meta_webhook_cb)(void *ctx, const ct_meta_webhook *w);
ct_err ct_meta_webhook_list(ct_meta *m, ct_meta_webhook_cb cb, void *ctx);

typedef struct {
    int64_t id;
    char job_id[40];
    char status[16];         /* SUBMITTED PROGRESSING STATUS_UPDATE COMPLETE ERROR CANCELED */
    char phase[16];
    int percent;
    int64_t time_ms;
} ct_meta_job_event;
/* Oldest not-yet-dispatched job events, at most max, into out (id order;
 * claimed for 30 s on PostgreSQL, like the outbox). */
ct_err ct_meta_job_events_pending(ct_meta *m, ct_meta_job_event *out, int max, int *n);
ct_err ct_meta_job_event_done(ct_meta *m, int64_t id);
/* Drops dispatched job events and finished deliveries older than cutoff. */
ct_err ct_meta_events_prune(ct_meta *m, int64_t cutoff_ms);

typedef struct {
    int64_t id;
    char webhook[65];
    char kind[16];           /* "s3" | "mediaconvert" */
    char *body;              /* only from _due and _get */
    char status[12];         /* pending | delivered | failed */
    int attempts;
    int64_t next_ms;
    int http_status;         /* of the last attempt, 0 when none/no response */
    char *last_error;
    int64_t created_ms, updated_ms;
} ct_meta_delivery;
void ct_meta_delivery_free(ct_meta_delivery *d);
/* Idempotent per dedup key (NULL = always adds); *added (optional) is 0 when
 * the key already existed. */
ct_err ct_meta_delivery_add(ct_meta *m, const char *webhook, const char *kind, const char *dedup,
                            const char *body, int *added);
/* Pending deliveries with next_ms <= now, at most max, into out (free each).
 * On PostgreSQL claimed for 30 s (next_ms moves ahead) until _result. */
ct_err ct_meta_delivery_due(ct_meta *m, int64_t now, ct_meta_delivery *out, int max, int *n);
/* Earliest next_ms of a pending delivery; 0 when none. */
ct_err ct_meta_delivery_next_due(ct_meta *m, int64_t *next_ms);
/* Records one attempt (attempts+1) and the new state. */
ct_err ct_meta_delivery_result(ct_meta *m, int64_t id, const char *status, int http_status,
                               const char *error, int64_t next_ms);
typedef ct_err (*ct_meta_delivery_cb)(void *ctx, const ct_meta_delivery *d);
/* Newest first; webhook NULL = all. Bodies are not loaded. */
ct_err ct_meta_delivery_list(ct_meta *m, const char *webhook, int max, ct_meta_delivery_cb cb,
                             void *ctx);
ct_err ct_meta_delivery_get(ct_meta *m, int64_t id, ct_meta_delivery *out);

#endif
