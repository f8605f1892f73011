/* iam: SigV4 request verification and signing, aws-chunked body decoding.
 * (Users, keys and policy evaluation come later, in this module.)
 *
 * DESIGN: verification works on the raw request target exactly as sent,
 * never on a decoded URL. S3 mode (service "s3") uses the path as sent
 * (no normalisation, single encoding); other services normalise and
 * double-encode as AWS's generic test suite does. All comparisons of
 * signatures are constant time. Nothing here allocates except where noted. */
#ifndef CT_IAM_H
#define CT_IAM_H

#include "core/core.h"

/* Header lookup supplied by the caller: value of header `lower_name` (names
 * are compared case-insensitively by the caller), or NULL. Multi-valued
 * headers are joined with ',' by the caller. */
typedef const char *(*ct_sigv4_header_fn)(void *ctx, const char *lower_name);

typedef struct {
    const char *method;          /* "GET" */
    const char *raw_target;      /* "/bucket/key%20x?list-type=2&prefix=a" as on the wire */
    ct_sigv4_header_fn header;
    void *header_ctx;
} ct_sigv4_request;

typedef struct {
    int presigned;               /* credentials came from the query string */
    char access_key[128];
    char date[9];                /* scope date YYYYMMDD */
    char region[32];
    char service[32];
    char amz_date[17];           /* YYYYMMDDTHHMMSSZ */
    char signed_headers[1024];   /* "host;x-amz-date" */
    char signature[65];          /* lowercase hex */
    long expires;                /* X-Amz-Expires (presigned), else 0 */
    char content_sha256[80];     /* x-amz-content-sha256 header value, or "" */
} ct_sigv4_auth;

/* Parses Authorization: AWS4-HMAC-SHA256 ... or X-Amz-* query parameters.
 * CT_ERR_NOT_FOUND when the request carries no credentials (anonymous);
 * CT_ERR_INVALID with a message for malformed ones. */
ct_err ct_sigv4_parse(const ct_sigv4_request *req, ct_sigv4_auth *out, char *msg, size_t msglen);

/* Verifies the signature with secret. payload_hash is the hex SHA-256 of the
 * body, or the literal x-amz-content-sha256 value (UNSIGNED-PAYLOAD,
 * STREAMING-...) when the client sent one; presigned requests use
 * UNSIGNED-PAYLOAD. now is the server's time (seconds). Returns CT_OK,
 * CT_ERR_AUTH (mismatch), CT_ERR_SKEW (> 15 min off), CT_ERR_EXPIRED
 * (presigned past X-Amz-Expires) or CT_ERR_INVALID (bad expiry, bad date).
 * On CT_ERR_AUTH msg receives the canonical request and string to sign for
 * the error body (S3 returns them). */
ct_err ct_sigv4_verify(const ct_sigv4_request *req, const ct_sigv4_auth *auth, const char *secret,
                       const char *payload_hash, time_t now, char *msg, size_t msglen);

/* Derived signing key for (secret, date, region, service). */
void ct_sigv4_signing_key(const char *secret, const char *date, const char *region,
                          const char *service, unsigned char key[32]);

/* Client-side signing (edge origin requests, admin CLI, tests): computes the
 * Authorization header value for a request with the given signed headers
 * (the caller provides host, x-amz-date, x-amz-content-sha256 through
 * req->header). signed_headers is "host;x-amz-content-sha256;x-amz-date". */
ct_err ct_sigv4_sign(const ct_sigv4_request *req, const char *access_key, const char *secret,
                     const char *region, const char *service, const char *amz_date,
                     const char *signed_headers, const char *payload_hash, char *out,
                     size_t outlen);

/* ---- aws-chunked decoding (STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER],
 * STREAMING-UNSIGNED-PAYLOAD-TRAILER) ----
 * Input may be split at any byte. Decoded bytes go to sink. Signed chunks are
 * verified as they complete; trailers (x-amz-checksum-*) are verified at the
 * end. A failure means the upload must store nothing. */
typedef enum {
    CT_CHUNKED_SIGNED,           /* STREAMING-AWS4-HMAC-SHA256-PAYLOAD */
    CT_CHUNKED_SIGNED_TRAILER,   /* STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER */
    CT_CHUNKED_UNSIGNED_TRAILER, /* STREAMING-UNSIGNED-PAYLOAD-TRAILER */
} ct_chunked_mode;

typedef ct_err (*ct_chunked_sink)(void *ctx, const void *p, size_t n);
typedef struct ct_chunked ct_chunked;

/* For the signed modes: signing key, seed signature (the request's), amz_date
 * and scope "YYYYMMDD/region/service/aws4_request". trailer_names is the
 * x-amz-trailer header value (or NULL). Returns NULL on allocation failure. */
ct_chunked *ct_chunked_new(ct_chunked_mode mode, const unsigned char key[32],
                           const char *seed_signature, const char *amz_date, const char *scope,
                           const char *trailer_names);
ct_err ct_chunked_feed(ct_chunked *c, const char *p, size_t n, ct_chunked_sink sink, void *ctx);
/* Call after the last byte; CT_ERR_INVALID if the stream ended early,
 * CT_ERR_AUTH for a bad chunk signature, CT_ERR_DIGEST for a bad trailer
 * checksum. *msg describes the problem. */
ct_err ct_chunked_finish(ct_chunked *c, char *msg, size_t msglen);
/* Total decoded bytes so far. */
uint64_t ct_chunked_decoded(const ct_chunked *c);
void ct_chunked_free(ct_chunked *c);

#endif
