/* meta.c: opening the engine, schema, shared helpers, kv settings, hooks.
 *
 * ct_meta_open picks the engine from the URL: SQLite (a path) or PostgreSQL
 * (postgres://...). The schema is created if missing; on PostgreSQL under
 * an advisory lock, since several processes may start at once. */
#include "meta/meta_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define META_SCHEMA_LOCK 0x63617474 /* "catt": advisory lock id for schema setup */

ct_err meta_prep(ct_meta *m, const char *sql, ct_db_stmt **st)
{
    return ct_db_prepare(m->db, sql, st);
}

char *meta_col_dup(ct_db_stmt *st, int col)
{
    const char *t = ct_db_col_text(st, col);
    return t ? strdup(t) : NULL;
}

void meta_col_copy(ct_db_stmt *st, int col, char *out, size_t n)
{
    const char *t = ct_db_col_text(st, col);
    size_t l = t ? strlen(t) : 0;
    if (n == 0)
        return;
    if (l >= n)
        l = n - 1;
    if (l)
        memcpy(out, t, l);
    out[l] = '\0';
}

int64_t meta_now_ms(ct_meta *m)
{
    int64_t t0 = ct_now_ms();
    if (!meta_is_pg(m) || t0 - m->clock_checked_ms < 60000)
        return t0 + m->clock_offset_ms;
    ct_db_stmt *st = NULL;
    if (meta_prep(m, "SELECT CAST(extract(epoch FROM clock_timestamp()) * 1000 AS bigint)",
                  &st) == CT_OK && ct_db_step(st) == CT_DB_ROW) {
        int64_t t1 = ct_now_ms();
        m->clock_offset_ms = ct_db_col_int64(st, 0) - (t0 + t1) / 2;
        m->clock_checked_ms = t1;
    }
    ct_db_finalize(st);
    return ct_now_ms() + m->clock_offset_ms;
}

ct_err meta_begin(ct_meta *m) { return ct_db_begin(m->db); }
ct_err meta_commit(ct_meta *m)
{
    ct_err err = ct_db_commit(m->db);
    meta_bump_epoch(m); /* even after a failed commit: a spare recheck is harmless */
    return err;
}

void meta_bump_epoch(ct_meta *m) { atomic_fetch_add(&m->write_epoch, 1); }

uint64_t ct_meta_write_epoch(ct_meta *m)
{
    return meta_is_pg(m) ? 0 : atomic_load(&m->write_epoch) + 1;
}
void meta_rollback(ct_meta *m) { ct_db_rollback(m->db); }

int meta_txn_again(ct_meta *m, ct_err err, int attempt)
{
    if (err != CT_ERR_DB || attempt + 1 >= META_TXN_TRIES)
        return 0;
    pthread_mutex_lock(&m->mu);
    int again = ct_db_txn_retryable(m->db);
    pthread_mutex_unlock(&m->mu);
    if (again)
        ct_warn("meta: transaction failed (deadlock, conflict or lost connection), retrying");
    return again;
}

ct_err meta_lock_key(ct_meta *m, const char *ns, const char *a, const char *b)
{
    if (!meta_is_pg(m))
        return CT_OK;
    ct_db_stmt *st = NULL;
    ct_err e = meta_prep(m, "SELECT pg_advisory_xact_lock(hashtextextended("
                            "CAST(? AS TEXT) || chr(1) || CAST(? AS TEXT) || chr(1) ||"
                            " CAST(? AS TEXT), 0))", &st);
    if (!e) {
        ct_db_bind_text(st, 1, ns);
        ct_db_bind_text(st, 2, a ? a : "");
        ct_db_bind_text(st, 3, b ? b : "");
        e = ct_db_step_done(st);
    }
    ct_db_finalize(st);
    return e;
}

static const char kv_schema[] =
    "CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v TEXT NOT NULL);";

/* Bump when the schema changes: PostgreSQL skips its DDL when the stored
 * version matches, since DROP/CREATE TRIGGER locks the jobs table against
 * the claims of processes already running. */
#define META_SCHEMA_VERSION "5"

/* PostgreSQL: 1 when the stored schema version is current. */
static int pg_schema_current(ct_db *db)
{
    ct_db_stmt *st = NULL;
    int current = 0;
    if (ct_db_prepare(db, "SELECT to_regclass('kv') IS NOT NULL", &st) == CT_OK &&
        ct_db_step(st) == CT_DB_ROW && ct_db_col_int(st, 0)) {
        ct_db_finalize(st);
        st = NULL;
        if (ct_db_prepare(db, "SELECT v FROM kv WHERE k='cattube.schema'", &st) == CT_OK &&
            ct_db_step(st) == CT_DB_ROW)
            current = strcmp(ct_db_col_text(st, 0), META_SCHEMA_VERSION) == 0;
    }
    ct_db_finalize(st);
    return current;
}

/* Columns added after a table's first release: databases made by older
 * builds get them here (CREATE TABLE IF NOT EXISTS leaves their tables as
 * they were). */
static const struct {
    const char *table, *column, *decl, *pg_decl; /* pg_decl: when it differs */
} late_columns[] = {
    {"jobs", "uploaded", "INTEGER NOT NULL DEFAULT 0", NULL},
    {"queues", "max_running", "INTEGER NOT NULL DEFAULT 0", NULL}, /* per-queue concurrency */
    {"objects", "inline_data", "BLOB", "BYTEA"}, /* schema 5: small objects' bytes */
};

static ct_err add_late_column(ct_db *db, int pg, const char *table, const char *column,
                              const char *decl)
{
    char sql[256];
    if (pg) {
        snprintf(sql, sizeof sql, "ALTER TABLE %s ADD COLUMN IF NOT EXISTS %s %s", table, column,
                 decl);
        return ct_db_exec(db, sql);
    }
    ct_db_stmt *st = NULL;
    ct_err err = ct_db_prepare(db, "SELECT 1 FROM pragma_table_info(?) WHERE name=?", &st);
    if (err)
        return err;
    ct_db_bind_text(st, 1, table);
    ct_db_bind_text(st, 2, column);
    int rc = ct_db_step(st);
    err = rc == CT_DB_ROW || rc == CT_DB_DONE ? CT_OK : ct_db_stmt_err(st);
    ct_db_finalize(st);
    if (!err && rc == CT_DB_DONE) {
        snprintf(sql, sizeof sql, "ALTER TABLE %s ADD COLUMN %s %s", table, column, decl);
        err = ct_db_exec(db, sql);
    }
    return err;
}

static ct_err add_late_columns(ct_db *db, int pg)
{
    ct_err err = CT_OK;
    for (size_t i = 0; i < CT_ARRAY_LEN(late_columns) && !err; i++)
        err = add_late_column(db, pg, late_columns[i].table, late_columns[i].column,
                              pg && late_columns[i].pg_decl ? late_columns[i].pg_decl
                                                            : late_columns[i].decl);
    return err;
}

static ct_err create_tables(ct_db *db, int pg)
{
    ct_err err;
    if ((err = ct_db_exec_ddl(db, kv_schema)) ||
        (err = ct_db_exec_ddl(db, meta_objects_schema)) ||
        (err = ct_db_exec_ddl(db, meta_uploads_schema)) ||
        (err = ct_db_exec_ddl(db, meta_jobs_schema)) ||
        (err = add_late_columns(db, pg)) || (err = meta_objects_upgrade(db)) ||
        (err = ct_db_exec_ddl(db, meta_edge_schema)) ||
        (err = ct_db_exec_ddl(db, meta_events_schema)) ||
        (err = ct_db_exec(db, pg ? meta_events_triggers_pg : meta_events_triggers_sqlite)) ||
        (err = ct_db_exec_ddl(db, meta_iam_schema)))
        ct_error("meta: creating the schema failed");
    if (!err && pg)
        err = ct_db_exec(db, "INSERT INTO kv(k,v) VALUES('cattube.schema','" META_SCHEMA_VERSION
                             "') ON CONFLICT(k) DO UPDATE SET v=excluded.v");
    return err;
}

static ct_err create_schema(ct_db *db)
{
    if (ct_db_dialect(db) != CT_DB_PG)
        return create_tables(db, 0);
    if (pg_schema_current(db))
        return CT_OK;
    char lock[96];
    snprintf(lock, sizeof lock, "SELECT pg_advisory_lock(%d)", META_SCHEMA_LOCK);
    ct_err err = ct_db_exec(db, lock);
    if (err)
        return err;
    if (!pg_schema_current(db)) /* another process may have done it meanwhile */
        err = create_tables(db, 1);
    snprintf(lock, sizeof lock, "SELECT pg_advisory_unlock(%d)", META_SCHEMA_LOCK);
    ct_db_exec(db, lock);
    return err;
}

static void on_notify(void *ctx, const char *channel)
{
    ct_meta *m = ctx;
    if (strcmp(channel, "cattube_job") == 0)
        meta_notify_job(m);
    else
        meta_notify_outbox(m);
}

ct_err ct_meta_open(const char *url_or_path, ct_meta **out)
{
    ct_meta *m = calloc(1, sizeof *m);
    if (!m)
        return CT_ERR_NOMEM;
    pthread_mutex_init(&m->mu, NULL);
    pthread_mutex_init(&m->hook_mu, NULL);
    pthread_mutex_init(&m->group_mu, NULL);
    m->group_tail = &m->group_head;
    ct_err err = ct_db_open(url_or_path, &m->db);
    if (err || (err = create_schema(m->db)))
        goto fail;
    if (meta_is_pg(m)) {
        static const char *const channels[] = {"cattube_job", "cattube_outbox"};
        if ((err = ct_db_listen(m->db, channels, 2, on_notify, m, &m->listener)))
            goto fail;
    } else if ((err = meta_readers_init(m, url_or_path)) || /* the watch sweeps them */
               (err = meta_watch_start(m, url_or_path, &m->watch))) {
        goto fail;
    }
    meta_bcache_init(m);
    *out = m;
    return CT_OK;
fail:
    ct_meta_close(m);
    return err;
}

ct_err ct_meta_open_sqlite(const char *path, ct_meta **out)
{
    if (ct_db_is_pg_url(path))
        return CT_ERR_INVALID;
    return ct_meta_open(path, out);
}

int ct_meta_is_shared(const ct_meta *m) { return meta_is_pg(m); }

void ct_meta_close(ct_meta *m)
{
    if (!m)
        return;
    ct_db_listen_stop(m->listener);
    meta_watch_stop(m->watch);
    meta_readers_free(m);
    meta_bcache_free(m);
    ct_db_close(m->db);
    pthread_mutex_destroy(&m->hook_mu);
    pthread_mutex_destroy(&m->group_mu);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

ct_err ct_meta_kv_get(ct_meta *m, const char *key, char **value)
{
    ct_db_stmt *st = NULL;
    pthread_mutex_lock(&m->mu);
    ct_err err = meta_prep(m, "SELECT v FROM kv WHERE k=?", &st);
    if (!err) {
        ct_db_bind_text(st, 1, key);
        int rc = ct_db_step(st);
        if (rc == CT_DB_ROW) {
            *value = meta_col_dup(st, 0);
            err = *value ? CT_OK : CT_ERR_NOMEM;
        } else {
            err = rc == CT_DB_DONE ? CT_ERR_NOT_FOUND : ct_db_stmt_err(st);
        }
    }
    ct_db_finalize(st);
    pthread_mutex_unlock(&m->mu);
    return err;
}

ct_err ct_meta_kv_set(ct_meta *m, const char *key, const char *value)
{
    ct_db_stmt *st = NULL;
    pthread_mutex_lock(&m->mu);
    ct_err err = meta_prep(m, "INSERT INTO kv(k,v) VALUES(?,?) "
                              "ON CONFLICT(k) DO UPDATE SET v=excluded.v", &st);
    if (!err) {
        ct_db_bind_text(st, 1, key);
        ct_db_bind_text(st, 2, value);
        err = ct_db_step_done(st);
    }
    ct_db_finalize(st);
    pthread_mutex_unlock(&m->mu);
    return err;
}

ct_err ct_meta_kv_add(ct_meta *m, const char *key, const char *value, char **stored)
{
    ct_db_stmt *st = NULL;
    pthread_mutex_lock(&m->mu);
    ct_err err = meta_prep(m, "INSERT INTO kv(k,v) VALUES(?,?) ON CONFLICT(k) DO NOTHING", &st);
    if (!err) {
        ct_db_bind_text(st, 1, key);
        ct_db_bind_text(st, 2, value);
        err = ct_db_step_done(st);
    }
    ct_db_finalize(st);
    pthread_mutex_unlock(&m->mu);
    return err ? err : ct_meta_kv_get(m, key, stored);
}

void ct_meta_on_outbox(ct_meta *m, ct_meta_notify_fn fn, void *ctx)
{
    pthread_mutex_lock(&m->hook_mu);
    m->on_outbox = fn;
    m->on_outbox_ctx = ctx;
    pthread_mutex_unlock(&m->hook_mu);
}

void ct_meta_on_job(ct_meta *m, ct_meta_notify_fn fn, void *ctx)
{
    pthread_mutex_lock(&m->hook_mu);
    m->on_job = fn;
    m->on_job_ctx = ctx;
    pthread_mutex_unlock(&m->hook_mu);
}

void meta_notify_outbox(ct_meta *m)
{
    pthread_mutex_lock(&m->hook_mu);
    if (m->on_outbox)
        m->on_outbox(m->on_outbox_ctx);
    pthread_mutex_unlock(&m->hook_mu);
}

void meta_notify_job(ct_meta *m)
{
    pthread_mutex_lock(&m->hook_mu);
    if (m->on_job)
        m->on_job(m->on_job_ctx);
    pthread_mutex_unlock(&m->hook_mu);
}
