#include "core/core.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

ct_err ct_fsync_dir(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return CT_ERR_IO;
    int rc = fsync(fd);
    close(fd);
    return rc == 0 ? CT_OK : CT_ERR_IO;
}

ct_err ct_mkdirs(const char *path, int mode)
{
    char tmp[4096];
    if (ct_snprintf(tmp, sizeof tmp, "%s", path))
        return CT_ERR_TOO_LARGE;
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, (mode_t)mode) != 0 && errno != EEXIST)
            return CT_ERR_IO;
        *p = '/';
    }
    if (mkdir(tmp, (mode_t)mode) != 0 && errno != EEXIST)
        return CT_ERR_IO;
    return CT_OK;
}

ct_err ct_read_file(const char *path, size_t max, char **out, size_t *len)
{
    ct_err err = CT_OK;
    ct_buf b = CT_BUF_INIT;
    b.max = max;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? CT_ERR_NOT_FOUND : CT_ERR_IO;
    char chunk[8192];
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            err = CT_ERR_IO;
            goto cleanup;
        }
        if (n == 0)
            break;
        if ((err = ct_buf_append(&b, chunk, (size_t)n)))
            goto cleanup;
    }
    if (len)
        *len = b.len;
    *out = ct_buf_take(&b);
cleanup:
    close(fd);
    ct_buf_free(&b);
    return err;
}

ct_err ct_write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t w = write(fd, c, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return errno == ENOSPC ? CT_ERR_NOSPC : CT_ERR_IO;
        c += w;
        n -= (size_t)w;
    }
    return CT_OK;
}

ct_err ct_pread_all(int fd, void *p, size_t n, uint64_t off)
{
    char *c = p;
    while (n) {
        ssize_t r = pread(fd, c, n, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return CT_ERR_IO;
        c += r;
        n -= (size_t)r;
        off += (uint64_t)r;
    }
    return CT_OK;
}

ct_err ct_write_file_atomic(const char *path, const void *p, size_t n, int mode)
{
    char tmp[4096], dir[4096];
    if (ct_snprintf(tmp, sizeof tmp, "%s.tmp%d", path, (int)getpid()) ||
        ct_snprintf(dir, sizeof dir, "%s", path))
        return CT_ERR_TOO_LARGE;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, (mode_t)mode);
    if (fd < 0)
        return CT_ERR_IO;
    ct_err werr = ct_write_all(fd, p, n);
    if (werr) {
        close(fd);
        unlink(tmp);
        return werr;
    }
    if (fsync(fd) != 0 || close(fd) != 0 || rename(tmp, path) != 0) {
        unlink(tmp);
        return CT_ERR_IO;
    }
    char *slash = strrchr(dir, '/');
    if (slash) {
        *slash = '\0';
        return ct_fsync_dir(dir[0] ? dir : "/");
    }
    return ct_fsync_dir(".");
}
