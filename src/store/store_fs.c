/* store_fs.c: blobs on the local filesystem.
 *
 * DESIGN: DIR/blobs/<2 hex>/<32 hex> holds committed blobs; DIR/tmp holds
 * uploads in flight and transcode scratch space. Writers stream to
 * DIR/tmp/w-<id>, computing MD5 as they go; commit = fsync(file), rename
 * into blobs/, fsync(blob dir). Keys never appear in any path. */
#include "store/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct ct_store {
    char root[2048];
    char tmp[2100];
    char scratch[2100];
};

struct ct_store_writer {
    ct_store *store;
    int fd;
    char id[CT_BLOB_ID_MAX];
    char tmp_path[2200];
    uint64_t size;
    EVP_MD_CTX *md5;
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
    if (ct_mkdirs(blobs, 0700) || ct_mkdirs(s->tmp, 0700)) {
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
    *out = s;
    return CT_OK;
}

ct_err ct_store_open_fs(const char *dir, ct_store **out) { return store_open(dir, 0, out); }

ct_err ct_store_open_fs_shared(const char *dir, ct_store **out)
{
    return store_open(dir, 1, out);
}

void ct_store_close(ct_store *s) { free(s); }

const char *ct_store_scratch_dir(ct_store *s) { return s->scratch; }

static ct_err blob_path(ct_store *s, const char *id, char *out, size_t n, int make_dir)
{
    if (strlen(id) != 32 || strspn(id, "0123456789abcdef") != 32)
        return CT_ERR_INVALID;
    if (make_dir) {
        char dir[2300];
        if (ct_snprintf(dir, sizeof dir, "%s/blobs/%.2s", s->root, id))
            return CT_ERR_TOO_LARGE;
        if (mkdir(dir, 0700) != 0 && errno != EEXIST)
            return CT_ERR_IO;
    }
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

ct_err ct_store_writer_open(ct_store *s, ct_store_writer **out)
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
    w->md5 = EVP_MD_CTX_new();
    if (w->fd < 0 || !w->md5 || !EVP_DigestInit_ex(w->md5, EVP_md5(), NULL)) {
        ct_err e = w->fd < 0 ? errno_err(errno) : CT_ERR_NOMEM;
        ct_store_writer_abort(w);
        return e;
    }
    *out = w;
    return CT_OK;
}

ct_err ct_store_writer_write(ct_store_writer *w, const void *p, size_t n)
{
    const char *c = p;
    EVP_DigestUpdate(w->md5, p, n);
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
    return CT_OK;
}

uint64_t ct_store_writer_size(const ct_store_writer *w) { return w->size; }

static ct_err place_blob(ct_store *s, const char *from, const char *id)
{
    char dst[2400], dir[2400];
    ct_err e = blob_path(s, id, dst, sizeof dst, 1);
    if (e)
        return e;
    if (rename(from, dst) != 0)
        return errno_err(errno);
    if (ct_snprintf(dir, sizeof dir, "%s/blobs/%.2s", s->root, id))
        return CT_ERR_TOO_LARGE;
    return ct_fsync_dir(dir);
}

ct_err ct_store_writer_commit(ct_store_writer *w, char id[CT_BLOB_ID_MAX], unsigned char md5[16])
{
    ct_err e = CT_OK;
    unsigned int len = 16;
    if (fsync(w->fd) != 0) {
        e = errno_err(errno);
        goto cleanup;
    }
    if (close(w->fd) != 0) {
        w->fd = -1;
        e = errno_err(errno);
        goto cleanup;
    }
    w->fd = -1;
    EVP_DigestFinal_ex(w->md5, md5, &len);
    if ((e = place_blob(w->store, w->tmp_path, w->id)))
        goto cleanup;
    memcpy(id, w->id, 33);
    w->tmp_path[0] = '\0'; /* renamed: nothing to unlink */
cleanup:
    ct_store_writer_abort(w);
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
    EVP_MD_CTX_free(w->md5);
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
    EVP_DigestInit_ex(ctx, EVP_md5(), NULL);
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
    ct_err e = md5_of_fd(fd, md5, size);
    if (!e && fsync(fd) != 0)
        e = errno_err(errno);
    close(fd);
    if (e)
        return e;
    char newid[CT_BLOB_ID_MAX];
    ct_random_hex(newid, 32);
    if ((e = place_blob(s, path, newid)))
        return e;
    memcpy(id, newid, 33);
    return CT_OK;
}

ct_err ct_store_open_read(ct_store *s, const char *id, int *fd, uint64_t *size)
{
    char p[2400];
    ct_err e = blob_path(s, id, p, sizeof p, 0);
    if (e)
        return e;
    int f = open(p, O_RDONLY | O_CLOEXEC);
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

ct_err ct_store_local_path(ct_store *s, const char *id, char *out, size_t n)
{
    return blob_path(s, id, out, n, 0);
}

ct_err ct_store_remove(ct_store *s, const char *id)
{
    char p[2400];
    ct_err e = blob_path(s, id, p, sizeof p, 0);
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
