/* Shared by the edge module's own files (and its unit test / fuzz target). */
#ifndef CT_EDGE_INTERNAL_H
#define CT_EDGE_INTERNAL_H

#include "edge/edge.h"

#include <pthread.h>
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

/* ---- certificate (edge_cert.c) ----
 * PEM cert and key for the HTTPS listener: cfg->cert_file/key_file when
 * given, else DIR/edge/{cert,key}.pem, generated (EC P-256, self-signed,
 * SAN localhost, *.localhost, *.cattube.localhost, 127.0.0.1, ::1 and
 * public_host, *.public_host) when missing,
 * expired or not covering public_host. *generated tells which. */
ct_err edge_cert_load_or_create(const ct_edge_config *cfg, char **cert_pem, char **key_pem,
                                int *generated);

/* ---- distributions (in-memory routing table, refreshed from meta) ---- */
typedef struct {
    char id[EDGE_ID_LEN + 1];
    char origin_bucket[64];
    edge_vpp policy;
    int enabled;
} edge_dist;

struct MHD_Daemon;

typedef struct {
    ct_edge *e;
    int secure;
    struct MHD_Daemon *d;
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
};

/* Reloads the routing table from meta. */
ct_err edge_dists_reload(ct_edge *e);
/* Routes a parsed host name: the distribution named by its first label, else
 * (for names that do not name a distribution) the most recently created
 * enabled one. 0 with *out filled, -1 when nothing serves this host. */
int edge_route(ct_edge *e, const char *host_name, edge_dist *out);

#endif
