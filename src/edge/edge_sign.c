/* edge_sign.c: CloudFront signed URLs and signed cookies -- the pure part
 * (parameters, policy, wildcard and CIDR matching, canned-policy text). The
 * RSA/ECDSA check against the distribution's trusted key groups is in
 * edge_keys.c. No I/O; fuzzed by fuzz/fuzz_signed_url.c.
 *
 * Canned policy: Expires + Signature + Key-Pair-Id; the signed text is
 * {"Statement":[{"Resource":"<URL>","Condition":{"DateLessThan":
 * {"AWS:EpochTime":<Expires>}}}]} rebuilt from the request URL without the
 * signing parameters. Custom policy: Policy (URL-safe base64 JSON) +
 * Signature + Key-Pair-Id; the signed text is the decoded policy. Signatures
 * are RSA-SHA1, or RSA-SHA256 with Hash-Algorithm=SHA256. */
#include "edge/edge_internal.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VALUE_MAX 8192 /* raw parameter value; base64 of EDGE_POLICY_MAX fits */

enum { P_EXPIRES, P_POLICY, P_SIGNATURE, P_KEY_PAIR_ID, P_HASH, P_COUNT };
static const char *const param_names[P_COUNT] = {"Expires", "Policy", "Signature",
                                                  "Key-Pair-Id", "Hash-Algorithm"};

void edge_signed_free(edge_signed *s)
{
    if (!s)
        return;
    free(s->policy);
    s->policy = NULL;
}

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '~')
        return 63;
    return -1;
}

long edge_b64url_decode(const char *in, size_t n, unsigned char *out, size_t cap)
{
    while (n && (in[n - 1] == '=' || in[n - 1] == '_')) /* padding, either alphabet */
        n--;
    if (n % 4 == 1)
        return -1;
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64_value((unsigned char)in[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o >= cap)
                return -1;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    return (long)o;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decoding into out (cap); -1 on a bad escape, NUL or overflow. */
static long pct_decode(const char *in, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = in[i];
        if (c == '%') {
            int a = i + 2 < n ? hexval(in[i + 1]) : -1;
            int b = i + 2 < n ? hexval(in[i + 2]) : -1;
            if (a < 0 || b < 0 || a * 16 + b == 0)
                return -1;
            c = (char)(a * 16 + b);
            i += 2;
        }
        if (o + 1 >= cap)
            return -1;
        out[o++] = c;
    }
    out[o] = '\0';
    return (long)o;
}

static int parse_epoch(const char *v, int64_t *out)
{
    int64_t t = 0;
    size_t n = strlen(v);
    if (n == 0 || n > 12)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return -1;
        t = t * 10 + (v[i] - '0');
    }
    *out = t;
    return 0;
}

static void set_param(edge_signed *s, int which, const char *raw, size_t n)
{
    char *v = malloc(VALUE_MAX);
    long len = v ? pct_decode(raw, n, v, VALUE_MAX) : -1;
    s->present = 1;
    if (len < 0) {
        s->bad = "A signing parameter is malformed";
        goto cleanup;
    }
    switch (which) {
    case P_EXPIRES:
        s->has_expires = 1;
        if (parse_epoch(v, &s->expires))
            s->bad = "Expires is not a valid epoch time";
        break;
    case P_POLICY: {
        free(s->policy);
        s->policy = malloc(EDGE_POLICY_MAX + 1);
        long pl = s->policy ? edge_b64url_decode(v, (size_t)len, (unsigned char *)s->policy,
                                                 EDGE_POLICY_MAX)
                            : -1;
        if (pl < 0 || memchr(s->policy, '\0', (size_t)pl)) {
            s->bad = "The policy is not valid base64";
            pl = 0;
        }
        if (s->policy)
            s->policy[pl] = '\0';
        s->policy_len = (size_t)pl;
        break;
    }
    case P_SIGNATURE: {
        long sl = edge_b64url_decode(v, (size_t)len, s->sig, sizeof s->sig);
        if (sl <= 0)
            s->bad = "The signature is not valid base64";
        s->sig_len = sl > 0 ? (size_t)sl : 0;
        break;
    }
    case P_KEY_PAIR_ID:
        if (len == 0 || (size_t)len > EDGE_KEY_ID_MAX ||
            strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") !=
                (size_t)len)
            s->bad = "Key-Pair-Id is malformed";
        else
            memcpy(s->key_pair_id, v, (size_t)len + 1);
        break;
    default: /* P_HASH */
        if (strcmp(v, "SHA256") == 0)
            s->sha256 = 1;
        else if (strcmp(v, "SHA1") != 0)
            s->bad = "Hash-Algorithm must be SHA1 or SHA256";
        break;
    }
cleanup:
    free(v);
}

static void finish(edge_signed *s, unsigned seen)
{
    if (!s->present || s->bad)
        return;
    if (!(seen & (1u << P_KEY_PAIR_ID)))
        s->bad = "Missing Key-Pair-Id query parameter or cookie value";
    else if (!(seen & (1u << P_SIGNATURE)))
        s->bad = "Missing Signature query parameter or cookie value";
    else if (!s->policy && !s->has_expires)
        s->bad = "Missing Expires or Policy query parameter or cookie value";
    else if (s->policy && s->has_expires)
        s->bad = "Both Expires and Policy were given";
}

int edge_signed_from_query(const char *query, edge_signed *s, char *rest, size_t rest_n)
{
    size_t o = 0;
    unsigned seen = 0;
    if (rest_n == 0)
        return -1;
    rest[0] = '\0';
    for (const char *p = query ? query : ""; *p;) {
        size_t n = strcspn(p, "&");
        size_t nl = strcspn(p, "=");
        if (nl > n)
            nl = n;
        int which = -1;
        for (int i = 0; i < P_COUNT; i++)
            if (strlen(param_names[i]) == nl && memcmp(p, param_names[i], nl) == 0)
                which = i;
        if (which >= 0) {
            if (seen & (1u << which))
                s->bad = "A signing parameter appears twice";
            seen |= 1u << which;
            if (!s->bad)
                set_param(s, which, p + nl + (nl < n), n - nl - (nl < n));
            s->present = 1;
        } else if (n) {
            if (o + n + 2 > rest_n)
                return -1;
            if (o)
                rest[o++] = '&';
            memcpy(rest + o, p, n);
            o += n;
            rest[o] = '\0';
        }
        p += n;
        if (*p == '&')
            p++;
    }
    finish(s, seen);
    return 0;
}

void edge_signed_from_cookies(const char *policy, const char *sig, const char *kpid,
                              const char *expires, const char *hash, edge_signed *s)
{
    const char *vals[P_COUNT] = {expires, policy, sig, kpid, hash};
    unsigned seen = 0;
    for (int i = 0; i < P_COUNT && !s->bad; i++)
        if (vals[i]) {
            seen |= 1u << i;
            set_param(s, i, vals[i], strlen(vals[i]));
        }
    finish(s, seen);
}

/* ---- policy ---- */

static int epoch_of(json_t *cond, const char *name, int64_t *out)
{
    json_t *o = json_object_get(cond, name);
    if (!json_is_object(o) || json_object_size(o) != 1)
        return -1;
    json_t *t = json_object_get(o, "AWS:EpochTime");
    if (!json_is_integer(t) || json_integer_value(t) < 0)
        return -1;
    *out = json_integer_value(t);
    return 0;
}

static int parse_cidr(const char *s, edge_policy *p)
{
    char ip[64];
    const char *slash = strchr(s, '/');
    size_t n = slash ? (size_t)(slash - s) : strlen(s);
    if (n == 0 || n >= sizeof ip)
        return -1;
    memcpy(ip, s, n);
    ip[n] = '\0';
    if (inet_pton(AF_INET, ip, p->net) == 1)
        p->family = 4;
    else if (inet_pton(AF_INET6, ip, p->net) == 1)
        p->family = 6;
    else
        return -1;
    int max = p->family == 4 ? 32 : 128;
    p->prefix = max;
    if (slash) {
        const char *d = slash + 1;
        if (!*d || strlen(d) > 3 || strspn(d, "0123456789") != strlen(d))
            return -1;
        p->prefix = atoi(d);
        if (p->prefix > max)
            return -1;
    }
    p->has_ip = 1;
    return 0;
}

static int parse_condition(json_t *cond, edge_policy *p)
{
    const char *k;
    json_t *v;
    if (!json_is_object(cond))
        return -1;
    json_object_foreach(cond, k, v)
    {
        if (strcmp(k, "DateLessThan") != 0 && strcmp(k, "DateGreaterThan") != 0 &&
            strcmp(k, "IpAddress") != 0)
            return -1;
    }
    if (epoch_of(cond, "DateLessThan", &p->less_than))
        return -1;
    if (json_object_get(cond, "DateGreaterThan")) {
        if (epoch_of(cond, "DateGreaterThan", &p->greater_than))
            return -1;
        p->has_greater = 1;
    }
    json_t *ip = json_object_get(cond, "IpAddress");
    if (ip) {
        json_t *src = json_object_get(ip, "AWS:SourceIp");
        if (!json_is_object(ip) || json_object_size(ip) != 1 || !json_is_string(src) ||
            parse_cidr(json_string_value(src), p))
            return -1;
    }
    return 0;
}

int edge_policy_parse(const char *json, size_t len, edge_policy *p)
{
    memset(p, 0, sizeof *p);
    int rc = -1;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, NULL);
    json_t *stmts = json_object_get(root, "Statement");
    if (!json_is_object(root) || json_object_size(root) != 1 || !json_is_array(stmts) ||
        json_array_size(stmts) != 1)
        goto cleanup;
    json_t *st = json_array_get(stmts, 0);
    json_t *res = json_object_get(st, "Resource");
    json_t *cond = json_object_get(st, "Condition");
    if (!json_is_object(st) || json_object_size(st) != 1u + (res != NULL) || !cond)
        goto cleanup;
    if (res && (!json_is_string(res) || json_string_length(res) >= sizeof p->resource ||
                strlen(json_string_value(res)) != json_string_length(res)))
        goto cleanup;
    snprintf(p->resource, sizeof p->resource, "%s", res ? json_string_value(res) : "*");
    rc = parse_condition(cond, p);
cleanup:
    json_decref(root);
    return rc;
}

int edge_glob_match(const char *pat, const char *s)
{
    const char *star = NULL, *resume = NULL;
    while (*s) {
        if (*pat == '*') {
            star = pat++;
            resume = s;
        } else if (*pat && (*pat == '?' || *pat == *s)) {
            pat++;
            s++;
        } else if (star) {
            pat = star + 1;
            s = ++resume;
        } else {
            return 0;
        }
    }
    while (*pat == '*')
        pat++;
    return *pat == '\0';
}

int edge_cidr_match(const edge_policy *p, const char *client_ip)
{
    unsigned char a[16];
    const unsigned char *addr = a;
    int fam;
    if (!p->has_ip)
        return 1;
    if (!client_ip)
        return 0;
    if (inet_pton(AF_INET, client_ip, a) == 1) {
        fam = 4;
    } else if (inet_pton(AF_INET6, client_ip, a) == 1) {
        static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        fam = 6;
        if (memcmp(a, mapped, sizeof mapped) == 0) { /* ::ffff:a.b.c.d is IPv4 */
            fam = 4;
            addr = a + 12;
        }
    } else {
        return 0;
    }
    if (fam != p->family)
        return 0;
    int full = p->prefix / 8, rem = p->prefix % 8;
    if (memcmp(addr, p->net, (size_t)full) != 0)
        return 0;
    if (rem) {
        unsigned char mask = (unsigned char)(0xff << (8 - rem));
        if ((addr[full] & mask) != (p->net[full] & mask))
            return 0;
    }
    return 1;
}

int edge_policy_check(const edge_policy *p, const char *resource_url, const char *client_ip,
                      int64_t now, const char **why)
{
    if (!edge_glob_match(p->resource, resource_url))
        *why = "Access denied: the policy does not cover this resource";
    else if (now >= p->less_than)
        *why = "Access denied: the signed URL has expired";
    else if (p->has_greater && now < p->greater_than)
        *why = "Access denied: the signed URL is not valid yet";
    else if (!edge_cidr_match(p, client_ip))
        *why = "Access denied: the policy does not allow this IP address";
    else
        return 0;
    return -1;
}

int edge_signed_url(char *out, size_t cap, int secure, const char *host, size_t host_len,
                    const char *path, size_t path_len, const char *rest)
{
    size_t rl = rest ? strlen(rest) : 0, sl = secure ? 8 : 7;
    size_t need = sl + host_len + path_len + (rl ? rl + 1 : 0);
    if (need >= cap)
        return -1;
    memcpy(out, secure ? "https://" : "http://", sl);
    memcpy(out + sl, host, host_len);
    memcpy(out + sl + host_len, path, path_len);
    if (rl) {
        out[sl + host_len + path_len] = '?';
        memcpy(out + sl + host_len + path_len + 1, rest, rl);
    }
    out[need] = '\0';
    return (int)need;
}

int edge_signed_evaluate(const edge_signed *s, const char *resource_url, const char *client_ip,
                         int64_t now, char *buf, size_t n, const char **signed_text,
                         size_t *signed_len, edge_policy *p, const char **why)
{
    if (s->bad) {
        *why = s->bad;
        return -1;
    }
    if (!s->present) {
        *why = "Missing Key-Pair-Id query parameter or cookie value";
        return -1;
    }
    if (!s->policy) { /* canned */
        *why = "Access denied";
        if (strpbrk(resource_url, "\"\\"))
            return -1;
        int len = snprintf(buf, n,
                           "{\"Statement\":[{\"Resource\":\"%s\",\"Condition\":{\"DateLessThan\":"
                           "{\"AWS:EpochTime\":%lld}}}]}",
                           resource_url, (long long)s->expires);
        if (len < 0 || (size_t)len >= n)
            return -1;
        if (now >= s->expires) {
            *why = "Access denied: the signed URL has expired";
            return -1;
        }
        *signed_text = buf;
        *signed_len = (size_t)len;
        return 0;
    }
    if (edge_policy_parse(s->policy, s->policy_len, p)) {
        *why = "Malformed Policy";
        return -1;
    }
    if (edge_policy_check(p, resource_url, client_ip, now, why))
        return -1;
    *signed_text = s->policy;
    *signed_len = s->policy_len;
    return 0;
}

int edge_signed_conditions(const edge_signed *s, const char *resource_url, const char *client_ip,
                           int64_t now, char *buf, size_t n, const char **signed_text,
                           size_t *signed_len, const char **why)
{
    edge_policy p;
    return edge_signed_evaluate(s, resource_url, client_ip, now, buf, n, signed_text, signed_len,
                                &p, why);
}
