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
 * not hold the WAL back while other processes write.
 * Pooled readers read the database through a memory map (PRAGMA
 * mmap_size): once small objects outgrow a reader's page cache, each GET
 * otherwise pread its row's overflow page, a system call and a copy, ~2 of
 * a 4 KiB GET's ~15 us of CPU at 16 clients. Only these read-only
 * connections map it; writers and checkpoints keep plain I/O. The price:
 * a disk read error under the map is SIGBUS, not SQLITE_IOERR, so the
 * process stops (with a message naming the cause; the service manager
 * restarts it, and committed data is on disk) instead of answering 500.
 * CATTUBE_SQLITE_MMAP=0 turns the map off. */
#include "meta/meta_internal.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Read connections per ct_meta at most; each has its own page cache. */
#define META_READERS_MAX 8
#define META_SNAPSHOT_IDLE_MS 20
/* Address space a reader may map; SQLite caps it at its compile-time
 * SQLITE_MAX_MMAP_SIZE (2 GiB in Debian's build) and reads the rest. */
#define META_READER_MMAP "PRAGMA mmap_size=68719476736"

struct meta_readers {
    pthread_mutex_t mu; /* held only to push or pop */
    char *path;
    ct_db *idle[META_READERS_MAX];
    int n_idle, n_open;
};

static void sigbus_note(int sig)
{
    static const char note[] =
        "cattube: SIGBUS: a memory-mapped file could not be read (a disk read error"
        " under the metadata database's map?); stopping. CATTUBE_SQLITE_MMAP=0 reads"
        " it without the map.\n";
    ssize_t w = write(STDERR_FILENO, note, sizeof note - 1);
    (void)w;
    signal(sig, SIG_DFL);
    raise(sig);
}

static int reader_mmap = 1;

static void reader_mmap_init(void)
{
    const char *v = getenv("CATTUBE_SQLITE_MMAP");
    reader_mmap = !(v && strcmp(v, "0") == 0);
    if (!reader_mmap)
        return;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = sigbus_note;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGBUS, &sa, NULL);
}

ct_err meta_readers_init(ct_meta *m, const char *path)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    if (meta_is_pg(m))
        return CT_OK;
    struct meta_readers *r = calloc(1, sizeof *r);
    if (!r || !(r->path = strdup(path))) {
        free(r);
        return CT_ERR_NOMEM;
    }
    pthread_mutex_init(&r->mu, NULL);
    m->readers = r;
    pthread_once(&once, reader_mmap_init);
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
    if (ct_db_exec(db, "PRAGMA query_only=1") != CT_OK ||
        (reader_mmap && ct_db_exec(db, META_READER_MMAP) != CT_OK)) {
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
