/* s3_post.h: POST Object (browser form upload), private to s3/.
 *
 * DESIGN: the multipart/form-data body is parsed as it arrives (s3_form):
 * fields before the file part are kept (at most S3_FORM_MAX_FIELDS bytes,
 * S3's 20 KB pre-data limit), the file part streams into a store writer and
 * fields after it are ignored, as S3 does. When the file part begins, the
 * policy document is checked against the fields (s3_post_policy_check), its
 * SigV4 signature against the credential's secret, and s3:PutObject against
 * the identity and bucket policies; a refusal stops storing at once and is
 * answered when the body has been read. content-length-range is enforced
 * while the bytes stream. Nothing is visible until one meta transaction
 * commits the object and its ObjectCreated:Post event. */
#ifndef CT_S3_POST_H
#define CT_S3_POST_H

#include "s3/s3_internal.h"

#define S3_FORM_MAX_FIELDS (20 * 1024)

/* Every streaming state starts with its kind (an int), so ct_s3_stream_*
 * can tell PutObject/UploadPart from POST Object. */
enum { S3_STREAM_PUT = 1, S3_STREAM_POST = 2 };

/* POST to a bucket with a multipart/form-data body. */
int s3_post_wanted(ct_s3 *s, const ct_http_req *req);
/* As ct_s3_stream_begin/_data/_end/_abort. */
void *s3_post_begin(ct_s3 *s, ct_http_req *req, ct_http_resp *resp);
ct_err s3_post_data(void *state, const char *p, size_t n);
void s3_post_end(void *state, ct_http_req *req, ct_http_resp *resp);
void s3_post_abort(void *state);

/* ---- multipart/form-data, streaming (s3_form.c) ----
 * Callbacks return CT_OK to go on; any error stops the parser and is
 * returned by s3_form_feed. name and filename are decoded parameter values
 * (filename NULL when the part has none); content_type NULL when absent. */
typedef struct {
    ct_err (*part_begin)(void *ctx, const char *name, const char *filename,
                         const char *content_type);
    ct_err (*part_data)(void *ctx, const char *p, size_t n);
    ct_err (*part_end)(void *ctx);
} s3_form_cb;

typedef struct s3_form s3_form;
/* content_type is the request's Content-Type header. NULL (msg filled) when
 * it is not multipart/form-data with a valid boundary, or out of memory. */
s3_form *s3_form_new(const char *content_type, const s3_form_cb *cb, void *ctx, char *msg,
                     size_t msglen);
/* CT_ERR_INVALID for malformed multipart (s3_form_msg says why), or the
 * callback's error. After an error every later call returns it again. */
ct_err s3_form_feed(s3_form *f, const char *p, size_t n);
/* CT_ERR_INVALID when the body ended before the closing boundary. */
ct_err s3_form_finish(s3_form *f);
const char *s3_form_msg(const s3_form *f);
void s3_form_free(s3_form *f);

/* ---- the policy document (s3_post_policy.c) ---- */
typedef struct {
    const char *name;   /* as sent; matched case-insensitively */
    const char *value;
} s3_form_field;

typedef struct {
    const s3_form_field *fields; /* the form's text fields (key with ${filename} expanded) */
    int nfields;
    const char *bucket;          /* the request's bucket ($bucket) */
    int64_t now_s;               /* server time, seconds since epoch */
} s3_post_input;

typedef struct {
    int64_t min_len, max_len;    /* content-length-range; max -1 when absent */
} s3_post_limits;

/* Checks the decoded policy document (JSON) against the form: expiration,
 * every condition (eq, starts-with, content-length-range, {"field": value}),
 * and that every field but the exempt ones (x-amz-signature, file, policy,
 * x-ignore-*) is named by a condition. 0, or -1 with msg holding S3's
 * "Invalid according to Policy: ..." text. */
int s3_post_policy_check(const char *policy_json, size_t len, const s3_post_input *in,
                         s3_post_limits *limits, char *msg, size_t msglen);

#endif
