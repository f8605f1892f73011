/* libFuzzer target: CloudFront signed URL / signed cookie parsing
 * (edge_sign.c): query parameters, URL-safe base64, custom policy JSON,
 * wildcard and CIDR matching, the canned-policy text.
 *
 * Input layout: lines. Line 1 is the query string, line 2 a resource URL,
 * line 3 a client IP, the rest a policy JSON (also fed base64-encoded as
 * the CloudFront-Policy cookie). Invariants abort. */
#include "core/core.h"
#include "edge/edge_internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *next_line(char **p)
{
    char *s = *p, *nl = strchr(s, '\n');
    if (nl) {
        *nl = '\0';
        *p = nl + 1;
    } else {
        *p = s + strlen(s);
    }
    return s;
}

static void check_conditions(const edge_signed *s, const char *url, const char *ip)
{
    char canned[EDGE_RESOURCE_MAX + 160];
    const char *text = NULL, *why = NULL;
    size_t len = 0;
    if (edge_signed_conditions(s, url, ip, 1700000000, canned, sizeof canned, &text, &len,
                               &why) == 0) {
        if (!text || s->bad || !s->present || (!s->policy && len >= sizeof canned))
            abort();
    } else if (!why) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 16384)
        return 0;
    char *buf = malloc(size + 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    char *p = buf;
    char *query = next_line(&p), *url = next_line(&p), *ip = next_line(&p), *policy = p;

    edge_signed s;
    memset(&s, 0, sizeof s);
    char rest[EDGE_RESOURCE_MAX];
    if (edge_signed_from_query(query, &s, rest, sizeof rest) == 0) {
        if (strlen(rest) >= sizeof rest || strlen(rest) > strlen(query))
            abort();
        if (s.sig_len > EDGE_SIG_MAX || (s.policy && s.policy_len > EDGE_POLICY_MAX))
            abort();
        check_conditions(&s, url, ip);
    }
    edge_signed_free(&s);

    edge_policy pol;
    if (edge_policy_parse(policy, strlen(policy), &pol) == 0) {
        if (strlen(pol.resource) >= sizeof pol.resource)
            abort();
        if (pol.has_ip && (pol.prefix < 0 || pol.prefix > (pol.family == 4 ? 32 : 128)))
            abort();
        (void)edge_cidr_match(&pol, ip);
    }
    if (strlen(url) < 512 && strlen(ip) < 512)
        (void)edge_glob_match(url, ip); /* the URL line as a pattern */

    char *b64 = ct_b64_encode((const unsigned char *)policy, strlen(policy));
    memset(&s, 0, sizeof s);
    edge_signed_from_cookies(b64, ip, "K2AB", NULL, "SHA256", &s);
    check_conditions(&s, url, ip);
    edge_signed_free(&s);
    free(b64);

    unsigned char out[64];
    long n = edge_b64url_decode(query, strlen(query), out, sizeof out);
    if (n > (long)sizeof out)
        abort();
    free(buf);
    return 0;
}
