/* store_fs.c: blobs on the local filesystem.
 *
 * DESIGN: DIR/blobs/<2 hex>/<32 hex> holds committed blobs; DIR/tmp holds
 * uploads in flight and transcode scratch space. Writers stream to
 * DIR/tmp/w-<id>, computing MD5 as they go; commit = rename into blobs/,
 * fsync(file), fsync(blob dir), and only then may meta reference the blob.
 * Renaming before the file's fsync lets that one journal commit carry the
 * rename too (on ext4 the directory fsync is then only a cache flush);
 * a crash in between leaves an unreferenced blob, which the start-up sweep
 * removes. Large writers start write-back every WRITE_BEHIND bytes
 * (sync_file_range) so the final fsync does not find the whole object
 * still dirty. The 256 blob directories are made (and fsynced) at open,
 * so a commit never creates a directory. Keys never appear in any path. */
#include "store/store.h"
#include "store/store_md5.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/aio_abi.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

struct ct_store {
    char root[2048];
    char tmp[2100];
    char scratch[2100];
    int blobs_fd; /* O_PATH of DIR/blobs: reads resolve "ab/<id>" from it, not the whole path */
};

/* Start write-back of each full window of this many bytes. */
#define WRITE_BEHIND (8u << 20)

struct ct_store_writer {
    ct_store *store;
    int fd;
    char id[CT_BLOB_ID_MAX];
    char tmp_path[2200];
    uint64_t size;
    uint64_t flushed;         /* write-back started for [0, flushed) */
    store_md5 *md5;
};

static void remove_dir_contents(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char p[4096];
        if (ct_snprintf(p, sizeof p, "%s/%s", dir, e->d_name))
            continue;
        struct stat st;
        if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode)) {
            remove_dir_contents(p);
            rmdir(p);
        } else {
            unlink(p);
        }
    }
    closedir(d);
}

/* tmp/w-* (uploads in flight), and scratch job directories older than a
 * day (left by a killed worker; running jobs renew theirs constantly). */
static void remove_stale_uploads(const char *tmp)
{
    DIR *d = opendir(tmp);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        char p[4096];
        if (strncmp(e->d_name, "w-", 2) == 0 &&
            ct_snprintf(p, sizeof p, "%s/%s", tmp, e->d_name) == CT_OK)
            unlink(p);
    }
    if (d)
        closedir(d);
    char scratch[4096];
    if (ct_snprintf(scratch, sizeof scratch, "%s/scratch", tmp))
        return;
    d = opendir(scratch);
    time_t cutoff = time(NULL) - 86400;
    while (d && (e = readdir(d))) {
        char p[4200];
        struct stat st;
        if (e->d_name[0] == '.' || ct_snprintf(p, sizeof p, "%s/%s", scratch, e->d_name) ||
            lstat(p, &st) != 0 || st.st_mtime > cutoff)
            continue;
        if (S_ISDIR(st.st_mode)) {
            remove_dir_contents(p);
            rmdir(p);
        } else {
            unlink(p);
        }
    }
    if (d)
        closedir(d);
}

/* blobs/00 .. blobs/ff, each fsynced into blobs/ when it had to be made. */
static ct_err make_blob_dirs(const char *blobs)
{
    int made = 0;
    for (int i = 0; i < 256; i++) {
        char d[2300];
        if (ct_snprintf(d, sizeof d, "%s/%02x", blobs, i))
            return CT_ERR_TOO_LARGE;
        if (mkdir(d, 0700) == 0)
            made = 1;
        else if (errno != EEXIST)
            return CT_ERR_IO;
    }
    return made ? ct_fsync_dir(blobs) : CT_OK;
}

static ct_err store_open(const char *dir, int shared, ct_store **out)
{
    ct_store *s = calloc(1, sizeof *s);
    if (!s)
        return CT_ERR_NOMEM;
    char blobs[2200];
    if (ct_snprintf(s->root, sizeof s->root, "%s", dir) ||
        ct_snprintf(s->tmp, sizeof s->tmp, "%s/tmp", dir) ||
        ct_snprintf(s->scratch, sizeof s->scratch, "%s/tmp/scratch", dir) ||
        ct_snprintf(blobs, sizeof blobs, "%s/blobs", dir)) {
        free(s);
        return CT_ERR_TOO_LARGE;
    }
    if (ct_mkdirs(blobs, 0700) || ct_mkdirs(s->tmp, 0700) || make_blob_dirs(blobs)) {
        free(s);
        return CT_ERR_IO;
    }
    /* Upload temp files left in tmp/ were never committed: a crash
     * mid-upload. Only the owning server cleans them; a worker process
     * sharing the directory must not touch another process's uploads. */
    if (!shared)
        remove_stale_uploads(s->tmp);
    if (ct_mkdirs(s->scratch, 0700)) {
        free(s);
        return CT_ERR_IO;
    }
    s->blobs_fd = open(blobs, O_PATH | O_DIRECTORY | O_CLOEXEC); /* -1: full paths */
    *out = s;
    return CT_OK;
}

ct_err ct_store_open_fs(const char *dir, ct_store **out) { return store_open(dir, 0, out); }

ct_err ct_store_open_fs_shared(const char *dir, ct_store **out)
{
    return store_open(dir, 1, out);
}

void ct_store_close(ct_store *s)
{
    if (s && s->blobs_fd >= 0)
        close(s->blobs_fd);
    free(s);
}

const char *ct_store_scratch_dir(ct_store *s) { return s->scratch; }

static ct_err blob_path(ct_store *s, const char *id, char *out, size_t n)
{
    if (strlen(id) != 32 || strspn(id, "0123456789abcdef") != 32)
        return CT_ERR_INVALID;
    return ct_snprintf(out, n, "%s/blobs/%.2s/%s", s->root, id, id);
}

static ct_err errno_err(int e) { return e == ENOSPC || e == EDQUOT ? CT_ERR_NOSPC : CT_ERR_IO; }

/* Upload temp files are flock()ed by their writer until commit or abort,
 * so a node sharing DIR tells a crashed process's leftovers (lock free)
 * from a live upload (ct_store_sweep_shared). O_TMPFILE + linkat gives the
 * file its name only once it is locked; where the filesystem lacks
 * O_TMPFILE the name exists unlocked for the instant between open and
 * flock. -1 with errno on failure. */
static int open_locked_temp(const char *dir, const char *path)
{
    int fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
    if (fd >= 0) {
        char proc[64];
        snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
        if (flock(fd, LOCK_EX) == 0 &&
            linkat(AT_FDCWD, proc, AT_FDCWD, path, AT_SYMLINK_FOLLOW) == 0)
            return fd;
        close(fd); /* no /proc: the plain way */
    }
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd >= 0 && flock(fd, LOCK_EX) != 0) {
        int err = errno;
        unlink(path);
        close(fd);
        errno = err;
        return -1;
    }
    return fd;
}

static ct_err writer_open(ct_store *s, int md5, ct_store_writer **out)
{
    ct_store_writer *w = calloc(1, sizeof *w);
    if (!w)
        return CT_ERR_NOMEM;
    w->store = s;
    ct_random_hex(w->id, 32);
    if (ct_snprintf(w->tmp_path, sizeof w->tmp_path, "%s/w-%s", s->tmp, w->id)) {
        free(w);
        return CT_ERR_TOO_LARGE;
    }
    w->fd = open_locked_temp(s->tmp, w->tmp_path);
    w->md5 = md5 ? store_md5_new() : NULL;
    if (w->fd < 0 || (md5 && !w->md5)) {
        ct_err e = w->fd < 0 ? errno_err(errno) : CT_ERR_NOMEM;
        ct_store_writer_abort(w);
        return e;
    }
    *out = w;
    return CT_OK;
}

ct_err ct_store_writer_open(ct_store *s, ct_store_writer **out) { return writer_open(s, 1, out); }

ct_err ct_store_writer_open_nomd5(ct_store *s, ct_store_writer **out)
{
    return writer_open(s, 0, out);
}

static void write_behind(ct_store_writer *w)
{
    if (w->size - w->flushed >= WRITE_BEHIND) {
        /* Asynchronous: only queues the window for write-back. */
        sync_file_range(w->fd, (off_t)w->flushed, (off_t)(w->size - w->flushed),
                        SYNC_FILE_RANGE_WRITE);
        w->flushed = w->size;
    }
}

ct_err ct_store_writer_copy_fd(ct_store_writer *w, int fd, uint64_t len)
{
    if (w->md5)
        return CT_ERR_INVALID;
    loff_t in = 0;
    while (len) {
        size_t want = len > (64u << 20) ? (64u << 20) : (size_t)len;
        ssize_t r = copy_file_range(fd, &in, w->fd, NULL, want, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return errno_err(errno);
        if (r == 0)
            return CT_ERR_IO; /* the source is shorter than len */
        len -= (uint64_t)r;
        w->size += (uint64_t)r;
        write_behind(w);
    }
    return CT_OK;
}

ct_err ct_store_writer_write(ct_store_writer *w, const void *p, size_t n)
{
    const char *c = p;
    if (w->md5)
        store_md5_update(w->md5, p, n);
    while (n) {
        ssize_t r = write(w->fd, c, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return errno_err(errno);
        c += r;
        n -= (size_t)r;
        w->size += (uint64_t)r;
    }
    write_behind(w);
    return CT_OK;
}

uint64_t ct_store_writer_size(const ct_store_writer *w) { return w->size; }

static int fsync_one(int fd)
{
    int rc;
    while ((rc = fsync(fd)) != 0 && errno == EINTR)
        ;
    return rc;
}

/* One AIO context per thread, made on its first commit and destroyed when
 * the thread ends: io_destroy waits for an RCU grace period (~30 ms here),
 * far too slow per commit. 0 when AIO is not available. */
static pthread_key_t aio_key;
static pthread_once_t aio_once = PTHREAD_ONCE_INIT;
static int aio_key_ok;

static void aio_free(void *p)
{
    aio_context_t *ctx = p;
    syscall(SYS_io_destroy, *ctx);
    free(ctx);
}

static void aio_key_make(void) { aio_key_ok = pthread_key_create(&aio_key, aio_free) == 0; }

static aio_context_t thread_aio(void)
{
    pthread_once(&aio_once, aio_key_make);
    if (!aio_key_ok)
        return 0;
    aio_context_t *ctx = pthread_getspecific(aio_key);
    if (ctx)
        return *ctx;
    ctx = calloc(1, sizeof *ctx);
    if (!ctx)
        return 0;
    if (syscall(SYS_io_setup, 2, ctx) != 0 || pthread_setspecific(aio_key, ctx) != 0) {
        if (*ctx)
            syscall(SYS_io_destroy, *ctx);
        free(ctx);
        return 0;
    }
    return *ctx;
}

static void drop_thread_aio(void)
{
    aio_context_t *ctx = pthread_getspecific(aio_key);
    if (ctx) {
        pthread_setspecific(aio_key, NULL);
        aio_free(ctx);
    }
}

/* fsync(a) and fsync(b) in flight together (Linux AIO IOCB_CMD_FSYNC: the
 * kernel runs both at once), so a commit waits for about one flush instead
 * of two in a row; the directory's and the file's need no order between
 * them, only both before the metadata commit. Where AIO is unavailable
 * (ENOSYS, aio-max-nr reached) or refuses an fsync (EINVAL), that fd gets a
 * plain fsync. An I/O error from an AIO fsync is final: an fsync retried
 * after a failed one can report success for data that was lost. 0 or -1
 * (errno). */
static int fsync_both(int a, int b)
{
    int fds[2] = {a, b}, need[2] = {1, 1}, err = 0;
    aio_context_t ctx = thread_aio();
    if (ctx) {
        struct iocb cb[2];
        struct iocb *cbs[2] = {&cb[0], &cb[1]};
        memset(cb, 0, sizeof cb);
        for (int i = 0; i < 2; i++) {
            cb[i].aio_fildes = (uint32_t)fds[i];
            cb[i].aio_lio_opcode = IOCB_CMD_FSYNC;
            cb[i].aio_data = (uint64_t)i;
        }
        long sent = syscall(SYS_io_submit, ctx, 2L, cbs), got = 0;
        struct io_event ev[2];
        while (sent > 0 && got < sent) {
            long r = syscall(SYS_io_getevents, ctx, sent - got, sent - got, ev + got, NULL);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                break;
            got += r;
        }
        if (got < sent)
            drop_thread_aio(); /* io_destroy waits for what is still in flight */
        for (long k = 0; k < got; k++) {
            int i = (int)(ev[k].data & 1);
            if (ev[k].res == 0)
                need[i] = 0;
            else if (ev[k].res != -EINVAL && !err)
                err = (int)-ev[k].res;
        }
        if (got < sent && !err)
            err = EIO; /* lost track of a submitted fsync: do not guess */
    }
    for (int i = 0; i < 2 && !err; i++)
        if (need[i] && fsync_one(fds[i]) != 0)
            err = errno;
    errno = err;
    return err ? -1 : 0;
}

/* Renames from into blob id's place, then makes content and name durable
 * (fd: from, open; fsynced here). *renamed tells whether from is gone. On
 * failure nothing stays at the blob's name. */
static ct_err place_blob(ct_store *s, const char *from, int fd, const char *id, int *renamed)
{
    char dst[2400], dir[2400];
    *renamed = 0;
    ct_err e = blob_path(s, id, dst, sizeof dst);
    if (e || (e = ct_snprintf(dir, sizeof dir, "%s/blobs/%.2s", s->root, id)))
        return e;
    if (rename(from, dst) != 0)
        return errno_err(errno);
    *renamed = 1;
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || fsync_both(fd, dfd) != 0)
        e = errno_err(errno);
    if (dfd >= 0)
        close(dfd);
    if (e)
        unlink(dst);
    return e;
}

ct_err ct_store_writer_commit(ct_store_writer *w, char id[CT_BLOB_ID_MAX], unsigned char md5[16])
{
    int renamed;
    ct_err e = place_blob(w->store, w->tmp_path, w->fd, w->id, &renamed);
    if (renamed)
        w->tmp_path[0] = '\0'; /* nothing left to unlink */
    if (e == CT_OK) {
        if (w->md5)
            store_md5_final(w->md5, md5);
        else
            memset(md5, 0, 16);
        memcpy(id, w->id, 33);
    }
    ct_store_writer_abort(w); /* closes fd: its data is already durable */
    return e;
}

void ct_store_writer_abort(ct_store_writer *w)
{
    if (!w)
        return;
    if (w->fd >= 0)
        close(w->fd);
    if (w->tmp_path[0])
        unlink(w->tmp_path);
    store_md5_free(w->md5);
    free(w);
}

static ct_err md5_of_fd(int fd, unsigned char md5[16], uint64_t *size)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx)
        return CT_ERR_NOMEM;
    ct_err e = CT_OK;
    static __thread char chunk[1 << 16];
    uint64_t total = 0;
    EVP_DigestInit_ex(ctx, ct_md5_md(), NULL);
    for (;;) {
        ssize_t r = read(fd, chunk, sizeof chunk);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            e = CT_ERR_IO;
            goto cleanup;
        }
        if (r == 0)
            break;
        EVP_DigestUpdate(ctx, chunk, (size_t)r);
        total += (uint64_t)r;
    }
    unsigned int len = 16;
    EVP_DigestFinal_ex(ctx, md5, &len);
    *size = total;
cleanup:
    EVP_MD_CTX_free(ctx);
    return e;
}

ct_err ct_store_adopt_file(ct_store *s, const char *path, char id[CT_BLOB_ID_MAX],
                           unsigned char md5[16], uint64_t *size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? CT_ERR_NOT_FOUND : CT_ERR_IO;
    char newid[CT_BLOB_ID_MAX];
    ct_random_hex(newid, 32);
    int renamed;
    ct_err e = md5_of_fd(fd, md5, size);
    if (!e)
        e = place_blob(s, path, fd, newid, &renamed);
    close(fd);
    if (e)
        return e;
    memcpy(id, newid, 33);
    return CT_OK;
}

ct_err ct_store_open_read(ct_store *s, const char *id, int *fd, uint64_t *size)
{
    char p[2400];
    ct_err e = blob_path(s, id, p, sizeof p);
    if (e)
        return e;
    /* "ab/<id>", the tail of p, from the blobs directory when it is open */
    int f = s->blobs_fd >= 0 ? openat(s->blobs_fd, p + strlen(p) - 35, O_RDONLY | O_CLOEXEC)
                             : open(p, O_RDONLY | O_CLOEXEC);
    if (f < 0)
        return errno == ENOENT ? CT_ERR_NOT_FOUND : CT_ERR_IO;
    struct stat st;
    if (fstat(f, &st) != 0) {
        close(f);
        return CT_ERR_IO;
    }
    *fd = f;
    if (size)
        *size = (uint64_t)st.st_size;
    return CT_OK;
}

ct_err ct_store_bytes_fd(const void *p, size_t n, int *fd)
{
    int f = memfd_create("cattube-inline", MFD_CLOEXEC);
    if (f < 0)
        return errno == ENOMEM ? CT_ERR_NOMEM : CT_ERR_IO;
    ct_err e = ct_write_all(f, p, n);
    if (e) {
        close(f);
        return e;
    }
    *fd = f;
    return CT_OK;
}

ct_err ct_store_bytes_file(const char *path, const void *p, size_t n)
{
    int f = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (f < 0)
        return errno == ENOSPC ? CT_ERR_NOSPC : CT_ERR_IO;
    ct_err e = ct_write_all(f, p, n);
    if (close(f) != 0 && !e)
        e = CT_ERR_IO;
    if (e)
        unlink(path);
    return e;
}

ct_err ct_store_local_path(ct_store *s, const char *id, char *out, size_t n)
{
    return blob_path(s, id, out, n);
}

ct_err ct_store_remove(ct_store *s, const char *id)
{
    char p[2400];
    ct_err e = blob_path(s, id, p, sizeof p);
    if (e)
        return e;
    if (unlink(p) != 0)
        return errno == ENOENT ? CT_ERR_NOT_FOUND : CT_ERR_IO;
    return CT_OK;
}

static int sweep_dir(ct_store *s, const char *sub, ct_store_ref_fn referenced, void *ctx)
{
    char path[2400];
    int removed = 0;
    if (ct_snprintf(path, sizeof path, "%s/blobs/%s", s->root, sub))
        return 0;
    DIR *d = opendir(path);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (strlen(e->d_name) != 32 || referenced(ctx, e->d_name))
            continue;
        char p[2500];
        if (ct_snprintf(p, sizeof p, "%s/%s", path, e->d_name) == CT_OK && unlink(p) == 0)
            removed++;
    }
    if (d)
        closedir(d);
    return removed;
}

ct_err ct_store_sweep(ct_store *s, ct_store_ref_fn referenced, void *ctx, int *removed)
{
    char path[2200];
    *removed = 0;
    if (ct_snprintf(path, sizeof path, "%s/blobs", s->root))
        return CT_ERR_TOO_LARGE;
    DIR *d = opendir(path);
    if (!d)
        return CT_ERR_IO;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strlen(e->d_name) == 2 && e->d_name[0] != '.')
            *removed += sweep_dir(s, e->d_name, referenced, ctx);
    closedir(d);
    return CT_OK;
}

/* tmp/w-* files whose writer is gone: nobody holds their lock. */
static int sweep_unlocked_temps(const char *tmp)
{
    DIR *d = opendir(tmp);
    struct dirent *e;
    int removed = 0;
    while (d && (e = readdir(d))) {
        char p[4096];
        if (strncmp(e->d_name, "w-", 2) != 0 || ct_snprintf(p, sizeof p, "%s/%s", tmp, e->d_name))
            continue;
        int fd = open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        /* Locked: a live writer. Free: its writer died (or just committed
         * and renamed it away, when the unlink finds nothing). */
        if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0 && unlink(p) == 0)
            removed++;
        if (fd >= 0)
            close(fd);
    }
    if (d)
        closedir(d);
    return removed;
}

/* Unreferenced blobs last written more than grace_s ago. */
static int sweep_old_orphans(ct_store *s, const char *sub, ct_store_ref_fn referenced, void *ctx,
                             time_t cutoff)
{
    char path[2400];
    int removed = 0;
    if (ct_snprintf(path, sizeof path, "%s/blobs/%s", s->root, sub))
        return 0;
    DIR *d = opendir(path);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        char p[2500];
        struct stat st;
        if (strlen(e->d_name) != 32 || ct_snprintf(p, sizeof p, "%s/%s", path, e->d_name) ||
            lstat(p, &st) != 0 || st.st_mtime > cutoff || referenced(ctx, e->d_name))
            continue;
        if (unlink(p) == 0)
            removed++;
    }
    if (d)
        closedir(d);
    return removed;
}

ct_err ct_store_sweep_shared(ct_store *s, ct_store_ref_fn referenced, void *ctx, int grace_s,
                             int *temps, int *blobs)
{
    char path[2200];
    *temps = sweep_unlocked_temps(s->tmp);
    *blobs = 0;
    if (!referenced)
        return CT_OK;
    if (ct_snprintf(path, sizeof path, "%s/blobs", s->root))
        return CT_ERR_TOO_LARGE;
    DIR *d = opendir(path);
    if (!d)
        return CT_ERR_IO;
    time_t cutoff = time(NULL) - grace_s;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strlen(e->d_name) == 2 && e->d_name[0] != '.')
            *blobs += sweep_old_orphans(s, e->d_name, referenced, ctx, cutoff);
    closedir(d);
    return CT_OK;
}
