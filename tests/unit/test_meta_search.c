/* Unit tests for meta_search.c: CancelJob's point of no return. A cancel is
 * accepted while a job can still be stopped (SUBMITTED, or PROGRESSING before
 * UPLOADING) and refused once the worker has moved it to UPLOADING, so an
 * accepted cancel never ends COMPLETE (the soak test found that race). */
#include "ct_test.h"
#include "meta/meta_search.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[64] = "/tmp/ct_test_meta_search_XXXXXX";

static void insert_job(ct_meta *m, const char *id, int64_t created)
{
    ct_meta_job j;
    char out[40];
    memset(&j, 0, sizeof j);
    snprintf(j.id, sizeof j.id, "%s", id);
    snprintf(j.queue, sizeof j.queue, "Default");
    j.created_ms = created;
    j.spec_json = (char *)"{}";
    CHECK(ct_meta_job_insert(m, &j, NULL, out) == CT_OK);
}

static void status_is(ct_meta *m, const char *id, const char *status)
{
    ct_meta_job j;
    CHECK(ct_meta_job_get(m, id, &j) == CT_OK);
    CHECK_STR(j.status, status);
    ct_meta_job_free(&j);
}

/* Claims the next job; returns its attempt. */
static int claim(ct_meta *m, const char *want_id)
{
    ct_meta_job j;
    CHECK(ct_meta_job_claim(m, "w1", 60000, &j) == CT_OK);
    CHECK_STR(j.id, want_id);
    int attempt = j.attempt;
    ct_meta_job_free(&j);
    return attempt;
}

static void test_cancel_points(ct_meta *m)
{
    int cancel = -1;
    insert_job(m, "a-submitted", 1000);
    CHECK(ct_meta_job_cancel_before_upload(m, "a-submitted") == CT_OK);
    status_is(m, "a-submitted", "CANCELED");
    CHECK(ct_meta_job_cancel_before_upload(m, "a-submitted") == CT_ERR_CONFLICT);
    CHECK(ct_meta_job_cancel_before_upload(m, "missing") == CT_ERR_NOT_FOUND);

    /* transcoding: accepted; the next heartbeat (the worker's UPLOADING one) sees it */
    insert_job(m, "b-transcoding", 2000);
    int att = claim(m, "b-transcoding");
    CHECK(ct_meta_job_heartbeat(m, "b-transcoding", att, "TRANSCODING", 50, 60000, &cancel) ==
          CT_OK);
    CHECK(cancel == 0);
    CHECK(ct_meta_job_cancel_before_upload(m, "b-transcoding") == CT_OK);
    status_is(m, "b-transcoding", "PROGRESSING");
    CHECK(ct_meta_job_heartbeat(m, "b-transcoding", att, "UPLOADING", 100, 60000, &cancel) ==
          CT_OK);
    CHECK(cancel == 1);
    CHECK(ct_meta_job_finish(m, "b-transcoding", att, "CANCELED", 0, NULL, NULL, NULL) == CT_OK);
    status_is(m, "b-transcoding", "CANCELED");

    /* uploading: past the point of no return, refused; the job completes */
    insert_job(m, "c-uploading", 3000);
    att = claim(m, "c-uploading");
    CHECK(ct_meta_job_heartbeat(m, "c-uploading", att, "UPLOADING", 100, 60000, &cancel) ==
          CT_OK);
    CHECK(cancel == 0);
    CHECK(ct_meta_job_cancel_before_upload(m, "c-uploading") == CT_ERR_CONFLICT);
    CHECK(ct_meta_job_finish(m, "c-uploading", att, "COMPLETE", 0, NULL, "[]", NULL) == CT_OK);
    status_is(m, "c-uploading", "COMPLETE");
    CHECK(ct_meta_job_cancel_before_upload(m, "c-uploading") == CT_ERR_CONFLICT);
}

int main(void)
{
    char path[128];
    ct_meta *m = NULL;
    ct_log_set_level(CT_LOG_ERROR);
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(path, sizeof path, "%s/meta.db", dir);
    CHECK(ct_meta_open_sqlite(path, &m) == CT_OK);
    if (m) {
        CHECK(ct_meta_queue_put(m, "Default", "ACTIVE", "{\"name\":\"Default\"}", 1) == CT_OK);
        test_cancel_points(m);
        ct_meta_close(m);
    }
    snprintf(path, sizeof path, "rm -rf %s", dir);
    if (system(path) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    CT_TEST_END();
}
