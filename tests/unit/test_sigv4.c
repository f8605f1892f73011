/* SigV4: AWS's published test-suite vectors (awslabs/aws-c-auth
 * tests/aws-signing-test-suite/v4), the S3 chunked-upload seed request from
 * the S3 docs, requests signed by Debian's botocore (data/sigv4_botocore.json,
 * made by data/gen_sigv4_vectors.py), and the error paths. */
#include "ct_test.h"
#include "iam/iam.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAXH 32

typedef struct {
    const char *name[MAXH];
    const char *value[MAXH];
    int n;
    char joined[4096];
} hdrs;

static const char *hdr_get(void *ctx, const char *lname)
{
    hdrs *h = ctx;
    const char *first = NULL;
    size_t len = 0;
    h->joined[0] = '\0';
    for (int i = 0; i < h->n; i++) {
        if (strcasecmp(h->name[i], lname) != 0)
            continue;
        if (!first) {
            first = h->value[i];
            continue;
        }
        if (!len)
            len = (size_t)snprintf(h->joined, sizeof h->joined, "%s", first);
        len += (size_t)snprintf(h->joined + len, sizeof h->joined - len, ",%s", h->value[i]);
    }
    return len ? h->joined : first;
}

static void hadd(hdrs *h, const char *name, const char *value)
{
    h->name[h->n] = name;
    h->value[h->n++] = value;
}

static const char SUITE_KEY[] = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
static const char EMPTY_HASH[] = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
static const time_t SUITE_NOW = 1440938160; /* 20150830T123600Z */

/* Returns the verify result; checks that flipping one bit of the signature
 * makes it fail. */
static ct_err verify_with(const char *method, const char *target, hdrs *h, const char *secret,
                          const char *payload, time_t now)
{
    ct_sigv4_request req = {method, target, hdr_get, h};
    ct_sigv4_auth a;
    char msg[2048];
    ct_err e = ct_sigv4_parse(&req, &a, msg, sizeof msg);
    if (e)
        return e;
    e = ct_sigv4_verify(&req, &a, secret, payload, now, msg, sizeof msg);
    if (e) {
        if (getenv("CT_TEST_VERBOSE"))
            fprintf(stderr, "verify %s: %s\n%s\n", target, ct_err_str(e), msg);
        return e;
    }
    a.signature[10] ^= 1; /* '0'<->'1', 'a'<->'`' ... one bit */
    CHECK(ct_sigv4_verify(&req, &a, secret, payload, now, msg, sizeof msg) == CT_ERR_AUTH);
    return CT_OK;
}

typedef struct {
    const char *name, *method, *target, *headers, *signature, *payload;
} suite_case;

/* headers: "name:value\n" lines besides host and x-amz-date. */
static const suite_case suite[] = {
    {"get-utf8", "GET", "/\xe1\x88\xb4", "", "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85", NULL},
    {"get-vanilla-query-order-key-case", "GET", "/?Param2=value2&Param1=value1", "",
     "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500", NULL},
    {"get-vanilla-with-session-token", "GET", "/",
     "X-Amz-Security-Token:6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267\n",
     "07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8", NULL},
    {"get-space-normalized", "GET", "/example space/", "",
     "652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741", NULL},
    {"get-vanilla-query-unreserved", "GET",
     "/?-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz="
     "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
     "", "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197", NULL},
    {"get-vanilla-utf8-query", "GET", "/?\xe1\x88\xb4=bar", "",
     "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04", NULL},
    {"get-slashes-normalized", "GET", "//example//", "",
     "9a624bd73a37c9a373b5312afbebe7a714a789de108f0bdfe846570885f57e84", NULL},
    {"get-relative-relative-normalized", "GET", "/example1/example2/../..", "",
     "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31", NULL},
    {"get-header-value-trim", "GET", "/", "My-Header1: value1\nMy-Header2: \"a   b   c\"\n",
     "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736", NULL},
    {"get-header-key-duplicate", "GET", "/",
     "My-Header1:value2\nMy-Header1:value2\nMy-Header1:value1\n",
     "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea", NULL},
    {"get-vanilla-empty-query-key", "GET", "/?Param1=value1", "",
     "a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb", NULL},
    {"get-vanilla-query-order-encoded", "GET", "/?Param-3=Value3&Param=Value2&%E1%88%B4=Value1", "",
     "371d3713e185cc334048618a97f809c9ffe339c62934c032af5a0e595648fcac", NULL},
    {"post-x-www-form-urlencoded", "POST", "/",
     "Content-Type:application/x-www-form-urlencoded\nContent-Length:13\n"
     "x-amz-content-sha256:9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e\n",
     "d3875051da38690788ef43de4db0d8f280229d82040bfac253562e56c3f20e0b",
     "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e"},
};

/* Splits "a:b\n" lines of buf (modified in place) into h; collects the
 * signed-header names into sh (sorted insertion, lowercase). */
static void suite_headers(hdrs *h, char *buf, char *sh, size_t shlen)
{
    const char *names[MAXH];
    int nn = 0;
    hadd(h, "Host", "example.amazonaws.com");
    hadd(h, "X-Amz-Date", "20150830T123600Z");
    names[nn++] = "host";
    names[nn++] = "x-amz-date";
    for (char *line = buf; *line;) {
        char *nl = strchr(line, '\n'), *colon = strchr(line, ':');
        *nl = '\0';
        *colon = '\0';
        for (char *p = line; *p; p++)
            *p = (char)((*p >= 'A' && *p <= 'Z') ? *p + 32 : *p);
        hadd(h, line, colon + 1);
        int dup = 0;
        for (int i = 0; i < nn; i++)
            dup |= strcmp(names[i], line) == 0;
        if (!dup)
            names[nn++] = line;
        line = nl + 1;
    }
    for (int i = 0; i < nn; i++) /* insertion sort */
        for (int j = i + 1; j < nn; j++)
            if (strcmp(names[j], names[i]) < 0) {
                const char *t = names[i];
                names[i] = names[j];
                names[j] = t;
            }
    sh[0] = '\0';
    for (int i = 0; i < nn; i++)
        snprintf(sh + strlen(sh), shlen - strlen(sh), "%s%s", i ? ";" : "", names[i]);
}

static void test_suite(void)
{
    for (size_t i = 0; i < CT_ARRAY_LEN(suite); i++) {
        const suite_case *c = &suite[i];
        hdrs h = {0};
        char buf[1024], sh[256], authz[512], mine[512];
        snprintf(buf, sizeof buf, "%s", c->headers);
        suite_headers(&h, buf, sh, sizeof sh);
        snprintf(authz, sizeof authz,
                 "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
                 "SignedHeaders=%s, Signature=%s",
                 sh, c->signature);
        ct_sigv4_request req = {c->method, c->target, hdr_get, &h};
        const char *payload = c->payload ? c->payload : EMPTY_HASH;
        CHECK(ct_sigv4_sign(&req, "AKIDEXAMPLE", SUITE_KEY, "us-east-1", "service",
                            "20150830T123600Z", sh, payload, mine, sizeof mine) == CT_OK);
        if (strcmp(mine, authz) != 0)
            fprintf(stderr, "suite case %s\n", c->name);
        CHECK_STR(mine, authz);
        hadd(&h, "Authorization", authz);
        CHECK(verify_with(c->method, c->target, &h, SUITE_KEY, payload, SUITE_NOW) == CT_OK);
    }
}

static void test_suite_presigned(void)
{
    /* get-vanilla-query-order-key-case/query-signed-request.txt */
    const char *target =
        "/?Param2=value2&Param1=value1&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential="
        "AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fservice%2Faws4_request&X-Amz-Date=20150830T123600Z"
        "&X-Amz-SignedHeaders=host&X-Amz-Expires=3600&X-Amz-Signature="
        "86012e2c9ad4d77369f5d81c11f75158aae4f895a085212cc6d3f923d300bed5";
    hdrs h = {0};
    hadd(&h, "Host", "example.amazonaws.com");
    hadd(&h, "X-Amz-Date", "20150830T123600Z");
    CHECK(verify_with("GET", target, &h, SUITE_KEY, EMPTY_HASH, SUITE_NOW) == CT_OK);
    CHECK(verify_with("GET", target, &h, SUITE_KEY, EMPTY_HASH, SUITE_NOW + 3600) == CT_OK);
    CHECK(verify_with("GET", target, &h, SUITE_KEY, EMPTY_HASH, SUITE_NOW + 3601) ==
          CT_ERR_EXPIRED);
    CHECK(verify_with("GET", target, &h, SUITE_KEY, EMPTY_HASH, SUITE_NOW - 900) == CT_OK);
    CHECK(verify_with("GET", target, &h, SUITE_KEY, EMPTY_HASH, SUITE_NOW - 901) == CT_ERR_SKEW);
    CHECK(verify_with("GET", target, &h, "wrong", EMPTY_HASH, SUITE_NOW) == CT_ERR_AUTH);
}

/* docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming.html: the seed
 * request of the 66560-byte chunked upload. */
static void test_s3_streaming_seed(void)
{
    hdrs h = {0};
    hadd(&h, "Host", "s3.amazonaws.com");
    hadd(&h, "x-amz-date", "20130524T000000Z");
    hadd(&h, "x-amz-storage-class", "REDUCED_REDUNDANCY");
    hadd(&h, "Authorization",
         "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
         "SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;"
         "x-amz-decoded-content-length;x-amz-storage-class,"
         "Signature=4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9");
    hadd(&h, "x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD");
    hadd(&h, "Content-Encoding", "aws-chunked");
    hadd(&h, "x-amz-decoded-content-length", "66560");
    hadd(&h, "Content-Length", "66824");
    ct_sigv4_request req = {"PUT", "/examplebucket/chunkObject.txt", hdr_get, &h};
    ct_sigv4_auth a;
    char msg[512];
    CHECK(ct_sigv4_parse(&req, &a, msg, sizeof msg) == CT_OK);
    CHECK_STR(a.access_key, "AKIAIOSFODNN7EXAMPLE");
    CHECK_STR(a.service, "s3");
    CHECK_STR(a.content_sha256, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD");
    CHECK(verify_with("PUT", "/examplebucket/chunkObject.txt", &h,
                      "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", NULL, 1369353600) == CT_OK);
}

/* ---- botocore vectors ---- */

static void json_headers(hdrs *h, json_t *obj)
{
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v) {
        if (h->n < MAXH)
            hadd(h, k, json_string_value(v));
    }
}

static void botocore_case(json_t *c)
{
    const char *name = json_string_value(json_object_get(c, "name"));
    const char *method = json_string_value(json_object_get(c, "method"));
    const char *target = json_string_value(json_object_get(c, "target"));
    const char *payload = json_string_value(json_object_get(c, "payload_hash"));
    int presigned = json_is_true(json_object_get(c, "presigned"));
    hdrs h = {0};
    json_headers(&h, json_object_get(c, "headers"));
    ct_sigv4_request req = {method, target, hdr_get, &h};
    ct_sigv4_auth a;
    char msg[4096];
    ct_err e = ct_sigv4_parse(&req, &a, msg, sizeof msg);
    CHECK(e == CT_OK);
    if (e) {
        fprintf(stderr, "%s: %s\n", name, msg);
        return;
    }
    time_t now = 0;
    struct tm tm = {0};
    sscanf(a.amz_date, "%4d%2d%2dT%2d%2d%2dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
           &tm.tm_min, &tm.tm_sec);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    now = timegm(&tm) + 30;
    e = verify_with(method, target, &h, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                    presigned ? NULL : payload, now);
    if (e)
        fprintf(stderr, "botocore case %s failed\n", name);
    CHECK(e == CT_OK);
    /* One changed byte in the target must fail too. */
    char *t2 = strdup(target);
    t2[1] = t2[1] == 'b' ? 'c' : 'b';
    ct_sigv4_request r2 = {method, t2, hdr_get, &h};
    CHECK(ct_sigv4_verify(&r2, &a, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                          presigned ? NULL : payload, now, msg, sizeof msg) == CT_ERR_AUTH);
    free(t2);
    /* Our signer reproduces botocore's output byte for byte. */
    if (presigned) {
        char *base = strdup(target), *out = NULL;
        char *cut = strstr(base, "X-Amz-Algorithm=");
        cut[cut[-1] == '&' ? -1 : 0] = '\0';
        req.raw_target = base;
        CHECK(ct_sigv4_presign(&req, a.access_key, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                               a.region, a.service, a.amz_date, a.expires, a.signed_headers, NULL,
                               &out) == CT_OK);
        CHECK_STR(out, target);
        free(out);
        free(base);
    } else {
        char mine[1024];
        CHECK(ct_sigv4_sign(&req, a.access_key, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                            a.region, a.service, a.amz_date, a.signed_headers, payload, mine,
                            sizeof mine) == CT_OK);
        CHECK_STR(mine, hdr_get(&h, "authorization"));
    }
}

static void test_botocore(void)
{
    json_error_t err;
    json_t *root = json_load_file("data/sigv4_botocore.json", 0, &err);
    CHECK(root != NULL && json_array_size(root) >= 50);
    if (!root) {
        fprintf(stderr, "data/sigv4_botocore.json: %s\n", err.text);
        return;
    }
    size_t i;
    json_t *c;
    json_array_foreach(root, i, c) botocore_case(c);
    json_decref(root);
}

/* ---- parsing and error paths ---- */

static ct_err parse_authz(const char *authz, const char *target, ct_sigv4_auth *a)
{
    hdrs h = {0};
    hadd(&h, "host", "h");
    hadd(&h, "x-amz-date", "20150830T123600Z");
    if (authz)
        hadd(&h, "authorization", authz);
    ct_sigv4_request req = {"GET", target, hdr_get, &h};
    char msg[256];
    return ct_sigv4_parse(&req, a, msg, sizeof msg);
}

#define SIG64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void test_parse_errors(void)
{
    ct_sigv4_auth a;
    CHECK(parse_authz(NULL, "/", &a) == CT_ERR_NOT_FOUND);
    CHECK(parse_authz(NULL, "/?list-type=2", &a) == CT_ERR_NOT_FOUND);
    CHECK(parse_authz("AWS4-HMAC-SHA256 Credential=AK/20150830/us-east-1/s3/aws4_request,"
                      "SignedHeaders=host;x-amz-date,Signature=" SIG64, "/", &a) == CT_OK);
    CHECK_STR(a.signed_headers, "host;x-amz-date");
    CHECK_STR(a.region, "us-east-1");
    CHECK(parse_authz("AWS4-HMAC-SHA256   Credential=AK/20150830/us-east-1/s3/aws4_request,  "
                      "SignedHeaders=host, Signature=" "0123456789ABCDEF0123456789abcdef0123456789"
                      "abcdef0123456789abcdef", "/", &a) == CT_OK);
    CHECK_STR(a.signature, SIG64);
    static const char *const bad[] = {
        "AWS AK:sig",
        "AWS4-HMAC-SHA256",
        "AWS4-HMAC-SHA256 Credential=AK/20150830/us-east-1/s3/aws4_request, SignedHeaders=host",
        "AWS4-HMAC-SHA256 Credential=AK/20150830/us-east-1/s3/aws4_reques, SignedHeaders=host, "
        "Signature=" SIG64,
        "AWS4-HMAC-SHA256 Credential=AK/2015083/us-east-1/s3/aws4_request, SignedHeaders=host, "
        "Signature=" SIG64,
        "AWS4-HMAC-SHA256 Credential=AK/20150830/us-east-1/s3/x/aws4_request, SignedHeaders=host, "
        "Signature=" SIG64,
        "AWS4-HMAC-SHA256 Credential=AK/20150831/us-east-1/s3/aws4_request, SignedHeaders=host, "
        "Signature=" SIG64, /* date differs from x-amz-date */
        "AWS4-HMAC-SHA256 Credential=AK/20150830/us-east-1/s3/aws4_request, "
        "SignedHeaders=x-amz-date, Signature=" SIG64, /* no host */
        "AWS4-HMAC-SHA256 Credential=AK/20150830/us-east-1/s3/aws4_request, "
        "SignedHeaders=Host, Signature=" SIG64,
        "AWS4-HMAC-SHA256 Credential=AK/20150830/us-east-1/s3/aws4_request, "
        "SignedHeaders=host;;x-amz-date, Signature=" SIG64,
        "AWS4-HMAC-SHA256 Credential=AK/20150830/us-east-1/s3/aws4_request, "
        "SignedHeaders=host, Signature=" SIG64 "0",
        "AWS4-HMAC-SHA256 Credential=AK/20150830/us-east-1/s3/aws4_request, "
        "SignedHeaders=host, Signature=" SIG64 ", Signature=" SIG64,
        "AWS4-HMAC-SHA256 Credential=AK/20150830/us-east-1/s3/aws4_request, "
        "SignedHeaders=host, Signature=" SIG64 ", Foo=bar",
    };
    for (size_t i = 0; i < CT_ARRAY_LEN(bad); i++) {
        ct_err e = parse_authz(bad[i], "/", &a);
        if (e != CT_ERR_INVALID)
            fprintf(stderr, "bad[%zu] gave %d\n", i, e);
        CHECK(e == CT_ERR_INVALID);
    }
    /* too many signed headers */
    char big[2048] = "AWS4-HMAC-SHA256 Credential=AK/20150830/us-east-1/s3/aws4_request, "
                     "SignedHeaders=host";
    for (int i = 0; i < 64; i++)
        snprintf(big + strlen(big), sizeof big - strlen(big), ";x%d", i);
    strcat(big, ", Signature=" SIG64);
    CHECK(parse_authz(big, "/", &a) == CT_ERR_INVALID);
    /* both mechanisms, and malformed query */
    CHECK(parse_authz("AWS4-HMAC-SHA256 Credential=AK/20150830/us-east-1/s3/aws4_request, "
                      "SignedHeaders=host, Signature=" SIG64,
                      "/?X-Amz-Signature=" SIG64, &a) == CT_ERR_INVALID);
    CHECK(parse_authz(NULL, "/?a=%zz&X-Amz-Signature=1", &a) == CT_ERR_INVALID);
    /* oversize target */
    char *huge = malloc(40000);
    memset(huge, 'a', 39999);
    huge[0] = '/';
    huge[39999] = '\0';
    CHECK(parse_authz(NULL, huge, &a) == CT_ERR_INVALID);
    free(huge);
}

static void test_presigned_parse(void)
{
    ct_sigv4_auth a;
    const char *base = "/b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AK%2F20150830%2F"
                       "us-east-1%2Fs3%2Faws4_request&X-Amz-Date=20150830T123600Z"
                       "&X-Amz-SignedHeaders=host&X-Amz-Signature=" SIG64 "&X-Amz-Expires=";
    static const struct {
        const char *exp;
        ct_err want;
    } cases[] = {{"1", CT_OK},           {"604800", CT_OK},          {"0", CT_ERR_INVALID},
                 {"604801", CT_ERR_INVALID}, {"-5", CT_ERR_INVALID}, {"", CT_ERR_INVALID},
                 {"99999999999", CT_ERR_INVALID}};
    for (size_t i = 0; i < CT_ARRAY_LEN(cases); i++) {
        char t[512];
        snprintf(t, sizeof t, "%s%s", base, cases[i].exp);
        CHECK(parse_authz(NULL, t, &a) == cases[i].want);
    }
    CHECK(parse_authz(NULL, "/b/k?X-Amz-Signature=" SIG64, &a) == CT_ERR_INVALID);
    CHECK(parse_authz(NULL, "/b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AK%2F20150830%2F"
                            "us-east-1%2Fs3%2Faws4_request&X-Amz-Date=20150830T123600Z"
                            "&X-Amz-SignedHeaders=host&X-Amz-Signature=" SIG64 "&X-Amz-Expires=60",
                      &a) == CT_OK);
    CHECK(a.presigned == 1 && a.expires == 60);
    CHECK_STR(a.access_key, "AK");
    /* The presigned parameters are found by their decoded names (an escaped
     * key counts), the first occurrence wins, and every other parameter's
     * escapes are still checked. */
    const char *q = "/b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AK%2F20150830%2F"
                    "us-east-1%2Fs3%2Faws4_request&X-Amz-Date=20150830T123600Z"
                    "&X-Amz-SignedHeaders=host&X-Amz-Signature=" SIG64;
    static const struct {
        const char *tail;
        ct_err want;
        long expires;
    } more[] = {{"&X-Amz-%45xpires=61", CT_OK, 61},
                {"&X-Amz-Expires=62&X-Amz-Expires=0", CT_OK, 62},
                {"&X-Amz-Expires=63&x-amz-expires=0", CT_OK, 63},
                {"&X-Amz-Expires=64&tail=%4", CT_ERR_INVALID, 0},
                {"&X-Amz-Expires=64&t%zail=1", CT_ERR_INVALID, 0},
                {"&X-Amz-Expires=6%005", CT_ERR_INVALID, 0}, /* NUL: as if absent */
                {"&X-Amz-Expires", CT_ERR_INVALID, 0}};
    for (size_t i = 0; i < CT_ARRAY_LEN(more); i++) {
        char t[512];
        snprintf(t, sizeof t, "%s%s", q, more[i].tail);
        ct_err e = parse_authz(NULL, t, &a);
        if (e != more[i].want || (e == CT_OK && a.expires != more[i].expires))
            fprintf(stderr, "more[%zu] gave %d\n", i, e);
        CHECK(e == more[i].want);
        CHECK(e != CT_OK || a.expires == more[i].expires);
    }
    /* An escaped presign key marks the request as presigned. */
    CHECK(parse_authz(NULL, "/b/k?X-Amz-%53ignature=" SIG64, &a) == CT_ERR_INVALID);
}

/* Round trips through our own signer: skew, Date header, S3 path forms. */
static void test_roundtrip(void)
{
    const char *secret = "s3cr3t/+=";
    hdrs h = {0};
    hadd(&h, "host", "localhost:9000");
    hadd(&h, "x-amz-date", "20240229T235959Z");
    hadd(&h, "x-amz-content-sha256", "UNSIGNED-PAYLOAD");
    ct_sigv4_request req = {"GET", "/bkt/a%21b~c?acl&prefix=a+b&x=%2b", hdr_get, &h};
    char authz[512];
    CHECK(ct_sigv4_sign(&req, "AK", secret, "eu-west-1", "s3", "20240229T235959Z",
                        "host;x-amz-content-sha256;x-amz-date", "UNSIGNED-PAYLOAD", authz,
                        sizeof authz) == CT_OK);
    hadd(&h, "authorization", authz);
    time_t t = 1709251199; /* 2024-02-29T23:59:59Z */
    CHECK(verify_with("GET", req.raw_target, &h, secret, "UNSIGNED-PAYLOAD", t) == CT_OK);
    CHECK(verify_with("GET", req.raw_target, &h, secret, NULL, t) == CT_OK); /* from header */
    CHECK(verify_with("GET", req.raw_target, &h, secret, NULL, t + 900) == CT_OK);
    CHECK(verify_with("GET", req.raw_target, &h, secret, NULL, t - 900) == CT_OK);
    CHECK(verify_with("GET", req.raw_target, &h, secret, NULL, t + 901) == CT_ERR_SKEW);
    CHECK(verify_with("GET", req.raw_target, &h, secret, NULL, t - 901) == CT_ERR_SKEW);
    CHECK(verify_with("PUT", req.raw_target, &h, secret, NULL, t) == CT_ERR_AUTH);
    CHECK(verify_with("GET", req.raw_target, &h, secret, EMPTY_HASH, t) == CT_ERR_AUTH);
    /* S3: the same key in other (equivalent) encodings verifies. */
    CHECK(verify_with("GET", "/bkt/a!b%7Ec?acl=&x=%2B&prefix=a%2Bb", &h, secret, NULL, t) == CT_OK);
    CHECK(verify_with("GET", "/bkt/a!b%7ec?prefix=a%2bb&acl&x=%2B", &h, secret, NULL, t) == CT_OK);
    /* ...but not a different key or a '+' turned into a space. */
    CHECK(verify_with("GET", "/bkt/a!b%7Ec?acl&prefix=a%20b&x=%2B", &h, secret, NULL, t) ==
          CT_ERR_AUTH);
    CHECK(verify_with("GET", "/bkt/a!b/../c?acl&prefix=a+b&x=%2b", &h, secret, NULL, t) ==
          CT_ERR_AUTH);
    CHECK(verify_with("GET", "/bkt/a%2", &h, secret, NULL, t) == CT_ERR_INVALID);

    /* Date header instead of x-amz-date. */
    hdrs d = {0};
    hadd(&d, "host", "h");
    hadd(&d, "date", "Thu, 29 Feb 2024 23:59:59 GMT");
    ct_sigv4_request rd = {"DELETE", "/2017-08-29/jobs/j%20b/./x/..", hdr_get, &d};
    CHECK(ct_sigv4_sign(&rd, "AK", secret, "us-east-1", "mediaconvert", "20240229T235959Z",
                        "date;host", EMPTY_HASH, authz, sizeof authz) == CT_OK);
    hadd(&d, "authorization", authz);
    CHECK(verify_with("DELETE", rd.raw_target, &d, secret, EMPTY_HASH, t) == CT_OK);
    /* generic services normalise dot segments and empty segments */
    CHECK(verify_with("DELETE", "/2017-08-29//jobs/j%20b", &d, secret, EMPTY_HASH, t) == CT_OK);
    CHECK(verify_with("DELETE", "/2017-08-29/jobs/j+b", &d, secret, EMPTY_HASH, t) == CT_ERR_AUTH);

    /* explain gives the canonical request */
    ct_sigv4_auth a;
    char msg[256], *cr = NULL, *sts = NULL;
    CHECK(ct_sigv4_parse(&rd, &a, msg, sizeof msg) == CT_OK);
    CHECK(ct_sigv4_explain(&rd, &a, EMPTY_HASH, &cr, &sts) == CT_OK);
    CHECK_STR(cr, "DELETE\n/2017-08-29/jobs/j%2520b\n\ndate:Thu, 29 Feb 2024 23:59:59 GMT\nhost:h\n\n"
                  "date;host\n" "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    CHECK(sts && strncmp(sts, "AWS4-HMAC-SHA256\n20240229T235959Z\n20240229/us-east-1/"
                              "mediaconvert/aws4_request\n", 77) == 0);
    free(cr);
    free(sts);

    /* presign round trip with an existing query, and expiry */
    char *out = NULL;
    ct_sigv4_request rp = {"GET", "/bkt/k%20k?versionId=3", hdr_get, &h};
    CHECK(ct_sigv4_presign(&rp, "AK", secret, "us-east-1", "s3", "20240229T235959Z", 60, "host",
                           NULL, &out) == CT_OK);
    hdrs hp = {0};
    hadd(&hp, "host", "localhost:9000");
    CHECK(out && verify_with("GET", out, &hp, secret, NULL, t + 60) == CT_OK);
    CHECK(out && verify_with("GET", out, &hp, secret, NULL, t + 61) == CT_ERR_EXPIRED);
    CHECK(out && verify_with("GET", out, &hp, secret, NULL, t - 901) == CT_ERR_SKEW);
    free(out);
    CHECK(ct_sigv4_presign(&rp, "AK", secret, "us-east-1", "s3", "20240229T235959Z", 604801,
                           "host", NULL, &out) == CT_ERR_INVALID);
    CHECK(ct_sigv4_sign(&req, "AK", secret, "eu-west-1", "s3", "2024-02-29", "host", EMPTY_HASH,
                        authz, sizeof authz) == CT_ERR_INVALID);
}

static void test_signing_key(void)
{
    /* docs.aws.amazon.com general reference "deriving the signing key" example */
    unsigned char key[32];
    char hex[65];
    ct_sigv4_signing_key("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20120215", "us-east-1", "iam",
                         key);
    ct_hex(key, 32, hex);
    CHECK_STR(hex, "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d");
    /* The last derived key is cached by (secret, date, region, service): a
     * different secret or scope must not reuse it. */
    hdrs h = {0};
    hadd(&h, "host", "localhost");
    hadd(&h, "x-amz-date", "20240229T235959Z");
    ct_sigv4_request req = {"GET", "/b/k", hdr_get, &h};
    char a1[512], a2[512], a3[512], a4[512];
    CHECK(ct_sigv4_sign(&req, "AK", "secret-one", "eu-west-1", "s3", "20240229T235959Z", "host",
                        "UNSIGNED-PAYLOAD", a1, sizeof a1) == CT_OK);
    CHECK(ct_sigv4_sign(&req, "AK", "secret-two", "eu-west-1", "s3", "20240229T235959Z", "host",
                        "UNSIGNED-PAYLOAD", a2, sizeof a2) == CT_OK);
    CHECK(ct_sigv4_sign(&req, "AK", "secret-two", "eu-west-2", "s3", "20240229T235959Z", "host",
                        "UNSIGNED-PAYLOAD", a3, sizeof a3) == CT_OK);
    CHECK(ct_sigv4_sign(&req, "AK", "secret-one", "eu-west-1", "s3", "20240229T235959Z", "host",
                        "UNSIGNED-PAYLOAD", a4, sizeof a4) == CT_OK);
    CHECK(strcmp(a1, a2) != 0 && strcmp(a2, a3) != 0);
    CHECK_STR(a4, a1);
}

int main(void)
{
    test_suite();
    test_suite_presigned();
    test_s3_streaming_seed();
    test_botocore();
    test_parse_errors();
    test_presigned_parse();
    test_roundtrip();
    test_signing_key();
    CT_TEST_END();
}
