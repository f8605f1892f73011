/* Private to s3/. */
#ifndef CT_S3_INTERNAL_H
#define CT_S3_INTERNAL_H

#include "s3/s3.h"

#include <stdio.h>
#include <stdlib.h>

struct ct_s3 {
    ct_s3_config cfg;
    char region[32];
    char account_id[16];
    ct_meta *meta;
    ct_store *store;
};

/* A parsed request target: bucket and key decoded. */
typedef struct {
    char bucket[256];
    char *key;          /* heap, NULL when the path names only a bucket */
    size_t key_len;
} s3_target;

ct_err s3_parse_target(const ct_http_req *req, s3_target *t);
void s3_target_free(s3_target *t);
void s3_internal_error(ct_http_resp *resp, const ct_http_req *req, ct_err e);
int s3_bucket_name_valid(const char *name);
/* Principal id for events and owner fields. */
const char *s3_principal_id(const ct_http_req *req);

/* ---- tiny XML DOM over expat (bounded; DOCTYPE refused) ---- */
typedef struct s3_xml_node s3_xml_node;
struct s3_xml_node {
    char *name;           /* local name (namespace prefix stripped) */
    ct_buf text;
    s3_xml_node *first_child, *next;
};
/* Parses body; CT_ERR_INVALID with msg on malformed or hostile XML. */
ct_err s3_xml_parse(const char *body, size_t len, s3_xml_node **root, char *msg, size_t msglen);
void s3_xml_free(s3_xml_node *n);
/* First child named name, or NULL. */
s3_xml_node *s3_xml_child(const s3_xml_node *n, const char *name);
/* Text of the first child named name, or NULL. */
const char *s3_xml_child_text(const s3_xml_node *n, const char *name);

/* Stored headers of a PUT (Cache-Control, x-amz-meta-*, ...) as JSON; heap or NULL. */
char *s3_collect_meta(const ct_http_req *req);

/* ---- operations ---- */
void s3_multipart_op(ct_s3 *s, ct_http_req *req, ct_http_resp *resp, const s3_target *t);
void s3_list_uploads(ct_s3 *s, ct_http_req *req, ct_http_resp *resp, const char *bucket);
void s3_list_buckets(ct_s3 *s, ct_http_req *req, ct_http_resp *resp);
void s3_bucket_op(ct_s3 *s, ct_http_req *req, ct_http_resp *resp, const s3_target *t);
void s3_object_op(ct_s3 *s, ct_http_req *req, ct_http_resp *resp, const s3_target *t);
void s3_notification_get(ct_s3 *s, ct_http_req *req, ct_http_resp *resp, const char *bucket);
void s3_notification_put(ct_s3 *s, ct_http_req *req, ct_http_resp *resp, const char *bucket);

#endif
