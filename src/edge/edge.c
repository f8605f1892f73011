/* edge.c: the edge's viewer requests (routing, viewer protocol policy,
 * signed URLs, then edge_serve.c) and its lifecycle.
 *
 * The HTTPS and plain HTTP listeners are served by the edge's own epoll +
 * OpenSSL loop (edge_loop.c; it replaced libmicrohttpd + GnuTLS, whose TLS
 * path could not sendfile and wrote headers and body as separate records).
 * A viewer request does a routing table lookup (in memory, rwlock), one
 * metadata read (SQLite, microseconds, usually a metadata-cache hit) and an
 * open(); the loop then pushes the bytes as the socket drains, so a slow
 * player costs a socket and a buffer, never a thread.
 *
 * Keys are opaque: the URL path is percent-decoded once into a key that is
 * looked up in meta; no filesystem path is ever derived from a URL. */
#include "edge/edge_internal.h"

#include "client/client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include "edge/edge_loop.h"
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- per-request state ---- */

void edge_req_done(edge_req *r, edge_conn *c, int completed)
{
    if (!r->responded)
        return;
    char ip[64];
    edge_client_ip(c, ip);
    {
        char target[256];
        size_t i = 0;
        for (; i < sizeof target - 1 && r->raw[i]; i++) /* no control bytes in the log */
            target[i] = (unsigned char)r->raw[i] < 0x20 || r->raw[i] == 0x7f ? '?' : r->raw[i];
        target[i] = '\0';
        ct_debug("edge: %s %s %s %s host=%s dist=%s -> %d %llu bytes %lld ms%s", ip,
                 r->l->secure ? "https" : "http", r->method, target, r->host[0] ? r->host : "-",
                 r->dist[0] ? r->dist : "-", r->status, (unsigned long long)r->bytes,
                 (long long)(ct_mono_ms() - r->t0), completed ? "" : " (aborted)");
    }
    edge_logline l = {r->method, r->raw, r->host, ip, r->l->secure, r->status, r->bytes};
    edge_log_request(r->l->e, c, &r->lg, &l);
    r->responded = 0;
}


/* Signed URL / signed cookies for a distribution with trusted key groups.
 * The resource is scheme://Host/path?query with the signing parameters
 * removed. A query seen before with a good signature is decided from the
 * signed-query cache (edge_signq.c: conditions and trust re-evaluated);
 * otherwise the full check below, whose successes for a query are stored
 * there. 0 when allowed; else *why. */
static int signed_check(edge_req *r, edge_conn *c, const edge_dist *d,
                        const char *host_hdr, const char *path, size_t path_len,
                        const char *query, const char **why)
{
    ct_edge *e = r->l->e;
    char ip[64];
    edge_client_ip(c, ip);
    const char *h = host_hdr ? host_hdr : "";
    while (*h == ' ' || *h == '\t')
        h++;
    size_t hl = strcspn(h, " \t"), qlen = strlen(query);
    edge_signq_req rq = {r->l->secure, h, hl, path, path_len, ip, ct_now_ms() / 1000, NULL};
    char kpid[EDGE_KEY_ID_MAX + 1];
    uint64_t gen;
    int hit = edge_signq_check(e->signq, query, qlen, &rq, kpid, &gen, why);
    if (hit < 0)
        return -1;
    if (hit == 0 && edge_keys_trusted(e, d, kpid, gen))
        return 0;

    edge_signed s;
    memset(&s, 0, sizeof s);
    char rest[EDGE_RESOURCE_MAX], canned[EDGE_RESOURCE_MAX + 160], url[EDGE_RESOURCE_MAX];
    edge_policy pol;
    int rc = -1, from_query;
    *why = "Access denied";
    if (edge_signed_from_query(query, &s, rest, sizeof rest))
        goto cleanup;
    from_query = s.present;
    char ckey[4096];
    size_t cklen = 0;
    if (!s.present) { /* signed cookies: the same cache, keyed by their values */
        const char *cp = edge_cookie(c, "CloudFront-Policy"),
                   *cs = edge_cookie(c, "CloudFront-Signature"),
                   *ck = edge_cookie(c, "CloudFront-Key-Pair-Id"),
                   *ce = edge_cookie(c, "CloudFront-Expires"),
                   *ch = edge_cookie(c, "CloudFront-Hash-Algorithm");
        cklen = cs ? edge_signq_cookie_key(ckey, sizeof ckey, cp, cs, ck, ce, ch) : 0;
        rq.rest = rest;
        hit = edge_signq_check(e->signq, ckey, cklen, &rq, kpid, &gen, why);
        if (hit < 0)
            goto cleanup;
        if (hit == 0 && edge_keys_trusted(e, d, kpid, gen)) {
            rc = 0;
            goto cleanup;
        }
        *why = "Access denied";
        edge_signed_from_cookies(cp, cs, ck, ce, ch, &s);
    }
    if (edge_signed_url(url, sizeof url, rq.secure, h, hl, path, path_len, rest) < 0)
        goto cleanup;
    const char *text = NULL;
    size_t text_len = 0;
    if (edge_signed_evaluate(&s, url, ip, rq.now, canned, sizeof canned, &text, &text_len, &pol,
                             why))
        goto cleanup;
    if (edge_keys_verify(e, d, s.key_pair_id, s.sha256, text, text_len, s.sig, s.sig_len,
                         &gen)) {
        *why = "Access denied: the signature does not match a trusted key";
        goto cleanup;
    }
    if (from_query)
        edge_signq_put(e->signq, query, qlen, &s, rest, url, s.policy ? &pol : NULL, gen);
    else if (cklen)
        edge_signq_put(e->signq, ckey, cklen, &s, rest, url, s.policy ? &pol : NULL, gen);
    rc = 0;
cleanup:
    edge_signed_free(&s);
    return rc;
}


int edge_handle(edge_req *r, edge_conn *c)
{
    const char *method = r->method;
    ct_edge *e = r->l->e;
    const char *path, *path_and_query, *authority;
    size_t path_len, auth_len;
    if (edge_target_split(r->raw, &path, &path_len, &path_and_query, &authority, &auth_len))
        return edge_send_error(r, c, 400, "InvalidRequest", "Malformed request target.", NULL);

    /* Host: the absolute-form authority wins over the Host header. */
    char host[EDGE_HOST_MAX] = "";
    int is_v6 = 0;
    const char *host_hdr = edge_hdr(c, "Host");
    char auth[EDGE_HOST_MAX];
    if (authority) {
        if (auth_len >= sizeof auth)
            return edge_send_error(r, c, 400, "InvalidRequest", "Malformed Host.", NULL);
        memcpy(auth, authority, auth_len);
        auth[auth_len] = '\0';
        host_hdr = auth;
    }
    if (host_hdr && *host_hdr && edge_host_parse(host_hdr, host, sizeof host, &is_v6))
        return edge_send_error(r, c, 400, "InvalidRequest", "Malformed Host.", NULL);
    memcpy(r->host, host, strlen(host) + 1); /* same size; no printf on the hot path */
    if (!r->l->secure && path_len == 8 && memcmp(path, "/metrics", 8) == 0)
        return edge_send_metrics(r, c);
    if (!atomic_load_explicit(&e->ready, memory_order_acquire))
        return edge_send_error(r, c, 503, "ServiceUnavailable",
                               "The edge has not loaded its distributions yet.", NULL);

    edge_dist d;
    if (edge_route(e, host, &d))
        return edge_send_error(r, c, 403, "AccessDenied",
                          "No distribution is configured for this host.", NULL);
    memcpy(r->dist, d.id, sizeof r->dist);
    if (!d.enabled)
        return edge_send_error(r, c, 403, "AccessDenied", "The distribution is disabled.", NULL);
    edge_behavior_select(&d, path, path_len); /* CacheBehaviors: the path's settings */
    edge_dist_origin_for_viewer(&d, r->l->secure);

    if (!r->l->secure) {
        if (d.policy == EDGE_VPP_REDIRECT) {
            const char *h = host[0] ? host : (e->public_host ? e->public_host : "localhost");
            return edge_send_redirect(r, c, h, is_v6, path_and_query);
        }
        if (d.policy == EDGE_VPP_HTTPS_ONLY)
            return edge_send_error(r, c, 403, "AccessDenied",
                              "This distribution only accepts HTTPS requests.", NULL);
    }

    if (strcmp(method, "OPTIONS") == 0) {
        edge_resp *mr = edge_resp_empty();
        if (!mr)
            return 0;
        edge_common_headers(mr, "Miss from cattube");
        edge_resp_header(mr, "Allow", "GET, HEAD, OPTIONS");
        edge_cors_headers(mr, c, 0);
        edge_resp_header(mr, "Access-Control-Allow-Methods", "GET, HEAD");
        edge_resp_header(mr, "Access-Control-Allow-Headers",
                         "Range, If-None-Match, If-Modified-Since, If-Range");
        edge_resp_header(mr, "Access-Control-Max-Age", "86400");
        return edge_queue(r, c, 200, mr, 0);
    }
    if (d.origin_refused) { /* stored under another --origin-allow: never contacted */
        edge_dist_refused_log(&d);
        return edge_send_error(r, c, 502, "OriginError", "The origin could not be read.", NULL);
    }
    int head = strcmp(method, "HEAD") == 0;
    if (!head && strcmp(method, "GET") != 0)
        return edge_send_error(r, c, 403, "MethodNotAllowed",
                          "This distribution is not configured to allow the HTTP request "
                          "method that was used for this request.",
                          NULL);

    if (d.n_groups) {
        const char *why, *q = strchr(path_and_query, '?');
        if (signed_check(r, c, &d, host_hdr, path, path_len, q ? q + 1 : "", &why))
            return edge_send_error(r, c, 403, "AccessDenied", why, NULL);
    }
    ct_err err;
    char *key = edge_path_to_key(path, path_len, &err);
    if (!key)
        return edge_send_error(r, c, 400, "InvalidURI", "Couldn't parse the specified URI.", NULL);
    int ret;
    char *full = NULL; /* OriginPath + (the key or DefaultRootObject) */
    const char *k = *key ? key : d.root_object;
    if (*k && d.origin_path[0] && asprintf(&full, "%s/%s", d.origin_path + 1, k) < 0)
        full = NULL;
    if (!*k) /* no DefaultRootObject: S3 would answer a bucket listing, which OAC denies */
        ret = edge_send_error(r, c, 403, "AccessDenied", "Access Denied", NULL);
    else if (d.origin_path[0] && !full)
        ret = 0;
    else
        ret = edge_serve_object(r, c, &d, full ? full : k, head);
    free(full);
    free(key);
    return ret;
}

/* ---- lifecycle ---- */

static ct_err listener_bind(edge_listener *l, ct_edge *e, const char *listen, int secure)
{
    l->e = e;
    l->secure = secure;
    ct_err err = edge_listen_socket(listen, &l->fd, &l->port);
    if (err) {
        ct_error("edge: cannot listen on %s (%s)", listen, secure ? "https" : "http");
        return err;
    }
    ct_info("edge: %s listening on %s (port %u)", secure ? "https" : "http", listen,
            (unsigned)l->port);
    return CT_OK;
}

static int is_ip_literal(const char *h)
{
    unsigned char buf[16];
    return inet_pton(AF_INET, h, buf) == 1 || inet_pton(AF_INET6, h, buf) == 1;
}

static char *dup_or_null(const char *s) { return s && *s ? strdup(s) : NULL; }

/* --origin-ca-file is read at start-up so a wrong path stops the server
 * instead of turning every https origin into a 502 later. */
static int check_ca_file(const char *path)
{
    char why[128];
    if (!ct_client_ca_file_check(path, why, sizeof why))
        return 0;
    ct_error("edge: --origin-ca-file %s: %s", path, why);
    return 1;
}

/* Remote reads and their disk cache: every distribution of the standalone
 * edge (--origin), and on serve those with an external origin; both are
 * read with the same credentials. serve without a disk cache still serves
 * its own buckets (external origins then answer 502). */
static ct_err origin_settings(ct_edge *e, const ct_edge_config *cfg, int remote)
{
    uint64_t bytes = cfg->disk_cache_bytes ? cfg->disk_cache_bytes : EDGE_DISK_BYTES;
    const char *dir = cfg->disk_dir ? cfg->disk_dir : cfg->data_dir;
    if ((remote && !(e->origin_url = strdup(cfg->origin_url))) ||
        (cfg->external_s3_endpoint && *cfg->external_s3_endpoint &&
         !(e->external_s3_endpoint = strdup(cfg->external_s3_endpoint))))
        return CT_ERR_NOMEM;
    char why[512];
    if (edge_allow_parse(cfg->origin_allow, &e->allow, why, sizeof why)) {
        ct_error("edge: %s", why);
        return CT_ERR_INVALID;
    }
    if (e->external_s3_endpoint && edge_allow_add_url(e->allow, e->external_s3_endpoint)) {
        ct_error("edge: --external-s3-endpoint %s is not an http(s) URL", e->external_s3_endpoint);
        return CT_ERR_INVALID;
    }
    if (!edge_allow_count(e->allow))
        ct_info("edge: no --origin-allow: external origins (custom, other S3 stores) are off");
    e->origin_ak = dup_or_null(cfg->origin_access_key);
    e->origin_sk = dup_or_null(cfg->origin_secret_key);
    e->origin_region = dup_or_null(cfg->origin_region);
    e->origin_no_verify = cfg->origin_no_verify_tls;
    if (cfg->origin_ca_file && check_ca_file(cfg->origin_ca_file))
        return CT_ERR_INVALID;
    e->origin_ca_file = dup_or_null(cfg->origin_ca_file);
    if (cfg->origin_ca_file && !e->origin_ca_file)
        return CT_ERR_NOMEM;
    e->origin_eval_policy = cfg->origin_evaluate_policy;
    e->disk = edge_disk_open(dir, bytes);
    if (!e->disk) {
        if (remote)
            return CT_ERR_IO;
        ct_warn("edge: no disk cache: distributions with external origins answer 502");
        return CT_OK;
    }
    ct_info("edge: %s%s, disk cache %s/edge-cache (%llu MiB)", remote ? "origin " : "",
            remote ? e->origin_url : "external origins read remotely", dir ? dir : ".",
            (unsigned long long)(bytes >> 20));
    return CT_OK;
}

ct_err ct_edge_start(const ct_edge_config *cfg, ct_meta *meta, ct_store *store, ct_edge **out)
{
    int remote = cfg && cfg->origin_url && *cfg->origin_url;
    if (!cfg || !cfg->https_listen || !meta || (!store && !remote))
        return CT_ERR_INVALID;
    ct_edge *e = calloc(1, sizeof *e);
    if (!e)
        return CT_ERR_NOMEM;
    pthread_rwlock_init(&e->lock, NULL);
    e->https.fd = e->http.fd = -1;
    e->log_fd = -1;
    e->meta = meta;
    e->store = store;
    atomic_store(&e->ready, !cfg->wait_for_config);
    ct_err err = CT_ERR_NOMEM;
    e->account_id = strdup(cfg->account_id && *cfg->account_id ? cfg->account_id
                                                                : "000000000000");
    if (!e->account_id)
        goto fail;
    if (cfg->public_host && *cfg->public_host) {
        char ph[EDGE_HOST_MAX];
        int v6;
        if (edge_host_parse(cfg->public_host, ph, sizeof ph, &v6)) {
            ct_error("edge: bad public host '%s'", cfg->public_host);
            err = CT_ERR_INVALID;
            goto fail;
        }
        if (!(e->public_host = strdup(ph)))
            goto fail;
    }
    /* Distribution domains are "<id>.<suffix>"; an IP literal cannot carry a
     * subdomain, so it keeps the default suffix (routing falls back). The
     * default is cattube.localhost: every *.localhost name resolves to
     * loopback, and the generated certificate's *.cattube.localhost covers
     * it (OpenSSL refuses "*.localhost", one label after the '*'). */
    snprintf(e->suffix, sizeof e->suffix, "%s",
             e->public_host && !is_ip_literal(e->public_host) ? e->public_host
                                                              : "cattube.localhost");

    int generated;
    if ((err = edge_cert_load_or_create(cfg, &e->cert_pem, &e->key_pem, &generated)))
        goto fail;
    if (!(e->cache = edge_cache_new(EDGE_CACHE_BYTES)) || !(e->gz = edge_gzcache_new()) ||
        !(e->sigcache = edge_sigcache_new()) || !(e->signq = edge_signq_new())) {
        err = CT_ERR_NOMEM;
        goto fail;
    }
    if ((err = origin_settings(e, cfg, remote)))
        goto fail;
    if ((err = edge_log_open(e, cfg->data_dir)) || (err = edge_keys_reload(e)) ||
        (err = edge_dists_reload(e)))
        goto fail;
    if ((err = listener_bind(&e->https, e, cfg->https_listen, 1)))
        goto fail;
    if (cfg->http_listen && *cfg->http_listen &&
        (err = listener_bind(&e->http, e, cfg->http_listen, 0)))
        goto fail;
    if ((err = edge_loop_start(e, &e->loop)))
        goto fail;
    *out = e;
    return CT_OK;
fail:
    ct_edge_stop(e);
    return err;
}

void ct_edge_set_ready(ct_edge *e)
{
    if (e)
        atomic_store_explicit(&e->ready, 1, memory_order_release);
}

size_t ct_edge_distribution_count(ct_edge *e)
{
    pthread_rwlock_rdlock(&e->lock);
    size_t n = e->n_dists;
    pthread_rwlock_unlock(&e->lock);
    return n;
}

void ct_edge_stop(ct_edge *e)
{
    if (!e)
        return;
    edge_loop_stop(e->loop); /* the threads first: they use everything below */
    if (e->http.fd >= 0)
        close(e->http.fd);
    if (e->https.fd >= 0)
        close(e->https.fd);
    free(e->dists);
    edge_log_close(e);
    edge_keys_free(e);
    edge_cache_free(e->cache);
    edge_disk_free(e->disk);
    edge_gzcache_free(e->gz);
    edge_sigcache_free(e->sigcache);
    edge_signq_free(e->signq);
    free(e->origin_url);
    free(e->external_s3_endpoint);
    edge_allow_free(e->allow);
    free(e->origin_ak);
    free(e->origin_sk);
    free(e->origin_region);
    free(e->origin_ca_file);
    free(e->cert_pem);
    free(e->key_pem);
    free(e->account_id);
    free(e->public_host);
    pthread_rwlock_destroy(&e->lock);
    free(e);
}

uint16_t ct_edge_https_port(const ct_edge *e) { return e ? e->https.port : 0; }
uint16_t ct_edge_http_port(const ct_edge *e) { return e ? e->http.port : 0; }
