/* edge_allow.c: the allow-list of external origin hosts (see edge_allow.h). */
#include "edge/edge_allow.h"
#include "edge/edge.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#define NAME_MAX_LEN 253

typedef enum { E_ANY, E_SUFFIX, E_NAME, E_NET } entry_kind;

typedef struct {
    entry_kind kind;
    char name[NAME_MAX_LEN + 2]; /* E_NAME: the host; E_SUFFIX: ".example.com" */
    uint32_t net, mask;          /* E_NET, host order */
    unsigned port;               /* 0 = any */
} entry;

struct edge_allow {
    entry *v;
    size_t n, cap;
};

/* ---- addresses ---- */

/* Blocks `*` never covers: this network, private, CGNAT, loopback,
 * link-local (cloud metadata), IETF protocol, benchmarking, multicast and
 * reserved. */
static int special4(uint32_t ip)
{
    static const struct {
        uint32_t net;
        int bits;
    } blocks[] = {
        {0x00000000u, 8},  {0x0a000000u, 8},  {0x64400000u, 10}, {0x7f000000u, 8},
        {0xa9fe0000u, 16}, {0xac100000u, 12}, {0xc0000000u, 24}, {0xc0a80000u, 16},
        {0xc6120000u, 15}, {0xe0000000u, 3},
    };
    for (size_t i = 0; i < sizeof blocks / sizeof blocks[0]; i++) {
        uint32_t mask = 0xffffffffu << (32 - blocks[i].bits);
        if ((ip & mask) == blocks[i].net)
            return 1;
    }
    return 0;
}

/* Loopback, unspecified, IPv4-compatible, NAT64 (it reaches IPv4 inside),
 * link-local, unique-local. */
static int special6(const unsigned char *a)
{
    static const unsigned char zero[12] = {0};
    static const unsigned char nat64[12] = {0, 0x64, 0xff, 0x9b};
    return !memcmp(a, zero, 12) || !memcmp(a, nat64, 12) || (a[0] == 0xfe && (a[1] & 0xc0) == 0x80) ||
           (a[0] & 0xfe) == 0xfc;
}

static int parse4(const char *s, uint32_t *ip)
{
    struct in_addr a;
    if (inet_pton(AF_INET, s, &a) != 1)
        return -1;
    *ip = ntohl(a.s_addr);
    return 0;
}

/* ---- parsing ---- */

/* A host name: labels of [a-z0-9_-] (lowercased in place), 1..63 each,
 * the last not all digits (getaddrinfo would read "10.1" or "2130706433"
 * as an address). */
static int valid_name(char *s)
{
    size_t len = strlen(s);
    if (!len || len > NAME_MAX_LEN)
        return 0;
    size_t label = 0, digits = 0;
    for (char *p = s;; p++) {
        if (*p == '.' || !*p) {
            if (!label || label > 63)
                return 0;
            if (!*p)
                return digits < label;
            label = digits = 0;
            continue;
        }
        *p = (char)tolower((unsigned char)*p);
        if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_')
            return 0;
        label++;
        digits += isdigit((unsigned char)*p) != 0;
    }
}

static int push(edge_allow *a, const entry *e)
{
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 8;
        entry *nv = realloc(a->v, cap * sizeof *nv);
        if (!nv)
            return -1;
        a->v = nv;
        a->cap = cap;
    }
    a->v[a->n++] = *e;
    return 0;
}

static int parse_port(const char *s, unsigned *port)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (!isdigit((unsigned char)*s) || *end || v < 1 || v > 65535)
        return -1;
    *port = (unsigned)v;
    return 0;
}

/* One entry (host and port split off already) into e; NULL or why. */
static const char *parse_host(char *h, entry *e)
{
    char *slash = strchr(h, '/');
    if (!strcmp(h, "*")) {
        e->kind = E_ANY;
    } else if (h[0] == '*') {
        if (h[1] != '.' || !valid_name(h + 2))
            return "a wildcard is '*' or '*.DOMAIN'";
        e->kind = E_SUFFIX;
        snprintf(e->name, sizeof e->name, "%.*s", NAME_MAX_LEN + 1, h + 1);
    } else if (slash) {
        *slash = '\0';
        char *end;
        long bits = strtol(slash + 1, &end, 10);
        if (parse4(h, &e->net) || !isdigit((unsigned char)slash[1]) || *end || bits < 0 ||
            bits > 32)
            return "a CIDR block is IPv4 ADDRESS/0..32";
        e->kind = E_NET;
        e->mask = bits ? 0xffffffffu << (32 - bits) : 0;
        if (e->net & ~e->mask)
            return "the CIDR block has host bits set";
    } else if (!parse4(h, &e->net)) {
        e->kind = E_NET;
        e->mask = 0xffffffffu;
    } else if (valid_name(h)) {
        e->kind = E_NAME;
        snprintf(e->name, sizeof e->name, "%.*s", NAME_MAX_LEN, h);
    } else {
        return "not a host name, IPv4 address, CIDR block or wildcard";
    }
    return NULL;
}

static int parse_entry(edge_allow *a, const char *s, size_t len, char *why, size_t n)
{
    char buf[NAME_MAX_LEN + 16];
    entry e;
    memset(&e, 0, sizeof e);
    const char *bad = NULL;
    if (len >= sizeof buf) {
        bad = "too long";
    } else {
        memcpy(buf, s, len);
        buf[len] = '\0';
        char *colon = strrchr(buf, ':');
        if (strchr(buf, '[') || (colon && strchr(buf, ':') != colon))
            bad = "IPv6 entries are not supported";
        else if (colon && (*colon = '\0', parse_port(colon + 1, &e.port)))
            bad = "the port must be 1..65535";
        else if (!buf[0])
            bad = "no host";
        else
            bad = parse_host(buf, &e);
    }
    if (bad) {
        snprintf(why, n, "--origin-allow entry '%.*s': %s", (int)(len > 300 ? 300 : len), s, bad);
        return -1;
    }
    return push(a, &e);
}

int edge_allow_parse(const char *list, edge_allow **out, char *why, size_t n)
{
    edge_allow *a = calloc(1, sizeof *a);
    *out = NULL;
    if (!a) {
        snprintf(why, n, "out of memory");
        return -1;
    }
    for (const char *p = list ? list : ""; *p;) {
        p += strspn(p, " \t,");
        size_t len = strcspn(p, ",");
        while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        if (len && parse_entry(a, p, len, why, n)) {
            edge_allow_free(a);
            return -1;
        }
        p += strcspn(p, ",");
    }
    *out = a;
    return 0;
}

int edge_allow_add_url(edge_allow *a, const char *url)
{
    entry e;
    memset(&e, 0, sizeof e);
    char host[NAME_MAX_LEN + 1];
    if (!a || edge_allow_url_split(url, host, sizeof host, &e.port))
        return -1;
    if (!parse4(host, &e.net)) {
        e.kind = E_NET;
        e.mask = 0xffffffffu;
    } else {
        e.kind = E_NAME; /* any name or an IPv6 literal: matched as written */
        for (char *p = host; *p; p++)
            *p = (char)tolower((unsigned char)*p);
        snprintf(e.name, sizeof e.name, "%s", host);
    }
    return push(a, &e);
}

int ct_edge_origin_allow_check(const char *list, char *why, size_t n)
{
    edge_allow *a = NULL;
    int rc = edge_allow_parse(list, &a, why, n);
    edge_allow_free(a);
    return rc;
}

void edge_allow_free(edge_allow *a)
{
    if (a)
        free(a->v);
    free(a);
}

size_t edge_allow_count(const edge_allow *a) { return a ? a->n : 0; }

/* ---- matching ---- */

static int ends_with(const char *s, const char *sfx)
{
    size_t sl = strlen(s), fl = strlen(sfx);
    return sl > fl && !strcmp(s + sl - fl, sfx);
}

int edge_allow_host(const edge_allow *a, const char *host, unsigned port)
{
    char h[NAME_MAX_LEN + 1];
    size_t hl = host ? strlen(host) : 0;
    if (!a || !hl || hl >= sizeof h)
        return EDGE_ALLOW_NONE;
    for (size_t i = 0; i <= hl; i++)
        h[i] = (char)tolower((unsigned char)host[i]);
    if (hl > 1 && h[hl - 1] == '.')
        h[--hl] = '\0'; /* "example.com." is example.com */
    uint32_t ip = 0;
    unsigned char a6[16];
    int v4 = !parse4(h, &ip), v6 = !v4 && inet_pton(AF_INET6, h, a6) == 1;
    int special = v4 ? special4(ip) : v6 && special6(a6);
    int best = EDGE_ALLOW_NONE;
    for (size_t i = 0; i < a->n; i++) {
        const entry *e = &a->v[i];
        int m = EDGE_ALLOW_NONE;
        if (e->port && e->port != port)
            continue;
        if (e->kind == E_NET && v4 && (ip & e->mask) == e->net)
            m = EDGE_ALLOW_NET;
        else if (e->kind == E_NAME && !strcmp(e->name, h))
            m = EDGE_ALLOW_NAME;
        else if ((e->kind == E_ANY && !special) ||
                 (e->kind == E_SUFFIX && !v4 && !v6 && ends_with(h, e->name)))
            m = EDGE_ALLOW_WILD;
        if (m > best)
            best = m;
    }
    return best;
}

int edge_allow_url_split(const char *url, char *host, size_t hn, unsigned *port)
{
    const char *p;
    unsigned def;
    if (!url)
        return -1;
    if (!strncasecmp(url, "http://", 7)) {
        p = url + 7;
        def = 80;
    } else if (!strncasecmp(url, "https://", 8)) {
        p = url + 8;
        def = 443;
    } else {
        return -1;
    }
    size_t n = strcspn(p, "/?#");
    const char *end = p + n, *hs = p, *he;
    if (!n || memchr(p, '@', n))
        return -1;
    if (*p == '[') { /* [v6]:port */
        he = memchr(p, ']', n);
        if (!he)
            return -1;
        hs = p + 1;
        p = he + 1;
    } else {
        he = memchr(p, ':', n);
        if (!he)
            he = end;
        p = he;
    }
    *port = def;
    if (p < end) {
        char pb[8];
        if (*p != ':' || (size_t)(end - p - 1) >= sizeof pb)
            return -1;
        memcpy(pb, p + 1, (size_t)(end - p - 1));
        pb[end - p - 1] = '\0';
        if (parse_port(pb, port))
            return -1;
    }
    size_t hl = (size_t)(he - hs);
    if (!hl || hl >= hn)
        return -1;
    memcpy(host, hs, hl);
    host[hl] = '\0';
    return 0;
}

int edge_allow_url(const edge_allow *a, const char *url, char *hostport, size_t n)
{
    char host[NAME_MAX_LEN + 1];
    unsigned port = 0;
    if (edge_allow_url_split(url, host, sizeof host, &port)) {
        snprintf(hostport, n, "%.200s", url);
        return 0;
    }
    if (edge_allow_host(a, host, port) != EDGE_ALLOW_NONE)
        return 1;
    snprintf(hostport, n, strchr(host, ':') ? "[%s]:%u" : "%s:%u", host, port);
    return 0;
}

/* 1 when an address entry covers ip on port. */
static int net_covers(const edge_allow *a, uint32_t ip, unsigned port)
{
    for (size_t i = 0; i < a->n; i++) {
        const entry *e = &a->v[i];
        if (e->kind == E_NET && (!e->port || e->port == port) && (ip & e->mask) == e->net)
            return 1;
    }
    return 0;
}

int edge_allow_connect(void *ctx, const char *url, const struct sockaddr *addr)
{
    const edge_allow *a = ctx;
    char host[NAME_MAX_LEN + 1];
    unsigned url_port = 0, port;
    if (!a || edge_allow_url_split(url, host, sizeof host, &url_port))
        return 0;
    const unsigned char *a6 = NULL;
    uint32_t ip = 0;
    int v4 = 0;
    if (addr->sa_family == AF_INET) {
        const struct sockaddr_in *s = (const void *)addr;
        ip = ntohl(s->sin_addr.s_addr);
        port = ntohs(s->sin_port);
        v4 = 1;
    } else if (addr->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s = (const void *)addr;
        a6 = s->sin6_addr.s6_addr;
        port = ntohs(s->sin6_port);
        static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (!memcmp(a6, mapped, 12)) { /* ::ffff:a.b.c.d is a.b.c.d */
            ip = (uint32_t)a6[12] << 24 | (uint32_t)a6[13] << 16 | (uint32_t)a6[14] << 8 | a6[15];
            v4 = 1;
        }
    } else {
        return 0;
    }
    int m = edge_allow_host(a, host, port);
    if (m == EDGE_ALLOW_NONE)
        return 0;
    if (v4 && net_covers(a, ip, port))
        return 1;
    if (v4 ? special4(ip) : special6(a6))
        return m == EDGE_ALLOW_NAME; /* the operator named this very host */
    return 1;
}
