/* http.c: libmicrohttpd glue for the API port.
 *
 * DESIGN: MHD's url argument is decoded (and '+' in queries becomes a space),
 * which breaks SigV4 and S3 keys, so the raw target is captured by the
 * URI-log callback, whose return value MHD stores as the request's state.
 * Authentication happens here, once, before any handler: header-signed
 * requests whose payload hash is declared (S3) are verified before the body
 * is read, so a bad signature is refused without reading the upload; other
 * requests (MediaConvert sends no x-amz-content-sha256) are verified against
 * the SHA-256 of the buffered body. The outcome is recorded in the request
 * for the protocol handler to turn into its own error shape. */
#include "http/http.h"

#include "http/http_internal.h"
#include "iam/iam.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- request state ---- */

http_state *http_state_new(const char *raw_target)
{
    http_state *st = calloc(1, sizeof *st);
    if (!st)
        return NULL;
    st->raw_target = strdup(raw_target ? raw_target : "/");
    if (!st->raw_target) {
        free(st);
        return NULL;
    }
    st->req.impl = st;
    return st;
}

static void *uri_log_cb(void *cls, const char *uri, struct MHD_Connection *con)
{
    return http_state_new(uri);
}

void http_state_free(http_state *st)
{
    for (int i = 0; i < st->n_headers; i++) {
        free(st->headers[i].name);
        free(st->headers[i].value);
    }
    free(st->raw_target);
    free(st->path);
    ct_buf_free(&st->body);
    ct_buf_free(&st->joined);
    free(st);
}

static void completed_cb(void *cls, struct MHD_Connection *con, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    ct_http_server *srv = cls;
    http_state *st = *con_cls;
    if (!st)
        return;
    if (st->stream_state && srv->h.stream_abort)
        srv->h.stream_abort(st->stream_state);
    http_state_free(st);
    *con_cls = NULL;
}

static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value)
{
    http_state *st = cls;
    if (st->n_headers >= HTTP_MAX_REQ_HEADERS) {
        st->too_many_headers = 1;
        return MHD_NO;
    }
    st->headers[st->n_headers].name = strdup(key);
    st->headers[st->n_headers].value = strdup(value ? value : "");
    st->n_headers++;
    return MHD_YES;
}

const char *ct_http_header(const ct_http_req *req, const char *name)
{
    http_state *st = req->impl;
    const char *first = NULL;
    int count = 0;
    for (int i = 0; i < st->n_headers; i++) {
        if (strcasecmp(st->headers[i].name, name) != 0)
            continue;
        if (!first)
            first = st->headers[i].value;
        count++;
    }
    if (count <= 1)
        return first;
    /* Several headers of one name: join with ',' as SigV4 and RFC 9110 do. */
    ct_buf_reset(&st->joined);
    for (int i = 0; i < st->n_headers; i++) {
        if (strcasecmp(st->headers[i].name, name) != 0)
            continue;
        if (st->joined.len)
            ct_buf_append(&st->joined, ",", 1);
        /* Trim each value before joining, as SigV4 signers do. */
        const char *v = st->headers[i].value;
        size_t n = strlen(v);
        while (n && (*v == ' ' || *v == '\t'))
            v++, n--;
        while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
            n--;
        ct_buf_append(&st->joined, v, n);
    }
    return st->joined.data;
}

void ct_http_each_header(const ct_http_req *req, ct_http_header_cb cb, void *ctx)
{
    http_state *st = req->impl;
    for (int i = 0; i < st->n_headers; i++)
        cb(ctx, st->headers[i].name, st->headers[i].value);
}

static const char *sigv4_header(void *ctx, const char *lower_name)
{
    return ct_http_header(ctx, lower_name);
}

/* Finds name in the raw query; returns pointer to the value (or to "" when
 * the parameter has no '='), and its length. */
static const char *query_find(const char *q, const char *name, size_t *vlen)
{
    size_t nlen = strlen(name);
    while (q && *q) {
        const char *amp = strchr(q, '&');
        size_t plen = amp ? (size_t)(amp - q) : strlen(q);
        const char *eq = memchr(q, '=', plen);
        size_t klen = eq ? (size_t)(eq - q) : plen;
        int match;
        if (!memchr(q, '%', klen)) { /* the usual case: nothing to decode */
            match = klen == nlen && memcmp(q, name, nlen) == 0;
        } else {
            size_t dlen = 0;
            char *k = ct_uri_decode(q, klen, 0, &dlen);
            match = k && dlen == nlen && memcmp(k, name, nlen) == 0;
            free(k);
        }
        if (match) {
            *vlen = eq ? plen - klen - 1 : 0;
            return eq ? eq + 1 : q + plen;
        }
        q = amp ? amp + 1 : NULL;
    }
    return NULL;
}

char *ct_http_query(const ct_http_req *req, const char *name)
{
    size_t vlen;
    const char *v = query_find(req->query, name, &vlen);
    if (!v)
        return NULL;
    /* Query strings are form-encoded by most clients: '+' is a space. */
    return ct_uri_decode(v, vlen, 1, NULL);
}

int ct_http_query_has(const ct_http_req *req, const char *name)
{
    size_t vlen;
    return query_find(req->query, name, &vlen) != NULL;
}

/* ---- responses ---- */

void ct_http_resp_init(ct_http_resp *r)
{
    memset(r, 0, sizeof *r);
    r->fd = -1;
    r->head_length = -1;
}

void ct_http_resp_free(ct_http_resp *r)
{
    ct_buf_free(&r->body);
    for (int i = 0; i < r->n_headers; i++) {
        free(r->headers[i].name);
        free(r->headers[i].value);
    }
    r->n_headers = 0;
    if (r->fd >= 0)
        close(r->fd);
    r->fd = -1;
    if (r->reader && r->reader_free)
        r->reader_free(r->reader_ctx);
    r->reader = NULL;
    r->reader_free = NULL;
    r->reader_ctx = NULL;
}

ct_err ct_http_resp_header(ct_http_resp *r, const char *name, const char *value)
{
    if (r->n_headers >= CT_HTTP_MAX_HEADERS)
        return CT_ERR_TOO_LARGE;
    /* CR/LF in a header value would split the response: refuse. */
    if (strpbrk(value, "\r\n") || strpbrk(name, "\r\n: "))
        return CT_ERR_INVALID;
    char *n = strdup(name), *v = strdup(value);
    if (!n || !v) {
        free(n);
        free(v);
        return CT_ERR_NOMEM;
    }
    r->headers[r->n_headers].name = n;
    r->headers[r->n_headers].value = v;
    r->n_headers++;
    return CT_OK;
}

void ct_http_resp_json(ct_http_resp *r, int status, char *json_text)
{
    r->status = status;
    ct_buf_reset(&r->body);
    if (json_text)
        ct_buf_puts(&r->body, json_text);
    free(json_text);
    ct_http_resp_header(r, "Content-Type", "application/json");
}

static ssize_t no_body_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    return MHD_CONTENT_READER_END_WITH_ERROR;
}

/* A streamed body (ct_http_resp.reader): the reader may report "nothing yet";
 * keep asking until it has bytes, ends, or the server stops. */
typedef struct {
    ct_http_server *srv;
    long (*reader)(void *ctx, char *buf, size_t max);
    void (*reader_free)(void *ctx);
    void *ctx;
} http_stream_body;

static ssize_t stream_body_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    http_stream_body *b = cls;
    (void)pos;
    while (!b->srv->stopping) {
        long n = b->reader(b->ctx, buf, max);
        if (n > 0)
            return (ssize_t)n;
        if (n < 0)
            break;
    }
    return MHD_CONTENT_READER_END_OF_STREAM;
}

static void stream_body_free(void *cls)
{
    http_stream_body *b = cls;
    if (b->reader_free)
        b->reader_free(b->ctx);
    free(b);
}

static struct MHD_Response *stream_response(ct_http_server *srv, ct_http_resp *r)
{
    http_stream_body *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    *b = (http_stream_body){srv, r->reader, r->reader_free, r->reader_ctx};
    struct MHD_Response *mr = MHD_create_response_from_callback(
        MHD_SIZE_UNKNOWN, 16 * 1024, stream_body_read, b, stream_body_free);
    if (!mr) {
        free(b);
        return NULL;
    }
    r->reader = NULL; /* owned by the MHD response now */
    return mr;
}

/* A small file body is read into memory: MHD then sends the header and the
 * body in one writev (one segment) instead of a send plus a sendfile. */
static struct MHD_Response *small_fd_response(ct_http_resp *r)
{
    size_t len = (size_t)r->fd_len;
    char *data = malloc(len ? len : 1);
    if (!data)
        return NULL;
    if (ct_pread_all(r->fd, data, len, r->fd_offset) != CT_OK) {
        free(data);
        return NULL; /* a file shorter than its row: the connection is closed */
    }
    struct MHD_Response *mr = MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
    if (!mr)
        free(data);
    return mr;
}

static enum MHD_Result queue_resp(ct_http_server *srv, struct MHD_Connection *con,
                                  http_state *st, ct_http_resp *r)
{
    struct MHD_Response *mr;
    if (r->reader && r->fd < 0) {
        mr = stream_response(srv, r);
    } else if (r->fd >= 0 && r->fd_len <= HTTP_SMALL_FD_BODY) {
        mr = small_fd_response(r);
    } else if (r->fd >= 0) {
        mr = MHD_create_response_from_fd_at_offset64(r->fd_len, r->fd, (uint64_t)r->fd_offset);
        if (mr)
            r->fd = -1; /* MHD closes it: header by send, body by sendfile. Corking
                         * the two together (nginx's tcp_nopush) was measured
                         * slower here: see docs/benchmarks.md, branch s3get. */
    } else if (r->head_length >= 0) {
        mr = MHD_create_response_from_callback((uint64_t)r->head_length, 4096, no_body_reader,
                                               NULL, NULL);
    } else {
        size_t len = r->body.len;
        char *data = ct_buf_take(&r->body);
        mr = MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
        if (!mr)
            free(data);
    }
    if (!mr) {
        ct_http_resp_free(r);
        return MHD_NO;
    }
    for (int i = 0; i < r->n_headers; i++)
        MHD_add_response_header(mr, r->headers[i].name, r->headers[i].value);
    MHD_add_response_header(mr, "x-amz-request-id", st->req.request_id);
    MHD_add_response_header(mr, "Server", "CatTube");
    enum MHD_Result ret = MHD_queue_response(con, (unsigned)(r->status ? r->status : 500), mr);
    MHD_destroy_response(mr);
    ct_http_resp_free(r);
    return ret;
}

/* ---- authentication ---- */

static int is_hex64(const char *s) { return strlen(s) == 64 && strspn(s, "0123456789abcdef") == 64; }

static void auth_prepare(ct_http_server *srv, http_state *st, ct_sigv4_request *sreq)
{
    ct_http_req *req = &st->req;
    sreq->method = req->method;
    sreq->raw_target = req->raw_target;
    sreq->header = sigv4_header;
    sreq->header_ctx = req;
}

/* snprintf(dst, n, "%s", src) without printf (see ipv4_text). */
static void copy_str(char *dst, size_t n, const char *src)
{
    size_t len = strnlen(src, n - 1);
    memcpy(dst, src, len);
    dst[len] = '\0';
}

/* Parses credentials and looks up the secret. Returns 1 when the request is
 * signed and verification can proceed, 0 when done (anonymous or failed). */
static int auth_lookup(ct_http_server *srv, http_state *st, ct_sigv4_auth *auth, char *secret,
                       size_t n)
{
    ct_http_req *req = &st->req;
    ct_sigv4_request sreq;
    auth_prepare(srv, st, &sreq);
    ct_err e = ct_sigv4_parse(&sreq, auth, req->auth_msg, sizeof req->auth_msg);
    const char *authz = ct_http_header(req, "Authorization");
    if (e == CT_ERR_NOT_FOUND &&
        ((authz && strncmp(authz, "AWS ", 4) == 0) || ct_http_query_has(req, "AWSAccessKeyId"))) {
        /* Signature Version 2: refuse clearly rather than treat as anonymous. */
        req->auth_err = CT_ERR_INVALID;
        snprintf(req->auth_msg, sizeof req->auth_msg,
                 "Signature Version 2 is not supported; sign requests with AWS4-HMAC-SHA256.");
        return 0;
    }
    if (e == CT_ERR_NOT_FOUND) {
        req->principal.anonymous = 1;
        req->auth_err = CT_OK;
        return 0;
    }
    if (e) {
        req->auth_err = e;
        return 0;
    }
    if (srv->h.secret(srv->h.ctx, auth->access_key, secret, n, &req->principal) != CT_OK) {
        req->auth_err = CT_ERR_DENIED;
        ct_debug("http: unknown access key '%s'", auth->access_key);
        snprintf(req->auth_msg, sizeof req->auth_msg,
                 "The AWS Access Key Id you provided does not exist in our records.");
        return 0;
    }
    copy_str(req->principal.service, sizeof req->principal.service, auth->service);
    copy_str(req->principal.region, sizeof req->principal.region, auth->region);
    copy_str(req->principal.access_key, sizeof req->principal.access_key, auth->access_key);
    return 1;
}

static void auth_verify(ct_http_server *srv, http_state *st, const ct_sigv4_auth *auth,
                        const char *secret, const char *payload_hash)
{
    ct_http_req *req = &st->req;
    ct_sigv4_request sreq;
    auth_prepare(srv, st, &sreq);
    req->auth_err = ct_sigv4_verify(&sreq, auth, secret, payload_hash, time(NULL), req->auth_msg,
                                    sizeof req->auth_msg);
    if (req->auth_err)
        return;
    memcpy(req->sig_seed, auth->signature, sizeof req->sig_seed);
    memcpy(req->sig_amz_date, auth->amz_date, sizeof req->sig_amz_date);
    ct_buf scope = CT_BUF_INIT;
    const char *parts[] = {auth->date, "/", auth->region, "/", auth->service, "/aws4_request"};
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
        ct_buf_puts(&scope, parts[i]);
    copy_str(req->sig_scope, sizeof req->sig_scope, scope.data ? scope.data : "");
    ct_buf_free(&scope);
    /* Only aws-chunked bodies (STREAMING-*) verify chunk signatures with
     * the key; deriving it is four HMACs, so other requests skip it. */
    if (strncmp(payload_hash, "STREAMING-", 10) == 0)
        ct_sigv4_signing_key(secret, auth->date, auth->region, auth->service, req->sig_key);
}

/* Verifies what can be verified before the body: requests that declare
 * their payload hash (S3) or are presigned. Sets st->auth_deferred when the
 * body's hash is needed. */
static void auth_early(ct_http_server *srv, http_state *st)
{
    ct_sigv4_auth auth;
    char secret[256];
    if (!auth_lookup(srv, st, &auth, secret, sizeof secret))
        return;
    const char *declared = ct_http_header(&st->req, "x-amz-content-sha256");
    if (auth.presigned) {
        auth_verify(srv, st, &auth, secret, declared ? declared : "UNSIGNED-PAYLOAD");
    } else if (declared) {
        auth_verify(srv, st, &auth, secret, declared);
        st->check_body_sha = is_hex64(declared);
    } else {
        st->auth_deferred = 1;
        st->deferred_auth = auth;
    }
    explicit_bzero(secret, sizeof secret);
}

static void auth_with_body(ct_http_server *srv, http_state *st)
{
    char hash[65], secret[256];
    ct_sha256_hex(st->body.data ? st->body.data : "", st->body.len, hash);
    if (st->check_body_sha) {
        const char *declared = ct_http_header(&st->req, "x-amz-content-sha256");
        if (declared && strcmp(declared, hash) != 0) {
            st->req.auth_err = CT_ERR_DIGEST;
            snprintf(st->req.auth_msg, sizeof st->req.auth_msg,
                     "The provided 'x-amz-content-sha256' header does not match what was computed.");
        }
        return;
    }
    if (!st->auth_deferred)
        return;
    ct_sigv4_auth auth;
    if (!auth_lookup(srv, st, &auth, secret, sizeof secret))
        return;
    auth_verify(srv, st, &auth, secret, hash);
    explicit_bzero(secret, sizeof secret);
}

/* ---- the access handler ---- */

/* inet_ntop without printf: a linked library (libquadmath, via libavfilter's
 * pocketsphinx) registers printf specifiers, which sends every printf in
 * the process down glibc's slow positional path. */
static void ipv4_text(const struct in_addr *a, char out[16])
{
    const unsigned char *b = (const unsigned char *)&a->s_addr;
    char *w = out;
    for (int i = 0; i < 4; i++) {
        unsigned v = b[i];
        if (v >= 100)
            *w++ = (char)('0' + v / 100);
        if (v >= 10)
            *w++ = (char)('0' + v / 10 % 10);
        *w++ = (char)('0' + v % 10);
        *w++ = i < 3 ? '.' : '\0';
    }
}

/* Request ids only need to be unique, not secret: a per-thread splitmix64
 * sequence seeded once from the CSPRNG (a RAND_bytes call per request was
 * 5 % of a 4 KiB GET's CPU). */
static void request_id(char out[17])
{
    static _Thread_local uint64_t state;
    static _Thread_local int seeded;
    if (!seeded) {
        char seed[17];
        ct_random_hex(seed, 16);
        state = strtoull(seed, NULL, 16);
        seeded = 1;
    }
    uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;
    static const char hex[] = "0123456789ABCDEF";
    for (int i = 15; i >= 0; i--, z >>= 4)
        out[i] = hex[z & 15];
    out[16] = '\0';
}

void http_client_ip(const struct sockaddr *sa, char *out, size_t n)
{
    out[0] = '\0';
    if (!sa || n < 16)
        return;
    if (sa->sa_family == AF_INET)
        ipv4_text(&((const struct sockaddr_in *)sa)->sin_addr, out);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out, (socklen_t)n);
}

void http_request_begin(ct_http_server *srv, http_state *st, const char *method)
{
    ct_http_req *req = &st->req;
    st->started = 1;
    req->method = method;
    req->raw_target = st->raw_target;
    char *q = strchr(st->raw_target, '?');
    st->path = q ? strndup(st->raw_target, (size_t)(q - st->raw_target)) : strdup(st->raw_target);
    req->path = st->path ? st->path : "/";
    req->query = q ? q + 1 : "";
    req->client_ip = st->client_ip;
    request_id(req->request_id);
    req->body = NULL;
    auth_early(srv, st);
    if (st->too_many_headers) {
        st->req.auth_err = CT_ERR_INVALID;
        snprintf(st->req.auth_msg, sizeof st->req.auth_msg, "too many request headers");
    }
}

void http_handle_buffered(ct_http_server *srv, http_state *st, ct_http_resp *resp)
{
    if (st->body_too_large) {
        st->req.auth_err = CT_ERR_TOO_LARGE;
        snprintf(st->req.auth_msg, sizeof st->req.auth_msg, "request body exceeds %zu bytes",
                 (size_t)CT_HTTP_MAX_BUFFERED);
    } else if (!st->req.auth_err) {
        auth_with_body(srv, st);
    }
    ct_buf_append(&st->body, "", 0);
    st->req.body = st->body.data;
    st->req.body_len = st->body.len;
    srv->h.handle(srv->h.ctx, &st->req, resp);
}

static enum MHD_Result first_call(ct_http_server *srv, struct MHD_Connection *con,
                                  http_state *st, const char *method)
{
    MHD_get_connection_values(con, MHD_HEADER_KIND, collect_header, st);
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(con, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    http_client_ip(ci ? ci->client_addr : NULL, st->client_ip, sizeof st->client_ip);
    http_request_begin(srv, st, method);
    /* Streaming needs the signature checked up front: a deferred (body-hash)
     * verification is only possible for buffered requests. */
    if (!st->auth_deferred && srv->h.wants_stream && srv->h.wants_stream(srv->h.ctx, &st->req)) {
        ct_http_resp resp;
        ct_http_resp_init(&resp);
        st->streaming = 1;
        st->stream_state = srv->h.stream_begin(srv->h.ctx, &st->req, &resp);
        if (resp.status) {
            if (st->stream_state && srv->h.stream_abort)
                srv->h.stream_abort(st->stream_state);
            st->stream_state = NULL;
            st->responded = 1;
            return queue_resp(srv, con, st, &resp);
        }
        ct_http_resp_free(&resp);
    }
    return MHD_YES;
}

static enum MHD_Result access_cb(void *cls, struct MHD_Connection *con, const char *url,
                                 const char *method, const char *version,
                                 const char *upload_data, size_t *upload_data_size,
                                 void **con_cls)
{
    ct_http_server *srv = cls;
    http_state *st = *con_cls;
    if (!st)
        return MHD_NO;
    if (!st->started)
        return first_call(srv, con, st, method);
    if (st->responded) {
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (st->streaming) {
            if (!st->stream_err && st->stream_state)
                st->stream_err = srv->h.stream_data(st->stream_state, upload_data,
                                                    *upload_data_size);
        } else if (!st->body_too_large) {
            st->body.max = CT_HTTP_MAX_BUFFERED;
            if (ct_buf_append(&st->body, upload_data, *upload_data_size) != CT_OK) {
                st->body_too_large = 1;
                ct_buf_free(&st->body);
            }
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    ct_http_resp resp;
    ct_http_resp_init(&resp);
    st->responded = 1;
    if (st->streaming) {
        void *state = st->stream_state;
        st->stream_state = NULL;
        st->req.stream_err = st->stream_err;
        srv->h.stream_end(state, &st->req, &resp);
    } else {
        http_handle_buffered(srv, st, &resp);
    }
    return queue_resp(srv, con, st, &resp);
}

/* ---- server lifecycle ---- */

ct_err ct_http_parse_listen(const char *listen, struct sockaddr_storage *ss, unsigned *len)
{
    char host[256];
    const char *colon = strrchr(listen, ':');
    if (!colon || colon == listen)
        return CT_ERR_INVALID;
    size_t hlen = (size_t)(colon - listen);
    if (listen[0] == '[' && hlen >= 2 && listen[hlen - 1] == ']') {
        listen++;
        hlen -= 2;
    }
    if (hlen >= sizeof host)
        return CT_ERR_INVALID;
    memcpy(host, listen, hlen);
    host[hlen] = '\0';
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port < 0 || port > 65535)
        return CT_ERR_INVALID;
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
    if (strcmp(host, "localhost") == 0)
        strcpy(host, "127.0.0.1");
    if (inet_pton(AF_INET, host[0] ? host : "0.0.0.0", &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        *len = sizeof *v4;
        return CT_OK;
    }
    if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        *len = sizeof *v6;
        return CT_OK;
    }
    return CT_ERR_INVALID;
}

/* The listening socket (non-blocking, close-on-exec, SO_REUSEADDR); -1
 * when the address cannot be bound. */
static int listen_socket(const struct sockaddr_storage *ss, unsigned sslen)
{
    int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (ss->ss_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (bind(fd, (const struct sockaddr *)ss, sslen) != 0 || listen(fd, 1024) != 0) {
        ct_warn("http: cannot listen: %s", strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

ct_err ct_http_server_start(const char *listen, const ct_http_handlers *h, ct_http_server **out)
{
    struct sockaddr_storage ss;
    unsigned sslen;
    if (ct_http_parse_listen(listen, &ss, &sslen))
        return CT_ERR_INVALID;
    int lfd = listen_socket(&ss, sslen);
    if (lfd < 0)
        return CT_ERR_IO;
    ct_http_server *srv = calloc(1, sizeof *srv);
    if (!srv) {
        close(lfd);
        return CT_ERR_NOMEM;
    }
    srv->h = *h;
    /* MHD gets no listening socket: http_front.c accepts, answers bodiless
     * GET/HEAD itself and hands the rest to MHD. There, a thread per
     * connection (handlers may block: fsync, streamed bodies), each waiting
     * in poll(), not select(): no FD_SETSIZE ceiling on the fd number. */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                     MHD_USE_POLL | MHD_USE_ERROR_LOG | MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ITC;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    srv->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, access_cb, srv, MHD_OPTION_URI_LOG_CALLBACK, uri_log_cb, srv,
        MHD_OPTION_NOTIFY_COMPLETED, completed_cb, srv, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)HTTP_CONN_MEMORY, MHD_OPTION_CONNECTION_LIMIT, (unsigned)1000,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)300, MHD_OPTION_END);
    if (!srv->daemon) {
        close(lfd);
        free(srv);
        return CT_ERR_IO;
    }
    ct_err e = http_front_start(srv, lfd, &srv->front);
    if (e) {
        MHD_stop_daemon(srv->daemon);
        free(srv);
        return e;
    }
    *out = srv;
    return CT_OK;
}

void ct_http_server_stop(ct_http_server *s)
{
    if (!s)
        return;
    http_front_stop(s->front); /* no new connections reach MHD from here on */
    s->stopping = 1; /* streamed bodies end, so connection threads can be joined */
    MHD_stop_daemon(s->daemon);
    free(s);
}
