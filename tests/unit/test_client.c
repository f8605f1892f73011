/* test_client: the outbound client against CatTube's own http server, which
 * verifies every SigV4 signature with iam (no mocks of the signer). */
#include "client/client.h"
#include "ct_test.h"
#include "http/http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#define AK "AKIACLIENTTEST000001"
#define SK "ClientTestSecret0123456789abcdefghijklmn"

static char last_target[2048], last_body[8192];
static ct_err last_auth;

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

int main(void)
{
    char dir[] = "/tmp/ct-client-XXXXXX", listen[64], ep[64];
    CHECK(mkdtemp(dir) != NULL);
    CHECK(ct_client_global_init() == CT_OK);
    int port = free_port();
    snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
    snprintf(ep, sizeof ep, "http://127.0.0.1:%d", port);
    ct_http_handlers h = {.secret = secret_fn, .handle = handle};
    ct_http_server *srv = NULL;
    CHECK(ct_http_server_start(listen, &h, &srv) == CT_OK);
    ct_client_config cfg = {.endpoint = ep, .access_key = AK, .secret_key = SK};
    ct_client *c = NULL;
    CHECK(ct_client_open(&cfg, &c) == CT_OK);
    if (srv && c) {
        test_url(c);
        test_signed_requests(c, dir);
        test_errors(c, dir, port);
    }
    ct_client_close(c);
    ct_http_server_stop(srv);
    ct_client_global_cleanup();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
    CT_TEST_END();
}
