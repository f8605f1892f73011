/* client.c: one signed HTTP request over libcurl. */
#include "client/client_internal.h"

#include "core/xml.h"
#include "iam/iam.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define ERR_BODY_MAX ((size_t)64 << 10)
#define MAX_SIGNED 24

ct_err ct_client_global_init(void)
{
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? CT_OK : CT_ERR_INTERNAL;
}

void ct_client_global_cleanup(void) { curl_global_cleanup(); }

static char *dup_or_null(const char *s) { return s && *s ? strdup(s) : NULL; }

/* Counts the certificates in pem; -1 when a CERTIFICATE block does not parse
 * (other PEM blocks, a key say, are skipped as libcurl skips them). */
static int count_certs(const char *pem, size_t n)
{
    int count = 0;
    BIO *b = BIO_new_mem_buf(pem, (int)n);
    X509 *x;
    ERR_clear_error();
    while (b && (x = PEM_read_bio_X509(b, NULL, NULL, NULL))) {
        X509_free(x);
        count++;
    }
    /* the loop ends on "no start line" at the end, or on a bad block */
    unsigned long e = ERR_peek_last_error();
    if (ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE)
        e = 0;
    ERR_clear_error();
    BIO_free(b);
    return b && !e ? count : -1;
}

ct_err ct_client_ca_file_check(const char *path, char *why, size_t whylen)
{
    char *pem = NULL;
    size_t n = 0;
    ct_err err = ct_read_file(path, 16u << 20, &pem, &n);
    int certs = err ? 0 : count_certs(pem ? pem : "", n);
    const char *bad = err == CT_ERR_NOT_FOUND ? "no such file"
                      : err                  ? "cannot be read"
                      : certs < 0            ? "a certificate in it does not parse"
                      : certs == 0 ? "no PEM certificate (-----BEGIN CERTIFICATE-----) in it"
                                   : NULL;
    free(pem);
    if (bad)
        snprintf(why, whylen, "%s", bad);
    return !bad ? CT_OK : err ? err : CT_ERR_INVALID;
}

ct_err ct_client_open(const ct_client_config *cfg, ct_client **out)
{
    ct_client *c = calloc(1, sizeof *c);
    if (!c)
        return CT_ERR_NOMEM;
    c->cfg = *cfg;
    c->endpoint = dup_or_null(cfg->endpoint);
    c->access_key = dup_or_null(cfg->access_key);
    c->secret_key = dup_or_null(cfg->secret_key);
    c->session_token = dup_or_null(cfg->session_token);
    c->ca_file = dup_or_null(cfg->ca_file);
    c->region = strdup(cfg->region && *cfg->region ? cfg->region : "us-east-1");
    c->service = strdup(cfg->service && *cfg->service ? cfg->service : "s3");
    c->curl = curl_easy_init();
    if (!c->curl || !c->region || !c->service || (cfg->endpoint && !c->endpoint) ||
        (cfg->ca_file && !c->ca_file)) {
        ct_client_close(c);
        return CT_ERR_NOMEM;
    }
    /* the config keeps only the owned copies */
    c->cfg.endpoint = c->endpoint;
    c->cfg.access_key = c->access_key;
    c->cfg.secret_key = c->secret_key;
    c->cfg.session_token = c->session_token;
    c->cfg.region = c->region;
    c->cfg.service = c->service;
    c->cfg.ca_file = c->ca_file;
    if (c->endpoint) {
        size_t n = strlen(c->endpoint);
        while (n && c->endpoint[n - 1] == '/')
            c->endpoint[--n] = '\0';
    }
    *out = c;
    return CT_OK;
}

void ct_client_close(ct_client *c)
{
    if (!c)
        return;
    if (c->curl)
        curl_easy_cleanup(c->curl);
    free(c->endpoint);
    free(c->access_key);
    free(c->secret_key);
    free(c->session_token);
    free(c->region);
    free(c->service);
    free(c->ca_file);
    free(c);
}

/* ---- signing ---- */

typedef struct {
    char name[64];
    const char *value;
} hdr;

typedef struct {
    hdr h[MAX_SIGNED];
    int n;
} hdr_set;

static const char *hdr_lookup(void *ctx, const char *lower_name)
{
    hdr_set *s = ctx;
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->h[i].name, lower_name) == 0)
            return s->h[i].value;
    return NULL;
}

static int hdr_cmp(const void *a, const void *b)
{
    return strcmp(((const hdr *)a)->name, ((const hdr *)b)->name);
}

static ct_err hdr_add(hdr_set *s, const char *name, size_t nlen, const char *value)
{
    if (s->n >= MAX_SIGNED || nlen >= sizeof s->h[0].name)
        return CT_ERR_TOO_LARGE;
    hdr *h = &s->h[s->n++];
    for (size_t i = 0; i < nlen; i++)
        h->name[i] = (char)tolower((unsigned char)name[i]);
    h->name[nlen] = '\0';
    h->value = value;
    return CT_OK;
}

/* SHA-256 hex of the request's body (memory or a file slice). */
static ct_err body_sha256(const ct_client_req *r, char out[65])
{
    if (!r->body_path) {
        ct_sha256_hex(r->body ? r->body : "", r->body ? r->body_len : 0, out);
        return CT_OK;
    }
    int fd = open(r->body_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return CT_ERR_IO;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    char *buf = malloc(1 << 20);
    ct_err e = md && buf && EVP_DigestInit_ex(md, EVP_sha256(), NULL) ? CT_OK : CT_ERR_NOMEM;
    uint64_t left = r->body_size, off = r->body_offset;
    int to_eof = r->body_size == 0;
    while (!e && (to_eof || left > 0)) {
        size_t want = to_eof || left > (1 << 20) ? (1 << 20) : (size_t)left;
        ssize_t got = pread(fd, buf, want, (off_t)off);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0 || (got == 0 && !to_eof))
            e = CT_ERR_IO;
        if (got <= 0)
            break;
        EVP_DigestUpdate(md, buf, (size_t)got);
        off += (uint64_t)got;
        left -= to_eof ? 0 : (uint64_t)got;
    }
    unsigned char dig[32];
    unsigned int dlen = 0;
    if (!e && EVP_DigestFinal_ex(md, dig, &dlen) != 1)
        e = CT_ERR_INTERNAL;
    if (!e)
        ct_hex(dig, 32, out);
    EVP_MD_CTX_free(md);
    free(buf);
    close(fd);
    return e;
}

/* Splits url into the Host value and the request target. */
static ct_err split_url(const char *url, char *host, size_t hn, const char **target)
{
    const char *p = strstr(url, "://");
    if (!p)
        return CT_ERR_INVALID;
    p += 3;
    size_t n = strcspn(p, "/?#");
    if (n == 0 || n >= hn || memchr(p, '@', n))
        return CT_ERR_INVALID;
    memcpy(host, p, n);
    host[n] = '\0';
    *target = p + n;
    return CT_OK;
}

static ct_err slist_add(struct curl_slist **l, const char *line)
{
    struct curl_slist *n = curl_slist_append(*l, line);
    if (!n)
        return CT_ERR_NOMEM;
    *l = n;
    return CT_OK;
}

/* The x-amz-content-sha256 value of the request. */
static ct_err payload_hash(const ct_client_req *r, char out[80])
{
    if (r->unsigned_payload)
        snprintf(out, 80, "UNSIGNED-PAYLOAD");
    else if (!r->body && !r->body_path)
        snprintf(out, 80, "%s", EMPTY_SHA256);
    else
        return body_sha256(r, out);
    return CT_OK;
}

/* The caller's headers: x-amz-* ones join the signed set, others go to l. */
static ct_err caller_headers(const ct_client_req *r, hdr_set *set, struct curl_slist **l)
{
    ct_err e = CT_OK;
    for (const char *const *h = r->headers; !e && h && *h; h++) {
        const char *colon = strchr(*h, ':');
        if (!colon)
            continue;
        const char *v = colon + 1;
        while (*v == ' ')
            v++;
        if (strncasecmp(*h, "x-amz-", 6) == 0)
            e = hdr_add(set, *h, (size_t)(colon - *h), v);
        else
            e = slist_add(l, *h);
    }
    return e;
}

/* Appends the signed headers (sorted) and Authorization to l. */
static ct_err sign_headers(ct_client *c, const ct_client_req *r, const char *target,
                           hdr_set *set, const char *amz_date, const char *sha,
                           struct curl_slist **l)
{
    char auth[1024];
    ct_buf names = CT_BUF_INIT, line = CT_BUF_INIT;
    ct_err e = CT_OK;
    qsort(set->h, (size_t)set->n, sizeof set->h[0], hdr_cmp);
    for (int i = 0; !e && i < set->n; i++) {
        e = ct_buf_printf(&names, "%s%s", i ? ";" : "", set->h[i].name);
        ct_buf_reset(&line);
        if (!e)
            e = ct_buf_printf(&line, "%s: %s", set->h[i].name, set->h[i].value);
        if (!e)
            e = slist_add(l, line.data);
    }
    if (!e && c->access_key && c->secret_key) {
        ct_sigv4_request sr = {r->method, target, hdr_lookup, set};
        e = ct_sigv4_sign(&sr, c->access_key, c->secret_key, c->region, c->service, amz_date,
                          names.data, sha, auth, sizeof auth);
        ct_buf_reset(&line);
        if (!e)
            e = ct_buf_printf(&line, "Authorization: %s", auth);
        if (!e)
            e = slist_add(l, line.data);
    }
    ct_buf_free(&names);
    ct_buf_free(&line);
    return e;
}

/* The curl header list: the caller's, Host, x-amz-*, Authorization. */
static ct_err build_headers(ct_client *c, const ct_client_req *r, struct curl_slist **out)
{
    char host[512], amz_date[20], sha[80];
    const char *target;
    hdr_set set = {.n = 0};
    struct curl_slist *l = NULL;
    ct_buf t = CT_BUF_INIT;
    ct_err e = split_url(r->url, host, sizeof host, &target);
    if (!e)
        e = payload_hash(r, sha);
    if (e)
        return e;
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(amz_date, sizeof amz_date, "%Y%m%dT%H%M%SZ", &tm);
    e = ct_buf_puts(&t, *target && *target != '?' ? target : "/");
    if (!e && *target == '?')
        e = ct_buf_puts(&t, target);
    if (!e)
        e = hdr_add(&set, "host", 4, host);
    if (!e)
        e = hdr_add(&set, "x-amz-date", 10, amz_date);
    if (!e)
        e = hdr_add(&set, "x-amz-content-sha256", 20, sha);
    if (!e && c->session_token)
        e = hdr_add(&set, "x-amz-security-token", 20, c->session_token);
    if (!e)
        e = caller_headers(r, &set, &l);
    if (!e)
        e = sign_headers(c, r, t.data, &set, amz_date, sha, &l);
    ct_buf_free(&t);
    if (e) {
        curl_slist_free_all(l);
        return e;
    }
    *out = l;
    return CT_OK;
}

/* ---- curl callbacks ---- */

typedef struct {
    const ct_client_req *req;
    ct_client_resp *resp;
    CURL *curl;
    /* request body */
    int in_fd;
    uint64_t in_pos, in_left;
    /* response body */
    int out_fd;
    ct_buf err_body;
    ct_err write_err;
    const ct_client_config *cfg;
    char vetoed[64]; /* the last address connect_check refused, "" = none */
} xfer;

static size_t read_cb(char *p, size_t size, size_t n, void *ctx)
{
    xfer *x = ctx;
    size_t want = size * n;
    if (want > x->in_left)
        want = (size_t)x->in_left;
    if (want == 0)
        return 0;
    if (x->in_fd < 0) {
        memcpy(p, (const char *)x->req->body + x->in_pos, want);
    } else {
        ssize_t got;
        do
            got = pread(x->in_fd, p, want, (off_t)x->in_pos);
        while (got < 0 && errno == EINTR);
        if (got <= 0)
            return CURL_READFUNC_ABORT;
        want = (size_t)got;
    }
    x->in_pos += want;
    x->in_left -= want;
    return want;
}

static int seek_cb(void *ctx, curl_off_t off, int origin)
{
    xfer *x = ctx;
    const ct_client_req *r = x->req;
    uint64_t total = r->body_path ? x->in_left + (x->in_pos - r->body_offset) : r->body_len;
    uint64_t base = r->body_path ? r->body_offset : 0;
    if (origin != SEEK_SET || off < 0 || (uint64_t)off > total)
        return CURL_SEEKFUNC_CANTSEEK;
    x->in_pos = base + (uint64_t)off;
    x->in_left = total - (uint64_t)off;
    return CURL_SEEKFUNC_OK;
}

static int status_ok(long s) { return (s >= 200 && s < 300) || s == 304; }

static size_t write_cb(char *p, size_t size, size_t n, void *ctx)
{
    xfer *x = ctx;
    size_t len = size * n;
    long status = 0;
    curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &status);
    const ct_client_req *r = x->req;
    ct_err e = CT_OK;
    if (!status_ok(status)) {
        if (x->err_body.len + len <= ERR_BODY_MAX)
            ct_buf_append(&x->err_body, p, len);
    } else if (r->resp_body) {
        e = ct_buf_append(r->resp_body, p, len);
    } else if (x->out_fd >= 0) {
        e = ct_write_all(x->out_fd, p, len);
    } else if (r->sink && r->sink(r->sink_ctx, p, len)) {
        e = CT_ERR_CANCELED;
    }
    if (e) {
        x->write_err = e;
        return 0;
    }
    return len;
}

static void copy_value(char *dst, size_t n, const char *v, size_t len)
{
    while (len && (v[len - 1] == '\r' || v[len - 1] == '\n' || v[len - 1] == ' '))
        len--;
    if (len >= n)
        len = n - 1;
    memcpy(dst, v, len);
    dst[len] = '\0';
}

static size_t header_cb(char *p, size_t size, size_t n, void *ctx)
{
    xfer *x = ctx;
    ct_client_resp *resp = x->resp;
    size_t len = size * n;
    static const struct {
        const char *name;
        size_t off, cap;
    } known[] = {
        {"etag", offsetof(ct_client_resp, etag), sizeof resp->etag},
        {"content-type", offsetof(ct_client_resp, content_type), sizeof resp->content_type},
        {"last-modified", offsetof(ct_client_resp, last_modified), sizeof resp->last_modified},
        {"cache-control", offsetof(ct_client_resp, cache_control), sizeof resp->cache_control},
        {"content-range", offsetof(ct_client_resp, content_range), sizeof resp->content_range},
    };
    if (len >= 5 && strncmp(p, "HTTP/", 5) == 0) { /* a new response (after a 1xx) */
        memset(resp, 0, sizeof *resp);
        resp->content_length = -1;
        return len;
    }
    const char *colon = memchr(p, ':', len);
    if (!colon)
        return len;
    size_t nl = (size_t)(colon - p);
    const char *v = colon + 1;
    while (v < p + len && *v == ' ')
        v++;
    size_t vl = (size_t)(p + len - v);
    for (size_t i = 0; i < CT_ARRAY_LEN(known); i++)
        if (strlen(known[i].name) == nl && strncasecmp(p, known[i].name, nl) == 0)
            copy_value((char *)resp + known[i].off, known[i].cap, v, vl);
    if (nl == 14 && strncasecmp(p, "content-length", nl) == 0)
        resp->content_length = strtoll(v, NULL, 10);
    return len;
}

static int xferinfo_cb(void *ctx, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    xfer *x = ctx;
    return x->req->tick && x->req->tick(x->req->tick_ctx) ? 1 : 0;
}

/* ---- errors ---- */

/* Code and Message of an S3 XML or a JSON error body. */
static void parse_error_body(ct_client_resp *resp, const ct_buf *b)
{
    if (!b->len)
        return;
    if (b->data[0] == '<') {
        ct_xml_node *root = NULL;
        char msg[64];
        if (ct_xml_parse(b->data, b->len, &root, msg, sizeof msg) == CT_OK) {
            const char *code = ct_xml_child_text(root, "Code");
            const char *m = ct_xml_child_text(root, "Message");
            if (code)
                snprintf(resp->err_code, sizeof resp->err_code, "%s", code);
            if (m)
                snprintf(resp->err_message, sizeof resp->err_message, "%s", m);
        }
        ct_xml_free(root);
        return;
    }
    json_t *j = json_loadb(b->data, b->len, 0, NULL);
    const char *code = json_string_value(json_object_get(j, "__type"));
    if (!code)
        code = json_string_value(json_object_get(j, "code"));
    const char *m = json_string_value(json_object_get(j, "message"));
    if (!m)
        m = json_string_value(json_object_get(j, "Message"));
    if (code)
        snprintf(resp->err_code, sizeof resp->err_code, "%s", code);
    if (m)
        snprintf(resp->err_message, sizeof resp->err_message, "%s", m);
    else if (!j)
        copy_value(resp->err_message, sizeof resp->err_message, b->data, b->len);
    json_decref(j);
}

static ct_err status_err(ct_client_resp *resp)
{
    static const struct {
        const char *code;
        ct_err e;
    } by_code[] = {
        {"SignatureDoesNotMatch", CT_ERR_AUTH}, {"InvalidAccessKeyId", CT_ERR_AUTH},
        {"RequestTimeTooSkewed", CT_ERR_SKEW},  {"ExpiredToken", CT_ERR_EXPIRED},
        {"SlowDown", CT_ERR_IO},
    };
    static const struct {
        long status;
        const char *code;
        ct_err e;
    } by_status[] = {
        {400, "BadRequest", CT_ERR_INVALID},   {403, "Forbidden", CT_ERR_DENIED},
        {404, "NotFound", CT_ERR_NOT_FOUND},   {409, "Conflict", CT_ERR_CONFLICT},
        {412, "PreconditionFailed", CT_ERR_PRECONDITION},
        {416, "InvalidRange", CT_ERR_INVALID}, {413, "EntityTooLarge", CT_ERR_TOO_LARGE},
    };
    long s = resp->status;
    resp->retryable = s == 429 || s >= 500;
    for (size_t i = 0; i < CT_ARRAY_LEN(by_code); i++)
        if (strcmp(resp->err_code, by_code[i].code) == 0)
            return by_code[i].e;
    for (size_t i = 0; i < CT_ARRAY_LEN(by_status); i++) {
        if (by_status[i].status != s)
            continue;
        if (!resp->err_code[0])
            snprintf(resp->err_code, sizeof resp->err_code, "%s", by_status[i].code);
        return by_status[i].e;
    }
    if (!resp->err_code[0])
        snprintf(resp->err_code, sizeof resp->err_code, "HTTP%ld", s);
    return resp->retryable ? CT_ERR_IO : CT_ERR_INTERNAL;
}

/* ---- the request ---- */

static void set_body(CURL *h, const ct_client_req *r, xfer *x, uint64_t len)
{
    x->in_pos = r->body_path ? r->body_offset : 0;
    x->in_left = len;
    curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(h, CURLOPT_READFUNCTION, read_cb);
    curl_easy_setopt(h, CURLOPT_READDATA, x);
    curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, seek_cb);
    curl_easy_setopt(h, CURLOPT_SEEKDATA, x);
}

/* Opens the body file and works out the body length. */
static ct_err open_body(const ct_client_req *r, xfer *x, uint64_t *len)
{
    *len = r->body ? r->body_len : 0;
    if (!r->body_path)
        return CT_OK;
    x->in_fd = open(r->body_path, O_RDONLY | O_CLOEXEC);
    if (x->in_fd < 0)
        return CT_ERR_IO;
    off_t end = lseek(x->in_fd, 0, SEEK_END);
    if (end < 0 || (uint64_t)end < r->body_offset + r->body_size)
        return CT_ERR_IO;
    *len = r->body_size ? r->body_size : (uint64_t)end - r->body_offset;
    return CT_OK;
}

/* CURLOPT_OPENSOCKETFUNCTION: the socket for an address connect_check allows. */
static curl_socket_t opensocket_cb(void *ctx, curlsocktype purpose, struct curl_sockaddr *a)
{
    xfer *x = ctx;
    if (purpose == CURLSOCKTYPE_IPCXN &&
        !x->cfg->connect_check(x->cfg->connect_check_ctx, x->req->url, &a->addr)) {
        char ip[48] = "?";
        unsigned port = 0;
        if (a->family == AF_INET) {
            const struct sockaddr_in *s4 = (const void *)&a->addr;
            inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof ip);
            port = ntohs(s4->sin_port);
        } else if (a->family == AF_INET6) {
            const struct sockaddr_in6 *s6 = (const void *)&a->addr;
            inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof ip);
            port = ntohs(s6->sin6_port);
        }
        snprintf(x->vetoed, sizeof x->vetoed, "%s port %u", ip, port);
        return CURL_SOCKET_BAD;
    }
    return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

static void setup(ct_client *c, const ct_client_req *r, xfer *x, struct curl_slist *hl)
{
    CURL *h = c->curl;
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, r->url);
    /* S3 keys are opaque: "a/../b" is a key, never the path "/b" (libcurl
     * would squash the dot segments and let an edge escape its OriginPath). */
    curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT,
                     c->cfg.connect_timeout_s > 0 ? c->cfg.connect_timeout_s : 10L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME,
                     c->cfg.low_speed_timeout_s > 0 ? c->cfg.low_speed_timeout_s : 60L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, xferinfo_cb);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, x);
    if (c->cfg.connect_check) {
        curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, opensocket_cb);
        curl_easy_setopt(h, CURLOPT_OPENSOCKETDATA, x);
    }
    if (c->cfg.no_verify_tls) {
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    } else if (c->cfg.ca_file) {
        curl_easy_setopt(h, CURLOPT_CAINFO, c->cfg.ca_file);
    }
    c->curl_err[0] = '\0';
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->curl_err);
    if (strcmp(r->method, "HEAD") == 0)
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    else if (strcmp(r->method, "GET") != 0 && strcmp(r->method, "PUT") != 0)
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, r->method);
}

static ct_err perform(ct_client *c, const ct_client_req *r, xfer *x)
{
    ct_client_resp *resp = x->resp;
    CURLcode cc = curl_easy_perform(c->curl);
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &resp->status);
    if (x->write_err)
        return x->write_err;
    if (cc == CURLE_ABORTED_BY_CALLBACK)
        return CT_ERR_CANCELED;
    /* A server may answer an upload early (403) and close: report its answer. */
    if (cc != CURLE_OK && resp->status < 400) {
        snprintf(resp->err_code, sizeof resp->err_code, "NetworkError");
        if (x->vetoed[0])
            snprintf(resp->err_message, sizeof resp->err_message,
                     "%s: connecting to %s refused (an address not allowed)", r->url, x->vetoed);
        else
            snprintf(resp->err_message, sizeof resp->err_message, "%s: %s", r->url,
                     c->curl_err[0] ? c->curl_err : curl_easy_strerror(cc));
        resp->retryable = 1;
        resp->status = 0;
        return CT_ERR_IO;
    }
    if (status_ok(resp->status))
        return CT_OK;
    parse_error_body(resp, &x->err_body);
    return status_err(resp);
}

ct_err ct_client_request(ct_client *c, const ct_client_req *r, ct_client_resp *resp)
{
    memset(resp, 0, sizeof *resp);
    resp->content_length = -1;
    xfer x = {.req = r, .resp = resp, .curl = c->curl, .in_fd = -1, .out_fd = -1,
              .cfg = &c->cfg};
    struct curl_slist *hl = NULL;
    uint64_t len = 0;
    ct_err e = open_body(r, &x, &len);
    if (!e)
        e = build_headers(c, r, &hl);
    if (!e && r->resp_path) {
        x.out_fd = open(r->resp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (x.out_fd < 0)
            e = errno == ENOSPC ? CT_ERR_NOSPC : CT_ERR_IO;
    }
    if (e) {
        snprintf(resp->err_message, sizeof resp->err_message, "%s: cannot prepare request (%s)",
                 r->url, ct_err_str(e));
        goto cleanup;
    }
    setup(c, r, &x, hl);
    if (r->body || r->body_path || strcmp(r->method, "PUT") == 0 ||
        strcmp(r->method, "POST") == 0)
        set_body(c->curl, r, &x, len);
    e = perform(c, r, &x);
cleanup:
    if (x.out_fd >= 0)
        close(x.out_fd);
    if (x.in_fd >= 0)
        close(x.in_fd);
    curl_slist_free_all(hl);
    ct_buf_free(&x.err_body);
    return e;
}
