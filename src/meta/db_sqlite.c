/* db_sqlite.c: the SQLite driver of db.h (the embedded default).
 *
 * WAL + synchronous=FULL: a committed transaction survives power loss; WAL
 * also lets `cattube worker` processes share the file. Writers take the
 * write lock at BEGIN (IMMEDIATE) so a transaction never fails half-way on a
 * lock upgrade; the busy timeout covers other processes. */
#include "meta/db_internal.h"

#include <sqlite3.h>
#include <stdlib.h>

typedef struct {
    ct_db base;
    sqlite3 *h;
} sq_db;

typedef struct {
    ct_db_stmt base;
    sqlite3_stmt *s;
} sq_stmt;

static ct_err sq_err(int rc)
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

static sqlite3 *h_of(ct_db *db) { return ((sq_db *)db)->h; }
static sqlite3_stmt *s_of(ct_db_stmt *st) { return ((sq_stmt *)st)->s; }

static void sq_close(ct_db *db)
{
    sqlite3_close_v2(h_of(db));
    free(db);
}

static ct_err sq_exec(ct_db *db, const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(h_of(db), sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        ct_error("meta: sqlite: %s", msg ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
        return sq_err(rc) ? sq_err(rc) : CT_ERR_DB;
    }
    return CT_OK;
}

static ct_err sq_prepare(ct_db *db, const char *sql, ct_db_stmt **out)
{
    sq_stmt *st = calloc(1, sizeof *st);
    if (!st)
        return CT_ERR_NOMEM;
    if (sqlite3_prepare_v2(h_of(db), sql, -1, &st->s, NULL) != SQLITE_OK) {
        ct_error("meta: prepare: %s: %s", sqlite3_errmsg(h_of(db)), sql);
        sqlite3_finalize(st->s);
        free(st);
        return CT_ERR_DB;
    }
    st->base.db = db;
    *out = &st->base;
    return CT_OK;
}

static void sq_finalize(ct_db_stmt *st)
{
    sqlite3_finalize(s_of(st));
    free(st);
}

static void sq_bind_text(ct_db_stmt *st, int i, const char *s)
{
    sqlite3_bind_text(s_of(st), i, s, -1, SQLITE_TRANSIENT);
}

static void sq_bind_int64(ct_db_stmt *st, int i, int64_t v) { sqlite3_bind_int64(s_of(st), i, v); }
static void sq_bind_null(ct_db_stmt *st, int i) { sqlite3_bind_null(s_of(st), i); }

static int sq_step(ct_db_stmt *st)
{
    int rc = sqlite3_step(s_of(st));
    if (rc == SQLITE_ROW)
        return CT_DB_ROW;
    if (rc == SQLITE_DONE) {
        st->changes = sqlite3_changes(h_of(st->db));
        return CT_DB_DONE;
    }
    st->err = sq_err(rc) ? sq_err(rc) : CT_ERR_DB;
    return CT_DB_ERROR;
}

static const char *sq_col_text(ct_db_stmt *st, int col)
{
    return (const char *)sqlite3_column_text(s_of(st), col);
}

static int64_t sq_col_int64(ct_db_stmt *st, int col) { return sqlite3_column_int64(s_of(st), col); }

static int sq_col_is_null(ct_db_stmt *st, int col)
{
    return sqlite3_column_type(s_of(st), col) == SQLITE_NULL;
}

static ct_err sq_begin(ct_db *db)
{
    return sq_err(sqlite3_exec(h_of(db), "BEGIN IMMEDIATE", NULL, NULL, NULL));
}

static ct_err sq_commit(ct_db *db)
{
    int rc = sqlite3_exec(h_of(db), "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        sqlite3_exec(h_of(db), "ROLLBACK", NULL, NULL, NULL);
        return sq_err(rc) ? sq_err(rc) : CT_ERR_DB;
    }
    return CT_OK;
}

static void sq_rollback(ct_db *db) { sqlite3_exec(h_of(db), "ROLLBACK", NULL, NULL, NULL); }

static int sq_txn_retryable(ct_db *db) { return (void)db, 0; } /* busy_timeout waits */

static const ct_db_ops sq_ops = {
    sq_close,   sq_exec,  sq_exec,    sq_prepare,  sq_finalize, sq_bind_text,   sq_bind_int64,
    sq_bind_null, sq_step,    sq_col_text, sq_col_int64, sq_col_is_null, sq_begin,
    sq_commit,  sq_rollback, sq_txn_retryable,
};

ct_err db_sqlite_open(const char *path, ct_db **out)
{
    sq_db *db = calloc(1, sizeof *db);
    if (!db)
        return CT_ERR_NOMEM;
    db->base.ops = &sq_ops;
    db->base.dialect = CT_DB_SQLITE;
    int rc = sqlite3_open_v2(path, &db->h,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                             NULL);
    if (rc != SQLITE_OK) {
        ct_error("meta: open %s: %s", path, sqlite3_errstr(rc));
        sq_close(&db->base);
        return CT_ERR_DB;
    }
    sqlite3_busy_timeout(db->h, 5000);
    ct_err e = sq_exec(&db->base, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                                  "PRAGMA foreign_keys=ON;");
    if (e) {
        sq_close(&db->base);
        return e;
    }
    *out = &db->base;
    return CT_OK;
}
