/* Unit tests for meta on both engines (SQLite, then PostgreSQL; see
 * ct_test_pg.h): kv, IAM, edge records, job-event triggers, deliveries, and
 * what several processes sharing one database need: concurrent claims take
 * each job once, concurrent idempotent inserts make one job, concurrent
 * writes to one key hand back every replaced blob exactly once, and (on
 * PostgreSQL) outbox rows and deliveries claimed by one handle are not handed
 * to another; job retention, and several handles purging expired jobs at
 * once; per-queue concurrency limits (a full queue's jobs wait while other
 * queues' run; several handles never exceed a limit; the column is added to
 * older databases). Each thread opens its own ct_meta, as separate
 * processes do. */
#include "ct_test.h"
#include "ct_test_pg.h"
#include "meta/meta.h"
#include "meta/meta_search.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[64] = "/tmp/ct_test_meta_engines_XXXXXX";
static char db_url[512];
static int is_pg;

static ct_meta *open_db(void)
{
    ct_meta *m = NULL;
    CHECK(ct_meta_open(db_url, &m) == CT_OK);
    return m;
}

/* Raw SQL on the engine under test, outside meta (test set-up only). */
static void raw_sql(const char *sql)
{
    if (is_pg) {
        PGconn *c = PQconnectdb(db_url);
        PGresult *r = PQexec(c, sql);
        CHECK(PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK);
        PQclear(r);
        PQfinish(c);
    } else {
        sqlite3 *db = NULL;
        CHECK(sqlite3_open(db_url, &db) == SQLITE_OK);
        sqlite3_busy_timeout(db, 5000);
        CHECK(sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK);
        sqlite3_close(db);
    }
}

static ct_err count_json(void *ctx, const char *json)
{
    (void)json;
    (*(int *)ctx)++;
    return CT_OK;
}

static void test_kv(ct_meta *m)
{
    char *v = NULL;
    CHECK(ct_meta_kv_get(m, "nope", &v) == CT_ERR_NOT_FOUND);
    CHECK(ct_meta_kv_set(m, "a", "1") == CT_OK);
    CHECK(ct_meta_kv_set(m, "a", "2") == CT_OK);
    CHECK(ct_meta_kv_get(m, "a", &v) == CT_OK);
    CHECK_STR(v, "2");
    free(v);
    CHECK(ct_meta_kv_add(m, "a", "3", &v) == CT_OK);
    CHECK_STR(v, "2"); /* kept the first */
    free(v);
    CHECK(ct_meta_kv_add(m, "b", "x", &v) == CT_OK);
    CHECK_STR(v, "x");
    free(v);
}

static ct_err count_user(void *ctx, const ct_meta_iam_user *u)
{
    (void)u;
    (*(int *)ctx)++;
    return CT_OK;
}

static ct_err count_policy(void *ctx, const char *name, const char *doc)
{
    (void)name, (void)doc;
    (*(int *)ctx)++;
    return CT_OK;
}

static void test_iam(ct_meta *m)
{
    ct_meta_iam_user u;
    char user[72], secret[64];
    int n = 0;
    CHECK(ct_meta_iam_user_create(m, "alice", "AIDA1", "AKIA1", "s1") == CT_OK);
    CHECK(ct_meta_iam_user_create(m, "alice", "AIDA2", "AKIA2", "s2") == CT_ERR_EXISTS);
    CHECK(ct_meta_iam_key_get(m, "AKIA2", user, secret, sizeof secret) == CT_ERR_NOT_FOUND);
    CHECK(ct_meta_iam_user_get(m, "alice", &u) == CT_OK);
    CHECK_STR(u.access_key, "AKIA1");
    CHECK(ct_meta_iam_user_list(m, count_user, &n) == CT_OK && n == 1);
    CHECK(ct_meta_iam_key_get(m, "AKIA1", user, secret, sizeof secret) == CT_OK);
    CHECK_STR(user, "alice");
    CHECK_STR(secret, "s1");
    CHECK(ct_meta_iam_policy_put(m, "alice", "p", "{}") == CT_OK);
    CHECK(ct_meta_iam_policy_put(m, "alice", "p", "{\"v\":2}") == CT_OK);
    CHECK(ct_meta_iam_policy_put(m, "bob", "p", "{}") == CT_ERR_NOT_FOUND);
    n = 0;
    CHECK(ct_meta_iam_policy_list(m, "alice", count_policy, &n) == CT_OK && n == 1);
    CHECK(ct_meta_iam_user_delete(m, "alice") == CT_OK);
    CHECK(ct_meta_iam_user_delete(m, "alice") == CT_ERR_NOT_FOUND);
    CHECK(ct_meta_iam_key_get(m, "AKIA1", user, secret, sizeof secret) == CT_ERR_NOT_FOUND);
}

static ct_err first_json(void *ctx, const char *json)
{
    char *out = ctx;
    if (!out[0])
        snprintf(out, 64, "%s", json);
    return CT_OK;
}

static void test_edge(ct_meta *m)
{
    char *json = NULL, first[64] = "";
    int n = 0;
    CHECK(ct_meta_distribution_put(m, "D1", "{\"id\":\"D1\"}", 1) == CT_OK);
    CHECK(ct_meta_distribution_put(m, "D2", "{\"id\":\"D2\"}", 1) == CT_OK);
    CHECK(ct_meta_distribution_put(m, "D1", "{}", 1) == CT_ERR_EXISTS);
    CHECK(ct_meta_distribution_put(m, "D1", "{\"id\":\"D1\",\"v\":2}", 0) == CT_OK);
    CHECK(ct_meta_distribution_get(m, "D1", &json) == CT_OK);
    CHECK_STR(json, "{\"id\":\"D1\",\"v\":2}");
    free(json);
    CHECK(ct_meta_distribution_list(m, first_json, first) == CT_OK);
    CHECK_STR(first, "{\"id\":\"D1\",\"v\":2}"); /* creation order survives the update */
    CHECK(ct_meta_distribution_delete(m, "D1") == CT_OK);
    CHECK(ct_meta_distribution_delete(m, "D1") == CT_ERR_NOT_FOUND);
    CHECK(ct_meta_distribution_get(m, "D1", &json) == CT_ERR_NOT_FOUND);
    CHECK(ct_meta_edge_item_put(m, "key-group", "K1", "{}", 1) == CT_OK);
    CHECK(ct_meta_edge_item_put(m, "key-group", "K1", "{}", 1) == CT_ERR_EXISTS);
    CHECK(ct_meta_edge_item_put(m, "public-key", "K1", "{}", 1) == CT_OK);
    CHECK(ct_meta_edge_item_list(m, "key-group", count_json, &n) == CT_OK && n == 1);
    CHECK(ct_meta_edge_item_delete(m, "key-group", "K1") == CT_OK);
    CHECK(ct_meta_edge_item_get(m, "key-group", "K1", &json) == CT_ERR_NOT_FOUND);
}

static int pending_statuses(ct_meta *m, char out[][16], int max)
{
    ct_meta_job_event ev[16];
    int n = 0;
    CHECK(ct_meta_job_events_pending(m, ev, 16, &n) == CT_OK);
    for (int i = 0; i < n && i < max; i++) {
        snprintf(out[i], 16, "%s", ev[i].status);
        CHECK(ct_meta_job_event_done(m, ev[i].id) == CT_OK);
    }
    return n;
}

static void test_job_event_triggers(ct_meta *m)
{
    char st[16][16], id[40];
    ct_meta_job j, c;
    memset(&j, 0, sizeof j);
    CHECK(ct_meta_queue_put(m, "Default", "ACTIVE", "{}", 0) == CT_OK);
    snprintf(j.queue, sizeof j.queue, "Default");
    j.spec_json = (char *)"{\"statusUpdateInterval\":\"SECONDS_10\"}";
    CHECK(ct_meta_job_insert(m, &j, NULL, id) == CT_OK);
    CHECK(pending_statuses(m, st, 16) == 1);
    CHECK_STR(st[0], "SUBMITTED");
    CHECK(ct_meta_job_claim(m, "w", 60000, &c) == CT_OK);
    CHECK(ct_meta_job_heartbeat(m, id, c.attempt, "TRANSCODING", 10, 60000, NULL) == CT_OK);
    CHECK(pending_statuses(m, st, 16) == 1); /* no STATUS_UPDATE within the interval */
    CHECK_STR(st[0], "PROGRESSING");
    raw_sql("UPDATE job_events SET time_ms=time_ms-11000");
    CHECK(ct_meta_job_heartbeat(m, id, c.attempt, "TRANSCODING", 50, 60000, NULL) == CT_OK);
    CHECK(ct_meta_job_heartbeat(m, id, c.attempt, "TRANSCODING", 60, 60000, NULL) == CT_OK);
    CHECK(pending_statuses(m, st, 16) == 1);
    CHECK_STR(st[0], "STATUS_UPDATE");
    CHECK(ct_meta_job_finish(m, id, c.attempt, "COMPLETE", 0, NULL, "[]", NULL) == CT_OK);
    CHECK(pending_statuses(m, st, 16) == 1);
    CHECK_STR(st[0], "COMPLETE");
    ct_meta_job_free(&c);
}

/* CancelJob's point of no return (meta_search.c), on both engines. */
static void test_cancel_before_upload(ct_meta *m)
{
    ct_meta_job j, c;
    char id[40];
    int cancel = -1;
    memset(&j, 0, sizeof j);
    snprintf(j.id, sizeof j.id, "cbu-1");
    snprintf(j.queue, sizeof j.queue, "Default");
    j.spec_json = (char *)"{}";
    CHECK(ct_meta_job_insert(m, &j, NULL, id) == CT_OK);
    CHECK(ct_meta_job_claim(m, "w", 60000, &c) == CT_OK);
    CHECK_STR(c.id, "cbu-1");
    CHECK(ct_meta_job_heartbeat(m, "cbu-1", c.attempt, "UPLOADING", 100, 60000, &cancel) ==
          CT_OK && cancel == 0);
    CHECK(ct_meta_job_cancel_before_upload(m, "cbu-1") == CT_ERR_CONFLICT);
    CHECK(ct_meta_job_finish(m, "cbu-1", c.attempt, "COMPLETE", 0, NULL, "[]", NULL) == CT_OK);
    CHECK(ct_meta_job_cancel_before_upload(m, "cbu-1") == CT_ERR_CONFLICT);
    CHECK(ct_meta_job_cancel_before_upload(m, "missing") == CT_ERR_NOT_FOUND);
    ct_meta_job_free(&c);
    snprintf(j.id, sizeof j.id, "cbu-2");
    CHECK(ct_meta_job_insert(m, &j, NULL, id) == CT_OK);
    CHECK(ct_meta_job_cancel_before_upload(m, "cbu-2") == CT_OK);
    CHECK(ct_meta_job_get(m, "cbu-2", &c) == CT_OK);
    CHECK_STR(c.status, "CANCELED");
    ct_meta_job_free(&c);
    /* soak regression: attempt 1 reached UPLOADING (and may have committed
     * outputs) and died; its retry is back in PROBING but still refuses a
     * cancel, else the job would end CANCELED with attempt 1's outputs */
    snprintf(j.id, sizeof j.id, "cbu-3");
    CHECK(ct_meta_job_insert(m, &j, NULL, id) == CT_OK);
    CHECK(ct_meta_job_claim(m, "w1", 1, &c) == CT_OK);
    CHECK_STR(c.id, "cbu-3");
    CHECK(ct_meta_job_heartbeat(m, "cbu-3", c.attempt, "UPLOADING", 100, 1, &cancel) == CT_OK);
    ct_meta_job_free(&c);
    usleep(20 * 1000);
    CHECK(ct_meta_job_claim(m, "w2", 60000, &c) == CT_OK);
    CHECK_STR(c.id, "cbu-3");
    CHECK(c.attempt == 2);
    CHECK(ct_meta_job_heartbeat(m, "cbu-3", c.attempt, "PROBING", 0, 60000, &cancel) == CT_OK);
    CHECK(ct_meta_job_cancel_before_upload(m, "cbu-3") == CT_ERR_CONFLICT);
    CHECK(ct_meta_job_finish(m, "cbu-3", c.attempt, "COMPLETE", 0, NULL, "[]", NULL) == CT_OK);
    ct_meta_job_free(&c);
    char st[16][16];
    while (pending_statuses(m, st, 16) > 0) /* leave no events for the next tests */
        ;
}

/* ---- job retention (meta_retention.c) ---- */

#define DAY_MS (86400LL * 1000)

static void insert_job(ct_meta *m, const char *id, const char *queue, const char *idem)
{
    ct_meta_job j;
    char out[40];
    memset(&j, 0, sizeof j);
    snprintf(j.id, sizeof j.id, "%s", id);
    snprintf(j.queue, sizeof j.queue, "%s", queue);
    j.spec_json = (char *)"{}";
    CHECK(ct_meta_job_insert(m, &j, idem, out) == CT_OK);
}

/* Claims the one ready job (it must be id) and finishes it. */
static void run_job(ct_meta *m, const char *id, const char *status)
{
    ct_meta_job c;
    CHECK(ct_meta_job_claim(m, "w", 60000, &c) == CT_OK);
    CHECK_STR(c.id, id);
    CHECK(ct_meta_job_finish(m, id, c.attempt, status, 0, NULL, "[]", NULL) == CT_OK);
    ct_meta_job_free(&c);
}

static int job_exists(ct_meta *m, const char *id)
{
    ct_meta_job j;
    ct_err e = ct_meta_job_get(m, id, &j);
    ct_meta_job_free(&j);
    CHECK(e == CT_OK || e == CT_ERR_NOT_FOUND);
    return e == CT_OK;
}

/* Marks every pending job event dispatched; *last (optional) gets the id of
 * the last event of job `id`. */
static void drain_events(ct_meta *m, const char *id, int64_t *last)
{
    ct_meta_job_event ev[16];
    int n = 0;
    do {
        CHECK(ct_meta_job_events_pending(m, ev, 16, &n) == CT_OK);
        for (int i = 0; i < n; i++) {
            if (last && id && strcmp(ev[i].job_id, id) == 0)
                *last = ev[i].id;
            CHECK(ct_meta_job_event_done(m, ev[i].id) == CT_OK);
        }
    } while (n > 0);
}

static ct_err newest_delivery(void *ctx, const ct_meta_delivery *d)
{
    *(int64_t *)ctx = d->id;
    return CT_OK;
}

/* A webhook delivery of job event ev, as the events dispatcher adds it. */
static int64_t add_job_delivery(ct_meta *m, int64_t ev)
{
    char dedup[64];
    int64_t id = 0;
    snprintf(dedup, sizeof dedup, "job:%lld:hook", (long long)ev);
    CHECK(ct_meta_delivery_add(m, "hook", "mediaconvert", dedup, "{\"job\":1}", NULL) == CT_OK);
    CHECK(ct_meta_delivery_list(m, "hook", 1, newest_delivery, &id) == CT_OK && id > 0);
    return id;
}

static int delivery_exists(ct_meta *m, int64_t id)
{
    ct_meta_delivery d;
    ct_err e = ct_meta_delivery_get(m, id, &d);
    ct_meta_delivery_free(&d);
    return e == CT_OK;
}

/* Old finished jobs go (in batches of 3 here), with their events, settled
 * deliveries and request tokens; recent, running, submitted jobs and jobs
 * with undelivered events stay; retention 0 keeps everything. */
static void test_job_purge(ct_meta *m)
{
    char id[40], name[32];
    int n = -1;
    int64_t ev_deliv = 0, ev_settled = 0;
    CHECK(ct_meta_queue_put(m, "Default", "ACTIVE", "{}", 0) == CT_OK);
    CHECK(ct_meta_queue_put(m, "ret-held", "PAUSED", "{}", 0) == CT_OK);
    insert_job(m, "ret-run", "Default", NULL); /* stays PROGRESSING */
    ct_meta_job run;
    CHECK(ct_meta_job_claim(m, "w", 60000, &run) == CT_OK);
    CHECK_STR(run.id, "ret-run");
    insert_job(m, "ret-sub", "ret-held", NULL); /* stays SUBMITTED */
    insert_job(m, "ret-old-c", "Default", NULL);
    run_job(m, "ret-old-c", "COMPLETE");
    insert_job(m, "ret-old-e", "Default", NULL);
    run_job(m, "ret-old-e", "ERROR");
    for (int i = 0; i < 7; i++) {
        snprintf(name, sizeof name, "ret-old-%d", i);
        insert_job(m, name, "ret-held", i == 0 ? "ret-token" : NULL);
        CHECK(ct_meta_job_cancel(m, name) == CT_OK);
    }
    const char *others[] = {"ret-new", "ret-deliv", "ret-settled", "ret-pend"};
    for (int i = 0; i < 4; i++) {
        insert_job(m, others[i], "ret-held", NULL);
        CHECK(ct_meta_job_cancel(m, others[i]) == CT_OK);
        if (i == 1)
            drain_events(m, "ret-deliv", &ev_deliv);
        if (i == 2)
            drain_events(m, "ret-settled", &ev_settled);
    }
    /* ret-pend's events stay undispatched; ret-deliv's delivery pending */
    int64_t pending = add_job_delivery(m, ev_deliv);
    int64_t settled = add_job_delivery(m, ev_settled);
    CHECK(ct_meta_delivery_result(m, settled, "delivered", 200, NULL, 0) == CT_OK);
    /* 100 days (one bigint literal: PostgreSQL multiplies int4s in int4) */
    raw_sql("UPDATE jobs SET finish_ms = finish_ms - 8640000000, created_ms = created_ms -"
            " 8640000000 WHERE id LIKE 'ret-%' AND id <> 'ret-new'");

    CHECK(ct_meta_job_purge(m, 0, 0, 0, &n) == CT_OK && n == 0); /* 0: keep forever */
    CHECK(job_exists(m, "ret-old-0") && job_exists(m, "ret-old-c"));
    /* 10 expired: 7 canceled, COMPLETE, ERROR, settled; batches of 3 */
    CHECK(ct_meta_job_purge(m, 90 * DAY_MS, 3, 4, &n) == CT_OK && n == 4); /* max_jobs */
    CHECK(ct_meta_job_purge(m, 90 * DAY_MS, 3, 0, &n) == CT_OK && n == 6);
    for (int i = 0; i < 7; i++) {
        snprintf(name, sizeof name, "ret-old-%d", i);
        CHECK(!job_exists(m, name));
    }
    CHECK(!job_exists(m, "ret-old-c") && !job_exists(m, "ret-old-e"));
    CHECK(!job_exists(m, "ret-settled") && !delivery_exists(m, settled));
    CHECK(ct_meta_job_find_idem(m, "ret-token", id) == CT_ERR_NOT_FOUND);
    CHECK(job_exists(m, "ret-new") && job_exists(m, "ret-run") && job_exists(m, "ret-sub"));
    CHECK(job_exists(m, "ret-pend") && job_exists(m, "ret-deliv"));
    CHECK(delivery_exists(m, pending));

    /* once delivered, they go too; a second pass finds nothing */
    drain_events(m, NULL, NULL);
    CHECK(ct_meta_delivery_result(m, pending, "delivered", 200, NULL, 0) == CT_OK);
    CHECK(ct_meta_job_purge(m, 90 * DAY_MS, 0, 0, &n) == CT_OK && n == 2);
    CHECK(!job_exists(m, "ret-pend") && !job_exists(m, "ret-deliv"));
    CHECK(!delivery_exists(m, pending));
    CHECK(ct_meta_job_purge(m, 90 * DAY_MS, 0, 0, &n) == CT_OK && n == 0);
    CHECK(job_exists(m, "ret-new") && job_exists(m, "ret-run") && job_exists(m, "ret-sub"));
    CHECK(ct_meta_job_finish(m, "ret-run", run.attempt, "COMPLETE", 0, NULL, "[]", NULL) ==
          CT_OK);
    ct_meta_job_free(&run);
    drain_events(m, NULL, NULL);
}

static ct_err count_delivery(void *ctx, const ct_meta_delivery *d)
{
    (void)d;
    (*(int *)ctx)++;
    return CT_OK;
}

static void test_deliveries(ct_meta *m, ct_meta *other)
{
    ct_meta_webhook w = {.url = (char *)"http://127.0.0.1:1/h", .secret = (char *)"s"};
    snprintf(w.name, sizeof w.name, "h1");
    CHECK(ct_meta_webhook_create(m, &w) == CT_OK);
    CHECK(ct_meta_webhook_create(m, &w) == CT_ERR_EXISTS);
    int n = 0, added = 0;
    CHECK(ct_meta_delivery_add(m, "h1", "s3", "k1", "{}", &added) == CT_OK && added == 1);
    CHECK(ct_meta_delivery_add(other, "h1", "s3", "k1", "{}", &added) == CT_OK && added == 0);
    CHECK(ct_meta_delivery_add(m, "h1", "s3", NULL, "{\"n\":1}", &added) == CT_OK && added);
    CHECK(ct_meta_delivery_add(m, "h1", "s3", NULL, "{\"n\":1}", &added) == CT_OK && added);
    ct_meta_delivery d[4];
    CHECK(ct_meta_delivery_due(m, ct_now_ms() + 1, d, 1, &n) == CT_OK && n == 1);
    int64_t id = d[0].id;
    CHECK_STR(d[0].body, "{}");
    ct_meta_delivery_free(&d[0]);
    if (is_pg) { /* claimed: another process is not handed the same row */
        CHECK(ct_meta_delivery_due(other, ct_now_ms() + 1, d, 4, &n) == CT_OK && n == 2);
        for (int i = 0; i < n; i++) {
            CHECK(d[i].id != id);
            ct_meta_delivery_free(&d[i]);
        }
    }
    CHECK(ct_meta_delivery_result(m, id, "delivered", 200, NULL, 0) == CT_OK);
    ct_meta_delivery one;
    CHECK(ct_meta_delivery_get(other, id, &one) == CT_OK);
    CHECK(one.attempts == 1 && one.http_status == 200);
    CHECK_STR(one.status, "delivered");
    ct_meta_delivery_free(&one);
    n = 0;
    CHECK(ct_meta_delivery_list(m, "h1", 10, count_delivery, &n) == CT_OK && n == 3);
    n = 0;
    CHECK(ct_meta_delivery_list(m, NULL, 10, count_delivery, &n) == CT_OK && n == 3);
    CHECK(ct_meta_webhook_delete(m, "h1") == CT_OK);
    CHECK(ct_meta_events_prune(m, ct_now_ms() + 1) == CT_OK);
    CHECK(ct_meta_delivery_get(m, id, &one) == CT_ERR_NOT_FOUND);
}

static int outbox_seen;
static ct_err outbox_cb(void *ctx, const ct_meta_outbox_row *r)
{
    ct_meta *m = ctx;
    outbox_seen++;
    return ct_meta_outbox_done(m, r->id);
}

static ct_err outbox_peek(void *ctx, const ct_meta_outbox_row *r)
{
    (void)ctx, (void)r;
    outbox_seen++;
    return CT_OK;
}

static void test_outbox_claims(ct_meta *m, ct_meta *other)
{
    ct_meta_object o = {.bucket = "ob", .key = "k", .size = 1, .etag = "e", .blob_id = "b0"};
    ct_meta_event_info ev = {"ObjectCreated:Put", "me", "127.0.0.1", "R1"};
    char old[64];
    CHECK(ct_meta_bucket_create(m, "ob") == CT_OK);
    for (int i = 0; i < 3; i++)
        CHECK(ct_meta_object_put(m, &o, &ev, old) == CT_OK);
    outbox_seen = 0;
    CHECK(ct_meta_outbox_due(m, 10, outbox_peek, NULL) == CT_OK && outbox_seen == 3);
    outbox_seen = 0;
    CHECK(ct_meta_outbox_due(other, 10, outbox_cb, other) == CT_OK);
    CHECK(outbox_seen == (is_pg ? 0 : 3)); /* PostgreSQL: still claimed by m */
    if (is_pg) {
        raw_sql("UPDATE outbox SET next_ms=0 WHERE done=0"); /* as if m's claim ran out */
        CHECK(ct_meta_outbox_due(other, 10, outbox_cb, other) == CT_OK && outbox_seen == 3);
    }
    outbox_seen = 0;
    CHECK(ct_meta_outbox_due(m, 10, outbox_cb, m) == CT_OK && outbox_seen == 0);
}

/* ---- several handles at once ---- */

#define THREADS 4
#define JOBS 40

typedef struct {
    int idx;
    char claimed[JOBS][40];
    int n;
    char ids[8][40]; /* idempotent insert results */
    char olds[16][64];
    int nold;
} worker_arg;

static void *claim_all(void *p)
{
    worker_arg *a = p;
    ct_meta *m = NULL;
    char name[16];
    snprintf(name, sizeof name, "w%d", a->idx);
    if (ct_meta_open(db_url, &m) != CT_OK)
        return NULL;
    for (;;) {
        ct_meta_job j;
        ct_err e = ct_meta_job_claim(m, name, 60000, &j);
        if (e == CT_ERR_NOT_FOUND)
            break;
        if (e)
            continue;
        snprintf(a->claimed[a->n++], 40, "%s", j.id);
        ct_meta_job_finish(m, j.id, j.attempt, "COMPLETE", 0, NULL, "[]", NULL);
        ct_meta_job_free(&j);
    }
    ct_meta_close(m);
    return NULL;
}

static void *insert_idem(void *p)
{
    worker_arg *a = p;
    ct_meta *m = NULL;
    if (ct_meta_open(db_url, &m) != CT_OK)
        return NULL;
    for (int i = 0; i < 8; i++) {
        ct_meta_job j;
        memset(&j, 0, sizeof j);
        snprintf(j.queue, sizeof j.queue, "Default");
        j.spec_json = (char *)"{}";
        ct_err e = ct_meta_job_insert(m, &j, "the-one-event", a->ids[i]);
        if (e != CT_OK && e != CT_ERR_EXISTS)
            a->ids[i][0] = '\0';
    }
    ct_meta_close(m);
    return NULL;
}

static void *put_same_key(void *p)
{
    worker_arg *a = p;
    ct_meta *m = NULL;
    if (ct_meta_open(db_url, &m) != CT_OK)
        return NULL;
    for (int i = 0; i < 16; i++) {
        ct_meta_object o = {.bucket = "race", .key = "k", .size = 1, .etag = "e"};
        snprintf(o.blob_id, sizeof o.blob_id, "blob-%d-%d", a->idx, i);
        char old[64];
        if (ct_meta_object_put(m, &o, NULL, old) == CT_OK && old[0])
            snprintf(a->olds[a->nold++], 64, "%s", old);
    }
    ct_meta_close(m);
    return NULL;
}

static void *purge_all(void *p)
{
    worker_arg *a = p;
    ct_meta *m = NULL;
    if (ct_meta_open(db_url, &m) != CT_OK)
        return NULL;
    if (ct_meta_job_purge(m, DAY_MS, 5, 0, &a->n) != CT_OK)
        a->n = -1000;
    ct_meta_close(m);
    return NULL;
}

static void run_threads(void *(*fn)(void *), worker_arg *args)
{
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++) {
        args[i].idx = i;
        CHECK(pthread_create(&t[i], NULL, fn, &args[i]) == 0);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
}

static int cmp_str(const void *a, const void *b) { return strcmp(a, b); }

static void test_concurrent_claims(ct_meta *m)
{
    static worker_arg args[THREADS];
    memset(args, 0, sizeof args);
    CHECK(ct_meta_queue_put(m, "Default", "ACTIVE", "{}", 0) == CT_OK);
    for (int i = 0; i < JOBS; i++) {
        ct_meta_job j;
        char out[40];
        memset(&j, 0, sizeof j);
        snprintf(j.id, sizeof j.id, "cc-%02d", i);
        snprintf(j.queue, sizeof j.queue, "Default");
        j.spec_json = (char *)"{}";
        CHECK(ct_meta_job_insert(m, &j, NULL, out) == CT_OK);
    }
    run_threads(claim_all, args);
    static char all[THREADS * JOBS][40];
    int n = 0;
    for (int i = 0; i < THREADS; i++)
        for (int k = 0; k < args[i].n; k++)
            memcpy(all[n++], args[i].claimed[k], 40);
    CHECK(n == JOBS); /* every job claimed ... */
    qsort(all, (size_t)n, 40, cmp_str);
    int dup = 0;
    for (int i = 1; i < n; i++)
        dup += strcmp(all[i - 1], all[i]) == 0;
    CHECK(dup == 0); /* ... exactly once */
    int sub = -1, prog = -1;
    CHECK(ct_meta_queue_counts(m, "Default", &sub, &prog) == CT_OK && sub == 0 && prog == 0);
}

/* ---- per-queue concurrency (max_running) ---- */

static void claim_expect(ct_meta *m, const char *id, ct_meta_job *out)
{
    CHECK(ct_meta_job_claim(m, "w", 60000, out) == CT_OK);
    CHECK_STR(out->id, id);
}

static void claim_none(ct_meta *m)
{
    ct_meta_job x;
    CHECK(ct_meta_job_claim(m, "w", 60000, &x) == CT_ERR_NOT_FOUND);
}

static void finish_job(ct_meta *m, const char *id)
{
    ct_meta_job cur;
    CHECK(ct_meta_job_get(m, id, &cur) == CT_OK);
    CHECK(ct_meta_job_finish(m, id, cur.attempt, "COMPLETE", 0, NULL, "[]", NULL) == CT_OK);
    ct_meta_job_free(&cur);
}

/* A queue at its limit holds its jobs while another queue's jobs go ahead;
 * a finish and a handed-back lease each free a slot; the limit survives an
 * update that does not set it, and 0 lifts it. */
static void test_queue_limit(ct_meta *m)
{
    ct_meta_job j[7];
    ct_meta_queue q;
    CHECK(ct_meta_queue_put_limit(m, "lim", "ACTIVE", "{}", 1, 2) == CT_OK);
    CHECK(ct_meta_queue_put(m, "lim-free", "ACTIVE", "{}", 0) == CT_OK);
    CHECK(ct_meta_queue_get(m, "lim", &q) == CT_OK && q.max_running == 2);
    ct_meta_queue_free(&q);
    char id[16];
    for (int i = 0; i < 4; i++) {
        snprintf(id, sizeof id, "lim-%d", i);
        insert_job(m, id, "lim", NULL);
    }
    insert_job(m, "free-0", "lim-free", NULL);
    insert_job(m, "free-1", "lim-free", NULL);
    claim_expect(m, "lim-0", &j[0]);
    claim_expect(m, "lim-1", &j[1]);
    claim_expect(m, "free-0", &j[2]); /* lim is full: the older lim-2 waits */
    claim_expect(m, "free-1", &j[3]);
    claim_none(m);
    finish_job(m, "lim-0");
    claim_expect(m, "lim-2", &j[4]); /* the finish freed a slot */
    claim_none(m);
    /* a hand-back (a lease that ends now) frees lim-1's slot; lim-1 is retried first */
    CHECK(ct_meta_job_heartbeat(m, "lim-1", j[1].attempt, NULL, 0, -1, NULL) == CT_OK);
    claim_expect(m, "lim-1", &j[5]);
    CHECK(j[5].retry_count == 1);
    claim_none(m);
    CHECK(ct_meta_queue_put(m, "lim", "ACTIVE", "{\"d\":1}", 0) == CT_OK); /* keeps the limit */
    CHECK(ct_meta_queue_get(m, "lim", &q) == CT_OK && q.max_running == 2);
    ct_meta_queue_free(&q);
    claim_none(m);
    CHECK(ct_meta_queue_put_limit(m, "lim", "ACTIVE", "{}", 0, 0) == CT_OK); /* unlimited */
    claim_expect(m, "lim-3", &j[6]);
    const char *ids[] = {"lim-1", "lim-2", "lim-3", "free-0", "free-1"};
    for (size_t i = 0; i < CT_ARRAY_LEN(ids); i++)
        finish_job(m, ids[i]);
    for (size_t i = 0; i < CT_ARRAY_LEN(j); i++)
        ct_meta_job_free(&j[i]);
    drain_events(m, NULL, NULL);
}

#define LIMIT 2
#define LIMIT_JOBS 24
#define FREE_JOBS 8

static pthread_mutex_t lim_mu = PTHREAD_MUTEX_INITIALIZER;
static int lim_running, lim_max, lim_db_max, lim_done;

static void lim_note(int delta, int db_prog)
{
    pthread_mutex_lock(&lim_mu);
    lim_running += delta;
    if (lim_running > lim_max)
        lim_max = lim_running;
    if (db_prog > lim_db_max)
        lim_db_max = db_prog;
    pthread_mutex_unlock(&lim_mu);
}

static int lim_finished(int add)
{
    pthread_mutex_lock(&lim_mu);
    lim_done += add;
    int n = lim_done;
    pthread_mutex_unlock(&lim_mu);
    return n;
}

/* Claims until every job is done; holds each "climit" job a moment so that
 * other claimers race for its queue's slots. */
static void *claim_limited(void *p)
{
    worker_arg *a = p;
    ct_meta *m = NULL;
    char name[16];
    snprintf(name, sizeof name, "lw%d", a->idx);
    if (ct_meta_open(db_url, &m) != CT_OK)
        return NULL;
    while (lim_finished(0) < LIMIT_JOBS + FREE_JOBS) {
        ct_meta_job j;
        ct_err e = ct_meta_job_claim(m, name, 60000, &j);
        if (e) {
            usleep(1000);
            continue;
        }
        int limited = strcmp(j.queue, "climit") == 0, sub = 0, prog = 0;
        if (limited) {
            ct_meta_queue_counts(m, "climit", &sub, &prog);
            lim_note(1, prog);
            usleep(3000);
            lim_note(-1, 0); /* before the finish: the database still counts it */
        }
        snprintf(a->claimed[a->n++], 40, "%s", j.id);
        ct_meta_job_finish(m, j.id, j.attempt, "COMPLETE", 0, NULL, "[]", NULL);
        ct_meta_job_free(&j);
        lim_finished(1);
    }
    ct_meta_close(m);
    return NULL;
}

/* Several handles claiming at once never run more than LIMIT jobs of a
 * limited queue; every job of both queues runs exactly once. */
static void test_concurrent_queue_limit(ct_meta *m)
{
    static worker_arg args[THREADS];
    memset(args, 0, sizeof args);
    lim_running = lim_max = lim_db_max = lim_done = 0;
    CHECK(ct_meta_queue_put_limit(m, "climit", "ACTIVE", "{}", 0, LIMIT) == CT_OK);
    CHECK(ct_meta_queue_put(m, "cfree", "ACTIVE", "{}", 0) == CT_OK);
    char id[16];
    for (int i = 0; i < LIMIT_JOBS; i++) {
        snprintf(id, sizeof id, "cl-%02d", i);
        insert_job(m, id, "climit", NULL);
    }
    for (int i = 0; i < FREE_JOBS; i++) {
        snprintf(id, sizeof id, "cf-%02d", i);
        insert_job(m, id, "cfree", NULL);
    }
    run_threads(claim_limited, args);
    int n = 0;
    for (int i = 0; i < THREADS; i++)
        n += args[i].n;
    CHECK(n == LIMIT_JOBS + FREE_JOBS); /* each job once (a repeat would make n larger) */
    CHECK(lim_max >= 1 && lim_max <= LIMIT);
    CHECK(lim_db_max >= 1 && lim_db_max <= LIMIT);
    int sub = -1, prog = -1;
    CHECK(ct_meta_queue_counts(m, "climit", &sub, &prog) == CT_OK && sub == 0 && prog == 0);
    drain_events(m, NULL, NULL);
}

/* Several nodes purging at once delete each expired job once between them. */
static void test_concurrent_purge(ct_meta *m)
{
    static worker_arg args[THREADS];
    memset(args, 0, sizeof args);
    char name[32];
    for (int i = 0; i < JOBS; i++) {
        snprintf(name, sizeof name, "cp-%02d", i);
        insert_job(m, name, "ret-held", NULL);
        CHECK(ct_meta_job_cancel(m, name) == CT_OK);
    }
    drain_events(m, NULL, NULL);
    raw_sql("UPDATE jobs SET finish_ms = finish_ms - 172800000 WHERE id LIKE 'cp-%'");
    run_threads(purge_all, args);
    int total = 0;
    for (int i = 0; i < THREADS; i++)
        total += args[i].n;
    CHECK(total == JOBS);
    for (int i = 0; i < JOBS; i++) {
        snprintf(name, sizeof name, "cp-%02d", i);
        CHECK(!job_exists(m, name));
    }
}

static void test_concurrent_idempotent_insert(void)
{
    static worker_arg args[THREADS];
    memset(args, 0, sizeof args);
    run_threads(insert_idem, args);
    int same = 0;
    for (int i = 0; i < THREADS; i++)
        for (int k = 0; k < 8; k++)
            same += args[i].ids[k][0] && strcmp(args[i].ids[k], args[0].ids[0]) == 0;
    CHECK(same == THREADS * 8); /* everyone got the one job */
}

static void test_concurrent_same_key(ct_meta *m)
{
    static worker_arg args[THREADS];
    memset(args, 0, sizeof args);
    CHECK(ct_meta_bucket_create(m, "race") == CT_OK);
    run_threads(put_same_key, args);
    /* Every blob but the final one is handed back as replaced, once. */
    static char all[THREADS * 16 + 1][64];
    int n = 0;
    for (int i = 0; i < THREADS; i++)
        for (int k = 0; k < args[i].nold; k++)
            memcpy(all[n++], args[i].olds[k], 64);
    ct_meta_object o;
    CHECK(ct_meta_object_get(m, "race", "k", &o) == CT_OK);
    snprintf(all[n++], 64, "%s", o.blob_id);
    ct_meta_object_free(&o);
    CHECK(n == THREADS * 16);
    qsort(all, (size_t)n, 64, cmp_str);
    int dup = 0;
    for (int i = 1; i < n; i++)
        dup += strcmp(all[i - 1], all[i]) == 0;
    CHECK(dup == 0);
}

/* One handle shared by more threads than meta_read.c pools readers for:
 * each thread writes its own key and reads it straight back (read-after-
 * write through a pooled reader, or the main connection once the pool is
 * spent), while the others write. */
#define SHARED_THREADS 12
typedef struct {
    ct_meta *m;
    int idx, bad;
} shared_arg;

static void *put_then_get(void *p)
{
    shared_arg *a = p;
    char key[16];
    snprintf(key, sizeof key, "t%d", a->idx);
    for (int i = 0; i < 40; i++) {
        ct_meta_object o = {.bucket = "shared", .key = key, .size = (uint64_t)i, .etag = "e",
                            .is_inline = 1, .inline_data = (unsigned char *)"x", .inline_len = 1};
        ct_meta_object got;
        char old[64];
        ct_meta_bucket b;
        if (ct_meta_object_put(a->m, &o, NULL, old) != CT_OK ||
            ct_meta_object_get(a->m, "shared", key, &got) != CT_OK) {
            a->bad++;
            continue;
        }
        a->bad += got.size != (uint64_t)i;
        ct_meta_object_free(&got);
        if (ct_meta_bucket_get(a->m, "shared", &b) == CT_OK)
            ct_meta_bucket_free(&b);
        else
            a->bad++;
    }
    return NULL;
}

static void test_shared_handle_reads(ct_meta *m)
{
    shared_arg args[SHARED_THREADS];
    pthread_t t[SHARED_THREADS];
    CHECK(ct_meta_bucket_create(m, "shared") == CT_OK);
    for (int i = 0; i < SHARED_THREADS; i++) {
        args[i] = (shared_arg){.m = m, .idx = i};
        CHECK(pthread_create(&t[i], NULL, put_then_get, &args[i]) == 0);
    }
    for (int i = 0; i < SHARED_THREADS; i++) {
        pthread_join(t[i], NULL);
        CHECK(args[i].bad == 0);
    }
}

/* Two handles on one database, as two processes: every write through one
 * is seen by the next read through the other, although the other's pooled
 * readers keep their snapshot between calls while nothing is committed
 * (SQLite: the commit count in meta.db-gen). On SQLite, a reader's
 * snapshot is also dropped once it sits idle, so a checkpoint can empty
 * the WAL. */
static int wal_checkpoint_complete(void)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int busy = -1;
    if (sqlite3_open(db_url, &db) == SQLITE_OK &&
        sqlite3_prepare_v2(db, "PRAGMA wal_checkpoint(TRUNCATE)", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        busy = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return busy == 0;
}

static void test_cross_handle_reads(ct_meta *m, ct_meta *other)
{
    char old[64], etag[16];
    ct_meta_object got;
    CHECK(ct_meta_bucket_create(m, "xh") == CT_OK);
    for (int i = 0; i < 200; i++) {
        /* Reads first, with no commit between them, so that other's
         * reader opens a snapshot and keeps it (the second and third). */
        for (int r = 0; i > 0 && r < 3; r++) {
            CHECK(ct_meta_object_get(other, "xh", "k", &got) == CT_OK);
            snprintf(etag, sizeof etag, "e%d", i - 1);
            CHECK_STR(got.etag, etag);
            ct_meta_object_free(&got);
        }
        unsigned char byte = (unsigned char)i;
        ct_meta_object o = {.bucket = "xh", .key = "k", .size = 1, .is_inline = 1,
                            .inline_data = &byte, .inline_len = 1};
        snprintf(o.etag, sizeof o.etag, "e%d", i);
        CHECK(ct_meta_object_put(m, &o, NULL, old) == CT_OK);
        CHECK(ct_meta_object_get(other, "xh", "k", &got) == CT_OK);
        snprintf(etag, sizeof etag, "e%d", i);
        CHECK_STR(got.etag, etag);
        CHECK(got.inline_len == 1 && got.inline_data && got.inline_data[0] == byte);
        ct_meta_object_free(&got);
    }
    for (int r = 0; r < 3; r++) {
        CHECK(ct_meta_object_get(other, "xh", "k", &got) == CT_OK);
        ct_meta_object_free(&got);
    }
    CHECK(ct_meta_object_delete(m, "xh", "k", NULL, old) == CT_OK);
    CHECK(ct_meta_object_get(other, "xh", "k", &got) == CT_ERR_NOT_FOUND);
    ct_meta_bucket b;
    for (int r = 0; r < 3; r++) {
        CHECK(ct_meta_bucket_get(other, "xh", &b) == CT_OK && !b.policy_json);
        ct_meta_bucket_free(&b);
    }
    CHECK(ct_meta_bucket_set_policy(m, "xh", "{\"Version\":\"2012-10-17\"}") == CT_OK);
    CHECK(ct_meta_bucket_get(other, "xh", &b) == CT_OK && b.policy_json);
    ct_meta_bucket_free(&b);
    /* Bucket rows are kept in memory (meta_bcache.c), a missing bucket too. */
    for (int r = 0; r < 3; r++)
        CHECK(ct_meta_bucket_get(other, "xh2", &b) == CT_ERR_NOT_FOUND);
    CHECK(ct_meta_bucket_create(m, "xh2") == CT_OK);
    CHECK(ct_meta_bucket_get(other, "xh2", &b) == CT_OK && !b.notification_json);
    ct_meta_bucket_free(&b);
    CHECK(ct_meta_bucket_set_notification(m, "xh2", "{}") == CT_OK);
    CHECK(ct_meta_bucket_get(other, "xh2", &b) == CT_OK && b.notification_json);
    ct_meta_bucket_free(&b);
    CHECK(ct_meta_bucket_delete(m, "xh2") == CT_OK);
    CHECK(ct_meta_bucket_get(other, "xh2", &b) == CT_ERR_NOT_FOUND);
    if (!is_pg) {
        usleep(150 * 1000); /* the watch threads' sweep ends idle snapshots */
        CHECK(wal_checkpoint_complete());
    }
}

/* PostgreSQL: every connection of the test database is killed (a failover,
 * an idle timeout); the next calls reconnect and succeed. */
static void test_reconnect(ct_meta *m)
{
    char *v = NULL, old[64];
    raw_sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname=current_database() AND pid<>pg_backend_pid()");
    CHECK(ct_meta_kv_get(m, "a", &v) == CT_OK); /* outside a transaction */
    free(v);
    raw_sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname=current_database() AND pid<>pg_backend_pid()");
    ct_meta_object o = {.bucket = "race", .key = "after", .size = 1, .etag = "e", .blob_id = "r1"};
    CHECK(ct_meta_object_put(m, &o, NULL, old) == CT_OK); /* a transaction */
}

/* A database made before queues had a limit (schema 3) gets the column when
 * a newer build opens it. */
static ct_err list_inline_cb(void *ctx, const ct_meta_object *o)
{
    int *flags = ctx;
    CHECK(o->inline_data == NULL && o->inline_len == 0); /* listings never carry bytes */
    flags[strcmp(o->key, "a") == 0 ? 0 : 1] = o->is_inline;
    return CT_OK;
}

/* Inline objects (meta.h): bytes in the row, blob_id "", every byte value
 * (bytea's hex form on PostgreSQL), existence independent of blob_id. */
static void test_inline_objects(ct_meta *m)
{
    unsigned char bytes[1024];
    for (size_t i = 0; i < sizeof bytes; i++)
        bytes[i] = (unsigned char)(i * 31 + 7);
    bytes[5] = 0;
    ct_meta_object o = {.bucket = "inl", .key = "a", .size = sizeof bytes, .etag = "e1",
                        .is_inline = 1, .inline_data = bytes, .inline_len = sizeof bytes};
    ct_meta_object got;
    char old[64] = "x";
    CHECK(ct_meta_bucket_create(m, "inl") == CT_OK);
    CHECK(ct_meta_object_put(m, &o, NULL, old) == CT_OK && old[0] == '\0');
    CHECK(ct_meta_object_get(m, "inl", "a", &got) == CT_OK);
    CHECK(got.is_inline && got.blob_id[0] == '\0' && got.inline_len == sizeof bytes &&
          got.inline_data && memcmp(got.inline_data, bytes, sizeof bytes) == 0);
    ct_meta_object_free(&got);
    /* a row without a blob still exists for conditional writes */
    ct_meta_put_cond star = {.if_none_match_star = 1}, match = {.if_match = "\"e1\""};
    CHECK(ct_meta_object_put_if(m, &o, NULL, &star, old) == CT_ERR_PRECONDITION);
    CHECK(ct_meta_object_put_if(m, &o, NULL, &match, old) == CT_OK);
    /* an empty inline object is inline, not a NULL column */
    ct_meta_object e = {.bucket = "inl", .key = "b", .etag = "e0", .is_inline = 1};
    CHECK(ct_meta_object_put(m, &e, NULL, old) == CT_OK);
    CHECK(ct_meta_object_get(m, "inl", "b", &got) == CT_OK);
    CHECK(got.is_inline && got.inline_len == 0 && got.inline_data != NULL);
    ct_meta_object_free(&got);
    int flags[2] = {-1, -1};
    CHECK(ct_meta_object_list(m, "inl", "", "", 10, list_inline_cb, flags) == CT_OK);
    CHECK(flags[0] == 1 && flags[1] == 1);
    /* inline -> blob -> inline: the blob comes back to be removed */
    ct_meta_object b = {.bucket = "inl", .key = "a", .size = 9, .etag = "e2", .blob_id = "blobA"};
    CHECK(ct_meta_object_put(m, &b, NULL, old) == CT_OK && old[0] == '\0');
    CHECK(ct_meta_object_get(m, "inl", "a", &got) == CT_OK);
    CHECK(!got.is_inline && got.inline_data == NULL && strcmp(got.blob_id, "blobA") == 0);
    ct_meta_object_free(&got);
    flags[0] = flags[1] = -1;
    CHECK(ct_meta_object_list(m, "inl", "", "", 10, list_inline_cb, flags) == CT_OK);
    CHECK(flags[0] == 0 && flags[1] == 1);
    CHECK(ct_meta_object_put(m, &o, NULL, old) == CT_OK && strcmp(old, "blobA") == 0);
    /* deleting an inline object: found, nothing to remove */
    strcpy(old, "x");
    CHECK(ct_meta_object_delete(m, "inl", "a", NULL, old) == CT_OK && old[0] == '\0');
    CHECK(ct_meta_object_delete(m, "inl", "a", NULL, old) == CT_ERR_NOT_FOUND);
    CHECK(ct_meta_object_get(m, "inl", "a", &got) == CT_ERR_NOT_FOUND);
    CHECK(ct_meta_object_delete(m, "inl", "b", NULL, old) == CT_OK);
    CHECK(ct_meta_bucket_delete(m, "inl") == CT_OK);
}

static void test_late_columns(void)
{
    raw_sql("ALTER TABLE objects DROP COLUMN inline_data"); /* a schema-4 database */
    raw_sql("ALTER TABLE queues DROP COLUMN max_running");
    if (is_pg)
        raw_sql("UPDATE kv SET v='3' WHERE k='cattube.schema'");
    ct_meta *m = open_db();
    ct_meta_queue q;
    CHECK(m && ct_meta_queue_put_limit(m, "late", "ACTIVE", "{}", 0, 3) == CT_OK);
    CHECK(m && ct_meta_queue_get(m, "late", &q) == CT_OK && q.max_running == 3);
    if (m)
        ct_meta_queue_free(&q);
    ct_meta_object o = {.bucket = "late", .key = "k", .etag = "e", .is_inline = 1,
                        .inline_data = (unsigned char *)"hi", .inline_len = 2};
    ct_meta_object got;
    char old[64];
    CHECK(m && ct_meta_bucket_create(m, "late") == CT_OK);
    CHECK(m && ct_meta_object_put(m, &o, NULL, old) == CT_OK);
    CHECK(m && ct_meta_object_get(m, "late", "k", &got) == CT_OK && got.inline_len == 2);
    if (m)
        ct_meta_object_free(&got);
    ct_meta_close(m);
}

/* SQLite: a database whose objects table is WITHOUT ROWID (before schema 6)
 * is rebuilt as a rowid table on open, keeping every row and its bytes. */
static int objects_count_and_old_form(int *old_form)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int n = -1;
    CHECK(sqlite3_open(db_url, &db) == SQLITE_OK);
    CHECK(sqlite3_prepare_v2(db, "SELECT (SELECT count(*) FROM objects), instr(sql, 'WITHOUT ROWID')"
                             " FROM sqlite_schema WHERE name='objects'", -1, &st, NULL) == SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW) {
        n = sqlite3_column_int(st, 0);
        *old_form = sqlite3_column_int(st, 1) > 0;
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

static void test_objects_upgrade(void)
{
    int old_form = -1;
    raw_sql("BEGIN; CREATE TABLE objects_old ("
            " bucket TEXT NOT NULL, key TEXT NOT NULL, blob_id TEXT NOT NULL,"
            " size INTEGER NOT NULL, etag TEXT NOT NULL, content_type TEXT,"
            " meta_json TEXT, mtime_ms INTEGER NOT NULL, inline_data BLOB,"
            " PRIMARY KEY (bucket, key)) WITHOUT ROWID;"
            "INSERT INTO objects_old SELECT bucket, key, blob_id, size, etag, content_type,"
            " meta_json, mtime_ms, inline_data FROM objects;"
            "INSERT INTO objects_old VALUES('late', 'old-inline', '', 3, 'e', NULL, NULL, 1,"
            " x'000102');"
            "DROP TABLE objects; ALTER TABLE objects_old RENAME TO objects;"
            "CREATE INDEX objects_blob ON objects(blob_id); COMMIT;");
    int before = objects_count_and_old_form(&old_form);
    CHECK(before > 1 && old_form == 1);
    ct_meta *m = open_db();
    ct_meta_object got;
    CHECK(m && ct_meta_object_get(m, "late", "old-inline", &got) == CT_OK);
    if (m) {
        CHECK(got.is_inline && got.inline_len == 3 && memcmp(got.inline_data, "\0\1\2", 3) == 0);
        ct_meta_object_free(&got);
    }
    ct_meta_close(m);
    CHECK(objects_count_and_old_form(&old_form) == before && old_form == 0);
}

static void run_all(void)
{
    ct_meta *m = open_db(), *other = open_db();
    if (!m || !other) {
        ct_meta_close(m);
        ct_meta_close(other);
        return;
    }
    CHECK(ct_meta_is_shared(m) == is_pg);
    test_late_columns();
    if (!is_pg)
        test_objects_upgrade();
    test_kv(m);
    test_inline_objects(m);
    test_iam(m);
    test_edge(m);
    test_job_event_triggers(m);
    test_cancel_before_upload(m);
    test_job_purge(m);
    test_deliveries(m, other);
    test_outbox_claims(m, other);
    test_concurrent_claims(m);
    test_queue_limit(m);
    test_concurrent_queue_limit(m);
    test_concurrent_idempotent_insert();
    test_concurrent_purge(m);
    test_concurrent_same_key(m);
    test_shared_handle_reads(m);
    test_cross_handle_reads(m, other);
    if (is_pg)
        test_reconnect(m);
    ct_meta_close(other);
    ct_meta_close(m);
}

int main(void)
{
    ct_log_set_level(CT_LOG_ERROR);
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(db_url, sizeof db_url, "%s/meta.db", dir);
    run_all();
    printf("sqlite: %d passed, %d failed\n", ct_test_pass, ct_test_fail);
    if (ct_test_pg_url("meta_engines", db_url, sizeof db_url)) {
        CHECK(db_url[0] != '\0');
        is_pg = 1;
        if (db_url[0])
            run_all();
        ct_test_pg_stop();
    }
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
    CT_TEST_END();
}
