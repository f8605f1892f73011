/* Shared by the edge module's own files (and its unit test / fuzz target). */
#ifndef CT_EDGE_INTERNAL_H
#define CT_EDGE_INTERNAL_H

#include "core/xml.h"
#include "edge/edge.h"
#include "edge/edge_allow.h"
#include "edge/edge_http.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* ---- viewer protocol policy ---- */
typedef enum {
    EDGE_VPP_REDIRECT = 0, /* "redirect-to-https" */
    EDGE_VPP_HTTPS_ONLY,   /* "https-only" */
    EDGE_VPP_ALLOW_ALL,    /* "allow-all" */
} edge_vpp;
const char *edge_vpp_name(edge_vpp p);
/* 0 and *out on a known value, -1 otherwise. */
int edge_vpp_parse(const char *s, edge_vpp *out);

/* ---- pure parsing helpers (no I/O; fuzzed by fuzz/fuzz_range.c) ---- */
#define EDGE_ID_LEN 14 /* "E" + 13 [A-Z0-9] */
#define EDGE_HOST_MAX 256
/* Every distribution also answers at <id>.cattube.localhost, a name a
 * verifying TLS client accepts (see edge_cert.c). */
#define EDGE_VERIFIABLE_SUFFIX "cattube.localhost"

/* 1 when id is "E" followed by 13 [A-Z0-9]. */
int edge_dist_id_valid(const char *id);
/* Host header value -> lowercase host name without port, brackets or a
 * trailing dot ("E2AB.localhost:8443" -> "e2ab.localhost", "[::1]:1" ->
 * "::1"). Only [A-Za-z0-9.-_] names and bracketed IPv6 literals are accepted,
 * so the result is safe to echo in a Location header. *is_ipv6 (optional) is
 * set for bracketed literals. 0 on success, -1 when invalid or too long. */
int edge_host_parse(const char *host, char *name, size_t n, int *is_ipv6);
/* When the first label of a parsed host name has the shape of a
 * distribution id, writes it upper-cased to id and returns 1; else 0. */
int edge_host_dist_label(const char *name, char id[EDGE_ID_LEN + 1]);
/* Splits a raw request target. origin-form "/p?q" -> path "/p"; absolute-form
 * "https://h:1/p?q" -> path "/p" and the authority "h:1" (RFC 9112 §3.2.2:
 * it replaces Host). *path_and_query points at the path including the
 * query (for redirects). -1 when the target is neither form. */
int edge_target_split(const char *raw, const char **path, size_t *path_len,
                      const char **path_and_query, const char **authority, size_t *auth_len);
/* Object key of a raw path: percent-decoded once, '+' kept, the leading '/'
 * removed. Heap string; NULL with *err = CT_ERR_INVALID for a malformed
 * escape, an embedded NUL or a key over 1024 bytes. */
char *edge_path_to_key(const char *path, size_t path_len, ct_err *err);
/* Entity-tag list matching (If-Match / If-None-Match / If-Range).
 * etag is without quotes. weak=1 uses the weak comparison (W/ ignored); with
 * weak=0 a W/ tag never matches. "*" matches any existing entity. 1 on match. */
int edge_etag_match(const char *header, const char *etag, int weak);

/* ---- ranges (edge_range.c; the parser is pure and fuzzed) ---- */
#define EDGE_RANGES_MAX 16 /* more range-specs than this: the Range is ignored */
#define EDGE_BOUNDARY_LEN 32
typedef struct {
    uint64_t start, end; /* inclusive */
} edge_range;
/* A Range header against an object of len bytes. n >= 1: the satisfiable
 * ranges (out, at most max, in request order); 0: serve the whole object
 * (no/invalid Range, not bytes, more than max specs, or overlaps adding up
 * to more than the object); -1: nothing satisfiable (416). */
int edge_ranges_parse(const char *hdr, uint64_t len, edge_range *out, size_t max);
/* multipart/byteranges body of n (2..EDGE_RANGES_MAX) ranges of fd (taken;
 * -1 allowed for HEAD) from an object of total bytes; writes the boundary
 * and the exact body length. HEAD: the length without a body. */
edge_resp *edge_multipart_response(int fd, const edge_range *rg, size_t n, uint64_t total,
                                   const char *ctype, int head,
                                   char boundary[EDGE_BOUNDARY_LEN + 1], uint64_t *body_len);

/* ---- gzip (edge_gzip.c) ---- */
/* 1 when an Accept-Encoding value allows gzip (gzip/x-gzip with q > 0, or
 * '*' with q > 0 and gzip not refused). Pure; fuzzed. */
int edge_accepts_gzip(const char *accept_encoding);
/* 1 for content types CloudFront compresses (text/..., JSON, XML, +xml, HLS...). */
int edge_gzip_type(const char *content_type);
/* 1 when size is within CloudFront's 1,000..10,000,000 bytes. */
int edge_gzip_size_ok(uint64_t size);
/* gzip of the first len bytes of fd (not taken) into a heap buffer. */
ct_err edge_gzip_fd(int fd, uint64_t len, char **out, size_t *out_len);
/* Compressed bodies kept by "<dist>/<key>" + origin ETag (bounded, LRU). */
typedef struct edge_gzcache edge_gzcache;
edge_gzcache *edge_gzcache_new(void);
void edge_gzcache_free(edge_gzcache *g);
void edge_gzcache_invalidate(edge_gzcache *g, const char *dist_id, const char *key, int prefix);
/* 200 body of the kept gzip of ckey/etag, or NULL (not kept). */
edge_resp *edge_gzcache_response(edge_gzcache *g, const char *ckey, const char *etag,
                                           uint64_t *len);
/* 200 body: fd's first size bytes deflated now, and kept (g may be NULL).
 * *len = the compressed length. */
edge_resp *edge_gzip_response(edge_gzcache *g, const char *ckey, const char *etag,
                                        int fd, uint64_t size, uint64_t *len);

/* ---- certificate (edge_cert.c) ----
 * PEM cert and key for the HTTPS listener: cfg->cert_file/key_file when
 * given, else DIR/edge/{cert,key}.pem, generated (EC P-256, self-signed,
 * SAN localhost, *.localhost, *.cattube.localhost, 127.0.0.1, ::1 and
 * public_host, *.public_host) when missing,
 * expired or not covering public_host. *generated tells which. */
ct_err edge_cert_load_or_create(const ct_edge_config *cfg, char **cert_pem, char **key_pem,
                                int *generated);

/* ---- signed URLs / cookies (edge_sign.c: pure parsing, fuzzed by
 * fuzz/fuzz_signed_url.c) ---- */
#define EDGE_SIG_MAX 1024         /* decoded signature bytes (RSA-8192 fits) */
#define EDGE_POLICY_MAX 4096      /* decoded policy JSON bytes */
#define EDGE_RESOURCE_MAX 2048
#define EDGE_KEY_ID_MAX 32
#define EDGE_GROUP_ID_LEN 36      /* UUID */
#define EDGE_ALIASES_MAX 8        /* CNAMEs per distribution (CloudFront: 100) */
#define EDGE_DIST_GROUPS_MAX 4    /* CloudFront: key groups per cache behavior */
#define EDGE_GROUP_KEYS_MAX 5     /* CloudFront: public keys per key group */

typedef struct {
    int present;                  /* any signing parameter seen */
    char key_pair_id[EDGE_KEY_ID_MAX + 1];
    int has_expires;              /* canned policy */
    int64_t expires;
    char *policy;                 /* custom policy JSON (heap, NUL-terminated) or NULL */
    size_t policy_len;
    unsigned char sig[EDGE_SIG_MAX];
    size_t sig_len;
    int sha256;                   /* Hash-Algorithm=SHA256 */
    const char *bad;              /* why the parameters are unusable, or NULL */
} edge_signed;
void edge_signed_free(edge_signed *s);
/* CloudFront's URL-safe base64 (+ -> '-', = -> '_', / -> '~'); standard
 * characters are accepted too. Bytes written, or -1 (bad input / too long). */
long edge_b64url_decode(const char *in, size_t n, unsigned char *out, size_t cap);
/* Signing parameters of a raw query (Expires, Policy, Signature,
 * Key-Pair-Id, Hash-Algorithm). rest (cap rest_n) receives the query with
 * them removed, other parameters in order ("" when none), for the signed
 * resource and the cache key. -1 when the query is too long for rest. */
int edge_signed_from_query(const char *query, edge_signed *s, char *rest, size_t rest_n);
/* The same from the CloudFront-* cookie values (any may be NULL). */
void edge_signed_from_cookies(const char *policy, const char *sig, const char *kpid,
                              const char *expires, const char *hash, edge_signed *s);

typedef struct {
    char resource[EDGE_RESOURCE_MAX]; /* "*" when the policy gives none */
    int64_t less_than;
    int has_greater;
    int64_t greater_than;
    int has_ip;
    int family;                   /* 4 or 6 */
    unsigned char net[16];
    int prefix;
} edge_policy;
/* Custom policy JSON: exactly one statement; DateLessThan required;
 * DateGreaterThan, IpAddress optional; anything else -> -1. */
int edge_policy_parse(const char *json, size_t len, edge_policy *p);
/* CloudFront wildcard match: '*' any run, '?' one character. 1 on match. */
int edge_glob_match(const char *pat, const char *s);
/* 1 when the client address (textual IPv4/IPv6, IPv4-mapped allowed) lies
 * in the policy's CIDR. */
int edge_cidr_match(const edge_policy *p, const char *client_ip);
/* Decision for parsed parameters against the request's resource URL at
 * time now; the signature itself is checked by the caller (verify) over
 * *signed_text. 0 = conditions hold, else -1 with *why. For a canned policy
 * the policy text is rebuilt into buf (cap n). */
int edge_signed_conditions(const edge_signed *s, const char *resource_url, const char *client_ip,
                           int64_t now, char *buf, size_t n, const char **signed_text,
                           size_t *signed_len, const char **why);
/* The same, also giving the decoded custom policy in *p (untouched for a
 * canned one), for the signed-query cache. */
int edge_signed_evaluate(const edge_signed *s, const char *resource_url, const char *client_ip,
                         int64_t now, char *buf, size_t n, const char **signed_text,
                         size_t *signed_len, edge_policy *p, const char **why);
/* A decoded custom policy's conditions against one request, in CloudFront's
 * order (resource, DateLessThan, DateGreaterThan, IpAddress). 0 or -1 with *why. */
int edge_policy_check(const edge_policy *p, const char *resource_url, const char *client_ip,
                      int64_t now, const char **why);
/* The signed resource: "http[s]://" host path ["?" rest] into out (cap).
 * Its length, or -1 when it does not fit. */
int edge_signed_url(char *out, size_t cap, int secure, const char *host, size_t host_len,
                    const char *path, size_t path_len, const char *rest);

/* Signed-query cache (edge_signq.c): what parsing a signed URL's query and
 * verifying its signature established, keyed by the exact query text, so a
 * repeat only re-evaluates the request-dependent conditions. Thread-safe. */
typedef struct edge_signq edge_signq;
edge_signq *edge_signq_new(void);
void edge_signq_free(edge_signq *q);
/* One request against the cache. */
typedef struct {
    int secure;
    const char *host;    /* the Host header as used for the resource URL */
    size_t host_len;
    const char *path;    /* raw path, without the query */
    size_t path_len;
    const char *ip;      /* client address (text) */
    int64_t now;         /* seconds */
    const char *rest;    /* signed cookies: this request's query (without signing
                          * parameters), part of the resource URL; NULL for a query */
} edge_signq_req;
/* Signed cookies share the cache under a key made of the CloudFront-* cookie
 * values (edge_signq_cookie_key); such an entry's resource URL takes each
 * request's own query (rq->rest). 0 if the values do not fit cap. */
size_t edge_signq_cookie_key(char *out, size_t cap, const char *policy, const char *sig,
                             const char *kpid, const char *expires, const char *hash);
#define EDGE_SIGNQ_MISS 1
/* EDGE_SIGNQ_MISS: not cached, or not decidable from the entry (take the
 * full check); -1: a condition fails (*why); 0: the conditions hold and the
 * signature was verified with key kpid at keyring generation *gen -- the
 * caller must still find kpid trusted by this request's key groups at that
 * same generation (edge_keys_trusted). */
int edge_signq_check(edge_signq *q, const char *query, size_t qlen, const edge_signq_req *rq,
                     char kpid[EDGE_KEY_ID_MAX + 1], uint64_t *gen, const char **why);
/* Stores a query whose signature has just verified (never a failure): the
 * parsed parameters s, the query without signing parameters (rest), the
 * resource URL (canned: the only one the signature covers), the decoded
 * policy p (custom; NULL for canned) and the keyring generation gen. */
void edge_signq_put(edge_signq *q, const char *query, size_t qlen, const edge_signed *s,
                    const char *rest, const char *url, const edge_policy *p, uint64_t gen);
void edge_signq_stats(edge_signq *q, uint64_t *hits, uint64_t *misses);

/* ---- distributions (in-memory routing table, refreshed from meta) ---- */
#define EDGE_BEHAVIORS_MAX 8 /* CacheBehaviors per distribution (CloudFront: 25) */
#define EDGE_ERRORS_MAX 11 /* one CustomErrorResponse per error code */
typedef struct {
    int code;                     /* ErrorCode */
    char page[256];               /* ResponsePagePath ("" = none) */
    int response_code;            /* ResponseCode, 0 = the error's own */
    int64_t caching_min_ttl;      /* ErrorCachingMinTTL: seconds the error is cached */
} edge_error_page;

/* The per-path settings of a cache behavior (CacheBehaviors item). */
typedef struct {
    char pattern[256];            /* PathPattern: '*' and '?' wildcards */
    edge_vpp policy;
    int64_t default_ttl, min_ttl, max_ttl;
    size_t n_groups;
    char groups[EDGE_DIST_GROUPS_MAX][EDGE_GROUP_ID_LEN + 1];
    int compress;
} edge_behavior;

typedef struct {
    char id[EDGE_ID_LEN + 1];
    char origin_bucket[64];
    edge_vpp policy;
    int enabled;
    int64_t default_ttl, min_ttl, max_ttl; /* seconds (CloudFront's DefaultTTL etc.) */
    size_t n_groups;              /* trusted key groups: signed requests only when > 0 */
    char groups[EDGE_DIST_GROUPS_MAX][EDGE_GROUP_ID_LEN + 1];
    char origin_path[256];        /* "" or "/prefix" (no trailing '/') */
    char root_object[256];        /* DefaultRootObject, "" = none */
    size_t n_aliases;             /* CNAMEs routed here (lowercase) */
    char aliases[EDGE_ALIASES_MAX][EDGE_HOST_MAX];
    int compress;                 /* the behavior's Compress: gzip text and manifests */
    char oac_id[EDGE_ID_LEN + 2]; /* OriginAccessControlId, "" = read anonymously */
    char arn[96];                 /* its ARN as stored (the API node's account on a standalone edge) */
    size_t n_errors;              /* CustomErrorResponses (pages: 403/404; caching: 403/404/502) */
    edge_error_page errors[EDGE_ERRORS_MAX];
    size_t n_behaviors;           /* CacheBehaviors, in order; the fields above are the default's */
    edge_behavior behaviors[EDGE_BEHAVIORS_MAX];
    /* Where the origin is read (edge_dists.c resolves it from the stored
     * record): "" = this node's meta/store (sendfile from the blob), else an
     * S3-compatible endpoint, path-style, read remotely into the disk cache. */
    char origin_url[272];
    char origin_url_http[272];    /* match-viewer custom origin: the one for HTTP viewers */
    char origin_region[32];       /* SigV4 region, "" = us-east-1 */
    int origin_node;              /* read through `cattube edge --origin` (its policy option) */
    /* origin_url / origin_url_http not in --origin-allow (edge_allow.h):
     * viewer requests answer 502, the origin is never contacted */
    int origin_refused, origin_refused_http;
} edge_dist;
/* Picks the viewer's protocol of a match-viewer custom origin on a copy of d. */
void edge_dist_origin_for_viewer(edge_dist *d, int secure);
/* The create/update check of an origin being stored (o: the stored JSON's
 * origin fields, as edge_cf_config.c builds them): 1 when every host it
 * would be read at is in --origin-allow (or it is not external), else 0
 * with hostport (cap n) naming the first refused "HOST:PORT". */
int edge_dist_origin_allowed(ct_edge *e, void *o, char *hostport, size_t n);
/* Logs (at most every 10 s) that d's refused origin answered a viewer 502. */
void edge_dist_refused_log(const edge_dist *d);
/* CacheBehaviors: the first behavior whose PathPattern matches the raw
 * request path (a pattern without a leading '/' matches as if it had one)
 * replaces d's behavior fields (policy, TTLs, trusted key groups, Compress);
 * no match keeps the default's. Pure; returns the index or -1. */
int edge_behavior_select(edge_dist *d, const char *path, size_t path_len);

/* The origin seam (edge_origin.c): edge/edge_origin.h, included at the end. */

/* ---- shared distribution store (edge_admin.c; used by the admin JSON API
 * and the CloudFront API). A stored distribution is a JSON object. ---- */
/* Fills id, arn, status, timestamps and etag into fields, stores it (create
 * only) and reloads routing. fields is borrowed and modified. */
ct_err edge_dist_create(ct_edge *e, void *fields /* json_t* */);
/* Loaded stored JSON (json_t*, caller decrefs); CT_ERR_NOT_FOUND. */
ct_err edge_dist_load(ct_edge *e, const char *id, void **out);
/* Overwrites d (new etag, lastModifiedAt), reloads routing, drops the cache. */
ct_err edge_dist_save(ct_edge *e, const char *id, void *d);
ct_err edge_dist_remove(ct_edge *e, const char *id);
/* Every stored distribution, oldest first (json_t* array). */
ct_err edge_dist_list_all(ct_edge *e, void **out);
/* Adds derived domainName and url. */
void edge_dist_wire(ct_edge *e, void *d);
/* Drops cached rows for the invalidation paths (a trailing '*' = prefix). */
void edge_dist_invalidate_path(ct_edge *e, const char *id, const char *path);
/* Invalidations kept in a distribution's stored record (newest first). */
#define EDGE_INVAL_KEEP 100
/* One invalidation from either API (edge_cf_inval.c): drops paths (json_t*
 * array of "/..." strings, validated by the caller) from this process's
 * caches and records {id, createTime, callerReference, paths} first in the
 * stored distribution's "invalidations", where standalone edges pick it up
 * at their next poll (edge_sync.c). *inv (optional): the new record
 * (json_t*, caller decrefs). CT_ERR_NOT_FOUND for an unknown id. */
ct_err edge_dist_record_invalidation(ct_edge *e, const char *id, void *paths, const char *cref,
                                     void **inv);

/* ---- origin access controls (edge_oac.c); records are json_t* ---- */
#define EDGE_OAC_KIND "origin-access-control"
ct_err edge_oac_list_all(ct_edge *e, void **out);          /* array, oldest first */
ct_err edge_oac_load(ct_edge *e, const char *id, void **out); /* CT_ERR_NOT_FOUND */
int edge_oac_exists(ct_edge *e, const char *id);
void edge_oac_new_etag(void *oac);
/* Stores fields (name, description, signing*, originType) under a new id,
 * filling id, etag, createdAt. */
ct_err edge_oac_create(ct_edge *e, void *fields);
/* The OAC named "<bucket>.s3.amazonaws.com" (the console's default name),
 * created when missing. */
ct_err edge_oac_for_bucket(ct_edge *e, const char *bucket, char id[EDGE_ID_LEN + 1]);
/* The console's "Copy policy" statement for dist_id (new json_t*). */
void *edge_oac_statement(ct_edge *e, const char *bucket, const char *dist_id);
/* Appends that statement to the bucket's policy (validated like
 * PutBucketPolicy; *msg says why on CT_ERR_INVALID / CT_ERR_TOO_LARGE). */
ct_err edge_oac_grant(ct_edge *e, const char *bucket, const char *dist_id, char *msg, size_t n);

/* XML request bodies are parsed with core/xml.h. */

/* ---- metrics (edge_metrics.c) and access log (edge_log.c) ---- */
#define EDGE_LAT_BUCKETS 10
typedef struct {
    _Atomic uint64_t by_status[600];
    _Atomic uint64_t bytes_sent;
    _Atomic uint64_t lat_bucket[EDGE_LAT_BUCKETS + 1]; /* last = +Inf */
    _Atomic uint64_t lat_count, lat_sum_us;
} edge_metrics;
void edge_metrics_request(ct_edge *e, int status, uint64_t bytes);
void edge_metrics_origin(ct_edge *e, int64_t micros);
/* Prometheus text exposition (heap string, *len). */
char *edge_metrics_render(ct_edge *e, size_t *len);

/* What the access log needs from one request (embedded in edge.c's edge_req). */
typedef struct {
    int64_t start_ms;   /* wall clock */
    int64_t t0_us;      /* monotonic */
    int64_t ttfb_us;
    char content_type[96];
    char result[24];    /* Hit / Miss / Error / Redirect / RefreshHit */
    int64_t range_start, range_end; /* -1 when none */
    uint64_t content_len;
    char request_id[24];
    char version[16];   /* "HTTP/1.1" */
} edge_reqlog;
void edge_log_begin(edge_reqlog *lg);
int64_t edge_now_us(void);
/* Notes a response about to be queued. */
void edge_log_note(edge_reqlog *lg, edge_resp *mr, int status);
typedef struct {
    const char *method, *raw, *host, *ip;
    int secure, status;
    uint64_t bytes;
} edge_logline;
/* Appends one W3C line (and counts the request in the metrics). */
void edge_log_request(ct_edge *e, edge_conn *c, const edge_reqlog *lg,
                      const edge_logline *l);
ct_err edge_log_open(ct_edge *e, const char *data_dir);
/* Writes buffered log lines (the loop calls it every second). */
void edge_log_flush(ct_edge *e);
/* A server loop thread's own log buffer (no lock per request): begin when
 * the thread starts; flush every second and once more (end) as it exits.
 * Other threads (the origin pool) use the shared buffer. */
void edge_log_thread_begin(ct_edge *e);
void edge_log_thread_flush(ct_edge *e, int end);
void edge_log_close(ct_edge *e);

#define EDGE_DEFAULT_TTL 86400
#define EDGE_MAX_TTL 31536000
#define EDGE_CACHE_BYTES (64u << 20)

/* ---- metadata cache (edge_cache.c) ---- */
typedef struct edge_cache edge_cache;
typedef struct {
    uint64_t hits, misses, coalesced, evictions, invalidated;
    size_t entries, bytes;
} edge_cache_stats;
edge_cache *edge_cache_new(size_t max_bytes);
void edge_cache_free(edge_cache *c);
/* The origin row of key behind d: from the cache (*hit = 1) or meta. */
ct_err edge_cache_lookup(ct_edge *e, const edge_dist *d, const char *key, ct_meta_object *out,
                         int *hit);
/* Without reading anything: 1 when the cache holds a fresh answer for key
 * (etag (cap n) = its row's ETag, "" for a kept error), else 0. */
int edge_cache_peek(ct_edge *e, const edge_dist *d, const char *key, char *etag, size_t n);
/* Drops d's entries for key (prefix: every key starting with it). */
void edge_cache_invalidate(edge_cache *c, const char *dist_id, const char *key, int prefix);
/* A local row kept with meta's write epoch (ct_meta_write_epoch) read before
 * it was fetched: fresh (1) while no commit has happened since, so a hit on
 * an inline object needs no meta read; confirm stores the epoch read before
 * a check that found the row still current. */
int edge_cache_row_fresh(ct_edge *e, const edge_dist *d, const char *key);
void edge_cache_confirm(ct_edge *e, const edge_dist *d, const char *key, uint64_t epoch);
/* Whether the cache key "<dist_id>/<object key>" is hit by an invalidation of
 * key (a whole key, or a prefix when prefix != 0): shared by every cache tier. */
int edge_ckey_invalidated(const char *ckey, const char *dist_id, const char *key, int prefix);
/* Seconds an origin row may be reused (0: not cached). */
int64_t edge_cache_ttl(const edge_dist *d, const ct_meta_object *o);
/* The status an origin error answers as (404, 403, 502), 0 for others. */
int edge_error_status(ct_err err);
/* Seconds an origin error is cached: the ErrorCachingMinTTL of d's
 * CustomErrorResponse for its status, 0 (not cached) without one. */
int64_t edge_error_ttl(const edge_dist *d, ct_err err);
void edge_cache_get_stats(edge_cache *c, edge_cache_stats *out);
/* Both caches (metadata and disk): d's entries for key (prefix: starting with it). */
void edge_invalidate(ct_edge *e, const char *dist_id, const char *key, int prefix);

/* ---- disk cache of object bytes for remote origins (edge_disk.c) ---- */
#define EDGE_DISK_BYTES ((uint64_t)1 << 30)
typedef struct edge_disk edge_disk;
typedef struct {
    uint64_t hits, misses, coalesced, evictions, invalidated, bytes;
} edge_disk_stats;
/* DATA/edge-cache with the previous run's entries that are still valid
 * (see edge_disk.c); NULL on failure. */
edge_disk *edge_disk_open(const char *data_dir, uint64_t max_bytes);
/* Frees the index; the files stay for the next start. */
void edge_disk_free(edge_disk *dk);
/* Fetches the object into tmp_path (created). */
typedef ct_err (*edge_disk_fill_fn)(void *ctx, const char *tmp_path);
/* An open fd (caller closes) on the bytes of ckey ("<dist>/<key>") with the
 * origin ETag of row o: from the cache (*hit = 1), or fetched by fill
 * (coalesced with concurrent misses) and kept with o for ttl_s seconds when
 * it fits. */
ct_err edge_disk_get(edge_disk *dk, const char *ckey, const ct_meta_object *o, int64_t ttl_s,
                     edge_disk_fill_fn fill, void *ctx, int *fd, uint64_t *size, int *hit);
/* The origin row kept with a fresh entry of ckey (1: *out is the caller's,
 * *ttl_s the whole seconds it has left), else 0. dk may be NULL. */
int edge_disk_row(edge_disk *dk, const char *ckey, ct_meta_object *out, int64_t *ttl_s);
/* 1 when a fresh entry of ckey holds the bytes of etag (nothing opened). */
int edge_disk_ready(edge_disk *dk, const char *ckey, const char *etag);
void edge_disk_invalidate(edge_disk *dk, const char *dist_id, const char *key, int prefix);
void edge_disk_get_stats(edge_disk *dk, edge_disk_stats *out);

/* ---- public keys and key groups (edge_keys.c) ---- */
typedef struct edge_keyring edge_keyring;
ct_err edge_keys_reload(ct_edge *e);
void edge_keys_free(ct_edge *e);
/* Checks a signature over text with key key_id, which must be in one of the
 * distribution's trusted key groups. 0 when valid; *gen (optional) = the
 * keyring generation the check was made under. */
int edge_keys_verify(ct_edge *e, const edge_dist *d, const char *key_id, int sha256,
                     const char *text, size_t len, const unsigned char *sig, size_t sig_len,
                     uint64_t *gen);
/* 1 when key_id is trusted by d's key groups and the keyring is still at
 * generation gen (the one a cached verification was made under). */
int edge_keys_trusted(ct_edge *e, const edge_dist *d, const char *key_id, uint64_t gen);
/* Signature-verification cache (edge_sigcache.c): successful checks keyed
 * by the SHA-256 of (key id, algorithm, signed text, signature) and the
 * keyring generation. */
typedef struct edge_sigcache edge_sigcache;
edge_sigcache *edge_sigcache_new(void);
void edge_sigcache_free(edge_sigcache *c);
int edge_sigcache_digest(const char *key_id, int sha256, const char *text, size_t len,
                         const unsigned char *sig, size_t sig_len, unsigned char out[32]);
/* 1 when this digest was verified under keyring generation gen. */
int edge_sigcache_check(edge_sigcache *c, const unsigned char d[32], uint64_t gen);
void edge_sigcache_put(edge_sigcache *c, const unsigned char d[32], uint64_t gen);
void edge_sigcache_stats(edge_sigcache *c, uint64_t *hits, uint64_t *misses);
/* 1 when id names an existing key group. */
int edge_key_group_exists(ct_edge *e, const char *id);
/* Record rules shared by the admin API and the CloudFront API
 * (edge_cf_keys.c): records live in meta kinds EDGE_KIND_KEY / EDGE_KIND_GROUP. */
#define EDGE_KIND_KEY "public-key"
#define EDGE_KIND_GROUP "key-group"
int edge_key_exists(ct_edge *e, const char *id);
/* 1 when pem is a usable public key (RSA 2048-8192 bits or EC). */
int edge_key_pem_ok(const char *pem);
/* 1 when s is a valid key / key group name: 1-128 of [A-Za-z0-9_-]. */
int edge_key_name_ok(const char *s);
void edge_key_new_id(char out[15]);                      /* "K" + 13 */
void edge_key_group_new_id(char out[EDGE_GROUP_ID_LEN + 1]); /* UUID */
/* 1 when a key group uses key id (group 0) / a distribution uses group id (group 1). */
int edge_key_item_in_use(ct_edge *e, int group, const char *id);
/* Admin API for /cattube/admin/public-keys[/ID] and /cattube/admin/key-groups[/ID]. */
void edge_keys_admin(ct_edge *e, const ct_http_req *req, ct_http_resp *resp, const char *path);
/* Shared by the admin files. */
void edge_reply_json(ct_http_resp *resp, int status, void *json /* json_t*, stolen */);
void edge_reply_error(ct_http_resp *resp, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));


typedef struct {
    ct_edge *e;
    int secure;
    int fd;               /* listening socket, -1 when not listening */
    uint16_t port;
} edge_listener;

struct ct_edge {
    ct_meta *meta;
    ct_store *store;
    char *account_id;
    char *public_host;    /* NULL = none */
    char suffix[EDGE_HOST_MAX]; /* domain suffix of distributions: "localhost" or public_host */
    char *cert_pem, *key_pem;
    edge_listener https, http;

    pthread_rwlock_t lock; /* guards dists */
    edge_dist *dists;      /* creation order, oldest first */
    size_t n_dists;
    edge_keyring *keys;    /* public keys + key groups, guarded by lock */
    uint64_t keys_gen;     /* bumped with every new keyring, guarded by lock */
    edge_sigcache *sigcache; /* verified signatures (own lock) */
    edge_signq *signq;     /* verified signed-URL queries (own locks) */
    edge_cache *cache;     /* origin metadata cache (own lock) */
    edge_disk *disk;       /* object bytes of remote origins (own lock), or NULL */
    edge_gzcache *gz;      /* compressed bodies (own lock) */
    char *origin_url;      /* remote S3 origin (cattube edge --origin), or NULL: local */
    char *external_s3_endpoint; /* external S3 origins' endpoint, NULL: AWS's */
    edge_allow *allow;     /* --origin-allow (+ the external S3 endpoint), never NULL */
    char *origin_ak, *origin_sk, *origin_region;
    int origin_no_verify;
    char *origin_ca_file; /* NULL: the system's CAs */
    int origin_eval_policy; /* evaluate the origin bucket's policy here */
    edge_metrics metrics;
    pthread_mutex_t log_lock;
    int log_lock_ready;
    int log_fd;            /* DIR/edge/access.log, or -1 */
    ct_buf log_buf;        /* lines not yet written (edge_log_flush), under log_lock */
    int64_t log_flushed_ms;
    pthread_mutex_t log_write_lock; /* one write at a time, in order, outside log_lock */
    ct_buf log_spare;      /* the buffer being written / the next log_buf */
    struct edge_loop *loop; /* the server threads (edge_loop.c) */
    _Atomic int ready;     /* 0: viewer requests answer 503 (ct_edge_set_ready) */
};

/* ---- one viewer request (edge.c) and the response helpers (edge_respond.c) ---- */
typedef struct {
    edge_listener *l;
    char *raw;          /* raw request target, as on the wire (the loop's buffer) */
    int64_t t0;
    int responded;
    int status;
    uint64_t bytes;
    char method[16];
    char host[EDGE_HOST_MAX]; /* for the access log */
    char dist[EDGE_ID_LEN + 1];
    edge_reqlog lg;
    int can_defer;      /* on a loop thread that has an origin pool (edge_loop.c) */
    int deferred;       /* the handler gave the request to the pool: no answer yet */
} edge_req;

void edge_common_headers(edge_resp *mr, const char *x_cache);
/* CORS and the Vary header (Origin, plus Accept-Encoding when the body
 * depends on it). */
void edge_cors_headers(edge_resp *mr, edge_conn *c, int vary_encoding);
edge_resp *edge_empty_response(void);
/* Queues mr (taken; NULL -> 0) and notes status/bytes for the log. 1 on success. */
int edge_queue(edge_req *r, edge_conn *c, int status, edge_resp *mr,
               uint64_t bytes);
/* S3-shaped XML error, never cacheable. key (optional) is echoed. */
int edge_send_error(edge_req *r, edge_conn *c, int status, const char *code,
                    const char *message, const char *key);
/* 301 to https://host[:port]path_and_query. */
int edge_send_redirect(edge_req *r, edge_conn *c, const char *host, int is_v6,
                       const char *path_and_query);
/* GET /metrics on the plain listener (Prometheus text format). */
int edge_send_metrics(edge_req *r, edge_conn *c);
/* ---- edge_serve.c ---- */
/* GET/HEAD of key in d's origin. */
int edge_serve_object(edge_req *r, edge_conn *c, const edge_dist *d, const char *key,
                      int head);

/* One parsed viewer request (edge.c, called by the server loop); 1 when
 * an answer was queued, 0 to close the connection. */
int edge_handle(edge_req *r, edge_conn *c);
/* The answer went out (completed) or the connection died: access log and
 * metrics. */
void edge_req_done(edge_req *r, edge_conn *c, int completed);

/* Reloads the routing table from meta. */
ct_err edge_dists_reload(ct_edge *e);
/* Routes a parsed host name: the distribution named by its first label, else
 * (for names that do not name a distribution) the most recently created
 * enabled one. 0 with *out filled, -1 when nothing serves this host. */
int edge_route(ct_edge *e, const char *host_name, edge_dist *out);

#include "edge/edge_origin.h"

#endif
