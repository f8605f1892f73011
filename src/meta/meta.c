/* meta.c: opening the SQLite engine, schema, shared helpers, kv settings. */
#include "meta/meta_internal.h"

#include <stdlib.h>
#include <string.h>

ct_err meta_sqlite_err(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_DONE:
    case SQLITE_ROW: return CT_OK;
    case SQLITE_FULL: return CT_ERR_NOSPC;
    case SQLITE_CONSTRAINT: return CT_ERR_EXISTS;
    case SQLITE_NOMEM: return CT_ERR_NOMEM;
    case SQLITE_IOERR: return CT_ERR_IO;
    case SQLITE_TOOBIG: return CT_ERR_TOO_LARGE;
    default: return CT_ERR_DB;
    }
}

ct_err meta_prep(ct_meta *m, const char *sql, sqlite3_stmt **st)
{
    if (sqlite3_prepare_v2(m->db, sql, -1, st, NULL) != SQLITE_OK) {
        ct_error("meta: prepare: %s: %s", sqlite3_errmsg(m->db), sql);
        return CT_ERR_DB;
    }
    return CT_OK;
}

void meta_bind_text(sqlite3_stmt *st, int i, const char *s)
{
    if (s)
        sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, i);
}

ct_err meta_step_done(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? CT_OK : meta_sqlite_err(rc);
}

char *meta_col_dup(sqlite3_stmt *st, int col)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    return t ? strdup((const char *)t) : NULL;
}

void meta_col_copy(sqlite3_stmt *st, int col, char *out, size_t n)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    size_t l = t ? strlen((const char *)t) : 0;
    if (l >= n)
        l = n - 1;
    if (l)
        memcpy(out, t, l);
    out[l] = '\0';
}

ct_err meta_begin(ct_meta *m)
{
    return meta_sqlite_err(sqlite3_exec(m->db, "BEGIN IMMEDIATE", NULL, NULL, NULL));
}

ct_err meta_commit(ct_meta *m)
{
    int rc = sqlite3_exec(m->db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        sqlite3_exec(m->db, "ROLLBACK", NULL, NULL, NULL);
        return meta_sqlite_err(rc);
    }
    return CT_OK;
}

void meta_rollback(ct_meta *m) { sqlite3_exec(m->db, "ROLLBACK", NULL, NULL, NULL); }

static const char kv_schema[] =
    "CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v TEXT NOT NULL);";

static ct_err exec_schema(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        ct_error("meta: schema: %s", msg ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
        return meta_sqlite_err(rc) ? meta_sqlite_err(rc) : CT_ERR_DB;
    }
    return CT_OK;
}

ct_err ct_meta_open_sqlite(const char *path, ct_meta **out)
{
    ct_meta *m = calloc(1, sizeof *m);
    if (!m)
        return CT_ERR_NOMEM;
    pthread_mutex_init(&m->mu, NULL);
    int rc = sqlite3_open_v2(path, &m->db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                             NULL);
    ct_err err = CT_OK;
    if (rc != SQLITE_OK) {
        ct_error("meta: open %s: %s", path, sqlite3_errstr(rc));
        err = CT_ERR_DB;
        goto fail;
    }
    sqlite3_busy_timeout(m->db, 5000);
    /* WAL + FULL: a committed transaction survives power loss. */
    if ((err = exec_schema(m->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                                  "PRAGMA foreign_keys=ON;")) ||
        (err = exec_schema(m->db, kv_schema)) ||
        (err = exec_schema(m->db, meta_objects_schema)) ||
        (err = exec_schema(m->db, meta_uploads_schema)) ||
        (err = exec_schema(m->db, meta_jobs_schema)) ||
        (err = exec_schema(m->db, meta_edge_schema)) ||
        (err = exec_schema(m->db, meta_events_schema)) ||
        (err = exec_schema(m->db, meta_iam_schema)))
        goto fail;
    *out = m;
    return CT_OK;
fail:
    ct_meta_close(m);
    return err;
}

void ct_meta_close(ct_meta *m)
{
    if (!m)
        return;
    sqlite3_close_v2(m->db);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

ct_err ct_meta_kv_get(ct_meta *m, const char *key, char **value)
{
    sqlite3_stmt *st = NULL;
    ct_err err = CT_ERR_NOT_FOUND;
    pthread_mutex_lock(&m->mu);
    if (sqlite3_prepare_v2(m->db, "SELECT v FROM kv WHERE k=?", -1, &st, NULL) != SQLITE_OK) {
        err = CT_ERR_DB;
        goto cleanup;
    }
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) {
        *value = meta_col_dup(st, 0);
        err = *value ? CT_OK : CT_ERR_NOMEM;
    }
cleanup:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&m->mu);
    return err;
}

ct_err ct_meta_kv_set(ct_meta *m, const char *key, const char *value)
{
    sqlite3_stmt *st = NULL;
    ct_err err;
    pthread_mutex_lock(&m->mu);
    int rc = sqlite3_prepare_v2(m->db, "INSERT INTO kv(k,v) VALUES(?,?) "
                                       "ON CONFLICT(k) DO UPDATE SET v=excluded.v",
                                -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
    }
    err = meta_sqlite_err(rc);
    sqlite3_finalize(st);
    pthread_mutex_unlock(&m->mu);
    return err;
}

void ct_meta_on_outbox(ct_meta *m, ct_meta_notify_fn fn, void *ctx)
{
    m->on_outbox = fn;
    m->on_outbox_ctx = ctx;
}

void ct_meta_on_job(ct_meta *m, ct_meta_notify_fn fn, void *ctx)
{
    m->on_job = fn;
    m->on_job_ctx = ctx;
}

void meta_notify_outbox(ct_meta *m)
{
    if (m->on_outbox)
        m->on_outbox(m->on_outbox_ctx);
}

void meta_notify_job(ct_meta *m)
{
    if (m->on_job)
        m->on_job(m->on_job_ctx);
}
