/* Unit tests for events: webhook signatures, backoff, the S3 message's key
 * encoding, job-event rendering and filters, and meta_events.c (webhooks,
 * job-event triggers, deliveries). */
#include "ct_test.h"
#include "events/events.h"

#include <jansson.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[64] = "/tmp/ct_test_events_XXXXXX";

static void test_sign_and_backoff(void)
{
    char sig[72];
    /* python3: hmac.new(b'key', b'1700000000.{"a":1}', hashlib.sha256).hexdigest() */
    ct_events_webhook_sign("key", "1700000000", "{\"a\":1}", 7, sig);
    CHECK_STR(sig, "sha256=a438e398bfafc57e4396bb7fc2304422f0f768e965d073ca313cb52e22e6ad03");
    CHECK(ct_events_backoff_ms(1) == 1000);
    CHECK(ct_events_backoff_ms(2) == 2000);
    CHECK(ct_events_backoff_ms(3) == 4000);
    CHECK(ct_events_backoff_ms(30) == 300000);
    CHECK(ct_events_backoff_ms(12) == 300000);
}

static void test_s3_message(void)
{
    ct_meta_outbox_row r;
    memset(&r, 0, sizeof r);
    r.id = 42;
    r.bucket = (char *)"b";
    r.key = (char *)"dir one/red flower+1.mp4";
    r.event_name = (char *)"ObjectCreated:Put";
    r.size = 7;
    snprintf(r.etag, sizeof r.etag, "abc");
    r.time_ms = 1700000000123LL;
    char *s = ct_events_s3_message(&r, "us-east-1", "cfg", "123456789012");
    json_t *m = json_loads(s, 0, NULL);
    json_t *o = json_object_get(json_object_get(json_array_get(json_object_get(m, "Records"), 0),
                                                "s3"), "object");
    CHECK_STR(json_string_value(json_object_get(o, "key")), "dir+one/red+flower%2B1.mp4");
    CHECK(json_integer_value(json_object_get(o, "size")) == 7);
    json_decref(m);
    free(s);
}

static void test_filters(void)
{
    const char *q = "arn:aws:mediaconvert:r:1:queues/Default";
    CHECK(!ct_events_job_filter_matches(NULL, "Default", q, "COMPLETE"));
    CHECK(ct_events_job_filter_matches("{}", "Default", q, "COMPLETE"));
    CHECK(ct_events_job_filter_matches("{\"queues\":[\"Default\"]}", "Default", q, "ERROR"));
    CHECK(ct_events_job_filter_matches("{\"queues\":[\"arn:aws:mediaconvert:r:1:queues/Default\"]}",
                                       "Default", q, "ERROR"));
    CHECK(!ct_events_job_filter_matches("{\"queues\":[\"other\"]}", "Default", q, "ERROR"));
    CHECK(ct_events_job_filter_matches("{\"statuses\":[\"COMPLETE\",\"ERROR\"]}", "Default", q,
                                       "ERROR"));
    CHECK(!ct_events_job_filter_matches("{\"statuses\":[\"COMPLETE\"]}", "Default", q,
                                        "STATUS_UPDATE"));
}

static void test_job_message(void)
{
    ct_meta_job j;
    memset(&j, 0, sizeof j);
    snprintf(j.id, sizeof j.id, "1700000000000-abcdef");
    snprintf(j.queue, sizeof j.queue, "Default");
    j.spec_json = (char *)"{\"userMetadata\":{\"k\":\"v\"}}";
    j.error_code = 1040;
    j.error_message = (char *)"bad input";
    ct_meta_job_event e = {.id = 1, .percent = 40, .time_ms = 1671477681737LL};
    snprintf(e.job_id, sizeof e.job_id, "%s", j.id);
    snprintf(e.status, sizeof e.status, "STATUS_UPDATE");
    snprintf(e.phase, sizeof e.phase, "TRANSCODING");
    char *s = ct_events_job_message(&e, &j, "us-west-2", "111122223333");
    json_t *m = json_loads(s, 0, NULL);
    json_t *d = json_object_get(m, "detail");
    CHECK_STR(json_string_value(json_object_get(m, "detail-type")), "MediaConvert Job State Change");
    CHECK_STR(json_string_value(json_object_get(m, "source")), "aws.mediaconvert");
    CHECK_STR(json_string_value(json_object_get(m, "time")), "2022-12-19T19:21:21Z");
    CHECK_STR(json_string_value(json_array_get(json_object_get(m, "resources"), 0)),
              "arn:aws:mediaconvert:us-west-2:111122223333:jobs/1700000000000-abcdef");
    CHECK_STR(json_string_value(json_object_get(d, "queue")),
              "arn:aws:mediaconvert:us-west-2:111122223333:queues/Default");
    CHECK(json_integer_value(json_object_get(d, "timestamp")) == 1671477681737LL);
    CHECK_STR(json_string_value(json_object_get(json_object_get(d, "userMetadata"), "k")), "v");
    json_t *p = json_object_get(d, "jobProgress");
    CHECK_STR(json_string_value(json_object_get(p, "currentPhase")), "TRANSCODING");
    CHECK(json_integer_value(json_object_get(p, "jobPercentComplete")) == 40);
    CHECK_STR(json_string_value(json_object_get(
                  json_object_get(json_object_get(p, "phaseProgress"), "PROBING"), "status")),
              "COMPLETE");
    json_decref(m);
    free(s);
    snprintf(e.status, sizeof e.status, "ERROR");
    s = ct_events_job_message(&e, &j, "us-west-2", "111122223333");
    m = json_loads(s, 0, NULL);
    d = json_object_get(m, "detail");
    CHECK(json_integer_value(json_object_get(d, "errorCode")) == 1040);
    CHECK_STR(json_string_value(json_object_get(d, "errorMessage")), "bad input");
    CHECK(json_object_get(d, "jobProgress") == NULL);
    json_decref(m);
    free(s);
}

static ct_err count_wh(void *ctx, const ct_meta_webhook *w)
{
    (void)w;
    (*(int *)ctx)++;
    return CT_OK;
}

static int pending_statuses(ct_meta *m, char out[][16], int max)
{
    ct_meta_job_event ev[16];
    int n = 0;
    CHECK(ct_meta_job_events_pending(m, ev, 16, &n) == CT_OK);
    for (int i = 0; i < n && i < max; i++) {
        snprintf(out[i], 16, "%s", ev[i].status);
        ct_meta_job_event_done(m, ev[i].id);
    }
    return n;
}

/* Ages every job event by ms, to let a STATUS_UPDATE become due. */
static void age_events(const char *path, int64_t ms)
{
    sqlite3 *db = NULL;
    char sql[128];
    snprintf(sql, sizeof sql, "UPDATE job_events SET time_ms=time_ms-%lld", (long long)ms);
    CHECK(sqlite3_open(path, &db) == SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    CHECK(sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);
}

static void test_job_event_triggers(ct_meta *m, const char *path)
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
    age_events(path, 11000);
    CHECK(ct_meta_job_heartbeat(m, id, c.attempt, "TRANSCODING", 50, 60000, NULL) == CT_OK);
    CHECK(ct_meta_job_heartbeat(m, id, c.attempt, "TRANSCODING", 60, 60000, NULL) == CT_OK);
    CHECK(pending_statuses(m, st, 16) == 1);
    CHECK_STR(st[0], "STATUS_UPDATE");
    CHECK(ct_meta_job_finish(m, id, c.attempt, "COMPLETE", 0, NULL, "[]", NULL) == CT_OK);
    CHECK(pending_statuses(m, st, 16) == 1);
    CHECK_STR(st[0], "COMPLETE");
    ct_meta_job_free(&c);
}

static void test_webhooks_and_deliveries(ct_meta *m)
{
    ct_meta_webhook w = {.url = (char *)"http://127.0.0.1:1/h", .secret = (char *)"s"};
    snprintf(w.name, sizeof w.name, "h1");
    CHECK(ct_meta_webhook_create(m, &w) == CT_OK);
    CHECK(ct_meta_webhook_create(m, &w) == CT_ERR_EXISTS);
    ct_meta_webhook g;
    CHECK(ct_meta_webhook_get(m, "h1", &g) == CT_OK);
    CHECK_STR(g.url, "http://127.0.0.1:1/h");
    CHECK(g.job_filter == NULL);
    ct_meta_webhook_free(&g);
    int n = 0, added = 0;
    CHECK(ct_meta_webhook_list(m, count_wh, &n) == CT_OK && n == 1);
    CHECK(ct_meta_delivery_add(m, "h1", "s3", "k1", "{}", &added) == CT_OK && added == 1);
    CHECK(ct_meta_delivery_add(m, "h1", "s3", "k1", "{}", &added) == CT_OK && added == 0);
    ct_meta_delivery d[4];
    CHECK(ct_meta_delivery_due(m, ct_now_ms() + 1, d, 4, &n) == CT_OK && n == 1);
    int64_t id = d[0].id;
    CHECK_STR(d[0].body, "{}");
    ct_meta_delivery_free(&d[0]);
    CHECK(ct_meta_delivery_result(m, id, "pending", 500, "HTTP 500", ct_now_ms() + 60000) == 0);
    CHECK(ct_meta_delivery_due(m, ct_now_ms() + 1, d, 4, &n) == CT_OK && n == 0);
    int64_t next = 0;
    CHECK(ct_meta_delivery_next_due(m, &next) == CT_OK && next > ct_now_ms());
    CHECK(ct_meta_delivery_result(m, id, "delivered", 200, NULL, 0) == CT_OK);
    ct_meta_delivery one;
    CHECK(ct_meta_delivery_get(m, id, &one) == CT_OK);
    CHECK(one.attempts == 2 && one.http_status == 200);
    CHECK_STR(one.status, "delivered");
    ct_meta_delivery_free(&one);
    CHECK(ct_meta_webhook_delete(m, "h1") == CT_OK);
    CHECK(ct_meta_webhook_delete(m, "h1") == CT_ERR_NOT_FOUND);
    CHECK(ct_meta_events_prune(m, ct_now_ms() + 1) == CT_OK);
    CHECK(ct_meta_delivery_get(m, id, &one) == CT_ERR_NOT_FOUND);
}

int main(void)
{
    char path[128];
    ct_meta *m = NULL;
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/meta.db", dir);
    test_sign_and_backoff();
    test_s3_message();
    test_filters();
    test_job_message();
    CHECK(ct_meta_open_sqlite(path, &m) == CT_OK);
    if (m) {
        test_job_event_triggers(m, path);
        test_webhooks_and_deliveries(m);
        ct_meta_close(m);
    }
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
    CT_TEST_END();
}
