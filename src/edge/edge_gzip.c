/* edge_gzip.c: gzip for manifests and text when the cache behavior says
 * Compress=true, after CloudFront's documented conditions ("Serve compressed
 * files"):
 *   - the viewer's Accept-Encoding allows gzip (q > 0, or "*");
 *   - the content type is one CloudFront compresses (text/any, JSON, XML and
 *     +xml types such as DASH manifests, HLS playlists, JavaScript, SVG);
 *   - the object is between 1,000 and 10,000,000 bytes;
 *   - the origin did not store a Content-Encoding (never compressed twice);
 *   - the request has no Range header (ranges are of the identity bytes);
 *   - only for 200 answers (errors here are small and never cached).
 * The compressed answer carries Content-Encoding: gzip and a weak ETag
 * (W/"<etag>"), which is what CloudFront turns a strong origin ETag into:
 * the bytes differ, so a strong validator must not be shared, while
 * If-None-Match (weak comparison) still revalidates either form. Responses of
 * a compressible type on a Compress behavior carry Vary: Accept-Encoding
 * whether or not this one was compressed, so shared caches in front keep
 * the two forms apart.
 *
 * zlib's deflate with the gzip wrapper, level 6 (nginx's gzip_comp_level
 * default is 1; manifests are small and re-read often, so the better ratio
 * is worth it). The compressed body is made per request, bounded by the
 * 10 MB input limit. */
#include "edge/edge_internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <zlib.h>

#define GZIP_MIN 1000
#define GZIP_MAX 10000000
#define GZIP_LEVEL 6

int edge_accepts_gzip(const char *ae)
{
    if (!ae)
        return 0;
    int gzip = -1, star = -1; /* -1 unseen, 0 refused (q=0), 1 accepted */
    const char *p = ae;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        const char *tok = p;
        while (*p && *p != ',' && *p != ';' && *p != ' ' && *p != '\t')
            p++;
        size_t tl = (size_t)(p - tok);
        int q_zero = 0;
        while (*p && *p != ',') { /* parameters: only q matters */
            while (*p == ' ' || *p == '\t' || *p == ';')
                p++;
            if ((p[0] == 'q' || p[0] == 'Q') && p[1] == '=')
                q_zero = strtod(p + 2, NULL) <= 0.0;
            while (*p && *p != ',' && *p != ';')
                p++;
        }
        if (!tl)
            continue;
        if ((tl == 4 && !strncasecmp(tok, "gzip", 4)) || (tl == 6 && !strncasecmp(tok, "x-gzip", 6)))
            gzip = !q_zero;
        else if (tl == 1 && tok[0] == '*')
            star = !q_zero;
    }
    return gzip >= 0 ? gzip : star == 1;
}

int edge_gzip_type(const char *ctype)
{
    static const char *const types[] = {
        "application/json", "application/xml", "application/javascript",
        "application/x-javascript", "application/vnd.apple.mpegurl", "application/x-mpegurl",
        "application/dash+xml", "application/ld+json", "application/manifest+json",
        "application/xhtml+xml", "application/rss+xml", "application/atom+xml",
        "application/x-subrip", "image/svg+xml", "image/x-icon", "audio/mpegurl", NULL};
    if (!ctype)
        return 0;
    size_t n = strcspn(ctype, "; \t");
    if (n >= 5 && !strncasecmp(ctype, "text/", 5))
        return 1;
    for (const char *const *t = types; *t; t++)
        if (strlen(*t) == n && !strncasecmp(ctype, *t, n))
            return 1;
    return n > 4 && !strncasecmp(ctype + n - 4, "+xml", 4);
}

int edge_gzip_size_ok(uint64_t size) { return size >= GZIP_MIN && size <= GZIP_MAX; }

ct_err edge_gzip_fd(int fd, uint64_t len, char **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    if (len > GZIP_MAX)
        return CT_ERR_INVALID;
    unsigned char *in = malloc(len ? len : 1);
    if (!in)
        return CT_ERR_NOMEM;
    uint64_t got = 0;
    while (got < len) {
        ssize_t r = pread(fd, in + got, len - got, (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            free(in);
            return CT_ERR_IO;
        }
        got += (uint64_t)r;
    }
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, GZIP_LEVEL, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        free(in);
        return CT_ERR_NOMEM;
    }
    uLong cap = deflateBound(&z, (uLong)len);
    unsigned char *buf = malloc(cap);
    ct_err err = CT_ERR_NOMEM;
    if (buf) {
        z.next_in = in;
        z.avail_in = (uInt)len;
        z.next_out = buf;
        z.avail_out = (uInt)cap;
        if (deflate(&z, Z_FINISH) == Z_STREAM_END) {
            *out = (char *)buf;
            *out_len = z.total_out;
            err = CT_OK;
        } else {
            free(buf);
            err = CT_ERR_IO;
        }
    }
    deflateEnd(&z);
    free(in);
    return err;
}
