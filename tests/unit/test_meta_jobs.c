/* Unit tests for meta_jobs.c: queues, named records, the job queue (claim,
 * heartbeat, finish, lease expiry, cancel, idempotency, listing), run on
 * SQLite and then on PostgreSQL (see ct_test_pg.h). */
#include "ct_test.h"
#include "ct_test_pg.h"
#include "meta/meta.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char dir[64] = "/tmp/ct_test_meta_jobs_XXXXXX";
static char db_url[512]; /* the engine under test: a SQLite path or a PostgreSQL URL */

static ct_meta *open_db(void)
{
    ct_meta *m = NULL;
    CHECK(ct_meta_open(db_url, &m) == CT_OK);
    return m;
}

static ct_err count_cb(void *ctx, const char *json)
{
    (void)json;
    (*(int *)ctx)++;
    return CT_OK;
}

static void insert_job(ct_meta *m, const char *id, const char *queue, int prio, int64_t created)
{
    ct_meta_job j;
    char out[40];
    memset(&j, 0, sizeof j);
    snprintf(j.id, sizeof j.id, "%s", id);
    snprintf(j.queue, sizeof j.queue, "%s", queue);
    j.priority = prio;
    j.created_ms = created;
    j.spec_json = (char *)"{\"settings\":{\"inputs\":[{\"fileInput\":\"s3://in/a b.mp4\"}]}}";
    CHECK(ct_meta_job_insert(m, &j, NULL, out) == CT_OK);
    CHECK_STR(out, id);
}

static void test_queues(ct_meta *m)
{
    ct_meta_queue q;
    int n = 0, sub = -1, prog = -1;
    CHECK(ct_meta_queue_put(m, "Default", "ACTIVE", "{\"name\":\"Default\"}", 1) == CT_OK);
    CHECK(ct_meta_queue_put(m, "Default", "ACTIVE", "{}", 1) == CT_ERR_EXISTS);
    CHECK(ct_meta_queue_put(m, "q2", "PAUSED", "{\"name\":\"q2\"}", 1) == CT_OK);
    CHECK(ct_meta_queue_get(m, "q2", &q) == CT_OK);
    CHECK_STR(q.status, "PAUSED");
    CHECK_STR(q.json, "{\"name\":\"q2\"}");
    ct_meta_queue_free(&q);
    CHECK(ct_meta_queue_put(m, "q2", "ACTIVE", "{\"name\":\"q2\",\"x\":1}", 0) == CT_OK);
    CHECK(ct_meta_queue_get(m, "q2", &q) == CT_OK);
    CHECK_STR(q.status, "ACTIVE");
    ct_meta_queue_free(&q);
    CHECK(ct_meta_queue_get(m, "nope", &q) == CT_ERR_NOT_FOUND);
    CHECK(ct_meta_queue_list(m, count_cb, &n) == CT_OK);
    CHECK(n == 2);
    insert_job(m, "q2-job", "q2", 0, 1000);
    CHECK(ct_meta_queue_counts(m, "q2", &sub, &prog) == CT_OK);
    CHECK(sub == 1 && prog == 0);
    CHECK(ct_meta_queue_delete(m, "q2") == CT_ERR_CONFLICT);
    CHECK(ct_meta_job_cancel(m, "q2-job") == CT_OK);
    CHECK(ct_meta_queue_delete(m, "q2") == CT_OK);
    CHECK(ct_meta_queue_delete(m, "q2") == CT_ERR_NOT_FOUND);
}

static void test_named(ct_meta *m)
{
    char *json = NULL;
    int n = 0;
    CHECK(ct_meta_named_put(m, "template", "t1", "{\"name\":\"t1\"}", 1) == CT_OK);
    CHECK(ct_meta_named_put(m, "template", "t1", "{}", 1) == CT_ERR_EXISTS);
    CHECK(ct_meta_named_put(m, "preset", "t1", "{\"p\":1}", 1) == CT_OK); /* kinds are separate */
    CHECK(ct_meta_named_put(m, "template", "t1", "{\"name\":\"t1\",\"v\":2}", 0) == CT_OK);
    CHECK(ct_meta_named_get(m, "template", "t1", &json) == CT_OK);
    CHECK_STR(json, "{\"name\":\"t1\",\"v\":2}");
    free(json);
    CHECK(ct_meta_named_list(m, "preset", count_cb, &n) == CT_OK);
    CHECK(n == 1);
    CHECK(ct_meta_named_delete(m, "preset", "t1") == CT_OK);
    CHECK(ct_meta_named_delete(m, "preset", "t1") == CT_ERR_NOT_FOUND);
    CHECK(ct_meta_named_get(m, "preset", "t1", &json) == CT_ERR_NOT_FOUND);
}

static void test_idempotency(ct_meta *m)
{
    ct_meta_job j;
    char out[40] = "";
    memset(&j, 0, sizeof j);
    snprintf(j.queue, sizeof j.queue, "Default");
    j.spec_json = (char *)"{}";
    CHECK(ct_meta_job_insert(m, &j, "event-1", out) == CT_OK); /* id generated */
    CHECK(strlen(out) == 20 && out[13] == '-');
    char first[40];
    snprintf(first, sizeof first, "%s", out);
    memset(j.id, 0, sizeof j.id);
    CHECK(ct_meta_job_insert(m, &j, "event-1", out) == CT_ERR_EXISTS);
    CHECK_STR(out, first);
    char found[40] = "";
    CHECK(ct_meta_job_find_idem(m, "event-1", found) == CT_OK);
    CHECK_STR(found, first);
    CHECK(ct_meta_job_find_idem(m, "event-2", found) == CT_ERR_NOT_FOUND);
    CHECK(ct_meta_job_cancel(m, first) == CT_OK);
    CHECK(ct_meta_job_cancel(m, first) == CT_ERR_CONFLICT);
    CHECK(ct_meta_job_cancel(m, "missing") == CT_ERR_NOT_FOUND);
    ct_meta_job g;
    CHECK(ct_meta_job_get(m, first, &g) == CT_OK);
    CHECK_STR(g.status, "CANCELED");
    CHECK(g.finish_ms > 0 && g.cancel_requested == 1);
    ct_meta_job_free(&g);
}

static void test_claim_order(ct_meta *m)
{
    ct_meta_job j;
    CHECK(ct_meta_queue_put(m, "paused", "PAUSED", "{}", 1) == CT_OK);
    insert_job(m, "low-old", "Default", 0, 100);
    insert_job(m, "high-new", "Default", 10, 300);
    insert_job(m, "low-new", "Default", 0, 200);
    insert_job(m, "paused-top", "paused", 50, 50);
    CHECK(ct_meta_job_claim(m, "w1", 60000, &j) == CT_OK);
    CHECK_STR(j.id, "high-new");
    CHECK_STR(j.status, "PROGRESSING");
    CHECK_STR(j.phase, "PROBING");
    CHECK(j.attempt == 1 && j.start_ms > 0);
    ct_meta_job_free(&j);
    CHECK(ct_meta_job_claim(m, "w1", 60000, &j) == CT_OK);
    CHECK_STR(j.id, "low-old");
    ct_meta_job_free(&j);
    CHECK(ct_meta_job_claim(m, "w1", 60000, &j) == CT_OK);
    CHECK_STR(j.id, "low-new");
    ct_meta_job_free(&j);
    CHECK(ct_meta_job_claim(m, "w1", 60000, &j) == CT_ERR_NOT_FOUND); /* paused queue skipped */
    CHECK(ct_meta_queue_put(m, "paused", "ACTIVE", "{}", 0) == CT_OK);
    CHECK(ct_meta_job_claim(m, "w1", 60000, &j) == CT_OK);
    CHECK_STR(j.id, "paused-top");
    ct_meta_job_free(&j);
}

static void test_heartbeat_finish(ct_meta *m)
{
    int cancel = -1;
    ct_meta_job j;
    CHECK(ct_meta_job_heartbeat(m, "high-new", 1, "TRANSCODING", 42, 60000, &cancel) == CT_OK);
    CHECK(cancel == 0);
    CHECK(ct_meta_job_get(m, "high-new", &j) == CT_OK);
    CHECK_STR(j.phase, "TRANSCODING");
    CHECK(j.percent == 42);
    ct_meta_job_free(&j);
    CHECK(ct_meta_job_heartbeat(m, "high-new", 2, "TRANSCODING", 50, 60000, &cancel) ==
          CT_ERR_CONFLICT);
    CHECK(ct_meta_job_finish(m, "high-new", 2, "COMPLETE", 0, NULL, "[]", NULL) == CT_ERR_CONFLICT);
    CHECK(ct_meta_job_finish(m, "high-new", 1, "COMPLETE", 0, NULL,
                             "[{\"outputDetails\":[]}]", "[\"w\"]") == CT_OK);
    CHECK(ct_meta_job_get(m, "high-new", &j) == CT_OK);
    CHECK_STR(j.status, "COMPLETE");
    CHECK(j.percent == 100 && j.finish_ms >= j.start_ms && j.phase[0] == '\0');
    CHECK_STR(j.output_details_json, "[{\"outputDetails\":[]}]");
    CHECK_STR(j.warnings_json, "[\"w\"]");
    ct_meta_job_free(&j);
    CHECK(ct_meta_job_finish(m, "high-new", 1, "COMPLETE", 0, NULL, NULL, NULL) == CT_ERR_CONFLICT);
    /* cancel while PROGRESSING: flagged, reported by the next heartbeat */
    CHECK(ct_meta_job_cancel(m, "low-old") == CT_OK);
    CHECK(ct_meta_job_heartbeat(m, "low-old", 1, NULL, 10, 60000, &cancel) == CT_OK);
    CHECK(cancel == 1);
    CHECK(ct_meta_job_finish(m, "low-old", 1, "CANCELED", 0, NULL, NULL, NULL) == CT_OK);
    CHECK(ct_meta_job_finish(m, "low-new", 1, "ERROR", 1010, "input missing", NULL, NULL) == CT_OK);
    CHECK(ct_meta_job_get(m, "low-new", &j) == CT_OK);
    CHECK(j.error_code == 1010);
    CHECK_STR(j.error_message, "input missing");
    ct_meta_job_free(&j);
}

static void test_lease_expiry(ct_meta *m)
{
    ct_meta_job j;
    int cancel;
    /* paused-top holds a 60 s lease; expire it by renewing with a negative lease. */
    CHECK(ct_meta_job_heartbeat(m, "paused-top", 1, "TRANSCODING", 5, -1000, &cancel) == CT_OK);
    CHECK(ct_meta_job_claim(m, "w2", -1000, &j) == CT_OK); /* reclaimed, lease expired again */
    CHECK_STR(j.id, "paused-top");
    CHECK(j.attempt == 2 && j.retry_count == 1);
    ct_meta_job_free(&j);
    CHECK(ct_meta_job_heartbeat(m, "paused-top", 1, "TRANSCODING", 5, 1000, &cancel) ==
          CT_ERR_CONFLICT); /* the old owner lost it */
    CHECK(ct_meta_job_claim(m, "w3", -1000, &j) == CT_OK);
    CHECK(j.attempt == 3 && j.retry_count == 2);
    ct_meta_job_free(&j);
    CHECK(ct_meta_job_claim(m, "w4", -1000, &j) == CT_OK);
    CHECK(j.attempt == 4 && j.retry_count == 3);
    ct_meta_job_free(&j);
    /* out of retries: the reaper fails it instead of handing it out again */
    CHECK(ct_meta_job_claim(m, "w5", 60000, &j) == CT_ERR_NOT_FOUND);
    CHECK(ct_meta_job_get(m, "paused-top", &j) == CT_OK);
    CHECK_STR(j.status, "ERROR");
    CHECK(j.error_code == 1999 && j.error_message != NULL);
    ct_meta_job_free(&j);
    /* expired lease of a job asked to cancel: CANCELED, not reclaimed */
    insert_job(m, "cancel-me", "Default", 0, 400);
    CHECK(ct_meta_job_claim(m, "w6", -1000, &j) == CT_OK);
    CHECK_STR(j.id, "cancel-me");
    ct_meta_job_free(&j);
    CHECK(ct_meta_job_cancel(m, "cancel-me") == CT_OK);
    CHECK(ct_meta_job_claim(m, "w7", 60000, &j) == CT_ERR_NOT_FOUND);
    CHECK(ct_meta_job_get(m, "cancel-me", &j) == CT_OK);
    CHECK_STR(j.status, "CANCELED");
    ct_meta_job_free(&j);
}

typedef struct {
    int n;
    char ids[32][40];
} list_acc;

static ct_err list_cb(void *ctx, const ct_meta_job *j)
{
    list_acc *a = ctx;
    if (a->n < 32)
        snprintf(a->ids[a->n++], 40, "%s", j->id);
    return CT_OK;
}

static void test_list(ct_meta *m)
{
    char *next = NULL;
    list_acc a = {0};
    ct_meta_job_filter f = {0};
    f.max = 2;
    f.ascending = 1;
    f.queue = "Default";
    CHECK(ct_meta_job_list(m, &f, list_cb, &a, &next) == CT_OK);
    CHECK(a.n == 2 && next != NULL);
    f.after_token = next;
    CHECK(ct_meta_job_list(m, &f, list_cb, &a, &next) == CT_OK);
    free((char *)f.after_token);
    CHECK(a.n == 4);
    CHECK(strcmp(a.ids[0], a.ids[2]) != 0);
    free(next);
    /* descending, filtered by status */
    memset(&a, 0, sizeof a);
    ct_meta_job_filter g = {0};
    g.status = "CANCELED";
    g.max = 20;
    CHECK(ct_meta_job_list(m, &g, list_cb, &a, &next) == CT_OK);
    CHECK(next == NULL);
    CHECK(a.n == 4); /* q2-job, first idem job, low-old, cancel-me */
    CHECK_STR(a.ids[0], "cancel-me");
    /* input substring (SearchJobs style) */
    memset(&a, 0, sizeof a);
    ct_meta_job_filter h = {0};
    h.input_file = "a b.mp4";
    CHECK(ct_meta_job_list(m, &h, list_cb, &a, &next) == CT_OK);
    CHECK(a.n == 6); /* every insert_job row */
    ct_meta_job_filter bad = {0};
    bad.after_token = "zzz";
    CHECK(ct_meta_job_list(m, &bad, list_cb, &a, &next) == CT_ERR_INVALID);
}

/* Wake-ups: this connection's job status commits fire its own hooks at
 * once; another connection's (another process's) fire them through the
 * LISTEN thread (PostgreSQL) or the data_version watcher (SQLite). */
typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int job, outbox;
} wakes;

static void on_job(void *ctx)
{
    wakes *w = ctx;
    pthread_mutex_lock(&w->mu);
    w->job++;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static void on_outbox(void *ctx)
{
    wakes *w = ctx;
    pthread_mutex_lock(&w->mu);
    w->outbox++;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

/* Waits (up to 10 s: a hang, not a latency check) for both counters to reach min. */
static int woken(wakes *w, int job_min, int outbox_min)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 10;
    pthread_mutex_lock(&w->mu);
    while ((w->job < job_min || w->outbox < outbox_min) &&
           pthread_cond_timedwait(&w->cv, &w->mu, &ts) == 0)
        ;
    int ok = w->job >= job_min && w->outbox >= outbox_min;
    w->job = w->outbox = 0;
    pthread_mutex_unlock(&w->mu);
    return ok;
}

static void test_wakeups(void)
{
    ct_meta *mine = open_db(), *other = open_db();
    wakes w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
    wakes o = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
    ct_meta_job j;
    int cancel = 0;
    if (!mine || !other)
        goto cleanup;
    CHECK(ct_meta_queue_put(other, "wake", "ACTIVE", "{\"name\":\"wake\"}", 0) == CT_OK);
    ct_meta_on_job(mine, on_job, &w);
    ct_meta_on_outbox(mine, on_outbox, &w);
    ct_meta_on_job(other, on_job, &o);
    ct_meta_on_outbox(other, on_outbox, &o);
    woken(&w, 0, 0);
    insert_job(other, "wake-1", "wake", 50, 1);
    CHECK(woken(&w, 1, 1)); /* SUBMITTED in another process: workers and dispatcher */
    woken(&o, 0, 0);
    CHECK(ct_meta_job_claim(other, "w", 30000, &j) == CT_OK && !strcmp(j.id, "wake-1"));
    CHECK(o.outbox >= 1); /* PROGRESSING, in-process: at once */
    CHECK(woken(&w, 0, 1));
    CHECK(ct_meta_job_heartbeat(other, j.id, j.attempt, "TRANSCODING", 50, 30000, &cancel) == CT_OK);
    woken(&o, 0, 0);
    CHECK(ct_meta_job_finish(other, j.id, j.attempt, "COMPLETE", 0, NULL, NULL, NULL) == CT_OK);
    CHECK(o.outbox >= 1);
    CHECK(woken(&w, 0, 1)); /* COMPLETE in another process */
    ct_meta_job_free(&j);
    ct_meta_on_job(mine, NULL, NULL);
    ct_meta_on_outbox(mine, NULL, NULL);
    ct_meta_on_job(other, NULL, NULL);
    ct_meta_on_outbox(other, NULL, NULL);
cleanup:
    ct_meta_close(other);
    ct_meta_close(mine);
}

static void run_all(void)
{
    ct_meta *m = open_db();
    if (!m)
        return;
    test_queues(m);
    test_named(m);
    test_idempotency(m);
    test_claim_order(m);
    test_heartbeat_finish(m);
    test_lease_expiry(m);
    test_list(m);
    test_wakeups();
    ct_meta_close(m);
    /* reopen: the schema is idempotent and data survives */
    m = open_db();
    ct_meta_job j;
    CHECK(m && ct_meta_job_get(m, "cancel-me", &j) == CT_OK);
    if (m)
        ct_meta_job_free(&j);
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
    if (ct_test_pg_url("meta_jobs", db_url, sizeof db_url)) {
        CHECK(db_url[0] != '\0');
        if (db_url[0])
            run_all();
        ct_test_pg_stop();
    }
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
    CT_TEST_END();
}
