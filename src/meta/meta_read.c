/* meta_read.c: connections for reads that need no transaction.
 *
 * DESIGN: meta's one connection is serialised by m->mu, so every GET used to
 * wait for every other request's statements and for a PUT's commit, fsync
 * included (the futex wait and wake were ~9 % of a small GET's CPU at 16
 * clients). In WAL mode a SQLite reader on its own connection neither blocks
 * nor is blocked by the writer, and each statement outside a transaction
 * sees the last commit, so read-after-write holds. The hot reads (objects,
 * buckets, access keys, policies) therefore borrow a pooled read-only
 * connection; a pool rather than one per thread because the front loop's,
 * libmicrohttpd's and the workers' threads all read. When the pool is spent,
 * or on PostgreSQL (where each reader would be another server backend), the
 * read takes the main connection under mu as before.
 * A reader keeps its read transaction between calls while nothing has been
 * committed (ct_db_read_snapshot, db_sqlite.c): two fcntl locks fewer per
 * statement. The meta watch thread ends idle readers' snapshots once they
 * are META_SNAPSHOT_IDLE_MS old (meta_readers_sweep), so an idle pool does
 * not hold the WAL back while other processes write. */
#include "meta/meta_internal.h"

#include <stdlib.h>
#include <string.h>

/* Read connections per ct_meta at most; each has its own page cache. */
#define META_READERS_MAX 8
#define META_SNAPSHOT_IDLE_MS 20

struct meta_readers {
    pthread_mutex_t mu; /* held only to push or pop */
    char *path;
    ct_db *idle[META_READERS_MAX];
    int n_idle, n_open;
};

ct_err meta_readers_init(ct_meta *m, const char *path)
{
    if (meta_is_pg(m))
        return CT_OK;
    struct meta_readers *r = calloc(1, sizeof *r);
    if (!r || !(r->path = strdup(path))) {
        free(r);
        return CT_ERR_NOMEM;
    }
    pthread_mutex_init(&r->mu, NULL);
    m->readers = r;
    return CT_OK;
}

void meta_readers_free(ct_meta *m)
{
    struct meta_readers *r = m->readers;
    if (!r)
        return;
    for (int i = 0; i < r->n_idle; i++)
        ct_db_close(r->idle[i]);
    pthread_mutex_destroy(&r->mu);
    free(r->path);
    free(r);
    m->readers = NULL;
}

/* A new read-only connection, or NULL (the caller falls back to the main one). */
static ct_db *reader_open(const char *path)
{
    ct_db *db = NULL;
    if (ct_db_open(path, &db) != CT_OK)
        return NULL;
    if (ct_db_exec(db, "PRAGMA query_only=1") != CT_OK) {
        ct_db_close(db);
        return NULL;
    }
    return db;
}

ct_db *meta_read_begin(ct_meta *m)
{
    struct meta_readers *r = m->readers;
    ct_db *db = NULL;
    if (r) {
        int open_one = 0;
        pthread_mutex_lock(&r->mu);
        if (r->n_idle > 0)
            db = r->idle[--r->n_idle];
        else if (r->n_open < META_READERS_MAX)
            open_one = ++r->n_open;
        pthread_mutex_unlock(&r->mu);
        if (open_one && !(db = reader_open(r->path))) {
            pthread_mutex_lock(&r->mu);
            r->n_open--;
            pthread_mutex_unlock(&r->mu);
        }
    }
    if (db) {
        /* On failure the reads still run, each on a snapshot of its own. */
        (void)ct_db_read_snapshot(db);
        return db;
    }
    pthread_mutex_lock(&m->mu);
    return m->db;
}

void meta_read_end(ct_meta *m, ct_db *db)
{
    if (db == m->db) {
        pthread_mutex_unlock(&m->mu);
        return;
    }
    struct meta_readers *r = m->readers;
    pthread_mutex_lock(&r->mu);
    r->idle[r->n_idle++] = db; /* n_idle < n_open <= META_READERS_MAX */
    pthread_mutex_unlock(&r->mu);
}

void meta_readers_sweep(ct_meta *m)
{
    struct meta_readers *r = m->readers;
    if (!r)
        return;
    pthread_mutex_lock(&r->mu); /* idle readers are ours while it is held */
    for (int i = 0; i < r->n_idle; i++)
        ct_db_read_release(r->idle[i], META_SNAPSHOT_IDLE_MS);
    pthread_mutex_unlock(&r->mu);
}
