/* edge: CloudFront-like HTTPS delivery of distributions.
 *
 * DESIGN: a distribution maps a Host/ID to an origin bucket and a viewer
 * protocol policy. The HTTPS listener (TLS with a certificate generated and
 * persisted under DIR on first run unless one is given) serves GET/HEAD of
 * origin objects with Content-Type, ETag, Last-Modified, Range (206/416) and
 * conditional requests; the plain HTTP listener answers 301 to HTTPS
 * (redirect-to-https) or 403 (https-only). The edge is the only reader of
 * its origin bucket: it reads through meta/store as the distribution's
 * service principal (origin access control), never anonymously. A
 * distribution with an external origin (another S3-compatible store) is
 * read remotely instead, through a disk cache (edge_origin.c).
 * Ownership: ct_edge borrows meta and store from main. */
#ifndef CT_EDGE_H
#define CT_EDGE_H

#include "http/http.h"
#include "meta/meta.h"
#include "store/store.h"

typedef struct ct_edge ct_edge;

typedef struct {
    const char *https_listen;    /* "127.0.0.1:8443" */
    const char *http_listen;     /* "127.0.0.1:8080", or NULL */
    const char *data_dir;        /* where the generated cert/key persist */
    const char *cert_file;       /* optional PEM */
    const char *key_file;        /* optional PEM */
    const char *account_id;
    const char *public_host;     /* host name for URLs; default from listen address */
    /* `cattube edge --origin`: every distribution's bucket lives on this
     * S3-compatible endpoint and is read with SigV4-signed HEAD/GET (signed
     * with these credentials when the origin has an OAC, else anonymous);
     * the bytes are cached under data_dir/edge-cache. NULL: meta/store.
     * Distributions with an external origin (a CustomOriginConfig, or an
     * amazonaws.com S3 bucket not on this node) are read remotely the same
     * way in either mode, with the same credentials. */
    const char *origin_url;
    const char *origin_access_key, *origin_secret_key, *origin_region;
    int origin_no_verify_tls;
    const char *origin_ca_file; /* PEM CAs trusted for https origins; NULL = system's */
    /* Where external S3 origins (BUCKET.s3.REGION.amazonaws.com whose
     * bucket is not on this node) are read; NULL: https://s3.REGION.amazonaws.com. */
    const char *external_s3_endpoint;
    /* --origin-allow: the hosts external origins may be read at
     * (comma-separated entries, edge_allow.h); NULL/"" = none: external
     * origins are refused, except on external_s3_endpoint's host, which is
     * allowed implicitly. Distributions read through origin_url (the
     * standalone edge's --origin) are not subject to it. */
    const char *origin_allow;
    /* Read each origin bucket's policy (GetBucketPolicy) and evaluate it as
     * for a local origin (OAC principal or anonymous), e.g. in front of a
     * CatTube node whose credentials read everything. */
    int origin_evaluate_policy;
    uint64_t disk_cache_bytes;   /* 0 = 1 GiB */
    const char *disk_dir;        /* the disk cache is DIR/edge-cache; NULL: data_dir */
    /* Viewer requests answer 503 (Retry-After) until ct_edge_set_ready: the
     * standalone edge's listeners are up before its first configuration
     * poll, and a request then must not get a wrong 403/404. */
    int wait_for_config;
} ct_edge_config;

/* 0 when list is a valid --origin-allow value; else -1 with why (cap n)
 * naming the bad entry (for the CLI to refuse to start). */
int ct_edge_origin_allow_check(const char *list, char *why, size_t n);

/* store may be NULL with cfg->origin_url (the standalone edge). With a
 * store (cattube serve) the disk cache DATA/edge-cache is opened too, for
 * distributions with external origins. */
ct_err ct_edge_start(const ct_edge_config *cfg, ct_meta *meta, ct_store *store, ct_edge **out);
/* Replaces the routing table's source with these distributions (a JSON
 * array of stored distributions, as the admin API lists them): the
 * standalone edge's copy of its API node's configuration. */
ct_err ct_edge_sync_distributions(ct_edge *e, const char *json_array);
/* The same for public keys and key groups (JSON arrays of their stored
 * records, as the admin API lists them), the trust of signed URLs. */
ct_err ct_edge_sync_keys(ct_edge *e, const char *public_keys_json, const char *key_groups_json);
/* Lets viewer requests through (see wait_for_config). */
void ct_edge_set_ready(ct_edge *e);
/* Distributions in the routing table (the standalone edge: its copy). */
size_t ct_edge_distribution_count(ct_edge *e);
void ct_edge_stop(ct_edge *e);
/* Bound ports (the real ones when the listen address said port 0); 0 when
 * that listener is not running. */
uint16_t ct_edge_https_port(const ct_edge *e);
uint16_t ct_edge_http_port(const ct_edge *e);

/* Admin API for distributions on the API port (paths under
 * /cattube/admin/distributions): create (POST {originBucket,
 * viewerProtocolPolicy}) -> 201 {id, arn, url, domainName, originBucket,
 * viewerProtocolPolicy, status}, get, list, delete. */
void ct_edge_admin_handle(ct_edge *e, const ct_http_req *req, ct_http_resp *resp);

/* The CloudFront API (REST/XML under /2020-05-31/), requests authenticated
 * with SigV4 service "cloudfront". */
void ct_edge_cloudfront_handle(ct_edge *e, const ct_http_req *req, ct_http_resp *resp);
/* The IAM action a CloudFront API request needs ("cloudfront:GetDistribution")
 * and its resource: the distribution's or origin access control's ARN in
 * account when the path names one, else "*". Returns 0 (action
 * "cloudfront:*", resource "*") when method and path are no operation. */
int ct_edge_cloudfront_action(const char *account, const char *method, const char *path,
                              char action[64], char resource[256]);

#endif
