/* aws-chunked body decoding (STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER],
 * STREAMING-UNSIGNED-PAYLOAD-TRAILER) and the flexible checksums
 * (CRC32, CRC32C, CRC64NVME, SHA1, SHA256) its trailers carry.
 *
 * Wire format (docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming.html
 * and sigv4-streaming-trailers.html):
 *   signed:   hex-size;chunk-signature=SIG CRLF data CRLF ... 0;chunk-signature=SIG CRLF
 *   unsigned: hex-size CRLF data CRLF ... 0 CRLF
 *   then trailer lines "name:value" CRLF (x-amz-trailer-signature last in the
 *   signed-trailer variant) and a closing CRLF.
 * The decoder is a byte-driven state machine; input may be split anywhere.
 * Chunk data is streamed to the sink before its signature is checked (the
 * signature trails the data); callers discard the upload on any failure. */
#include "iam/iam.h"
#include "iam/iam_crc.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LINE_MAX_LEN 4096                  /* chunk-size line or trailer line */
#define CHUNK_MAX ((uint64_t)16 << 20)     /* one chunk's data */
#define TRAILERS_MAX 8192                  /* hashed trailer text */
#define TRAILER_LINES_MAX 8

static const char EMPTY_SHA256[] =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/* ---- checksums ---- */

/* Reflected CRCs, slice-by-8: tab[k][i] is the CRC of byte i followed by k
 * zero bytes. CRC-32 and CRC-32C use the low 32 bits of the same code. */
enum { CRC_32, CRC_32C, CRC_64NVME, CRC_KINDS };
static uint64_t crc_tab[CRC_KINDS][8][256];
static pthread_once_t tab_once = PTHREAD_ONCE_INIT;

static void tables_init(void)
{
    static const uint64_t poly[CRC_KINDS] = {0xEDB88320u, 0x82F63B78u, 0x9A6C9329AC4BC9B5ull};
    for (int t = 0; t < CRC_KINDS; t++) {
        for (uint64_t i = 0; i < 256; i++) {
            uint64_t c = i;
            for (int k = 0; k < 8; k++)
                c = (c >> 1) ^ (poly[t] & (0ull - (c & 1)));
            crc_tab[t][0][i] = c;
        }
        for (int k = 1; k < 8; k++)
            for (int i = 0; i < 256; i++) {
                uint64_t prev = crc_tab[t][k - 1][i];
                crc_tab[t][k][i] = (prev >> 8) ^ crc_tab[t][0][prev & 0xff];
            }
    }
}

static uint64_t crc_update(int kind, uint64_t crc, const unsigned char *s, size_t n)
{
    unsigned char folded[16];
    size_t done = kind == CRC_64NVME ? iam_crc64nvme_fold(crc, s, n, folded) : 0;
    if (done) /* continue from the folded remainder, register zero */
        return crc_update(kind, crc_update(kind, 0, folded, 16), s + done, n - done);
    const uint64_t(*tab)[256] = crc_tab[kind];
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    for (; n >= 8; n -= 8, s += 8) {
        uint64_t v;
        memcpy(&v, s, 8);
        v ^= crc;
        crc = tab[7][v & 0xff] ^ tab[6][(v >> 8) & 0xff] ^ tab[5][(v >> 16) & 0xff] ^
              tab[4][(v >> 24) & 0xff] ^ tab[3][(v >> 32) & 0xff] ^ tab[2][(v >> 40) & 0xff] ^
              tab[1][(v >> 48) & 0xff] ^ tab[0][v >> 56];
    }
#endif
    for (; n; n--, s++)
        crc = tab[0][(crc ^ *s) & 0xff] ^ (crc >> 8);
    return crc;
}

static const struct {
    const char *name;
    ct_cksum_algo algo;
} algo_names[] = {
    {"crc32", CT_CKSUM_CRC32},         {"crc32c", CT_CKSUM_CRC32C},
    {"crc64nvme", CT_CKSUM_CRC64NVME}, {"sha1", CT_CKSUM_SHA1},
    {"sha256", CT_CKSUM_SHA256},
};

ct_cksum_algo ct_cksum_from_name(const char *name)
{
    static const char prefix[] = "x-amz-checksum-";
    if (!name)
        return CT_CKSUM_NONE;
    if (strncasecmp(name, prefix, sizeof prefix - 1) == 0)
        name += sizeof prefix - 1;
    for (size_t i = 0; i < CT_ARRAY_LEN(algo_names); i++)
        if (strcasecmp(name, algo_names[i].name) == 0)
            return algo_names[i].algo;
    return CT_CKSUM_NONE;
}

const char *ct_cksum_name(ct_cksum_algo a)
{
    for (size_t i = 0; i < CT_ARRAY_LEN(algo_names); i++)
        if (algo_names[i].algo == a)
            return algo_names[i].name;
    return NULL;
}

ct_err ct_cksum_init(ct_cksum *c, ct_cksum_algo a)
{
    pthread_once(&tab_once, tables_init);
    memset(c, 0, sizeof *c);
    c->algo = a;
    c->crc = a == CT_CKSUM_CRC64NVME ? ~0ull : 0xffffffffu;
    if (a != CT_CKSUM_SHA1 && a != CT_CKSUM_SHA256)
        return a == CT_CKSUM_NONE ? CT_ERR_INVALID : CT_OK;
    c->md = EVP_MD_CTX_new();
    if (!c->md)
        return CT_ERR_NOMEM;
    if (EVP_DigestInit_ex(c->md, a == CT_CKSUM_SHA1 ? EVP_sha1() : EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(c->md);
        c->md = NULL;
        return CT_ERR_INTERNAL;
    }
    return CT_OK;
}

void ct_cksum_update(ct_cksum *c, const void *p, size_t n)
{
    switch (c->algo) {
    case CT_CKSUM_CRC32:
        c->crc = crc_update(CRC_32, c->crc, p, n);
        break;
    case CT_CKSUM_CRC32C:
        c->crc = crc_update(CRC_32C, c->crc, p, n);
        break;
    case CT_CKSUM_CRC64NVME:
        c->crc = crc_update(CRC_64NVME, c->crc, p, n);
        break;
    case CT_CKSUM_SHA1:
    case CT_CKSUM_SHA256:
        if (c->md)
            EVP_DigestUpdate(c->md, p, n);
        break;
    case CT_CKSUM_NONE:
        break;
    }
}

ct_err ct_cksum_final(ct_cksum *c, char out[CT_CKSUM_B64_MAX])
{
    unsigned char raw[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    if (c->algo == CT_CKSUM_CRC32 || c->algo == CT_CKSUM_CRC32C) {
        uint32_t v = (uint32_t)~c->crc;
        for (int i = 0; i < 4; i++)
            raw[i] = (unsigned char)(v >> (24 - 8 * i));
        len = 4;
    } else if (c->algo == CT_CKSUM_CRC64NVME) {
        uint64_t v = ~c->crc;
        for (int i = 0; i < 8; i++)
            raw[i] = (unsigned char)(v >> (56 - 8 * i));
        len = 8;
    } else if (!c->md || EVP_DigestFinal_ex(c->md, raw, &len) != 1) {
        return CT_ERR_INVALID;
    }
    EVP_EncodeBlock((unsigned char *)out, raw, (int)len);
    return CT_OK;
}

void ct_cksum_free(ct_cksum *c)
{
    EVP_MD_CTX_free(c->md);
    c->md = NULL;
}

/* ---- decoder state ---- */

enum { ST_SIZE, ST_DATA, ST_DATA_CR, ST_DATA_LF, ST_TRAILER, ST_DONE, ST_ERROR };

struct ct_chunked {
    ct_chunked_mode mode;
    int state;
    ct_err err;
    char errmsg[160];
    unsigned char key[32];
    char prev_sig[65];  /* seed, then each verified chunk signature */
    char chunk_sig[65]; /* the signature announced for the current chunk */
    char amz_date[17];
    char scope[128];
    char line[LINE_MAX_LEN];
    size_t line_len;
    uint64_t chunk_left;
    int last_chunk;
    uint64_t decoded;
    EVP_MD_CTX *md;             /* SHA-256 of the current chunk (signed modes) */
    ct_cksum ck;                /* declared trailer checksum, if any */
    char ck_name[48];           /* "x-amz-checksum-crc32" */
    char ck_value[CT_CKSUM_B64_MAX];
    int ck_got;
    char trailers[TRAILERS_MAX]; /* "name:value\n" ... as hashed for the trailer signature */
    size_t trailers_len;
    int trailer_lines;
    char trailer_sig[65];
};

static int is_signed(const ct_chunked *c) { return c->mode != CT_CHUNKED_UNSIGNED_TRAILER; }

static ct_err fail(ct_chunked *c, ct_err e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static ct_err fail(ct_chunked *c, ct_err e, const char *fmt, ...)
{
    if (c->state == ST_ERROR)
        return c->err;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->errmsg, sizeof c->errmsg, fmt, ap);
    va_end(ap);
    c->err = e;
    c->state = ST_ERROR;
    return e;
}

static int hexval(int ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* 64 hex digits -> lowercase copy; -1 if malformed. */
static int copy_sig(char dst[65], const char *s, size_t n)
{
    if (n != 64)
        return -1;
    for (size_t i = 0; i < 64; i++) {
        if (hexval((unsigned char)s[i]) < 0)
            return -1;
        dst[i] = (char)((s[i] >= 'A' && s[i] <= 'F') ? s[i] + 32 : s[i]);
    }
    dst[64] = '\0';
    return 0;
}

static void trim(const char **s, size_t *n)
{
    while (*n && ((*s)[0] == ' ' || (*s)[0] == '\t')) {
        (*s)++;
        (*n)--;
    }
    while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
        (*n)--;
}

/* x-amz-trailer: comma-separated names; only one checksum trailer is supported. */
static int parse_trailer_names(ct_chunked *c, const char *names)
{
    const char *p = names;
    while (*p) {
        size_t n = strcspn(p, ",");
        const char *tok = p;
        size_t tl = n;
        trim(&tok, &tl);
        p += n + (p[n] == ',');
        if (!tl)
            continue;
        char name[48];
        if (tl >= sizeof name || c->ck_name[0])
            return -1;
        for (size_t i = 0; i < tl; i++)
            name[i] = (char)((tok[i] >= 'A' && tok[i] <= 'Z') ? tok[i] + 32 : tok[i]);
        name[tl] = '\0';
        ct_cksum_algo a = ct_cksum_from_name(name);
        if (a == CT_CKSUM_NONE || strncmp(name, "x-amz-checksum-", 15) != 0)
            return -1;
        if (ct_cksum_init(&c->ck, a))
            return -1;
        memcpy(c->ck_name, name, tl + 1);
    }
    return 0;
}

ct_chunked *ct_chunked_new(ct_chunked_mode mode, const unsigned char key[32],
                           const char *seed_signature, const char *amz_date, const char *scope,
                           const char *trailer_names)
{
    ct_chunked *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->mode = mode;
    c->state = ST_SIZE;
    c->md = EVP_MD_CTX_new();
    if (!c->md) {
        free(c);
        return NULL;
    }
    if (mode != CT_CHUNKED_SIGNED && mode != CT_CHUNKED_SIGNED_TRAILER &&
        mode != CT_CHUNKED_UNSIGNED_TRAILER) {
        fail(c, CT_ERR_INVALID, "unknown aws-chunked mode");
        return c;
    }
    if (is_signed(c)) {
        if (!key || !seed_signature || !amz_date || !scope ||
            copy_sig(c->prev_sig, seed_signature, strlen(seed_signature)) ||
            ct_snprintf(c->amz_date, sizeof c->amz_date, "%s", amz_date) ||
            ct_snprintf(c->scope, sizeof c->scope, "%s", scope)) {
            fail(c, CT_ERR_INVALID, "bad seed signature, date or scope for aws-chunked");
            return c;
        }
        memcpy(c->key, key, 32);
    }
    if (mode != CT_CHUNKED_SIGNED && trailer_names && parse_trailer_names(c, trailer_names))
        fail(c, CT_ERR_INVALID, "unsupported x-amz-trailer value");
    return c;
}

void ct_chunked_free(ct_chunked *c)
{
    if (!c)
        return;
    EVP_MD_CTX_free(c->md);
    ct_cksum_free(&c->ck);
    memset(c->key, 0, sizeof c->key);
    free(c);
}

uint64_t ct_chunked_decoded(const ct_chunked *c) { return c ? c->decoded : 0; }

/* ---- signatures ---- */

static int sig_matches(ct_chunked *c, const char *kind, const char *hash_hex, const char *expect)
{
    char sts[512], sig[65];
    unsigned char mac[32];
    int n = snprintf(sts, sizeof sts, "AWS4-HMAC-SHA256-%s\n%s\n%s\n%s\n%s%s%s", kind, c->amz_date,
                     c->scope, c->prev_sig, strcmp(kind, "PAYLOAD") == 0 ? EMPTY_SHA256 : "",
                     strcmp(kind, "PAYLOAD") == 0 ? "\n" : "", hash_hex);
    if (n < 0 || (size_t)n >= sizeof sts)
        return 0;
    ct_hmac_sha256(c->key, 32, sts, (size_t)n, mac);
    ct_hex(mac, 32, sig);
    if (ct_consttime_cmp(sig, expect) != 0)
        return 0;
    memcpy(c->prev_sig, sig, 65);
    return 1;
}

static ct_err chunk_verify(ct_chunked *c)
{
    unsigned char h[32];
    char hex[65];
    unsigned len = 0;
    if (!is_signed(c))
        return CT_OK;
    if (EVP_DigestFinal_ex(c->md, h, &len) != 1)
        return fail(c, CT_ERR_INTERNAL, "digest failed");
    ct_hex(h, 32, hex);
    if (!sig_matches(c, "PAYLOAD", hex, c->chunk_sig))
        return fail(c, CT_ERR_AUTH, "chunk signature mismatch after %llu decoded bytes",
                    (unsigned long long)c->decoded);
    return CT_OK;
}

/* ---- chunk-size line ---- */

static ct_err size_line(ct_chunked *c, const char *s, size_t n)
{
    size_t i = 0;
    uint64_t size = 0;
    for (; i < n && hexval((unsigned char)s[i]) >= 0; i++) {
        size = size * 16 + (uint64_t)hexval((unsigned char)s[i]);
        if (size > CHUNK_MAX)
            return fail(c, CT_ERR_TOO_LARGE, "aws-chunked chunk larger than 16 MiB");
    }
    if (i == 0)
        return fail(c, CT_ERR_INVALID, "malformed aws-chunked chunk size");
    static const char ext[] = ";chunk-signature=";
    if (is_signed(c)) {
        if (n - i != sizeof ext - 1 + 64 || memcmp(s + i, ext, sizeof ext - 1) != 0 ||
            copy_sig(c->chunk_sig, s + i + sizeof ext - 1, 64))
            return fail(c, CT_ERR_INVALID, "missing or malformed chunk-signature");
        if (EVP_DigestInit_ex(c->md, EVP_sha256(), NULL) != 1)
            return fail(c, CT_ERR_INTERNAL, "digest failed");
    } else if (i < n && s[i] != ';') {
        return fail(c, CT_ERR_INVALID, "malformed aws-chunked chunk size");
    }
    c->chunk_left = size;
    if (size) {
        c->state = ST_DATA;
        return CT_OK;
    }
    c->last_chunk = 1;
    c->state = ST_TRAILER;
    return chunk_verify(c);
}

/* ---- trailers ---- */

static ct_err trailer_line(ct_chunked *c, const char *s, size_t n)
{
    const char *colon = memchr(s, ':', n);
    if (c->mode == CT_CHUNKED_SIGNED)
        return fail(c, CT_ERR_INVALID, "unexpected trailer in STREAMING-AWS4-HMAC-SHA256-PAYLOAD");
    if (!colon || c->trailer_sig[0] || ++c->trailer_lines > TRAILER_LINES_MAX)
        return fail(c, CT_ERR_INVALID, "malformed aws-chunked trailer");
    const char *name = s, *val = colon + 1;
    size_t nl = (size_t)(colon - s), vl = n - nl - 1;
    trim(&name, &nl);
    trim(&val, &vl);
    char lname[48];
    if (!nl || nl >= sizeof lname)
        return fail(c, CT_ERR_INVALID, "malformed aws-chunked trailer");
    for (size_t i = 0; i < nl; i++)
        lname[i] = (char)((name[i] >= 'A' && name[i] <= 'Z') ? name[i] + 32 : name[i]);
    lname[nl] = '\0';
    if (strcmp(lname, "x-amz-trailer-signature") == 0) {
        if (c->mode != CT_CHUNKED_SIGNED_TRAILER || copy_sig(c->trailer_sig, val, vl))
            return fail(c, CT_ERR_INVALID, "malformed x-amz-trailer-signature");
        return CT_OK;
    }
    if (!c->ck_name[0] || strcmp(lname, c->ck_name) != 0 || c->ck_got)
        return fail(c, CT_ERR_INVALID, "trailer %s was not declared in x-amz-trailer", lname);
    if (vl >= sizeof c->ck_value || memchr(val, '\0', vl))
        return fail(c, CT_ERR_INVALID, "malformed %s trailer", lname);
    memcpy(c->ck_value, val, vl);
    c->ck_value[vl] = '\0';
    c->ck_got = 1;
    int w = snprintf(c->trailers + c->trailers_len, sizeof c->trailers - c->trailers_len,
                     "%s:%s\n", lname, c->ck_value);
    if (w < 0 || (size_t)w >= sizeof c->trailers - c->trailers_len)
        return fail(c, CT_ERR_INVALID, "aws-chunked trailers too long");
    c->trailers_len += (size_t)w;
    return CT_OK;
}

static ct_err trailers_end(ct_chunked *c)
{
    if (c->mode == CT_CHUNKED_SIGNED_TRAILER) {
        char hex[65];
        if (!c->trailer_sig[0])
            return fail(c, CT_ERR_AUTH, "missing x-amz-trailer-signature");
        ct_sha256_hex(c->trailers, c->trailers_len, hex);
        if (!sig_matches(c, "TRAILER", hex, c->trailer_sig))
            return fail(c, CT_ERR_AUTH, "trailer signature mismatch");
    }
    if (c->ck_name[0]) {
        char mine[CT_CKSUM_B64_MAX];
        if (!c->ck_got)
            return fail(c, CT_ERR_INVALID, "declared trailer %s is missing", c->ck_name);
        if (ct_cksum_final(&c->ck, mine))
            return fail(c, CT_ERR_INTERNAL, "checksum failed");
        if (strcmp(mine, c->ck_value) != 0)
            return fail(c, CT_ERR_DIGEST, "%s mismatch: sent %s, computed %s", c->ck_name,
                        c->ck_value, mine);
    }
    c->state = ST_DONE;
    return CT_OK;
}

/* ---- byte-driven feeding ---- */

/* Accumulates a CRLF-terminated line; returns 1 when c->line holds a full line. */
static int line_byte(ct_chunked *c, char ch)
{
    if (ch == '\n') {
        if (!c->line_len || c->line[c->line_len - 1] != '\r') {
            fail(c, CT_ERR_INVALID, "aws-chunked line not terminated by CRLF");
            return 0;
        }
        c->line_len--;
        return 1;
    }
    if (c->line_len >= sizeof c->line) {
        fail(c, CT_ERR_INVALID, "aws-chunked line longer than %d bytes", LINE_MAX_LEN);
        return 0;
    }
    if (c->line_len && c->line[c->line_len - 1] == '\r') {
        fail(c, CT_ERR_INVALID, "stray CR in aws-chunked line");
        return 0;
    }
    c->line[c->line_len++] = ch;
    return 0;
}

static ct_err line_complete(ct_chunked *c)
{
    size_t n = c->line_len;
    c->line_len = 0;
    if (c->state == ST_SIZE)
        return size_line(c, c->line, n);
    if (n == 0)
        return trailers_end(c);
    return trailer_line(c, c->line, n);
}

static ct_err data_bytes(ct_chunked *c, const char *p, size_t n, ct_chunked_sink sink, void *ctx)
{
    if (is_signed(c) && EVP_DigestUpdate(c->md, p, n) != 1)
        return fail(c, CT_ERR_INTERNAL, "digest failed");
    if (c->ck_name[0])
        ct_cksum_update(&c->ck, p, n);
    c->chunk_left -= n;
    c->decoded += n;
    ct_err e = sink ? sink(ctx, p, n) : CT_OK;
    if (e)
        return fail(c, e, "aws-chunked sink failed: %s", ct_err_str(e));
    if (c->chunk_left == 0) {
        c->state = ST_DATA_CR;
        return chunk_verify(c);
    }
    return CT_OK;
}

static ct_err one_byte(ct_chunked *c, char ch)
{
    switch (c->state) {
    case ST_SIZE:
    case ST_TRAILER:
        return line_byte(c, ch) ? line_complete(c) : (c->state == ST_ERROR ? c->err : CT_OK);
    case ST_DATA_CR:
        if (ch != '\r')
            return fail(c, CT_ERR_INVALID, "aws-chunked data not followed by CRLF");
        c->state = ST_DATA_LF;
        return CT_OK;
    case ST_DATA_LF:
        if (ch != '\n')
            return fail(c, CT_ERR_INVALID, "aws-chunked data not followed by CRLF");
        c->state = ST_SIZE;
        return CT_OK;
    case ST_DONE:
        /* Some clients end with an extra CRLF; anything else is an error. */
        if (ch != '\r' && ch != '\n')
            return fail(c, CT_ERR_INVALID, "data after the end of the aws-chunked stream");
        return CT_OK;
    default:
        return c->err ? c->err : CT_ERR_INTERNAL;
    }
}

ct_err ct_chunked_feed(ct_chunked *c, const char *p, size_t n, ct_chunked_sink sink, void *ctx)
{
    size_t i = 0;
    if (!c)
        return CT_ERR_INVALID;
    while (i < n) {
        if (c->state == ST_ERROR)
            return c->err;
        if (c->state == ST_DATA) {
            size_t take = n - i;
            if (take > c->chunk_left)
                take = (size_t)c->chunk_left;
            ct_err e = data_bytes(c, p + i, take, sink, ctx);
            if (e)
                return e;
            i += take;
            continue;
        }
        ct_err e = one_byte(c, p[i++]);
        if (e)
            return e;
    }
    return c->state == ST_ERROR ? c->err : CT_OK;
}

ct_err ct_chunked_finish(ct_chunked *c, char *msg, size_t msglen)
{
    if (!c)
        return CT_ERR_INVALID;
    if (c->state == ST_DONE) {
        if (msg && msglen)
            msg[0] = '\0';
        return CT_OK;
    }
    if (c->state != ST_ERROR)
        fail(c, CT_ERR_INVALID, "aws-chunked stream ended early (after %llu decoded bytes)",
             (unsigned long long)c->decoded);
    if (msg && msglen)
        snprintf(msg, msglen, "%s", c->errmsg);
    return c->err;
}
