/* meta_retention.c: deleting finished jobs past the operator's retention.
 *
 * DESIGN: a pass deletes expired jobs in batches of one short transaction
 * each (at most `batch` jobs), so it never holds SQLite's write lock or
 * PostgreSQL's row locks for long and API calls interleave with it. A batch
 * first deletes the jobs themselves with DELETE ... WHERE id IN (SELECT ...
 * LIMIT n) RETURNING id; on PostgreSQL the inner SELECT takes its rows FOR
 * UPDATE SKIP LOCKED, so API nodes purging at the same time take disjoint
 * batches and never wait on each other, and a row another node deleted
 * first is simply gone (every delete is idempotent). What is keyed by those
 * jobs goes in the same transaction: their job events and the settled
 * webhook deliveries rendered from them (dedup key "job:<event id>:<hook>",
 * events.c); progress, messages and the client request token are columns of
 * the job row itself. A job is skipped while one of its events is not yet
 * dispatched (the dispatcher needs the job row to render it) or a delivery
 * of one is still pending, so purging never loses an event; a later pass
 * takes the job. Finished jobs never change again, so a job that qualified
 * when selected still qualifies when deleted. */
#include "meta/meta_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Job ids per child DELETE (the PostgreSQL driver binds at most 32). */
#define PURGE_IDS_PER_STMT 30

/* A delivery d rendered from job event e (events.c's dedup key). */
#define DELIVERY_OF(d, e)                                                                      \
    d ".dedup >= ('job:' || " e ".id || ':') AND " d ".dedup < ('job:' || " e ".id || ';')"

/* Expired finished jobs with nothing left to deliver, oldest first, found
 * by a range of the index on finish_ms (unfinished jobs have 0: outside it).
 * SQLite without statistics would rather walk every finished job by the
 * status index, each pass, hence INDEXED BY there; likewise deliveries are
 * found by their dedup range, not among all pending ones (status is wrapped
 * in an expression so no index on it is used). */
#define PURGE_JOBS(from, lock)                                                                 \
    "DELETE FROM jobs WHERE id IN (SELECT j.id FROM " from                                     \
    " WHERE j.finish_ms > 0 AND j.finish_ms < ?1"                                              \
    " AND j.status IN ('COMPLETE','ERROR','CANCELED')"                                         \
    " AND NOT EXISTS (SELECT 1 FROM job_events e WHERE e.job_id = j.id AND (e.done = 0"        \
    "  OR EXISTS (SELECT 1 FROM deliveries d WHERE (d.status || '') = 'pending'"               \
    "   AND " DELIVERY_OF("d", "e") ")))"                                                      \
    " ORDER BY j.finish_ms LIMIT ?2" lock ")"                                                  \
    " AND status IN ('COMPLETE','ERROR','CANCELED') RETURNING id"

typedef char job_id[40];

/* Deletes the batch's jobs; their ids into ids[], count into *n. */
static ct_err delete_jobs_locked(ct_meta *m, int64_t cutoff, int batch, job_id *ids, int *n)
{
    ct_db_stmt *st = NULL;
    *n = 0;
    ct_err err = meta_prep(m, meta_is_pg(m)
                                  ? PURGE_JOBS("jobs j", " FOR UPDATE OF j SKIP LOCKED")
                                  : PURGE_JOBS("jobs j INDEXED BY jobs_finished", ""), &st);
    if (err)
        return err;
    ct_db_bind_int64(st, 1, cutoff);
    ct_db_bind_int64(st, 2, batch);
    int rc;
    while ((rc = ct_db_step(st)) == CT_DB_ROW)
        if (*n < batch)
            meta_col_copy(st, 0, ids[(*n)++], sizeof ids[0]);
    if (rc != CT_DB_DONE)
        err = ct_db_stmt_err(st) ? ct_db_stmt_err(st) : CT_ERR_DB;
    ct_db_finalize(st);
    return err;
}

/* Runs head + "(?,?,...)" + tail for ids[0..n). */
static ct_err delete_for_ids(ct_meta *m, const char *head, const char *tail, job_id *ids, int n)
{
    char sql[1024];
    size_t len = (size_t)snprintf(sql, sizeof sql, "%s(", head);
    for (int i = 0; i < n && len < sizeof sql; i++)
        len += (size_t)snprintf(sql + len, sizeof sql - len, i ? ",?" : "?");
    if (len >= sizeof sql || (size_t)snprintf(sql + len, sizeof sql - len, ")%s", tail) >=
                                 sizeof sql - len)
        return CT_ERR_INTERNAL;
    ct_db_stmt *st = NULL;
    ct_err err = meta_prep(m, sql, &st);
    if (err)
        return err;
    for (int i = 0; i < n; i++)
        ct_db_bind_text(st, i + 1, ids[i]);
    err = ct_db_step_done(st);
    ct_db_finalize(st);
    return err;
}

/* The deleted jobs' settled deliveries, then their job events. */
static ct_err delete_children_locked(ct_meta *m, job_id *ids, int n)
{
    static const char deliveries[] =
        "DELETE FROM deliveries WHERE status <> 'pending' AND id IN (SELECT d.id"
        " FROM job_events e JOIN deliveries d ON " DELIVERY_OF("d", "e") " WHERE e.job_id IN ";
    ct_err err = CT_OK;
    for (int at = 0; at < n && !err; at += PURGE_IDS_PER_STMT) {
        int k = n - at < PURGE_IDS_PER_STMT ? n - at : PURGE_IDS_PER_STMT;
        err = delete_for_ids(m, deliveries, ")", ids + at, k);
        if (!err)
            err = delete_for_ids(m, "DELETE FROM job_events WHERE job_id IN ", "", ids + at, k);
    }
    return err;
}

static ct_err purge_batch_once(ct_meta *m, int64_t retention_ms, int batch, job_id *ids, int *n)
{
    pthread_mutex_lock(&m->mu);
    int64_t cutoff = meta_now_ms(m) - retention_ms;
    ct_err err = meta_begin(m);
    if (err)
        goto unlock;
    if ((err = delete_jobs_locked(m, cutoff, batch, ids, n)) ||
        (err = delete_children_locked(m, ids, *n))) {
        meta_rollback(m);
        goto unlock;
    }
    err = meta_commit(m);
unlock:
    if (err)
        *n = 0;
    pthread_mutex_unlock(&m->mu);
    return err;
}

ct_err ct_meta_job_purge(ct_meta *m, int64_t retention_ms, int batch, int max_jobs,
                        int *deleted)
{
    int total = 0, n = 0, want = 0;
    ct_err err = CT_OK;
    if (batch <= 0)
        batch = CT_META_JOB_PURGE_BATCH;
    job_id *ids = retention_ms > 0 ? calloc((size_t)batch, sizeof *ids) : NULL;
    if (retention_ms > 0 && !ids)
        err = CT_ERR_NOMEM;
    /* A full batch means there may be more; the lock is free between batches. */
    for (n = want = batch; ids && !err && n == want; total += n) {
        want = max_jobs > 0 && max_jobs - total < batch ? max_jobs - total : batch;
        if (want <= 0)
            break;
        for (int attempt = 0;; attempt++) {
            err = purge_batch_once(m, retention_ms, want, ids, &n);
            if (err == CT_OK || !meta_txn_again(m, err, attempt))
                break;
        }
    }
    free(ids);
    if (deleted)
        *deleted = total;
    return err;
}
