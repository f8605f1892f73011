/* db_sqlite.c: the SQLite driver of db.h (the embedded default).
 *
 * WAL + synchronous=FULL: a committed transaction survives power loss; WAL
 * also lets `cattube worker` processes share the file. Writers take the
 * write lock at BEGIN (IMMEDIATE) so a transaction never fails half-way on a
 * lock upgrade; the busy timeout covers other processes. Prepared
 * statements are kept (STMT_CACHE, keyed by SQL text) and reset on
 * finalize: parsing and planning the same few queries again was a fifth
 * of a small GET's CPU. The connection has one user at a time (meta's
 * mutex or read pool; meta_watch's own connection has only its thread), so neither the
 * cache nor SQLite needs a lock of its own: the connection is opened
 * NOMUTEX (SQLite's per-call mutex was ~1 % of a small GET). The page
 * cache is 32 MiB per connection instead of 2: small objects live inline in
 * their rows, and GETs spread over thousands of them otherwise pread their
 * pages again (past that, the pooled readers map the file: meta_read.c).
 *
 * Read snapshots (ct_db_read_snapshot): outside a transaction every SELECT
 * opens and closes its own WAL read transaction, two fcntl locks on the
 * -shm file plus its mutex: ~13 % of a 4 KiB GET's CPU. A pooled reader
 * instead keeps one read transaction open across calls for as long as no
 * connection of any process has committed since it began, once two calls
 * in a row found no commit between them (while writes go on, it keeps
 * none). Commits are counted in PATH-gen, a page mapped shared by every
 * connection to PATH in every process, bumped by SQLite's WAL hook after
 * each commit (the hook runs once the commit is durable, before the
 * writer's call returns, so a reader that starts after a write has
 * returned sees the count move and takes a new snapshot: read-after-write
 * holds across processes). The hook
 * also replaces SQLite's auto-checkpoint (every 1000 WAL pages), mostly
 * on a thread of its own (db_ckpt.c). A
 * snapshot lives at most DB_SNAPSHOT_MS, and idle readers drop theirs (the
 * meta watch thread's sweep), so a reader never holds the WAL back long.
 * Without the page (it could not be created or mapped) every read takes a
 * fresh snapshot, as before. The page gets the database file's mode and
 * owner, as -wal and -shm do, so every process that can write the database
 * can bump the count. */
#include "meta/db_internal.h"

#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define STMT_CACHE 48

typedef struct {
    ct_db_stmt base;
    sqlite3_stmt *s;
    const char *sql; /* cached statements: their key */
    int cached, in_use;
} sq_stmt;

#define DB_GEN_BYTES 4096     /* PATH-gen: one page; the commit count is its first word */
#define DB_GEN_WORDS (DB_GEN_BYTES / 8) /* the others: ct_db_shared_word */
#define DB_SNAPSHOT_MS 50      /* a reader's snapshot is renewed after this at the latest */

typedef struct {
    ct_db base;
    sqlite3 *h;
    sq_stmt *cache[STMT_CACHE];
    int n_cache, evict; /* evict: where the next replacement search starts */
    _Atomic uint64_t *gen; /* commits to this file by anyone (PATH-gen), or NULL */
    uint64_t last_gen;     /* *gen at the previous ct_db_read_snapshot (and so when
                              an open snapshot began: any change ends it) */
    int64_t snap_ms;       /* when it began (ct_mono_ms) */
    int snap_open;         /* a read transaction of ct_db_read_snapshot is open */
    sqlite3_stmt *begin_st, *commit_st; /* the snapshot's BEGIN and COMMIT, prepared once */
    sqlite3_stmt *wbegin_st, *wcommit_st; /* a write transaction's, likewise */
    db_ckpt *ckpt; /* made by the WAL hook when the WAL first fills */
} sq_db;

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

/* A failed SQLite call's error: never CT_OK (SQLITE_ROW or DONE where they
 * do not belong are a database error). */
static ct_err sq_fail(int rc)
{
    ct_err e = sq_err(rc);
    return e ? e : CT_ERR_DB;
}

static sqlite3 *h_of(ct_db *db) { return ((sq_db *)db)->h; }
static sqlite3_stmt *s_of(ct_db_stmt *st) { return ((sq_stmt *)st)->s; }

static void sq_close(ct_db *db)
{
    sq_db *d = (sq_db *)db;
    if (d->gen)
        munmap((void *)d->gen, DB_GEN_BYTES);
    db_ckpt_free(d->ckpt);
    sqlite3_finalize(d->begin_st);
    sqlite3_finalize(d->commit_st);
    sqlite3_finalize(d->wbegin_st);
    sqlite3_finalize(d->wcommit_st);
    for (int i = 0; i < d->n_cache; i++) {
        sqlite3_finalize(d->cache[i]->s);
        free((char *)d->cache[i]->sql);
        free(d->cache[i]);
    }
    sqlite3_close_v2(h_of(db));
    free(db);
}

static sq_stmt *cache_find(sq_db *d, const char *sql)
{
    for (int i = 0; i < d->n_cache; i++)
        if (!d->cache[i]->in_use && strcmp(d->cache[i]->sql, sql) == 0)
            return d->cache[i];
    return NULL;
}

/* A free cache slot for st (taking st->sql), evicting an idle statement
 * round-robin when full; 0 when every slot is in use. */
static int cache_add(sq_db *d, sq_stmt *st)
{
    int slot = d->n_cache < STMT_CACHE ? d->n_cache : -1;
    for (int k = 0; slot < 0 && k < STMT_CACHE; k++) {
        int i = (d->evict + k) % STMT_CACHE;
        if (d->cache[i]->in_use)
            continue;
        sqlite3_finalize(d->cache[i]->s);
        free((char *)d->cache[i]->sql);
        free(d->cache[i]);
        slot = i;
        d->evict = i + 1;
    }
    if (slot < 0)
        return 0;
    if (slot == d->n_cache)
        d->n_cache++;
    d->cache[slot] = st;
    st->cached = st->in_use = 1;
    return 1;
}

static void cache_drop(sq_db *d, sq_stmt *st)
{
    for (int i = 0; i < d->n_cache; i++)
        if (d->cache[i] == st)
            d->cache[i] = d->cache[--d->n_cache];
    free((char *)st->sql);
    st->cached = 0;
}

static ct_err sq_exec(ct_db *db, const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(h_of(db), sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        ct_error("meta: sqlite: %s", msg ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
        return sq_fail(rc);
    }
    return CT_OK;
}

static ct_err sq_prepare(ct_db *db, const char *sql, ct_db_stmt **out)
{
    sq_db *d = (sq_db *)db;
    sq_stmt *st = cache_find(d, sql);
    if (st) {
        st->in_use = 1;
        st->base.err = CT_OK;
        st->base.changes = 0;
        *out = &st->base;
        return CT_OK;
    }
    st = calloc(1, sizeof *st);
    if (!st)
        return CT_ERR_NOMEM;
    if ((st->sql = strdup(sql)) && !cache_add(d, st)) {
        free((char *)st->sql);
        st->sql = NULL;
    }
    if (sqlite3_prepare_v3(h_of(db), sql, -1, st->cached ? SQLITE_PREPARE_PERSISTENT : 0, &st->s,
                           NULL) != SQLITE_OK) {
        if (st->cached)
            cache_drop(d, st);
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
    sq_stmt *q = (sq_stmt *)st;
    if (q->cached) { /* back to the cache: no row pending, no value kept */
        sqlite3_reset(q->s);
        sqlite3_clear_bindings(q->s);
        q->in_use = 0;
        return;
    }
    sqlite3_finalize(q->s);
    free(q);
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
    st->err = sq_fail(rc);
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

static int run_once(sqlite3 *h, sqlite3_stmt **st, const char *sql);

/* Prepared once: sqlite3_exec parsed them on every transaction. */
static ct_err sq_begin(ct_db *db)
{
    sq_db *d = (sq_db *)db;
    int rc = run_once(d->h, &d->wbegin_st, "BEGIN IMMEDIATE");
    return rc == SQLITE_OK ? CT_OK : sq_fail(rc);
}

static ct_err sq_commit(ct_db *db)
{
    sq_db *d = (sq_db *)db;
    int rc = run_once(d->h, &d->wcommit_st, "COMMIT");
    if (rc != SQLITE_OK) {
        sqlite3_exec(h_of(db), "ROLLBACK", NULL, NULL, NULL);
        return sq_fail(rc);
    }
    return CT_OK;
}

static void sq_rollback(ct_db *db) { sqlite3_exec(h_of(db), "ROLLBACK", NULL, NULL, NULL); }

static int sq_txn_retryable(ct_db *db) { return (void)db, 0; } /* busy_timeout waits */

static void sq_bind_blob(ct_db_stmt *st, int i, const void *p, size_t n)
{
    if (n == 0) /* a zero-length value, not NULL (sqlite3_bind_blob(NULL) binds NULL) */
        sqlite3_bind_zeroblob(s_of(st), i, 0);
    else
        sqlite3_bind_blob64(s_of(st), i, p, n, SQLITE_TRANSIENT);
}

static const void *sq_col_blob(ct_db_stmt *st, int col, size_t *len)
{
    if (sqlite3_column_type(s_of(st), col) == SQLITE_NULL)
        return NULL;
    const void *p = sqlite3_column_blob(s_of(st), col);
    *len = (size_t)sqlite3_column_bytes(s_of(st), col);
    return p ? p : ""; /* SQLite gives NULL for a zero-length blob */
}

static const ct_db_ops sq_ops = {
    sq_close,   sq_exec,  sq_exec,    sq_prepare,  sq_finalize, sq_bind_text,   sq_bind_int64,
    sq_bind_null, sq_step,    sq_col_text, sq_col_int64, sq_col_is_null, sq_begin,
    sq_commit,  sq_rollback, sq_txn_retryable, sq_bind_blob, sq_col_blob,
};

static _Atomic uint64_t *gen_map(const char *path);
static int is_wal(sqlite3 *h);
static int wal_hook(void *ctx, sqlite3 *h, const char *schema, int pages);

/* Before SQLite initialises: no memory statistics. With them on (SQLite's
 * default) every sqlite3_malloc and sqlite3_free takes one process-wide
 * mutex; two front-loop threads doing 4 KiB GETs met there ~0.6 times per
 * request, each a futex wait and a context switch. Nothing here reads the
 * statistics (sqlite3_memory_used, soft heap limits). */
static void sqlite_setup(void)
{
    if (sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0) != SQLITE_OK)
        ct_warn("meta: sqlite already initialised; memory statistics stay on");
    sqlite3_initialize();
}

ct_err db_sqlite_open(const char *path, ct_db **out)
{
    static pthread_once_t setup_once = PTHREAD_ONCE_INIT;
    pthread_once(&setup_once, sqlite_setup);
    sq_db *db = calloc(1, sizeof *db);
    if (!db)
        return CT_ERR_NOMEM;
    db->base.ops = &sq_ops;
    db->base.dialect = CT_DB_SQLITE;
    int rc = sqlite3_open_v2(path, &db->h,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                             db_walbuf_vfs());
    if (rc != SQLITE_OK) {
        ct_error("meta: open %s: %s", path, sqlite3_errstr(rc));
        sq_close(&db->base);
        return CT_ERR_DB;
    }
    sqlite3_busy_timeout(db->h, 5000);
    ct_err e = sq_exec(&db->base, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                                  "PRAGMA foreign_keys=ON; PRAGMA cache_size=-32768;");
    if (e) {
        sq_close(&db->base);
        return e;
    }
    if (is_wal(db->h)) /* else no WAL hook would count commits */
        db->gen = gen_map(path);
    sqlite3_wal_hook(db->h, wal_hook, db);
    *out = &db->base;
    return CT_OK;
}

/* ---- read snapshots (see the top of the file) ---- */

/* PATH-gen mapped shared, or NULL (then snapshots are never reused). */
static _Atomic uint64_t *gen_map(const char *path)
{
    if (!*path || strcmp(path, ":memory:") == 0 || strncmp(path, "file:", 5) == 0)
        return NULL;
    /* The database file's mode and owner, as SQLite gives -wal and -shm:
     * every process that writes the database must bump the count. */
    struct stat dbst;
    if (stat(path, &dbst) != 0)
        return NULL;
    ct_buf gp = CT_BUF_INIT;
    ct_buf_printf(&gp, "%s-gen", path);
    int fd = gp.data ? open(gp.data, O_RDWR | O_CREAT | O_CLOEXEC, dbst.st_mode & 0666) : -1;
    ct_buf_free(&gp);
    if (fd < 0)
        return NULL;
    if (geteuid() == 0 && fchown(fd, dbst.st_uid, dbst.st_gid) != 0)
        ct_warn("meta: %s-gen: cannot give it the database's owner", path);
    struct stat st;
    void *p = MAP_FAILED;
    /* Only ever grown (never truncated under another process's mapping). */
    if (fstat(fd, &st) == 0 && (st.st_size >= DB_GEN_BYTES || ftruncate(fd, DB_GEN_BYTES) == 0))
        p = mmap(NULL, DB_GEN_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    return p == MAP_FAILED ? NULL : p;
}

static int is_wal(sqlite3 *h)
{
    sqlite3_stmt *st = NULL;
    const char *mode = NULL;
    if (sqlite3_prepare_v2(h, "PRAGMA journal_mode", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        mode = (const char *)sqlite3_column_text(st, 0);
    int wal = mode && strcmp(mode, "wal") == 0;
    sqlite3_finalize(st);
    return wal;
}

/* Runs a prepared-once statement without parameters (BEGIN, COMMIT). */
static int run_once(sqlite3 *h, sqlite3_stmt **st, const char *sql)
{
    if (!*st && sqlite3_prepare_v3(h, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) != SQLITE_OK)
        return SQLITE_ERROR;
    int rc = sqlite3_step(*st);
    sqlite3_reset(*st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static int wal_hook(void *ctx, sqlite3 *h, const char *schema, int pages)
{
    sq_db *d = ctx;
    if (d->gen)
        atomic_fetch_add(d->gen, 1);
    if (pages >= DB_CKPT_PAGES && !d->ckpt && d->gen) /* gen: a file of its own */
        d->ckpt = db_ckpt_new(sqlite3_db_filename(h, schema));
    if (db_ckpt_after_commit(d->ckpt, pages))
        sqlite3_wal_checkpoint(h, schema);
    return SQLITE_OK;
}

static void snapshot_end(sq_db *d)
{
    d->snap_open = 0;
    if (!sqlite3_get_autocommit(d->h) && /* SQLite may have ended it on an error */
        run_once(d->h, &d->commit_st, "COMMIT") != SQLITE_OK)
        sqlite3_exec(d->h, "ROLLBACK", NULL, NULL, NULL);
}

ct_err db_sqlite_read_snapshot(ct_db *db)
{
    sq_db *d = (sq_db *)db;
    if (!d->gen)
        return CT_OK;
    uint64_t now_gen = atomic_load(d->gen); /* before the snapshot is taken */
    int64_t now = ct_mono_ms();
    /* Writes going on (a commit since this reader's last call): statements
     * take their own snapshots, as without this, and nothing stays open,
     * because an idle reader's snapshot stops the writer from restarting
     * the WAL and every commit then runs a checkpoint (4 KiB PUT x1 cost
     * 340 instead of 250 us of CPU when readers kept theirs). */
    int quiet = now_gen == d->last_gen;
    d->last_gen = now_gen;
    if (quiet && d->snap_open && !sqlite3_get_autocommit(d->h) && now - d->snap_ms < DB_SNAPSHOT_MS)
        return CT_OK; /* nothing committed since: the open snapshot is current */
    if (d->snap_open)
        snapshot_end(d);
    if (!quiet)
        return CT_OK;
    /* Deferred: the snapshot is taken by the next SELECT, after now_gen. */
    int rc = run_once(d->h, &d->begin_st, "BEGIN");
    if (rc != SQLITE_OK)
        return sq_fail(rc);
    d->snap_open = 1;
    d->snap_ms = now;
    return CT_OK;
}

uint64_t db_sqlite_shared_word(ct_db *db, int i)
{
    _Atomic uint64_t *g = ((sq_db *)db)->gen;
    return g && i > 0 && i < DB_GEN_WORDS ? atomic_load(&g[i]) : 0;
}

int db_sqlite_has_shared(ct_db *db) { return ((sq_db *)db)->gen != NULL; }

void db_sqlite_shared_bump(ct_db *db, int i)
{
    _Atomic uint64_t *g = ((sq_db *)db)->gen;
    if (g && i > 0 && i < DB_GEN_WORDS)
        atomic_fetch_add(&g[i], 1);
}

void db_sqlite_read_release(ct_db *db, int64_t min_age_ms)
{
    sq_db *d = (sq_db *)db;
    if (d->snap_open && ct_mono_ms() - d->snap_ms >= min_age_ms)
        snapshot_end(d);
}
