/* meta_jobs.c: MediaConvert queues, job templates, presets and jobs.
 *
 * DESIGN: records are stored as their wire JSON plus the columns needed to
 * filter, order and lease. The job queue is a table: a worker claims the best
 * ready job with one UPDATE ... WHERE id=(SELECT ... LIMIT 1) RETURNING, which
 * SQLite runs atomically under its single writer; on PostgreSQL the inner
 * SELECT takes the row with FOR UPDATE SKIP LOCKED, so concurrent claimers
 * on many hosts each get a different job without waiting on each other.
 * A claim takes a lease (lease_owner, lease_until) and bumps attempt;
 * heartbeat and finish only touch the row while attempt still matches, so a
 * worker whose lease expired and was reclaimed by another can never
 * overwrite the new owner's state.
 * Expired leases are reclaimed by the next claim (retry_count+1); a job whose
 * lease expired more than META_JOB_MAX_RETRIES times fails with ERROR instead
 * of crashing workers forever.
 * A queue's max_running caps its PROGRESSING jobs with a live lease: the
 * claim skips full queues, and on PostgreSQL a claim from a limited queue
 * then locks that queue's row and recounts (limit_check_locked), so
 * concurrent claimers cannot both take its last slot. */
#include "meta/meta_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define META_JOB_MAX_RETRIES 3
#define META_JOB_LEASE_ERROR 1999 /* MediaConvert's "internal error" class */
#define META_CLAIM_RACES 16       /* claims retried after losing a limited queue's slot */

const char meta_jobs_schema[] =
    "CREATE TABLE IF NOT EXISTS queues ("
    " name TEXT PRIMARY KEY, status TEXT NOT NULL, json TEXT NOT NULL,"
    " created_ms INTEGER NOT NULL, max_running INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS named ("
    " kind TEXT NOT NULL, name TEXT NOT NULL, json TEXT NOT NULL,"
    " created_ms INTEGER NOT NULL, PRIMARY KEY (kind, name));"
    "CREATE TABLE IF NOT EXISTS jobs ("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    " id TEXT NOT NULL UNIQUE, queue TEXT NOT NULL, priority INTEGER NOT NULL DEFAULT 0,"
    " status TEXT NOT NULL, phase TEXT NOT NULL DEFAULT '', percent INTEGER NOT NULL DEFAULT 0,"
    " created_ms INTEGER NOT NULL, start_ms INTEGER NOT NULL DEFAULT 0,"
    " finish_ms INTEGER NOT NULL DEFAULT 0, retry_count INTEGER NOT NULL DEFAULT 0,"
    " error_code INTEGER NOT NULL DEFAULT 0, error_message TEXT, spec_json TEXT NOT NULL,"
    " output_details_json TEXT, warnings_json TEXT, attempt INTEGER NOT NULL DEFAULT 0,"
    " cancel_requested INTEGER NOT NULL DEFAULT 0, lease_owner TEXT,"
    " lease_until INTEGER NOT NULL DEFAULT 0, idem_key TEXT UNIQUE,"
    " uploaded INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX IF NOT EXISTS jobs_ready ON jobs (status, priority DESC, created_ms);"
    "CREATE INDEX IF NOT EXISTS jobs_queue ON jobs (queue, seq);"
    "CREATE INDEX IF NOT EXISTS jobs_finished ON jobs (finish_ms);" /* meta_retention.c */
    "CREATE INDEX IF NOT EXISTS jobs_queue_status ON jobs (queue, status);"; /* queue limits */

/* Column list shared by every SELECT/RETURNING of a whole job. */
#define JOB_COLS                                                                               \
    "id, queue, priority, status, phase, percent, created_ms, start_ms, finish_ms,"            \
    " retry_count, error_code, error_message, spec_json, output_details_json, warnings_json,"  \
    " attempt, cancel_requested, seq"

/* Runs a statement that returns no rows; *changes gets the row count. */
static ct_err step_done(ct_meta *m, ct_db_stmt *st, int *changes)
{
    int rc = ct_db_step(st);
    if (rc != CT_DB_DONE && rc != CT_DB_ROW)
        return ct_db_stmt_err(st) ? ct_db_stmt_err(st) : CT_ERR_DB;
    if (changes)
        *changes = ct_db_changes(st);
    return CT_OK;
}

static void bind_opt_text(ct_db_stmt *st, int i, const char *s)
{
    if (s)
        ct_db_bind_text(st, i, s);
    else
        ct_db_bind_null(st, i);
}

/* ---------------------------------------------------------------- queues */

void ct_meta_queue_free(ct_meta_queue *q)
{
    if (!q)
        return;
    free(q->json);
    q->json = NULL;
}

/* max_running < 0: 0 for a new queue, unchanged for an existing one. */
static ct_err queue_put(ct_meta *m, const char *name, const char *status, const char *json,
                        int create_only, int max_running)
{
    static const char ins[] = "INSERT INTO queues(name,status,json,created_ms,max_running)"
                              " VALUES(?1,?2,?3,?4,?5)";
    static const char ups[] = "INSERT INTO queues(name,status,json,created_ms,max_running)"
                              " VALUES(?1,?2,?3,?4,?5)"
                              " ON CONFLICT(name) DO UPDATE SET status=excluded.status,"
                              " json=excluded.json, max_running=CASE WHEN ?6=1"
                              " THEN queues.max_running ELSE excluded.max_running END";
    ct_db_stmt *st = NULL;
    pthread_mutex_lock(&m->mu);
    ct_err err = meta_prep(m, create_only ? ins : ups, &st);
    if (err)
        goto cleanup;
    ct_db_bind_text(st, 1, name);
    ct_db_bind_text(st, 2, status);
    ct_db_bind_text(st, 3, json);
    ct_db_bind_int64(st, 4, ct_now_ms());
    ct_db_bind_int64(st, 5, max_running < 0 ? 0 : max_running);
    if (!create_only)
        ct_db_bind_int64(st, 6, max_running < 0);
    err = step_done(m, st, NULL);
cleanup:
    ct_db_finalize(st);
    pthread_mutex_unlock(&m->mu);
    if (!err && strcmp(status, "ACTIVE") == 0) /* a resumed or widened queue has work */
        meta_notify_job(m);
    return err;
}

ct_err ct_meta_queue_put(ct_meta *m, const char *name, const char *status, const char *json,
                         int create_only)
{
    return queue_put(m, name, status, json, create_only, -1);
}

ct_err ct_meta_queue_put_limit(ct_meta *m, const char *name, const char *status,
                               const char *json, int create_only, int max_running)
{
    return queue_put(m, name, status, json, create_only, max_running < 0 ? 0 : max_running);
}

ct_err ct_meta_queue_get(ct_meta *m, const char *name, ct_meta_queue *out)
{
    ct_db_stmt *st = NULL;
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&m->mu);
    ct_err err = meta_prep(m, "SELECT name, status, json, max_running FROM queues WHERE name=?",
                           &st);
    if (err)
        goto cleanup;
    ct_db_bind_text(st, 1, name);
    int rc = ct_db_step(st);
    if (rc != CT_DB_ROW) {
        err = rc == CT_DB_DONE ? CT_ERR_NOT_FOUND : ct_db_stmt_err(st);
        goto cleanup;
    }
    meta_col_copy(st, 0, out->name, sizeof out->name);
    meta_col_copy(st, 1, out->status, sizeof out->status);
    out->json = meta_col_dup(st, 2);
    out->max_running = ct_db_col_int(st, 3);
    err = out->json ? CT_OK : CT_ERR_NOMEM;
cleanup:
    ct_db_finalize(st);
    pthread_mutex_unlock(&m->mu);
    return err;
}

ct_err ct_meta_queue_counts(ct_meta *m, const char *name, int *submitted, int *progressing)
{
    ct_db_stmt *st = NULL;
    *submitted = *progressing = 0;
    pthread_mutex_lock(&m->mu);
    ct_err err = meta_prep(m, "SELECT"
                         " coalesce(sum(CASE WHEN status='SUBMITTED' THEN 1 ELSE 0 END),0),"
                         " coalesce(sum(CASE WHEN status='PROGRESSING' THEN 1 ELSE 0 END),0)"
                         " FROM jobs WHERE queue=? AND status IN ('SUBMITTED','PROGRESSING')",
                      &st);
    if (err)
        goto cleanup;
    ct_db_bind_text(st, 1, name);
    if (ct_db_step(st) == CT_DB_ROW) {
        *submitted = ct_db_col_int(st, 0);
        *progressing = ct_db_col_int(st, 1);
    }
cleanup:
    ct_db_finalize(st);
    pthread_mutex_unlock(&m->mu);
    return err;
}

/* Caller holds the lock and a transaction. */
static ct_err queue_delete_locked(ct_meta *m, const char *name)
{
    ct_db_stmt *st = NULL;
    int changes = 0;
    ct_err err = meta_prep(m, "SELECT count(*) FROM jobs WHERE queue=?"
                         " AND status IN ('SUBMITTED','PROGRESSING')", &st);
    if (err)
        goto cleanup;
    ct_db_bind_text(st, 1, name);
    if (ct_db_step(st) != CT_DB_ROW) {
        err = CT_ERR_DB;
        goto cleanup;
    }
    if (ct_db_col_int(st, 0) > 0) {
        err = CT_ERR_CONFLICT;
        goto cleanup;
    }
    ct_db_finalize(st);
    st = NULL;
    if ((err = meta_prep(m, "DELETE FROM queues WHERE name=?", &st)))
        goto cleanup;
    ct_db_bind_text(st, 1, name);
    if ((err = step_done(m, st, &changes)))
        goto cleanup;
    err = changes ? CT_OK : CT_ERR_NOT_FOUND;
cleanup:
    ct_db_finalize(st);
    return err;
}

ct_err ct_meta_queue_delete(ct_meta *m, const char *name)
{
    pthread_mutex_lock(&m->mu);
    ct_err err = meta_begin(m);
    if (!err) {
        err = queue_delete_locked(m, name);
        if (err)
            meta_rollback(m);
        else
            err = meta_commit(m);
    }
    pthread_mutex_unlock(&m->mu);
    return err;
}

/* SELECT of one text column; cb per row. Caller passes bound statement. */
static ct_err each_json(ct_db_stmt *st, ct_meta_json_cb cb, void *ctx)
{
    int rc;
    while ((rc = ct_db_step(st)) == CT_DB_ROW) {
        const char *json = ct_db_col_text(st, 0);
        ct_err err = cb(ctx, json ? json : "{}");
        if (err)
            return err;
    }
    return rc == CT_DB_DONE ? CT_OK : ct_db_stmt_err(st);
}

ct_err ct_meta_queue_list(ct_meta *m, ct_meta_json_cb cb, void *ctx)
{
    ct_db_stmt *st = NULL;
    pthread_mutex_lock(&m->mu);
    ct_err err = meta_prep(m, "SELECT json FROM queues ORDER BY created_ms, name", &st);
    if (!err)
        err = each_json(st, cb, ctx);
    ct_db_finalize(st);
    pthread_mutex_unlock(&m->mu);
    return err;
}

/* ------------------------------------------------- job templates, presets */

ct_err ct_meta_named_put(ct_meta *m, const char *kind, const char *name, const char *json,
                         int create_only)
{
    static const char ins[] = "INSERT INTO named(kind,name,json,created_ms) VALUES(?,?,?,?)";
    static const char ups[] = "INSERT INTO named(kind,name,json,created_ms) VALUES(?,?,?,?)"
                              " ON CONFLICT(kind,name) DO UPDATE SET json=excluded.json";
    ct_db_stmt *st = NULL;
    pthread_mutex_lock(&m->mu);
    ct_err err = meta_prep(m, create_only ? ins : ups, &st);
    if (err)
        goto cleanup;
    ct_db_bind_text(st, 1, kind);
    ct_db_bind_text(st, 2, name);
    ct_db_bind_text(st, 3, json);
    ct_db_bind_int64(st, 4, ct_now_ms());
    err = step_done(m, st, NULL);
cleanup:
    ct_db_finalize(st);
    pthread_mutex_unlock(&m->mu);
    return err;
}

ct_err ct_meta_named_get(ct_meta *m, const char *kind, const char *name, char **json)
{
    ct_db_stmt *st = NULL;
    *json = NULL;
    pthread_mutex_lock(&m->mu);
    ct_err err = meta_prep(m, "SELECT json FROM named WHERE kind=? AND name=?", &st);
    if (err)
        goto cleanup;
    ct_db_bind_text(st, 1, kind);
    ct_db_bind_text(st, 2, name);
    int rc = ct_db_step(st);
    if (rc != CT_DB_ROW) {
        err = rc == CT_DB_DONE ? CT_ERR_NOT_FOUND : ct_db_stmt_err(st);
        goto cleanup;
    }
    *json = meta_col_dup(st, 0);
    err = *json ? CT_OK : CT_ERR_NOMEM;
cleanup:
    ct_db_finalize(st);
    pthread_mutex_unlock(&m->mu);
    return err;
}

ct_err ct_meta_named_delete(ct_meta *m, const char *kind, const char *name)
{
    ct_db_stmt *st = NULL;
    int changes = 0;
    pthread_mutex_lock(&m->mu);
    ct_err err = meta_prep(m, "DELETE FROM named WHERE kind=? AND name=?", &st);
    if (err)
        goto cleanup;
    ct_db_bind_text(st, 1, kind);
    ct_db_bind_text(st, 2, name);
    if (!(err = step_done(m, st, &changes)) && changes == 0)
        err = CT_ERR_NOT_FOUND;
cleanup:
    ct_db_finalize(st);
    pthread_mutex_unlock(&m->mu);
    return err;
}

ct_err ct_meta_named_list(ct_meta *m, const char *kind, ct_meta_json_cb cb, void *ctx)
{
    ct_db_stmt *st = NULL;
    pthread_mutex_lock(&m->mu);
    ct_err err = meta_prep(m, "SELECT json FROM named WHERE kind=? ORDER BY created_ms, name", &st);
    if (!err) {
        ct_db_bind_text(st, 1, kind);
        err = each_json(st, cb, ctx);
    }
    ct_db_finalize(st);
    pthread_mutex_unlock(&m->mu);
    return err;
}

/* ------------------------------------------------------------------ jobs */

void ct_meta_job_free(ct_meta_job *j)
{
    if (!j)
        return;
    free(j->error_message);
    free(j->spec_json);
    free(j->output_details_json);
    free(j->warnings_json);
    j->error_message = j->spec_json = j->output_details_json = j->warnings_json = NULL;
}

/* Reads a JOB_COLS row; returns the row's seq. */
static int64_t job_from_row(ct_db_stmt *st, ct_meta_job *j)
{
    memset(j, 0, sizeof *j);
    meta_col_copy(st, 0, j->id, sizeof j->id);
    meta_col_copy(st, 1, j->queue, sizeof j->queue);
    j->priority = ct_db_col_int(st, 2);
    meta_col_copy(st, 3, j->status, sizeof j->status);
    meta_col_copy(st, 4, j->phase, sizeof j->phase);
    j->percent = ct_db_col_int(st, 5);
    j->created_ms = ct_db_col_int64(st, 6);
    j->start_ms = ct_db_col_int64(st, 7);
    j->finish_ms = ct_db_col_int64(st, 8);
    j->retry_count = ct_db_col_int(st, 9);
    j->error_code = ct_db_col_int(st, 10);
    j->error_message = meta_col_dup(st, 11);
    j->spec_json = meta_col_dup(st, 12);
    j->output_details_json = meta_col_dup(st, 13);
    j->warnings_json = meta_col_dup(st, 14);
    j->attempt = ct_db_col_int(st, 15);
    j->cancel_requested = ct_db_col_int(st, 16);
    return ct_db_col_int64(st, 17);
}

/* Caller holds lock + transaction. CT_ERR_EXISTS with id_out when the key is taken. */
static ct_err idem_lookup(ct_meta *m, const char *idem_key, char id_out[40])
{
    ct_db_stmt *st = NULL;
    ct_err err = meta_prep(m, "SELECT id FROM jobs WHERE idem_key=?", &st);
    if (err)
        return err;
    ct_db_bind_text(st, 1, idem_key);
    int rc = ct_db_step(st);
    if (rc == CT_DB_ROW) {
        meta_col_copy(st, 0, id_out, 40);
        err = CT_ERR_EXISTS;
    } else if (rc != CT_DB_DONE) {
        err = ct_db_stmt_err(st);
    }
    ct_db_finalize(st);
    return err;
}

static ct_err job_insert_locked(ct_meta *m, const ct_meta_job *j, const char *idem_key)
{
    ct_db_stmt *st = NULL;
    ct_err err = meta_prep(m, "INSERT INTO jobs(id,queue,priority,status,created_ms,spec_json,"
                         "warnings_json,idem_key) VALUES(?,?,?,'SUBMITTED',?,?,?,?)", &st);
    if (err)
        return err;
    ct_db_bind_text(st, 1, j->id);
    ct_db_bind_text(st, 2, j->queue);
    ct_db_bind_int64(st, 3, j->priority);
    ct_db_bind_int64(st, 4, j->created_ms ? j->created_ms : meta_now_ms(m));
    ct_db_bind_text(st, 5, j->spec_json ? j->spec_json : "{}");
    bind_opt_text(st, 6, j->warnings_json);
    bind_opt_text(st, 7, idem_key);
    err = step_done(m, st, NULL);
    ct_db_finalize(st);
    return err;
}

static ct_err job_insert_once(ct_meta *m, ct_meta_job *j, const char *idem_key, char id_out[40])
{
    if (!j->id[0]) { /* caller left the id to us: epoch ms + random suffix */
        char rnd[7];
        ct_random_hex(rnd, 6);
        snprintf(j->id, sizeof j->id, "%lld-%s", (long long)ct_now_ms(), rnd);
    }
    pthread_mutex_lock(&m->mu);
    ct_err err = meta_begin(m);
    if (err)
        goto unlock;
    if (idem_key && (err = idem_lookup(m, idem_key, id_out)))
        goto rollback;
    if ((err = job_insert_locked(m, j, idem_key)))
        goto rollback;
    if ((err = meta_commit(m)))
        goto unlock;
    snprintf(id_out, 40, "%s", j->id);
    goto unlock;
rollback:
    meta_rollback(m);
    /* Another process inserted the same key between our lookup and insert
     * (PostgreSQL, READ COMMITTED): answer with its job. */
    if (err == CT_ERR_EXISTS && idem_key && idem_lookup(m, idem_key, id_out) == CT_ERR_EXISTS)
        err = CT_ERR_EXISTS;
unlock:
    pthread_mutex_unlock(&m->mu);
    if (!err) {
        meta_notify_job(m);
        meta_notify_outbox(m); /* its SUBMITTED event */
    }
    return err;
}

ct_err ct_meta_job_find_idem(ct_meta *m, const char *idem_key, char id_out[40])
{
    pthread_mutex_lock(&m->mu);
    ct_err err = idem_lookup(m, idem_key, id_out);
    pthread_mutex_unlock(&m->mu);
    return err == CT_ERR_EXISTS ? CT_OK : err ? err : CT_ERR_NOT_FOUND;
}

ct_err ct_meta_job_get(ct_meta *m, const char *id, ct_meta_job *out)
{
    ct_db_stmt *st = NULL;
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&m->mu);
    ct_err err = meta_prep(m, "SELECT " JOB_COLS " FROM jobs WHERE id=?", &st);
    if (err)
        goto cleanup;
    ct_db_bind_text(st, 1, id);
    int rc = ct_db_step(st);
    if (rc != CT_DB_ROW) {
        err = rc == CT_DB_DONE ? CT_ERR_NOT_FOUND : ct_db_stmt_err(st);
        goto cleanup;
    }
    job_from_row(st, out);
    err = out->spec_json ? CT_OK : CT_ERR_NOMEM;
cleanup:
    ct_db_finalize(st);
    pthread_mutex_unlock(&m->mu);
    return err;
}

/* Continuation tokens are "j" + the seq of the last row returned. */
static int parse_token(const char *tok, int64_t *seq)
{
    if (!tok || !*tok)
        return 0;
    char *end = NULL;
    if (tok[0] != 'j' || tok[1] < '0' || tok[1] > '9')
        return -1;
    long long v = strtoll(tok + 1, &end, 10);
    if (*end || v <= 0)
        return -1;
    *seq = v;
    return 1;
}

static ct_err job_list_bind(ct_db_stmt *st, const ct_meta_job_filter *f, int has_tok,
                            int64_t seq, int max)
{
    bind_opt_text(st, 1, f->queue);
    bind_opt_text(st, 2, f->status);
    if (has_tok)
        ct_db_bind_int64(st, 3, seq);
    else
        ct_db_bind_null(st, 3);
    bind_opt_text(st, 4, f->input_file);
    ct_db_bind_int64(st, 5, max + 1);
    return CT_OK;
}

static ct_err job_list_rows(ct_db_stmt *st, int max, ct_meta_job_cb cb, void *ctx,
                            char **next_token)
{
    int n = 0, rc;
    int64_t last = 0;
    ct_err err = CT_OK;
    while ((rc = ct_db_step(st)) == CT_DB_ROW) {
        if (n == max) { /* one more row exists */
            char tok[32];
            snprintf(tok, sizeof tok, "j%lld", (long long)last);
            *next_token = strdup(tok);
            return *next_token ? CT_OK : CT_ERR_NOMEM;
        }
        ct_meta_job j;
        last = job_from_row(st, &j);
        err = cb(ctx, &j);
        ct_meta_job_free(&j);
        if (err)
            return err;
        n++;
    }
    return rc == CT_DB_DONE ? CT_OK : ct_db_stmt_err(st);
}

ct_err ct_meta_job_list(ct_meta *m, const ct_meta_job_filter *f, ct_meta_job_cb cb, void *ctx,
                        char **next_token)
{
/* Parameters that may be NULL are CAST where first tested: PostgreSQL must
 * know their type. */
#define JOB_LIST(cmp, input_match, order)                                                       \
    "SELECT " JOB_COLS " FROM jobs WHERE (CAST(?1 AS TEXT) IS NULL OR queue=?1) AND"           \
    " (CAST(?2 AS TEXT) IS NULL OR status=?2) AND (CAST(?3 AS BIGINT) IS NULL OR"              \
    " seq" cmp "?3) AND (CAST(?4 AS TEXT) IS NULL OR " input_match ")"                         \
    " ORDER BY seq " order " LIMIT ?5"
#define SQLITE_INPUT                                                                           \
    "instr(coalesce(json_extract(spec_json,'$.settings.inputs[0].fileInput'),''),?4)>0"
#define PG_INPUT                                                                               \
    "strpos(coalesce(CAST(spec_json AS jsonb) #>> '{settings,inputs,0,fileInput}',''),?4)>0"
    static const char *const sql[2][2] = {
        {JOB_LIST("<", SQLITE_INPUT, "DESC"), JOB_LIST(">", SQLITE_INPUT, "ASC")},
        {JOB_LIST("<", PG_INPUT, "DESC"), JOB_LIST(">", PG_INPUT, "ASC")},
    };
    ct_db_stmt *st = NULL;
    int64_t seq = 0;
    int max = f->max < 1 || f->max > 20 ? 20 : f->max;
    *next_token = NULL;
    int has_tok = parse_token(f->after_token, &seq);
    if (has_tok < 0)
        return CT_ERR_INVALID;
    pthread_mutex_lock(&m->mu);
    ct_err err = meta_prep(m, sql[meta_is_pg(m)][f->ascending ? 1 : 0], &st);
    if (!err) {
        job_list_bind(st, f, has_tok, seq, max);
        err = job_list_rows(st, max, cb, ctx, next_token);
    }
    ct_db_finalize(st);
    pthread_mutex_unlock(&m->mu);
    return err;
}

/* Caller holds lock + transaction. */
static ct_err job_cancel_locked(ct_meta *m, const char *id)
{
    ct_db_stmt *st = NULL;
    char status[16];
    ct_err err = meta_prep(m, "SELECT status FROM jobs WHERE id=?", &st);
    if (err)
        return err;
    ct_db_bind_text(st, 1, id);
    int rc = ct_db_step(st);
    if (rc != CT_DB_ROW) {
        err = rc == CT_DB_DONE ? CT_ERR_NOT_FOUND : ct_db_stmt_err(st);
        goto cleanup;
    }
    meta_col_copy(st, 0, status, sizeof status);
    ct_db_finalize(st);
    st = NULL;
    if (strcmp(status, "SUBMITTED") != 0 && strcmp(status, "PROGRESSING") != 0) {
        err = CT_ERR_CONFLICT;
        goto cleanup;
    }
    if ((err = meta_prep(m, "UPDATE jobs SET cancel_requested=1,"
                       " status=CASE WHEN status='SUBMITTED' THEN 'CANCELED' ELSE status END,"
                       " finish_ms=CASE WHEN status='SUBMITTED' THEN ?2 ELSE finish_ms END"
                       " WHERE id=?1 AND status IN ('SUBMITTED','PROGRESSING')", &st)))
        goto cleanup;
    ct_db_bind_text(st, 1, id);
    ct_db_bind_int64(st, 2, meta_now_ms(m));
    err = step_done(m, st, NULL);
cleanup:
    ct_db_finalize(st);
    return err;
}

static ct_err job_cancel_once(ct_meta *m, const char *id)
{
    pthread_mutex_lock(&m->mu);
    ct_err err = meta_begin(m);
    if (!err) {
        err = job_cancel_locked(m, id);
        if (err)
            meta_rollback(m);
        else
            err = meta_commit(m);
    }
    pthread_mutex_unlock(&m->mu);
    if (!err)
        meta_notify_outbox(m); /* a SUBMITTED job's CANCELED event */
    return err;
}

/* Before a claim: expired leases of jobs that were asked to cancel become
 * CANCELED; those that ran out of retries become ERROR. */
static ct_err reap_expired_locked(ct_meta *m, int64_t now, int *reaped)
{
#define REAP(lock)                                                                             \
    "UPDATE jobs SET status=CASE WHEN cancel_requested<>0 THEN 'CANCELED' ELSE 'ERROR' END,"   \
    " finish_ms=?1, phase='', lease_owner=NULL, lease_until=0,"                                \
    " error_code=CASE WHEN cancel_requested<>0 THEN 0 ELSE ?2 END,"                            \
    " error_message=CASE WHEN cancel_requested<>0 THEN NULL ELSE"                              \
    " 'job abandoned, its retries used up: its workers stopped responding or handed it back"  \
    " (a store or credential problem: see the workers'' logs)' END"                             \
    " WHERE id IN (SELECT id FROM jobs WHERE status='PROGRESSING' AND lease_until<?1"          \
    " AND (cancel_requested=1 OR retry_count>=?3)" lock ")"
    ct_db_stmt *st = NULL;
    ct_err err = meta_prep(m, meta_is_pg(m) ? REAP(" FOR UPDATE SKIP LOCKED") : REAP(""), &st);
    if (err)
        return err;
    ct_db_bind_int64(st, 1, now);
    ct_db_bind_int64(st, 2, META_JOB_LEASE_ERROR);
    ct_db_bind_int64(st, 3, META_JOB_MAX_RETRIES);
    err = step_done(m, st, reaped);
    ct_db_finalize(st);
    return err;
}

/* Queues whose jobs with a live lease fill their max_running: the claim
 * passes over their jobs, so other queues' jobs go ahead in priority order.
 * An expired lease (a dead worker, a hand-back) no longer holds a slot. */
#define FULL_QUEUES                                                                            \
    "SELECT f.name FROM queues f WHERE f.max_running>0 AND f.max_running<=(SELECT count(*)"    \
    " FROM jobs r WHERE r.queue=f.name AND r.status='PROGRESSING' AND r.lease_until>=?2)"

/* After a claim from a limited queue: CT_ERR_CONFLICT when the queue is now
 * over its limit. On PostgreSQL (READ COMMITTED) two claimers may both have
 * seen the last free slot; claims of one limited queue therefore serialize
 * on its row (FOR UPDATE, taken only when limited), and the count, a new
 * statement with a new snapshot, sees every claim committed before ours.
 * SQLite's claims are serialized by BEGIN IMMEDIATE, so it never conflicts. */
static ct_err limit_check_locked(ct_meta *m, const char *queue, int64_t now)
{
    ct_db_stmt *st = NULL;
    int max = 0;
    ct_err err = meta_prep(m, meta_is_pg(m) ? "SELECT max_running FROM queues WHERE name=?"
                                               " AND max_running>0 FOR UPDATE"
                                             : "SELECT max_running FROM queues WHERE name=?"
                                               " AND max_running>0", &st);
    if (err)
        return err;
    ct_db_bind_text(st, 1, queue);
    int rc = ct_db_step(st);
    if (rc == CT_DB_ROW)
        max = ct_db_col_int(st, 0);
    else if (rc != CT_DB_DONE)
        err = ct_db_stmt_err(st);
    ct_db_finalize(st);
    st = NULL;
    if (err || max <= 0) /* unlimited: nothing to check, nothing locked */
        return err;
    if ((err = meta_prep(m, "SELECT count(*) FROM jobs WHERE queue=? AND status='PROGRESSING'"
                            " AND lease_until>=?", &st)))
        return err;
    ct_db_bind_text(st, 1, queue);
    ct_db_bind_int64(st, 2, now);
    rc = ct_db_step(st);
    if (rc != CT_DB_ROW)
        err = ct_db_stmt_err(st) ? ct_db_stmt_err(st) : CT_ERR_DB;
    else if (ct_db_col_int(st, 0) > max)
        err = CT_ERR_CONFLICT;
    ct_db_finalize(st);
    return err;
}

static ct_err claim_locked(ct_meta *m, const char *worker_id, int64_t now, int64_t lease_ms,
                           ct_meta_job *out)
{
#define CLAIM(lock)                                                                            \
    "UPDATE jobs SET status='PROGRESSING', phase='PROBING', percent=0, lease_owner=?1,"        \
    " lease_until=?2+?3, attempt=attempt+1,"                                                   \
    " retry_count=retry_count+(CASE WHEN status='PROGRESSING' THEN 1 ELSE 0 END),"             \
    " start_ms=CASE WHEN start_ms=0 THEN ?2 ELSE start_ms END"                                 \
    " WHERE id=(SELECT j.id FROM jobs j JOIN queues q ON q.name=j.queue"                       \
    "  WHERE ((j.status='SUBMITTED' AND q.status='ACTIVE' AND j.cancel_requested=0)"           \
    "     OR (j.status='PROGRESSING' AND j.lease_until<?2))"                                   \
    "   AND j.queue NOT IN (" FULL_QUEUES ")"                                                  \
    "  ORDER BY j.priority DESC, j.created_ms ASC, j.seq ASC LIMIT 1" lock ")"                 \
    " RETURNING " JOB_COLS
    ct_db_stmt *st = NULL;
    ct_err err = meta_prep(m, meta_is_pg(m) ? CLAIM(" FOR UPDATE OF j SKIP LOCKED") : CLAIM(""),
                           &st);
    if (err)
        return err;
    ct_db_bind_text(st, 1, worker_id);
    ct_db_bind_int64(st, 2, now);
    ct_db_bind_int64(st, 3, lease_ms);
    int rc = ct_db_step(st);
    if (rc == CT_DB_ROW) {
        job_from_row(st, out);
        err = out->spec_json ? CT_OK : CT_ERR_NOMEM;
        if (ct_db_step(st) == CT_DB_ERROR && !err) /* finish the statement before COMMIT */
            err = ct_db_stmt_err(st);
    } else {
        err = rc == CT_DB_DONE ? CT_ERR_NOT_FOUND : ct_db_stmt_err(st);
    }
    ct_db_finalize(st);
    if (!err)
        err = limit_check_locked(m, out->queue, now);
    return err;
}

static ct_err job_claim_once(ct_meta *m, const char *worker_id, int64_t lease_ms, ct_meta_job *out)
{
    int reaped = 0;
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&m->mu);
    int64_t now = meta_now_ms(m);
    ct_err err = meta_begin(m);
    if (err)
        goto unlock;
    err = reap_expired_locked(m, now, &reaped);
    if (!err)
        err = claim_locked(m, worker_id, now, lease_ms, out);
    if (err && err != CT_ERR_NOT_FOUND) {
        meta_rollback(m);
        goto unlock;
    }
    ct_err cerr = meta_commit(m); /* also keeps what the reaper did when nothing was ready */
    if (cerr)
        err = cerr;
unlock:
    if (err)
        ct_meta_job_free(out);
    pthread_mutex_unlock(&m->mu);
    if (!err || (err == CT_ERR_NOT_FOUND && reaped))
        meta_notify_outbox(m); /* PROGRESSING, or the reaper's ERROR/CANCELED */
    return err;
}

ct_err ct_meta_job_heartbeat(ct_meta *m, const char *id, int attempt, const char *phase,
                             int percent, int64_t lease_ms, int *cancel)
{
    ct_db_stmt *st = NULL;
    if (cancel)
        *cancel = 0;
    pthread_mutex_lock(&m->mu);
    int64_t now = meta_now_ms(m);
    /* uploaded stays set across attempts: once any attempt may have
     * committed an output, CancelJob is refused (meta_search.h) */
    ct_err err = meta_prep(m, "UPDATE jobs SET lease_until=?1, phase=coalesce(?2, phase),"
                         " uploaded=CASE WHEN ?2='UPLOADING' THEN 1 ELSE uploaded END,"
                         " percent=?3 WHERE id=?4 AND attempt=?5 AND status='PROGRESSING'"
                         " RETURNING cancel_requested", &st);
    if (err)
        goto cleanup;
    ct_db_bind_int64(st, 1, now + lease_ms);
    bind_opt_text(st, 2, phase);
    ct_db_bind_int64(st, 3, percent < 0 ? 0 : percent > 100 ? 100 : percent);
    ct_db_bind_text(st, 4, id);
    ct_db_bind_int64(st, 5, attempt);
    int rc = ct_db_step(st);
    if (rc == CT_DB_ROW) {
        if (cancel)
            *cancel = ct_db_col_int(st, 0);
        ct_db_step(st);
    } else {
        err = rc == CT_DB_DONE ? CT_ERR_CONFLICT : ct_db_stmt_err(st);
    }
cleanup:
    ct_db_finalize(st);
    pthread_mutex_unlock(&m->mu);
    if (!err)
        meta_notify_outbox(m); /* maybe a STATUS_UPDATE event (the trigger decides) */
    return err;
}

ct_err ct_meta_job_finish(ct_meta *m, const char *id, int attempt, const char *status,
                          int error_code, const char *error_message,
                          const char *output_details_json, const char *warnings_json)
{
    ct_db_stmt *st = NULL;
    int changes = 0;
    pthread_mutex_lock(&m->mu);
    ct_err err = meta_prep(m, "UPDATE jobs SET status=?1, error_code=?2, error_message=?3,"
                         " output_details_json=?4, warnings_json=coalesce(?5, warnings_json),"
                         " finish_ms=?6, phase='', percent=CASE WHEN ?1='COMPLETE' THEN 100"
                         " ELSE percent END, lease_owner=NULL, lease_until=0"
                         " WHERE id=?7 AND attempt=?8 AND status='PROGRESSING'", &st);
    if (err)
        goto cleanup;
    ct_db_bind_text(st, 1, status);
    ct_db_bind_int64(st, 2, error_code);
    bind_opt_text(st, 3, error_message);
    bind_opt_text(st, 4, output_details_json);
    bind_opt_text(st, 5, warnings_json);
    ct_db_bind_int64(st, 6, meta_now_ms(m));
    ct_db_bind_text(st, 7, id);
    ct_db_bind_int64(st, 8, attempt);
    if (!(err = step_done(m, st, &changes)) && changes == 0)
        err = CT_ERR_CONFLICT;
cleanup:
    ct_db_finalize(st);
    pthread_mutex_unlock(&m->mu);
    if (!err)
        meta_notify_outbox(m); /* COMPLETE / ERROR / CANCELED */
    return err;
}

/* PostgreSQL may ask for the transaction to run again (meta_txn_again). */
ct_err ct_meta_job_insert(ct_meta *m, ct_meta_job *j, const char *idem_key, char id_out[40])
{
    ct_err err;
    for (int attempt = 0;; attempt++) {
        err = job_insert_once(m, j, idem_key, id_out);
        if (err == CT_OK || err == CT_ERR_EXISTS || !meta_txn_again(m, err, attempt))
            return err;
    }
}

/* PostgreSQL may ask for the transaction to run again (meta_txn_again). */
ct_err ct_meta_job_cancel(ct_meta *m, const char *id)
{
    ct_err err;
    for (int attempt = 0;; attempt++) {
        err = job_cancel_once(m, id);
        if (err == CT_OK || !meta_txn_again(m, err, attempt))
            return err;
    }
}

/* PostgreSQL may ask for the transaction to run again (meta_txn_again). */
ct_err ct_meta_job_claim(ct_meta *m, const char *worker_id, int64_t lease_ms, ct_meta_job *out)
{
    ct_err err;
    int raced = 0;
    for (int attempt = 0;; attempt++) {
        err = job_claim_once(m, worker_id, lease_ms, out);
        if (err == CT_ERR_CONFLICT) { /* lost a queue's last slot: the next try skips it */
            if (++raced < META_CLAIM_RACES) {
                attempt--;
                continue;
            }
            return CT_ERR_NOT_FOUND; /* the worker polls again */
        }
        if (err == CT_OK || !meta_txn_again(m, err, attempt))
            return err;
    }
}
