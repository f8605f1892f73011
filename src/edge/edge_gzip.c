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
 * is worth it). The compressed body is made on a miss, bounded by the
 * 10 MB input limit, and kept (below) so a hot manifest is deflated once. */
#include "edge/edge_internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
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
    if (ct_pread_all(fd, in, (size_t)len, 0) != CT_OK) {
        free(in);
        return CT_ERR_IO;
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

/* ---- compressed bodies, kept (edge_gzcache) ----
 * Deflating the same manifest for every viewer would make compression the
 * cost of a hit, and a 10 MB text object a CPU amplifier; compressed bodies
 * are kept by "<dist>/<key>" + the origin ETag (a new ETag replaces the
 * entry), at most GZ_CACHE_BYTES and GZ_CACHE_ENTRIES, least recently used
 * dropped first. A body is shared by reference with the responses sending
 * it, so dropping an entry never frees bytes still being sent. */
#define GZ_CACHE_BYTES ((size_t)32 << 20)
#define GZ_CACHE_ENTRIES 1024

typedef struct gz_body {
    _Atomic int refs;
    size_t len;
    char data[]; /* flexible */
} gz_body;

typedef struct gz_entry {
    struct gz_entry *prev, *next; /* LRU, head = newest */
    char *ckey;
    char etag[80];
    gz_body *body;
} gz_entry;

struct edge_gzcache {
    pthread_mutex_t mu;
    gz_entry *head, *tail;
    size_t bytes, n;
};

static void body_unref(void *p)
{
    gz_body *b = p;
    if (b && atomic_fetch_sub(&b->refs, 1) == 1)
        free(b);
}

edge_gzcache *edge_gzcache_new(void)
{
    edge_gzcache *g = calloc(1, sizeof *g);
    if (g)
        pthread_mutex_init(&g->mu, NULL);
    return g;
}

static void gz_unlink(edge_gzcache *g, gz_entry *en)
{
    if (en->prev)
        en->prev->next = en->next;
    else
        g->head = en->next;
    if (en->next)
        en->next->prev = en->prev;
    else
        g->tail = en->prev;
    g->bytes -= en->body->len;
    g->n--;
}

static void gz_drop(edge_gzcache *g, gz_entry *en)
{
    gz_unlink(g, en);
    body_unref(en->body);
    free(en->ckey);
    free(en);
}

void edge_gzcache_free(edge_gzcache *g)
{
    if (!g)
        return;
    while (g->head)
        /* NOLINTNEXTLINE(clang-analyzer-unix.Malloc): gz_unlink moved g->head on */
        gz_drop(g, g->head);
    pthread_mutex_destroy(&g->mu);
    free(g);
}

static void gz_front(edge_gzcache *g, gz_entry *en)
{
    gz_unlink(g, en);
    g->bytes += en->body->len;
    g->n++;
    en->prev = NULL;
    en->next = g->head;
    if (g->head)
        g->head->prev = en;
    g->head = en;
    if (!g->tail)
        g->tail = en;
}

/* A referenced body for ckey/etag, or NULL. */
static gz_body *gz_find(edge_gzcache *g, const char *ckey, const char *etag)
{
    gz_body *b = NULL;
    pthread_mutex_lock(&g->mu);
    for (gz_entry *en = g->head; en; en = en->next)
        if (!strcmp(en->ckey, ckey)) {
            if (!strcmp(en->etag, etag)) {
                gz_front(g, en);
                b = en->body;
                atomic_fetch_add(&b->refs, 1);
            } else {
                gz_drop(g, en); /* the object changed */
            }
            break;
        }
    pthread_mutex_unlock(&g->mu);
    return b;
}

static void gz_keep(edge_gzcache *g, const char *ckey, const char *etag, gz_body *b)
{
    gz_entry *en = calloc(1, sizeof *en);
    if (!en || b->len > GZ_CACHE_BYTES / 4 || strlen(etag) >= sizeof en->etag ||
        !(en->ckey = strdup(ckey))) {
        free(en);
        return;
    }
    snprintf(en->etag, sizeof en->etag, "%s", etag);
    atomic_fetch_add(&b->refs, 1);
    en->body = b;
    pthread_mutex_lock(&g->mu);
    for (gz_entry *x = g->head; x; x = x->next)
        if (!strcmp(x->ckey, ckey)) {
            gz_drop(g, x);
            break;
        }
    while (g->tail && (g->bytes + b->len > GZ_CACHE_BYTES || g->n >= GZ_CACHE_ENTRIES))
        /* NOLINTNEXTLINE(clang-analyzer-unix.Malloc): gz_unlink moved g->tail on */
        gz_drop(g, g->tail);
    en->next = g->head;
    if (g->head)
        /* NOLINTNEXTLINE(clang-analyzer-unix.Malloc): g->head is live, see gz_unlink */
        g->head->prev = en;
    g->head = en;
    if (!g->tail)
        g->tail = en;
    g->bytes += b->len;
    g->n++;
    pthread_mutex_unlock(&g->mu);
}

void edge_gzcache_invalidate(edge_gzcache *g, const char *dist_id, const char *key, int prefix)
{
    if (!g)
        return;
    pthread_mutex_lock(&g->mu);
    for (gz_entry *en = g->head, *nx; en; en = nx) {
        nx = en->next;
        if (edge_ckey_invalidated(en->ckey, dist_id, key, prefix))
            gz_drop(g, en);
    }
    pthread_mutex_unlock(&g->mu);
}

static edge_resp *body_response(gz_body *b, uint64_t *len)
{
    *len = b->len;
    edge_resp *mr =
        edge_resp_buffer(b->len, b->data, body_unref, b); /* unrefs b on failure */
    return mr;
}

edge_resp *edge_gzcache_response(edge_gzcache *g, const char *ckey, const char *etag,
                                           uint64_t *len)
{
    gz_body *b = g ? gz_find(g, ckey, etag) : NULL;
    return b ? body_response(b, len) : NULL;
}

edge_resp *edge_gzip_response(edge_gzcache *g, const char *ckey, const char *etag,
                                        int fd, uint64_t size, uint64_t *len)
{
    gz_body *b = NULL;
    {
        char *z = NULL;
        size_t zl = 0;
        if (edge_gzip_fd(fd, size, &z, &zl))
            return NULL;
        b = malloc(sizeof *b + zl);
        if (!b) {
            free(z);
            return NULL;
        }
        atomic_init(&b->refs, 1);
        b->len = zl;
        memcpy(b->data, z, zl);
        free(z);
        if (g)
            gz_keep(g, ckey, etag, b);
    }
    return body_response(b, len);
}
