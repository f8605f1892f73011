/* aws-chunked decoder: the S3 documentation's examples (sigv4-streaming.html:
 * 66560 bytes of 'a' as 65536 + 1024 + 0 with seed 4f232c43...; the
 * signed-trailer variant with an x-amz-checksum-crc32c trailer), fed whole,
 * one byte at a time and in random pieces; unsigned trailers with every
 * checksum; and the failure modes. */
#include "ct_test.h"
#include "iam/iam.h"

#include <openssl/evp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define DOC_SECRET "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define DOC_DATE "20130524T000000Z"
#define DOC_SCOPE "20130524/us-east-1/s3/aws4_request"
#define DATA_LEN 66560

typedef struct {
    uint64_t n;
    int bad;      /* a byte other than 'a' arrived */
    int fail_at;  /* make the sink fail once n would pass this (0 = never) */
} sink_state;

static ct_err sink(void *ctx, const void *p, size_t n)
{
    sink_state *s = ctx;
    const unsigned char *b = p;
    if (s->fail_at && s->n + n > (uint64_t)s->fail_at)
        return CT_ERR_NOSPC;
    for (size_t i = 0; i < n; i++)
        s->bad |= b[i] != 'a';
    s->n += n;
    return CT_OK;
}

typedef struct {
    char *p;
    size_t n;
} body;

static void put(body *b, const void *p, size_t n)
{
    b->p = realloc(b->p, b->n + n + 1);
    memcpy(b->p + b->n, p, n);
    b->n += n;
}

static void puts_(body *b, const char *s) { put(b, s, strlen(s)); }

static void put_a(body *b, size_t n)
{
    b->p = realloc(b->p, b->n + n + 1);
    memset(b->p + b->n, 'a', n);
    b->n += n;
}

/* Three chunks (65536, 1024, 0) with the given signatures (NULL = unsigned),
 * then the trailer text. */
static body make_body(const char *const sigs[3], const char *trailer)
{
    static const size_t sizes[3] = {65536, 1024, 0};
    body b = {0};
    char line[128];
    for (int i = 0; i < 3; i++) {
        if (sigs)
            snprintf(line, sizeof line, "%zx;chunk-signature=%s\r\n", sizes[i], sigs[i]);
        else
            snprintf(line, sizeof line, "%zx\r\n", sizes[i]);
        puts_(&b, line);
        put_a(&b, sizes[i]);
        if (i < 2)
            puts_(&b, "\r\n");
    }
    puts_(&b, trailer);
    return b;
}

static uint32_t rng_state = 12345;
static uint32_t rng(void)
{
    rng_state = rng_state * 1103515245u + 12345u;
    return rng_state >> 8;
}

/* split: 0 = whole, 1 = one byte at a time, 2 = random pieces. */
static ct_err decode(ct_chunked_mode mode, const char *seed, const char *trailers, const body *b,
                     int split, sink_state *s, char *msg, size_t msglen)
{
    unsigned char key[32];
    ct_sigv4_signing_key(DOC_SECRET, "20130524", "us-east-1", "s3", key);
    ct_chunked *c = ct_chunked_new(mode, key, seed, DOC_DATE, DOC_SCOPE, trailers);
    ct_err e = CT_OK;
    memset(s, 0, sizeof *s - sizeof s->fail_at);
    for (size_t i = 0; i < b->n && !e;) {
        size_t n = split == 0 ? b->n : split == 1 ? 1 : 1 + rng() % 9000;
        if (n > b->n - i)
            n = b->n - i;
        e = ct_chunked_feed(c, b->p + i, n, sink, s);
        i += n;
    }
    ct_err f = ct_chunked_finish(c, msg, msglen);
    if (e)
        CHECK(f == e); /* sticky */
    if (!f)
        CHECK(ct_chunked_decoded(c) == s->n);
    ct_chunked_free(c);
    return f;
}

static const char *const DOC_SIGS[3] = {
    "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
    "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
    "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
};
#define DOC_SEED "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"

static const char *const TRL_SIGS[3] = {
    "b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2",
    "1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7",
    "2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992",
};
#define TRL_SEED "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e"
#define TRL_TRAILER                                                                               \
    "x-amz-checksum-crc32c:sOO8/Q==\r\n"                                                          \
    "x-amz-trailer-signature:d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435\r\n" \
    "\r\n"

static void test_doc_signed(void)
{
    body b = make_body(DOC_SIGS, "\r\n");
    CHECK(b.n == 66824); /* the documented Content-Length */
    sink_state s = {0};
    char msg[256];
    for (int split = 0; split < 3; split++) {
        for (int rep = 0; rep < (split == 2 ? 20 : 1); rep++) {
            ct_err e = decode(CT_CHUNKED_SIGNED, DOC_SEED, NULL, &b, split, &s, msg, sizeof msg);
            if (e)
                fprintf(stderr, "split %d: %s\n", split, msg);
            CHECK(e == CT_OK);
            CHECK(s.n == DATA_LEN && !s.bad);
        }
    }
    /* Every single-bit change anywhere in the framing or data is caught. */
    size_t positions[] = {0, 5, 30, 100, 87 + 65535, 87 + 65536, 87 + 65538 + 30, b.n - 40, b.n - 3};
    for (size_t i = 0; i < CT_ARRAY_LEN(positions); i++) {
        b.p[positions[i]] ^= 1;
        ct_err e = decode(CT_CHUNKED_SIGNED, DOC_SEED, NULL, &b, 2, &s, msg, sizeof msg);
        if (e == CT_OK)
            fprintf(stderr, "bit flip at %zu not detected\n", positions[i]);
        CHECK(e != CT_OK);
        b.p[positions[i]] ^= 1;
    }
    /* wrong seed, wrong key material */
    CHECK(decode(CT_CHUNKED_SIGNED, DOC_SIGS[0], NULL, &b, 0, &s, msg, sizeof msg) == CT_ERR_AUTH);
    /* truncated anywhere: never OK */
    for (size_t cut = 0; cut < b.n; cut += 997) {
        body t = {b.p, cut};
        CHECK(decode(CT_CHUNKED_SIGNED, DOC_SEED, NULL, &t, 0, &s, msg, sizeof msg) != CT_OK);
    }
    body t = {b.p, b.n - 1};
    CHECK(decode(CT_CHUNKED_SIGNED, DOC_SEED, NULL, &t, 0, &s, msg, sizeof msg) == CT_ERR_INVALID);
    /* swapped chunk order is caught by the signature chain */
    const char *swapped[3] = {DOC_SIGS[1], DOC_SIGS[0], DOC_SIGS[2]};
    body w = make_body(swapped, "\r\n");
    CHECK(decode(CT_CHUNKED_SIGNED, DOC_SEED, NULL, &w, 0, &s, msg, sizeof msg) == CT_ERR_AUTH);
    free(w.p);
    /* trailers are not allowed in this mode */
    body x = make_body(DOC_SIGS, "x-amz-checksum-crc32:sK4Y7A==\r\n\r\n");
    CHECK(decode(CT_CHUNKED_SIGNED, DOC_SEED, NULL, &x, 0, &s, msg, sizeof msg) == CT_ERR_INVALID);
    free(x.p);
    /* the sink's error stops decoding */
    s.fail_at = 70000 / 2;
    CHECK(decode(CT_CHUNKED_SIGNED, DOC_SEED, NULL, &b, 2, &s, msg, sizeof msg) == CT_ERR_NOSPC);
    s.fail_at = 0;
    free(b.p);
}

static void test_doc_signed_trailer(void)
{
    body b = make_body(TRL_SIGS, TRL_TRAILER);
    sink_state s = {0};
    char msg[256];
    for (int split = 0; split < 3; split++) {
        ct_err e = decode(CT_CHUNKED_SIGNED_TRAILER, TRL_SEED, "x-amz-checksum-crc32c", &b, split,
                          &s, msg, sizeof msg);
        if (e)
            fprintf(stderr, "trailer split %d: %s\n", split, msg);
        CHECK(e == CT_OK);
        CHECK(s.n == DATA_LEN && !s.bad);
    }
    /* bad trailer signature, missing signature, bad checksum */
    size_t sigpos = b.n - 10;
    b.p[sigpos] ^= 1;
    CHECK(decode(CT_CHUNKED_SIGNED_TRAILER, TRL_SEED, "x-amz-checksum-crc32c", &b, 0, &s, msg,
                 sizeof msg) == CT_ERR_AUTH);
    b.p[sigpos] ^= 1;
    free(b.p);
    b = make_body(TRL_SIGS, "x-amz-checksum-crc32c:sOO8/Q==\r\n\r\n");
    CHECK(decode(CT_CHUNKED_SIGNED_TRAILER, TRL_SEED, "x-amz-checksum-crc32c", &b, 0, &s, msg,
                 sizeof msg) == CT_ERR_AUTH);
    free(b.p);
    /* a changed checksum breaks the trailer signature first */
    b = make_body(TRL_SIGS, "x-amz-checksum-crc32c:sOO8/R==\r\n"
                            "x-amz-trailer-signature:d81f82fc3505edab99d459891051a732e8730629a2e4a"
                            "59689829ca17fe2e435\r\n\r\n");
    CHECK(decode(CT_CHUNKED_SIGNED_TRAILER, TRL_SEED, "x-amz-checksum-crc32c", &b, 0, &s, msg,
                 sizeof msg) == CT_ERR_AUTH);
    free(b.p);
    /* undeclared trailer */
    b = make_body(TRL_SIGS, TRL_TRAILER);
    CHECK(decode(CT_CHUNKED_SIGNED_TRAILER, TRL_SEED, "x-amz-checksum-crc32", &b, 0, &s, msg,
                 sizeof msg) == CT_ERR_INVALID);
    CHECK(decode(CT_CHUNKED_SIGNED_TRAILER, TRL_SEED, NULL, &b, 0, &s, msg, sizeof msg) ==
          CT_ERR_INVALID);
    CHECK(decode(CT_CHUNKED_SIGNED_TRAILER, TRL_SEED, "x-amz-meta-foo", &b, 0, &s, msg,
                 sizeof msg) == CT_ERR_INVALID);
    free(b.p);
}

static void test_unsigned_trailer(void)
{
    static const struct {
        const char *name, *value;
    } ok[] = {
        {"x-amz-checksum-crc32", "sK4Y7A=="},
        {"x-amz-checksum-crc32c", "sOO8/Q=="},
        {"x-amz-checksum-sha1", "qOlv5ixdz2jRNhlSLmgH6iaTKRI="},
        {"x-amz-checksum-sha256", "zWnTiHxq+SZLEA17dgIzEzXZqn4718MM3G1vS/uzyIg="},
    };
    sink_state s = {0};
    char msg[256], tr[256];
    for (size_t i = 0; i < CT_ARRAY_LEN(ok); i++) {
        snprintf(tr, sizeof tr, "%s:%s\r\n\r\n", ok[i].name, ok[i].value);
        body b = make_body(NULL, tr);
        for (int split = 0; split < 3; split++) {
            ct_err e = decode(CT_CHUNKED_UNSIGNED_TRAILER, NULL, ok[i].name, &b, split, &s, msg,
                              sizeof msg);
            if (e)
                fprintf(stderr, "%s: %s\n", ok[i].name, msg);
            CHECK(e == CT_OK && s.n == DATA_LEN && !s.bad);
        }
        b.p[40] = 'b'; /* data changed: checksum mismatch */
        CHECK(decode(CT_CHUNKED_UNSIGNED_TRAILER, NULL, ok[i].name, &b, 2, &s, msg, sizeof msg) ==
              CT_ERR_DIGEST);
        free(b.p);
    }
    /* upper-case header names, spaces around the value, extra CRLF at the end */
    body b = make_body(NULL, "X-Amz-Checksum-CRC32: sK4Y7A== \r\n\r\n\r\n");
    CHECK(decode(CT_CHUNKED_UNSIGNED_TRAILER, NULL, "X-Amz-Checksum-Crc32", &b, 1, &s, msg,
                 sizeof msg) == CT_OK);
    free(b.p);
    /* declared trailer missing */
    b = make_body(NULL, "\r\n");
    CHECK(decode(CT_CHUNKED_UNSIGNED_TRAILER, NULL, "x-amz-checksum-crc32", &b, 0, &s, msg,
                 sizeof msg) == CT_ERR_INVALID);
    CHECK(decode(CT_CHUNKED_UNSIGNED_TRAILER, NULL, NULL, &b, 0, &s, msg, sizeof msg) == CT_OK);
    free(b.p);
    /* signature trailer in the unsigned mode, duplicated trailer, two checksums declared */
    b = make_body(NULL, "x-amz-checksum-crc32:sK4Y7A==\r\nx-amz-trailer-signature:" DOC_SEED
                        "\r\n\r\n");
    CHECK(decode(CT_CHUNKED_UNSIGNED_TRAILER, NULL, "x-amz-checksum-crc32", &b, 0, &s, msg,
                 sizeof msg) == CT_ERR_INVALID);
    free(b.p);
    b = make_body(NULL, "x-amz-checksum-crc32:sK4Y7A==\r\nx-amz-checksum-crc32:sK4Y7A==\r\n\r\n");
    CHECK(decode(CT_CHUNKED_UNSIGNED_TRAILER, NULL, "x-amz-checksum-crc32", &b, 0, &s, msg,
                 sizeof msg) == CT_ERR_INVALID);
    CHECK(decode(CT_CHUNKED_UNSIGNED_TRAILER, NULL, "x-amz-checksum-crc32, x-amz-checksum-sha1",
                 &b, 0, &s, msg, sizeof msg) == CT_ERR_INVALID);
    free(b.p);
    /* wrong value */
    b = make_body(NULL, "x-amz-checksum-crc32:AAAAAA==\r\n\r\n");
    CHECK(decode(CT_CHUNKED_UNSIGNED_TRAILER, NULL, "x-amz-checksum-crc32", &b, 0, &s, msg,
                 sizeof msg) == CT_ERR_DIGEST);
    CHECK(strstr(msg, "sK4Y7A==") != NULL);
    free(b.p);
}

static ct_err decode_str(ct_chunked_mode mode, const char *text)
{
    body b = {(char *)text, strlen(text)};
    sink_state s = {0};
    char msg[256];
    return decode(mode, DOC_SEED, NULL, &b, 1, &s, msg, sizeof msg);
}

static void test_framing_errors(void)
{
    const ct_chunked_mode U = CT_CHUNKED_UNSIGNED_TRAILER, S = CT_CHUNKED_SIGNED;
    CHECK(decode_str(U, "3\r\naaa\r\n0\r\n\r\n") == CT_OK);
    CHECK(decode_str(U, "3;ext=1\r\naaa\r\n0\r\n\r\n") == CT_OK);
    CHECK(decode_str(U, "0000003\r\naaa\r\n0\r\n\r\n") == CT_OK);
    CHECK(decode_str(U, "") == CT_ERR_INVALID);
    CHECK(decode_str(U, "\r\n") == CT_ERR_INVALID);
    CHECK(decode_str(U, "x\r\naaa\r\n0\r\n\r\n") == CT_ERR_INVALID);
    CHECK(decode_str(U, "3 \r\naaa\r\n0\r\n\r\n") == CT_ERR_INVALID);
    CHECK(decode_str(U, "3\naaa\r\n0\r\n\r\n") == CT_ERR_INVALID);
    CHECK(decode_str(U, "3\r\naaaa\r\n0\r\n\r\n") == CT_ERR_INVALID);
    CHECK(decode_str(U, "3\r\naaa\n0\r\n\r\n") == CT_ERR_INVALID);
    CHECK(decode_str(U, "3\r\naaa\r\n0\r\n\r\nX") == CT_ERR_INVALID);
    CHECK(decode_str(U, "3\r\naaa\r\n0\r\nfoo\r\n\r\n") == CT_ERR_INVALID);
    CHECK(decode_str(U, "3\r\naaa\r\n0\r\n\r") == CT_ERR_INVALID);
    CHECK(decode_str(U, "1000001\r\n") == CT_ERR_TOO_LARGE);
    CHECK(decode_str(U, "ffffffffffffffffffff\r\n") == CT_ERR_TOO_LARGE);
    CHECK(decode_str(S, "3\r\naaa\r\n0\r\n\r\n") == CT_ERR_INVALID);
    CHECK(decode_str(S, "3;chunk-signature=abc\r\naaa\r\n") == CT_ERR_INVALID);
    char *longline = malloc(5000);
    memset(longline, '0', 4999);
    longline[4999] = '\0';
    CHECK(decode_str(U, longline) == CT_ERR_INVALID);
    free(longline);
    /* a 16 MiB chunk is fine (streamed, not buffered) */
    body b = {0};
    puts_(&b, "1000000\r\n");
    put_a(&b, 16 << 20);
    puts_(&b, "\r\n0\r\n\r\n");
    sink_state s = {0};
    char msg[128];
    CHECK(decode(U, NULL, NULL, &b, 2, &s, msg, sizeof msg) == CT_OK && s.n == 16u << 20);
    free(b.p);
    /* bad constructor arguments surface as INVALID */
    unsigned char key[32] = {0};
    ct_chunked *c = ct_chunked_new(S, key, "nothex", DOC_DATE, DOC_SCOPE, NULL);
    CHECK(c && ct_chunked_feed(c, "0", 1, sink, &s) == CT_ERR_INVALID);
    CHECK(ct_chunked_finish(c, msg, sizeof msg) == CT_ERR_INVALID);
    ct_chunked_free(c);
}

static void check_sum(ct_cksum_algo a, const char *data, const char *want)
{
    ct_cksum c;
    char out[CT_CKSUM_B64_MAX];
    CHECK(ct_cksum_init(&c, a) == CT_OK);
    /* in two pieces to exercise the incremental path */
    size_t n = strlen(data);
    ct_cksum_update(&c, data, n / 2);
    ct_cksum_update(&c, data + n / 2, n - n / 2);
    CHECK(ct_cksum_final(&c, out) == CT_OK);
    CHECK_STR(out, want);
    ct_cksum_free(&c);
}

static void test_checksums(void)
{
    /* CRC catalogue check values for "123456789": CRC-32 cbf43926,
     * CRC-32C e3069283, CRC-64/NVME ae8b14860a799888. */
    check_sum(CT_CKSUM_CRC32, "123456789", "y/Q5Jg==");
    check_sum(CT_CKSUM_CRC32C, "123456789", "4waSgw==");
    check_sum(CT_CKSUM_CRC64NVME, "123456789", "rosUhgp5mIg=");
    check_sum(CT_CKSUM_CRC64NVME, "Hello, World!\n", "SoXXbx67KpE=");
    check_sum(CT_CKSUM_CRC32, "", "AAAAAA==");
    check_sum(CT_CKSUM_SHA256, "", "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
    check_sum(CT_CKSUM_SHA1, "abc", "qZk+NkcGgWq6PiVxeFDCbJzQ2J0=");
    CHECK(ct_cksum_from_name("x-amz-checksum-crc64nvme") == CT_CKSUM_CRC64NVME);
    CHECK(ct_cksum_from_name("CRC32C") == CT_CKSUM_CRC32C);
    CHECK(ct_cksum_from_name("md5") == CT_CKSUM_NONE);
    CHECK(ct_cksum_from_name(NULL) == CT_CKSUM_NONE);
    CHECK_STR(ct_cksum_name(CT_CKSUM_SHA1), "sha1");
    CHECK(ct_cksum_name(CT_CKSUM_NONE) == NULL);
    /* crc64nvme trailer end to end */
    ct_cksum c;
    char v[CT_CKSUM_B64_MAX], tr[128];
    CHECK(ct_cksum_init(&c, CT_CKSUM_CRC64NVME) == CT_OK);
    for (int i = 0; i < DATA_LEN; i++)
        ct_cksum_update(&c, "a", 1);
    CHECK(ct_cksum_final(&c, v) == CT_OK);
    ct_cksum_free(&c);
    snprintf(tr, sizeof tr, "x-amz-checksum-crc64nvme:%s\r\n\r\n", v);
    body b = make_body(NULL, tr);
    sink_state s = {0};
    char msg[128];
    CHECK(decode(CT_CHUNKED_UNSIGNED_TRAILER, NULL, "x-amz-checksum-crc64nvme", &b, 2, &s, msg,
                 sizeof msg) == CT_OK);
    free(b.p);
}

/* Bit-at-a-time CRC-64/NVME, the reference for the table and the
 * carry-less-multiply (crc64_clmul.c) paths, over lengths and offsets that
 * cross their thresholds, split at odd places. */
static uint64_t crc64_ref(const unsigned char *p, size_t n)
{
    uint64_t c = ~0ull;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0x9A6C9329AC4BC9B5ull & (0ull - (c & 1)));
    }
    return ~c;
}

static void test_crc64_long(void)
{
    static unsigned char buf[70000 + 3]; /* longest length + largest offset */
    uint32_t r = 12345;
    for (size_t i = 0; i < sizeof buf; i++) {
        r = r * 1103515245u + 12345u;
        buf[i] = (unsigned char)(r >> 16);
    }
    static const size_t lens[] = {0, 1, 255, 256, 257, 271, 272, 1000, 4096, 65536, 69999};
    int bad = 0;
    for (size_t li = 0; li < CT_ARRAY_LEN(lens); li++) {
        for (size_t off = 0; off < 3; off++) {
            size_t n = lens[li];
            uint64_t want = crc64_ref(buf + off, n);
            unsigned char raw[8];
            for (int i = 0; i < 8; i++)
                raw[i] = (unsigned char)(want >> (56 - 8 * i));
            char want64[16], got[CT_CKSUM_B64_MAX];
            EVP_EncodeBlock((unsigned char *)want64, raw, 8);
            ct_cksum c;
            ct_cksum_init(&c, CT_CKSUM_CRC64NVME);
            size_t split = n / 3 + off;
            if (split > n)
                split = n;
            ct_cksum_update(&c, buf + off, split);
            ct_cksum_update(&c, buf + off + split, n - split);
            ct_cksum_final(&c, got);
            ct_cksum_free(&c);
            if (strcmp(got, want64) != 0) {
                fprintf(stderr, "crc64nvme len %zu off %zu: %s != %s\n", n, off, got, want64);
                bad++;
            }
        }
    }
    CHECK(bad == 0);
}

int main(void)
{
    test_crc64_long();
    test_doc_signed();
    test_doc_signed_trailer();
    test_unsigned_trailer();
    test_framing_errors();
    test_checksums();
    CT_TEST_END();
}
