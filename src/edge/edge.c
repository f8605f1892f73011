/* edge.c: the HTTPS (and plain HTTP) viewer listeners.
 *
 * Threading: each listener is an MHD daemon in epoll mode with an internal
 * thread pool (one thread per core, 2..8). A viewer request does a routing
 * table lookup (in memory, rwlock), one metadata read (SQLite, microseconds)
 * and an open(); the bytes are then pushed by MHD's event loop as the socket
 * drains. Nothing blocks on the client, so an idle keep-alive connection or a
 * slow player costs a socket and MHD's per-connection pool, not a thread;
 * thread-per-connection would cost a stack per viewer and let slow readers
 * exhaust the process (the slowloris shape). Keep-alive is MHD's default for
 * HTTP/1.1 (see on_access for the MHD quirk that otherwise defeats it); idle
 * connections are closed after EDGE_IDLE_TIMEOUT_S.
 *
 * Bytes: over TLS MHD cannot sendfile (GnuTLS encrypts in user space), and its
 * own fd responses read 4 KiB at a time, which makes 4 KiB TLS records; we
 * use a callback response that preads 64 KiB blocks instead, so GnuTLS emits
 * full 16 KiB records. The plain HTTP listener (allow-all distributions) uses
 * MHD's fd response, which is sendfile().
 *
 * Keys are opaque: the URL path is percent-decoded once into a key that is
 * looked up in meta; no filesystem path is ever derived from a URL. */
#include "edge/edge_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define EDGE_IDLE_TIMEOUT_S 60
#define EDGE_MAX_CONNECTIONS 4000
#define EDGE_CONN_MEMORY (64 * 1024)
#ifndef EDGE_TLS_BLOCK
#define EDGE_TLS_BLOCK (64 * 1024)
#endif
#define EDGE_DEFAULT_CACHE_CONTROL "public, max-age=3600"

typedef struct {
    edge_listener *l;
    char *raw;          /* raw request target, as on the wire */
    int64_t t0;
    int started, responded;
    int status;
    uint64_t bytes;
    char method[16];
    char host[EDGE_HOST_MAX]; /* for the access log */
    char dist[EDGE_ID_LEN + 1];
    edge_reqlog lg;
} edge_req;

/* ---- per-request state ---- */

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
    edge_req *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->l = cls;
    r->raw = strdup(uri ? uri : "");
    r->t0 = ct_mono_ms();
    edge_log_begin(&r->lg);
    if (!r->raw) {
        free(r);
        return NULL;
    }
    return r;
}

/* Textual client address ("-" when unknown). */
static void client_ip(struct MHD_Connection *c, char ip[64])
{
    strcpy(ip, "-");
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci && ci->client_addr) {
        const struct sockaddr *sa = ci->client_addr;
        if (sa->sa_family == AF_INET)
            inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, ip, 64);
        else if (sa->sa_family == AF_INET6)
            inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, ip, 64);
    }
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    edge_req *r = *con_cls;
    if (!r)
        return;
    if (r->responded) {
        char ip[64];
        client_ip(c, ip);
        char target[256];
        size_t i = 0;
        for (; i < sizeof target - 1 && r->raw[i]; i++) /* no control bytes in the log */
            target[i] = (unsigned char)r->raw[i] < 0x20 || r->raw[i] == 0x7f ? '?' : r->raw[i];
        target[i] = '\0';
        ct_debug("edge: %s %s %s %s host=%s dist=%s -> %d %llu bytes %lld ms%s", ip,
                 r->l->secure ? "https" : "http", r->method, target, r->host[0] ? r->host : "-",
                 r->dist[0] ? r->dist : "-", r->status, (unsigned long long)r->bytes,
                 (long long)(ct_mono_ms() - r->t0),
                 toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " (aborted)");
        edge_logline l = {r->method, r->raw, r->host, ip, r->l->secure, r->status, r->bytes};
        edge_log_request(r->l->e, c, &r->lg, &l);
    }
    free(r->raw);
    free(r);
    *con_cls = NULL;
}

/* ---- responses ---- */

static void common_headers(struct MHD_Response *mr, const char *x_cache)
{
    MHD_add_response_header(mr, "Server", "CatTube");
    MHD_add_response_header(mr, "X-Cache", x_cache);
}

static void cors_headers(struct MHD_Response *mr)
{
    /* Objects behind a distribution are public by construction; '*' without
     * credentials lets hls.js / dash.js players on any origin fetch them. */
    MHD_add_response_header(mr, "Access-Control-Allow-Origin", "*");
    MHD_add_response_header(mr, "Access-Control-Expose-Headers",
                            "Content-Length, Content-Range, Accept-Ranges, ETag, Last-Modified");
}

static enum MHD_Result queue(edge_req *r, struct MHD_Connection *c, int status,
                             struct MHD_Response *mr, uint64_t bytes)
{
    if (!mr)
        return MHD_NO;
    r->status = status;
    r->bytes = bytes;
    edge_log_note(&r->lg, mr, status);
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, mr);
    MHD_destroy_response(mr);
    return ret;
}

static enum MHD_Result send_error(edge_req *r, struct MHD_Connection *c, int status,
                                  const char *code, const char *message, const char *key)
{
    ct_buf b = CT_BUF_INIT;
    char rid[17];
    ct_random_hex(rid, 16);
    ct_buf_puts(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>");
    ct_xml_escape(&b, code);
    ct_buf_puts(&b, "</Code><Message>");
    ct_xml_escape(&b, message);
    ct_buf_puts(&b, "</Message>");
    if (key) {
        ct_buf_puts(&b, "<Key>");
        ct_xml_escape(&b, key);
        ct_buf_puts(&b, "</Key>");
    }
    ct_buf_printf(&b, "<RequestId>%s</RequestId></Error>\n", rid);
    if (!b.data)
        return MHD_NO;
    size_t len = b.len;
    char *data = ct_buf_take(&b);
    struct MHD_Response *mr = MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
    if (!mr) {
        free(data);
        return MHD_NO;
    }
    common_headers(mr, "Error from cattube");
    MHD_add_response_header(mr, "Content-Type", "application/xml");
    MHD_add_response_header(mr, "Cache-Control", "no-store"); /* errors are never cached */
    MHD_add_response_header(mr, "x-amz-request-id", rid);
    return queue(r, c, status, mr, len);
}

static struct MHD_Response *empty_response(void)
{
    return MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
}

typedef struct {
    int fd;
    uint64_t off;
} file_src;

static ssize_t file_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    file_src *s = cls;
    for (;;) {
        ssize_t n = pread(s->fd, buf, max, (off_t)(s->off + pos));
        if (n > 0)
            return n;
        if (n < 0 && errno == EINTR)
            continue;
        /* Short file (blob truncated under us) or I/O error: MHD closes the
         * connection rather than sending a body shorter than advertised. */
        return MHD_CONTENT_READER_END_WITH_ERROR;
    }
}

static void file_free(void *cls)
{
    file_src *s = cls;
    close(s->fd);
    free(s);
}

static ssize_t no_body(void *cls, uint64_t pos, char *buf, size_t max)
{
    return MHD_CONTENT_READER_END_WITH_ERROR;
}

/* Response of len bytes of fd from off; takes fd. */
static struct MHD_Response *file_response(int secure, int fd, uint64_t off, uint64_t len)
{
    struct MHD_Response *mr = NULL;
    if (len == 0) {
        close(fd);
        return empty_response();
    }
    if (!secure) {
        mr = MHD_create_response_from_fd_at_offset64(len, fd, off); /* sendfile */
        if (!mr)
            close(fd);
        return mr;
    }
    file_src *s = malloc(sizeof *s);
    if (!s) {
        close(fd);
        return NULL;
    }
    s->fd = fd;
    s->off = off;
    mr = MHD_create_response_from_callback(len, EDGE_TLS_BLOCK, file_read, s, file_free);
    if (!mr)
        file_free(s);
    return mr;
}

/* Origin headers stored with the object (meta_json) that a viewer sees. */
static void object_headers(struct MHD_Response *mr, const char *meta_json, int *have_cc)
{
    static const struct {
        const char *stored, *wire;
    } pass[] = {
        {"cache-control", "Cache-Control"},       {"content-disposition", "Content-Disposition"},
        {"content-encoding", "Content-Encoding"}, {"content-language", "Content-Language"},
        {"expires", "Expires"},
    };
    *have_cc = 0;
    if (!meta_json || !*meta_json)
        return;
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
                /* MHD refuses values with CR/LF, so a stored value cannot split the response. */
                if (MHD_add_response_header(mr, pass[i].wire, s) == MHD_YES && i == 0)
                    *have_cc = 1;
            }
        if (strncasecmp(k, "x-amz-meta-", 11) == 0)
            MHD_add_response_header(mr, k, s);
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

/* Validators and cache headers shared by 200, 206, 304 and 416 answers. */
static void validator_headers(struct MHD_Response *mr, const ct_meta_object *o, int with_meta)
{
    char etag[96], lm[40];
    snprintf(etag, sizeof etag, "\"%s\"", o->etag);
    ct_time_http(o->mtime_ms, lm);
    MHD_add_response_header(mr, "ETag", etag);
    MHD_add_response_header(mr, "Last-Modified", lm);
    int have_cc = 0;
    if (with_meta)
        object_headers(mr, o->meta_json, &have_cc);
    if (!have_cc)
        MHD_add_response_header(mr, "Cache-Control", EDGE_DEFAULT_CACHE_CONTROL);
    cors_headers(mr);
}

static const char *hdr(struct MHD_Connection *c, const char *name)
{
    return MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
}

/* RFC 9110 §13.2.2 order. Returns 0 to go on, or 304 / 412. */
static int preconditions(struct MHD_Connection *c, const ct_meta_object *o)
{
    int64_t mtime_s = o->mtime_ms / 1000;
    const char *im = hdr(c, "If-Match"), *ius = hdr(c, "If-Unmodified-Since");
    const char *inm = hdr(c, "If-None-Match"), *ims = hdr(c, "If-Modified-Since");
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
static int if_range_ok(struct MHD_Connection *c, const ct_meta_object *o)
{
    const char *ir = hdr(c, "If-Range");
    if (!ir)
        return 1;
    while (*ir == ' ')
        ir++;
    if (*ir == '"' || *ir == 'W')
        return edge_etag_match(ir, o->etag, 0);
    int64_t t = ct_time_parse_http(ir);
    return t >= 0 && t == o->mtime_ms / 1000;
}

static enum MHD_Result serve_object(edge_req *r, struct MHD_Connection *c, const edge_dist *d,
                                    const char *key, int head)
{
    ct_edge *e = r->l->e;
    ct_meta_object o;
    memset(&o, 0, sizeof o);
    int hit = 0, fd = -1;
    uint64_t blob_size = 0;
    int64_t t_origin = edge_now_us();
    ct_err err = edge_cache_lookup(e, d, key, &o, &hit);
    if (!hit)
        edge_metrics_origin(e, edge_now_us() - t_origin);
    if (!err && hit && !head && ct_store_open_read(e->store, o.blob_id, &fd, &blob_size)) {
        /* The cached row's blob is gone (overwritten or deleted): read again. */
        edge_cache_invalidate(e->cache, d->id, key, 0);
        ct_meta_object_free(&o);
        memset(&o, 0, sizeof o);
        hit = 0;
        fd = -1;
        err = edge_cache_lookup(e, d, key, &o, &hit);
    }
    if (err == CT_ERR_NOT_FOUND)
        return send_error(r, c, 404, "NoSuchKey", "The specified key does not exist.", key);
    if (err) {
        ct_warn("edge: origin lookup %s/%s: %s", d->origin_bucket, key, ct_err_str(err));
        return send_error(r, c, 502, "OriginError", "The origin could not be read.", NULL);
    }
    enum MHD_Result ret;
    struct MHD_Response *mr;
    int pre = preconditions(c, &o);
    if (pre == 412) {
        ret = send_error(r, c, 412, "PreconditionFailed",
                         "At least one of the pre-conditions you specified did not hold", NULL);
        goto done;
    }
    if (pre == 304) {
        mr = empty_response();
        if (!mr) {
            ret = MHD_NO;
            goto done;
        }
        common_headers(mr, "RefreshHit from cattube");
        validator_headers(mr, &o, 1);
        ret = queue(r, c, 304, mr, 0);
        goto done;
    }

    uint64_t size = o.size, start = 0, end = 0;
    int status = 200;
    const char *range = hdr(c, "Range");
    if (range && if_range_ok(c, &o)) {
        err = ct_range_parse(range, size, &start, &end);
        if (err == CT_OK) {
            status = 206;
        } else if (err == CT_ERR_INVALID) {
            ct_buf b = CT_BUF_INIT;
            ct_buf_puts(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>"
                            "InvalidRange</Code><Message>The requested range is not "
                            "satisfiable</Message>");
            ct_buf_printf(&b, "<ActualObjectSize>%llu</ActualObjectSize></Error>\n",
                          (unsigned long long)size);
            size_t blen = b.len;
            char *data = ct_buf_take(&b);
            mr = data ? MHD_create_response_from_buffer(blen, data, MHD_RESPMEM_MUST_FREE)
                      : NULL;
            if (!mr) {
                free(data);
                ret = MHD_NO;
                goto done;
            }
            char cr[64];
            snprintf(cr, sizeof cr, "bytes */%llu", (unsigned long long)size);
            common_headers(mr, "Error from cattube");
            MHD_add_response_header(mr, "Content-Range", cr);
            MHD_add_response_header(mr, "Content-Type", "application/xml");
            MHD_add_response_header(mr, "Accept-Ranges", "bytes");
            validator_headers(mr, &o, 0);
            ret = queue(r, c, 416, mr, blen);
            goto done;
        }
        /* CT_ERR_NOT_FOUND: not a range we serve (syntax, several ranges): 200. */
    }
    uint64_t len = status == 206 ? end - start + 1 : size;

    if (head) {
        /* Content-Length of the representation (or the range), no body. */
        mr = MHD_create_response_from_callback(len, 4096, no_body, NULL, NULL);
    } else {
        err = fd >= 0 ? CT_OK : ct_store_open_read(e->store, o.blob_id, &fd, &blob_size);
        if (err) {
            ct_error("edge: blob %s of %s/%s: %s", o.blob_id, d->origin_bucket, key,
                     ct_err_str(err));
            ret = send_error(r, c, 502, "OriginError", "The origin could not be read.", NULL);
            goto done;
        }
        if (blob_size < start + len) {
            close(fd);
            ct_error("edge: blob %s is %llu bytes, metadata says %llu", o.blob_id,
                     (unsigned long long)blob_size, (unsigned long long)size);
            ret = send_error(r, c, 502, "OriginError", "The origin could not be read.", NULL);
            goto done;
        }
        mr = file_response(r->l->secure, fd, start, len);
        fd = -1; /* taken */
    }
    if (!mr) {
        ret = MHD_NO;
        goto done;
    }
    common_headers(mr, hit ? "Hit from cattube" : "Miss from cattube");
    MHD_add_response_header(mr, "Content-Type", object_content_type(&o));
    MHD_add_response_header(mr, "Accept-Ranges", "bytes");
    if (status == 206) {
        char cr[96];
        snprintf(cr, sizeof cr, "bytes %llu-%llu/%llu", (unsigned long long)start,
                 (unsigned long long)end, (unsigned long long)size);
        MHD_add_response_header(mr, "Content-Range", cr);
    }
    validator_headers(mr, &o, 1);
    ret = queue(r, c, status, mr, head ? 0 : len);
done:
    if (fd >= 0)
        close(fd);
    ct_meta_object_free(&o);
    return ret;
}

static enum MHD_Result send_redirect(edge_req *r, struct MHD_Connection *c, const char *host,
                                     int is_v6, const char *path_and_query)
{
    ct_edge *e = r->l->e;
    ct_buf loc = CT_BUF_INIT;
    ct_buf_printf(&loc, "https://%s%s%s", is_v6 ? "[" : "", host, is_v6 ? "]" : "");
    if (e->https.port != 443)
        ct_buf_printf(&loc, ":%u", (unsigned)e->https.port);
    ct_buf_puts(&loc, path_and_query);
    struct MHD_Response *mr = loc.data ? empty_response() : NULL;
    if (!mr || MHD_add_response_header(mr, "Location", loc.data) != MHD_YES) {
        if (mr)
            MHD_destroy_response(mr);
        ct_buf_free(&loc);
        return MHD_NO;
    }
    ct_buf_free(&loc);
    common_headers(mr, "Redirect from cattube");
    return queue(r, c, 301, mr, 0);
}

/* Signed URL / signed cookies for a distribution with trusted key groups.
 * The resource is scheme://Host/path?query with the signing parameters
 * removed. 0 when allowed; else *why. */
static int signed_check(edge_req *r, struct MHD_Connection *c, const edge_dist *d,
                        const char *host_hdr, const char *path, size_t path_len,
                        const char *query, const char **why)
{
    edge_signed s;
    memset(&s, 0, sizeof s);
    char rest[EDGE_RESOURCE_MAX], canned[EDGE_RESOURCE_MAX + 160], ip[64];
    ct_buf url = CT_BUF_INIT;
    int rc = -1;
    *why = "Access denied";
    if (edge_signed_from_query(query, &s, rest, sizeof rest))
        goto cleanup;
    if (!s.present) {
        enum MHD_ValueKind ck = MHD_COOKIE_KIND;
        edge_signed_from_cookies(MHD_lookup_connection_value(c, ck, "CloudFront-Policy"),
                                 MHD_lookup_connection_value(c, ck, "CloudFront-Signature"),
                                 MHD_lookup_connection_value(c, ck, "CloudFront-Key-Pair-Id"),
                                 MHD_lookup_connection_value(c, ck, "CloudFront-Expires"),
                                 MHD_lookup_connection_value(c, ck, "CloudFront-Hash-Algorithm"),
                                 &s);
    }
    const char *h = host_hdr ? host_hdr : "";
    while (*h == ' ' || *h == '\t')
        h++;
    size_t hl = strcspn(h, " \t");
    ct_buf_printf(&url, "%s://%.*s%.*s%s%s", r->l->secure ? "https" : "http", (int)hl, h,
                  (int)path_len, path, rest[0] ? "?" : "", rest);
    if (!url.data || url.len >= EDGE_RESOURCE_MAX)
        goto cleanup;
    const char *text = NULL;
    size_t text_len = 0;
    client_ip(c, ip);
    if (edge_signed_conditions(&s, url.data, ip, ct_now_ms() / 1000, canned, sizeof canned,
                               &text, &text_len, why))
        goto cleanup;
    if (edge_keys_verify(r->l->e, d, s.key_pair_id, s.sha256, text, text_len, s.sig, s.sig_len)) {
        *why = "Access denied: the signature does not match a trusted key";
        goto cleanup;
    }
    rc = 0;
cleanup:
    ct_buf_free(&url);
    edge_signed_free(&s);
    return rc;
}

/* GET /metrics on the plain listener (Prometheus text format), before routing. */
static enum MHD_Result send_metrics(edge_req *r, struct MHD_Connection *c)
{
    size_t len = 0;
    char *text = edge_metrics_render(r->l->e, &len);
    struct MHD_Response *mr =
        text ? MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE) : NULL;
    if (!mr) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(mr, "Content-Type", "text/plain; version=0.0.4");
    MHD_add_response_header(mr, "Cache-Control", "no-store");
    return queue(r, c, 200, mr, len);
}

static enum MHD_Result handle(edge_req *r, struct MHD_Connection *c, const char *method)
{
    ct_edge *e = r->l->e;
    const char *path, *path_and_query, *authority;
    size_t path_len, auth_len;
    if (edge_target_split(r->raw, &path, &path_len, &path_and_query, &authority, &auth_len))
        return send_error(r, c, 400, "InvalidRequest", "Malformed request target.", NULL);

    /* Host: the absolute-form authority wins over the Host header. */
    char host[EDGE_HOST_MAX] = "";
    int is_v6 = 0;
    const char *host_hdr = hdr(c, "Host");
    char auth[EDGE_HOST_MAX];
    if (authority) {
        if (auth_len >= sizeof auth)
            return send_error(r, c, 400, "InvalidRequest", "Malformed Host.", NULL);
        memcpy(auth, authority, auth_len);
        auth[auth_len] = '\0';
        host_hdr = auth;
    }
    if (host_hdr && *host_hdr && edge_host_parse(host_hdr, host, sizeof host, &is_v6))
        return send_error(r, c, 400, "InvalidRequest", "Malformed Host.", NULL);
    snprintf(r->host, sizeof r->host, "%s", host);
    if (!r->l->secure && path_len == 8 && memcmp(path, "/metrics", 8) == 0)
        return send_metrics(r, c);

    edge_dist d;
    if (edge_route(e, host, &d))
        return send_error(r, c, 403, "AccessDenied",
                          "No distribution is configured for this host.", NULL);
    memcpy(r->dist, d.id, sizeof r->dist);
    if (!d.enabled)
        return send_error(r, c, 403, "AccessDenied", "The distribution is disabled.", NULL);

    if (!r->l->secure) {
        if (d.policy == EDGE_VPP_REDIRECT) {
            const char *h = host[0] ? host : (e->public_host ? e->public_host : "localhost");
            return send_redirect(r, c, h, is_v6, path_and_query);
        }
        if (d.policy == EDGE_VPP_HTTPS_ONLY)
            return send_error(r, c, 403, "AccessDenied",
                              "This distribution only accepts HTTPS requests.", NULL);
    }

    if (strcmp(method, "OPTIONS") == 0) {
        struct MHD_Response *mr = empty_response();
        if (!mr)
            return MHD_NO;
        common_headers(mr, "Miss from cattube");
        MHD_add_response_header(mr, "Allow", "GET, HEAD, OPTIONS");
        cors_headers(mr);
        MHD_add_response_header(mr, "Access-Control-Allow-Methods", "GET, HEAD");
        MHD_add_response_header(mr, "Access-Control-Allow-Headers",
                                "Range, If-None-Match, If-Modified-Since, If-Range");
        MHD_add_response_header(mr, "Access-Control-Max-Age", "86400");
        return queue(r, c, 200, mr, 0);
    }
    int head = strcmp(method, "HEAD") == 0;
    if (!head && strcmp(method, "GET") != 0)
        return send_error(r, c, 403, "MethodNotAllowed",
                          "This distribution is not configured to allow the HTTP request "
                          "method that was used for this request.",
                          NULL);

    if (d.n_groups) {
        const char *why, *q = strchr(path_and_query, '?');
        if (signed_check(r, c, &d, host_hdr, path, path_len, q ? q + 1 : "", &why))
            return send_error(r, c, 403, "AccessDenied", why, NULL);
    }
    ct_err err;
    char *key = edge_path_to_key(path, path_len, &err);
    if (!key)
        return send_error(r, c, 400, "InvalidURI", "Couldn't parse the specified URI.", NULL);
    enum MHD_Result ret;
    char *full = NULL; /* OriginPath + (the key or DefaultRootObject) */
    const char *k = *key ? key : d.root_object;
    if (*k && d.origin_path[0] && asprintf(&full, "%s/%s", d.origin_path + 1, k) < 0)
        full = NULL;
    if (!*k) /* no DefaultRootObject: S3 would answer a bucket listing, which OAC denies */
        ret = send_error(r, c, 403, "AccessDenied", "Access Denied", NULL);
    else if (d.origin_path[0] && !full)
        ret = MHD_NO;
    else
        ret = serve_object(r, c, &d, full ? full : k, head);
    free(full);
    free(key);
    return ret;
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *c, const char *url,
                                 const char *method, const char *version,
                                 const char *upload_data, size_t *upload_data_size,
                                 void **con_cls)
{
    edge_req *r = *con_cls;
    if (!r)
        return MHD_NO; /* allocation failed in on_uri */
    if (r->responded) {
        *upload_data_size = 0; /* discard any body */
        return MHD_YES;
    }
    /* MHD 0.9.75 closes the connection when a response is queued in the
     * first call (it will not read the rest of the request). Bodiless
     * requests -- all a viewer sends -- are answered on the second call so
     * the connection stays alive; a request with a body is answered at once
     * (and the connection closed) instead of reading a body we never use. */
    if (!r->started) {
        r->started = 1;
        const char *cl = hdr(c, "Content-Length"), *te = hdr(c, "Transfer-Encoding");
        if (!te && (!cl || strcmp(cl, "0") == 0))
            return MHD_YES;
    } else if (*upload_data_size) {
        *upload_data_size = 0;
        return MHD_YES;
    }
    r->responded = 1;
    snprintf(r->method, sizeof r->method, "%s", method);
    snprintf(r->lg.version, sizeof r->lg.version, "%s", version ? version : "");
    return handle(r, c, method);
}

/* ---- lifecycle ---- */

static unsigned pool_size(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 2)
        n = 2;
    if (n > 8)
        n = 8;
    return (unsigned)n;
}

static ct_err listener_start(ct_edge *e, edge_listener *l, const char *listen, int secure)
{
    struct sockaddr_storage ss;
    unsigned sslen;
    if (ct_http_parse_listen(listen, &ss, &sslen)) {
        ct_error("edge: bad listen address '%s'", listen);
        return CT_ERR_INVALID;
    }
    l->e = e;
    l->secure = secure;
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG;
    if (secure)
        flags |= MHD_USE_TLS;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    uint16_t port = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                                  : ((struct sockaddr_in6 *)&ss)->sin6_port);
    struct MHD_OptionItem tls_opts[] = {
        {MHD_OPTION_HTTPS_MEM_KEY, 0, e->key_pem},
        {MHD_OPTION_HTTPS_MEM_CERT, 0, e->cert_pem},
        {MHD_OPTION_END, 0, NULL},
    };
    struct MHD_OptionItem no_opts[] = {{MHD_OPTION_END, 0, NULL}};
    l->d = MHD_start_daemon(
        flags, port, NULL, NULL, on_access, l, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_URI_LOG_CALLBACK, on_uri, l, MHD_OPTION_NOTIFY_COMPLETED, on_completed, l,
        MHD_OPTION_THREAD_POOL_SIZE, pool_size(), MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)EDGE_MAX_CONNECTIONS, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)EDGE_CONN_MEMORY, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)EDGE_IDLE_TIMEOUT_S,
        MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1, MHD_OPTION_ARRAY,
        secure ? tls_opts : no_opts, MHD_OPTION_END);
    if (!l->d) {
        ct_error("edge: cannot listen on %s (%s)", listen, secure ? "https" : "http");
        return CT_ERR_IO;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(l->d, MHD_DAEMON_INFO_BIND_PORT);
    l->port = di ? di->port : port;
    ct_info("edge: %s listening on %s (port %u)", secure ? "https" : "http", listen,
            (unsigned)l->port);
    return CT_OK;
}

static int is_ip_literal(const char *h)
{
    unsigned char buf[16];
    return inet_pton(AF_INET, h, buf) == 1 || inet_pton(AF_INET6, h, buf) == 1;
}

ct_err ct_edge_start(const ct_edge_config *cfg, ct_meta *meta, ct_store *store, ct_edge **out)
{
    if (!cfg || !cfg->https_listen || !meta || !store)
        return CT_ERR_INVALID;
    if (!MHD_is_feature_supported(MHD_FEATURE_TLS)) {
        ct_error("edge: libmicrohttpd was built without TLS");
        return CT_ERR_UNSUPPORTED;
    }
    ct_edge *e = calloc(1, sizeof *e);
    if (!e)
        return CT_ERR_NOMEM;
    pthread_rwlock_init(&e->lock, NULL);
    e->meta = meta;
    e->store = store;
    ct_err err = CT_ERR_NOMEM;
    e->account_id = strdup(cfg->account_id && *cfg->account_id ? cfg->account_id
                                                                : "000000000000");
    if (!e->account_id)
        goto fail;
    if (cfg->public_host && *cfg->public_host) {
        char ph[EDGE_HOST_MAX];
        int v6;
        if (edge_host_parse(cfg->public_host, ph, sizeof ph, &v6)) {
            ct_error("edge: bad public host '%s'", cfg->public_host);
            err = CT_ERR_INVALID;
            goto fail;
        }
        if (!(e->public_host = strdup(ph)))
            goto fail;
    }
    /* Distribution domains are "<id>.<suffix>"; an IP literal cannot carry a
     * subdomain, so it keeps the default suffix (routing falls back). The
     * default is cattube.localhost: every *.localhost name resolves to
     * loopback, and the generated certificate's *.cattube.localhost covers
     * it (OpenSSL refuses "*.localhost", one label after the '*'). */
    snprintf(e->suffix, sizeof e->suffix, "%s",
             e->public_host && !is_ip_literal(e->public_host) ? e->public_host
                                                              : "cattube.localhost");

    int generated;
    if ((err = edge_cert_load_or_create(cfg, &e->cert_pem, &e->key_pem, &generated)))
        goto fail;
    if (!(e->cache = edge_cache_new(EDGE_CACHE_BYTES))) {
        err = CT_ERR_NOMEM;
        goto fail;
    }
    if ((err = edge_log_open(e, cfg->data_dir)) || (err = edge_keys_reload(e)) ||
        (err = edge_dists_reload(e)))
        goto fail;
    if ((err = listener_start(e, &e->https, cfg->https_listen, 1)))
        goto fail;
    if (cfg->http_listen && *cfg->http_listen &&
        (err = listener_start(e, &e->http, cfg->http_listen, 0)))
        goto fail;
    *out = e;
    return CT_OK;
fail:
    ct_edge_stop(e);
    return err;
}

void ct_edge_stop(ct_edge *e)
{
    if (!e)
        return;
    if (e->http.d)
        MHD_stop_daemon(e->http.d);
    if (e->https.d)
        MHD_stop_daemon(e->https.d);
    free(e->dists);
    edge_log_close(e);
    edge_keys_free(e);
    edge_cache_free(e->cache);
    free(e->cert_pem);
    free(e->key_pem);
    free(e->account_id);
    free(e->public_host);
    pthread_rwlock_destroy(&e->lock);
    free(e);
}

uint16_t ct_edge_https_port(const ct_edge *e) { return e ? e->https.port : 0; }
uint16_t ct_edge_http_port(const ct_edge *e) { return e ? e->http.port : 0; }
