/* client: outbound HTTP requests signed with SigV4, over libcurl, and S3
 * object helpers on top (head, get to a file, put from a file with multipart
 * above a threshold).
 *
 * DESIGN: one ct_client wraps one curl easy handle (connections are kept
 * alive between requests), so a client belongs to one thread at a time.
 * Requests are signed by iam's ct_sigv4_sign, never by libcurl: the signer
 * sees exactly the target that goes on the wire (host, x-amz-date,
 * x-amz-content-sha256 and every x-amz-* header are signed). Bodies come
 * from memory or from a file (or a slice of one, for multipart parts): a
 * file's SHA-256 is computed first, unless the caller asks for
 * UNSIGNED-PAYLOAD. Responses go to a bounded ct_buf, to a file (only for a
 * 2xx: an error's body is kept for its Code/Message), or to a callback.
 * A non-2xx status maps to ct_err with the service's error Code and Message
 * kept in ct_client_resp for messages. Users call ct_client_global_init()
 * once in main, before any thread starts.
 * Depends on core and iam only. */
#ifndef CT_CLIENT_H
#define CT_CLIENT_H

#include "core/core.h"

typedef struct ct_client ct_client;
struct sockaddr;

/* Asked before every connection the client opens (each address libcurl
 * tries), with the request URL and the resolved address and port; 0 vetoes
 * that address (when every address is vetoed the request fails as a
 * transport error whose message says so). The edge's origin allow-list
 * (edge_allow.c) uses it so a name cannot resolve its way to an address
 * the list does not allow (DNS rebinding, 169.254.169.254). */
typedef int (*ct_client_connect_fn)(void *ctx, const char *url, const struct sockaddr *addr);

typedef struct {
    const char *endpoint;      /* "http://127.0.0.1:9000" (S3 helpers; path-style) */
    const char *access_key;    /* NULL: requests go unsigned */
    const char *secret_key;
    const char *session_token; /* x-amz-security-token, or NULL */
    const char *region;        /* NULL = us-east-1 */
    const char *service;       /* SigV4 service; NULL = "s3" */
    int no_verify_tls;
    const char *ca_file;       /* PEM bundle trusted instead of the system's
                                * (CURLOPT_CAINFO); NULL = the system's */
    long connect_timeout_s;    /* 0 = 10 */
    long low_speed_timeout_s;  /* abort when < 1 byte/s for this long; 0 = 60 */
    uint64_t multipart_threshold; /* put_file: multipart at or above; 0 = 64 MiB */
    uint64_t part_size;        /* multipart part size; 0 = 64 MiB (min 5 MiB) */
    ct_client_connect_fn connect_check; /* NULL: any address */
    void *connect_check_ctx;   /* borrowed: must outlive the client */
} ct_client_config;

/* Receives response body bytes of a 2xx response; nonzero aborts. */
typedef int (*ct_client_sink_fn)(void *ctx, const void *p, size_t n);
/* Called now and then during a transfer; nonzero aborts it (CT_ERR_CANCELED). */
typedef int (*ct_client_tick_fn)(void *ctx);

typedef struct {
    const char *method;         /* "GET", "PUT", "POST", "HEAD", "DELETE" */
    const char *url;            /* scheme://host[:port]/path[?query], already URI-encoded */
    const char *const *headers; /* extra "Name: value" lines, NULL-terminated, or NULL */
    /* body: memory, or a file (from body_offset, body_size bytes; 0 = to EOF) */
    const void *body;
    size_t body_len;
    const char *body_path;
    uint64_t body_offset, body_size;
    int unsigned_payload;       /* sign UNSIGNED-PAYLOAD instead of hashing the body */
    /* response body of a 2xx: one of these (or none: discarded) */
    ct_buf *resp_body;          /* bounded by its max (CT_ERR_TOO_LARGE past it) */
    const char *resp_path;      /* created/truncated, mode 0600 */
    ct_client_sink_fn sink;
    void *sink_ctx;
    ct_client_tick_fn tick;
    void *tick_ctx;
} ct_client_req;

typedef struct {
    long status;                /* 0: no HTTP response (transport error) */
    int64_t content_length;     /* -1 when absent */
    char etag[136];             /* as sent, with quotes */
    char content_type[256];
    char last_modified[64];
    char cache_control[256];
    char content_range[128];
    char err_code[64];          /* S3 <Code>, JSON __type/code, or "Forbidden"... */
    char err_message[512];      /* S3 <Message>, JSON message, or curl's error */
    int retryable;              /* transport error, 429, 5xx */
} ct_client_resp;

/* curl_global_init; call once from main before threads start. */
ct_err ct_client_global_init(void);
void ct_client_global_cleanup(void);

/* A CA bundle for cfg.ca_file (--origin-ca-file, --ca-bundle), checked at
 * start-up so a wrong path stops the command instead of failing every TLS
 * request later: CT_OK when path is readable and holds at least one PEM
 * certificate and every certificate in it parses; otherwise why says what
 * is wrong ("no such file", ...) without the path. */
ct_err ct_client_ca_file_check(const char *path, char *why, size_t whylen);

/* cfg's strings are copied. */
ct_err ct_client_open(const ct_client_config *cfg, ct_client **out);
void ct_client_close(ct_client *c);

/* One request. CT_OK for 2xx and 304; otherwise CT_ERR_DENIED (403
 * AccessDenied and other 403s), CT_ERR_AUTH (SignatureDoesNotMatch,
 * InvalidAccessKeyId), CT_ERR_NOT_FOUND (404), CT_ERR_INVALID (400, 416),
 * CT_ERR_CONFLICT (409), CT_ERR_PRECONDITION (412), CT_ERR_IO (transport
 * error, 429, 5xx: resp->retryable), CT_ERR_CANCELED (tick asked to stop),
 * CT_ERR_TOO_LARGE (resp_body bound), CT_ERR_NOMEM. resp is always filled. */
ct_err ct_client_request(ct_client *c, const ct_client_req *req, ct_client_resp *resp);

/* "<endpoint>/<bucket>/<key encoded per SigV4 rules, '/' kept>[?query]" into
 * url (reset first). query is appended as given (already encoded), or NULL. */
ct_err ct_client_s3_url(const ct_client *c, const char *bucket, const char *key,
                        const char *query, ct_buf *url);

/* ---- S3 objects (path-style on cfg->endpoint) ---- */
ct_err ct_client_s3_head(ct_client *c, const char *bucket, const char *key,
                         ct_client_resp *resp);
/* GET into path (created/truncated; removed again on failure). range is a
 * Range header value ("bytes=0-99") or NULL. */
ct_err ct_client_s3_get_file(ct_client *c, const char *bucket, const char *key,
                             const char *range, const char *path, ct_client_tick_fn tick,
                             void *tick_ctx, ct_client_resp *resp);
/* PUT from path: one PutObject below cfg->multipart_threshold, else
 * CreateMultipartUpload + UploadPart + CompleteMultipartUpload (aborted on
 * failure). content_type NULL = none. resp holds the final ETag. */
ct_err ct_client_s3_put_file(ct_client *c, const char *bucket, const char *key,
                             const char *path, const char *content_type, ct_client_tick_fn tick,
                             void *tick_ctx, ct_client_resp *resp);

#endif
