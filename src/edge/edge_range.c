/* edge_range.c: Range requests with one or several ranges (RFC 9110 §14).
 *
 * DESIGN: edge_ranges_parse is pure (fuzzed by fuzz/fuzz_range.c). Each
 * range-spec is read by core's single-range parser; unsatisfiable specs are
 * dropped, and none left means 416. What is not served as asked, like nginx:
 * a syntax error anywhere, a unit other than bytes, more than
 * EDGE_RANGES_MAX specs (nginx's max_ranges), or ranges that add up to more
 * than the object (overlaps: the amplification RFC 9110 §14.2 warns about;
 * nginx's ngx_http_range_parse declines the same way) -> the Range header is
 * ignored and the whole object is sent with 200. Ranges are not coalesced or
 * reordered: the parts come in the order asked.
 *
 * Several ranges are sent as multipart/byteranges (§14.6): each part has its
 * own Content-Type and Content-Range; the body is produced by one callback
 * that walks a small table of segments (part headers in memory, part bodies
 * pread from the blob fd), so Content-Length is exact and nothing is buffered
 * beyond one block. */
#include "edge/edge_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define SPEC_MAX 64 /* "bytes=" + two 20-digit numbers and a dash fit */

/* One comma-separated element of the range-set, trimmed; n = 0 when empty. */
static const char *next_spec(const char **p, size_t *n)
{
    const char *s = *p;
    while (*s == ' ' || *s == '\t')
        s++;
    const char *comma = strchr(s, ',');
    size_t len = comma ? (size_t)(comma - s) : strlen(s);
    *p = comma ? comma + 1 : s + len;
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;
    *n = len;
    return s;
}

int edge_ranges_parse(const char *hdr, uint64_t len, edge_range *out, size_t max)
{
    if (!hdr)
        return 0;
    while (*hdr == ' ' || *hdr == '\t')
        hdr++;
    if (strncasecmp(hdr, "bytes=", 6) != 0)
        return 0;
    const char *p = hdr + 6;
    size_t n = 0, specs = 0;
    uint64_t total = 0;
    int unsatisfiable = 0;
    while (*p) {
        size_t sl;
        const char *s = next_spec(&p, &sl);
        if (sl == 0) /* empty list elements are allowed (RFC 9110 §5.6.1.2) */
            continue;
        if (++specs > max || sl + 7 > SPEC_MAX)
            return 0;
        char one[SPEC_MAX];
        snprintf(one, sizeof one, "bytes=%.*s", (int)sl, s);
        uint64_t a, b;
        ct_err err = ct_range_parse(one, len, &a, &b);
        if (err == CT_ERR_NOT_FOUND)
            return 0; /* invalid syntax: the whole header is ignored */
        if (err == CT_ERR_INVALID) {
            unsatisfiable = 1;
            continue;
        }
        total += b - a + 1;
        if (total > len)
            return 0; /* overlapping ranges asking for more than the object */
        out[n].start = a;
        out[n].end = b;
        n++;
    }
    if (n)
        return (int)n;
    return unsatisfiable ? -1 : 0;
}

/* ---- multipart/byteranges body ---- */

typedef struct {
    uint64_t at;     /* offset of this segment in the body */
    uint64_t len;
    const char *mem; /* part header / closing delimiter, or NULL: blob bytes */
    uint64_t off;    /* blob offset when mem is NULL */
} mp_seg;

typedef struct {
    int fd;
    size_t n;
    char *text; /* every part header and the closing delimiter */
    mp_seg seg[2 * EDGE_RANGES_MAX + 1];
} mp_src;

static ssize_t mp_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    mp_src *s = cls;
    size_t i = 0;
    while (i < s->n && pos >= s->seg[i].at + s->seg[i].len)
        i++;
    if (i == s->n)
        return EDGE_READER_ERROR; /* past the layout: never asked */
    const mp_seg *g = &s->seg[i];
    uint64_t in = pos - g->at, left = g->len - in;
    size_t want = left < max ? (size_t)left : max;
    if (g->mem) {
        memcpy(buf, g->mem + in, want);
        return (ssize_t)want;
    }
    for (;;) {
        ssize_t r = pread(s->fd, buf, want, (off_t)(g->off + in));
        if (r > 0)
            return r;
        if (r < 0 && errno == EINTR)
            continue;
        return EDGE_READER_ERROR; /* blob shorter than its row */
    }
}

static void mp_free(void *cls)
{
    mp_src *s = cls;
    if (s->fd >= 0)
        close(s->fd);
    free(s->text);
    free(s);
}

/* Part headers into one buffer; seg[].mem are filled after it stops moving. */
static int mp_layout(mp_src *s, const edge_range *rg, size_t n, uint64_t total,
                     const char *ctype, const char *boundary, uint64_t *body_len)
{
    ct_buf b = CT_BUF_INIT;
    size_t hdr_at[EDGE_RANGES_MAX + 1], hdr_len[EDGE_RANGES_MAX + 1];
    for (size_t i = 0; i <= n; i++) {
        hdr_at[i] = b.len;
        if (i < n)
            ct_buf_printf(&b, "%s--%s\r\nContent-Type: %s\r\nContent-Range: bytes %llu-%llu/%llu"
                              "\r\n\r\n",
                          i ? "\r\n" : "", boundary, ctype, (unsigned long long)rg[i].start,
                          (unsigned long long)rg[i].end, (unsigned long long)total);
        else
            ct_buf_printf(&b, "\r\n--%s--\r\n", boundary);
        hdr_len[i] = b.len - hdr_at[i];
    }
    if (!b.data)
        return -1;
    s->text = ct_buf_take(&b);
    uint64_t at = 0;
    s->n = 0;
    for (size_t i = 0; i <= n; i++) {
        s->seg[s->n++] = (mp_seg){at, hdr_len[i], s->text + hdr_at[i], 0};
        at += hdr_len[i];
        if (i < n) {
            uint64_t l = rg[i].end - rg[i].start + 1;
            s->seg[s->n++] = (mp_seg){at, l, NULL, rg[i].start};
            at += l;
        }
    }
    *body_len = at;
    return 0;
}

edge_resp *edge_multipart_response(int fd, const edge_range *rg, size_t n,
                                             uint64_t total, const char *ctype, int head,
                                             char boundary[EDGE_BOUNDARY_LEN + 1],
                                             uint64_t *body_len)
{
    mp_src *s = calloc(1, sizeof *s);
    if (!s || n < 2 || n > EDGE_RANGES_MAX) {
        free(s);
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    s->fd = fd;
    ct_random_hex(boundary, EDGE_BOUNDARY_LEN);
    boundary[EDGE_BOUNDARY_LEN] = '\0';
    if (mp_layout(s, rg, n, total, ctype, boundary, body_len)) {
        mp_free(s);
        return NULL;
    }
    edge_resp *mr;
    if (head) {
        mp_free(s);
        mr = edge_resp_length_only(*body_len);
    } else {
        mr = edge_resp_reader(*body_len, mp_read, s, mp_free); /* frees s on failure */
    }
    return mr;
}
