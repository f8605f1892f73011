/* db_walbuf.c: a SQLite VFS that joins a commit's WAL writes into one pwrite.
 *
 * DESIGN: SQLite appends each WAL frame as two writes, its 24-byte header
 * and then its page, so a commit of five pages is ten pwrite calls before
 * the fdatasync: half of a 4 KiB PutObject's system calls. "ct-walbuf"
 * wraps the default VFS (unix) and, for WAL files only, keeps writes that
 * extend the previous one in a buffer, written in one pwrite when
 *   - the page of a commit frame (a frame header whose "database size"
 *     field is not zero) has been appended: from then on SQLite may publish
 *     the frames to other connections through the wal-index, whatever the
 *     synchronous setting, so they are in the file first;
 *   - SQLite syncs, truncates, reads, asks the size of, or closes the file,
 *     or writes anywhere but at the buffer's end (a frame rewritten within
 *     its transaction, the WAL header after a restart);
 *   - the buffer would pass WALBUF_MAX (29 frames of 4 KiB pages).
 * A failed write is reported by the call that flushed, which is always
 * part of the same transaction's commit (or an earlier step of it), so
 * SQLite fails that commit as if its own pwrite had failed. Every other
 * file (the database, -shm, -journal) passes straight through.
 * Ownership: the VFS is static and registered once, never as the default;
 * db_sqlite.c opens its connections with it by name. */
#include "meta/db_internal.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#define WALBUF_VFS_NAME "ct-walbuf"
#define WALBUF_FRAME_HDR 24
/* Below 128 KiB: the unix VFS's write masks each pwrite's length to 17 bits
 * (it only expects pages), so a longer write would come out short. */
#define WALBUF_MAX (120 * 1024)

typedef struct {
    sqlite3_file base;    /* base.pMethods = &walbuf_io */
    sqlite3_file *real;   /* the wrapped VFS's file, right after this struct */
    int is_wal;
    unsigned char *buf;   /* WALBUF_MAX bytes from the first write; pending
                             bytes for [off, off + len) of the file */
    size_t len;
    sqlite3_int64 off;
    sqlite3_int64 commit_page_at; /* the commit frame's page starts here; -1: none */
} walbuf_file;

static sqlite3_vfs walbuf_vfs;
static sqlite3_io_methods walbuf_io;

static sqlite3_vfs *real_vfs(void) { return (sqlite3_vfs *)walbuf_vfs.pAppData; }

static int flush(walbuf_file *f)
{
    if (!f->len)
        return SQLITE_OK;
    int rc = f->real->pMethods->xWrite(f->real, f->buf, (int)f->len, f->off);
    f->len = 0;
    f->commit_page_at = -1;
    return rc;
}

/* Caller: f->len + n <= WALBUF_MAX. */
static int buffer(walbuf_file *f, const void *p, size_t n, sqlite3_int64 off)
{
    if (!f->buf && !(f->buf = malloc(WALBUF_MAX)))
        return SQLITE_NOMEM;
    if (!f->len)
        f->off = off;
    memcpy(f->buf + f->len, p, n);
    f->len += n;
    return SQLITE_OK;
}

/* A frame header's bytes 4..7: the database size after a commit, 0 otherwise. */
static int is_commit_header(const unsigned char *h)
{
    return (h[4] | h[5] | h[6] | h[7]) != 0;
}

static int wb_write(sqlite3_file *pf, const void *p, int n, sqlite3_int64 off)
{
    walbuf_file *f = (walbuf_file *)pf;
    if (!f->is_wal)
        return f->real->pMethods->xWrite(f->real, p, n, off);
    int rc;
    int appends = f->len && off == f->off + (sqlite3_int64)f->len;
    int ends_commit = f->commit_page_at >= 0 && off == f->commit_page_at;
    if ((f->len && !appends) || f->len + (size_t)n > WALBUF_MAX) {
        if ((rc = flush(f)) != SQLITE_OK)
            return rc;
    }
    if ((size_t)n > WALBUF_MAX || buffer(f, p, (size_t)n, off) != SQLITE_OK) {
        /* too big, or no memory: write through, in order */
        if ((rc = flush(f)) != SQLITE_OK)
            return rc;
        return f->real->pMethods->xWrite(f->real, p, n, off);
    }
    if (ends_commit)
        return flush(f);
    if (n == WALBUF_FRAME_HDR && off >= 32 && is_commit_header(p))
        f->commit_page_at = off + WALBUF_FRAME_HDR;
    return SQLITE_OK;
}

static int wb_read(sqlite3_file *pf, void *p, int n, sqlite3_int64 off)
{
    walbuf_file *f = (walbuf_file *)pf;
    int rc = flush(f);
    return rc != SQLITE_OK ? rc : f->real->pMethods->xRead(f->real, p, n, off);
}

static int wb_close(sqlite3_file *pf)
{
    walbuf_file *f = (walbuf_file *)pf;
    int rc = flush(f);
    int crc = f->real->pMethods ? f->real->pMethods->xClose(f->real) : SQLITE_OK;
    free(f->buf);
    f->buf = NULL;
    return rc != SQLITE_OK ? rc : crc;
}

static int wb_truncate(sqlite3_file *pf, sqlite3_int64 size)
{
    walbuf_file *f = (walbuf_file *)pf;
    int rc = flush(f);
    return rc != SQLITE_OK ? rc : f->real->pMethods->xTruncate(f->real, size);
}

static int wb_sync(sqlite3_file *pf, int flags)
{
    walbuf_file *f = (walbuf_file *)pf;
    int rc = flush(f);
    return rc != SQLITE_OK ? rc : f->real->pMethods->xSync(f->real, flags);
}

static int wb_file_size(sqlite3_file *pf, sqlite3_int64 *size)
{
    walbuf_file *f = (walbuf_file *)pf;
    int rc = flush(f);
    return rc != SQLITE_OK ? rc : f->real->pMethods->xFileSize(f->real, size);
}

/* ---- pass-through methods ---- */

#define REAL(pf) (((walbuf_file *)(pf))->real)

static int wb_lock(sqlite3_file *pf, int l) { return REAL(pf)->pMethods->xLock(REAL(pf), l); }
static int wb_unlock(sqlite3_file *pf, int l) { return REAL(pf)->pMethods->xUnlock(REAL(pf), l); }

static int wb_check_lock(sqlite3_file *pf, int *out)
{
    return REAL(pf)->pMethods->xCheckReservedLock(REAL(pf), out);
}

static int wb_file_control(sqlite3_file *pf, int op, void *arg)
{
    walbuf_file *f = (walbuf_file *)pf;
    int rc = flush(f);
    return rc != SQLITE_OK ? rc : f->real->pMethods->xFileControl(f->real, op, arg);
}

static int wb_sector_size(sqlite3_file *pf) { return REAL(pf)->pMethods->xSectorSize(REAL(pf)); }

static int wb_device_chars(sqlite3_file *pf)
{
    return REAL(pf)->pMethods->xDeviceCharacteristics(REAL(pf));
}

static int wb_shm_map(sqlite3_file *pf, int pg, int pgsz, int extend, void volatile **pp)
{
    return REAL(pf)->pMethods->xShmMap(REAL(pf), pg, pgsz, extend, pp);
}

static int wb_shm_lock(sqlite3_file *pf, int offset, int n, int flags)
{
    return REAL(pf)->pMethods->xShmLock(REAL(pf), offset, n, flags);
}

static void wb_shm_barrier(sqlite3_file *pf) { REAL(pf)->pMethods->xShmBarrier(REAL(pf)); }

static int wb_shm_unmap(sqlite3_file *pf, int del)
{
    return REAL(pf)->pMethods->xShmUnmap(REAL(pf), del);
}

static int wb_fetch(sqlite3_file *pf, sqlite3_int64 off, int n, void **pp)
{
    walbuf_file *f = (walbuf_file *)pf;
    int rc = flush(f);
    return rc != SQLITE_OK ? rc : f->real->pMethods->xFetch(f->real, off, n, pp);
}

static int wb_unfetch(sqlite3_file *pf, sqlite3_int64 off, void *p)
{
    return REAL(pf)->pMethods->xUnfetch(REAL(pf), off, p);
}

static sqlite3_io_methods walbuf_io = {
    3,           wb_close,       wb_read,          wb_write,         wb_truncate,
    wb_sync,     wb_file_size,   wb_lock,          wb_unlock,        wb_check_lock,
    wb_file_control, wb_sector_size, wb_device_chars, wb_shm_map,    wb_shm_lock,
    wb_shm_barrier, wb_shm_unmap, wb_fetch,        wb_unfetch,
};

static int wb_open(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *pf, int flags,
                   int *out_flags)
{
    (void)vfs;
    walbuf_file *f = (walbuf_file *)pf;
    memset(f, 0, sizeof *f);
    f->real = (sqlite3_file *)(f + 1);
    f->commit_page_at = -1;
    f->is_wal = (flags & SQLITE_OPEN_WAL) != 0;
    int rc = real_vfs()->xOpen(real_vfs(), name, f->real, flags, out_flags);
    /* SQLite calls xClose whenever pMethods is set, even after an error */
    if (f->real->pMethods) {
        if (f->real->pMethods->iVersion < 3) { /* no shm methods to pass on */
            f->real->pMethods->xClose(f->real);
            return SQLITE_CANTOPEN;
        }
        f->base.pMethods = &walbuf_io;
    }
    return rc;
}

/* VFS methods other than xOpen go straight to the real VFS. */
static int wb_delete(sqlite3_vfs *v, const char *n, int s)
{
    (void)v;
    return real_vfs()->xDelete(real_vfs(), n, s);
}

static int wb_access(sqlite3_vfs *v, const char *n, int flags, int *out)
{
    (void)v;
    return real_vfs()->xAccess(real_vfs(), n, flags, out);
}

static int wb_full_path(sqlite3_vfs *v, const char *n, int len, char *out)
{
    (void)v;
    return real_vfs()->xFullPathname(real_vfs(), n, len, out);
}

static void *wb_dlopen(sqlite3_vfs *v, const char *n)
{
    (void)v;
    return real_vfs()->xDlOpen(real_vfs(), n);
}

static void wb_dlerror(sqlite3_vfs *v, int n, char *out)
{
    (void)v;
    real_vfs()->xDlError(real_vfs(), n, out);
}

static void (*wb_dlsym(sqlite3_vfs *v, void *h, const char *s))(void)
{
    (void)v;
    return real_vfs()->xDlSym(real_vfs(), h, s);
}

static void wb_dlclose(sqlite3_vfs *v, void *h)
{
    (void)v;
    real_vfs()->xDlClose(real_vfs(), h);
}

static int wb_randomness(sqlite3_vfs *v, int n, char *out)
{
    (void)v;
    return real_vfs()->xRandomness(real_vfs(), n, out);
}

static int wb_sleep(sqlite3_vfs *v, int us)
{
    (void)v;
    return real_vfs()->xSleep(real_vfs(), us);
}

static int wb_current_time(sqlite3_vfs *v, double *out)
{
    (void)v;
    return real_vfs()->xCurrentTime(real_vfs(), out);
}

static int wb_last_error(sqlite3_vfs *v, int n, char *out)
{
    (void)v;
    return real_vfs()->xGetLastError(real_vfs(), n, out);
}

static int wb_current_time64(sqlite3_vfs *v, sqlite3_int64 *out)
{
    (void)v;
    return real_vfs()->xCurrentTimeInt64(real_vfs(), out);
}

static pthread_once_t walbuf_once = PTHREAD_ONCE_INIT;
static int walbuf_ok;

static void walbuf_register(void)
{
    sqlite3_vfs *real = sqlite3_vfs_find(NULL);
    if (!real || real->iVersion < 2 || !real->xCurrentTimeInt64)
        return;
    walbuf_vfs = (sqlite3_vfs){
        .iVersion = 2,
        .szOsFile = (int)sizeof(walbuf_file) + real->szOsFile,
        .mxPathname = real->mxPathname,
        .zName = WALBUF_VFS_NAME,
        .pAppData = real,
        .xOpen = wb_open,
        .xDelete = wb_delete,
        .xAccess = wb_access,
        .xFullPathname = wb_full_path,
        .xDlOpen = wb_dlopen,
        .xDlError = wb_dlerror,
        .xDlSym = wb_dlsym,
        .xDlClose = wb_dlclose,
        .xRandomness = wb_randomness,
        .xSleep = wb_sleep,
        .xCurrentTime = wb_current_time,
        .xGetLastError = wb_last_error,
        .xCurrentTimeInt64 = wb_current_time64,
    };
    walbuf_ok = sqlite3_vfs_register(&walbuf_vfs, 0) == SQLITE_OK;
}

const char *db_walbuf_vfs(void)
{
    if (getenv("CATTUBE_SQLITE_PLAIN_VFS")) /* A/B and bisecting */
        return NULL;
    pthread_once(&walbuf_once, walbuf_register);
    return walbuf_ok ? WALBUF_VFS_NAME : NULL;
}
