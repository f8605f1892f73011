/* SigV4 canonicalisation on the raw request target, the string to sign and
 * the signing key (parsing, verification and signing are in sigv4.c).
 *
 * Canonicalisation matches botocore (the aws CLI / boto3 signer):
 *   - S3: the path as sent, normalised to AWS's encoding (each %XX decoded,
 *     then re-encoded keeping RFC 3986 unreserved and '/'); no dot-segment
 *     removal, no double encoding.
 *   - other services: dot segments and empty segments removed from the raw
 *     path, then the raw path encoded again (so '%' becomes %25), exactly as
 *     botocore's quote(remove_dot_segments(path), safe='/~').
 *   - query: every parameter decoded ('+' stays '+') and re-encoded, sorted
 *     by encoded key then encoded value; "k" without '=' becomes "k=".
 *   - headers: values trimmed, whitespace runs collapsed to one space.
 * Built with appends, not printf: a linked library (libquadmath, via
 * libavfilter) registers printf specifiers, which sends every printf in
 * the process down glibc's slow positional path (it was ~7 % of a small
 * presigned GET). */
#include "iam/sigv4_internal.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void iam_msg(char *msg, size_t msglen, const char *fmt, ...)
{
    if (!msg || !msglen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, msglen, fmt, ap);
    va_end(ap);
}

/* ---- query string ---- */

void iam_qlist_free(qlist *q)
{
    for (size_t i = 0; i < q->n; i++) {
        free(q->p[i].key);
        if (q->p[i].same)
            continue;
        free(q->p[i].val);
        free(q->p[i].ekey);
        free(q->p[i].eval);
    }
    q->n = 0;
}

static ct_err encode_dup(const char *s, size_t n, char **out)
{
    ct_buf b = CT_BUF_INIT;
    ct_err e = ct_uri_encode(&b, s, n, 0);
    if (e) {
        ct_buf_free(&b);
        return e;
    }
    *out = ct_buf_take(&b);
    return *out ? CT_OK : CT_ERR_NOMEM;
}

static ct_err qparam_init(qparam *p, const char *s, size_t n)
{
    const char *eq = memchr(s, '=', n);
    size_t kl = eq ? (size_t)(eq - s) : n;
    const char *v = eq ? eq + 1 : "";
    size_t vl = eq ? n - kl - 1 : 0;
    if (ct_uri_all_unreserved(s, kl) && ct_uri_all_unreserved(v, vl)) {
        /* Most parameters: decoding and re-encoding give the same text,
         * so key and value share one allocation and serve as both. */
        if (!(p->key = malloc(kl + vl + 2)))
            return CT_ERR_NOMEM;
        memcpy(p->key, s, kl);
        p->key[kl] = '\0';
        p->val = p->key + kl + 1;
        memcpy(p->val, v, vl);
        p->val[vl] = '\0';
        p->ekey = p->key;
        p->eval = p->val;
        p->klen = kl;
        p->vlen = vl;
        p->same = 1;
        return CT_OK;
    }
    p->key = ct_uri_decode(s, kl, 0, &p->klen);
    p->val = eq ? ct_uri_decode(eq + 1, n - kl - 1, 0, &p->vlen) : ct_uri_decode("", 0, 0, &p->vlen);
    if (!p->key || !p->val)
        return CT_ERR_INVALID; /* malformed escape (or no memory) */
    ct_err e = encode_dup(p->key, p->klen, &p->ekey);
    if (!e)
        e = encode_dup(p->val, p->vlen, &p->eval);
    return e;
}

/* Splits the raw query on '&'; empty pieces are skipped. */
ct_err iam_qlist_parse(qlist *q, const char *query, size_t len)
{
    q->n = 0;
    size_t i = 0;
    while (i < len) {
        const char *amp = memchr(query + i, '&', len - i);
        size_t end = amp ? (size_t)(amp - query) : len;
        if (end > i) {
            if (q->n == MAX_QUERY_PARAMS)
                return CT_ERR_TOO_LARGE;
            memset(&q->p[q->n], 0, sizeof q->p[q->n]);
            ct_err e = qparam_init(&q->p[q->n++], query + i, end - i);
            if (e)
                return e;
        }
        i = end + 1;
    }
    return CT_OK;
}

/* Decoded value of the first parameter named key, NULL if absent or if it
 * holds a NUL byte. */
const char *iam_qlist_get(const qlist *q, const char *key, int *present)
{
    size_t kl = strlen(key);
    for (size_t i = 0; i < q->n; i++) {
        const qparam *p = &q->p[i];
        if (p->klen == kl && memcmp(p->key, key, kl) == 0) {
            if (present)
                *present = 1;
            return strlen(p->val) == p->vlen ? p->val : NULL;
        }
    }
    return NULL;
}

static int qparam_cmp(const void *a, const void *b)
{
    const qparam *x = *(const qparam *const *)a, *y = *(const qparam *const *)b;
    int c = strcmp(x->ekey, y->ekey);
    return c ? c : strcmp(x->eval, y->eval);
}

static ct_err canonical_query(ct_buf *b, const qlist *q, int presigned)
{
    const qparam *sorted[MAX_QUERY_PARAMS];
    size_t n = 0;
    for (size_t i = 0; i < q->n; i++) {
        if (presigned && strcmp(q->p[i].ekey, "X-Amz-Signature") == 0)
            continue;
        sorted[n++] = &q->p[i];
    }
    /* cppcheck-suppress uninitvar ; only the first n entries are sorted */
    qsort(sorted, n, sizeof sorted[0], qparam_cmp); /* NOLINT(bugprone-sizeof-expression): pointers */
    ct_err e = CT_OK;
    for (size_t i = 0; i < n && !e; i++) {
        if (i)
            e = ct_buf_append(b, "&", 1);
        if (!e)
            e = ct_buf_puts(b, sorted[i]->ekey);
        if (!e)
            e = ct_buf_append(b, "=", 1);
        if (!e)
            e = ct_buf_puts(b, sorted[i]->eval);
    }
    return e;
}

/* ---- path ---- */

/* botocore's remove_dot_segments: drops empty and "." segments, resolves "..",
 * keeps a trailing '/' when anything is left. path starts with '/'. */
static ct_err remove_dot_segments(ct_buf *out, const char *path, size_t len)
{
    ct_err e = ct_buf_append(out, "", 0);
    size_t i = 0;
    while (!e && i < len) {
        const char *sl = memchr(path + i, '/', len - i);
        size_t end = sl ? (size_t)(sl - path) : len, sl_len = end - i;
        const char *seg = path + i;
        if (sl_len == 2 && seg[0] == '.' && seg[1] == '.') {
            char *last = out->len ? memrchr(out->data, '/', out->len) : NULL;
            if (last) {
                out->len = (size_t)(last - out->data);
                out->data[out->len] = '\0';
            }
        } else if (sl_len && !(sl_len == 1 && seg[0] == '.')) {
            e = ct_buf_append(out, "/", 1);
            if (!e)
                e = ct_buf_append(out, seg, sl_len);
        }
        i = end + 1;
    }
    if (!e && out->len && path[len - 1] == '/')
        e = ct_buf_append(out, "/", 1);
    if (!e && !out->len)
        e = ct_buf_append(out, "/", 1);
    return e;
}

static ct_err canonical_uri(ct_buf *b, const char *path, size_t len, int s3)
{
    ct_err e;
    if (len == 0)
        return ct_buf_append(b, "/", 1);
    if (s3) {
        size_t dlen;
        char *dec = ct_uri_decode(path, len, 0, &dlen);
        if (!dec)
            return CT_ERR_INVALID;
        e = ct_uri_encode(b, dec, dlen, 1);
        free(dec);
        return e;
    }
    ct_buf norm = CT_BUF_INIT;
    e = remove_dot_segments(&norm, path, len);
    if (!e)
        e = ct_uri_encode(b, norm.data, norm.len, 1);
    ct_buf_free(&norm);
    return e;
}

/* ---- headers ---- */

static ct_err append_trimmed(ct_buf *b, const char *v)
{
    size_t n = strnlen(v, MAX_HEADER_VALUE + 1);
    if (n > MAX_HEADER_VALUE)
        return CT_ERR_TOO_LARGE;
    int pending_space = 0, any = 0;
    for (size_t i = 0; i < n; i++) {
        if (is_space((unsigned char)v[i])) {
            pending_space = any;
            continue;
        }
        if (pending_space) {
            ct_err e = ct_buf_append(b, " ", 1);
            if (e)
                return e;
        }
        ct_err e = ct_buf_append(b, &v[i], 1);
        if (e)
            return e;
        pending_space = 0;
        any = 1;
    }
    return CT_OK;
}

/* Valid signed-headers list: ';'-separated, non-empty lowercase tokens,
 * bounded count, includes host. */
int iam_signed_headers_ok(const char *sh, char *msg, size_t msglen)
{
    size_t count = 0, seglen = 0;
    int has_host = 0;
    const char *seg = sh;
    for (const char *p = sh;; p++) {
        if (*p == ';' || *p == '\0') {
            if (!seglen || ++count > MAX_SIGNED_HEADERS) {
                iam_msg(msg, msglen, "SignedHeaders is malformed or too long");
                return 0;
            }
            if (seglen == 4 && memcmp(seg, "host", 4) == 0)
                has_host = 1;
            if (*p == '\0')
                break;
            seg = p + 1;
            seglen = 0;
            continue;
        }
        unsigned char c = (unsigned char)*p;
        if (c <= ' ' || c >= 0x7f || c == ':' || (c >= 'A' && c <= 'Z')) {
            iam_msg(msg, msglen, "SignedHeaders contains an invalid header name");
            return 0;
        }
        seglen++;
    }
    if (!has_host)
        iam_msg(msg, msglen, "SignedHeaders must include host");
    return has_host;
}

static ct_err canonical_headers(ct_buf *b, const ct_sigv4_request *req, const char *signed_headers)
{
    char name[256];
    const char *p = signed_headers;
    while (*p) {
        size_t n = strcspn(p, ";");
        if (n == 0 || n >= sizeof name)
            return CT_ERR_INVALID;
        memcpy(name, p, n);
        name[n] = '\0';
        const char *v = req->header ? req->header(req->header_ctx, name) : NULL;
        ct_err e = ct_buf_append(b, name, n);
        if (!e)
            e = ct_buf_append(b, ":", 1);
        if (!e && v)
            e = append_trimmed(b, v);
        if (!e)
            e = ct_buf_append(b, "\n", 1);
        if (e)
            return e;
        p += n;
        if (*p == ';')
            p++;
    }
    return CT_OK;
}

/* ---- canonical request / string to sign ---- */

static int is_s3(const ct_sigv4_auth *a) { return strcmp(a->service, "s3") == 0; }

static const char *pick_payload(const ct_sigv4_auth *a, const char *payload_hash)
{
    if (a->presigned) {
        if (a->content_sha256[0])
            return a->content_sha256;
        if (!is_s3(a) && payload_hash && *payload_hash)
            return payload_hash;
        return "UNSIGNED-PAYLOAD";
    }
    if (payload_hash && *payload_hash)
        return payload_hash;
    return a->content_sha256[0] ? a->content_sha256 : EMPTY_SHA256;
}

int iam_split_target(const ct_sigv4_request *req, const char **path, size_t *plen,
                     const char **query, size_t *qlen)
{
    const char *t = req->raw_target ? req->raw_target : "";
    size_t tlen = strnlen(t, MAX_TARGET + 1);
    if (tlen > MAX_TARGET || (tlen && t[0] != '/'))
        return -1;
    const char *frag = memchr(t, '#', tlen);
    if (frag)
        tlen = (size_t)(frag - t);
    const char *qm = memchr(t, '?', tlen);
    *path = t;
    *plen = qm ? (size_t)(qm - t) : tlen;
    *query = qm ? qm + 1 : NULL;
    *qlen = qm ? tlen - *plen - 1 : 0;
    return 0;
}

ct_err iam_build_canonical(const ct_sigv4_request *req, const ct_sigv4_auth *a,
                           const char *payload_hash, ct_buf *cr, ct_buf *sts)
{
    const char *t, *qm;
    size_t plen, qlen;
    if (iam_split_target(req, &t, &plen, &qm, &qlen))
        return CT_ERR_INVALID;
    qlist *q = malloc(sizeof *q); /* 12 KiB: iam_qlist_parse fills only what it uses */
    if (!q)
        return CT_ERR_NOMEM;
    q->n = 0;
    cr->max = sts->max = MAX_CANONICAL;
    ct_err e = ct_buf_puts(cr, req->method ? req->method : "");
    if (!e)
        e = ct_buf_append(cr, "\n", 1);
    if (!e)
        e = canonical_uri(cr, t, plen, is_s3(a));
    if (!e)
        e = ct_buf_append(cr, "\n", 1);
    if (!e && qm)
        e = iam_qlist_parse(q, qm, qlen);
    if (!e)
        e = canonical_query(cr, q, a->presigned);
    if (!e)
        e = ct_buf_append(cr, "\n", 1);
    if (!e)
        e = canonical_headers(cr, req, a->signed_headers);
    const char *parts[] = {"\n", a->signed_headers, "\n", pick_payload(a, payload_hash)};
    for (size_t i = 0; i < 4 && !e; i++)
        e = ct_buf_puts(cr, parts[i]);
    if (!e) {
        char h[65];
        ct_sha256_hex(cr->data, cr->len, h);
        const char *sp[] = {SIGV4_ALGO, "\n", a->amz_date, "\n", a->date, "/", a->region, "/",
                            a->service, "/aws4_request\n", h};
        for (size_t i = 0; i < sizeof sp / sizeof sp[0] && !e; i++)
            e = ct_buf_puts(sts, sp[i]);
    }
    iam_qlist_free(q);
    free(q);
    return e == CT_ERR_TOO_LARGE ? CT_ERR_INVALID : e;
}

void ct_sigv4_signing_key(const char *secret, const char *date, const char *region,
                          const char *service, unsigned char key[32])
{
    char k0[256 + 5];
    size_t slen = strnlen(secret, sizeof k0 - 5);
    strcpy(k0, "AWS4");
    memcpy(k0 + 4, secret, slen);
    size_t klen = 4 + slen;
    unsigned char k1[32], k2[32], k3[32];
    ct_hmac_sha256(k0, klen, date, strlen(date), k1);
    ct_hmac_sha256(k1, 32, region, strlen(region), k2);
    ct_hmac_sha256(k2, 32, service, strlen(service), k3);
    ct_hmac_sha256(k3, 32, "aws4_request", 12, key);
    memset(k0, 0, sizeof k0);
    memset(k1, 0, sizeof k1);
    memset(k2, 0, sizeof k2);
    memset(k3, 0, sizeof k3);
}

/* The last signing key derived: a client signs every request of a day
 * with the same (secret, date, region, service), and deriving it is four
 * HMACs. Keyed by the secret itself, so a changed secret never matches. */
static struct {
    pthread_mutex_t mu;
    int valid;
    char secret[257], date[9], region[64], service[64];
    unsigned char key[32];
} key_cache = {.mu = PTHREAD_MUTEX_INITIALIZER};

static int fits(const char *s, size_t cap) { return strnlen(s, cap) < cap; }

static void signing_key_cached(const char *secret, const ct_sigv4_auth *a, unsigned char key[32])
{
    int cacheable = fits(secret, sizeof key_cache.secret) && fits(a->date, sizeof key_cache.date) &&
                    fits(a->region, sizeof key_cache.region) &&
                    fits(a->service, sizeof key_cache.service);
    if (cacheable) {
        pthread_mutex_lock(&key_cache.mu);
        int hit = key_cache.valid && strcmp(key_cache.secret, secret) == 0 &&
                  strcmp(key_cache.date, a->date) == 0 && strcmp(key_cache.region, a->region) == 0 &&
                  strcmp(key_cache.service, a->service) == 0;
        if (hit)
            memcpy(key, key_cache.key, 32);
        pthread_mutex_unlock(&key_cache.mu);
        if (hit)
            return;
    }
    ct_sigv4_signing_key(secret, a->date, a->region, a->service, key);
    if (!cacheable)
        return;
    pthread_mutex_lock(&key_cache.mu);
    strcpy(key_cache.secret, secret);
    strcpy(key_cache.date, a->date);
    strcpy(key_cache.region, a->region);
    strcpy(key_cache.service, a->service);
    memcpy(key_cache.key, key, 32);
    key_cache.valid = 1;
    pthread_mutex_unlock(&key_cache.mu);
}

ct_err iam_compute_signature(const ct_sigv4_request *req, const ct_sigv4_auth *a,
                             const char *secret, const char *payload_hash, char sig[65],
                             ct_buf *cr, ct_buf *sts)
{
    ct_err e = iam_build_canonical(req, a, payload_hash, cr, sts);
    if (e)
        return e;
    unsigned char key[32], mac[32];
    signing_key_cached(secret, a, key);
    ct_hmac_sha256(key, 32, sts->data, sts->len, mac);
    ct_hex(mac, 32, sig);
    memset(key, 0, sizeof key);
    return CT_OK;
}

int64_t iam_parse_amz_date(const char *s)
{
    if (strlen(s) != 16 || s[8] != 'T' || s[15] != 'Z')
        return -1;
    for (int i = 0; i < 15; i++)
        if (i != 8 && !is_digit((unsigned char)s[i]))
            return -1;
    int year = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
    int mon = (s[4] - '0') * 10 + (s[5] - '0');
    int mday = (s[6] - '0') * 10 + (s[7] - '0');
    int hour = (s[9] - '0') * 10 + (s[10] - '0');
    int min = (s[11] - '0') * 10 + (s[12] - '0');
    int sec = (s[13] - '0') * 10 + (s[14] - '0');
    if (mon < 1 || mon > 12 || mday < 1 || mday > 31 || hour > 23 || min > 59 || sec > 60)
        return -1;
    return ct_time_utc(year, mon, mday, hour, min, sec); /* timegm locked the time zone */
}

