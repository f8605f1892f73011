/* s3: the S3 REST/XML API on top of store (bytes), meta (metadata, outbox)
 * and the authentication done by http.
 *
 * DESIGN: path-style addressing (/bucket/key), and virtual-hosted style
 * (Host bucket.DOMAIN, the path is the key) when a domain is configured;
 * SigV4 needs nothing special for it, its canonical URI being the path as
 * sent. The key is the raw path
 * percent-decoded once; it is only ever a database value, never a file name.
 * Object bodies stream into a store writer (aws-chunked decoded on the fly)
 * and become visible only when one meta transaction commits the object row
 * and its outbox event. Errors use S3's XML shape from one table
 * (s3_errors.c). Ownership: ct_s3 borrows meta and store from main. */
#ifndef CT_S3_H
#define CT_S3_H

#include "http/http.h"
#include "meta/meta.h"
#include "store/store.h"

typedef struct ct_s3 ct_s3;

typedef struct {
    const char *region;
    const char *account_id;
    ct_iam *iam;               /* authorization decisions (borrowed) */
    const char *domain;        /* virtual-hosted style base domain, or NULL (copied) */
    uint64_t inline_max;       /* objects up to this many bytes are stored in their meta
                                * row (one durable commit per PUT); 0 = never */
} ct_s3_config;

/* serve --inline-max's default: see docs/architecture.md (store). */
#define CT_S3_INLINE_MAX_DEFAULT 65536
#define CT_S3_INLINE_MAX_LIMIT (1 << 20)

ct_err ct_s3_open(const ct_s3_config *cfg, ct_meta *meta, ct_store *store, ct_s3 **out);
void ct_s3_close(ct_s3 *s);

/* Whether the Host header names a bucket under the configured domain (such
 * requests are S3's whatever their path). */
int ct_s3_is_virtual_host(const ct_s3 *s, const ct_http_req *req);

/* Buffered requests. */
void ct_s3_handle(ct_s3 *s, ct_http_req *req, ct_http_resp *resp);
/* Streaming uploads (PutObject). */
int ct_s3_wants_stream(ct_s3 *s, const ct_http_req *req);
void *ct_s3_stream_begin(ct_s3 *s, ct_http_req *req, ct_http_resp *resp);
ct_err ct_s3_stream_data(void *state, const char *p, size_t n);
void ct_s3_stream_end(void *state, ct_http_req *req, ct_http_resp *resp);
void ct_s3_stream_abort(void *state);

/* Aborts multipart uploads started more than max_age_ms ago and removes
 * their parts (S3's lifecycle AbortIncompleteMultipartUpload). Returns the
 * number aborted. Safe to call from any thread. */
int ct_s3_abort_stale_uploads(ct_s3 *s, int64_t max_age_ms);

/* Writes an S3 XML error response: code from S3's table ("NoSuchKey"), the
 * table's HTTP status, message, resource and request id. */
void ct_s3_error(ct_http_resp *resp, const ct_http_req *req, const char *code,
                 const char *message);
/* Maps an authentication outcome (req->auth_err) to the S3 error. */
void ct_s3_auth_error(ct_http_resp *resp, const ct_http_req *req);

#endif
