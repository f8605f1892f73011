/* SigV4: parsing of Authorization headers and presigned query strings,
 * verification (clock skew, expiry, constant-time comparison) and client-side
 * signing. Canonicalisation lives in sigv4_canon.c. */
#include "iam/sigv4_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- parsing ---- */

static int copy_field(char *dst, size_t cap, const char *src, size_t n)
{
    if (n >= cap || memchr(src, '\0', n))
        return -1;
    memcpy(dst, src, n);
    dst[n] = '\0';
    return 0;
}

/* "AK/YYYYMMDD/region/service/aws4_request" */
static ct_err parse_credential(ct_sigv4_auth *a, const char *s, size_t n, char *msg, size_t msglen)
{
    const char *parts[5];
    size_t lens[5], k = 0, start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || s[i] == '/') {
            if (k == 5)
                goto bad;
            parts[k] = s + start;
            lens[k++] = i - start;
            start = i + 1;
        }
    }
    if (k != 5 || !lens[0] || lens[1] != 8 || !lens[2] || !lens[3] ||
        lens[4] != 12 || memcmp(parts[4], "aws4_request", 12) != 0)
        goto bad;
    for (size_t i = 0; i < 8; i++)
        if (!is_digit((unsigned char)parts[1][i]))
            goto bad;
    if (copy_field(a->access_key, sizeof a->access_key, parts[0], lens[0]) ||
        copy_field(a->date, sizeof a->date, parts[1], lens[1]) ||
        copy_field(a->region, sizeof a->region, parts[2], lens[2]) ||
        copy_field(a->service, sizeof a->service, parts[3], lens[3]))
        goto bad;
    return CT_OK;
bad:
    iam_msg(msg, msglen, "malformed Credential (want AK/YYYYMMDD/region/service/aws4_request)");
    return CT_ERR_INVALID;
}

static ct_err parse_signature(ct_sigv4_auth *a, const char *s, size_t n, char *msg, size_t msglen)
{
    if (n != 64)
        goto bad;
    for (size_t i = 0; i < 64; i++) {
        if (!is_hex((unsigned char)s[i]))
            goto bad;
        a->signature[i] = (char)lower((unsigned char)s[i]);
    }
    a->signature[64] = '\0';
    return CT_OK;
bad:
    iam_msg(msg, msglen, "malformed Signature (want 64 hex digits)");
    return CT_ERR_INVALID;
}

static ct_err parse_signed_headers(ct_sigv4_auth *a, const char *s, size_t n, char *msg,
                                   size_t msglen)
{
    if (copy_field(a->signed_headers, sizeof a->signed_headers, s, n)) {
        iam_msg(msg, msglen, "SignedHeaders too long");
        return CT_ERR_INVALID;
    }
    return iam_signed_headers_ok(a->signed_headers, msg, msglen) ? CT_OK : CT_ERR_INVALID;
}

/* One "Name=value" component of the Authorization header. */
static ct_err auth_component(ct_sigv4_auth *a, const char *s, size_t n, unsigned *seen, char *msg,
                             size_t msglen)
{
    static const char *const names[] = {"Credential=", "SignedHeaders=", "Signature="};
    for (unsigned i = 0; i < 3; i++) {
        size_t nl = strlen(names[i]);
        if (n < nl || memcmp(s, names[i], nl) != 0)
            continue;
        if (*seen & (1u << i))
            break;
        *seen |= 1u << i;
        if (i == 0)
            return parse_credential(a, s + nl, n - nl, msg, msglen);
        if (i == 1)
            return parse_signed_headers(a, s + nl, n - nl, msg, msglen);
        return parse_signature(a, s + nl, n - nl, msg, msglen);
    }
    iam_msg(msg, msglen, "malformed Authorization header component");
    return CT_ERR_INVALID;
}

static ct_err parse_auth_header(ct_sigv4_auth *a, const char *h, char *msg, size_t msglen)
{
    size_t len = strnlen(h, MAX_AUTH_HEADER + 1), al = strlen(SIGV4_ALGO);
    if (len > MAX_AUTH_HEADER) {
        iam_msg(msg, msglen, "Authorization header too long");
        return CT_ERR_INVALID;
    }
    if (len <= al || memcmp(h, SIGV4_ALGO, al) != 0 || !is_space((unsigned char)h[al])) {
        iam_msg(msg, msglen, "unsupported authorization type (only " SIGV4_ALGO ")");
        return CT_ERR_INVALID;
    }
    unsigned seen = 0;
    size_t i = al;
    while (i < len) {
        while (i < len && (is_space((unsigned char)h[i]) || h[i] == ','))
            i++;
        size_t start = i;
        while (i < len && h[i] != ',' && !is_space((unsigned char)h[i]))
            i++;
        if (i > start) {
            ct_err e = auth_component(a, h + start, i - start, &seen, msg, msglen);
            if (e)
                return e;
        }
    }
    if (seen != 7) {
        iam_msg(msg, msglen, "Authorization header needs Credential, SignedHeaders and Signature");
        return CT_ERR_INVALID;
    }
    return CT_OK;
}

static const char *hdr(const ct_sigv4_request *req, const char *name)
{
    return req->header ? req->header(req->header_ctx, name) : NULL;
}

/* x-amz-date, or the Date header (IMF-fixdate) converted. */
static ct_err header_date(const ct_sigv4_request *req, ct_sigv4_auth *a, char *msg, size_t msglen)
{
    const char *d = hdr(req, "x-amz-date");
    if (d) {
        if (iam_parse_amz_date(d) < 0)
            goto bad;
        memcpy(a->amz_date, d, 17);
        return CT_OK;
    }
    d = hdr(req, "date");
    int64_t t = d ? ct_time_parse_http(d) : -1;
    if (t < 0)
        goto bad;
    time_t tt = (time_t)t;
    struct tm tm;
    if (!gmtime_r(&tt, &tm) || strftime(a->amz_date, sizeof a->amz_date, "%Y%m%dT%H%M%SZ", &tm) != 16)
        goto bad;
    return CT_OK;
bad:
    iam_msg(msg, msglen, "missing or malformed x-amz-date / Date header");
    return CT_ERR_INVALID;
}

static ct_err parse_expires(ct_sigv4_auth *a, const char *s, char *msg, size_t msglen)
{
    long v = 0;
    size_t n = strlen(s);
    if (n == 0 || n > 7)
        goto bad;
    for (size_t i = 0; i < n; i++) {
        if (!is_digit((unsigned char)s[i]))
            goto bad;
        v = v * 10 + (s[i] - '0');
    }
    if (v < 1 || v > MAX_EXPIRES)
        goto bad;
    a->expires = v;
    return CT_OK;
bad:
    iam_msg(msg, msglen, "X-Amz-Expires must be between 1 and 604800 seconds");
    return CT_ERR_INVALID;
}

/* The presigned parameters of a query, decoded: the first occurrence of
 * each, NULL when absent or holding a NUL byte. The query is not parsed in
 * full here (decoded and re-encoded for sorting): the canonical request does
 * that once when the signature is verified. */
enum { PQ_ALG, PQ_CRED, PQ_DATE, PQ_EXP, PQ_SH, PQ_SIG, PQ_CSUM, PQ_N };
static const char *const pq_names[PQ_N] = {
    "X-Amz-Algorithm",     "X-Amz-Credential", "X-Amz-Date",          "X-Amz-Expires",
    "X-Amz-SignedHeaders", "X-Amz-Signature",  "X-Amz-Content-Sha256"};

typedef struct {
    char *v[PQ_N];
    int present[PQ_N];
} pquery;

static void pquery_free(pquery *pq)
{
    for (int i = 0; i < PQ_N; i++)
        free(pq->v[i]);
}

/* Same acceptance as ct_uri_decode: every '%' followed by two hex digits
 * (and not ending the piece). */
static int escapes_ok(const char *s, size_t n)
{
    for (const char *p = memchr(s, '%', n); p; p = memchr(p, '%', n - (size_t)(p - s))) {
        size_t i = (size_t)(p - s);
        if (i + 2 >= n || !is_hex((unsigned char)s[i + 1]) || !is_hex((unsigned char)s[i + 2]))
            return 0;
        p += 3;
        if ((size_t)(p - s) >= n)
            break;
    }
    return 1;
}

/* Which presigned parameter the raw key k names (decoded), or -1. */
static int pq_index(const char *k, size_t kl)
{
    if (kl < 10 || kl > 3 * 20 || (k[0] != 'X' && k[0] != '%'))
        return -1;
    char name[64];
    size_t n = 0;
    for (size_t i = 0; i < kl && n < sizeof name - 1; i++) {
        if (k[i] == '%') {
            int hi = (unsigned char)k[i + 1], lo = (unsigned char)k[i + 2];
            hi = is_digit(hi) ? hi - '0' : lower(hi) - 'a' + 10;
            lo = is_digit(lo) ? lo - '0' : lower(lo) - 'a' + 10;
            name[n++] = (char)(hi << 4 | lo);
            i += 2;
        } else {
            name[n++] = k[i];
        }
    }
    for (int i = 0; i < PQ_N; i++)
        if (strlen(pq_names[i]) == n && memcmp(pq_names[i], name, n) == 0)
            return i;
    return -1;
}

/* Checks every piece of the query (escapes, count) as the full parse would,
 * and decodes the presigned parameters. */
static ct_err pquery_scan(pquery *pq, const char *query, size_t len)
{
    size_t i = 0, count = 0;
    while (i < len) {
        const char *amp = memchr(query + i, '&', len - i);
        size_t end = amp ? (size_t)(amp - query) : len;
        if (end > i) {
            if (++count > MAX_QUERY_PARAMS)
                return CT_ERR_TOO_LARGE;
            const char *s = query + i;
            size_t n = end - i;
            const char *eq = memchr(s, '=', n);
            size_t kl = eq ? (size_t)(eq - s) : n;
            if (!escapes_ok(s, kl) || (eq && !escapes_ok(eq + 1, n - kl - 1)))
                return CT_ERR_INVALID;
            int k = pq_index(s, kl);
            if (k >= 0 && !pq->present[k]) {
                pq->present[k] = 1;
                size_t vl;
                char *v = eq ? ct_uri_decode(eq + 1, n - kl - 1, 0, &vl)
                             : ct_uri_decode("", 0, 0, &vl);
                if (!v)
                    return CT_ERR_NOMEM;
                if (strlen(v) != vl) {
                    free(v); /* a NUL byte: treated as absent, as before */
                    v = NULL;
                }
                pq->v[k] = v;
            }
        }
        i = end + 1;
    }
    return CT_OK;
}

static ct_err parse_presigned(const pquery *pq, ct_sigv4_auth *a, char *msg, size_t msglen)
{
    const char *alg = pq->v[PQ_ALG], *cred = pq->v[PQ_CRED], *date = pq->v[PQ_DATE];
    const char *exp = pq->v[PQ_EXP], *sh = pq->v[PQ_SH], *sig = pq->v[PQ_SIG];
    const char *csum = pq->v[PQ_CSUM];
    a->presigned = 1;
    if (!alg || !cred || !date || !exp || !sh || !sig) {
        iam_msg(msg, msglen, "presigned URL lacks one of the X-Amz-* parameters");
        return CT_ERR_INVALID;
    }
    if (strcmp(alg, SIGV4_ALGO) != 0) {
        iam_msg(msg, msglen, "unsupported X-Amz-Algorithm");
        return CT_ERR_INVALID;
    }
    ct_err e = parse_credential(a, cred, strlen(cred), msg, msglen);
    if (!e)
        e = parse_signed_headers(a, sh, strlen(sh), msg, msglen);
    if (!e)
        e = parse_signature(a, sig, strlen(sig), msg, msglen);
    if (!e)
        e = parse_expires(a, exp, msg, msglen);
    if (e)
        return e;
    if (iam_parse_amz_date(date) < 0) {
        iam_msg(msg, msglen, "malformed X-Amz-Date");
        return CT_ERR_INVALID;
    }
    memcpy(a->amz_date, date, 17);
    if (csum && copy_field(a->content_sha256, sizeof a->content_sha256, csum, strlen(csum))) {
        iam_msg(msg, msglen, "X-Amz-Content-Sha256 too long");
        return CT_ERR_INVALID;
    }
    return CT_OK;
}

static ct_err parse_query_of(const ct_sigv4_request *req, pquery *pq, int *has_presign)
{
    const char *t, *qm;
    size_t plen, qlen;
    if (iam_split_target(req, &t, &plen, &qm, &qlen) || (qm && pquery_scan(pq, qm, qlen)))
        return CT_ERR_INVALID;
    *has_presign = pq->present[PQ_ALG] || pq->present[PQ_CRED] || pq->present[PQ_SIG];
    return CT_OK;
}

ct_err ct_sigv4_parse(const ct_sigv4_request *req, ct_sigv4_auth *out, char *msg, size_t msglen)
{
    memset(out, 0, sizeof *out);
    iam_msg_clear(msg, msglen);
    int presign = 0;
    ct_err e;
    pquery pq = {0};
    const char *authz = hdr(req, "authorization");
    e = parse_query_of(req, &pq, &presign);
    if (e) {
        iam_msg(msg, msglen, "malformed request target or query string");
        goto cleanup;
    }
    if (authz && presign) {
        iam_msg(msg, msglen, "only one auth mechanism allowed");
        e = CT_ERR_INVALID;
        goto cleanup;
    }
    if (!authz && !presign) {
        e = CT_ERR_NOT_FOUND;
        goto cleanup;
    }
    if (presign) {
        e = parse_presigned(&pq, out, msg, msglen);
    } else {
        e = parse_auth_header(out, authz, msg, msglen);
        if (!e)
            e = header_date(req, out, msg, msglen);
    }
    if (e)
        goto cleanup;
    if (memcmp(out->amz_date, out->date, 8) != 0) {
        iam_msg(msg, msglen, "credential date does not match the request date");
        e = CT_ERR_INVALID;
        goto cleanup;
    }
    const char *cs = out->content_sha256[0] ? NULL : hdr(req, "x-amz-content-sha256");
    if (cs && copy_field(out->content_sha256, sizeof out->content_sha256, cs, strlen(cs))) {
        iam_msg(msg, msglen, "x-amz-content-sha256 too long");
        e = CT_ERR_INVALID;
    }
cleanup:
    pquery_free(&pq);
    return e;
}

/* ---- verification ---- */

static ct_err check_time(const ct_sigv4_auth *a, time_t now, char *msg, size_t msglen)
{
    int64_t t = iam_parse_amz_date(a->amz_date);
    if (t < 0) {
        iam_msg(msg, msglen, "malformed request date");
        return CT_ERR_INVALID;
    }
    int64_t skew = t - (int64_t)now;
    if (!a->presigned) {
        if (skew > MAX_SKEW_SECONDS || skew < -MAX_SKEW_SECONDS) {
            iam_msg(msg, msglen, "request time too skewed from server time");
            return CT_ERR_SKEW;
        }
        return CT_OK;
    }
    if (a->expires < 1 || a->expires > MAX_EXPIRES) {
        iam_msg(msg, msglen, "X-Amz-Expires must be between 1 and 604800 seconds");
        return CT_ERR_INVALID;
    }
    if (skew > MAX_SKEW_SECONDS) {
        iam_msg(msg, msglen, "request is not yet valid");
        return CT_ERR_SKEW;
    }
    if ((int64_t)now > t + a->expires) {
        iam_msg(msg, msglen, "request has expired");
        return CT_ERR_EXPIRED;
    }
    return CT_OK;
}

ct_err ct_sigv4_explain(const ct_sigv4_request *req, const ct_sigv4_auth *auth,
                        const char *payload_hash, char **canonical_request, char **string_to_sign)
{
    ct_buf cr = CT_BUF_INIT, sts = CT_BUF_INIT;
    *canonical_request = *string_to_sign = NULL;
    ct_err e = iam_build_canonical(req, auth, payload_hash, &cr, &sts);
    if (!e) {
        *canonical_request = ct_buf_take(&cr);
        *string_to_sign = ct_buf_take(&sts);
    }
    ct_buf_free(&cr);
    ct_buf_free(&sts);
    return e;
}

ct_err ct_sigv4_verify(const ct_sigv4_request *req, const ct_sigv4_auth *auth, const char *secret,
                       const char *payload_hash, time_t now, char *msg, size_t msglen)
{
    ct_buf cr = CT_BUF_INIT, sts = CT_BUF_INIT;
    char sig[65];
    iam_msg_clear(msg, msglen);
    ct_err e = check_time(auth, now, msg, msglen);
    if (e)
        return e;
    if (!iam_signed_headers_ok(auth->signed_headers, msg, msglen))
        return CT_ERR_INVALID;
    e = iam_compute_signature(req, auth, secret, payload_hash, sig, &cr, &sts);
    if (e) {
        iam_msg(msg, msglen, "cannot canonicalise the request (malformed target or headers)");
        goto cleanup;
    }
    if (ct_consttime_cmp(sig, auth->signature) != 0) {
        iam_msg(msg, msglen, "CanonicalRequest:\n%s\n\nStringToSign:\n%s", cr.data, sts.data);
        e = CT_ERR_AUTH;
    }
cleanup:
    memset(sig, 0, sizeof sig);
    ct_buf_free(&cr);
    ct_buf_free(&sts);
    return e;
}

/* ---- signing ---- */

static ct_err fill_auth(ct_sigv4_auth *a, const char *access_key, const char *region,
                        const char *service, const char *amz_date, const char *signed_headers)
{
    memset(a, 0, sizeof *a);
    if (iam_parse_amz_date(amz_date) < 0 || !iam_signed_headers_ok(signed_headers, NULL, 0) ||
        ct_snprintf(a->access_key, sizeof a->access_key, "%s", access_key) ||
        ct_snprintf(a->region, sizeof a->region, "%s", region) ||
        ct_snprintf(a->service, sizeof a->service, "%s", service) ||
        ct_snprintf(a->signed_headers, sizeof a->signed_headers, "%s", signed_headers))
        return CT_ERR_INVALID;
    memcpy(a->amz_date, amz_date, 17);
    memcpy(a->date, amz_date, 8);
    return CT_OK;
}

ct_err ct_sigv4_sign(const ct_sigv4_request *req, const char *access_key, const char *secret,
                     const char *region, const char *service, const char *amz_date,
                     const char *signed_headers, const char *payload_hash, char *out,
                     size_t outlen)
{
    ct_sigv4_auth a;
    ct_buf cr = CT_BUF_INIT, sts = CT_BUF_INIT;
    char sig[65];
    ct_err e = fill_auth(&a, access_key, region, service, amz_date, signed_headers);
    if (!e)
        e = iam_compute_signature(req, &a, secret, payload_hash, sig, &cr, &sts);
    if (!e)
        e = ct_snprintf(out, outlen,
                        SIGV4_ALGO " Credential=%s/%s/%s/%s/aws4_request, SignedHeaders=%s, "
                                   "Signature=%s",
                        a.access_key, a.date, a.region, a.service, a.signed_headers, sig);
    ct_buf_free(&cr);
    ct_buf_free(&sts);
    return e;
}

ct_err ct_sigv4_presign(const ct_sigv4_request *req, const char *access_key, const char *secret,
                        const char *region, const char *service, const char *amz_date,
                        long expires, const char *signed_headers, const char *payload_hash,
                        char **out_target)
{
    ct_sigv4_auth a;
    ct_buf t = CT_BUF_INIT, cred = CT_BUF_INIT, cr = CT_BUF_INIT, sts = CT_BUF_INIT;
    char sig[65];
    *out_target = NULL;
    const char *base = req->raw_target ? req->raw_target : "/";
    ct_err e = fill_auth(&a, access_key, region, service, amz_date, signed_headers);
    if (!e && (expires < 1 || expires > MAX_EXPIRES))
        e = CT_ERR_INVALID;
    if (e)
        goto cleanup;
    a.presigned = 1;
    a.expires = expires;
    const char *qm = strchr(base, '?');
    const char *sep = !qm ? "?" : (qm[1] ? "&" : "");
    e = ct_buf_printf(&cred, "%s/%s/%s/%s/aws4_request", a.access_key, a.date, a.region, a.service);
    if (!e)
        e = ct_buf_printf(&t, "%s%sX-Amz-Algorithm=" SIGV4_ALGO "&X-Amz-Credential=", base, sep);
    if (!e)
        e = ct_uri_encode(&t, cred.data, cred.len, 0);
    if (!e)
        e = ct_buf_printf(&t, "&X-Amz-Date=%s&X-Amz-Expires=%ld&X-Amz-SignedHeaders=", amz_date,
                          expires);
    if (!e)
        e = ct_uri_encode(&t, signed_headers, strlen(signed_headers), 0);
    if (e)
        goto cleanup;
    ct_sigv4_request r2 = *req;
    r2.raw_target = t.data;
    e = iam_compute_signature(&r2, &a, secret, payload_hash, sig, &cr, &sts);
    if (!e)
        e = ct_buf_printf(&t, "&X-Amz-Signature=%s", sig);
    if (!e)
        *out_target = ct_buf_take(&t);
cleanup:
    ct_buf_free(&t);
    ct_buf_free(&cred);
    ct_buf_free(&cr);
    ct_buf_free(&sts);
    return e;
}
