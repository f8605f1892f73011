/* edge_serve.c: one object to a viewer: origin row (through the metadata
 * cache), preconditions (RFC 9110 §13.2.2), Range (206/416), the origin's
 * stored headers, and the bytes (a file range the server loop sends with
 * sendfile, SSL_sendfile or big preads; see edge_loop.c). */
#include "edge/edge_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define EDGE_DEFAULT_CACHE_CONTROL "public, max-age=3600"

/* Response of len bytes of fd from off; takes fd. */
static edge_resp *file_response(int fd, uint64_t off, uint64_t len)
{
    if (len == 0) {
        close(fd);
        return edge_empty_response();
    }
    return edge_resp_file(fd, off, len);
}

/* Whether stored metadata (jansson's output: keys never escaped) can
 * hold a header a viewer sees. */
static int may_have_headers(const char *j)
{
    static const char *const keys[] = {"cache-control", "content-disposition",
                                       "content-encoding", "content-language", "expires",
                                       "x-amz-meta-"};
    /* one pass, looking after each quote (six strcasestr scans showed in
     * the 4 KiB profile) */
    for (const char *q = strchr(j, '"'); q; q = strchr(q + 1, '"'))
        for (size_t i = 0; i < CT_ARRAY_LEN(keys); i++)
            if (strncasecmp(q + 1, keys[i], strlen(keys[i])) == 0)
                return 1;
    return 0;
}

/* Origin headers stored with the object (meta_json) that a viewer sees. */
static void object_headers(edge_resp *mr, const char *meta_json, int *have_cc)
{
    static const struct {
        const char *stored, *wire;
    } pass[] = {
        {"cache-control", "Cache-Control"},       {"content-disposition", "Content-Disposition"},
        {"content-encoding", "Content-Encoding"}, {"content-language", "Content-Language"},
        {"expires", "Expires"},
    };
    *have_cc = 0;
    if (!meta_json || !*meta_json || !may_have_headers(meta_json))
        return; /* the common case (only checksums stored): no JSON parse */
    json_t *o = json_loads(meta_json, 0, NULL);
    if (!json_is_object(o)) {
        json_decref(o);
        return;
    }
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v)
    {
        if (!json_is_string(v))
            continue;
        const char *s = json_string_value(v);
        for (size_t i = 0; i < CT_ARRAY_LEN(pass); i++)
            if (strcasecmp(k, pass[i].stored) == 0) {
                /* Values with CR/LF are refused, so a stored value cannot split the response. */
                if (edge_resp_header(mr, pass[i].wire, s) == 0 && i == 0)
                    *have_cc = 1;
            }
        if (strncasecmp(k, "x-amz-meta-", 11) == 0)
            edge_resp_header(mr, k, s);
    }
    json_decref(o);
}

static const char *object_content_type(const ct_meta_object *o)
{
    const char *ct = o->content_type;
    if (ct && *ct && strcasecmp(ct, "application/octet-stream") != 0 &&
        strcasecmp(ct, "binary/octet-stream") != 0)
        return ct;
    return ct_mime_from_name(o->key);
}

/* How one answer is shaped: strong or weak (gzip) validator, Vary. */
typedef struct {
    int gzip; /* the body is the gzip of the object */
    int vary; /* Vary: Accept-Encoding */
} rep_form;

/* Validators and cache headers shared by 200, 206, 304 and 416 answers. */
static void validator_headers(edge_resp *mr, edge_conn *c,
                              const ct_meta_object *o, int with_meta, const rep_form *f)
{
    char etag[100], lm[40];
    size_t wl = f->gzip ? 2 : 0, el = strnlen(o->etag, sizeof o->etag); /* no printf: hot */
    memcpy(etag, "W/", wl);
    etag[wl] = '"';
    memcpy(etag + wl + 1, o->etag, el);
    memcpy(etag + wl + 1 + el, "\"", 2);
    static _Thread_local int64_t lm_ms = -1; /* strftime once per object time */
    static _Thread_local char lm_text[40];
    if (o->mtime_ms / 1000 != lm_ms) {
        ct_time_http(o->mtime_ms, lm_text);
        lm_ms = o->mtime_ms / 1000;
    }
    memcpy(lm, lm_text, sizeof lm);
    edge_resp_header(mr, "ETag", etag);
    edge_resp_header(mr, "Last-Modified", lm);
    int have_cc = 0;
    if (with_meta)
        object_headers(mr, o->meta_json, &have_cc);
    if (!have_cc)
        edge_resp_header(mr, "Cache-Control", EDGE_DEFAULT_CACHE_CONTROL);
    edge_cors_headers(mr, c, f->vary);
}

/* RFC 9110 §13.2.2 order. Returns 0 to go on, or 304 / 412. */
static int preconditions(edge_conn *c, const ct_meta_object *o)
{
    int64_t mtime_s = o->mtime_ms / 1000;
    const char *im = edge_hdr(c, "If-Match"), *ius = edge_hdr(c, "If-Unmodified-Since");
    const char *inm = edge_hdr(c, "If-None-Match"), *ims = edge_hdr(c, "If-Modified-Since");
    if (im) {
        if (!edge_etag_match(im, o->etag, 0))
            return 412;
    } else if (ius) {
        int64_t t = ct_time_parse_http(ius);
        if (t >= 0 && mtime_s > t)
            return 412;
    }
    if (inm) {
        if (edge_etag_match(inm, o->etag, 1))
            return 304;
    } else if (ims) {
        int64_t t = ct_time_parse_http(ims);
        if (t >= 0 && mtime_s <= t)
            return 304;
    }
    return 0;
}

/* If-Range: the Range applies only while the representation is unchanged. */
static int if_range_ok(edge_conn *c, const ct_meta_object *o)
{
    const char *ir = edge_hdr(c, "If-Range");
    if (!ir)
        return 1;
    while (*ir == ' ')
        ir++;
    if (*ir == '"' || *ir == 'W')
        return edge_etag_match(ir, o->etag, 0);
    int64_t t = ct_time_parse_http(ir);
    return t >= 0 && t == o->mtime_ms / 1000;
}

/* 1 when the origin stored a Content-Encoding (never compressed twice). */
static int stored_encoding(const char *meta_json)
{
    if (!meta_json || !strstr(meta_json, "ncoding"))
        return 0;
    json_t *o = json_loads(meta_json, 0, NULL);
    const char *k;
    json_t *v;
    int found = 0;
    json_object_foreach(o, k, v) if (!strcasecmp(k, "content-encoding")) found = 1;
    json_decref(o);
    return found;
}

/* CloudFront's conditions for compression (see edge_gzip.c). */
static rep_form choose_form(edge_conn *c, const edge_dist *d,
                            const ct_meta_object *o)
{
    rep_form f = {0, 0};
    if (!d->compress || !edge_gzip_type(object_content_type(o)) || stored_encoding(o->meta_json))
        return f;
    f.vary = 1;
    f.gzip = edge_gzip_size_ok(o->size) && !edge_hdr(c, "Range") &&
             edge_accepts_gzip(edge_hdr(c, "Accept-Encoding"));
    return f;
}

/* A cached inline row is current while meta has that very version: an
 * overwrite leaves no vanished blob to notice. No commit since the row was
 * read or confirmed (meta's write epoch; SQLite) settles it for free; else
 * a point lookup asks, and confirms the row for the epoch it saw. */
static int inline_row_current(ct_edge *e, const edge_dist *d, const char *key,
                              const ct_meta_object *o)
{
    if (edge_cache_row_fresh(e, d, key))
        return 1; /* nothing was committed since the row was read */
    uint64_t epoch = ct_meta_write_epoch(e->meta);
    ct_meta_object now;
    if (ct_meta_object_get(e->meta, d->origin_bucket, key, &now) != CT_OK)
        return 0;
    int same = now.is_inline && now.size == o->size && now.mtime_ms == o->mtime_ms &&
               strcmp(now.etag, o->etag) == 0;
    ct_meta_object_free(&now);
    if (same)
        edge_cache_confirm(e, d, key, epoch);
    return same;
}

/* The origin row of key (cache, then meta) and, for a GET served from a
 * cached row, its blob already open (*fd) so a vanished blob is noticed. */
static ct_err origin_row(ct_edge *e, const edge_dist *d, const char *key, int head,
                         ct_meta_object *o, int *hit, int *fd, uint64_t *blob_size)
{
    int64_t t_origin = edge_now_us();
    ct_err err = edge_cache_lookup(e, d, key, o, hit);
    if (!*hit)
        edge_metrics_origin(e, edge_now_us() - t_origin);
    if (!err && *hit && !head && !d->origin_url[0] &&
        (o->is_inline ? !inline_row_current(e, d, key, o)
                      : ct_store_open_read(e->store, o->blob_id, fd, blob_size) != CT_OK)) {
        /* The cached row's blob is gone (overwritten or deleted), or its
         * inline version is no longer meta's: read again. */
        edge_cache_invalidate(e->cache, d->id, key, 0);
        ct_meta_object_free(o);
        memset(o, 0, sizeof *o);
        *hit = 0;
        *fd = -1;
        err = edge_cache_lookup(e, d, key, o, hit);
    }
    return err;
}

/* A body copied from an inline object's bytes (the row has them: no file). */
static edge_resp *inline_response(const ct_meta_object *o, uint64_t off, uint64_t len)
{
    if (off + len > o->inline_len)
        return NULL;
    char *data = malloc(len ? (size_t)len : 1);
    if (!data)
        return NULL;
    if (len)
        memcpy(data, o->inline_data + off, (size_t)len);
    edge_resp *mr = edge_resp_take((size_t)len, data);
    return mr;
}

static int send_416(edge_req *r, edge_conn *c, const ct_meta_object *o)
{
    ct_buf b = CT_BUF_INIT;
    ct_buf_puts(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>"
                    "InvalidRange</Code><Message>The requested range is not "
                    "satisfiable</Message>");
    ct_buf_printf(&b, "<ActualObjectSize>%llu</ActualObjectSize></Error>\n",
                  (unsigned long long)o->size);
    size_t blen = b.len;
    char *data = ct_buf_take(&b);
    edge_resp *mr = data ? edge_resp_take(blen, data) : NULL;
    if (!mr)
        return 0;
    char cr[64];
    snprintf(cr, sizeof cr, "bytes */%llu", (unsigned long long)o->size);
    edge_common_headers(mr, "Error from cattube");
    edge_resp_header(mr, "Content-Range", cr);
    edge_resp_header(mr, "Content-Type", "application/xml");
    edge_resp_header(mr, "Accept-Ranges", "bytes");
    rep_form f = {0, 0};
    validator_headers(mr, c, o, 0, &f);
    return edge_queue(r, c, 416, mr, blen);
}

/* The bytes of o open in *fd (the local blob, or the disk cache of a remote
 * origin), at least need bytes long; 0 or -1 (logged). A disk-cache miss
 * clears *hit. */
static int open_blob(ct_edge *e, const edge_dist *d, const ct_meta_object *o, int *fd,
                     uint64_t blob_size, uint64_t need, int *hit)
{
    int disk_hit = 1;
    ct_err err = *fd >= 0 ? CT_OK : edge_origin_open(e, d, o, fd, &blob_size, &disk_hit);
    if (err) {
        ct_error("edge: bytes of %s/%s: %s", o->bucket, o->key, ct_err_str(err));
        return -1;
    }
    if (!disk_hit)
        *hit = 0;
    if (blob_size < need) {
        ct_error("edge: object %s/%s is %llu bytes, metadata says %llu", o->bucket, o->key,
                 (unsigned long long)blob_size, (unsigned long long)o->size);
        return -1;
    }
    return 0;
}

/* A CustomErrorResponse's page is served in place of an error: with
 * as_status (its ResponseCode), no conditionals or ranges; when the page
 * itself cannot be read, the original error (orig) is sent. */
typedef struct {
    int as_status;
    int orig; /* 403 or 404 */
} page_for;

static int send_origin_error(edge_req *r, edge_conn *c, const edge_dist *d,
                             const char *key, int head, int status);

/* A remote origin's answer needs no origin read: its row (or kept error) is
 * cached and, unless HEAD, its bytes are on disk. Otherwise a loop thread
 * hands the request to the origin pool (edge_loop.c) rather than block
 * every connection it serves on a slow origin. */
static int remote_ready(ct_edge *e, const edge_dist *d, const char *key, int head)
{
    char etag[128], *ckey = NULL; /* a row ETag is at most 80 bytes */
    if (!edge_cache_peek(e, d, key, etag, sizeof etag))
        return 0;
    if (head || !etag[0])
        return 1;
    int ok = asprintf(&ckey, "%s/%s", d->id, key) >= 0 && edge_disk_ready(e->disk, ckey, etag);
    free(ckey);
    return ok;
}

static int serve(edge_req *r, edge_conn *c, const edge_dist *d, const char *key,
                 int head, const page_for *pf)
{
    ct_edge *e = r->l->e;
    if (r->can_defer && d->origin_url[0] && !remote_ready(e, d, key, head)) {
        r->deferred = 1; /* run again on a pool thread, which may block */
        return 1;
    }
    ct_meta_object o;
    memset(&o, 0, sizeof o);
    int hit = 0, fd = -1;
    uint64_t blob_size = 0;
    ct_err err = origin_row(e, d, key, head, &o, &hit, &fd, &blob_size);
    if (pf && (err == CT_ERR_NOT_FOUND || err == CT_ERR_DENIED))
        return send_origin_error(r, c, NULL, key, head, pf->orig);
    if (err == CT_ERR_NOT_FOUND)
        return send_origin_error(r, c, d, key, head, 404);
    if (err == CT_ERR_DENIED) /* the origin's bucket policy does not let the edge read it */
        return send_origin_error(r, c, d, key, head, 403);
    if (err) {
        ct_warn("edge: origin lookup %s/%s: %s", d->origin_bucket, key, ct_err_str(err));
        return edge_send_error(r, c, 502, "OriginError", "The origin could not be read.", NULL);
    }
    int ret = 0;
    edge_resp *mr = NULL;
    rep_form form = choose_form(c, d, &o);
    int pre = pf ? 0 : preconditions(c, &o);
    if (pre == 412) {
        ret = edge_send_error(r, c, 412, "PreconditionFailed",
                              "At least one of the pre-conditions you specified did not hold",
                              NULL);
        goto done;
    }
    if (pre == 304) {
        if ((mr = edge_empty_response())) {
            edge_common_headers(mr, "RefreshHit from cattube");
            validator_headers(mr, c, &o, 1, &form);
            ret = edge_queue(r, c, 304, mr, 0);
        }
        goto done;
    }

    uint64_t size = o.size, len = size;
    edge_range rg[EDGE_RANGES_MAX];
    int nr = 0;
    const char *range = edge_hdr(c, "Range");
    if (range && !pf && if_range_ok(c, &o))
        nr = edge_ranges_parse(range, size, rg, EDGE_RANGES_MAX);
    if (nr < 0) {
        ret = send_416(r, c, &o);
        goto done;
    }
    const char *ctype = object_content_type(&o);
    char boundary[EDGE_BOUNDARY_LEN + 1], mp_type[96];
    uint64_t need = nr ? rg[nr - 1].end + 1 : size;
    for (int i = 0; i < nr; i++)
        need = rg[i].end + 1 > need ? rg[i].end + 1 : need;
    char *ckey = NULL; /* "<dist>/<key>": the compressed-body cache's key */
    if (form.gzip && asprintf(&ckey, "%s/%s", d->id, key) < 0)
        goto done;
    if (form.gzip)
        mr = edge_gzcache_response(e->gz, ckey, o.etag, &len);
    else if (nr <= 1 && o.is_inline) { /* local origin: the row has the bytes */
        if (nr == 1)
            len = rg[0].end - rg[0].start + 1;
        mr = head ? edge_resp_length_only(len) : inline_response(&o, nr ? rg[0].start : 0, len);
        if (!mr)
            goto done;
    }
    if (!mr && (!head || form.gzip) && open_blob(e, d, &o, &fd, blob_size, need, &hit)) {
        free(ckey);
        ret = edge_send_error(r, c, 502, "OriginError", "The origin could not be read.", NULL);
        goto done;
    }
    if (form.gzip) {
        if (!mr)
            mr = edge_gzip_response(e->gz, ckey, o.etag, fd, size, &len);
        free(ckey);
    } else if (nr > 1) {
        mr = edge_multipart_response(fd, rg, (size_t)nr, size, ctype, head, boundary, &len);
        fd = -1; /* taken */
        snprintf(mp_type, sizeof mp_type, "multipart/byteranges; boundary=%s", boundary);
        ctype = mp_type;
    } else if (!mr) {
        if (nr == 1)
            len = rg[0].end - rg[0].start + 1;
        if (head) /* Content-Length of the representation (or the range), no body */
            mr = edge_resp_length_only(len);
        else
            mr = file_response(fd, nr ? rg[0].start : 0, len);
        fd = head ? fd : -1; /* taken by file_response */
    }
    if (!mr)
        goto done;
    edge_common_headers(mr, hit ? "Hit from cattube" : "Miss from cattube");
    edge_resp_header(mr, "Content-Type", ctype);
    edge_resp_header(mr, "Accept-Ranges", "bytes");
    if (form.gzip)
        edge_resp_header(mr, "Content-Encoding", "gzip");
    if (nr == 1) {
        char cr[96];
        snprintf(cr, sizeof cr, "bytes %llu-%llu/%llu", (unsigned long long)rg[0].start,
                 (unsigned long long)rg[0].end, (unsigned long long)size);
        edge_resp_header(mr, "Content-Range", cr);
    }
    validator_headers(mr, c, &o, 1, &form);
    ret = edge_queue(r, c, pf ? pf->as_status : nr ? 206 : 200, mr, head ? 0 : len);
done:
    if (fd >= 0)
        close(fd);
    ct_meta_object_free(&o);
    return ret;
}

/* 403/404 from the origin: the distribution's CustomErrorResponse page for
 * that code when it has one (d NULL: never), else the S3-shaped error. */
static int send_origin_error(edge_req *r, edge_conn *c, const edge_dist *d,
                             const char *key, int head, int status)
{
    const edge_error_page *ep = NULL;
    for (size_t i = 0; d && i < d->n_errors; i++)
        if (d->errors[i].code == status && d->errors[i].page[0])
            ep = &d->errors[i];
    if (!ep) {
        if (status == 404)
            return edge_send_error(r, c, 404, "NoSuchKey", "The specified key does not exist.",
                                   key);
        return edge_send_error(r, c, 403, "AccessDenied", "Access Denied", NULL);
    }
    ct_err err;
    char *page = edge_path_to_key(ep->page, strlen(ep->page), &err), *full = NULL;
    if (page && d->origin_path[0] && asprintf(&full, "%s/%s", d->origin_path + 1, page) < 0)
        full = NULL;
    page_for pf = {ep->response_code ? ep->response_code : status, status};
    int ret = page && (!d->origin_path[0] || full)
                  ? serve(r, c, d, full ? full : page, head, &pf)
                  : send_origin_error(r, c, NULL, key, head, status);
    free(full);
    free(page);
    return ret;
}

int edge_serve_object(edge_req *r, edge_conn *c, const edge_dist *d, const char *key,
                      int head)
{
    return serve(r, c, d, key, head, NULL);
}
