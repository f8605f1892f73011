/* test_client: the outbound client against CatTube's own http server, which
 * verifies every SigV4 signature with iam (no mocks of the signer). */
#include "client/client.h"
#include "ct_test.h"
#include "http/http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#define AK "AKIACLIENTTEST000001"
#define SK "ClientTestSecret0123456789abcdefghijklmn"

static char last_target[2048], last_body[8192];
static ct_err last_auth;

static int multipart_handle(ct_http_req *req, ct_http_resp *resp);

static ct_err secret_fn(void *ctx, const char *ak, char *secret, size_t n, ct_principal *p)
{
    if (strcmp(ak, AK) != 0)
        return CT_ERR_NOT_FOUND;
    snprintf(secret, n, "%s", SK);
    return CT_OK;
}

static void handle(void *ctx, ct_http_req *req, ct_http_resp *resp)
{
    snprintf(last_target, sizeof last_target, "%s", req->raw_target);
    snprintf(last_body, sizeof last_body, "%.*s", (int)req->body_len, req->body ? req->body : "");
    last_auth = req->auth_err;
    if (req->auth_err) {
        resp->status = 403;
        ct_buf_puts(&resp->body, "<Error><Code>SignatureDoesNotMatch</Code><Message>bad"
                                 "</Message></Error>");
        return;
    }
    if (multipart_handle(req, resp))
        return;
    if (strstr(req->raw_target, "/denied")) {
        resp->status = 403;
        ct_buf_puts(&resp->body, "<?xml version=\"1.0\"?><Error><Code>AccessDenied</Code>"
                                 "<Message>Access Denied</Message></Error>");
        return;
    }
    if (strstr(req->raw_target, "/broken")) {
        resp->status = 503;
        ct_buf_puts(&resp->body, "<Error><Code>SlowDown</Code><Message>later</Message></Error>");
        return;
    }
    resp->status = 200;
    ct_http_resp_header(resp, "ETag", "\"0123abcd\"");
    ct_http_resp_header(resp, "Content-Type", "video/mp4");
    ct_http_resp_header(resp, "Last-Modified", "Mon, 02 Jan 2006 15:04:05 GMT");
    if (strcmp(req->method, "GET") == 0)
        ct_buf_puts(&resp->body, "hello from the server");
}

/* ---- a minimal multipart upload emulation: parts are streamed ---- */
static uint64_t part_sizes[8];
static int parts_seen, aborted, fail_part;
static char complete_body[4096];

typedef struct {
    int num;
    uint64_t n;
} part_state;

static int wants_stream(void *ctx, const ct_http_req *req)
{
    return strcmp(req->method, "PUT") == 0 && strstr(req->raw_target, "partNumber=") != NULL;
}

static void *stream_begin(void *ctx, ct_http_req *req, ct_http_resp *resp)
{
    part_state *st = calloc(1, sizeof *st);
    st->num = atoi(strstr(req->raw_target, "partNumber=") + 11);
    last_auth = req->auth_err;
    return st;
}

static ct_err stream_data(void *state, const char *p, size_t n)
{
    ((part_state *)state)->n += n;
    return CT_OK;
}

static void stream_end(void *state, ct_http_req *req, ct_http_resp *resp)
{
    part_state *st = state;
    char etag[64];
    if (st->num == fail_part) {
        resp->status = 500;
        ct_buf_puts(&resp->body, "<Error><Code>InternalError</Code><Message>disk on fire"
                                 "</Message></Error>");
    } else {
        if (st->num >= 1 && st->num <= 8)
            part_sizes[st->num - 1] = st->n;
        parts_seen++;
        snprintf(etag, sizeof etag, "\"etag-%d\"", st->num);
        resp->status = 200;
        ct_http_resp_header(resp, "ETag", etag);
    }
    free(st);
}

static void stream_abort(void *state) { free(state); }

/* POST ?uploads, POST ?uploadId (complete), DELETE ?uploadId (abort). */
static int multipart_handle(ct_http_req *req, ct_http_resp *resp)
{
    if (strcmp(req->method, "POST") == 0 && strcmp(req->query, "uploads") == 0) {
        resp->status = 200;
        ct_buf_puts(&resp->body, "<InitiateMultipartUploadResult><UploadId>up+1/x</UploadId>"
                                 "</InitiateMultipartUploadResult>");
        return 1;
    }
    if (strcmp(req->method, "POST") == 0 && strstr(req->query, "uploadId=up%2B1%2Fx")) {
        snprintf(complete_body, sizeof complete_body, "%s", req->body);
        resp->status = 200;
        ct_buf_puts(&resp->body, "<CompleteMultipartUploadResult><ETag>\"whole-3\"</ETag>"
                                 "</CompleteMultipartUploadResult>");
        return 1;
    }
    if (strcmp(req->method, "DELETE") == 0 && strstr(req->query, "uploadId=up%2B1%2Fx")) {
        aborted = 1;
        resp->status = 204;
        return 1;
    }
    return 0;
}

static int free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t l = sizeof a;
    bind(s, (struct sockaddr *)&a, sizeof a);
    getsockname(s, (struct sockaddr *)&a, &l);
    close(s);
    return ntohs(a.sin_port);
}

static void test_url(ct_client *c)
{
    ct_buf u = CT_BUF_INIT;
    CHECK(ct_client_s3_url(c, "bkt", "a b/\xc3\xbc+x~.mp4", NULL, &u) == CT_OK);
    CHECK(u.data && strstr(u.data, "/bkt/a%20b/%C3%BC%2Bx~.mp4") != NULL);
    CHECK(ct_client_s3_url(c, "bkt", "k", "uploadId=a%2Bb", &u) == CT_OK);
    CHECK(u.data && strstr(u.data, "/bkt/k?uploadId=a%2Bb") != NULL);
    ct_buf_free(&u);
}

static void test_signed_requests(ct_client *c, const char *dir)
{
    ct_client_resp resp;
    char path[512], out[512];
    snprintf(path, sizeof path, "%s/body.bin", dir);
    snprintf(out, sizeof out, "%s/got.bin", dir);
    FILE *f = fopen(path, "w");
    fputs("file body bytes", f);
    fclose(f);
    /* streamed file body, SHA-256 computed first, key with space/unicode/+ */
    CHECK(ct_client_s3_put_file(c, "bkt", "a b/\xc3\xbc+x.mp4", path, "video/mp4", NULL, NULL,
                                &resp) == CT_OK);
    CHECK(last_auth == CT_OK);
    CHECK_STR(last_target, "/bkt/a%20b/%C3%BC%2Bx.mp4");
    CHECK_STR(last_body, "file body bytes");
    CHECK_STR(resp.etag, "\"0123abcd\"");
    /* memory body, unsigned payload, extra x-amz header signed */
    const char *hdrs[] = {"x-amz-meta-who: test", NULL};
    ct_client_req r = {.method = "PUT", .body = "mem", .body_len = 3, .unsigned_payload = 1,
                       .headers = hdrs};
    ct_buf url = CT_BUF_INIT;
    ct_client_s3_url(c, "bkt", "m", NULL, &url);
    r.url = url.data;
    CHECK(ct_client_request(c, &r, &resp) == CT_OK && resp.status == 200);
    CHECK(last_auth == CT_OK);
    CHECK_STR(last_body, "mem");
    ct_buf_free(&url);
    /* GET to a file, HEAD */
    CHECK(ct_client_s3_get_file(c, "bkt", "k", NULL, out, NULL, NULL, &resp) == CT_OK);
    char *text = NULL;
    CHECK(ct_read_file(out, 1024, &text, NULL) == CT_OK);
    CHECK_STR(text, "hello from the server");
    free(text);
    CHECK_STR(resp.content_type, "video/mp4");
    CHECK_STR(resp.last_modified, "Mon, 02 Jan 2006 15:04:05 GMT");
    CHECK(resp.content_length == 21);
    CHECK(ct_client_s3_head(c, "bkt", "k", &resp) == CT_OK && resp.status == 200);
}

static void test_multipart(const char *ep, const char *dir)
{
    char path[512];
    snprintf(path, sizeof path, "%s/big.bin", dir);
    static char kib[1024];
    memset(kib, 'x', sizeof kib);
    FILE *f = fopen(path, "w");
    for (int i = 0; i < 11 * 1024; i++)
        fwrite(kib, 1, sizeof kib, f); /* 11 MiB */
    fclose(f);
    ct_client_config cfg = {.endpoint = ep, .access_key = AK, .secret_key = SK,
                            .multipart_threshold = 1, .part_size = 1}; /* parts of 5 MiB */
    ct_client *c = NULL;
    ct_client_resp resp;
    CHECK(ct_client_open(&cfg, &c) == CT_OK);
    CHECK(ct_client_s3_put_file(c, "bkt", "big key", path, "video/mp4", NULL, NULL, &resp) ==
          CT_OK);
    CHECK(last_auth == CT_OK);
    CHECK(parts_seen == 3);
    CHECK(part_sizes[0] == 5u << 20 && part_sizes[1] == 5u << 20 && part_sizes[2] == 1u << 20);
    CHECK_STR(complete_body, "<CompleteMultipartUpload>"
                             "<Part><PartNumber>1</PartNumber><ETag>&quot;etag-1&quot;</ETag></Part>"
                             "<Part><PartNumber>2</PartNumber><ETag>&quot;etag-2&quot;</ETag></Part>"
                             "<Part><PartNumber>3</PartNumber><ETag>&quot;etag-3&quot;</ETag></Part>"
                             "</CompleteMultipartUpload>");
    CHECK_STR(resp.etag, "\"whole-3\"");
    CHECK(!aborted);
    /* a failing part: the upload is aborted, the part's error is reported */
    fail_part = 2;
    CHECK(ct_client_s3_put_file(c, "bkt", "big key", path, NULL, NULL, NULL, &resp) == CT_ERR_IO);
    CHECK(resp.retryable && strcmp(resp.err_code, "InternalError") == 0);
    CHECK_STR(resp.err_message, "disk on fire");
    CHECK(aborted);
    fail_part = 0;
    ct_client_close(c);
}

static void test_errors(ct_client *c, const char *dir, int port)
{
    ct_client_resp resp;
    char out[512];
    snprintf(out, sizeof out, "%s/denied.bin", dir);
    CHECK(ct_client_s3_get_file(c, "bkt", "denied", NULL, out, NULL, NULL, &resp) ==
          CT_ERR_DENIED);
    CHECK_STR(resp.err_code, "AccessDenied");
    CHECK_STR(resp.err_message, "Access Denied");
    CHECK(access(out, F_OK) != 0); /* no partial file left */
    CHECK(ct_client_s3_head(c, "bkt", "broken", &resp) == CT_ERR_IO && resp.retryable);
    /* a wrong secret: the server's verification fails */
    char ep[64];
    snprintf(ep, sizeof ep, "http://127.0.0.1:%d", port);
    ct_client_config bad = {.endpoint = ep, .access_key = AK, .secret_key = "wrong"};
    ct_client *b = NULL;
    CHECK(ct_client_open(&bad, &b) == CT_OK);
    CHECK(ct_client_s3_head(b, "bkt", "k", &resp) != CT_OK);
    CHECK(last_auth == CT_ERR_AUTH);
    ct_client_close(b);
    /* nothing listening: a retryable transport error */
    snprintf(ep, sizeof ep, "http://127.0.0.1:%d", free_port());
    bad.endpoint = ep;
    bad.secret_key = SK;
    CHECK(ct_client_open(&bad, &b) == CT_OK);
    CHECK(ct_client_s3_head(b, "bkt", "k", &resp) == CT_ERR_IO && resp.retryable &&
          resp.status == 0 && strcmp(resp.err_code, "NetworkError") == 0);
    ct_client_close(b);
}

/* A self-signed certificate and its key, PEM, appended to buf. */
static void pem_cert_and_key(ct_buf *buf)
{
    EVP_PKEY *k = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    BIO *b = BIO_new(BIO_s_mem());
    CHECK(k && x && b);
    if (!k || !x || !b)
        goto cleanup;
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                               (const unsigned char *)"ct test", -1, -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(x));
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, k);
    CHECK(X509_sign(x, k, EVP_sha256()) > 0);
    CHECK(PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL) == 1);
    CHECK(PEM_write_bio_X509(b, x) == 1);
    char *p;
    long n = BIO_get_mem_data(b, &p);
    CHECK(ct_buf_append(buf, p, (size_t)n) == CT_OK);
cleanup:
    BIO_free(b);
    X509_free(x);
    EVP_PKEY_free(k);
}

/* ct_client_ca_file_check: a key beside the certificate is skipped; a
 * broken certificate after a good one, an empty file, a missing one fail. */
static void test_ca_file_check(const char *dir)
{
    char path[256], why[128] = "";
    snprintf(path, sizeof path, "%s/ca.pem", dir);
    ct_buf pem = CT_BUF_INIT;
    pem_cert_and_key(&pem);
    CHECK(ct_write_file_atomic(path, pem.data, pem.len, 0600) == CT_OK);
    CHECK(ct_client_ca_file_check(path, why, sizeof why) == CT_OK);
    const char *broken = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    CHECK(ct_buf_append(&pem, broken, strlen(broken)) == CT_OK);
    CHECK(ct_write_file_atomic(path, pem.data, pem.len, 0600) == CT_OK);
    CHECK(ct_client_ca_file_check(path, why, sizeof why) == CT_ERR_INVALID);
    CHECK_STR(why, "a certificate in it does not parse");
    CHECK(ct_write_file_atomic(path, "", 0, 0600) == CT_OK);
    CHECK(ct_client_ca_file_check(path, why, sizeof why) == CT_ERR_INVALID);
    CHECK(strncmp(why, "no PEM certificate", 18) == 0);
    snprintf(path, sizeof path, "%s/missing.pem", dir);
    CHECK(ct_client_ca_file_check(path, why, sizeof why) == CT_ERR_NOT_FOUND);
    CHECK_STR(why, "no such file");
    ct_buf_free(&pem);
}

int main(void)
{
    char dir[] = "/tmp/ct-client-XXXXXX", listen[64], ep[64];
    CHECK(mkdtemp(dir) != NULL);
    CHECK(ct_client_global_init() == CT_OK);
    int port = free_port();
    snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
    snprintf(ep, sizeof ep, "http://127.0.0.1:%d", port);
    ct_http_handlers h = {.secret = secret_fn, .handle = handle, .wants_stream = wants_stream,
                          .stream_begin = stream_begin, .stream_data = stream_data,
                          .stream_end = stream_end, .stream_abort = stream_abort};
    ct_http_server *srv = NULL;
    CHECK(ct_http_server_start(listen, &h, &srv) == CT_OK);
    ct_client_config cfg = {.endpoint = ep, .access_key = AK, .secret_key = SK};
    ct_client *c = NULL;
    CHECK(ct_client_open(&cfg, &c) == CT_OK);
    if (srv && c) {
        test_url(c);
        test_signed_requests(c, dir);
        test_errors(c, dir, port);
        test_multipart(ep, dir);
    }
    test_ca_file_check(dir);
    ct_client_close(c);
    ct_http_server_stop(srv);
    ct_client_global_cleanup();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
    CT_TEST_END();
}
