/* db_internal.h: the driver table behind db.h (db.c dispatches, db_sqlite.c
 * and db_pg.c implement). Private to meta. */
#ifndef CT_META_DB_INTERNAL_H
#define CT_META_DB_INTERNAL_H

#include "meta/db.h"

typedef struct {
    void (*close)(ct_db *db);
    ct_err (*exec)(ct_db *db, const char *sql);
    ct_err (*exec_ddl)(ct_db *db, const char *sql);
    ct_err (*prepare)(ct_db *db, const char *sql, ct_db_stmt **out);
    void (*finalize)(ct_db_stmt *st);
    void (*bind_text)(ct_db_stmt *st, int i, const char *s);
    void (*bind_int64)(ct_db_stmt *st, int i, int64_t v);
    void (*bind_null)(ct_db_stmt *st, int i);
    int (*step)(ct_db_stmt *st);
    const char *(*col_text)(ct_db_stmt *st, int col);
    int64_t (*col_int64)(ct_db_stmt *st, int col);
    int (*col_is_null)(ct_db_stmt *st, int col);
    ct_err (*begin)(ct_db *db);
    ct_err (*commit)(ct_db *db);
    void (*rollback)(ct_db *db);
    int (*txn_retryable)(ct_db *db);
    void (*bind_blob)(ct_db_stmt *st, int i, const void *p, size_t n);
    const void *(*col_blob)(ct_db_stmt *st, int col, size_t *len);
} ct_db_ops;

/* Each driver's connection and statement start with these. */
struct ct_db {
    const ct_db_ops *ops;
    ct_db_dialect_t dialect;
};
struct ct_db_stmt {
    ct_db *db;
    ct_err err;  /* of the last failed step */
    int changes; /* rows changed, set when the statement ran */
};

ct_err db_sqlite_open(const char *path, ct_db **out);
/* db_walbuf.c: the name of the VFS that joins a commit's WAL writes into
 * one pwrite, registered on first use; NULL when it could not be (or
 * CATTUBE_SQLITE_PLAIN_VFS is set): then SQLite's default. */
const char *db_walbuf_vfs(void);
/* db_ckpt.c: checkpoints of a writer connection's WAL, mostly on a thread
 * of their own (see there). db_ckpt_after_commit is the WAL hook's: it
 * returns 1 when the caller is to checkpoint inline now. NULL (from a
 * failed db_ckpt_new) always checkpoints inline, as SQLite would. */
#define DB_CKPT_PAGES 1000    /* SQLite's auto-checkpoint, which the hook replaces */
#define DB_CKPT_BACKSTOP 4000 /* past this the writer checkpoints whatever happens */
typedef struct db_ckpt db_ckpt;
db_ckpt *db_ckpt_new(const char *path);
int db_ckpt_after_commit(db_ckpt *c, int pages);
void db_ckpt_free(db_ckpt *c);
ct_err db_sqlite_read_snapshot(ct_db *db);
void db_sqlite_read_release(ct_db *db, int64_t min_age_ms);
uint64_t db_sqlite_shared_word(ct_db *db, int i);
void db_sqlite_shared_bump(ct_db *db, int i);
int db_sqlite_has_shared(ct_db *db);
ct_err db_pg_open(const char *url, ct_db **out);
ct_err db_pg_listen(ct_db *db, const char *const *channels, int n, ct_db_notify_fn cb, void *ctx,
                    ct_db_listener **out);
void db_pg_listen_stop(ct_db_listener *l);

#endif
