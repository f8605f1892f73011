/* Shared by the CloudFront API files of the edge (edge_cloudfront.c,
 * edge_cf_*.c). Stored distributions are JSON objects (jansson). */
#ifndef CT_EDGE_CF_H
#define CT_EDGE_CF_H

#include "edge/edge_internal.h"

#include <jansson.h>

#define CF_PREFIX "/2020-05-31/"
#define CF_NS "http://cloudfront.amazonaws.com/doc/2020-05-31/"
#define CF_BODY_MAX ((size_t)1 << 20)
#define CF_INVAL_KEEP EDGE_INVAL_KEEP
#define CF_PATHS_MAX 3000

/* A failed request: HTTP status, CloudFront error code, message. */
typedef struct {
    int status;
    const char *code;
    char msg[400];
} cf_fail;

/* Fills f; returns -1 so callers can `return cf_failf(...)`. */
int cf_failf(cf_fail *f, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void cf_reply_error(const ct_http_req *req, ct_http_resp *resp, const cf_fail *f);
/* XML declaration + b as the body; etag (optional) as ETag. */
void cf_reply_xml(ct_http_resp *resp, int status, ct_buf *b, const char *etag);

/* ---- reading XML ---- */
const char *cf_text_of(const ct_xml_node *n);
/* Children of n not in known/ignored (NULL-terminated) must be at their defaults. */
int cf_check_unsupported(const ct_xml_node *n, const char *const *known,
                         const char *const *ignored, cf_fail *f);
int cf_get_bool(const ct_xml_node *n, const char *name, int *out, cf_fail *f);
/* TTL field name (seconds, default def) into o[key]. */
int cf_get_ttl(const ct_xml_node *n, const char *name, json_int_t def, json_t *o,
               const char *key, cf_fail *f);
/* Items/<item> texts into a new JSON array *out (checks Quantity, at most max). */
int cf_get_items(const ct_xml_node *n, const char *item, size_t max, json_t **out, cf_fail *f);
/* The request body as a bounded XML DOM (*root, caller frees). */
int cf_parse_body(const ct_http_req *req, ct_xml_node **root, cf_fail *f);
/* If-Match must equal d's etag (InvalidIfMatchVersion / PreconditionFailed). */
int cf_if_match(const ct_http_req *req, const json_t *d, cf_fail *f);

/* ---- writing XML ---- */
/* String member k of d, "" when absent. */
const char *cf_js(const json_t *d, const char *k);
void cf_x_text(ct_buf *b, const char *tag, const char *v);
/* <tag><Quantity>n</Quantity><Items><item>..</item></Items></tag> */
void cf_x_list(ct_buf *b, const char *tag, const char *item, json_t *arr);
/* A paged list answer (200) <root><Marker><NextMarker>?<MaxItems><IsTruncated>
 * <Quantity><Items>?</root>: the records of all (a JSON array, each with an
 * "id") after the one whose id is marker, at most max, each written by
 * summary. */
typedef void (*cf_summary_fn)(ct_buf *b, const json_t *rec);
void cf_reply_page(ct_http_resp *resp, const char *root, json_t *all, const char *marker,
                   long max, cf_summary_fn summary);

/* ---- distributions ---- */
/* Loads and wires (domainName, url) distribution id; NoSuchDistribution. */
int cf_load(ct_edge *e, const char *id, json_t **d, cf_fail *f);
/* DistributionConfig -> the stored fields (into o). */
int cf_parse_config(ct_edge *e, const ct_xml_node *cfg, json_t *o, cf_fail *f);
void cf_x_config(ct_buf *b, const json_t *d, const char *tag);
void cf_x_distribution(ct_buf *b, const json_t *d, int root);
void cf_x_summary(ct_buf *b, const json_t *d);

/* ---- invalidations (edge_cf_inval.c) ---- */
int cf_do_invalidate(ct_edge *e, const char *id, const ct_http_req *req, ct_http_resp *resp,
                     cf_fail *f);
/* iid NULL: the list. */
int cf_do_invalidations(ct_edge *e, const char *id, const char *iid, ct_http_resp *resp,
                        cf_fail *f);

/* ---- public keys and key groups (edge_cf_keys.c) ---- */
/* rest: what follows "/2020-05-31/public-key" (group 0) or "/2020-05-31/key-group" (1). */
void cf_keys_route(ct_edge *e, int group, const char *rest, const ct_http_req *req,
                   ct_http_resp *resp, cf_fail *f);

/* ---- origin access controls (edge_cf_oac.c) ---- */
/* rest: what follows "/2020-05-31/origin-access-control". */
void cf_oac_route(ct_edge *e, const char *rest, const ct_http_req *req, ct_http_resp *resp,
                  cf_fail *f);

#endif
