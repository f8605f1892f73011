/* db.c: dispatch from db.h to the SQLite or PostgreSQL driver. */
#include "meta/db_internal.h"

#include <string.h>
#include <strings.h>

int ct_db_is_pg_url(const char *url)
{
    return url && (strncasecmp(url, "postgres://", 11) == 0 ||
                   strncasecmp(url, "postgresql://", 13) == 0);
}

ct_err ct_db_open(const char *url_or_path, ct_db **out)
{
    *out = NULL;
    if (!url_or_path || !*url_or_path)
        return CT_ERR_INVALID;
    return ct_db_is_pg_url(url_or_path) ? db_pg_open(url_or_path, out)
                                        : db_sqlite_open(url_or_path, out);
}

void ct_db_close(ct_db *db)
{
    if (db)
        db->ops->close(db);
}

ct_db_dialect_t ct_db_dialect(const ct_db *db) { return db->dialect; }
ct_err ct_db_exec(ct_db *db, const char *sql) { return db->ops->exec(db, sql); }
ct_err ct_db_exec_ddl(ct_db *db, const char *sql) { return db->ops->exec_ddl(db, sql); }

ct_err ct_db_prepare(ct_db *db, const char *sql, ct_db_stmt **out)
{
    *out = NULL;
    return db->ops->prepare(db, sql, out);
}

void ct_db_finalize(ct_db_stmt *st)
{
    if (st)
        st->db->ops->finalize(st);
}

void ct_db_bind_text(ct_db_stmt *st, int i, const char *s)
{
    if (s)
        st->db->ops->bind_text(st, i, s);
    else
        st->db->ops->bind_null(st, i);
}

void ct_db_bind_int64(ct_db_stmt *st, int i, int64_t v) { st->db->ops->bind_int64(st, i, v); }
void ct_db_bind_null(ct_db_stmt *st, int i) { st->db->ops->bind_null(st, i); }
int ct_db_step(ct_db_stmt *st) { return st->db->ops->step(st); }
ct_err ct_db_stmt_err(const ct_db_stmt *st) { return st->err ? st->err : CT_ERR_DB; }

ct_err ct_db_step_done(ct_db_stmt *st)
{
    return ct_db_step(st) == CT_DB_ERROR ? ct_db_stmt_err(st) : CT_OK;
}

int ct_db_changes(const ct_db_stmt *st) { return st->changes; }
const char *ct_db_col_text(ct_db_stmt *st, int col) { return st->db->ops->col_text(st, col); }
int64_t ct_db_col_int64(ct_db_stmt *st, int col) { return st->db->ops->col_int64(st, col); }
int ct_db_col_int(ct_db_stmt *st, int col) { return (int)st->db->ops->col_int64(st, col); }
int ct_db_col_is_null(ct_db_stmt *st, int col) { return st->db->ops->col_is_null(st, col); }

void ct_db_bind_blob(ct_db_stmt *st, int i, const void *p, size_t n)
{
    st->db->ops->bind_blob(st, i, p, n);
}

const void *ct_db_col_blob(ct_db_stmt *st, int col, size_t *len)
{
    *len = 0;
    return st->db->ops->col_blob(st, col, len);
}
ct_err ct_db_begin(ct_db *db) { return db->ops->begin(db); }
ct_err ct_db_commit(ct_db *db) { return db->ops->commit(db); }
void ct_db_rollback(ct_db *db) { db->ops->rollback(db); }
int ct_db_txn_retryable(ct_db *db) { return db->ops->txn_retryable(db); }

ct_err ct_db_read_snapshot(ct_db *db)
{
    return db->dialect == CT_DB_SQLITE ? db_sqlite_read_snapshot(db) : CT_OK;
}

void ct_db_read_release(ct_db *db, int64_t min_age_ms)
{
    if (db->dialect == CT_DB_SQLITE)
        db_sqlite_read_release(db, min_age_ms);
}

uint64_t ct_db_shared_word(ct_db *db, int i)
{
    return db->dialect == CT_DB_SQLITE ? db_sqlite_shared_word(db, i) : 0;
}

void ct_db_shared_bump(ct_db *db, int i)
{
    if (db->dialect == CT_DB_SQLITE)
        db_sqlite_shared_bump(db, i);
}

int ct_db_has_shared(ct_db *db)
{
    return db->dialect == CT_DB_SQLITE && db_sqlite_has_shared(db);
}

ct_err ct_db_listen(ct_db *db, const char *const *channels, int n, ct_db_notify_fn cb, void *ctx,
                    ct_db_listener **out)
{
    *out = NULL;
    if (db->dialect != CT_DB_PG)
        return CT_ERR_UNSUPPORTED;
    return db_pg_listen(db, channels, n, cb, ctx, out);
}

void ct_db_listen_stop(ct_db_listener *l)
{
    if (l)
        db_pg_listen_stop(l);
}
