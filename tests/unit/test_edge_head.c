/* test_edge_head: the edge's request head parser (http_head.c: the request
 * line split here, http-parser for the rest) and the signed-query cache
 * (edge_signq.c): what a hit still re-evaluates, what is never stored. */
#include "ct_test.h"
#include "http/http_head.h"
#include "edge/edge_internal.h"

#include <stdlib.h>
#include <string.h>

/* Parses text (copied into a loop-sized buffer); returns the result, h filled. */
static int parse(const char *text, char *buf, http_head *h)
{
    size_t n = strlen(text);
    snprintf(buf, HTTP_HEAD_MAX, "%s", text);
    return http_head_parse(buf, n, HTTP_HEAD_MAX, h);
}

static void test_head(void)
{
    static char buf[HTTP_HEAD_MAX];
    http_head h;
    CHECK(parse("GET /a/b.ts?x=1&y=%41 HTTP/1.1\r\nHost: e.localhost\r\nRange: bytes=0-1\r\n\r\n",
                buf, &h) == 1);
    CHECK_STR(h.method, "GET");
    CHECK_STR(buf + h.url_off, "/a/b.ts?x=1&y=%41");
    CHECK(h.http_major == 1 && h.http_minor == 1 && h.keep_alive && h.n == 2);
    CHECK_STR(http_head_get(buf, &h, "host"), "e.localhost");
    CHECK_STR(http_head_get(buf, &h, "Range"), "bytes=0-1");

    /* absolute form, HTTP/1.0, bare LF, leading empty lines (RFC 9112 §2.2) */
    CHECK(parse("\r\nHEAD https://h:1/p?q HTTP/1.0\nHost: x\n\n", buf, &h) == 1);
    CHECK_STR(h.method, "HEAD");
    CHECK_STR(buf + h.url_off, "https://h:1/p?q");
    CHECK(h.http_minor == 0 && !h.keep_alive);
    CHECK_STR(http_head_get(buf, &h, "Host"), "x");

    /* a long signed query, high bytes kept as before */
    char big[3000];
    int o = snprintf(big, sizeof big, "GET /v/seg.ts?Policy=");
    for (int i = 0; i < 2000; i++)
        big[o++] = "AZaz09-_~"[i % 9];
    snprintf(big + o, sizeof big - (size_t)o, "&k=\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n");
    CHECK(parse(big, buf, &h) == 1);
    CHECK(h.url_len == strlen("/v/seg.ts?Policy=") + 2000 + strlen("&k=\xc3\xa9"));

    /* pipelined: the first head only */
    CHECK(parse("GET /1 HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.1\r\n\r\n", buf, &h) == 1);
    CHECK_STR(buf + h.url_off, "/1");
    CHECK(h.head_len == strlen("GET /1 HTTP/1.1\r\nHost: h\r\n\r\n"));

    /* incomplete, then malformed request lines */
    CHECK(parse("GET /a HTTP/1.1\r\nHost: h\r\n", buf, &h) == 0);
    static const char *const bad[] = {
        "GET  /a HTTP/1.1\r\n\r\n",        /* empty target */
        "GET /a b HTTP/1.1\r\n\r\n",       /* space in the target */
        "GET /a\x01 HTTP/1.1\r\n\r\n",     /* control byte */
        "GET /a\x7f HTTP/1.1\r\n\r\n",     /* DEL */
        "GET /a\tb HTTP/1.1\r\n\r\n",      /* tab */
        "GET\r\n\r\n",                     /* no target */
        "NOPE /a HTTP/1.1\r\n\r\n",        /* unknown method (http-parser) */
        "GET /a HTTP/9\r\n\r\n",           /* bad version (http-parser) */
        "GET /a HTTP/1.1 junk\r\n\r\n",    /* junk after the version */
        "CONNECT h:443 HTTP/1.1\r\n\r\n",  /* never a tunnel */
        "GET /a HTTP/1.1\r\nBad Name: x\r\n\r\n",
        "GET /a HTTP/1.1\r\nX: 1\r\n  folded\r\n\r\n",
        "GETXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX /a HTTP/1.1\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = parse(bad[i], buf, &h);
        if (rc != -1 || h.error_status != 400)
            fprintf(stderr, "bad head %zu accepted\n", i);
        CHECK(rc == -1 && h.error_status == 400);
    }
    /* too big: 431 */
    memset(buf, 'a', HTTP_HEAD_MAX);
    memcpy(buf, "GET /", 5);
    CHECK(http_head_parse(buf, HTTP_HEAD_MAX, HTTP_HEAD_MAX, &h) == -1 && h.error_status == 431);
}

static const edge_signq_req REQ = {1, "h.example", 9, "/v/a.ts", 7, "10.1.2.3", 150, NULL};

static void test_signq_custom(void)
{
    edge_signq *q = edge_signq_new();
    CHECK(q != NULL);
    const char *query = "Policy=eyJ9&Signature=c2ln&Key-Pair-Id=K2AB&quality=hd";
    size_t ql = strlen(query);
    char kpid[EDGE_KEY_ID_MAX + 1];
    uint64_t gen = 0;
    const char *why = NULL;
    CHECK(edge_signq_check(q, query, ql, &REQ, kpid, &gen, &why) == EDGE_SIGNQ_MISS);

    edge_signed s;
    memset(&s, 0, sizeof s);
    s.present = 1;
    strcpy(s.key_pair_id, "K2AB");
    s.policy = (char *)"{}"; /* only its presence matters to the cache */
    edge_policy p;
    memset(&p, 0, sizeof p);
    strcpy(p.resource, "https://h.example/v/*");
    p.less_than = 200;
    p.has_greater = 1;
    p.greater_than = 100;
    p.has_ip = 1;
    p.family = 4;
    p.net[0] = 10;
    p.net[1] = 1;
    p.prefix = 16;

    /* a failed check is never stored: the caller only puts successes, and
     * unusable parameters are refused */
    s.bad = "bad";
    edge_signq_put(q, query, ql, &s, "quality=hd", NULL, &p, 7);
    CHECK(edge_signq_check(q, query, ql, &REQ, kpid, &gen, &why) == EDGE_SIGNQ_MISS);
    s.bad = NULL;

    edge_signq_put(q, query, ql, &s, "quality=hd", NULL, &p, 7);
    CHECK(edge_signq_check(q, query, ql, &REQ, kpid, &gen, &why) == 0);
    CHECK_STR(kpid, "K2AB");
    CHECK(gen == 7);
    /* every condition is evaluated again per request */
    edge_signq_req r = REQ;
    r.path = "/w/a.ts";
    CHECK(edge_signq_check(q, query, ql, &r, kpid, &gen, &why) == -1 && strstr(why, "cover"));
    r = REQ;
    r.secure = 0; /* http:// is another resource */
    CHECK(edge_signq_check(q, query, ql, &r, kpid, &gen, &why) == -1);
    r = REQ;
    r.now = 200;
    CHECK(edge_signq_check(q, query, ql, &r, kpid, &gen, &why) == -1 && strstr(why, "expired"));
    r.now = 99;
    CHECK(edge_signq_check(q, query, ql, &r, kpid, &gen, &why) == -1 && strstr(why, "not valid"));
    r = REQ;
    r.ip = "10.2.0.1";
    CHECK(edge_signq_check(q, query, ql, &r, kpid, &gen, &why) == -1 && strstr(why, "IP"));
    r.ip = "::ffff:10.1.200.3";
    CHECK(edge_signq_check(q, query, ql, &r, kpid, &gen, &why) == 0);
    /* the key is the exact query: one byte more or less is another query */
    CHECK(edge_signq_check(q, query, ql - 1, &REQ, kpid, &gen, &why) == EDGE_SIGNQ_MISS);
    char other[128];
    snprintf(other, sizeof other, "%s", query);
    other[10] ^= 1;
    CHECK(edge_signq_check(q, other, ql, &REQ, kpid, &gen, &why) == EDGE_SIGNQ_MISS);
    uint64_t hits, misses;
    edge_signq_stats(q, &hits, &misses);
    CHECK(hits == 7 && misses == 4);
    edge_signq_free(q);
}

static void test_signq_canned(void)
{
    edge_signq *q = edge_signq_new();
    const char *query = "Expires=200&Signature=c2ln&Key-Pair-Id=K2AB";
    size_t ql = strlen(query);
    edge_signed s;
    memset(&s, 0, sizeof s);
    s.present = s.has_expires = 1;
    s.expires = 200;
    strcpy(s.key_pair_id, "K2AB");
    edge_signq_put(q, query, ql, &s, "", NULL, NULL, 3); /* no URL: refused */
    char kpid[EDGE_KEY_ID_MAX + 1];
    uint64_t gen = 0;
    const char *why = NULL;
    CHECK(edge_signq_check(q, query, ql, &REQ, kpid, &gen, &why) == EDGE_SIGNQ_MISS);
    edge_signq_put(q, query, ql, &s, "", "https://h.example/v/a.ts", NULL, 3);
    CHECK(edge_signq_check(q, query, ql, &REQ, kpid, &gen, &why) == 0 && gen == 3);
    /* a canned signature covers one URL: any other is not decided here */
    edge_signq_req r = REQ;
    r.path = "/v/b.ts";
    CHECK(edge_signq_check(q, query, ql, &r, kpid, &gen, &why) == EDGE_SIGNQ_MISS);
    r = REQ;
    r.host = "h.example:8443";
    r.host_len = 14;
    CHECK(edge_signq_check(q, query, ql, &r, kpid, &gen, &why) == EDGE_SIGNQ_MISS);
    r = REQ;
    r.now = 200;
    CHECK(edge_signq_check(q, query, ql, &r, kpid, &gen, &why) == -1 && strstr(why, "expired"));
    /* a newer query in the same slot replaces it; both stay correct */
    for (int i = 0; i < 5000; i++) {
        char qq[96];
        int n = snprintf(qq, sizeof qq, "Expires=200&Signature=%d&Key-Pair-Id=K2AB", i);
        edge_signq_put(q, qq, (size_t)n, &s, "", "https://h.example/v/a.ts", NULL, 3);
    }
    int rc = edge_signq_check(q, query, ql, &REQ, kpid, &gen, &why);
    CHECK(rc == 0 || rc == EDGE_SIGNQ_MISS);
    edge_signq_free(q);
}

/* Signed cookies: keyed by the cookie values; the resource URL takes each
 * request's own query; a cookie entry never answers a query and back. */
static void test_signq_cookies(void)
{
    edge_signq *q = edge_signq_new();
    char key[256], key2[256];
    size_t kl = edge_signq_cookie_key(key, sizeof key, "eyJ9", "c2ln", "K2AB", NULL, NULL);
    CHECK(kl > 0 && key[0] == '\x01');
    /* absent and empty values, and a changed signature, are other keys */
    size_t kl2 = edge_signq_cookie_key(key2, sizeof key2, "eyJ9", "c2ln", "K2AB", "", NULL);
    CHECK(kl2 != kl || memcmp(key, key2, kl) != 0);
    kl2 = edge_signq_cookie_key(key2, sizeof key2, "eyJ9", "c2lo", "K2AB", NULL, NULL);
    CHECK(kl2 == kl && memcmp(key, key2, kl) != 0);
    CHECK(edge_signq_cookie_key(key2, 8, "eyJ9", "c2ln", "K2AB", NULL, NULL) == 0);
    CHECK(edge_signq_cookie_key(key2, sizeof key2, "a\001b", "c2ln", "K2AB", NULL, NULL) == 0);

    edge_signed s;
    memset(&s, 0, sizeof s);
    s.present = 1;
    strcpy(s.key_pair_id, "K2AB");
    s.policy = (char *)"{}";
    edge_policy p;
    memset(&p, 0, sizeof p);
    strcpy(p.resource, "https://h.example/v/*");
    p.less_than = 200;
    edge_signq_put(q, key, kl, &s, "", NULL, &p, 5);
    char kpid[EDGE_KEY_ID_MAX + 1];
    uint64_t gen = 0;
    const char *why = NULL;
    edge_signq_req r = REQ;
    r.rest = "";
    CHECK(edge_signq_check(q, key, kl, &r, kpid, &gen, &why) == 0 && gen == 5);
    r.path = "/v/b.ts";
    r.rest = "quality=hd"; /* the request's own query is part of the URL */
    CHECK(edge_signq_check(q, key, kl, &r, kpid, &gen, &why) == 0);
    r.path = "/w/a.ts";
    CHECK(edge_signq_check(q, key, kl, &r, kpid, &gen, &why) == -1 && strstr(why, "cover"));
    r = REQ;
    r.rest = "";
    r.now = 200;
    CHECK(edge_signq_check(q, key, kl, &r, kpid, &gen, &why) == -1 && strstr(why, "expired"));
    CHECK(edge_signq_check(q, key2, kl, &REQ, kpid, &gen, &why) == EDGE_SIGNQ_MISS);
    CHECK(edge_signq_check(q, key, kl, &REQ, kpid, &gen, &why) == EDGE_SIGNQ_MISS); /* no rest */
    edge_signq_free(q);
}

int main(void)
{
    test_head();
    test_signq_custom();
    test_signq_canned();
    test_signq_cookies();
    CT_TEST_END();
}
