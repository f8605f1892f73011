/* core: errors, logging, bounded buffers, encoding and crypto helpers, time.
 *
 * DESIGN: every module returns ct_err (0 = CT_OK). Each wire protocol maps
 * ct_err to its own error shape in one table (s3/s3_errors.c, mc/mc_errors.c).
 * Strings passed in are borrowed; functions that return heap memory say so
 * and the caller frees it with free(). */
#ifndef CT_CORE_H
#define CT_CORE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

typedef enum {
    CT_OK = 0,
    CT_ERR_NOMEM,        /* allocation failed */
    CT_ERR_IO,           /* read/write/fsync failed */
    CT_ERR_NOSPC,        /* disk full */
    CT_ERR_INVALID,      /* malformed client input */
    CT_ERR_NOT_FOUND,    /* no such thing */
    CT_ERR_EXISTS,       /* already exists */
    CT_ERR_CONFLICT,     /* state forbids the operation */
    CT_ERR_DENIED,       /* authorization refused */
    CT_ERR_AUTH,         /* signature did not match / bad credentials */
    CT_ERR_SKEW,         /* request time too far from server time */
    CT_ERR_EXPIRED,      /* presigned URL expired */
    CT_ERR_TOO_LARGE,    /* a size limit was exceeded */
    CT_ERR_PRECONDITION, /* conditional request failed */
    CT_ERR_UNSUPPORTED,  /* valid but not implemented */
    CT_ERR_DIGEST,       /* checksum / Content-MD5 mismatch */
    CT_ERR_DB,           /* database error */
    CT_ERR_CANCELED,     /* operation canceled */
    CT_ERR_TIMEOUT,      /* deadline passed */
    CT_ERR_INTERNAL,     /* bug or unexpected failure */
    CT_ERR__COUNT
} ct_err;

const char *ct_err_str(ct_err e);

/* ---- logging (to stderr, one line per call, thread-safe) ---- */
typedef enum { CT_LOG_DEBUG, CT_LOG_INFO, CT_LOG_WARN, CT_LOG_ERROR } ct_log_level;
void ct_log_set_level(ct_log_level lvl);
void ct_log(ct_log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define ct_debug(...) ct_log(CT_LOG_DEBUG, __VA_ARGS__)
#define ct_info(...)  ct_log(CT_LOG_INFO, __VA_ARGS__)
#define ct_warn(...)  ct_log(CT_LOG_WARN, __VA_ARGS__)
#define ct_error(...) ct_log(CT_LOG_ERROR, __VA_ARGS__)

/* ---- bounded dynamic buffer; always NUL-terminated when data != NULL ---- */
typedef struct {
    char *data;
    size_t len;
    size_t cap;
    size_t max; /* 0 = CT_BUF_DEFAULT_MAX */
} ct_buf;
#define CT_BUF_DEFAULT_MAX ((size_t)64 << 20)
#define CT_BUF_INIT {NULL, 0, 0, 0}
ct_err ct_buf_append(ct_buf *b, const void *p, size_t n);
/* Room for extra more bytes (and the NUL) at data + len, for writing in place. */
ct_err ct_buf_reserve(ct_buf *b, size_t extra);
ct_err ct_buf_puts(ct_buf *b, const char *s);
ct_err ct_buf_printf(ct_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
ct_err ct_buf_vprintf(ct_buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
void ct_buf_reset(ct_buf *b);
void ct_buf_free(ct_buf *b);
/* Hands the data to the caller (free() it); b becomes empty. */
char *ct_buf_take(ct_buf *b);
/* The reverse: an empty b takes data (malloc'd, len bytes then a NUL);
 * CT_ERR_INVALID, nothing taken, when b is not empty or len past its max. */
ct_err ct_buf_adopt(ct_buf *b, char *data, size_t len);

/* ---- encodings ---- */
void ct_hex(const unsigned char *in, size_t n, char *out /* 2n+1 */);
int ct_unhex(const char *in, size_t n, unsigned char *out); /* -1 on bad hex */
/* Base64 (standard alphabet, padded). Returns heap string. */
char *ct_b64_encode(const unsigned char *in, size_t n);
/* Returns bytes written or -1. out must hold 3*(n/4)+3 bytes. */
long ct_b64_decode(const char *in, size_t n, unsigned char *out);
/* RFC 3986 encoding as SigV4 wants it: unreserved kept, everything else %XX;
 * '/' kept when keep_slash. Appends to b. */
ct_err ct_uri_encode(ct_buf *b, const char *s, size_t n, int keep_slash);
/* 1 when every byte of s[0..n) is unreserved (A-Z a-z 0-9 - . _ ~). */
int ct_uri_all_unreserved(const char *s, size_t n);
/* Percent-decoding; '+' becomes space only when plus_is_space. Returns heap
 * string (may contain NUL bytes: *out_len is the real length), NULL on
 * malformed escape. */
char *ct_uri_decode(const char *s, size_t n, int plus_is_space, size_t *out_len);
/* 1 when s[0..n) is well-formed UTF-8 (no overlongs, surrogates or > U+10FFFF). */
int ct_utf8_valid(const char *s, size_t n);
/* application/x-www-form-urlencoded (S3 event keys: space -> '+'). */
ct_err ct_form_encode(ct_buf *b, const char *s);
/* XML text escaping (&<>"'), appends to b. */
ct_err ct_xml_escape(ct_buf *b, const char *s);

/* ---- crypto (OpenSSL) ---- */
void ct_sha256(const void *p, size_t n, unsigned char out[32]);
void ct_sha256_hex(const void *p, size_t n, char out[65]);
void ct_hmac_sha256(const void *key, size_t klen, const void *p, size_t n, unsigned char out[32]);
void ct_md5(const void *p, size_t n, unsigned char out[16]);
/* OpenSSL's MD5, fetched from the provider once (EVP_md5() looks it up on
 * every EVP_DigestInit_ex): for EVP_DigestInit_ex(ctx, ct_md5_md(), NULL). */
struct evp_md_st;
const struct evp_md_st *ct_md5_md(void);
/* Constant-time comparison of equal-length strings; 0 when equal. */
int ct_consttime_cmp(const char *a, const char *b);
/* Cryptographically random lowercase hex string of n chars (n even). */
void ct_random_hex(char *out, size_t n);
/* Random string from [A-Z0-9] (access keys) or base62 (secrets). */
void ct_random_alnum(char *out, size_t n, int upper_only);
/* AES-256-GCM: out = 12-byte random nonce | ciphertext | 16-byte tag, so
 * outcap must be at least n + CT_AEAD_OVERHEAD. aad is authenticated, not
 * stored. open returns CT_ERR_DIGEST when the tag does not verify. */
#define CT_AEAD_OVERHEAD 28
ct_err ct_aead_seal(const unsigned char key[32], const void *aad, size_t aadlen, const void *in,
                    size_t n, unsigned char *out, size_t outcap, size_t *outlen);
ct_err ct_aead_open(const unsigned char key[32], const void *aad, size_t aadlen,
                    const unsigned char *in, size_t n, unsigned char *out, size_t outcap,
                    size_t *outlen);
/* A secret sealed at rest (IAM user secrets, webhook secrets): "ct1:" +
 * hex(ct_aead_seal(key, aad, text)). aad binds it to its row (the access key,
 * the webhook name) so sealed values cannot be swapped between rows. out
 * needs CT_SEALED_LEN(strlen(text)) bytes. */
#define CT_SEALED_PREFIX "ct1:"
#define CT_SEALED_LEN(n) (4 + 2 * ((n) + CT_AEAD_OVERHEAD) + 1)
ct_err ct_seal_text(const unsigned char key[32], const char *aad, const char *text, char *out,
                    size_t outcap);
int ct_is_sealed(const char *stored);
/* Sealed form -> text in out (NUL-terminated); CT_ERR_DIGEST when it does not
 * open with key (another key, or tampered), CT_ERR_INVALID when malformed,
 * CT_ERR_TOO_LARGE when out is too small. */
ct_err ct_unseal_text(const unsigned char key[32], const char *aad, const char *sealed, char *out,
                      size_t outcap);

/* ---- time ---- */
int64_t ct_now_ms(void);          /* wall clock, ms since epoch */
int64_t ct_mono_ms(void);         /* monotonic ms */
/* "2006-01-02T15:04:05.000Z" */
void ct_time_iso8601(int64_t ms, char out[32]);
/* "Mon, 02 Jan 2006 15:04:05 GMT" */
void ct_time_http(int64_t ms, char out[40]);
/* Parses IMF-fixdate (and RFC 850/asctime); -1 on error. Seconds since epoch. */
int64_t ct_time_parse_http(const char *s);
/* Seconds since the epoch of a UTC civil time (month 1-12), normalising
 * out-of-range fields as timegm does, without timegm's time-zone lock. */
int64_t ct_time_utc(int year, int month, int day, int hour, int min, int sec);

/* ---- files ---- */
/* fsync a directory by path. */
ct_err ct_fsync_dir(const char *path);
/* mkdir -p */
ct_err ct_mkdirs(const char *path, int mode);
/* Whole file into heap buffer (max bytes); NUL-terminated. */
ct_err ct_read_file(const char *path, size_t max, char **out, size_t *len);
/* Writes all n bytes to fd (retrying short writes and EINTR): CT_ERR_NOSPC
 * on a full disk, else CT_ERR_IO. */
ct_err ct_write_all(int fd, const void *p, size_t n);
/* Reads exactly n bytes at offset off of fd (retrying short reads and
 * EINTR); CT_ERR_IO when the file ends first or the read fails. */
ct_err ct_pread_all(int fd, void *p, size_t n, uint64_t off);
/* Atomic replace: write tmp, fsync, rename, fsync dir. */
ct_err ct_write_file_atomic(const char *path, const void *p, size_t n, int mode);

/* ---- misc ---- */
#define CT_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
/* snprintf that reports truncation as CT_ERR_TOO_LARGE. */
ct_err ct_snprintf(char *out, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Content-Type from a key's extension ("video/mp4", ...); default
 * "application/octet-stream". */
const char *ct_mime_from_name(const char *name);
/* FNV-1a of a NUL-terminated string: hash tables keyed by text. */
uint64_t ct_fnv1a(const char *s);

/* ---- HTTP Range (RFC 9110) ----
 * Parses a Range header value against an object of size len.
 * Returns CT_OK with *start and *end (inclusive) for one satisfiable range;
 * CT_ERR_NOT_FOUND when the header should be ignored (syntax not bytes=,
 * multiple ranges for callers that serve only one => serve 200);
 * CT_ERR_INVALID when unsatisfiable (answer 416 with bytes * /len). */
ct_err ct_range_parse(const char *hdr, uint64_t len, uint64_t *start, uint64_t *end);

#endif
