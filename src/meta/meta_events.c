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
    "CREATE INDEX IF NOT EXISTS deliveries_hook ON deliveries (webhook, id);";

const char meta_events_triggers_sqlite[] =
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

/* PostgreSQL: the same three triggers as plpgsql functions (a trigger's
 * WHEN cannot hold the interval subquery, so that test is in the function),
 * plus NOTIFY so other processes' dispatchers and workers wake up: a job
 * event or outbox row wakes dispatchers, a job becoming SUBMITTED (or a
 * queue changing) wakes workers. job_events.claim_until leases a row to the
 * dispatcher that took it. */
#define PG_NOW_MS "CAST(extract(epoch FROM clock_timestamp()) * 1000 AS bigint)"
#define PG_INTERVAL_MS                                                                         \
    "1000 * coalesce(nullif(CAST(coalesce(substring(NEW.spec_json FROM"                          \
    " '\"statusUpdateInterval\"\\s*:\\s*\"SECONDS_([0-9]+)\"'), '60') AS bigint), 0), 60)"
#define PG_TRIGGER(name, fn, event, when)                                                      \
    "DROP TRIGGER IF EXISTS " name " ON jobs;"                                                 \
    "CREATE TRIGGER " name " " event " FOR EACH ROW " when " EXECUTE PROCEDURE " fn "();"

const char meta_events_triggers_pg[] =
    "ALTER TABLE job_events ADD COLUMN IF NOT EXISTS claim_until bigint NOT NULL DEFAULT 0;"
    "CREATE OR REPLACE FUNCTION cattube_job_event_insert() RETURNS trigger LANGUAGE plpgsql AS $$"
    " BEGIN INSERT INTO job_events(job_id, status, time_ms)"
    " VALUES (NEW.id, NEW.status, " PG_NOW_MS ");"
    " PERFORM pg_notify('cattube_outbox', ''); PERFORM pg_notify('cattube_job', '');"
    " RETURN NULL; END $$;"
    "CREATE OR REPLACE FUNCTION cattube_job_event_status() RETURNS trigger LANGUAGE plpgsql AS $$"
    " BEGIN INSERT INTO job_events(job_id, status, phase, percent, time_ms)"
    " VALUES (NEW.id, NEW.status, NEW.phase, NEW.percent, " PG_NOW_MS ");"
    " PERFORM pg_notify('cattube_outbox', ''); RETURN NULL; END $$;"
    "CREATE OR REPLACE FUNCTION cattube_job_event_progress() RETURNS trigger LANGUAGE plpgsql AS $$"
    " BEGIN IF NOT EXISTS (SELECT 1 FROM job_events WHERE job_id = NEW.id"
    " AND time_ms > " PG_NOW_MS " - " PG_INTERVAL_MS ") THEN"
    " INSERT INTO job_events(job_id, status, phase, percent, time_ms)"
    " VALUES (NEW.id, 'STATUS_UPDATE', NEW.phase, NEW.percent, " PG_NOW_MS ");"
    " PERFORM pg_notify('cattube_outbox', ''); END IF; RETURN NULL; END $$;"
    "CREATE OR REPLACE FUNCTION cattube_notify() RETURNS trigger LANGUAGE plpgsql AS $$"
    " BEGIN PERFORM pg_notify(TG_ARGV[0], ''); RETURN NULL; END $$;"
    PG_TRIGGER("job_events_submitted", "cattube_job_event_insert", "AFTER INSERT ON jobs", "")
    PG_TRIGGER("job_events_status", "cattube_job_event_status", "AFTER UPDATE OF status ON jobs",
               "WHEN (OLD.status IS DISTINCT FROM NEW.status)")
    PG_TRIGGER("job_events_progress", "cattube_job_event_progress",
               "AFTER UPDATE OF percent, phase ON jobs",
               "WHEN (OLD.status = 'PROGRESSING' AND NEW.status = 'PROGRESSING')")
    "DROP TRIGGER IF EXISTS outbox_notify ON outbox;"
    "CREATE TRIGGER outbox_notify AFTER INSERT ON outbox FOR EACH STATEMENT"
    " EXECUTE PROCEDURE cattube_notify('cattube_outbox');"
    "DROP TRIGGER IF EXISTS queues_notify ON queues;"
    "CREATE TRIGGER queues_notify AFTER INSERT OR UPDATE ON queues FOR EACH STATEMENT"
    " EXECUTE PROCEDURE cattube_notify('cattube_job');";

/* Runs a statement that returns no rows; *changes gets the row count. */
static ct_err run(ct_meta *m, ct_db_stmt *st, int *changes)
{
    int rc = ct_db_step(st);
    if (rc != CT_DB_DONE && rc != CT_DB_ROW)
        return ct_db_stmt_err(st) ? ct_db_stmt_err(st) : CT_ERR_DB;
    if (changes)
        *changes = ct_db_changes(st);
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
    ct_db_stmt *st = NULL;
    pthread_mutex_lock(&m->mu);
    ct_err err = meta_prep(m, "INSERT INTO webhooks(name, url, secret, job_filter, created_ms)"
                         " VALUES (?,?,?,?,?)", &st);
    if (err)
        goto cleanup;
    ct_db_bind_text(st, 1, w->name);
    ct_db_bind_text(st, 2, w->url);
    ct_db_bind_text(st, 3, w->secret);
    if (w->job_filter)
        ct_db_bind_text(st, 4, w->job_filter);
    else
        ct_db_bind_null(st, 4);
    ct_db_bind_int64(st, 5, w->created_ms ? w->created_ms : ct_now_ms());
    err = run(m, st, NULL);
cleanup:
    ct_db_finalize(st);
    pthread_mutex_unlock(&m->mu);
    return err;
}

static void webhook_from_row(ct_db_stmt *st, ct_meta_webhook *w)
{
    memset(w, 0, sizeof *w);
    meta_col_copy(st, 0, w->name, sizeof w->name);
    w->url = meta_col_dup(st, 1);
    w->secret = meta_col_dup(st, 2);
    w->job_filter = meta_col_dup(st, 3);
    w->created_ms = ct_db_col_int64(st, 4);
}

#define WEBHOOK_COLS "name, url, secret, job_filter, created_ms"

ct_err ct_meta_webhook_get(ct_meta *m, const char *name, ct_meta_webhook *out)
{
    ct_db_stmt *st = NULL;
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&m->mu);
    ct_err err = meta_prep(m, "SELECT " WEBHOOK_COLS " FROM webhooks WHERE name=?", &st);
    if (err)
        goto cleanup;
    ct_db_bind_text(st, 1, name);
    int rc = ct_db_step(st);
    if (rc != CT_DB_ROW) {
        err = rc == CT_DB_DONE ? CT_ERR_NOT_FOUND : ct_db_stmt_err(st);
        goto cleanup;
    }
    webhook_from_row(st, out);
    err = out->url && out->secret ? CT_OK : CT_ERR_NOMEM;
cleanup:
    ct_db_finalize(st);
    pthread_mutex_unlock(&m->mu);
    return err;
}

/* SQLite: secure_delete zeroes the old row's bytes in the page, and the
 * checkpoint writes that page over the old one in the main file, so the
 * replaced secret does not linger in the file. (PostgreSQL keeps the dead
 * tuple until VACUUM.) */
ct_err ct_meta_webhook_set_secret(ct_meta *m, const char *name, const char *old,
                                  const char *secret)
{
    ct_db_stmt *st = NULL;
    int changes = 0;
    pthread_mutex_lock(&m->mu);
    ct_err err = meta_is_pg(m) ? CT_OK : ct_db_exec(m->db, "PRAGMA secure_delete=ON");
    if (!err)
        err = meta_prep(m, "UPDATE webhooks SET secret=? WHERE name=? AND secret=?", &st);
    if (err)
        goto cleanup;
    ct_db_bind_text(st, 1, secret);
    ct_db_bind_text(st, 2, name);
    ct_db_bind_text(st, 3, old);
    if (!(err = run(m, st, &changes)) && changes == 0)
        err = CT_ERR_NOT_FOUND;
cleanup:
    ct_db_finalize(st);
    if (!meta_is_pg(m))
        ct_db_exec(m->db, "PRAGMA secure_delete=OFF; PRAGMA wal_checkpoint(TRUNCATE)");
    pthread_mutex_unlock(&m->mu);
    return err;
}

ct_err ct_meta_webhook_delete(ct_meta *m, const char *name)
{
    ct_db_stmt *st = NULL;
    int changes = 0;
    pthread_mutex_lock(&m->mu);
    ct_err err = meta_prep(m, "DELETE FROM webhooks WHERE name=?", &st);
    if (err)
        goto cleanup;
    ct_db_bind_text(st, 1, name);
    if (!(err = run(m, st, &changes)) && changes == 0)
        err = CT_ERR_NOT_FOUND;
cleanup:
    ct_db_finalize(st);
    pthread_mutex_unlock(&m->mu);
    return err;
}

ct_err ct_meta_webhook_list(ct_meta *m, ct_meta_webhook_cb cb, void *ctx)
{
    ct_db_stmt *st = NULL;
    int rc = CT_DB_DONE;
    pthread_mutex_lock(&m->mu);
    ct_err err = meta_prep(m, "SELECT " WEBHOOK_COLS " FROM webhooks ORDER BY name", &st);
    while (!err && (rc = ct_db_step(st)) == CT_DB_ROW) {
        ct_meta_webhook w;
        webhook_from_row(st, &w);
        err = cb(ctx, &w);
        ct_meta_webhook_free(&w);
    }
    if (!err && rc != CT_DB_DONE)
        err = ct_db_stmt_err(st);
    ct_db_finalize(st);
    pthread_mutex_unlock(&m->mu);
    return err;
}

/* -------------------------------------------------------------- job events */

static int job_event_cmp(const void *a, const void *b)
{
    int64_t x = ((const ct_meta_job_event *)a)->id, y = ((const ct_meta_job_event *)b)->id;
    return x < y ? -1 : x > y;
}

ct_err ct_meta_job_events_pending(ct_meta *m, ct_meta_job_event *out, int max, int *n)
{
    ct_db_stmt *st = NULL;
    *n = 0;
    pthread_mutex_lock(&m->mu);
    /* PostgreSQL: claimed for META_CLAIM_MS, so that of several dispatchers
     * exactly one renders each event (unless it dies holding it). */
    static const char sel[] = "SELECT id, job_id, status, phase, percent, time_ms FROM job_events"
                              " WHERE done=0 ORDER BY id LIMIT ?1";
    static const char claim[] =
        "UPDATE job_events SET claim_until=?2+?3 WHERE id IN (SELECT id FROM job_events"
        " WHERE done=0 AND claim_until<=?2 ORDER BY id LIMIT ?1 FOR UPDATE SKIP LOCKED)"
        " RETURNING id, job_id, status, phase, percent, time_ms";
    int64_t now = meta_now_ms(m);
    ct_err err = meta_prep(m, meta_is_pg(m) ? claim : sel, &st);
    if (err)
        goto cleanup;
    ct_db_bind_int64(st, 1, max);
    ct_db_bind_int64(st, 2, now);
    ct_db_bind_int64(st, 3, META_CLAIM_MS);
    int rc = CT_DB_DONE;
    while (*n < max && (rc = ct_db_step(st)) == CT_DB_ROW) {
        ct_meta_job_event *e = &out[(*n)++];
        e->id = ct_db_col_int64(st, 0);
        meta_col_copy(st, 1, e->job_id, sizeof e->job_id);
        meta_col_copy(st, 2, e->status, sizeof e->status);
        meta_col_copy(st, 3, e->phase, sizeof e->phase);
        e->percent = ct_db_col_int(st, 4);
        e->time_ms = ct_db_col_int64(st, 5);
    }
    if (rc == CT_DB_ERROR)
        err = ct_db_stmt_err(st);
    qsort(out, (size_t)*n, sizeof *out, job_event_cmp);
cleanup:
    ct_db_finalize(st);
    pthread_mutex_unlock(&m->mu);
    return err;
}

/* Runs one statement binding int64 a under the lock. */
static ct_err exec_i(ct_meta *m, const char *sql, int64_t a, int *changes)
{
    ct_db_stmt *st = NULL;
    pthread_mutex_lock(&m->mu);
    ct_err err = meta_prep(m, sql, &st);
    if (!err) {
        ct_db_bind_int64(st, 1, a);
        err = run(m, st, changes);
    }
    ct_db_finalize(st);
    pthread_mutex_unlock(&m->mu);
    return err;
}

ct_err ct_meta_job_event_done(ct_meta *m, int64_t id)
{
    return exec_i(m, "UPDATE job_events SET done=1 WHERE id=?1", id, NULL);
}

ct_err ct_meta_events_prune(ct_meta *m, int64_t cutoff_ms)
{
    ct_err e = exec_i(m, "DELETE FROM job_events WHERE done=1 AND time_ms<?1", cutoff_ms, NULL);
    if (!e)
        e = exec_i(m, "DELETE FROM deliveries WHERE status<>'pending' AND updated_ms<?1",
                      cutoff_ms, NULL);
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
    ct_db_stmt *st = NULL;
    int changes = 0;
    int64_t now = ct_now_ms();
    pthread_mutex_lock(&m->mu);
    ct_err err = meta_prep(m, "INSERT INTO deliveries(webhook, kind, dedup, body,"
                         " next_ms, created_ms, updated_ms) VALUES (?,?,?,?,?,?,?)"
                         " ON CONFLICT DO NOTHING", &st);
    if (err)
        goto cleanup;
    ct_db_bind_text(st, 1, webhook);
    ct_db_bind_text(st, 2, kind);
    if (dedup)
        ct_db_bind_text(st, 3, dedup);
    else
        ct_db_bind_null(st, 3);
    ct_db_bind_text(st, 4, body);
    ct_db_bind_int64(st, 5, now);
    ct_db_bind_int64(st, 6, now);
    ct_db_bind_int64(st, 7, now);
    err = run(m, st, &changes);
    if (added)
        *added = changes;
cleanup:
    ct_db_finalize(st);
    pthread_mutex_unlock(&m->mu);
    return err;
}

#define DELIVERY_COLS                                                                          \
    "id, webhook, kind, body, status, attempts, next_ms, http_status, last_error, created_ms," \
    " updated_ms"

static void delivery_from_row(ct_db_stmt *st, ct_meta_delivery *d, int with_body)
{
    memset(d, 0, sizeof *d);
    d->id = ct_db_col_int64(st, 0);
    meta_col_copy(st, 1, d->webhook, sizeof d->webhook);
    meta_col_copy(st, 2, d->kind, sizeof d->kind);
    d->body = with_body ? meta_col_dup(st, 3) : NULL;
    meta_col_copy(st, 4, d->status, sizeof d->status);
    d->attempts = ct_db_col_int(st, 5);
    d->next_ms = ct_db_col_int64(st, 6);
    d->http_status = ct_db_col_int(st, 7);
    d->last_error = meta_col_dup(st, 8);
    d->created_ms = ct_db_col_int64(st, 9);
    d->updated_ms = ct_db_col_int64(st, 10);
}

static int delivery_cmp(const void *a, const void *b)
{
    int64_t x = ((const ct_meta_delivery *)a)->id, y = ((const ct_meta_delivery *)b)->id;
    return x < y ? -1 : x > y;
}

ct_err ct_meta_delivery_due(ct_meta *m, int64_t now, ct_meta_delivery *out, int max, int *n)
{
    ct_db_stmt *st = NULL;
    *n = 0;
    pthread_mutex_lock(&m->mu);
    /* PostgreSQL: claimed by pushing next_ms META_CLAIM_MS ahead, so one
     * sender of many posts each delivery; _result settles it. */
    static const char sel[] = "SELECT " DELIVERY_COLS " FROM deliveries WHERE status='pending'"
                              " AND next_ms<=?1 ORDER BY next_ms, id LIMIT ?2";
    static const char claim[] =
        "UPDATE deliveries SET next_ms=?1+?3 WHERE id IN (SELECT id FROM deliveries"
        " WHERE status='pending' AND next_ms<=?1 ORDER BY next_ms, id LIMIT ?2"
        " FOR UPDATE SKIP LOCKED) RETURNING " DELIVERY_COLS;
    now += meta_now_ms(m) - ct_now_ms(); /* the caller's clock -> the shared one */
    ct_err err = meta_prep(m, meta_is_pg(m) ? claim : sel, &st);
    if (err)
        goto cleanup;
    ct_db_bind_int64(st, 1, now);
    ct_db_bind_int64(st, 2, max);
    ct_db_bind_int64(st, 3, META_CLAIM_MS);
    while (*n < max && ct_db_step(st) == CT_DB_ROW) {
        delivery_from_row(st, &out[*n], 1);
        if (!out[*n].body) {
            ct_meta_delivery_free(&out[*n]);
            err = CT_ERR_NOMEM;
            break;
        }
        (*n)++;
    }
    if (meta_is_pg(m))
        qsort(out, (size_t)*n, sizeof *out, delivery_cmp);
cleanup:
    ct_db_finalize(st);
    pthread_mutex_unlock(&m->mu);
    return err;
}

ct_err ct_meta_delivery_next_due(ct_meta *m, int64_t *next_ms)
{
    ct_db_stmt *st = NULL;
    *next_ms = 0;
    pthread_mutex_lock(&m->mu);
    ct_err err = meta_prep(m, "SELECT min(next_ms) FROM deliveries WHERE status='pending'", &st);
    if (!err && ct_db_step(st) == CT_DB_ROW && !ct_db_col_is_null(st, 0))
        *next_ms = ct_db_col_int64(st, 0);
    ct_db_finalize(st);
    pthread_mutex_unlock(&m->mu);
    return err;
}

ct_err ct_meta_delivery_result(ct_meta *m, int64_t id, const char *status, int http_status,
                               const char *error, int64_t next_ms)
{
    ct_db_stmt *st = NULL;
    pthread_mutex_lock(&m->mu);
    ct_err err = meta_prep(m, "UPDATE deliveries SET status=?1, http_status=?2, last_error=?3,"
                         " next_ms=?4, attempts=attempts+1, updated_ms=?5 WHERE id=?6", &st);
    if (err)
        goto cleanup;
    ct_db_bind_text(st, 1, status);
    ct_db_bind_int64(st, 2, http_status);
    if (error)
        ct_db_bind_text(st, 3, error);
    else
        ct_db_bind_null(st, 3);
    ct_db_bind_int64(st, 4, next_ms);
    ct_db_bind_int64(st, 5, ct_now_ms());
    ct_db_bind_int64(st, 6, id);
    err = run(m, st, NULL);
cleanup:
    ct_db_finalize(st);
    pthread_mutex_unlock(&m->mu);
    return err;
}

ct_err ct_meta_delivery_list(ct_meta *m, const char *webhook, int max, ct_meta_delivery_cb cb,
                             void *ctx)
{
    ct_db_stmt *st = NULL;
    int rc = CT_DB_DONE;
    pthread_mutex_lock(&m->mu);
    ct_err err = meta_prep(m, "SELECT " DELIVERY_COLS " FROM deliveries"
                         " WHERE (CAST(?1 AS TEXT) IS NULL OR webhook=?1)"
                         " ORDER BY id DESC LIMIT ?2", &st);
    if (err)
        goto cleanup;
    if (webhook)
        ct_db_bind_text(st, 1, webhook);
    else
        ct_db_bind_null(st, 1);
    ct_db_bind_int64(st, 2, max);
    while (!err && (rc = ct_db_step(st)) == CT_DB_ROW) {
        ct_meta_delivery d;
        delivery_from_row(st, &d, 0);
        err = cb(ctx, &d);
        ct_meta_delivery_free(&d);
    }
    if (!err && rc != CT_DB_DONE)
        err = ct_db_stmt_err(st);
cleanup:
    ct_db_finalize(st);
    pthread_mutex_unlock(&m->mu);
    return err;
}

ct_err ct_meta_delivery_get(ct_meta *m, int64_t id, ct_meta_delivery *out)
{
    ct_db_stmt *st = NULL;
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&m->mu);
    ct_err err = meta_prep(m, "SELECT " DELIVERY_COLS " FROM deliveries WHERE id=?", &st);
    if (err)
        goto cleanup;
    ct_db_bind_int64(st, 1, id);
    int rc = ct_db_step(st);
    if (rc != CT_DB_ROW) {
        err = rc == CT_DB_DONE ? CT_ERR_NOT_FOUND : ct_db_stmt_err(st);
        goto cleanup;
    }
    delivery_from_row(st, out, 1);
    err = out->body ? CT_OK : CT_ERR_NOMEM;
cleanup:
    ct_db_finalize(st);
    pthread_mutex_unlock(&m->mu);
    return err;
}
