/* sandbox_bundle: the parent's side of multi-file outputs: unpacks the
 * records the child appended to its output fd (format in core/plan.h) into
 * the output's directory.
 *
 * The bundle is untrusted (it came from the process that parsed the input),
 * so every header is bounds-checked against the file size, every name must
 * pass ct_plan_name_ok (no '/', not "."/"..", no leading '.', no control
 * characters) and files are created with openat(dirfd, name, O_NOFOLLOW),
 * never by a path the child chose. */
#include "sandbox/sandbox_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BUNDLE_MAX_FILES 200000

static int copy_out(int from, int64_t off, uint64_t len, int to)
{
    char buf[65536];
    while (len > 0) {
        size_t n = len < sizeof buf ? (size_t)len : sizeof buf;
        if (ct_pread_all(from, buf, n, (uint64_t)off) != CT_OK || ct_write_all(to, buf, n) != CT_OK)
            return -1;
        off += (int64_t)n;
        len -= n;
    }
    return 0;
}

/* One record at *off: validated, written to dfd, *off advanced. */
static ct_err unpack_one(int bfd, int dfd, int64_t size, int64_t *off, char *err, size_t errlen)
{
    unsigned char h[CT_BUNDLE_HDR];
    char name[CT_PLAN_NAME_MAX];
    uint32_t nl = 0;
    uint64_t dl = 0;
    if (size - *off < CT_BUNDLE_HDR || ct_pread_all(bfd, h, sizeof h, (uint64_t)*off) != CT_OK ||
        memcmp(h, CT_BUNDLE_MAGIC, 4) != 0) {
        snprintf(err, errlen, "bad record header at offset %lld", (long long)*off);
        return CT_ERR_INVALID;
    }
    for (int i = 3; i >= 0; i--)
        nl = (nl << 8) | h[4 + i];
    for (int i = 7; i >= 0; i--)
        dl = (dl << 8) | h[8 + i];
    int64_t rest = size - *off - CT_BUNDLE_HDR;
    if (nl == 0 || nl >= sizeof name || (int64_t)nl > rest || dl > (uint64_t)(rest - nl) ||
        ct_pread_all(bfd, name, nl, (uint64_t)(*off + CT_BUNDLE_HDR)) != CT_OK) {
        snprintf(err, errlen, "bad record lengths at offset %lld", (long long)*off);
        return CT_ERR_INVALID;
    }
    name[nl] = '\0';
    if (strlen(name) != nl || !ct_plan_name_ok(name)) {
        snprintf(err, errlen, "refused file name \"%.64s\"", name);
        return CT_ERR_INVALID;
    }
    int ofd = openat(dfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600);
    if (ofd < 0) {
        snprintf(err, errlen, "%s: %s", name, strerror(errno));
        return CT_ERR_IO;
    }
    int rc = copy_out(bfd, *off + CT_BUNDLE_HDR + nl, dl, ofd);
    if (close(ofd) != 0)
        rc = -1;
    if (rc != 0) {
        snprintf(err, errlen, "%s: write failed (%s)", name, strerror(errno));
        return CT_ERR_IO;
    }
    *off += CT_BUNDLE_HDR + (int64_t)nl + (int64_t)dl;
    return CT_OK;
}

ct_err ct_sandbox_unpack_bundle(int bundle_fd, const char *dir, char *err, size_t errlen)
{
    struct stat sb;
    int64_t off = 0;
    int n = 0;
    ct_err e = CT_OK;
    if (fstat(bundle_fd, &sb) != 0) {
        snprintf(err, errlen, "bundle: %s", strerror(errno));
        return CT_ERR_IO;
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0) {
        snprintf(err, errlen, "%s: %s", dir, strerror(errno));
        return CT_ERR_IO;
    }
    while (e == CT_OK && off < (int64_t)sb.st_size) {
        if (++n > BUNDLE_MAX_FILES) {
            snprintf(err, errlen, "more than %d files", BUNDLE_MAX_FILES);
            e = CT_ERR_INVALID;
            break;
        }
        e = unpack_one(bundle_fd, dfd, (int64_t)sb.st_size, &off, err, errlen);
    }
    close(dfd);
    return e;
}
