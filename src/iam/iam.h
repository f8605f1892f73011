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

/* Who is calling, after authentication. */
typedef struct {
    int anonymous;             /* no credentials presented */
    char access_key[128];
    char account_id[13];       /* 12 digits */
    char arn[256];             /* arn:aws:iam::ACCOUNT:root or :user/NAME */
    char service[32];          /* SigV4 scope service: "s3", "mediaconvert", ... */
    char region[32];
    /* A service identity ("cloudfront.amazonaws.com" for CatTube's edge),
     * matched by a policy's {"Service": ...} principal; "" otherwise. */
    char service_principal[64];
} ct_principal;

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
 * STREAMING-...) when the client sent one; NULL means "the
 * x-amz-content-sha256 value, else the hash of an empty body". Presigned
 * requests use the X-Amz-Content-Sha256 query parameter or
 * x-amz-content-sha256 header when given, else UNSIGNED-PAYLOAD for "s3" and
 * payload_hash (NULL = UNSIGNED-PAYLOAD) for other services, as botocore
 * signs them. now is the server's time (seconds). Returns CT_OK,
 * CT_ERR_AUTH (mismatch), CT_ERR_SKEW (> 15 min off), CT_ERR_EXPIRED
 * (presigned past X-Amz-Expires) or CT_ERR_INVALID (bad expiry, bad date).
 * On CT_ERR_AUTH msg receives "CanonicalRequest:\n<cr>\n\nStringToSign:\n<sts>"
 * (truncated to msglen); ct_sigv4_explain gives the two separately for the
 * S3 error body. Limits: raw target 32 KiB, 256 query parameters, 64 signed
 * headers, 16 KiB per signed header value, secret 256 bytes. */
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

/* Presigned URL (client side): appends X-Amz-Algorithm, -Credential, -Date,
 * -Expires (1..604800), -SignedHeaders and -Signature to req->raw_target
 * (which may already hold a query). Payload hash: UNSIGNED-PAYLOAD for
 * service "s3", else payload_hash (NULL = UNSIGNED-PAYLOAD), matching
 * ct_sigv4_verify. *out_target is heap (free()). */
ct_err ct_sigv4_presign(const ct_sigv4_request *req, const char *access_key, const char *secret,
                        const char *region, const char *service, const char *amz_date,
                        long expires, const char *signed_headers, const char *payload_hash,
                        char **out_target);

/* The canonical request and string to sign ct_sigv4_verify computes (for
 * S3's SignatureDoesNotMatch body). Both heap (free()). */
ct_err ct_sigv4_explain(const ct_sigv4_request *req, const ct_sigv4_auth *auth,
                        const char *payload_hash, char **canonical_request, char **string_to_sign);

/* ---- flexible checksums (x-amz-checksum-*) ----
 * Base64 of the big-endian CRC / digest, as S3 sends them. */
typedef enum {
    CT_CKSUM_NONE,
    CT_CKSUM_CRC32,     /* IEEE, reflected 0xEDB88320 */
    CT_CKSUM_CRC32C,    /* Castagnoli, reflected 0x82F63B78 */
    CT_CKSUM_CRC64NVME, /* reflected 0x9A6C9329AC4BC9B5 */
    CT_CKSUM_SHA1,
    CT_CKSUM_SHA256,
} ct_cksum_algo;
#define CT_CKSUM_B64_MAX 48
typedef struct {
    ct_cksum_algo algo;
    uint64_t crc;
    void *md; /* EVP_MD_CTX for SHA1/SHA256 */
} ct_cksum;
/* "crc32", "CRC32C", "x-amz-checksum-sha256", ... -> algo (NONE if unknown). */
ct_cksum_algo ct_cksum_from_name(const char *name);
/* "crc32", "crc32c", "crc64nvme", "sha1", "sha256"; NULL for NONE. */
const char *ct_cksum_name(ct_cksum_algo a);
ct_err ct_cksum_init(ct_cksum *c, ct_cksum_algo a);
void ct_cksum_update(ct_cksum *c, const void *p, size_t n);
/* Base64 result; call once. ct_cksum_free afterwards in every case. */
ct_err ct_cksum_final(ct_cksum *c, char out[CT_CKSUM_B64_MAX]);
void ct_cksum_free(ct_cksum *c);

/* ---- aws-chunked decoding (STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER],
 * STREAMING-UNSIGNED-PAYLOAD-TRAILER) ----
 * Input may be split at any byte. Decoded bytes go to sink. Signed chunks are
 * verified as they complete; trailers (x-amz-checksum-*) are verified at the
 * end. A failure means the upload must store nothing: a chunk's data reaches
 * the sink BEFORE its signature (which follows the data) is checked, so the
 * caller must stage the bytes and discard them unless ct_chunked_feed and
 * ct_chunked_finish both return CT_OK.
 * Limits: chunk-size and trailer lines 4 KiB, chunks 16 MiB
 * (CT_ERR_TOO_LARGE), 8 trailer lines, one checksum trailer. Errors are
 * sticky: after a failed feed, finish returns the same error and message.
 * The caller should also compare ct_chunked_decoded() with
 * x-amz-decoded-content-length. */
typedef enum {
    CT_CHUNKED_SIGNED,           /* STREAMING-AWS4-HMAC-SHA256-PAYLOAD */
    CT_CHUNKED_SIGNED_TRAILER,   /* STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER */
    CT_CHUNKED_UNSIGNED_TRAILER, /* STREAMING-UNSIGNED-PAYLOAD-TRAILER */
} ct_chunked_mode;

typedef ct_err (*ct_chunked_sink)(void *ctx, const void *p, size_t n);
typedef struct ct_chunked ct_chunked;

/* For the signed modes: signing key, seed signature (the request's), amz_date
 * and scope "YYYYMMDD/region/service/aws4_request" (all ignored, may be NULL,
 * for the unsigned mode). trailer_names is the x-amz-trailer header value (or
 * NULL); it must name at most one x-amz-checksum-* trailer, which is then
 * required. Returns NULL on allocation failure; bad arguments make the first
 * feed/finish fail with CT_ERR_INVALID. */
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

/* ---- identities and authorization (iam_users.c, iam_policy.c) ----
 * DESIGN: the root user comes from the server's configuration; other users,
 * their access keys and their identity policies live in meta. A request is
 * allowed when an identity policy or the bucket policy allows it and no
 * policy explicitly denies it (root is always allowed; anonymous callers only
 * through a bucket policy granting "*"). */
struct ct_meta;
typedef struct ct_iam ct_iam;

typedef struct {
    const char *account_id;
    const char *root_access_key;
    const char *root_secret_key;
    /* 32-byte key that seals IAM users' secrets at rest (DIR/master.key or
     * CATTUBE_MASTER_KEY), or NULL to store them as given (tests). */
    const unsigned char *master_key;
} ct_iam_config;

ct_err ct_iam_open(const ct_iam_config *cfg, struct ct_meta *meta, ct_iam **out);
void ct_iam_close(ct_iam *iam);
/* Secret and principal for an access key; CT_ERR_NOT_FOUND if unknown. */
ct_err ct_iam_secret(ct_iam *iam, const char *access_key, char *secret, size_t n,
                     ct_principal *p);

typedef struct {
    const char *action;             /* "s3:GetObject" */
    const char *resource;           /* "arn:aws:s3:::bucket/key" */
    const char *bucket_policy_json; /* the bucket's policy, or NULL */
    const char *source_ip;
    int secure;                     /* aws:SecureTransport */
    const char *source_arn;         /* AWS:SourceArn (edge distribution), or NULL */
} ct_iam_request;

/* CT_OK when allowed, CT_ERR_DENIED otherwise. */
ct_err ct_iam_authorize(ct_iam *iam, const ct_principal *p, const ct_iam_request *r);

/* Borrowed meta and the account id (admin API). */
struct ct_meta *ct_iam_meta(ct_iam *iam);
const char *ct_iam_account_id(const ct_iam *iam);
/* The root user of the account (never an IAM user, never anonymous). */
int ct_iam_is_root(const ct_iam *iam, const ct_principal *p);
/* New access key "AKIA" + 16 uppercase alnum, and a 40-char secret. */
void ct_iam_new_key(char access_key[21], char secret[41]);
/* The form of a user's secret kept in meta: "ct1:" + hex(AES-256-GCM of the
 * secret, bound to its access key) under the master key, or the secret
 * itself when there is none. ct_iam_secret() accepts both forms. */
#define CT_IAM_SEALED_MAX 256
ct_err ct_iam_seal_secret(const ct_iam *iam, const char *access_key, const char *secret,
                          char out[CT_IAM_SEALED_MAX]);
/* IAM user names: [A-Za-z0-9+=,.@_-]{1,64}. */
int ct_iam_user_name_valid(const char *name);

/* ---- roles (iam_roles.c): the identities MediaConvert jobs run as ---- */
#define CT_IAM_DEFAULT_ROLE "MediaConvert_Default_Role"
/* The role name of an ARN "arn:aws:iam::ACCOUNT:role/[PATH/]NAME"; 0 when
 * arn is not a role ARN. The account part is not checked: CatTube serves
 * one account, so placeholders (the seed's "account_id") name its roles. */
int ct_iam_role_ref(const char *arn, char name[72]);
/* Whether role `name` of account_id may do r->action on r->resource (its
 * inline policies plus r->bucket_policy_json, principal
 * arn:aws:iam::ACCOUNT:role/NAME). CT_OK, CT_ERR_DENIED or CT_ERR_NOT_FOUND
 * (no such role), with the reason in why. Reads meta; no ct_iam needed. */
ct_err ct_iam_role_authorize(struct ct_meta *meta, const char *account_id, const char *name,
                             const ct_iam_request *r, char *why, size_t whylen);

/* ---- policy documents (iam_policy.c) ----
 * AWS's JSON policy language: Version, Statement (object or array) of Sid,
 * Effect, Principal/NotPrincipal (resource policies only), Action/NotAction,
 * Resource/NotResource, Condition. Documents are at most 20 KiB. */
#define CT_POLICY_MAX 20480
typedef enum {
    CT_POLICY_IDENTITY, /* attached to a user: no Principal */
    CT_POLICY_RESOURCE, /* a bucket policy: Principal required */
} ct_policy_kind;
typedef enum { CT_POLICY_NONE, CT_POLICY_ALLOW, CT_POLICY_DENY } ct_policy_effect;

/* CT_OK, or CT_ERR_INVALID / CT_ERR_TOO_LARGE with a message
 * (S3's MalformedPolicy). bucket (resource policies, may be NULL) requires
 * every Resource to lie in that bucket. */
ct_err ct_iam_policy_validate(const char *json, ct_policy_kind kind, const char *bucket,
                              char *msg, size_t msglen);
/* Evaluates one document for the request: DENY when a matching statement
 * denies, else ALLOW when one allows, else NONE. A document that does not
 * parse evaluates to NONE. */
ct_policy_effect ct_iam_policy_eval(const char *json, ct_policy_kind kind, const ct_principal *p,
                                    const ct_iam_request *r);
/* GetBucketPolicyStatus: an Allow statement for Principal "*" whose only
 * conditions (if any) are aws:SecureTransport. */
int ct_iam_policy_is_public(const char *json);
/* Wildcard match: '*' any run, '?' one character; nocase folds ASCII. */
int ct_iam_wildcard(const char *pattern, const char *s, int nocase);

#endif
