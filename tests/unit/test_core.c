/* Unit tests: core encodings, Range parsing, buffers, times, plan JSON. */
#include "core/core.h"
#include "core/plan.h"
#include "ct_test.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void test_range(void)
{
    uint64_t a, b;
    CHECK(ct_range_parse("bytes=0-99", 1000, &a, &b) == CT_OK && a == 0 && b == 99);
    CHECK(ct_range_parse("bytes=-7", 11, &a, &b) == CT_OK && a == 4 && b == 10);
    CHECK(ct_range_parse("bytes=-100", 11, &a, &b) == CT_OK && a == 0 && b == 10);
    CHECK(ct_range_parse("bytes=5-", 11, &a, &b) == CT_OK && a == 5 && b == 10);
    CHECK(ct_range_parse("bytes=5-1000", 11, &a, &b) == CT_OK && a == 5 && b == 10);
    CHECK(ct_range_parse("bytes=40-50", 11, &a, &b) == CT_ERR_INVALID);
    CHECK(ct_range_parse("bytes=0-0", 0, &a, &b) == CT_ERR_INVALID); /* empty object: 416 */
    CHECK(ct_range_parse("bytes=-0", 11, &a, &b) == CT_ERR_INVALID);
    CHECK(ct_range_parse("bytes=5-3", 11, &a, &b) == CT_ERR_NOT_FOUND); /* invalid: ignore */
    CHECK(ct_range_parse("items=0-1", 11, &a, &b) == CT_ERR_NOT_FOUND);
    CHECK(ct_range_parse("bytes=0-1,3-4", 11, &a, &b) == CT_ERR_NOT_FOUND);
    CHECK(ct_range_parse("bytes=x-1", 11, &a, &b) == CT_ERR_NOT_FOUND);
    CHECK(ct_range_parse("bytes=99999999999999999999-", 11, &a, &b) == CT_ERR_NOT_FOUND);
}

static void test_encodings(void)
{
    ct_buf b = CT_BUF_INIT;
    ct_uri_encode(&b, "a b+c/ü~", 9, 1);
    CHECK_STR(b.data, "a%20b%2Bc/%C3%BC~");
    ct_buf_reset(&b);
    ct_uri_encode(&b, "a/b", 3, 0);
    CHECK_STR(b.data, "a%2Fb");
    ct_buf_reset(&b);
    /* longer than the encoder's 256-byte chunk, escapes across its edges */
    char lng[400], want[1201] = "";
    for (int i = 0; i < 400; i++) {
        lng[i] = i % 3 ? 'x' : ' ';
        strcat(want, i % 3 ? "x" : "%20");
    }
    ct_uri_encode(&b, lng, sizeof lng, 0);
    CHECK_STR(b.data, want);
    ct_buf_reset(&b);
    ct_uri_encode(&b, "", 0, 0);
    CHECK_STR(b.data, "");
    ct_buf_reset(&b);
    ct_form_encode(&b, "red flower+1.mp4");
    CHECK_STR(b.data, "red+flower%2B1.mp4");
    ct_buf_reset(&b);
    ct_xml_escape(&b, "<a&\"'>");
    CHECK_STR(b.data, "&lt;a&amp;&quot;&apos;&gt;");
    ct_buf_free(&b);

    size_t n;
    char *d = ct_uri_decode("a%20b+c", 7, 0, &n);
    CHECK_STR(d, "a b+c");
    free(d);
    d = ct_uri_decode("a%20b+c", 7, 1, &n);
    CHECK_STR(d, "a b c");
    free(d);
    CHECK(ct_uri_decode("bad%2", 5, 0, &n) == NULL);
    CHECK(ct_uri_decode("bad%zz", 6, 0, &n) == NULL);
    d = ct_uri_decode("nul%00x", 7, 0, &n);
    CHECK(d && n == 5);
    free(d);

    char *e = ct_b64_encode((const unsigned char *)"hello", 5);
    CHECK_STR(e, "aGVsbG8=");
    unsigned char out[16];
    CHECK(ct_b64_decode(e, strlen(e), out) == 5 && memcmp(out, "hello", 5) == 0);
    CHECK(ct_b64_decode("abc", 3, out) == -1);
    free(e);
    char hex[65];
    ct_sha256_hex("", 0, hex);
    CHECK_STR(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    /* HMAC-SHA-256, RFC 4231 cases 2 (short key) and 6 (key longer than a block) */
    unsigned char mac[32], longkey[131];
    ct_hmac_sha256("Jefe", 4, "what do ya want for nothing?", 28, mac);
    ct_hex(mac, 32, hex);
    CHECK_STR(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    memset(longkey, 0xaa, sizeof longkey);
    const char *m6 = "Test Using Larger Than Block-Size Key - Hash Key First";
    ct_hmac_sha256(longkey, sizeof longkey, m6, strlen(m6), mac);
    ct_hex(mac, 32, hex);
    CHECK_STR(hex, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
    CHECK(ct_consttime_cmp("abc", "abc") == 0);
    CHECK(ct_consttime_cmp("abc", "abd") != 0);
    CHECK(ct_consttime_cmp("abc", "ab") != 0);
}

/* ct_seal_text / ct_unseal_text: the at-rest form of IAM and webhook secrets. */
static void test_sealed_text(void)
{
    unsigned char key[32], other[32];
    memset(key, 7, sizeof key);
    memset(other, 8, sizeof other);
    const char *secret = "whsec_0123456789abcdef";
    char sealed[CT_SEALED_LEN(22)], out[64];
    CHECK(ct_seal_text(key, "webhook:a", secret, sealed, sizeof sealed - 1) == CT_ERR_TOO_LARGE);
    CHECK(ct_seal_text(key, "webhook:a", secret, sealed, sizeof sealed) == CT_OK);
    CHECK(ct_is_sealed(sealed) && !ct_is_sealed(secret) && !strstr(sealed, secret));
    CHECK(strlen(sealed) == sizeof sealed - 1);
    CHECK(ct_unseal_text(key, "webhook:a", sealed, out, sizeof out) == CT_OK);
    CHECK(strcmp(out, secret) == 0);
    CHECK(ct_unseal_text(key, "webhook:a", sealed, out, strlen(secret)) == CT_ERR_TOO_LARGE);
    CHECK(ct_unseal_text(key, "webhook:b", sealed, out, sizeof out) == CT_ERR_DIGEST);
    CHECK(ct_unseal_text(other, "webhook:a", sealed, out, sizeof out) == CT_ERR_DIGEST);
    sealed[10] = sealed[10] == '0' ? '1' : '0'; /* tampered */
    CHECK(ct_unseal_text(key, "webhook:a", sealed, out, sizeof out) == CT_ERR_DIGEST);
    CHECK(ct_unseal_text(key, "webhook:a", "ct1:zz", out, sizeof out) == CT_ERR_INVALID);
    CHECK(ct_unseal_text(key, "webhook:a", secret, out, sizeof out) == CT_ERR_INVALID);
}

static void test_buf_limits(void)
{
    ct_buf b = CT_BUF_INIT;
    b.max = 8;
    CHECK(ct_buf_puts(&b, "12345678") == CT_OK);
    CHECK(ct_buf_puts(&b, "9") == CT_ERR_TOO_LARGE);
    CHECK(b.len == 8);
    ct_buf_free(&b);
    char *d = strdup("abc"), *other = strdup("x");
    CHECK(ct_buf_adopt(&b, d, 3) == CT_OK && b.data == d && b.len == 3);
    CHECK(ct_buf_puts(&b, "def") == CT_OK && strcmp(b.data, "abcdef") == 0);
    CHECK(ct_buf_adopt(&b, other, 1) == CT_ERR_INVALID); /* not empty: other stays ours */
    free(other);
    ct_buf_free(&b);
}

static void test_time(void)
{
    char s[40];
    ct_time_http(784111777000LL, s);
    CHECK_STR(s, "Sun, 06 Nov 1994 08:49:37 GMT");
    CHECK(ct_time_parse_http("Sun, 06 Nov 1994 08:49:37 GMT") == 784111777);
    CHECK(ct_time_parse_http("garbage") == -1);
    ct_time_iso8601(784111777123LL, s);
    CHECK_STR(s, "1994-11-06T08:49:37.123Z");
    /* ct_time_utc agrees with timegm, out-of-range fields included */
    int bad = 0;
    for (int y = 1899; y <= 2401; y += 3)
        for (int mo = 0; mo <= 13; mo++)
            for (int d = 0; d <= 32; d += 4) {
                struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d,
                                .tm_hour = 23, .tm_min = 59, .tm_sec = 60};
                bad += ct_time_utc(y, mo, d, 23, 59, 60) != (int64_t)timegm(&tm);
            }
    CHECK(bad == 0);
    CHECK(ct_time_utc(1970, 1, 1, 0, 0, 0) == 0);
    CHECK(ct_time_utc(2000, 2, 29, 12, 0, 0) == 951825600);
    CHECK(ct_time_utc(2026, 11, 25, 3, 4, 5) == 1795575845);
    CHECK(ct_uri_all_unreserved("AZaz09-._~", 10) && ct_uri_all_unreserved("", 0));
    CHECK(!ct_uri_all_unreserved("a/b", 3) && !ct_uri_all_unreserved("%41", 3) &&
          !ct_uri_all_unreserved("a\xff" "b", 3) && !ct_uri_all_unreserved("a b", 3));
}

static void test_mime(void)
{
    CHECK_STR(ct_mime_from_name("cat video 1-hd.mp4"), "video/mp4");
    CHECK_STR(ct_mime_from_name("a/b.M3U8"), "application/vnd.apple.mpegurl");
    CHECK_STR(ct_mime_from_name("x.mpd"), "application/dash+xml");
    CHECK_STR(ct_mime_from_name("dir.v/noext"), "application/octet-stream");
}

static void test_plan_roundtrip(void)
{
    ct_plan p, q;
    memset(&p, 0, sizeof p);
    strcpy(p.input_path, "/tmp/in put.mov");
    p.n_outputs = 2;
    p.outputs[0].video.codec = CT_VCODEC_H265;
    p.outputs[0].video.max_bitrate = 5000000;
    p.outputs[0].video.qvbr_level = 7;
    p.outputs[0].audio.codec = CT_ACODEC_AAC;
    p.outputs[0].audio.bitrate = 96000;
    p.outputs[0].audio.channels = 2;
    p.outputs[0].audio.sample_rate = 48000;
    strcpy(p.outputs[0].path, "/tmp/o0.mp4");
    p.outputs[1].video.codec = CT_VCODEC_AV1;
    p.outputs[1].video.width = 256;
    p.outputs[1].video.height = 144;
    strcpy(p.outputs[1].path, "/tmp/o1.mp4");
    p.n_outputs = 3;
    p.outputs[2].container = CT_CONTAINER_HLS_TS;
    p.outputs[2].video.codec = CT_VCODEC_JPEG;
    p.outputs[2].video.fc_num = 1;
    p.outputs[2].video.fc_den = 2;
    p.outputs[2].video.fc_max = 10;
    p.outputs[2].video.fc_quality = 80;
    p.outputs[2].group = 1;
    p.outputs[2].segment_length = 6;
    strcpy(p.outputs[2].path, "/tmp/hls");
    strcpy(p.outputs[2].name, "in put_360p");
    strcpy(p.outputs[2].master, "in put.m3u8");
    p.max_duration_s = 3600.5;
    char *json = ct_plan_to_json(&p);
    char err[256];
    CHECK(json && ct_plan_from_json(json, &q, err, sizeof err) == CT_OK);
    CHECK(memcmp(&p, &q, sizeof p) == 0);
    free(json);
    CHECK(ct_plan_from_json("{\"input_path\":1}", &q, err, sizeof err) == CT_ERR_INVALID);
    CHECK(ct_plan_from_json("not json", &q, err, sizeof err) == CT_ERR_INVALID);
    CHECK(ct_plan_output_is_multi(&p.outputs[2]) && !ct_plan_output_is_multi(&p.outputs[0]));
    CHECK(ct_plan_name_ok("clip_720p_00001.ts") && ct_plan_name_ok("a b%c"));
    CHECK(!ct_plan_name_ok("") && !ct_plan_name_ok("..") && !ct_plan_name_ok(".hidden"));
    CHECK(!ct_plan_name_ok("a/b") && !ct_plan_name_ok("a\nb") && !ct_plan_name_ok("a\\b"));
}

static void test_utf8(void)
{
    CHECK(ct_utf8_valid("", 0));
    CHECK(ct_utf8_valid("cat clip.mp4", 12));
    CHECK(ct_utf8_valid("\xc3\xbc \xe2\x82\xac \xf0\x9f\x90\x88", 11)); /* ü € 🐈 */
    CHECK(!ct_utf8_valid("\xff", 1));
    CHECK(!ct_utf8_valid("\xc3", 1));                 /* truncated */
    CHECK(!ct_utf8_valid("\xc0\xaf", 2));             /* overlong '/' */
    CHECK(!ct_utf8_valid("\xe0\x80\xaf", 3));         /* overlong */
    CHECK(!ct_utf8_valid("\xed\xa0\x80", 3));         /* surrogate */
    CHECK(!ct_utf8_valid("\xf4\x90\x80\x80", 4));     /* > U+10FFFF */
    CHECK(!ct_utf8_valid("a\x80" "b", 3));             /* lone continuation */
}

/* ct_pread_all: exactly n bytes at an offset, CT_ERR_IO past the end. */
static void test_pread_all(void)
{
    char path[] = "/tmp/ct-test-pread-XXXXXX", got[8] = {0};
    int fd = mkstemp(path);
    CHECK(fd >= 0 && ct_write_all(fd, "0123456789", 10) == CT_OK);
    CHECK(ct_pread_all(fd, got, 4, 3) == CT_OK && memcmp(got, "3456", 4) == 0);
    CHECK(ct_pread_all(fd, got, 0, 10) == CT_OK);
    CHECK(ct_pread_all(fd, got, 4, 8) == CT_ERR_IO); /* 2 bytes left: a short file */
    CHECK(ct_pread_all(-1, got, 1, 0) == CT_ERR_IO);
    close(fd);
    unlink(path);
}

int main(void)
{
    test_utf8();
    test_pread_all();
    test_range();
    test_encodings();
    test_sealed_text();
    test_buf_limits();
    test_time();
    test_mime();
    test_plan_roundtrip();
    CT_TEST_END();
}
