/* db.h: meta's SQL seam, one small API over SQLite and PostgreSQL.
 *
 * DESIGN: meta's files write SQL once, in the subset both engines accept
 * (ON CONFLICT ... DO NOTHING/UPDATE, RETURNING, CASE, coalesce), with '?'
 * or '?N' placeholders; the PostgreSQL driver rewrites them to $N. Only DDL
 * types, triggers, JSON functions and row locking differ per dialect, and
 * meta picks those strings with ct_db_dialect(). A connection is not
 * thread-safe: meta gives each to one thread at a time (its mutex, or its
 * read pool).
 * Ownership: ct_db_open returns a connection the caller closes; a statement
 * belongs to the caller until ct_db_finalize; column text is valid until the
 * next step or finalize. Bound text is copied. */
#ifndef CT_META_DB_H
#define CT_META_DB_H

#include "core/core.h"

typedef struct ct_db ct_db;
typedef struct ct_db_stmt ct_db_stmt;

typedef enum { CT_DB_SQLITE, CT_DB_PG } ct_db_dialect_t;

/* "postgres://..." or "postgresql://..." (libpq URI; also "host=... dbname=..."
 * after a "postgres:" prefix) opens PostgreSQL; anything else is a SQLite path. */
int ct_db_is_pg_url(const char *url);
ct_err ct_db_open(const char *url_or_path, ct_db **out);
void ct_db_close(ct_db *db);
ct_db_dialect_t ct_db_dialect(const ct_db *db);

/* Runs one or more statements without parameters (pragmas, triggers). */
ct_err ct_db_exec(ct_db *db, const char *sql);
/* Runs portable DDL written with SQLite's types: the PostgreSQL driver maps
 * INTEGER PRIMARY KEY AUTOINCREMENT to an identity column, INTEGER to BIGINT,
 * TEXT to TEXT COLLATE "C" (bytewise order, as SQLite's BINARY) and drops
 * WITHOUT ROWID. */
ct_err ct_db_exec_ddl(ct_db *db, const char *sql);

ct_err ct_db_prepare(ct_db *db, const char *sql, ct_db_stmt **out);
void ct_db_finalize(ct_db_stmt *st); /* NULL is fine */
/* Parameters are 1-based; text NULL binds SQL NULL. */
void ct_db_bind_text(ct_db_stmt *st, int i, const char *s);
void ct_db_bind_int64(ct_db_stmt *st, int i, int64_t v);
void ct_db_bind_null(ct_db_stmt *st, int i);
/* Binary (BLOB / bytea); copied. p may be NULL when n is 0 (an empty value,
 * not SQL NULL). */
void ct_db_bind_blob(ct_db_stmt *st, int i, const void *p, size_t n);

enum { CT_DB_DONE = 0, CT_DB_ROW = 1, CT_DB_ERROR = -1 };
/* CT_DB_ROW while rows remain, then CT_DB_DONE; CT_DB_ERROR with the cause in
 * ct_db_stmt_err (unique/foreign-key violation -> CT_ERR_EXISTS, disk full ->
 * CT_ERR_NOSPC, else CT_ERR_DB). */
int ct_db_step(ct_db_stmt *st);
ct_err ct_db_stmt_err(const ct_db_stmt *st);
/* Steps once: CT_OK for a row or done, else the error. */
ct_err ct_db_step_done(ct_db_stmt *st);
/* Rows changed by the statement (after it ran). */
int ct_db_changes(const ct_db_stmt *st);

const char *ct_db_col_text(ct_db_stmt *st, int col); /* NULL for SQL NULL */
int64_t ct_db_col_int64(ct_db_stmt *st, int col);
int ct_db_col_int(ct_db_stmt *st, int col);
int ct_db_col_is_null(ct_db_stmt *st, int col);
/* Binary column: its bytes (valid as column text is) and length; NULL with
 * *len 0 for SQL NULL, and for an empty value a non-NULL pointer. */
const void *ct_db_col_blob(ct_db_stmt *st, int col, size_t *len);

/* A write transaction (SQLite: BEGIN IMMEDIATE). commit rolls back on failure. */
ct_err ct_db_begin(ct_db *db);
ct_err ct_db_commit(ct_db *db);
void ct_db_rollback(ct_db *db);
/* 1 when the last transaction failed in a way that running it again may fix
 * (PostgreSQL: deadlock, serialization failure, lost connection). */
int ct_db_txn_retryable(ct_db *db);

/* For a read-only connection (SQLite; no-ops on PostgreSQL): makes the
 * following SELECTs read one snapshot that holds every commit made, by any
 * connection of any process, before this call: the open one when nothing
 * was committed since it began (and it is young), else a new one. The
 * connection then stays in that read transaction until the next call or
 * ct_db_read_release, which ends it if it is at least min_age_ms old. */
ct_err ct_db_read_snapshot(ct_db *db);
void ct_db_read_release(ct_db *db, int64_t min_age_ms);
/* Counters shared by every process using this SQLite file (words 1..511 of
 * PATH-gen; word 0 counts commits): meta bumps one after a change to what
 * a process may cache. 0 and a no-op when there is no such page (then
 * nothing may be cached) and on PostgreSQL. */
uint64_t ct_db_shared_word(ct_db *db, int i);
void ct_db_shared_bump(ct_db *db, int i);
/* Whether the page exists (a SQLite file in WAL mode that could be mapped). */
int ct_db_has_shared(ct_db *db);

/* Cross-process notifications (PostgreSQL LISTEN/NOTIFY). ct_db_listen opens
 * a second connection listening on the channels and calls cb(ctx, channel)
 * from its own thread for each notification, and for every channel after a
 * reconnect (notifications may have been missed). CT_ERR_UNSUPPORTED on
 * SQLite, whose writers are in-process or poll. */
typedef void (*ct_db_notify_fn)(void *ctx, const char *channel);
typedef struct ct_db_listener ct_db_listener;
ct_err ct_db_listen(ct_db *db, const char *const *channels, int n, ct_db_notify_fn cb, void *ctx,
                    ct_db_listener **out);
void ct_db_listen_stop(ct_db_listener *l);

#endif
