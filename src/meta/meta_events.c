/* meta_events.c: webhooks, the job-event outbox and webhook deliveries.
 *
 * DESIGN: job events are written by SQLite triggers on the jobs table, so an
 * event row commits in the same transaction as the state change that caused
 * it (no hook, no window in which a crash loses or invents an event):
 *  - AFTER INSERT: the SUBMITTED event;
 *  - AFTER UPDATE OF status (status really changed): PROGRESSING, COMPLETE,
 *    ERROR, CANCELED;
 *  - AFTER UPDATE OF percent/phase while PROGRESSING: STATUS_UPDATE, at most
 *    one per the job's statusUpdateInterval (SECONDS_10 .. SECONDS_600,
 *    default 60) since the job's previous event.
 * The events dispatcher renders each row into EventBridge JSON, adds one
 * delivery row per interested webhook and marks the row done. A delivery row
 * carries the rendered body and its retry state (attempts, next_ms), so a
 * restart resumes pending deliveries (at-least-once). dedup keys make adding
 * a delivery idempotent when the dispatcher redoes work after a crash. */
#include "meta/meta_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOW_MS_SQL "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)"
#define INTERVAL_MS_SQL                                                                        \
    "(1000 * coalesce(nullif(CAST(substr(coalesce(json_extract(NEW.spec_json,"                  \
    " '$.statusUpdateInterval'), 'SECONDS_60'), 9) AS INTEGER), 0), 60))"

const char meta_events_schema[] =
    "CREATE TABLE IF NOT EXISTS webhooks ("
    " name TEXT PRIMARY KEY, url TEXT NOT NULL, secret TEXT NOT NULL, job_filter TEXT,"
    " created_ms INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS job_events ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT, job_id TEXT NOT NULL, status TEXT NOT NULL,"
    " phase TEXT NOT NULL DEFAULT '', percent INTEGER NOT NULL DEFAULT 0,"
    " time_ms INTEGER NOT NULL, done INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX IF NOT EXISTS job_events_pending ON job_events (done, id);"
    "CREATE INDEX IF NOT EXISTS job_events_job ON job_events (job_id, time_ms);"
    "CREATE TABLE IF NOT EXISTS deliveries ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT, webhook TEXT NOT NULL, kind TEXT NOT NULL,"
    " dedup TEXT UNIQUE, body TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'pending',"
    " attempts INTEGER NOT NULL DEFAULT 0, next_ms INTEGER NOT NULL DEFAULT 0,"
    " http_status INTEGER NOT NULL DEFAULT 0, last_error TEXT,"
    " created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (status, next_ms);"
    "CREATE INDEX IF NOT EXISTS deliveries_hook ON deliveries (webhook, id);"
    "CREATE TRIGGER IF NOT EXISTS job_events_submitted AFTER INSERT ON jobs BEGIN"
    " INSERT INTO job_events(job_id, status, time_ms) VALUES (NEW.id, NEW.status, " NOW_MS_SQL
    "); END;"
    "CREATE TRIGGER IF NOT EXISTS job_events_status AFTER UPDATE OF status ON jobs"
    " WHEN OLD.status IS NOT NEW.status BEGIN"
    " INSERT INTO job_events(job_id, status, phase, percent, time_ms)"
    " VALUES (NEW.id, NEW.status, NEW.phase, NEW.percent, " NOW_MS_SQL "); END;"
    "CREATE TRIGGER IF NOT EXISTS job_events_progress AFTER UPDATE OF percent, phase ON jobs"
    " WHEN OLD.status = 'PROGRESSING' AND NEW.status = 'PROGRESSING' AND NOT EXISTS ("
    "  SELECT 1 FROM job_events WHERE job_id = NEW.id"
    "  AND time_ms > " NOW_MS_SQL " - " INTERVAL_MS_SQL ") BEGIN"
    " INSERT INTO job_events(job_id, status, phase, percent, time_ms)"
    " VALUES (NEW.id, 'STATUS_UPDATE', NEW.phase, NEW.percent, " NOW_MS_SQL "); END;";

/* Runs a statement that returns no rows; *changes gets the row count. */
static ct_err run(ct_meta *m, sqlite3_stmt *st, int *changes)
{
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        return meta_sqlite_err(rc) ? meta_sqlite_err(rc) : CT_ERR_DB;
    if (changes)
        *changes = sqlite3_changes(m->db);
    return CT_OK;
}

/* ---------------------------------------------------------------- webhooks */

void ct_meta_webhook_free(ct_meta_webhook *w)
{
    if (!w)
        return;
    free(w->url);
    free(w->secret);
    free(w->job_filter);
    w->url = w->secret = w->job_filter = NULL;
}

ct_err ct_meta_webhook_create(ct_meta *m, const ct_meta_webhook *w)
{
    sqlite3_stmt *st = NULL;
    pthread_mutex_lock(&m->mu);
    ct_err err = meta_prep(m, "INSERT INTO webhooks(name, url, secret, job_filter, created_ms)"
                         " VALUES (?,?,?,?,?)", &st);
    if (err)
        goto cleanup;
    sqlite3_bind_text(st, 1, w->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, w->url, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, w->secret, -1, SQLITE_STATIC);
    if (w->job_filter)
        sqlite3_bind_text(st, 4, w->job_filter, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 4);
    sqlite3_bind_int64(st, 5, w->created_ms ? w->created_ms : ct_now_ms());
    err = run(m, st, NULL);
cleanup:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&m->mu);
    return err;
}

static void webhook_from_row(sqlite3_stmt *st, ct_meta_webhook *w)
{
    memset(w, 0, sizeof *w);
    meta_col_copy(st, 0, w->name, sizeof w->name);
    w->url = meta_col_dup(st, 1);
    w->secret = meta_col_dup(st, 2);
    w->job_filter = meta_col_dup(st, 3);
    w->created_ms = sqlite3_column_int64(st, 4);
}

#define WEBHOOK_COLS "name, url, secret, job_filter, created_ms"

ct_err ct_meta_webhook_get(ct_meta *m, const char *name, ct_meta_webhook *out)
{
    sqlite3_stmt *st = NULL;
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&m->mu);
    ct_err err = meta_prep(m, "SELECT " WEBHOOK_COLS " FROM webhooks WHERE name=?", &st);
    if (err)
        goto cleanup;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        err = rc == SQLITE_DONE ? CT_ERR_NOT_FOUND : meta_sqlite_err(rc);
        goto cleanup;
    }
    webhook_from_row(st, out);
    err = out->url && out->secret ? CT_OK : CT_ERR_NOMEM;
cleanup:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&m->mu);
    return err;
}

ct_err ct_meta_webhook_delete(ct_meta *m, const char *name)
{
    sqlite3_stmt *st = NULL;
    int changes = 0;
    pthread_mutex_lock(&m->mu);
    ct_err err = meta_prep(m, "DELETE FROM webhooks WHERE name=?", &st);
    if (err)
        goto cleanup;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    if (!(err = run(m, st, &changes)) && changes == 0)
        err = CT_ERR_NOT_FOUND;
cleanup:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&m->mu);
    return err;
}

ct_err ct_meta_webhook_list(ct_meta *m, ct_meta_webhook_cb cb, void *ctx)
{
    sqlite3_stmt *st = NULL;
    int rc = SQLITE_DONE;
    pthread_mutex_lock(&m->mu);
    ct_err err = meta_prep(m, "SELECT " WEBHOOK_COLS " FROM webhooks ORDER BY name", &st);
    while (!err && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        ct_meta_webhook w;
        webhook_from_row(st, &w);
        err = cb(ctx, &w);
        ct_meta_webhook_free(&w);
    }
    if (!err && rc != SQLITE_DONE)
        err = meta_sqlite_err(rc);
    sqlite3_finalize(st);
    pthread_mutex_unlock(&m->mu);
    return err;
}

/* -------------------------------------------------------------- job events */

ct_err ct_meta_job_events_pending(ct_meta *m, ct_meta_job_event *out, int max, int *n)
{
    sqlite3_stmt *st = NULL;
    *n = 0;
    pthread_mutex_lock(&m->mu);
    ct_err err = meta_prep(m, "SELECT id, job_id, status, phase, percent, time_ms FROM job_events"
                         " WHERE done=0 ORDER BY id LIMIT ?", &st);
    if (err)
        goto cleanup;
    sqlite3_bind_int(st, 1, max);
    while (*n < max && sqlite3_step(st) == SQLITE_ROW) {
        ct_meta_job_event *e = &out[(*n)++];
        e->id = sqlite3_column_int64(st, 0);
        meta_col_copy(st, 1, e->job_id, sizeof e->job_id);
        meta_col_copy(st, 2, e->status, sizeof e->status);
        meta_col_copy(st, 3, e->phase, sizeof e->phase);
        e->percent = sqlite3_column_int(st, 4);
        e->time_ms = sqlite3_column_int64(st, 5);
    }
cleanup:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&m->mu);
    return err;
}

/* Runs one statement binding (int64 a, int64 b) under the lock. */
static ct_err exec_ii(ct_meta *m, const char *sql, int64_t a, int64_t b, int *changes)
{
    sqlite3_stmt *st = NULL;
    pthread_mutex_lock(&m->mu);
    ct_err err = meta_prep(m, sql, &st);
    if (!err) {
        sqlite3_bind_int64(st, 1, a);
        sqlite3_bind_int64(st, 2, b);
        err = run(m, st, changes);
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&m->mu);
    return err;
}

ct_err ct_meta_job_event_done(ct_meta *m, int64_t id)
{
    return exec_ii(m, "UPDATE job_events SET done=1 WHERE id=?1 AND ?2=?2", id, 0, NULL);
}

ct_err ct_meta_events_prune(ct_meta *m, int64_t cutoff_ms)
{
    ct_err e = exec_ii(m, "DELETE FROM job_events WHERE done=1 AND time_ms<?1 AND ?2=?2",
                       cutoff_ms, 0, NULL);
    if (!e)
        e = exec_ii(m, "DELETE FROM deliveries WHERE status<>'pending' AND updated_ms<?1"
                       " AND ?2=?2", cutoff_ms, 0, NULL);
    return e;
}

/* -------------------------------------------------------------- deliveries */

void ct_meta_delivery_free(ct_meta_delivery *d)
{
    if (!d)
        return;
    free(d->body);
    free(d->last_error);
    d->body = d->last_error = NULL;
}

ct_err ct_meta_delivery_add(ct_meta *m, const char *webhook, const char *kind, const char *dedup,
                            const char *body, int *added)
{
    sqlite3_stmt *st = NULL;
    int changes = 0;
    int64_t now = ct_now_ms();
    pthread_mutex_lock(&m->mu);
    ct_err err = meta_prep(m, "INSERT OR IGNORE INTO deliveries(webhook, kind, dedup, body,"
                         " next_ms, created_ms, updated_ms) VALUES (?,?,?,?,?,?,?)", &st);
    if (err)
        goto cleanup;
    sqlite3_bind_text(st, 1, webhook, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, kind, -1, SQLITE_STATIC);
    if (dedup)
        sqlite3_bind_text(st, 3, dedup, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 3);
    sqlite3_bind_text(st, 4, body, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, now);
    sqlite3_bind_int64(st, 6, now);
    sqlite3_bind_int64(st, 7, now);
    err = run(m, st, &changes);
    if (added)
        *added = changes;
cleanup:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&m->mu);
    return err;
}

#define DELIVERY_COLS                                                                          \
    "id, webhook, kind, body, status, attempts, next_ms, http_status, last_error, created_ms," \
    " updated_ms"

static void delivery_from_row(sqlite3_stmt *st, ct_meta_delivery *d, int with_body)
{
    memset(d, 0, sizeof *d);
    d->id = sqlite3_column_int64(st, 0);
    meta_col_copy(st, 1, d->webhook, sizeof d->webhook);
    meta_col_copy(st, 2, d->kind, sizeof d->kind);
    d->body = with_body ? meta_col_dup(st, 3) : NULL;
    meta_col_copy(st, 4, d->status, sizeof d->status);
    d->attempts = sqlite3_column_int(st, 5);
    d->next_ms = sqlite3_column_int64(st, 6);
    d->http_status = sqlite3_column_int(st, 7);
    d->last_error = meta_col_dup(st, 8);
    d->created_ms = sqlite3_column_int64(st, 9);
    d->updated_ms = sqlite3_column_int64(st, 10);
}

ct_err ct_meta_delivery_due(ct_meta *m, int64_t now, ct_meta_delivery *out, int max, int *n)
{
    sqlite3_stmt *st = NULL;
    *n = 0;
    pthread_mutex_lock(&m->mu);
    ct_err err = meta_prep(m, "SELECT " DELIVERY_COLS " FROM deliveries WHERE status='pending'"
                         " AND next_ms<=? ORDER BY next_ms, id LIMIT ?", &st);
    if (err)
        goto cleanup;
    sqlite3_bind_int64(st, 1, now);
    sqlite3_bind_int(st, 2, max);
    while (*n < max && sqlite3_step(st) == SQLITE_ROW) {
        delivery_from_row(st, &out[*n], 1);
        if (!out[*n].body) {
            ct_meta_delivery_free(&out[*n]);
            err = CT_ERR_NOMEM;
            break;
        }
        (*n)++;
    }
cleanup:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&m->mu);
    return err;
}

ct_err ct_meta_delivery_next_due(ct_meta *m, int64_t *next_ms)
{
    sqlite3_stmt *st = NULL;
    *next_ms = 0;
    pthread_mutex_lock(&m->mu);
    ct_err err = meta_prep(m, "SELECT min(next_ms) FROM deliveries WHERE status='pending'", &st);
    if (!err && sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
        *next_ms = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    pthread_mutex_unlock(&m->mu);
    return err;
}

ct_err ct_meta_delivery_result(ct_meta *m, int64_t id, const char *status, int http_status,
                               const char *error, int64_t next_ms)
{
    sqlite3_stmt *st = NULL;
    pthread_mutex_lock(&m->mu);
    ct_err err = meta_prep(m, "UPDATE deliveries SET status=?1, http_status=?2, last_error=?3,"
                         " next_ms=?4, attempts=attempts+1, updated_ms=?5 WHERE id=?6", &st);
    if (err)
        goto cleanup;
    sqlite3_bind_text(st, 1, status, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, http_status);
    if (error)
        sqlite3_bind_text(st, 3, error, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 3);
    sqlite3_bind_int64(st, 4, next_ms);
    sqlite3_bind_int64(st, 5, ct_now_ms());
    sqlite3_bind_int64(st, 6, id);
    err = run(m, st, NULL);
cleanup:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&m->mu);
    return err;
}

ct_err ct_meta_delivery_list(ct_meta *m, const char *webhook, int max, ct_meta_delivery_cb cb,
                             void *ctx)
{
    sqlite3_stmt *st = NULL;
    int rc = SQLITE_DONE;
    pthread_mutex_lock(&m->mu);
    ct_err err = meta_prep(m, "SELECT " DELIVERY_COLS " FROM deliveries"
                         " WHERE (?1 IS NULL OR webhook=?1) ORDER BY id DESC LIMIT ?2", &st);
    if (err)
        goto cleanup;
    if (webhook)
        sqlite3_bind_text(st, 1, webhook, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 1);
    sqlite3_bind_int(st, 2, max);
    while (!err && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        ct_meta_delivery d;
        delivery_from_row(st, &d, 0);
        err = cb(ctx, &d);
        ct_meta_delivery_free(&d);
    }
    if (!err && rc != SQLITE_DONE)
        err = meta_sqlite_err(rc);
cleanup:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&m->mu);
    return err;
}

ct_err ct_meta_delivery_get(ct_meta *m, int64_t id, ct_meta_delivery *out)
{
    sqlite3_stmt *st = NULL;
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&m->mu);
    ct_err err = meta_prep(m, "SELECT " DELIVERY_COLS " FROM deliveries WHERE id=?", &st);
    if (err)
        goto cleanup;
    sqlite3_bind_int64(st, 1, id);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        err = rc == SQLITE_DONE ? CT_ERR_NOT_FOUND : meta_sqlite_err(rc);
        goto cleanup;
    }
    delivery_from_row(st, out, 1);
    err = out->body ? CT_OK : CT_ERR_NOMEM;
cleanup:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&m->mu);
    return err;
}
