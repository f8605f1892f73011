/* test_edge: the edge end to end on loopback — TLS listener with a generated
 * certificate, distributions through the admin handler, Host routing and
 * fallback, GET/HEAD/Range/conditionals, HTTP->HTTPS redirect, and the pure
 * parsers. */
#include "ct_test.h"
#include "edge/edge.h"
#include "edge/edge_internal.h"

#include <dirent.h>
#include <ctype.h>
#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[] = "/tmp/ct_test_edge_XXXXXX";
static ct_meta *meta;
static ct_store *store;

/* ---- fixtures ---- */

static void put_object(const char *bucket, const char *key, const void *data, size_t n,
                       const char *content_type, const char *meta_json)
{
    ct_store_writer *w = NULL;
    CHECK(ct_store_writer_open(store, &w) == CT_OK);
    if (!w)
        return;
    CHECK(ct_store_writer_write(w, data, n) == CT_OK);
    ct_meta_object o;
    memset(&o, 0, sizeof o);
    unsigned char md5[16];
    CHECK(ct_store_writer_commit(w, o.blob_id, md5) == CT_OK);
    ct_hex(md5, 16, o.etag);
    o.bucket = (char *)bucket;
    o.key = (char *)key;
    o.size = n;
    o.content_type = (char *)content_type;
    o.meta_json = (char *)meta_json;
    o.mtime_ms = 1700000000000; /* Tue, 14 Nov 2023 22:13:20 GMT */
    char old[64];
    CHECK(ct_meta_object_put(meta, &o, NULL, old) == CT_OK);
}

/* Opens the globals meta and store on tmpdir/db and tmpdir/store_dir; 1 when both opened. */
static int open_meta_store(const char *db, const char *store_dir)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s", tmpdir, db);
    CHECK(ct_meta_open_sqlite(path, &meta) == CT_OK);
    snprintf(path, sizeof path, "%s/%s", tmpdir, store_dir);
    CHECK(ct_store_open_fs(path, &store) == CT_OK);
    return meta && store;
}

static int admin(ct_edge *e, const char *method, const char *path, const char *body,
                 json_t **out)
{
    ct_http_req req;
    memset(&req, 0, sizeof req);
    req.method = method;
    req.raw_target = path;
    req.path = path;
    req.query = "";
    req.body = body;
    req.body_len = body ? strlen(body) : 0;
    req.client_ip = "127.0.0.1";
    strcpy(req.principal.account_id, "123456789012");
    ct_http_resp resp;
    ct_http_resp_init(&resp);
    ct_edge_admin_handle(e, &req, &resp);
    if (out)
        *out = resp.body.len ? json_loadb(resp.body.data, resp.body.len, 0, NULL) : NULL;
    int status = resp.status;
    ct_http_resp_free(&resp);
    return status;
}

static char *create_dist(ct_edge *e, const char *bucket, const char *policy, char *domain,
                         size_t dn)
{
    char body[256];
    snprintf(body, sizeof body, "{\"originBucket\":\"%s\",\"viewerProtocolPolicy\":\"%s\"}",
             bucket, policy);
    json_t *j = NULL;
    int st = admin(e, "POST", "/cattube/admin/distributions", body, &j);
    CHECK(st == 201);
    const char *id = json_string_value(json_object_get(j, "id"));
    const char *dom = json_string_value(json_object_get(j, "domainName"));
    char *ret = id ? strdup(id) : NULL;
    snprintf(domain, dn, "%s", dom ? dom : "");
    json_decref(j);
    return ret;
}

/* ---- HTTP client ---- */

typedef struct {
    long status;
    ct_buf body, headers;
    char *cert; /* PEM the server presented, when asked */
} reply;

static size_t on_data(char *p, size_t s, size_t n, void *ctx)
{
    return ct_buf_append(ctx, p, s * n) ? 0 : s * n;
}

static void reply_free(reply *r)
{
    ct_buf_free(&r->body);
    ct_buf_free(&r->headers);
    free(r->cert);
    memset(r, 0, sizeof *r);
}

/* Value of a response header (last occurrence), into out. */
static const char *header(const reply *r, const char *name, char *out, size_t n)
{
    out[0] = '\0';
    if (!r->headers.data)
        return NULL;
    const char *found = NULL;
    size_t nl = strlen(name);
    for (const char *p = r->headers.data; p && *p;) {
        const char *eol = strstr(p, "\r\n");
        if (!eol)
            break;
        if ((size_t)(eol - p) > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1;
            while (*v == ' ')
                v++;
            snprintf(out, n, "%.*s", (int)(eol - v), v);
            found = out;
        }
        p = eol + 2;
    }
    return found;
}

static void fetch(const char *url, const char *method, const char *h1, const char *h2,
                  int path_as_is, int want_cert, reply *r)
{
    memset(r, 0, sizeof *r);
    r->body.max = (size_t)64 << 20;
    CURL *c = curl_easy_init();
    struct curl_slist *hs = NULL;
    if (h1)
        hs = curl_slist_append(hs, h1);
    if (h2)
        hs = curl_slist_append(hs, h2);
    struct curl_slist *connect_to = curl_slist_append(NULL, "::127.0.0.1:");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CONNECT_TO, connect_to);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hs);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r->body);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &r->headers);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (path_as_is)
        curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
    if (want_cert)
        curl_easy_setopt(c, CURLOPT_CERTINFO, 1L);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    else if (strcmp(method, "GET") != 0)
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    CURLcode cc = curl_easy_perform(c);
    if (cc != CURLE_OK)
        fprintf(stderr, "curl %s %s: %s\n", method, url, curl_easy_strerror(cc));
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    if (want_cert) {
        struct curl_certinfo *ci = NULL;
        if (curl_easy_getinfo(c, CURLINFO_CERTINFO, &ci) == CURLE_OK && ci && ci->num_of_certs > 0)
            for (struct curl_slist *s = ci->certinfo[0]; s; s = s->next)
                if (strncmp(s->data, "Cert:", 5) == 0)
                    r->cert = strdup(s->data + 5);
    }
    curl_slist_free_all(hs);
    curl_slist_free_all(connect_to);
    curl_easy_cleanup(c);
}

/* ---- pure parsers ---- */

static void test_edge_xml(void)
{
    ct_xml_node *root = NULL;
    char msg[256];
    const char *ok = "<?xml version=\"1.0\"?><DistributionConfig xmlns=\"http://cloudfront.amazonaws."
                     "com/doc/2020-05-31/\"><Comment>a &amp; b</Comment><Enabled>true</Enabled>"
                     "</DistributionConfig>";
    CHECK(ct_xml_parse(ok, strlen(ok), &root, msg, sizeof msg) == CT_OK);
    CHECK(root && strcmp(root->name, "DistributionConfig") == 0);
    CHECK(strcmp(ct_xml_child_text(root, "Comment"), "a & b") == 0);
    CHECK(ct_xml_child(root, "Nope") == NULL);
    ct_xml_free(root);
    root = NULL;
    const char *xxe = "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]>"
                      "<x>&e;</x>";
    CHECK(ct_xml_parse(xxe, strlen(xxe), &root, msg, sizeof msg) == CT_ERR_INVALID);
    CHECK(root == NULL);
    CHECK(ct_xml_parse("<a><b>", 6, &root, msg, sizeof msg) == CT_ERR_INVALID);
}

static void test_parsers(void)
{
    char name[EDGE_HOST_MAX], id[EDGE_ID_LEN + 1];
    int v6 = 0;
    CHECK(edge_host_parse("E2ABCDEFGHIJ12.LocalHost:8443", name, sizeof name, &v6) == 0);
    CHECK_STR(name, "e2abcdefghij12.localhost");
    CHECK(v6 == 0);
    CHECK(edge_host_dist_label(name, id) == 1);
    CHECK_STR(id, "E2ABCDEFGHIJ12");
    CHECK(edge_host_parse("[::1]:8443", name, sizeof name, &v6) == 0);
    CHECK_STR(name, "::1");
    CHECK(v6 == 1);
    CHECK(edge_host_parse("example.com.", name, sizeof name, NULL) == 0);
    CHECK_STR(name, "example.com");
    CHECK(edge_host_parse("evil.com\r\nX: y", name, sizeof name, NULL) == -1);
    CHECK(edge_host_parse("a/b", name, sizeof name, NULL) == -1);
    CHECK(edge_host_parse("host:80x", name, sizeof name, NULL) == -1);
    CHECK(edge_host_parse(":80", name, sizeof name, NULL) == -1);
    CHECK(edge_host_parse("[::1", name, sizeof name, NULL) == -1);
    CHECK(edge_host_dist_label("127.0.0.1", id) == 0);
    CHECK(edge_host_dist_label("localhost", id) == 0);
    CHECK(edge_dist_id_valid("E2ABCDEFGHIJ12") == 1);
    CHECK(edge_dist_id_valid("E2ABCDEFGHIJ1") == 0);
    CHECK(edge_dist_id_valid("e2abcdefghij12") == 0);

    const char *path, *pq, *auth;
    size_t pl, al;
    CHECK(edge_target_split("/a%20b/c+d?x=1", &path, &pl, &pq, &auth, &al) == 0);
    CHECK(pl == 10 && auth == NULL);
    CHECK_STR(pq, "/a%20b/c+d?x=1");
    ct_err err;
    char *key = edge_path_to_key(path, pl, &err);
    CHECK_STR(key, "a b/c+d");
    free(key);
    CHECK(edge_target_split("https://h.example:1/k?q", &path, &pl, &pq, &auth, &al) == 0);
    CHECK(al == 11 && strncmp(auth, "h.example:1", al) == 0 && pl == 2);
    CHECK(edge_target_split("*", &path, &pl, &pq, &auth, &al) == -1);
    CHECK(edge_path_to_key("/bad%zz", 7, &err) == NULL && err == CT_ERR_INVALID);
    CHECK(edge_path_to_key("/nul%00x", 8, &err) == NULL && err == CT_ERR_INVALID);
    key = edge_path_to_key("/../x", 5, &err);
    CHECK_STR(key, "../x"); /* keys are opaque */
    free(key);

    CHECK(edge_etag_match("\"abc\"", "abc", 0) == 1);
    CHECK(edge_etag_match("\"x\", W/\"abc\"", "abc", 1) == 1);
    CHECK(edge_etag_match("W/\"abc\"", "abc", 0) == 0);
    CHECK(edge_etag_match("*", "abc", 0) == 1);
    CHECK(edge_etag_match("\"abd\"", "abc", 1) == 0);

    edge_vpp p;
    CHECK(edge_vpp_parse("https-only", &p) == 0 && p == EDGE_VPP_HTTPS_ONLY);
    CHECK(edge_vpp_parse("https", &p) == -1);
}

/* ---- end to end ---- */

static char *read_all(const char *path)
{
    char *s = NULL;
    size_t n;
    return ct_read_file(path, 1 << 20, &s, &n) == CT_OK ? s : NULL;
}

/* PEM without line breaks, to compare what curl reports with the file. */
static void squash(char *s)
{
    char *w = s;
    for (char *r = s; *r; r++)
        if (*r != '\n' && *r != '\r')
            *w++ = *r;
    *w = '\0';
}

static void test_end_to_end(void)
{
    char path[512];
    if (!open_meta_store("meta.db", "store"))
        return;

    /* Content: 1000 patterned bytes, a 3 MiB object (several TLS blocks). */
    unsigned char small[1000];
    for (size_t i = 0; i < sizeof small; i++)
        small[i] = (unsigned char)(i * 7 + 3);
    size_t big_n = (size_t)3 << 20;
    unsigned char *big = malloc(big_n);
    for (size_t i = 0; i < big_n; i++)
        big[i] = (unsigned char)(i ^ (i >> 9));
    CHECK(ct_meta_bucket_create(meta, "media") == CT_OK);
    CHECK(ct_meta_bucket_create(meta, "other") == CT_OK);
    put_object("media", "cat video 1-hd.mp4", small, sizeof small, "application/octet-stream",
               NULL);
    put_object("media", "big.bin", big, big_n, "application/x-test", NULL);
    put_object("media", "a+b.txt", "plus", 4, NULL, "{\"cache-control\":\"no-cache\"}");
    put_object("media", "../secret", "opaque", 6, "text/plain", NULL);
    put_object("other", "other.txt", "other bucket", 12, "text/plain", NULL);

    ct_edge_config cfg = {.https_listen = "127.0.0.1:0",
                          .http_listen = "127.0.0.1:0",
                          .data_dir = tmpdir,
                          .account_id = "123456789012"};
    ct_edge *e = NULL;
    CHECK(ct_edge_start(&cfg, meta, store, &e) == CT_OK);
    if (!e)
        return;
    unsigned sp = ct_edge_https_port(e), hp = ct_edge_http_port(e);
    CHECK(sp > 0 && hp > 0);

    /* Certificate persisted, key private. */
    char cert_path[512], key_path[512];
    snprintf(cert_path, sizeof cert_path, "%s/edge/cert.pem", tmpdir);
    snprintf(key_path, sizeof key_path, "%s/edge/key.pem", tmpdir);
    struct stat st;
    CHECK(stat(key_path, &st) == 0 && (st.st_mode & 0777) == 0600);
    char *cert1 = read_all(cert_path);
    CHECK(cert1 && strstr(cert1, "BEGIN CERTIFICATE"));

    /* Admin API: validation. */
    json_t *j = NULL;
    CHECK(admin(e, "POST", "/cattube/admin/distributions",
                "{\"originBucket\":\"media\",\"viewerProtocolPolicy\":\"sometimes\"}", &j) == 400);
    CHECK(json_string_value(json_object_get(j, "message")) != NULL);
    json_decref(j);
    CHECK(admin(e, "POST", "/cattube/admin/distributions", "{}", NULL) == 400);
    CHECK(admin(e, "POST", "/cattube/admin/distributions", "not json", NULL) == 400);
    CHECK(admin(e, "POST", "/cattube/admin/distributions", "{\"originBucket\":\"nope\"}", NULL) ==
          404);
    CHECK(admin(e, "PUT", "/cattube/admin/distributions", "{}", NULL) == 405);
    CHECK(admin(e, "GET", "/cattube/admin/distributions/EXXXXXXXXXXXXX", NULL, NULL) == 404);

    /* A: redirect-to-https on media; B: https-only on other (most recent). */
    char dom_a[300], dom_b[300], dom_c[300];
    json_t *ja = NULL;
    CHECK(admin(e, "POST", "/cattube/admin/distributions",
                "{\"originBucket\":\"media\",\"viewerProtocolPolicy\":\"redirect-to-https\","
                "\"comment\":\"cats\"}",
                &ja) == 201);
    const char *id_a_s = json_string_value(json_object_get(ja, "id"));
    char *id_a = id_a_s ? strdup(id_a_s) : NULL;
    snprintf(dom_a, sizeof dom_a, "%s", json_string_value(json_object_get(ja, "domainName")));
    CHECK(id_a && edge_dist_id_valid(id_a));
    char want[512];
    snprintf(want, sizeof want, "arn:aws:cloudfront::123456789012:distribution/%s", id_a);
    CHECK_STR(json_string_value(json_object_get(ja, "arn")), want);
    CHECK_STR(json_string_value(json_object_get(ja, "status")), "Deployed");
    CHECK(json_is_true(json_object_get(ja, "enabled")));
    CHECK_STR(json_string_value(json_object_get(ja, "viewerProtocolPolicy")), "redirect-to-https");
    CHECK_STR(json_string_value(json_object_get(ja, "comment")), "cats");
    CHECK(json_string_value(json_object_get(ja, "createdAt")) != NULL);
    snprintf(want, sizeof want, "https://%s:%u", dom_a, sp);
    CHECK_STR(json_string_value(json_object_get(ja, "url")), want);
    json_decref(ja);
    char lower[32];
    for (int i = 0; id_a && i < 15; i++)
        lower[i] = (char)tolower((unsigned char)id_a[i]);
    snprintf(want, sizeof want, "%s.cattube.localhost", lower);
    CHECK_STR(dom_a, want);
    char *id_b = create_dist(e, "other", "https-only", dom_b, sizeof dom_b);

    char url[1024];
    reply r;
    char h[256];

    /* 200 with the type from the name (stored type is octet-stream). */
    snprintf(url, sizeof url, "https://%s:%u/cat%%20video%%201-hd.mp4", dom_a, sp);
    fetch(url, "GET", NULL, NULL, 0, 1, &r);
    CHECK(r.status == 200);
    CHECK(r.body.len == sizeof small && memcmp(r.body.data, small, sizeof small) == 0);
    CHECK_STR(header(&r, "Content-Type", h, sizeof h), "video/mp4");
    CHECK_STR(header(&r, "Content-Length", h, sizeof h), "1000");
    CHECK_STR(header(&r, "Accept-Ranges", h, sizeof h), "bytes");
    CHECK_STR(header(&r, "Server", h, sizeof h), "CatTube");
    CHECK_STR(header(&r, "X-Cache", h, sizeof h), "Miss from cattube");
    CHECK_STR(header(&r, "Last-Modified", h, sizeof h), "Tue, 14 Nov 2023 22:13:20 GMT");
    CHECK_STR(header(&r, "Cache-Control", h, sizeof h), "public, max-age=3600");
    char etag[128];
    header(&r, "ETag", etag, sizeof etag);
    CHECK(strlen(etag) == 34 && etag[0] == '"');
    /* The certificate served is the persisted one. */
    CHECK(r.cert != NULL);
    if (r.cert && cert1) {
        char *a = strdup(r.cert), *b = strdup(cert1);
        squash(a);
        squash(b);
        CHECK_STR(a, b);
        free(a);
        free(b);
    }
    reply_free(&r);

    /* A verifying client accepts <id>.cattube.localhost against cert.pem
     * (OpenSSL refuses "*.localhost" for <id>.localhost: one label after '*'). */
    {
        CURL *c = curl_easy_init();
        struct curl_slist *ct = curl_slist_append(NULL, "::127.0.0.1:");
        ct_buf sink = CT_BUF_INIT;
        char vurl[512];
        snprintf(vurl, sizeof vurl, "https://%s.cattube.localhost:%u/a+b.txt", lower, sp);
        curl_easy_setopt(c, CURLOPT_URL, vurl);
        curl_easy_setopt(c, CURLOPT_CONNECT_TO, ct);
        curl_easy_setopt(c, CURLOPT_CAINFO, cert_path);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
        CURLcode cc = curl_easy_perform(c);
        long code = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
        CHECK(cc == CURLE_OK && code == 200 && sink.len == 4);
        if (cc != CURLE_OK)
            fprintf(stderr, "verified fetch: %s\n", curl_easy_strerror(cc));
        curl_easy_cleanup(c);
        curl_slist_free_all(ct);
        ct_buf_free(&sink);
    }

    /* Range. */
    fetch(url, "GET", "Range: bytes=0-99", NULL, 0, 0, &r);
    CHECK(r.status == 206);
    CHECK(r.body.len == 100 && memcmp(r.body.data, small, 100) == 0);
    CHECK_STR(header(&r, "Content-Range", h, sizeof h), "bytes 0-99/1000");
    reply_free(&r);
    fetch(url, "GET", "Range: bytes=-10", NULL, 0, 0, &r);
    CHECK(r.status == 206 && r.body.len == 10 && memcmp(r.body.data, small + 990, 10) == 0);
    reply_free(&r);
    fetch(url, "GET", "Range: bytes=5000-", NULL, 0, 0, &r);
    CHECK(r.status == 416);
    CHECK_STR(header(&r, "Content-Range", h, sizeof h), "bytes */1000");
    reply_free(&r);
    fetch(url, "GET", "Range: bytes=0-1,5-6", NULL, 0, 0, &r);
    CHECK(r.status == 206);
    CHECK(strncmp(header(&r, "Content-Type", h, sizeof h), "multipart/byteranges; boundary=",
                  31) == 0);
    CHECK(r.body.len > 4 && strstr(r.body.data, "Content-Range: bytes 5-6/1000\r\n\r\n"));
    reply_free(&r);
    fetch(url, "GET", "Range: bytes=0-999,1-1", NULL, 0, 0, &r); /* more than the object */
    CHECK(r.status == 200 && r.body.len == 1000);
    reply_free(&r);
    fetch(url, "GET", "Range: bytes=0-99", "If-Range: \"stale\"", 0, 0, &r);
    CHECK(r.status == 200 && r.body.len == 1000);
    reply_free(&r);

    /* Conditionals. */
    char inm[160];
    snprintf(inm, sizeof inm, "If-None-Match: %s", etag);
    fetch(url, "GET", inm, NULL, 0, 0, &r);
    CHECK(r.status == 304 && r.body.len == 0);
    CHECK_STR(header(&r, "ETag", h, sizeof h), etag);
    reply_free(&r);
    fetch(url, "GET", "If-None-Match: \"other\"", NULL, 0, 0, &r);
    CHECK(r.status == 200);
    reply_free(&r);
    fetch(url, "GET", "If-Modified-Since: Wed, 15 Nov 2023 00:00:00 GMT", NULL, 0, 0, &r);
    CHECK(r.status == 304);
    reply_free(&r);
    fetch(url, "GET", "If-Modified-Since: Mon, 13 Nov 2023 00:00:00 GMT", NULL, 0, 0, &r);
    CHECK(r.status == 200);
    reply_free(&r);
    fetch(url, "GET", "If-Match: \"nope\"", NULL, 0, 0, &r);
    CHECK(r.status == 412);
    reply_free(&r);

    /* HEAD: headers of the GET, no body. */
    fetch(url, "HEAD", NULL, NULL, 0, 0, &r);
    CHECK(r.status == 200 && r.body.len == 0);
    CHECK_STR(header(&r, "Content-Length", h, sizeof h), "1000");
    CHECK_STR(header(&r, "Content-Type", h, sizeof h), "video/mp4");
    reply_free(&r);

    /* Keep-alive: a second request reuses the TLS connection. */
    {
        CURL *c = curl_easy_init();
        struct curl_slist *ct = curl_slist_append(NULL, "::127.0.0.1:");
        ct_buf sink = CT_BUF_INIT;
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_CONNECT_TO, ct);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
        long conns = -1, code = 0;
        CHECK(curl_easy_perform(c) == CURLE_OK);
        CHECK(curl_easy_perform(c) == CURLE_OK);
        curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &conns);
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
        CHECK(conns == 0 && code == 200 && sink.len == 2000);
        curl_easy_cleanup(c);
        curl_slist_free_all(ct);
        ct_buf_free(&sink);
    }

    /* Methods. */
    fetch(url, "POST", NULL, NULL, 0, 0, &r);
    CHECK(r.status == 403);
    reply_free(&r);
    fetch(url, "PUT", "Content-Length: 5", NULL, 0, 0, &r); /* body never sent: answered early */
    CHECK(r.status == 403);
    reply_free(&r);
    fetch(url, "DELETE", NULL, NULL, 0, 0, &r);
    CHECK(r.status == 403);
    reply_free(&r);
    fetch(url, "OPTIONS", "Origin: https://player.example", NULL, 0, 0, &r);
    CHECK(r.status == 200);
    CHECK_STR(header(&r, "Access-Control-Allow-Origin", h, sizeof h), "*");
    reply_free(&r);

    /* Missing key, '+' in paths, opaque keys, the root. */
    snprintf(url, sizeof url, "https://%s:%u/nope.mp4", dom_a, sp);
    fetch(url, "GET", NULL, NULL, 0, 0, &r);
    /* The shortcut's copy-policy grants s3:GetObject only: like S3, a missing key
     * is then AccessDenied (403), so names cannot be probed. */
    CHECK(r.status == 403 && r.body.data && strstr(r.body.data, "<Code>AccessDenied</Code>"));
    reply_free(&r);
    snprintf(url, sizeof url, "https://%s:%u/a+b.txt", dom_a, sp);
    fetch(url, "GET", NULL, NULL, 0, 0, &r);
    CHECK(r.status == 200 && r.body.len == 4 && memcmp(r.body.data, "plus", 4) == 0);
    CHECK_STR(header(&r, "Content-Type", h, sizeof h), "text/plain");
    CHECK_STR(header(&r, "Cache-Control", h, sizeof h), "no-cache");
    reply_free(&r);
    snprintf(url, sizeof url, "https://%s:%u/a%%2Bb.txt", dom_a, sp);
    fetch(url, "GET", NULL, NULL, 0, 0, &r);
    CHECK(r.status == 200);
    reply_free(&r);
    snprintf(url, sizeof url, "https://%s:%u/a%%20b.txt", dom_a, sp);
    fetch(url, "GET", NULL, NULL, 0, 0, &r);
    CHECK(r.status == 403);
    reply_free(&r);
    snprintf(url, sizeof url, "https://%s:%u/../secret", dom_a, sp);
    fetch(url, "GET", NULL, NULL, 1, 0, &r);
    CHECK(r.status == 200 && r.body.len == 6 && memcmp(r.body.data, "opaque", 6) == 0);
    reply_free(&r);
    snprintf(url, sizeof url, "https://%s:%u/bad%%zz", dom_a, sp);
    fetch(url, "GET", NULL, NULL, 0, 0, &r);
    CHECK(r.status == 400);
    reply_free(&r);
    snprintf(url, sizeof url, "https://%s:%u/", dom_a, sp);
    fetch(url, "GET", NULL, NULL, 0, 0, &r);
    CHECK(r.status == 403);
    reply_free(&r);

    /* A large object over TLS arrives intact. */
    snprintf(url, sizeof url, "https://%s:%u/big.bin", dom_a, sp);
    fetch(url, "GET", NULL, NULL, 0, 0, &r);
    CHECK(r.status == 200 && r.body.len == big_n && memcmp(r.body.data, big, big_n) == 0);
    CHECK_STR(header(&r, "Content-Type", h, sizeof h), "application/x-test");
    reply_free(&r);
    fetch(url, "GET", "Range: bytes=1000000-2500000", NULL, 0, 0, &r);
    CHECK(r.status == 206 && r.body.len == 1500001 &&
          memcmp(r.body.data, big + 1000000, 1500001) == 0);
    reply_free(&r);

    /* Host routing: B serves "other", not "media". */
    snprintf(url, sizeof url, "https://%s:%u/other.txt", dom_b, sp);
    fetch(url, "GET", NULL, NULL, 0, 0, &r);
    CHECK(r.status == 200 && r.body.len == 12);
    reply_free(&r);
    snprintf(url, sizeof url, "https://%s:%u/other.txt", dom_a, sp);
    fetch(url, "GET", NULL, NULL, 0, 0, &r);
    CHECK(r.status == 403);
    reply_free(&r);
    /* Fallback: an IP Host goes to the most recent distribution (B). */
    snprintf(url, sizeof url, "https://127.0.0.1:%u/other.txt", sp);
    fetch(url, "GET", NULL, NULL, 0, 0, &r);
    CHECK(r.status == 200);
    reply_free(&r);
    /* A name that looks like a distribution but is none: refused, no fallback. */
    snprintf(url, sizeof url, "https://e0000000000000.localhost:%u/other.txt", sp);
    fetch(url, "GET", NULL, NULL, 0, 0, &r);
    CHECK(r.status == 403);
    reply_free(&r);

    /* Plain HTTP: 301 to HTTPS keeping the raw path and query; 403 for https-only. */
    snprintf(url, sizeof url, "http://%s:%u/cat%%20video%%201-hd.mp4?a=b+c", dom_a, hp);
    fetch(url, "GET", NULL, NULL, 0, 0, &r);
    CHECK(r.status == 301);
    snprintf(want, sizeof want, "https://%s:%u/cat%%20video%%201-hd.mp4?a=b+c", dom_a, sp);
    CHECK_STR(header(&r, "Location", h, sizeof h), want);
    reply_free(&r);
    snprintf(url, sizeof url, "http://%s:%u/other.txt", dom_b, hp);
    fetch(url, "GET", NULL, NULL, 0, 0, &r);
    CHECK(r.status == 403);
    reply_free(&r);

    /* C: allow-all serves over plain HTTP too (sendfile path). */
    char *id_c = create_dist(e, "media", "allow-all", dom_c, sizeof dom_c);
    snprintf(url, sizeof url, "http://%s:%u/big.bin", dom_c, hp);
    fetch(url, "GET", NULL, NULL, 0, 0, &r);
    CHECK(r.status == 200 && r.body.len == big_n && memcmp(r.body.data, big, big_n) == 0);
    reply_free(&r);
    fetch(url, "GET", "Range: bytes=10-19", NULL, 0, 0, &r);
    CHECK(r.status == 206 && r.body.len == 10 && memcmp(r.body.data, big + 10, 10) == 0);
    reply_free(&r);
    /* The fallback moved to C. */
    snprintf(url, sizeof url, "https://127.0.0.1:%u/other.txt", sp);
    fetch(url, "GET", NULL, NULL, 0, 0, &r);
    CHECK(r.status == 403);
    reply_free(&r);

    /* Admin list / get / delete. */
    CHECK(admin(e, "GET", "/cattube/admin/distributions", NULL, &j) == 200);
    CHECK(json_array_size(json_object_get(j, "distributions")) == 3);
    json_decref(j);
    snprintf(path, sizeof path, "/cattube/admin/distributions/%s", id_b ? id_b : "x");
    CHECK(admin(e, "GET", path, NULL, &j) == 200);
    CHECK_STR(json_string_value(json_object_get(j, "originBucket")), "other");
    json_decref(j);
    snprintf(path, sizeof path, "/cattube/admin/distributions/%s", id_c ? id_c : "x");
    CHECK(admin(e, "DELETE", path, NULL, NULL) == 204);
    CHECK(admin(e, "GET", path, NULL, NULL) == 404);
    CHECK(admin(e, "DELETE", path, NULL, NULL) == 404);
    snprintf(url, sizeof url, "https://127.0.0.1:%u/other.txt", sp); /* back to B */
    fetch(url, "GET", NULL, NULL, 0, 0, &r);
    CHECK(r.status == 200);
    reply_free(&r);

    /* Restart: same certificate, same distributions. */
    ct_edge_stop(e);
    e = NULL;
    CHECK(ct_edge_start(&cfg, meta, store, &e) == CT_OK);
    char *cert2 = read_all(cert_path);
    CHECK(cert1 && cert2 && strcmp(cert1, cert2) == 0);
    if (e) {
        sp = ct_edge_https_port(e);
        snprintf(url, sizeof url, "https://%s:%u/cat%%20video%%201-hd.mp4", dom_a, sp);
        fetch(url, "GET", NULL, NULL, 0, 1, &r);
        CHECK(r.status == 200 && r.body.len == 1000);
        if (r.cert && cert2) {
            char *a = strdup(r.cert), *b = strdup(cert2);
            squash(a);
            squash(b);
            CHECK_STR(a, b);
            free(a);
            free(b);
        }
        reply_free(&r);
    }
    ct_edge_stop(e);

    /* A public host not covered by the persisted certificate regenerates it. */
    cfg.public_host = "cdn.example.test";
    e = NULL;
    CHECK(ct_edge_start(&cfg, meta, store, &e) == CT_OK);
    char *cert3 = read_all(cert_path);
    CHECK(cert3 && cert1 && strcmp(cert3, cert1) != 0);
    if (e) {
        snprintf(path, sizeof path, "/cattube/admin/distributions/%s", id_a ? id_a : "x");
        CHECK(admin(e, "GET", path, NULL, &j) == 200);
        snprintf(want, sizeof want, "%s.cdn.example.test", lower);
        CHECK_STR(json_string_value(json_object_get(j, "domainName")), want);
        json_decref(j);
    }
    ct_edge_stop(e);

    /* A key that does not belong to the certificate (e.g. a torn pair) is
     * replaced, not handed to GnuTLS. */
    CHECK(ct_write_file_atomic(key_path, "garbage\n", 8, 0600) == CT_OK);
    e = NULL;
    CHECK(ct_edge_start(&cfg, meta, store, &e) == CT_OK);
    char *cert4 = read_all(cert_path);
    CHECK(cert4 && cert3 && strcmp(cert4, cert3) != 0);
    if (e) {
        snprintf(url, sizeof url, "https://127.0.0.1:%u/other.txt", ct_edge_https_port(e));
        fetch(url, "GET", NULL, NULL, 0, 0, &r);
        CHECK(r.status == 200);
        reply_free(&r);
    }
    ct_edge_stop(e);
    free(cert4);

    free(cert1);
    free(cert2);
    free(cert3);
    free(id_a);
    free(id_b);
    free(id_c);
    free(big);
    ct_store_close(store);
    ct_meta_close(meta);
}

static int policy_parse_str(const char *json, edge_policy *p)
{
    return edge_policy_parse(json, strlen(json), p);
}

/* Signed URLs: parameters, policy, wildcards, CIDR, canned text. */
static void test_signed_parsers(void)
{
    unsigned char buf[64];
    CHECK(edge_b64url_decode("aGk_", 4, buf, sizeof buf) == 2); /* "hi" + '_' padding */
    CHECK(memcmp(buf, "hi", 2) == 0);
    CHECK(edge_b64url_decode("-~-~", 4, buf, sizeof buf) == 3); /* URL-safe + and / */
    CHECK(buf[0] == 0xfb && buf[1] == 0xff && buf[2] == 0xbf);
    CHECK(edge_b64url_decode("a", 1, buf, sizeof buf) == -1);
    CHECK(edge_b64url_decode("a!bc", 4, buf, sizeof buf) == -1);
    CHECK(edge_b64url_decode("AAAAAAAA", 8, buf, 5) == -1); /* bounded */

    edge_signed s;
    char rest[256];
    memset(&s, 0, sizeof s);
    CHECK(edge_signed_from_query("a=1&Expires=1700000000&Signature=aGk_&Key-Pair-Id=K2AB&b=2",
                                 &s, rest, sizeof rest) == 0);
    CHECK(s.present && !s.bad && s.has_expires && s.expires == 1700000000);
    CHECK_STR(s.key_pair_id, "K2AB");
    CHECK(s.sig_len == 2 && !s.sha256 && !s.policy);
    CHECK_STR(rest, "a=1&b=2");
    edge_signed_free(&s);

    memset(&s, 0, sizeof s);
    CHECK(edge_signed_from_query("Expires=1&Expires=2&Signature=aGk_&Key-Pair-Id=K", &s, rest,
                                 sizeof rest) == 0);
    CHECK(s.bad != NULL); /* duplicate */
    edge_signed_free(&s);
    memset(&s, 0, sizeof s);
    CHECK(edge_signed_from_query("Expires=1&Signature=aGk_", &s, rest, sizeof rest) == 0);
    CHECK(s.bad != NULL); /* no Key-Pair-Id */
    edge_signed_free(&s);
    memset(&s, 0, sizeof s);
    CHECK(edge_signed_from_query("x=1", &s, rest, sizeof rest) == 0);
    CHECK(!s.present && strcmp(rest, "x=1") == 0);
    memset(&s, 0, sizeof s);
    CHECK(edge_signed_from_query("x=12345678", &s, rest, 4) == -1);

    /* Custom policy (base64 of the JSON) in a cookie, SHA256. */
    const char *pol = "{\"Statement\":[{\"Resource\":\"https://h/v/*\",\"Condition\":"
                      "{\"DateLessThan\":{\"AWS:EpochTime\":200},\"DateGreaterThan\":"
                      "{\"AWS:EpochTime\":100},\"IpAddress\":{\"AWS:SourceIp\":"
                      "\"10.1.0.0/16\"}}}]}";
    char *b64 = ct_b64_encode((const unsigned char *)pol, strlen(pol));
    CHECK(b64 != NULL);
    memset(&s, 0, sizeof s);
    edge_signed_from_cookies(b64, "aGk_", "K2AB", NULL, "SHA256", &s);
    CHECK(!s.bad && s.policy && strcmp(s.policy, pol) == 0 && s.sha256);
    char canned[512];
    const char *text = NULL, *why = NULL;
    size_t tl = 0;
    CHECK(edge_signed_conditions(&s, "https://h/v/a.ts", "10.1.2.3", 150, canned, sizeof canned,
                                 &text, &tl, &why) == 0);
    CHECK(text == s.policy && tl == strlen(pol));
    CHECK(edge_signed_conditions(&s, "https://h/w/a.ts", "10.1.2.3", 150, canned, sizeof canned,
                                 &text, &tl, &why) == -1);
    CHECK(edge_signed_conditions(&s, "https://h/v/a.ts", "10.2.2.3", 150, canned, sizeof canned,
                                 &text, &tl, &why) == -1);
    CHECK(edge_signed_conditions(&s, "https://h/v/a.ts", "::ffff:10.1.9.9", 150, canned,
                                 sizeof canned, &text, &tl, &why) == 0);
    CHECK(edge_signed_conditions(&s, "https://h/v/a.ts", "10.1.2.3", 99, canned, sizeof canned,
                                 &text, &tl, &why) == -1);
    CHECK(edge_signed_conditions(&s, "https://h/v/a.ts", "10.1.2.3", 200, canned, sizeof canned,
                                 &text, &tl, &why) == -1);
    edge_signed_free(&s);
    free(b64);

    /* Canned: the policy text is rebuilt exactly as the signer built it. */
    memset(&s, 0, sizeof s);
    edge_signed_from_cookies(NULL, "aGk_", "K2AB", "300", NULL, &s);
    CHECK(edge_signed_conditions(&s, "https://h/a?x=1", NULL, 299, canned, sizeof canned, &text,
                                 &tl, &why) == 0);
    CHECK_STR(text, "{\"Statement\":[{\"Resource\":\"https://h/a?x=1\",\"Condition\":"
                    "{\"DateLessThan\":{\"AWS:EpochTime\":300}}}]}");
    CHECK(edge_signed_conditions(&s, "https://h/a", NULL, 300, canned, sizeof canned, &text, &tl,
                                 &why) == -1);
    CHECK(edge_signed_conditions(&s, "https://h/\"a", NULL, 1, canned, sizeof canned, &text,
                                 &tl, &why) == -1);
    edge_signed_free(&s);

    edge_policy p;
    CHECK(policy_parse_str("{\"Statement\":[{\"Condition\":{\"DateLessThan\":"
                            "{\"AWS:EpochTime\":5}}}]}", &p) == 0);
    CHECK_STR(p.resource, "*");
    CHECK(policy_parse_str("{\"Statement\":[{\"Condition\":{}}]}", &p) == -1);
    CHECK(policy_parse_str("{\"Statement\":[{\"Condition\":{\"DateLessThan\":"
                            "{\"AWS:EpochTime\":\"5\"}}}]}", &p) == -1);
    CHECK(policy_parse_str("{\"Statement\":[{\"Condition\":{\"DateLessThan\":"
                            "{\"AWS:EpochTime\":5},\"Foo\":{}}}]}", &p) == -1);
    CHECK(policy_parse_str("[]", &p) == -1);

    CHECK(edge_glob_match("https://h/*", "https://h/a/b"));
    CHECK(edge_glob_match("https://h/?.ts", "https://h/a.ts"));
    CHECK(!edge_glob_match("https://h/?.ts", "https://h/ab.ts"));
    CHECK(edge_glob_match("*", ""));
    CHECK(edge_glob_match("a*b*c", "axxbyyc"));
    CHECK(!edge_glob_match("a*b*c", "axxbyy"));
    CHECK(!edge_glob_match("https://h/a", "https://h/a/b"));

    memset(&p, 0, sizeof p);
    CHECK(policy_parse_str("{\"Statement\":[{\"Condition\":{\"DateLessThan\":{\"AWS:"
                           "EpochTime\":5},\"IpAddress\":{\"AWS:SourceIp\":"
                           "\"2001:db8::/33\"}}}]}",
                           &p) == 0);
    CHECK(p.has_ip && p.family == 6 && p.prefix == 33);
    CHECK(edge_cidr_match(&p, "2001:db8:7fff::1"));
    CHECK(!edge_cidr_match(&p, "2001:db8:8000::1"));
    CHECK(!edge_cidr_match(&p, "10.0.0.1"));
    CHECK(!edge_cidr_match(&p, NULL));
}

/* ---- the disk cache (edge_disk.c) ---- */

typedef struct {
    const char *text;
    int calls;
    int fail;
    pthread_mutex_t mu;
    edge_disk *invalidate; /* invalidated (all of E1) while "fetching" */
} fill_src;

static ct_err fill_text(void *ctx, const char *tmp)
{
    fill_src *s = ctx;
    pthread_mutex_lock(&s->mu);
    s->calls++;
    pthread_mutex_unlock(&s->mu);
    if (s->fail)
        return CT_ERR_IO;
    usleep(20000); /* a slow origin, so concurrent misses overlap */
    FILE *f = fopen(tmp, "w");
    if (!f)
        return CT_ERR_IO;
    fputs(s->text, f);
    fclose(f);
    if (s->invalidate)
        edge_disk_invalidate(s->invalidate, "E1", "", 1);
    return CT_OK;
}

static int disk_read(edge_disk *dk, const char *ckey, const char *etag, fill_src *s, char *buf,
                     size_t n, int *hit)
{
    int fd = -1;
    uint64_t size = 0;
    memset(buf, 0, n);
    ct_meta_object row = {.bucket = "b", .key = (char *)ckey, .content_type = "text/plain",
                          .size = strlen(s->text)};
    snprintf(row.etag, sizeof row.etag, "%s", etag);
    if (edge_disk_get(dk, ckey, &row, 60, fill_text, s, &fd, &size, hit))
        return -1;
    ssize_t r = pread(fd, buf, n - 1, 0);
    close(fd);
    return r == (ssize_t)size ? 0 : -1;
}

typedef struct {
    edge_disk *dk;
    fill_src *s;
    int ok;
} disk_thread;

static void *disk_worker(void *arg)
{
    disk_thread *t = arg;
    char buf[64];
    int hit;
    t->ok = disk_read(t->dk, "E1/seg.ts", "e1", t->s, buf, sizeof buf, &hit) == 0 &&
            strcmp(buf, "segment") == 0;
    return NULL;
}

static size_t dir_files(const char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "ls '%s' | grep -c '^o'", dir); /* object files */
    FILE *p = popen(cmd, "r");
    unsigned long n = 0;
    if (p) {
        if (fscanf(p, "%lu", &n) != 1)
            n = 0;
        pclose(p);
    }
    return n;
}

/* Writes text over the first file in dir whose name starts with tag. */
static void clobber_first(const char *dir, char tag, const char *text)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char p[1200];
    while (d && (de = readdir(d)))
        if (de->d_name[0] == tag) {
            snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
            FILE *f = fopen(p, "w");
            if (f) {
                fputs(text, f);
                fclose(f);
            }
            break;
        }
    if (d)
        closedir(d);
}

/* A restart reuses the index (rows included); damaged entries, temp files
 * and orphans are dropped; a smaller bound evicts. */
/* The metadata cache (edge_cache.c): a hit marks its entry used and
 * eviction spares a used entry once (CLOCK); hits, misses, inserts,
 * evictions and invalidations from several threads at once (ASan sees any
 * entry freed under a reader). */
typedef struct {
    ct_edge *e;
    const edge_dist *d;
    int id, bad;
} clock_thread;

static void *clock_worker(void *arg)
{
    clock_thread *ct = arg;
    char key[16];
    for (int i = 0; i < 3000; i++) {
        snprintf(key, sizeof key, "k%d", (i * 7 + ct->id) % 12);
        if (ct->id == 0 && i % 50 == 0)
            edge_cache_invalidate(ct->e->cache, ct->d->id, i % 100 ? key : "", i % 100 == 0);
        ct_meta_object o;
        memset(&o, 0, sizeof o);
        int hit = 0;
        if (edge_cache_lookup(ct->e, ct->d, key, &o, &hit) != CT_OK || !o.key ||
            strcmp(o.key, key) != 0 || o.size != 2)
            ct->bad++;
        ct_meta_object_free(&o);
    }
    return NULL;
}

static int clock_get(ct_edge *e, const edge_dist *d, const char *key)
{
    ct_meta_object o;
    memset(&o, 0, sizeof o);
    int hit = -1;
    CHECK(edge_cache_lookup(e, d, key, &o, &hit) == CT_OK && o.size == 2);
    ct_meta_object_free(&o);
    return hit;
}

static void test_meta_cache(void)
{
    if (!open_meta_store("clock.db", "clock-store"))
        return;
    CHECK(ct_meta_bucket_create(meta, "clock") == CT_OK);
    CHECK(ct_meta_bucket_set_policy(
              meta, "clock",
              "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":\"*\","
              "\"Action\":[\"s3:GetObject\",\"s3:ListBucket\"],\"Resource\":["
              "\"arn:aws:s3:::clock\",\"arn:aws:s3:::clock/*\"]}]}") == CT_OK);
    char key[16];
    for (int i = 0; i < 12; i++) {
        snprintf(key, sizeof key, "k%d", i);
        put_object("clock", key, "xy", 2, "text/plain", NULL);
    }
    ct_edge e;
    memset(&e, 0, sizeof e);
    e.meta = meta;
    e.store = store;
    e.account_id = "123456789012";
    edge_dist d;
    memset(&d, 0, sizeof d);
    strcpy(d.id, "E1");
    strcpy(d.origin_bucket, "clock");
    d.default_ttl = d.max_ttl = 3600;

    /* One entry's size, then a cache that holds two. */
    e.cache = edge_cache_new(1 << 20);
    CHECK(clock_get(&e, &d, "k0") == 0 && clock_get(&e, &d, "k0") == 1);
    edge_cache_stats st;
    edge_cache_get_stats(e.cache, &st);
    CHECK(st.entries == 1 && st.hits == 1 && st.misses == 1);
    size_t one = st.bytes;
    edge_cache_free(e.cache);
    e.cache = edge_cache_new(one * 5 / 2);
    CHECK(clock_get(&e, &d, "k0") == 0 && clock_get(&e, &d, "k1") == 0);
    CHECK(clock_get(&e, &d, "k0") == 1);   /* k0 used, k1 not */
    CHECK(clock_get(&e, &d, "k2") == 0);   /* evicts k1, the oldest unused */
    CHECK(clock_get(&e, &d, "k0") == 1 && clock_get(&e, &d, "k2") == 1);
    CHECK(clock_get(&e, &d, "k1") == 0);
    edge_cache_get_stats(e.cache, &st);
    CHECK(st.entries == 2 && st.evictions == 2);
    edge_cache_free(e.cache);

    /* Threads: 12 keys through a cache of 5. */
    e.cache = edge_cache_new(one * 5);
    clock_thread th[4];
    pthread_t tid[4];
    for (int i = 0; i < 4; i++) {
        th[i] = (clock_thread){.e = &e, .d = &d, .id = i};
        CHECK(pthread_create(&tid[i], NULL, clock_worker, &th[i]) == 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(tid[i], NULL);
        CHECK(th[i].bad == 0);
    }
    edge_cache_get_stats(e.cache, &st);
    CHECK(st.hits > 0 && st.evictions > 0 && st.invalidated > 0 && st.entries <= 5);
    edge_cache_free(e.cache);
    ct_store_close(store);
    ct_meta_close(meta);
    store = NULL;
    meta = NULL;
}

static void test_disk_restart(const char *dir, const char *cdir, fill_src *seg)
{
    char buf[64], p[800];
    int hit = -1;
    edge_disk *dk = edge_disk_open(dir, 20);
    CHECK(dk != NULL);
    if (!dk)
        return;
    CHECK(dir_files(cdir) >= 1);
    ct_meta_object row;
    int64_t ttl = 0;
    CHECK(edge_disk_row(dk, "E1/seg.ts", &row, &ttl) == 1 && ttl > 50 && ttl <= 60);
    CHECK_STR(row.etag, "e1");
    CHECK_STR(row.content_type, "text/plain");
    CHECK(row.size == 7);
    ct_meta_object_free(&row);
    CHECK(edge_disk_row(dk, "E1/none", &row, &ttl) == 0);
    CHECK(disk_read(dk, "E1/seg.ts", "e1", seg, buf, sizeof buf, &hit) == 0 && hit);
    CHECK_STR(buf, "segment");
    CHECK(seg->calls == 1);
    fill_src x = {.text = "xxxxxxxx"};
    pthread_mutex_init(&x.mu, NULL);
    CHECK(disk_read(dk, "E1/x", "ex", &x, buf, sizeof buf, &hit) == 0 && !hit);
    edge_disk_free(dk);
    /* leftovers of a crash: a temp file, an orphan object file, a torn metadata file */
    snprintf(p, sizeof p, "%s/t00000000000000ff", cdir);
    FILE *f = fopen(p, "w");
    if (f)
        fclose(f);
    snprintf(p, sizeof p, "%s/o00000000000000fe", cdir);
    if ((f = fopen(p, "w")))
        fclose(f);
    clobber_first(cdir, 'm', "{\"ckey\": ");
    dk = edge_disk_open(dir, 20);
    CHECK(dk && dir_files(cdir) == 1);
    edge_disk_stats st;
    edge_disk_get_stats(dk, &st);
    CHECK(st.bytes == 7 || st.bytes == 8);
    edge_disk_free(dk);
    /* an object file whose size disagrees with its metadata is dropped */
    clobber_first(cdir, 'o', "short");
    dk = edge_disk_open(dir, 20);
    CHECK(dk && dir_files(cdir) == 0);
    CHECK(disk_read(dk, "E1/x", "ex", &x, buf, sizeof buf, &hit) == 0 && !hit);
    CHECK(disk_read(dk, "E1/seg.ts", "e1", seg, buf, sizeof buf, &hit) == 0 && !hit);
    edge_disk_free(dk);
    /* a smaller bound: the least recently filled entry goes */
    dk = edge_disk_open(dir, 10);
    CHECK(dk && dir_files(cdir) == 1);
    CHECK(disk_read(dk, "E1/seg.ts", "e1", seg, buf, sizeof buf, &hit) == 0 && hit);
    edge_disk_free(dk);
}

static void test_disk_cache(void)
{
    char dir[600], cdir[700];
    snprintf(dir, sizeof dir, "%s/disk", tmpdir);
    mkdir(dir, 0700);
    snprintf(cdir, sizeof cdir, "%s/edge-cache", dir);
    edge_disk *dk = edge_disk_open(dir, 20); /* 20 bytes */
    CHECK(dk != NULL);
    if (!dk)
        return;
    fill_src a = {.text = "aaaaaaaa"}, b = {.text = "bbbbbbbb"}, c = {.text = "cccccccc"};
    pthread_mutex_init(&a.mu, NULL);
    pthread_mutex_init(&b.mu, NULL);
    pthread_mutex_init(&c.mu, NULL);
    char buf[64];
    int hit = -1;
    CHECK(disk_read(dk, "E1/a", "ea", &a, buf, sizeof buf, &hit) == 0 && !hit);
    CHECK_STR(buf, "aaaaaaaa");
    CHECK(disk_read(dk, "E1/a", "ea", &a, buf, sizeof buf, &hit) == 0 && hit && a.calls == 1);
    CHECK(disk_read(dk, "E1/b", "eb", &b, buf, sizeof buf, &hit) == 0 && !hit);
    /* a is the most recent again; c (8 bytes) evicts the LRU entry, b */
    CHECK(disk_read(dk, "E1/a", "ea", &a, buf, sizeof buf, &hit) == 0 && hit);
    CHECK(disk_read(dk, "E1/c", "ec", &c, buf, sizeof buf, &hit) == 0 && !hit);
    CHECK(dir_files(cdir) == 2);
    CHECK(disk_read(dk, "E1/a", "ea", &a, buf, sizeof buf, &hit) == 0 && hit);
    CHECK(disk_read(dk, "E1/b", "eb", &b, buf, sizeof buf, &hit) == 0 && !hit && b.calls == 2);
    edge_disk_stats st;
    edge_disk_get_stats(dk, &st);
    CHECK(st.evictions >= 1 && st.bytes <= 20);
    /* a new origin ETag refetches; an invalidation (prefix) drops */
    CHECK(disk_read(dk, "E1/a", "ea2", &a, buf, sizeof buf, &hit) == 0 && !hit && a.calls == 2);
    edge_disk_invalidate(dk, "E1", "", 1);
    CHECK(dir_files(cdir) == 0);
    CHECK(disk_read(dk, "E1/a", "ea2", &a, buf, sizeof buf, &hit) == 0 && !hit && a.calls == 3);
    /* an invalidation while a fetch is under way: its bytes are served, not kept */
    fill_src racing = {.text = "racing", .invalidate = dk};
    pthread_mutex_init(&racing.mu, NULL);
    CHECK(disk_read(dk, "E1/r", "er", &racing, buf, sizeof buf, &hit) == 0 && !hit);
    CHECK_STR(buf, "racing");
    racing.invalidate = NULL;
    CHECK(disk_read(dk, "E1/r", "er", &racing, buf, sizeof buf, &hit) == 0 && !hit &&
          racing.calls == 2);
    edge_disk_invalidate(dk, "E1", "r", 0);
    /* larger than the whole cache: served once from an unlinked temp file, not kept */
    fill_src big = {.text = "0123456789012345678901234567890123456789"};
    pthread_mutex_init(&big.mu, NULL);
    CHECK(disk_read(dk, "E1/big", "eg", &big, buf, sizeof buf, &hit) == 0);
    CHECK_STR(buf, "0123456789012345678901234567890123456789");
    CHECK(disk_read(dk, "E1/big", "eg", &big, buf, sizeof buf, &hit) == 0 && big.calls == 2);
    /* a failed fetch is not cached */
    fill_src bad = {.text = "x", .fail = 1};
    pthread_mutex_init(&bad.mu, NULL);
    CHECK(disk_read(dk, "E1/bad", "ex", &bad, buf, sizeof buf, &hit) == -1);
    /* 8 concurrent misses on one key: one fetch */
    fill_src seg = {.text = "segment"};
    pthread_mutex_init(&seg.mu, NULL);
    disk_thread th[8];
    pthread_t tid[8];
    for (int i = 0; i < 8; i++) {
        th[i] = (disk_thread){dk, &seg, 0};
        pthread_create(&tid[i], NULL, disk_worker, &th[i]);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(tid[i], NULL);
        CHECK(th[i].ok);
    }
    CHECK(seg.calls == 1);
    edge_disk_free(dk);
    test_disk_restart(dir, cdir, &seg);
}

static void test_range_gzip_parsers(void)
{
    edge_range rg[EDGE_RANGES_MAX];
    CHECK(edge_ranges_parse("bytes=0-9", 100, rg, EDGE_RANGES_MAX) == 1);
    CHECK(rg[0].start == 0 && rg[0].end == 9);
    CHECK(edge_ranges_parse("bytes=0-9, 20-29,-5", 100, rg, EDGE_RANGES_MAX) == 3);
    CHECK(rg[1].start == 20 && rg[1].end == 29 && rg[2].start == 95 && rg[2].end == 99);
    CHECK(edge_ranges_parse("bytes=0-9,,500-", 100, rg, EDGE_RANGES_MAX) == 1); /* 500- dropped */
    CHECK(edge_ranges_parse("bytes=500-,600-700", 100, rg, EDGE_RANGES_MAX) == -1);
    CHECK(edge_ranges_parse("bytes=0-9,x", 100, rg, EDGE_RANGES_MAX) == 0); /* syntax */
    CHECK(edge_ranges_parse("items=0-9", 100, rg, EDGE_RANGES_MAX) == 0);
    CHECK(edge_ranges_parse("bytes=", 100, rg, EDGE_RANGES_MAX) == 0);
    CHECK(edge_ranges_parse("bytes=0-99,0-0", 100, rg, EDGE_RANGES_MAX) == 0); /* overlap */
    CHECK(edge_ranges_parse("bytes=0-0,1-1,2-2", 100, rg, 2) == 0);            /* too many */
    CHECK(edge_ranges_parse("bytes=-0", 100, rg, EDGE_RANGES_MAX) == -1);
    CHECK(edge_ranges_parse("bytes=0-", 0, rg, EDGE_RANGES_MAX) == -1);

    /* CacheBehaviors: first match wins, with or without the leading '/'. */
    edge_dist d;
    memset(&d, 0, sizeof d);
    d.policy = EDGE_VPP_REDIRECT;
    d.n_behaviors = 2;
    snprintf(d.behaviors[0].pattern, sizeof d.behaviors[0].pattern, "*.m3u8");
    d.behaviors[0].compress = 1;
    d.behaviors[0].policy = EDGE_VPP_ALLOW_ALL;
    snprintf(d.behaviors[1].pattern, sizeof d.behaviors[1].pattern, "/secure/*");
    d.behaviors[1].policy = EDGE_VPP_HTTPS_ONLY;
    d.behaviors[1].default_ttl = 5;
    edge_dist x = d;
    CHECK(edge_behavior_select(&x, "/a/b.m3u8", 9) == 0 && x.compress &&
          x.policy == EDGE_VPP_ALLOW_ALL);
    x = d;
    CHECK(edge_behavior_select(&x, "/secure/k.m3u8?q", 14) == 0); /* first match wins */
    x = d;
    CHECK(edge_behavior_select(&x, "/secure/k.ts", 12) == 1 && x.policy == EDGE_VPP_HTTPS_ONLY &&
          x.default_ttl == 5 && !x.compress);
    x = d;
    CHECK(edge_behavior_select(&x, "/insecure/k.ts", 14) == -1 && x.policy == EDGE_VPP_REDIRECT);

    CHECK(edge_accepts_gzip("gzip"));
    CHECK(edge_accepts_gzip("br, gzip;q=0.5, deflate"));
    CHECK(edge_accepts_gzip("*"));
    CHECK(edge_accepts_gzip("x-gzip"));
    CHECK(!edge_accepts_gzip("gzip;q=0"));
    CHECK(!edge_accepts_gzip("gzip; q=0.000, *"));
    CHECK(!edge_accepts_gzip("*;q=0"));
    CHECK(!edge_accepts_gzip("identity, br"));
    CHECK(!edge_accepts_gzip("gzipx"));
    CHECK(!edge_accepts_gzip(NULL));
    CHECK(edge_gzip_type("application/vnd.apple.mpegurl"));
    CHECK(edge_gzip_type("application/dash+xml"));
    CHECK(edge_gzip_type("text/vtt; charset=utf-8"));
    CHECK(edge_gzip_type("application/json"));
    CHECK(!edge_gzip_type("video/mp4"));
    CHECK(!edge_gzip_type("image/jpeg"));
    CHECK(edge_gzip_size_ok(1000) && edge_gzip_size_ok(10000000));
    CHECK(!edge_gzip_size_ok(999) && !edge_gzip_size_ok(10000001));
}

int main(void)
{
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    if (getenv("CT_TEST_DEBUG"))
        ct_log_set_level(CT_LOG_DEBUG);
    else
        ct_log_set_level(CT_LOG_WARN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    test_parsers();
    test_edge_xml();
    test_signed_parsers();
    test_range_gzip_parsers();
    test_disk_cache();
    test_meta_cache();
    test_end_to_end();
    curl_global_cleanup();
    ct_test_rmdir(tmpdir);
    CT_TEST_END();
}
