/* test_edge_allow: the --origin-allow list (edge_allow.c): entry parsing,
 * bad entries named, host/port matching, URLs, and the connect-time check
 * of resolved addresses (special addresses only when named). */
#include "ct_test.h"
#include "edge/edge_allow.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static edge_allow *parse(const char *list)
{
    char why[512] = "";
    edge_allow *a = NULL;
    if (edge_allow_parse(list, &a, why, sizeof why))
        fprintf(stderr, "unexpected parse failure: %s\n", why);
    return a;
}

/* The message for a bad list, "" when it parsed. */
static const char *bad(const char *list)
{
    static char why[512];
    edge_allow *a = NULL;
    why[0] = '\0';
    if (!edge_allow_parse(list, &a, why, sizeof why)) {
        edge_allow_free(a);
        return "";
    }
    CHECK(a == NULL);
    return why;
}

static void test_parse(void)
{
    edge_allow *a = parse(NULL);
    CHECK(a && edge_allow_count(a) == 0);
    edge_allow_free(a);
    a = parse(" a.example.com , *.b.example.com:443,, 10.0.0.0/8,192.0.2.7:9000,*");
    CHECK(a && edge_allow_count(a) == 5);
    edge_allow_free(a);

    CHECK(strstr(bad("good.com,bad host"), "'bad host'"));
    CHECK(strstr(bad("10.0.0.0/33"), "CIDR"));
    CHECK(strstr(bad("10.0.0.1/8"), "host bits"));
    CHECK(strstr(bad("a.com:0"), "port"));
    CHECK(strstr(bad("a.com:70000"), "port"));
    CHECK(strstr(bad("a.com:x"), "port"));
    CHECK(strstr(bad("*.:80"), "wildcard"));
    CHECK(strstr(bad("**.a.com"), "wildcard"));
    CHECK(strstr(bad("a*.com"), "'a*.com'"));
    CHECK(strstr(bad("::1"), "IPv6"));
    CHECK(strstr(bad("[::1]:80"), "IPv6"));
    CHECK(strstr(bad(":80"), "no host"));
    CHECK(strstr(bad("10.1"), "'10.1'"));       /* getaddrinfo would read an address */
    CHECK(strstr(bad("2130706433"), "'2130706433'"));
    CHECK(strstr(bad("a..com"), "'a..com'"));
    CHECK(strstr(bad("http://a.com"), "'http://a.com'"));
}

static void test_hosts(void)
{
    edge_allow *a = parse("Minio.Internal:9000,*.example.com,s3.us-east-1.amazonaws.com:443,"
                          "192.0.2.7,10.1.0.0/16:9000");
    CHECK(edge_allow_host(a, "minio.internal", 9000) == EDGE_ALLOW_NAME);
    CHECK(edge_allow_host(a, "MINIO.internal.", 9000) == EDGE_ALLOW_NAME);
    CHECK(edge_allow_host(a, "minio.internal", 9001) == EDGE_ALLOW_NONE); /* another port */
    CHECK(edge_allow_host(a, "a.example.com", 1) == EDGE_ALLOW_WILD);
    CHECK(edge_allow_host(a, "a.b.example.com", 443) == EDGE_ALLOW_WILD);
    CHECK(edge_allow_host(a, "example.com", 443) == EDGE_ALLOW_NONE); /* only subdomains */
    CHECK(edge_allow_host(a, "badexample.com", 443) == EDGE_ALLOW_NONE);
    CHECK(edge_allow_host(a, "s3.us-east-1.amazonaws.com", 443) == EDGE_ALLOW_NAME);
    CHECK(edge_allow_host(a, "s3.us-east-1.amazonaws.com", 80) == EDGE_ALLOW_NONE);
    CHECK(edge_allow_host(a, "192.0.2.7", 5) == EDGE_ALLOW_NET);
    CHECK(edge_allow_host(a, "192.0.2.8", 5) == EDGE_ALLOW_NONE);
    CHECK(edge_allow_host(a, "10.1.2.3", 9000) == EDGE_ALLOW_NET);
    CHECK(edge_allow_host(a, "10.1.2.3", 80) == EDGE_ALLOW_NONE);
    CHECK(edge_allow_host(a, "10.2.0.1", 9000) == EDGE_ALLOW_NONE);
    CHECK(edge_allow_host(NULL, "a.example.com", 1) == EDGE_ALLOW_NONE);
    edge_allow_free(a);

    /* `*` covers public hosts and names, never special address literals */
    a = parse("*");
    CHECK(edge_allow_host(a, "anything.example", 80) == EDGE_ALLOW_WILD);
    CHECK(edge_allow_host(a, "8.8.8.8", 80) == EDGE_ALLOW_WILD);
    const char *special[] = {"127.0.0.1", "127.9.9.9", "169.254.169.254", "10.0.0.1",
                             "172.16.0.1", "172.31.255.255", "192.168.1.1", "0.0.0.0",
                             "100.64.0.1", "224.0.0.1", "255.255.255.255"};
    for (size_t i = 0; i < sizeof special / sizeof special[0]; i++)
        CHECK(edge_allow_host(a, special[i], 80) == EDGE_ALLOW_NONE);
    CHECK(edge_allow_host(a, "172.32.0.1", 80) == EDGE_ALLOW_WILD);
    edge_allow_free(a);
    a = parse("*:443");
    CHECK(edge_allow_host(a, "x.example", 443) == EDGE_ALLOW_WILD);
    CHECK(edge_allow_host(a, "x.example", 80) == EDGE_ALLOW_NONE);
    edge_allow_free(a);
    a = parse("127.0.0.1:9000");
    CHECK(edge_allow_host(a, "127.0.0.1", 9000) == EDGE_ALLOW_NET);
    CHECK(edge_allow_host(a, "127.0.0.1", 9001) == EDGE_ALLOW_NONE);
    CHECK(edge_allow_host(a, "localhost", 9000) == EDGE_ALLOW_NONE);
    edge_allow_free(a);
}

static void test_urls(void)
{
    char h[300];
    unsigned port = 0;
    CHECK(edge_allow_url_split("https://s3.eu-west-1.amazonaws.com", h, sizeof h, &port) == 0);
    CHECK_STR(h, "s3.eu-west-1.amazonaws.com");
    CHECK(port == 443);
    CHECK(edge_allow_url_split("http://127.0.0.1:9000/b/k?x", h, sizeof h, &port) == 0);
    CHECK_STR(h, "127.0.0.1");
    CHECK(port == 9000);
    CHECK(edge_allow_url_split("HTTP://minio", h, sizeof h, &port) == 0 && port == 80);
    CHECK(edge_allow_url_split("http://[::1]:9000/", h, sizeof h, &port) == 0);
    CHECK_STR(h, "::1");
    CHECK(port == 9000);
    CHECK(edge_allow_url_split("ftp://a", h, sizeof h, &port) == -1);
    CHECK(edge_allow_url_split("http://u@a", h, sizeof h, &port) == -1);
    CHECK(edge_allow_url_split("http://a:0", h, sizeof h, &port) == -1);
    CHECK(edge_allow_url_split("http://a:9x", h, sizeof h, &port) == -1);
    CHECK(edge_allow_url_split("http://:80", h, sizeof h, &port) == -1);

    edge_allow *a = parse("minio.example.com:9000");
    char hp[300];
    CHECK(edge_allow_url(a, "http://minio.example.com:9000", hp, sizeof hp) == 1);
    CHECK(edge_allow_url(a, "http://minio.example.com:9001", hp, sizeof hp) == 0);
    CHECK_STR(hp, "minio.example.com:9001");
    CHECK(edge_allow_url(a, "https://minio.example.com", hp, sizeof hp) == 0);
    CHECK_STR(hp, "minio.example.com:443");
    /* --external-s3-endpoint: its host and port become an exact entry */
    CHECK(edge_allow_add_url(a, "http://127.0.0.1:7000/") == 0);
    CHECK(edge_allow_add_url(a, "https://store.internal") == 0);
    CHECK(edge_allow_add_url(a, "store.internal") == -1);
    CHECK(edge_allow_url(a, "http://127.0.0.1:7000", hp, sizeof hp) == 1);
    CHECK(edge_allow_url(a, "http://127.0.0.1:7001", hp, sizeof hp) == 0);
    CHECK(edge_allow_host(a, "store.internal", 443) == EDGE_ALLOW_NAME);
    edge_allow_free(a);
}

static struct sockaddr_in v4(const char *ip, unsigned port)
{
    struct sockaddr_in s;
    memset(&s, 0, sizeof s);
    s.sin_family = AF_INET;
    s.sin_port = htons((uint16_t)port);
    inet_pton(AF_INET, ip, &s.sin_addr);
    return s;
}

static struct sockaddr_in6 v6(const char *ip, unsigned port)
{
    struct sockaddr_in6 s;
    memset(&s, 0, sizeof s);
    s.sin6_family = AF_INET6;
    s.sin6_port = htons((uint16_t)port);
    inet_pton(AF_INET6, ip, &s.sin6_addr);
    return s;
}

#define CONNECT(a, url, sa) edge_allow_connect((a), (url), (const struct sockaddr *)&(sa))

static void test_connect(void)
{
    /* `*`: a name resolving to a special address is refused (DNS rebinding,
     * metadata), a public one allowed */
    edge_allow *a = parse("*");
    struct sockaddr_in lo = v4("127.0.0.1", 9000), md = v4("169.254.169.254", 80);
    struct sockaddr_in pub = v4("93.184.216.34", 9000), priv = v4("10.0.0.5", 9000);
    struct sockaddr_in6 lo6 = v6("::1", 9000), ll6 = v6("fe80::1", 9000);
    struct sockaddr_in6 mapped = v6("::ffff:127.0.0.1", 9000), pub6 = v6("2001:4860::8888", 9000);
    CHECK(CONNECT(a, "http://localhost:9000", lo) == 0);
    CHECK(CONNECT(a, "http://localhost:9000", lo6) == 0);
    CHECK(CONNECT(a, "http://metadata.example:80", md) == 0);
    CHECK(CONNECT(a, "http://x.example:9000", priv) == 0);
    CHECK(CONNECT(a, "http://x.example:9000", mapped) == 0);
    CHECK(CONNECT(a, "http://x.example:9000", ll6) == 0);
    CHECK(CONNECT(a, "http://x.example:9000", pub) == 1);
    CHECK(CONNECT(a, "http://x.example:9000", pub6) == 1);
    CHECK(CONNECT(a, "http://127.0.0.1:9000", lo) == 0);
    edge_allow_free(a);

    /* an exact host name: the operator named it, its addresses are trusted */
    a = parse("localhost:9000,minio.internal");
    CHECK(CONNECT(a, "http://localhost:9000", lo) == 1);
    CHECK(CONNECT(a, "http://localhost:9000", lo6) == 1);
    CHECK(CONNECT(a, "http://minio.internal:9000", priv) == 1);
    CHECK(CONNECT(a, "http://other.internal:9000", priv) == 0); /* not matched at all */
    struct sockaddr_in lo2 = v4("127.0.0.1", 9001);
    CHECK(CONNECT(a, "http://localhost:9001", lo2) == 0); /* the port is the address's */
    edge_allow_free(a);

    /* a CIDR entry covers the addresses of wildcard-matched names */
    a = parse("*.corp.example,10.0.0.0/8");
    CHECK(CONNECT(a, "http://s3.corp.example:9000", priv) == 1);
    CHECK(CONNECT(a, "http://s3.corp.example:9000", lo) == 0);
    CHECK(CONNECT(a, "http://10.0.0.5:9000", priv) == 1);
    edge_allow_free(a);

    /* an address entry allows the literal, not a name that resolves to it;
     * with `*` matching the name, the listed address may be connected to */
    a = parse("127.0.0.1");
    CHECK(CONNECT(a, "http://127.0.0.1:9000", lo) == 1);
    CHECK(CONNECT(a, "http://localhost:9000", lo) == 0);
    edge_allow_free(a);
    a = parse("127.0.0.1,*");
    CHECK(CONNECT(a, "http://localhost:9000", lo) == 1);
    CHECK(CONNECT(a, "http://localhost:9000", lo6) == 0);
    edge_allow_free(a);
    a = parse("");
    CHECK(CONNECT(a, "http://x.example:9000", pub) == 0);
    CHECK(CONNECT(a, "not a url", pub) == 0);
    edge_allow_free(a);
}

int main(void)
{
    test_parse();
    test_hosts();
    test_urls();
    test_connect();
    CT_TEST_END();
}
