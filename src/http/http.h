/* http: libmicrohttpd glue for the API port. Routes each request to a
 * protocol handler after SigV4 verification.
 *
 * DESIGN: two handler shapes.
 *  - Buffered handlers (MediaConvert, admin, small S3 requests) get the whole
 *    body (bounded by CT_HTTP_MAX_BUFFERED) in a ct_http_req and fill a
 *    ct_http_resp. They run on the connection's thread and may block briefly.
 *  - Streaming handlers (S3 PutObject/UploadPart) get the body piecewise via
 *    ct_http_stream callbacks; see s3/s3.h.
 * Requests and responses are owned by the http module; handlers borrow them.
 * The raw request target (not MHD's decoded url) is what SigV4 and routing
 * use: MHD decodes %XX and '+' which would break both. */
#ifndef CT_HTTP_H
#define CT_HTTP_H

#include "core/core.h"
#include "iam/iam.h"

#define CT_HTTP_MAX_BUFFERED ((size_t)8 << 20)
#define CT_HTTP_MAX_HEADERS 64

/* ct_principal (who is calling) is defined in iam/iam.h. */

typedef struct ct_http_req ct_http_req;
struct ct_http_req {
    const char *method;        /* "GET", "PUT", ... */
    const char *raw_target;    /* exactly as on the wire: "/b/k%20x?list-type=2" */
    const char *path;          /* raw (still %-encoded) path part of raw_target */
    const char *query;         /* raw query string without '?', "" if none */
    const char *body;          /* NUL-terminated; NULL for streaming handlers */
    size_t body_len;
    const char *client_ip;
    int secure;                /* arrived over TLS */
    ct_principal principal;
    /* Authentication outcome, decided by http before any handler runs:
     * CT_OK (signed and verified, or anonymous: principal.anonymous),
     * CT_ERR_AUTH, CT_ERR_SKEW, CT_ERR_EXPIRED, CT_ERR_INVALID, CT_ERR_DENIED
     * (unknown access key). Handlers MUST answer auth_err != CT_OK with their
     * protocol's error and do nothing else. */
    ct_err auth_err;
    char auth_msg[512];
    /* The SigV4 details of a signed request (for aws-chunked decoding). */
    char sig_seed[65];
    char sig_amz_date[17];
    char sig_scope[128];
    unsigned char sig_key[32];
    char request_id[17];       /* 16 hex chars, echoed as x-amz-request-id */
    ct_err stream_err;         /* streaming: first error returned by stream_data */
    void *impl;                /* http-internal */
};

/* Case-insensitive header lookup; NULL when absent. */
const char *ct_http_header(const ct_http_req *req, const char *name);
/* Calls cb for every request header (names as sent). */
typedef void (*ct_http_header_cb)(void *ctx, const char *name, const char *value);
void ct_http_each_header(const ct_http_req *req, ct_http_header_cb cb, void *ctx);
/* Decoded value of query parameter name ('+' stays '+', %XX decoded); heap
 * string or NULL when absent. present_out (optional) tells "?acl" (present,
 * empty) from absent. */
char *ct_http_query(const ct_http_req *req, const char *name);
int ct_http_query_has(const ct_http_req *req, const char *name);

typedef struct {
    char *name;
    char *value;
} ct_http_header_kv;

typedef struct {
    int status;
    ct_buf body;                /* body bytes (when fd < 0) */
    int64_t head_length;        /* >= 0: HEAD reply advertising this Content-Length */
    int fd;                     /* when >= 0, send this file (owned; closed by http) */
    uint64_t fd_offset, fd_len;
    int n_headers;
    ct_http_header_kv headers[CT_HTTP_MAX_HEADERS];
    /* Streamed body of unknown length (added for the events SSE stream).
     * When reader is set (and fd < 0), http sends the body chunked, calling
     * reader on the connection's thread: it returns bytes written (> 0), 0
     * for "nothing yet" after waiting at most ~1 s (http calls it again
     * unless the server is stopping, which ends the stream), or -1 to end.
     * reader_free(reader_ctx) runs exactly once when the response is gone,
     * also when it could not be queued. */
    long (*reader)(void *ctx, char *buf, size_t max);
    void (*reader_free)(void *ctx);
    void *reader_ctx;
} ct_http_resp;

void ct_http_resp_init(ct_http_resp *r);
void ct_http_resp_free(ct_http_resp *r);
/* Copies name and value. */
ct_err ct_http_resp_header(ct_http_resp *r, const char *name, const char *value);
/* Convenience: status + JSON body + content type application/json. Takes
 * ownership of json_text (heap). */
void ct_http_resp_json(ct_http_resp *r, int status, char *json_text);

/* ---- the server ----
 * The owner supplies handlers; http owns connections and request state. */
typedef struct ct_http_server ct_http_server;

/* Secret for an access key, and the principal it authenticates as;
 * CT_ERR_NOT_FOUND for an unknown key. */
typedef ct_err (*ct_http_secret_fn)(void *ctx, const char *access_key, char *secret, size_t n,
                                    ct_principal *principal);

typedef struct {
    void *ctx;
    ct_http_secret_fn secret;
    /* Nonzero when the request body should be streamed (large uploads). */
    int (*wants_stream)(void *ctx, const ct_http_req *req);
    /* Buffered requests: the whole body is in req. */
    void (*handle)(void *ctx, ct_http_req *req, ct_http_resp *resp);
    /* Streaming requests: begin may answer at once (set resp->status != 0) to
     * refuse the upload before its body is read; data receives body bytes;
     * end produces the response; abort runs instead of end when the client
     * went away. end and abort free the state. */
    void *(*stream_begin)(void *ctx, ct_http_req *req, ct_http_resp *resp);
    ct_err (*stream_data)(void *state, const char *p, size_t n);
    void (*stream_end)(void *state, ct_http_req *req, ct_http_resp *resp);
    void (*stream_abort)(void *state);
} ct_http_handlers;

/* listen: "HOST:PORT" or "[v6]:PORT". The server runs its own threads. */
ct_err ct_http_server_start(const char *listen, const ct_http_handlers *h, ct_http_server **out);
void ct_http_server_stop(ct_http_server *s);
/* Parses "HOST:PORT" into a sockaddr (IPv4 or IPv6). */
struct sockaddr_storage;
ct_err ct_http_parse_listen(const char *listen, struct sockaddr_storage *ss, unsigned *len);

#endif
