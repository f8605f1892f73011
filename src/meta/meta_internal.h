/* Shared by meta's own files only. */
#ifndef CT_META_INTERNAL_H
#define CT_META_INTERNAL_H

#include "meta/db.h"
#include "meta/meta.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

struct ct_meta {
    ct_db *db;
    pthread_mutex_t mu;      /* one connection, one user at a time */
    struct meta_readers *readers; /* SQLite: pooled read connections (meta_read.c) */
    pthread_mutex_t hook_mu; /* hooks are called under it, so clearing one waits */
    ct_meta_notify_fn on_outbox, on_job;
    void *on_outbox_ctx, *on_job_ctx;
    ct_db_listener *listener; /* PostgreSQL: LISTEN for other processes' commits */
    struct meta_watch *watch; /* SQLite: the same by PRAGMA data_version (meta_watch.c) */
    int64_t clock_offset_ms, clock_checked_ms; /* see meta_now_ms */
    /* Group commit of object puts (meta_objects.c): queue and leader flag
     * under group_mu (each request has its own semaphore). */
    pthread_mutex_t group_mu;
    struct meta_put_req *group_head, **group_tail;
    int group_leader;
    /* ct_meta_write_epoch: bumped after every commit here and whenever the
     * SQLite watch sees another connection's commit; 0 on PostgreSQL. */
    _Atomic uint64_t write_epoch;
    struct meta_bcache *bcache; /* SQLite: bucket rows (meta_bcache.c), or NULL */
};

/* Marks a change (a commit here, or another process's). */
void meta_bump_epoch(ct_meta *m);

/* How long a claimed outbox row, job event or delivery stays with the
 * process that claimed it before others may take it (PostgreSQL). */
#define META_CLAIM_MS 30000

static inline int meta_is_pg(const ct_meta *m) { return ct_db_dialect(m->db) == CT_DB_PG; }

/* Milliseconds since the epoch on the clock every process sharing the
 * database agrees on: the local clock for SQLite, the server's for
 * PostgreSQL (leases and claims compare times written by other hosts, whose
 * clocks may be off). The offset is measured at most once a minute; callers
 * hold m->mu. */
int64_t meta_now_ms(ct_meta *m);

/* SQLite: watch path for other processes' commits and fire the hooks. */
struct meta_watch;
ct_err meta_watch_start(ct_meta *m, const char *path, struct meta_watch **out);
void meta_watch_stop(struct meta_watch *w);

/* Read connections (meta_read.c). meta_read_begin lends a connection for
 * statements outside any transaction: a pooled reader on SQLite, else the
 * main connection with mu held. Never call it with mu held, nor call
 * anything that takes mu before meta_read_end(m, db), which returns it. */
ct_err meta_readers_init(ct_meta *m, const char *path);
/* Ends idle readers' read snapshots that have lasted a while (the watch
 * thread calls it): a snapshot kept open holds back WAL checkpoints. */
void meta_readers_sweep(ct_meta *m);

/* Bucket rows kept in memory (meta_bcache.c); valid while the shared word
 * META_WORD_BUCKETS is unchanged. meta_bcache_gen is read before the row;
 * get is 1 on a hit (*err CT_OK with out filled, or CT_ERR_NOT_FOUND);
 * put keeps b (NULL: the bucket does not exist) for that gen. */
#define META_WORD_BUCKETS 1
void meta_bcache_init(ct_meta *m);
void meta_bcache_free(ct_meta *m);
uint64_t meta_bcache_gen(ct_meta *m);
int meta_bcache_get(ct_meta *m, const char *name, uint64_t gen, ct_meta_bucket *out,
                    ct_err *err);
void meta_bcache_put(ct_meta *m, const char *name, uint64_t gen, const ct_meta_bucket *b);
/* After a bucket write's commit (every process's caches miss from then on). */
void meta_buckets_changed(ct_meta *m);
void meta_readers_free(ct_meta *m);
ct_db *meta_read_begin(ct_meta *m);
void meta_read_end(ct_meta *m, ct_db *db);

/* Fire the hooks (call without holding mu). */
void meta_notify_outbox(ct_meta *m);
void meta_notify_job(ct_meta *m);

/* Each table-owning file provides its schema (CREATE TABLE IF NOT EXISTS ...)
 * in SQLite's types; ct_db_exec_ddl maps them for PostgreSQL. */
extern const char meta_objects_schema[];
extern const char meta_jobs_schema[];
extern const char meta_edge_schema[];
extern const char meta_uploads_schema[];
extern const char meta_iam_schema[];
extern const char meta_events_schema[]; /* after meta_jobs_schema: triggers on jobs */
/* SQLite databases made before schema 6: objects becomes a rowid table
 * (meta_objects.c; after the late columns are added). */
ct_err meta_objects_upgrade(ct_db *db);
/* Dialect-specific parts: the job-event triggers and NOTIFY triggers. */
extern const char meta_events_triggers_sqlite[];
extern const char meta_events_triggers_pg[];

/* Statement helpers shared by every meta file (the driver logs failures). */
ct_err meta_prep(ct_meta *m, const char *sql, ct_db_stmt **st);
/* strdup of a column, NULL for SQL NULL. */
char *meta_col_dup(ct_db_stmt *st, int col);
/* Copies a text column into a fixed buffer (truncating safely). */
void meta_col_copy(ct_db_stmt *st, int col, char *out, size_t n);
/* Write transaction; callers hold m->mu. */
ct_err meta_begin(ct_meta *m);
ct_err meta_commit(ct_meta *m);
void meta_rollback(ct_meta *m);
/* Whether a failed transaction function should run again: PostgreSQL after a
 * deadlock, serialization failure or lost connection, at most
 * META_TXN_TRIES times in all (attempt counts from 0). */
#define META_TXN_TRIES 3
int meta_txn_again(ct_meta *m, ct_err err, int attempt);
/* Inside a transaction: serialises transactions that read a row and then
 * write based on what they read (object put/delete on one key, one part).
 * PostgreSQL: a transaction advisory lock on a hash of (ns, a, b); SQLite's
 * single writer already serialises, so a no-op there. */
ct_err meta_lock_key(ct_meta *m, const char *ns, const char *a, const char *b);

#endif
