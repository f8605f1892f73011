/* edge_parse.c: pure parsing for the edge (Host, request target, key,
 * entity tags). No I/O, no allocation except the decoded key, so it is
 * cheap to fuzz (fuzz/fuzz_range.c). */
#include "edge/edge_internal.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const vpp_names[] = {"redirect-to-https", "https-only", "allow-all"};

const char *edge_vpp_name(edge_vpp p)
{
    return (unsigned)p < CT_ARRAY_LEN(vpp_names) ? vpp_names[p] : "redirect-to-https";
}

int edge_vpp_parse(const char *s, edge_vpp *out)
{
    for (size_t i = 0; s && i < CT_ARRAY_LEN(vpp_names); i++)
        if (strcmp(s, vpp_names[i]) == 0) {
            *out = (edge_vpp)i;
            return 0;
        }
    return -1;
}

static int is_upper_alnum(int c) { return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }

int edge_dist_id_valid(const char *id)
{
    if (!id || id[0] != 'E')
        return 0;
    for (int i = 1; i < EDGE_ID_LEN; i++)
        if (!is_upper_alnum((unsigned char)id[i]))
            return 0;
    return id[EDGE_ID_LEN] == '\0';
}

static int port_ok(const char *p, size_t n)
{
    if (n == 0 || n > 5)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)p[i]))
            return 0;
    return 1;
}

int edge_host_parse(const char *host, char *name, size_t n, int *is_ipv6)
{
    if (!host || n == 0)
        return -1;
    size_t len = strlen(host);
    while (len && (host[len - 1] == ' ' || host[len - 1] == '\t'))
        len--;
    while (len && (*host == ' ' || *host == '\t')) {
        host++;
        len--;
    }
    const char *start = host;
    size_t nlen;
    int v6 = 0;
    if (len && host[0] == '[') {
        const char *close = memchr(host, ']', len);
        if (!close)
            return -1;
        start = host + 1;
        nlen = (size_t)(close - start);
        size_t rest = len - (size_t)(close - host) - 1;
        if (rest && (close[1] != ':' || !port_ok(close + 2, rest - 1)))
            return -1;
        if (nlen == 0)
            return -1;
        for (size_t i = 0; i < nlen; i++) {
            int c = (unsigned char)start[i];
            if (!isxdigit(c) && c != ':' && c != '.')
                return -1;
        }
        v6 = 1;
    } else {
        const char *colon = memchr(host, ':', len);
        nlen = colon ? (size_t)(colon - host) : len;
        if (colon && !port_ok(colon + 1, len - nlen - 1))
            return -1;
        for (size_t i = 0; i < nlen; i++) {
            int c = (unsigned char)start[i];
            if (!isalnum(c) && c != '.' && c != '-' && c != '_')
                return -1;
        }
        if (nlen && start[nlen - 1] == '.')
            nlen--; /* "example.com." is the same host */
        if (nlen == 0)
            return -1;
    }
    if (nlen >= n)
        return -1;
    for (size_t i = 0; i < nlen; i++)
        name[i] = (char)tolower((unsigned char)start[i]);
    name[nlen] = '\0';
    if (is_ipv6)
        *is_ipv6 = v6;
    return 0;
}

int edge_host_dist_label(const char *name, char id[EDGE_ID_LEN + 1])
{
    size_t l = strcspn(name, ".");
    if (l != EDGE_ID_LEN)
        return 0;
    for (size_t i = 0; i < l; i++)
        id[i] = (char)toupper((unsigned char)name[i]);
    id[l] = '\0';
    return edge_dist_id_valid(id);
}

int edge_target_split(const char *raw, const char **path, size_t *path_len,
                      const char **path_and_query, const char **authority, size_t *auth_len)
{
    *authority = NULL;
    *auth_len = 0;
    const char *p = raw;
    if (strncasecmp(p, "http://", 7) == 0 || strncasecmp(p, "https://", 8) == 0) {
        const char *a = strstr(p, "//") + 2;
        size_t al = strcspn(a, "/?#");
        *authority = a;
        *auth_len = al;
        p = a + al;
        if (*p != '/')
            return -1; /* "http://h?x" has no path; treat as malformed */
    }
    if (*p != '/')
        return -1;
    *path = p;
    *path_len = strcspn(p, "?#");
    *path_and_query = p;
    return 0;
}

char *edge_path_to_key(const char *path, size_t path_len, ct_err *err)
{
    *err = CT_ERR_INVALID;
    if (path_len == 0 || path[0] != '/')
        return NULL;
    size_t klen = 0;
    char *key = ct_uri_decode(path + 1, path_len - 1, 0, &klen);
    if (!key)
        return NULL;
    if (klen != strlen(key) || klen > 1024) {
        free(key);
        return NULL;
    }
    *err = CT_OK;
    return key;
}

int edge_etag_match(const char *header, const char *etag, int weak)
{
    if (!header || !etag)
        return 0;
    size_t elen = strlen(etag);
    const char *p = header;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (!*p)
            break;
        const char *tok = p;
        size_t tl = strcspn(p, ",");
        p += tl;
        while (tl && (tok[tl - 1] == ' ' || tok[tl - 1] == '\t'))
            tl--;
        if (tl == 1 && tok[0] == '*')
            return 1;
        int is_weak = 0;
        if (tl >= 2 && (tok[0] == 'W' || tok[0] == 'w') && tok[1] == '/') {
            is_weak = 1;
            tok += 2;
            tl -= 2;
        }
        if (tl >= 2 && tok[0] == '"' && tok[tl - 1] == '"') {
            tok++;
            tl -= 2;
        }
        if (is_weak && !weak)
            continue;
        if (tl == elen && memcmp(tok, etag, elen) == 0)
            return 1;
    }
    return 0;
}
