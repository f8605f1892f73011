/* Private to s3/. */
#ifndef CT_S3_INTERNAL_H
#define CT_S3_INTERNAL_H

#include "iam/iam.h"
#include "core/xml.h"
#include "s3/s3.h"

#include <stdio.h>
#include <stdlib.h>

struct ct_s3 {
    ct_s3_config cfg;
    char region[32];
    char account_id[16];
    char domain[256];   /* --domain, lower case; "" when unset */
    ct_meta *meta;
    ct_store *store;
};

/* A parsed request target: bucket and key decoded. */
typedef struct {
    char bucket[256];
    char *key;          /* heap, NULL when the path names only a bucket */
    size_t key_len;
} s3_target;

/* The request's bucket and key, virtual-hosted or path style. */
ct_err s3_parse_target(const ct_s3 *s, const ct_http_req *req, s3_target *t);
/* "/bucket/key" (still %-encoded) -> t. */
ct_err s3_parse_path(const char *path, s3_target *t);
/* 1 with the bucket when the Host header is "bucket.DOMAIN[:port]". */
int s3_virtual_bucket(const ct_s3 *s, const ct_http_req *req, char *bucket, size_t n);
void s3_target_free(s3_target *t);
void s3_internal_error(ct_http_resp *resp, const ct_http_req *req, ct_err e);
int s3_bucket_name_valid(const char *name);
/* Principal id for events and owner fields. */
const char *s3_principal_id(const ct_http_req *req);

/* XML request bodies are parsed with core/xml.h. */

/* The size bytes of a blob in a heap buffer (*out, caller frees): copying
 * a blob object to an inline one (s3_object.c). */
ct_err s3_read_blob(ct_s3 *s, const char *blob_id, uint64_t size, unsigned char **out);

/* Stored headers of a PUT (Cache-Control, x-amz-meta-*, ...) as JSON; heap or NULL. */
char *s3_collect_meta(const ct_http_req *req);

/* ---- flexible checksums, x-amz-checksum-* (s3_checksum.c) ----
 * Objects keep their checksum in meta_json under "x-amz-checksum-<algo>"
 * and "x-amz-checksum-type" (FULL_OBJECT or COMPOSITE); uploads keep the
 * algorithm chosen at CreateMultipartUpload under "x-amz-checksum-algorithm"
 * and "x-amz-checksum-type". These keys are echoed only with
 * x-amz-checksum-mode: ENABLED. */
typedef struct {
    ct_cksum_algo algo;              /* NONE: nothing to compute */
    int sent;                        /* the client sent it (header or trailer) */
    int trailer;                     /* as an aws-chunked trailer (ct_chunked verifies it) */
    char expected[CT_CKSUM_B64_MAX]; /* header value, or "" */
    char value[CT_CKSUM_B64_MAX];    /* computed, after s3_cksum_end */
    ct_cksum ck;
} s3_cksum;
/* Reads PutObject's/UploadPart's checksum headers (trailers only when
 * trailer_mode). upload_meta is the upload's meta_json for UploadPart, NULL
 * for PutObject (which defaults to CRC64NVME as S3 does). 0, or -1 with resp
 * filled. s3_cksum_free in every case. */
int s3_cksum_begin(s3_cksum *c, const ct_http_req *req, ct_http_resp *resp, int trailer_mode,
                   int is_part, const char *upload_meta);
void s3_cksum_data(s3_cksum *c, const void *p, size_t n);
/* Finishes and compares with the header value: 0, or -1 with BadDigest. */
int s3_cksum_end(s3_cksum *c, const ct_http_req *req, ct_http_resp *resp);
/* BadDigest for a checksum trailer ct_chunked refused. */
void s3_cksum_trailer_error(const s3_cksum *c, const ct_http_req *req, ct_http_resp *resp,
                            const char *detail);
void s3_cksum_free(s3_cksum *c);
/* x-amz-checksum-<algo> (and, for objects, x-amz-checksum-type) on resp. */
void s3_cksum_headers(ct_http_resp *resp, const s3_cksum *c, int is_part);
/* meta_json (may be NULL) without x-amz-checksum-* keys, plus the given
 * checksum (when a != NONE). Heap; NULL only when empty or out of memory. */
char *s3_cksum_meta(const char *meta_json, ct_cksum_algo a, const char *value, const char *type);
int s3_cksum_mode_enabled(const ct_http_req *req);
/* CreateMultipartUpload: validates x-amz-checksum-algorithm/-type and
 * records them in *meta_json. 0, or -1 with resp filled. */
int s3_cksum_create(const ct_http_req *req, ct_http_resp *resp, char **meta_json);
void s3_cksum_create_headers(ct_http_resp *resp, const char *meta_json);

/* CompleteMultipartUpload: per-part checksums recomputed from the stored
 * parts (verified against the request's Checksum* elements) and the
 * object's checksum (COMPOSITE "b64-N" or FULL_OBJECT). */
typedef struct {
    ct_cksum_algo part_algo;  /* per-part checksums, or NONE */
    ct_cksum_algo whole_algo; /* full-object CRC, or NONE */
    int composite;
    int nparts, cur;
    const char **expected;    /* [nparts], borrowed from the request's XML */
    ct_cksum part, whole, comp;
    ct_cksum_algo header_algo;
    char header[CT_CKSUM_B64_MAX + 8];
    char value[CT_CKSUM_B64_MAX + 8];
    const char *code;         /* S3 error code after a failed part_end/end */
    char msg[200];
} s3_mpu_cksum;
/* NULL, or an S3 error code with m->msg. s3_mpu_cksum_free in every case. */
const char *s3_mpu_cksum_begin(s3_mpu_cksum *m, const ct_http_req *req, const char *upload_meta,
                               const ct_xml_node *root, int nparts);
void s3_mpu_cksum_data(s3_mpu_cksum *m, const void *p, size_t n);
/* After each part's bytes: -1 (m->msg) when the part's checksum differs. */
int s3_mpu_cksum_part_end(s3_mpu_cksum *m);
/* After the last part: -1 (m->msg) when an x-amz-checksum-* header differs. */
int s3_mpu_cksum_end(s3_mpu_cksum *m);
char *s3_mpu_cksum_meta(const s3_mpu_cksum *m, const char *upload_meta);
void s3_mpu_cksum_xml(ct_buf *x, const s3_mpu_cksum *m);
void s3_mpu_cksum_free(s3_mpu_cksum *m);

/* Conditional-write headers of a PUT or Complete (-1: unsupported form). */
int s3_put_cond(const ct_http_req *req, ct_meta_put_cond *c);
/* Error for a failed object commit (NoSuchBucket, PreconditionFailed, ...). */
void s3_put_error(ct_http_resp *resp, const ct_http_req *req, ct_err e);

/* x-amz-copy-source ("/bucket/key" or "bucket/key", URL-encoded). */
ct_err s3_parse_copy_source(const char *src, s3_target *t);
/* The InvalidArgument message for s3_parse_copy_source's error. Static. */
const char *s3_copy_source_error(ct_err e);

/* ---- operations ---- */
void s3_multipart_op(ct_s3 *s, ct_http_req *req, ct_http_resp *resp, const s3_target *t);
void s3_list_uploads(ct_s3 *s, ct_http_req *req, ct_http_resp *resp, const char *bucket);
void s3_list_buckets(ct_s3 *s, ct_http_req *req, ct_http_resp *resp);
void s3_bucket_op(ct_s3 *s, ct_http_req *req, ct_http_resp *resp, const s3_target *t);
void s3_object_op(ct_s3 *s, ct_http_req *req, ct_http_resp *resp, const s3_target *t);
void s3_notification_get(ct_s3 *s, ct_http_req *req, ct_http_resp *resp, const char *bucket);
void s3_notification_put(ct_s3 *s, ct_http_req *req, ct_http_resp *resp, const char *bucket);

#endif
