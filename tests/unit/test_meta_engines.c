/* Unit tests for meta on both engines (SQLite, then PostgreSQL; see
 * ct_test_pg.h): kv, IAM, edge records, job-event triggers, deliveries, and
 * what several processes sharing one database need: concurrent claims take
 * each job once, concurrent idempotent inserts make one job, concurrent
 * writes to one key hand back every replaced blob exactly once, and (on
 * PostgreSQL) outbox rows and deliveries claimed by one handle are not handed
 * to another. Each thread opens its own ct_meta, as separate processes do. */
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

static void run_all(void)
{
    ct_meta *m = open_db(), *other = open_db();
    if (!m || !other) {
        ct_meta_close(m);
        ct_meta_close(other);
        return;
    }
    CHECK(ct_meta_is_shared(m) == is_pg);
    test_kv(m);
    test_iam(m);
    test_edge(m);
    test_job_event_triggers(m);
    test_cancel_before_upload(m);
    test_deliveries(m, other);
    test_outbox_claims(m, other);
    test_concurrent_claims(m);
    test_concurrent_idempotent_insert();
    test_concurrent_same_key(m);
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
