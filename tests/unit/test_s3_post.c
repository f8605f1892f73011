/* Unit tests for POST Object's pieces: the streaming multipart/form-data
 * parser (every split of the body into two reads, and byte by byte, must
 * give the same parts) and the policy document check. */
#include "ct_test.h"
#include "s3/s3_post.h"

#include <stdlib.h>

typedef struct {
    ct_buf log; /* "name|filename|type=value;" per part */
} rec;

static ct_err on_begin(void *ctx, const char *name, const char *filename, const char *ctype)
{
    rec *r = ctx;
    ct_buf_printf(&r->log, "%s|%s|%s=", name, filename ? filename : "-", ctype ? ctype : "-");
    return CT_OK;
}

static ct_err on_data(void *ctx, const char *p, size_t n)
{
    return ct_buf_append(&((rec *)ctx)->log, p, n);
}

static ct_err on_end(void *ctx) { return ct_buf_puts(&((rec *)ctx)->log, ";"); }

static const s3_form_cb CB = {on_begin, on_data, on_end};
#define CT "multipart/form-data; boundary=AaB03x"

/* Parses body split at `split` (0: byte by byte); returns the log (heap) or
 * NULL on error, with the error in *e. */
static char *parse(const char *ct, const char *body, size_t len, size_t split, ct_err *e)
{
    rec r = {CT_BUF_INIT};
    char msg[160];
    s3_form *f = s3_form_new(ct, &CB, &r, msg, sizeof msg);
    *e = f ? CT_OK : CT_ERR_INVALID;
    if (!f)
        return NULL;
    if (split == 0) {
        for (size_t i = 0; i < len && !*e; i++)
            *e = s3_form_feed(f, body + i, 1);
    } else {
        *e = s3_form_feed(f, body, split);
        if (!*e)
            *e = s3_form_feed(f, body + split, len - split);
    }
    if (!*e)
        *e = s3_form_finish(f);
    s3_form_free(f);
    ct_buf_append(&r.log, "", 0);
    if (*e) {
        ct_buf_free(&r.log);
        return NULL;
    }
    return ct_buf_take(&r.log);
}

static void test_form_splits(void)
{
    static const char body[] =
        "preamble\r\n--AaB03x\r\n"
        "Content-Disposition: form-data; name=\"key\"\r\n\r\n"
        "up/${filename}\r\n"
        "--AaB03x\r\n"
        "content-disposition: form-data; name=\"file\"; filename=\"a \\\"b\\\".txt\"\r\n"
        "Content-Type: text/plain\r\n\r\n"
        "line1\r\n--AaB03\r\n\r--AaB03x-not-yet\r\r\n\r\n"
        "--AaB03x--\r\nepilogue";
    const char *want = "key|-|-=up/${filename};"
                       "file|a \"b\".txt|text/plain=line1\r\n--AaB03\r\n\r--AaB03x-not-yet\r\r\n;";
    size_t len = sizeof body - 1;
    int all_same = 1;
    for (size_t split = 0; split < len; split++) {
        ct_err e;
        char *got = parse(CT, body, len, split, &e);
        if (!got || strcmp(got, want) != 0) {
            all_same = 0;
            fprintf(stderr, "split %zu: %s\n", split, got ? got : ct_err_str(e));
        }
        free(got);
    }
    CHECK(all_same);
}

static void test_form_errors(void)
{
    ct_err e;
    char *got;
    static const char unterminated[] = "--AaB03x\r\nContent-Disposition: form-data; name=\"a\""
                                       "\r\n\r\nvalue";
    CHECK((got = parse(CT, unterminated, sizeof unterminated - 1, 5, &e)) == NULL &&
          e == CT_ERR_INVALID);
    static const char nodisp[] = "--AaB03x\r\nX: y\r\n\r\nv\r\n--AaB03x--";
    CHECK(parse(CT, nodisp, sizeof nodisp - 1, 3, &e) == NULL && e == CT_ERR_INVALID);
    static const char badline[] = "--AaB03xZ\r\n";
    CHECK(parse(CT, badline, sizeof badline - 1, 3, &e) == NULL && e == CT_ERR_INVALID);
    /* boundaries: quoted accepted; missing, too long or with bad bytes refused */
    static const char empty[] = "--q b--";
    got = parse("multipart/form-data; boundary=\"q b\"", empty, sizeof empty - 1, 2, &e);
    CHECK_STR(got, "");
    free(got);
    CHECK(parse("multipart/form-data", empty, 1, 1, &e) == NULL);
    CHECK(parse("text/plain; boundary=AaB03x", empty, 1, 1, &e) == NULL);
    CHECK(parse("multipart/form-data; boundary=a\rb", empty, 1, 1, &e) == NULL);
    char longb[120];
    snprintf(longb, sizeof longb, "multipart/form-data; boundary=%071d", 0);
    CHECK(parse(longb, empty, 1, 1, &e) == NULL);
    /* part headers are bounded */
    ct_buf big = CT_BUF_INIT;
    ct_buf_puts(&big, "--AaB03x\r\nX-Long: ");
    for (int i = 0; i < 5000; i++)
        ct_buf_puts(&big, "v");
    CHECK(parse(CT, big.data, big.len, 100, &e) == NULL && e == CT_ERR_INVALID);
    ct_buf_free(&big);
}

static int check(const char *policy, const s3_form_field *f, int n, s3_post_limits *lim,
                 char *msg)
{
    s3_post_input in = {f, n, "bkt", 1700000000};
    return s3_post_policy_check(policy, strlen(policy), &in, lim, msg, 300);
}

static void test_policy(void)
{
    char msg[300];
    s3_post_limits lim;
    s3_form_field f[] = {{"key", "user/a.txt"},           {"Content-Type", "image/png"},
                         {"x-amz-signature", "ff"},       {"policy", "e30="},
                         {"x-ignore-me", "1"},            {"success_action_status", "201"}};
    const char *ok = "{\"expiration\":\"2030-01-01T00:00:00.000Z\",\"conditions\":["
                     "{\"bucket\":\"bkt\"},[\"starts-with\",\"$key\",\"user/\"],"
                     "[\"starts-with\",\"$Content-Type\",\"image/\"],"
                     "[\"eq\",\"$success_action_status\",\"201\"],"
                     "[\"content-length-range\",1,\"1048576\"]]}";
    CHECK(check(ok, f, 6, &lim, msg) == 0);
    CHECK(lim.min_len == 1 && lim.max_len == 1048576);
    /* no content-length-range: unlimited */
    const char *nolim = "{\"expiration\":\"2030-01-01T00:00:00Z\",\"conditions\":["
                        "[\"starts-with\",\"$key\",\"\"],[\"starts-with\",\"$content-type\",\"\"],"
                        "{\"success_action_status\":\"201\"}]}";
    CHECK(check(nolim, f, 6, &lim, msg) == 0 && lim.max_len == -1);
    /* an extra field */
    const char *missing = "{\"expiration\":\"2030-01-01T00:00:00Z\",\"conditions\":["
                          "[\"starts-with\",\"$key\",\"user/\"]]}";
    CHECK(check(missing, f, 6, &lim, msg) == -1);
    CHECK_STR(msg, "Invalid according to Policy: Extra input fields: Content-Type");
    /* failed conditions, in S3's words */
    const char *wrong = "{\"expiration\":\"2030-01-01T00:00:00Z\",\"conditions\":["
                        "{\"key\":\"other\"}]}";
    CHECK(check(wrong, f, 1, &lim, msg) == -1);
    CHECK_STR(msg, "Invalid according to Policy: Policy Condition failed: [\"eq\", \"$key\", "
                   "\"other\"]");
    const char *bucket = "{\"expiration\":\"2030-01-01T00:00:00Z\",\"conditions\":["
                         "{\"bucket\":\"nope\"},{\"key\":\"user/a.txt\"}]}";
    CHECK(check(bucket, f, 1, &lim, msg) == -1 && strstr(msg, "$bucket"));
    /* expiry and malformed documents */
    const char *old = "{\"expiration\":\"2020-01-01T00:00:00Z\",\"conditions\":[]}";
    CHECK(check(old, f, 0, &lim, msg) == -1);
    CHECK_STR(msg, "Invalid according to Policy: Policy expired.");
    const char *bad[] = {"", "[]", "{\"conditions\":[]}", "{\"expiration\":\"soon\",\"conditions\":[]}",
                         "{\"expiration\":\"2030-01-01T00:00:00Z\"}",
                         "{\"expiration\":\"2030-01-01T00:00:00Z\",\"conditions\":[[\"eq\"]]}",
                         "{\"expiration\":\"2030-01-01T00:00:00Z\",\"conditions\":["
                         "[\"content-length-range\",10,1]]}",
                         "{\"expiration\":\"2030-01-01T00:00:00Z\",\"conditions\":["
                         "[\"eq\",\"key\",\"x\"]]}",
                         "{\"expiration\":\"2030-01-01T00:00:00Z\",\"conditions\":[{\"a\":1}]}",
                         "{\"expiration\":\"2030-01-01T00:00:00Z\",\"conditions\":[7]}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = check(bad[i], f, 0, &lim, msg);
        CHECK(rc == -1 && strncmp(msg, "Invalid Policy", 14) == 0);
        if (rc != -1 || strncmp(msg, "Invalid Policy", 14) != 0)
            fprintf(stderr, "  policy %zu: %s\n", i, msg);
    }
    /* Content-Type lists: each entry must match starts-with */
    s3_form_field two[] = {{"Content-Type", "image/png, image/jpeg"}};
    const char *img = "{\"expiration\":\"2030-01-01T00:00:00Z\",\"conditions\":["
                      "[\"starts-with\",\"$Content-Type\",\"image/\"]]}";
    CHECK(check(img, two, 1, &lim, msg) == 0);
    two[0].value = "image/png, text/html";
    CHECK(check(img, two, 1, &lim, msg) == -1);
}

int main(void)
{
    test_form_splits();
    test_form_errors();
    test_policy();
    CT_TEST_END();
}
