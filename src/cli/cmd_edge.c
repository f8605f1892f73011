/* cmd_edge: `cattube edge --origin URL ...`, the edge alone on another host.
 *
 * It serves CatTube's distributions from any S3-compatible endpoint (a
 * CatTube API node, or another store): object rows by signed HEAD, bytes by
 * signed GET into a bounded disk cache (DATA/edge-cache). Its distributions
 * (and the public keys and key groups their signed URLs are checked
 * against) come from the API node's admin API (--api URL, polled every
 * --poll-seconds, so a create/update/delete there reaches this edge within
 * one period) and/or from a JSON file (--config FILE, read at start and on
 * every poll). They are kept in a private SQLite under DATA. Signals are
 * blocked in every thread and taken by main with sigtimedwait, which also
 * paces the poll.
 *
 * Start-up: the listeners are up at once, but viewer requests answer 503
 * (Retry-After: 1) until the first poll has applied the configuration, so
 * nothing gets a wrong 403 ("no distribution for this host") or 404 from an
 * empty or stale table. When that first poll fails, a copy kept by a
 * previous run (edge-meta.db) is served rather than nothing; without one
 * the edge keeps answering 503 and retries every poll period. */
#include "cli/cli.h"
#include "client/client.h"
#include "core/core.h"
#include "edge/edge.h"
#include "meta/meta.h"

#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define LIST_MAX ((size_t)16 << 20)

typedef struct {
    const char *origin, *api, *config, *listen, *http_listen, *data_dir, *region;
    const char *public_host, *cert, *key, *poll, *cache_mib, *external_s3, *origin_ca;
    int no_verify, eval_policy;
    char origin_allow[4096]; /* --origin-allow values joined by ',' */
} edge_opts;

static void usage(FILE *f)
{
    fputs("usage: cattube edge --origin URL [--api URL] [--config FILE] [options]\n"
          "  --origin URL        S3-compatible endpoint holding the origin buckets (required)\n"
          "  --api URL           CatTube API node whose distributions this edge serves (polled)\n"
          "  --config FILE       JSON distributions: {\"distributions\": [...]} as\n"
          "                      'cattube distribution list' prints them (read on every poll)\n"
          "  --poll-seconds N    how often to re-read --api / --config (default 10)\n"
          "  --listen ADDR       HTTPS listener (default 127.0.0.1:8443)\n"
          "  --http-listen ADDR  plain HTTP listener, '' for none (default 127.0.0.1:8080)\n"
          "  --data DIR          certificate, access log, disk cache, distribution copy\n"
          "                      (default ./cattube-edge-data)\n"
          "  --cache-mib N       disk cache bound in MiB (default 1024)\n"
          "  --region REGION     SigV4 region for the origin and the API (default us-east-1)\n"
          "  --external-s3-endpoint URL  where distributions with an external S3 origin\n"
          "                      (an amazonaws.com bucket not on the API node) are read\n"
          "                      (default https://s3.REGION.amazonaws.com); custom origins\n"
          "                      are read at their own DomainName and ports\n"
          "  --origin-allow LIST hosts external origins (custom, external S3) may be read\n"
          "                      at, comma-separated, repeatable: host, host:port,\n"
          "                      *.example.com, * (any public host), 192.0.2.7, 10.0.0.0/8;\n"
          "                      default none (their distributions answer 502); the\n"
          "                      --external-s3-endpoint host is allowed, --origin is not\n"
          "                      subject to it. Loopback, link-local and private addresses\n"
          "                      only when an address/CIDR entry or the exact name names them\n"
          "  --public-host HOST  host name distributions answer at (<id>.HOST)\n"
          "  --cert FILE --key FILE  TLS certificate (default: generated under DATA/edge)\n"
          "  --no-verify-ssl     do not verify the origin's or the API's TLS certificate\n"
          "  --origin-ca-file PEM  trust the CAs in PEM (instead of the system's) for https\n"
          "                      origins (--origin and external ones) and an https --api,\n"
          "                      e.g. a private CA; checked at start-up\n"
          "  --evaluate-bucket-policy  read each origin bucket's policy and let it decide\n"
          "                      as CloudFront would (OAC principal or anonymous); for\n"
          "                      origins whose credentials read everything (a CatTube node)\n"
          "credentials: the origin is read with CATTUBE_ORIGIN_ACCESS_KEY /\n"
          "CATTUBE_ORIGIN_SECRET_KEY (else AWS_*, else CATTUBE_ROOT_*) for\n"
          "origins with an origin access control, unsigned for the others; the API with\n"
          "CATTUBE_ROOT_ACCESS_KEY / CATTUBE_ROOT_SECRET_KEY (else AWS_*).\n",
          f);
}

static const char *env2(const char *a, const char *b)
{
    const char *v = getenv(a);
    if (v && *v)
        return v;
    v = getenv(b);
    return v && *v ? v : NULL;
}

/* a, else b, else c (environment variables). */
static const char *env3(const char *a, const char *b, const char *c)
{
    const char *v = env2(a, b);
    return v ? v : env2(c, c);
}

static int parse_opts(int argc, char **argv, edge_opts *o)
{
    static const struct {
        const char *name;
        size_t off;
    } opts[] = {
        {"--origin", offsetof(edge_opts, origin)},     {"--api", offsetof(edge_opts, api)},
        {"--config", offsetof(edge_opts, config)},     {"--listen", offsetof(edge_opts, listen)},
        {"--http-listen", offsetof(edge_opts, http_listen)},
        {"--data", offsetof(edge_opts, data_dir)},     {"--region", offsetof(edge_opts, region)},
        {"--public-host", offsetof(edge_opts, public_host)},
        {"--cert", offsetof(edge_opts, cert)},         {"--key", offsetof(edge_opts, key)},
        {"--poll-seconds", offsetof(edge_opts, poll)},
        {"--cache-mib", offsetof(edge_opts, cache_mib)},
        {"--external-s3-endpoint", offsetof(edge_opts, external_s3)},
        {"--origin-ca-file", offsetof(edge_opts, origin_ca)},
    };
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 1;
        }
        if (!strcmp(a, "--no-verify-ssl")) {
            o->no_verify = 1;
            continue;
        }
        if (!strncmp(a, "--origin-allow", 14) && (!a[14] || a[14] == '=')) {
            const char *v = a[14] ? a + 15 : (i + 1 < argc ? argv[++i] : NULL);
            char why[512];
            size_t len = strlen(o->origin_allow), n = sizeof o->origin_allow;
            if (!v || ct_edge_origin_allow_check(v, why, sizeof why)) {
                fprintf(stderr, "cattube edge: %s\n", v ? why : "--origin-allow needs a value");
                return 2;
            }
            if (snprintf(o->origin_allow + len, n - len, "%s%s", len ? "," : "", v) >=
                (int)(n - len)) {
                fputs("cattube edge: --origin-allow lists are too long\n", stderr);
                return 2;
            }
            continue;
        }
        if (!strcmp(a, "--evaluate-bucket-policy")) {
            o->eval_policy = 1;
            continue;
        }
        size_t k = 0;
        for (; k < CT_ARRAY_LEN(opts); k++) {
            size_t nl = strlen(opts[k].name);
            if (strncmp(a, opts[k].name, nl) || (a[nl] && a[nl] != '='))
                continue;
            const char *v = a[nl] == '=' ? a + nl + 1 : (i + 1 < argc ? argv[++i] : NULL);
            if (!v) {
                fprintf(stderr, "cattube edge: %s needs a value\n", opts[k].name);
                return 2;
            }
            *(const char **)((char *)o + opts[k].off) = v;
            break;
        }
        if (k == CT_ARRAY_LEN(opts)) {
            fprintf(stderr, "cattube edge: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (!o->origin || !*o->origin) {
        fputs("cattube edge: --origin URL is required\n", stderr);
        return 2;
    }
    if (!o->api && !o->config) {
        fputs("cattube edge: give --api URL and/or --config FILE (where the distributions "
              "come from)\n",
              stderr);
        return 2;
    }
    return 0;
}

/* "distributions" of a {"distributions": [...]} object, or the array itself. */
static json_t *dist_array(json_t *j)
{
    json_t *a = json_is_object(j) ? json_object_get(j, "distributions") : j;
    return json_is_array(a) ? a : NULL;
}

/* GET {api}{path} (admin API, SigV4 service "cattube") -> JSON (caller decrefs). */
static ct_err api_get(const edge_opts *o, const char *path, json_t **out)
{
    ct_client_config cc = {.endpoint = o->api,
                           .access_key = env2("CATTUBE_ROOT_ACCESS_KEY", "AWS_ACCESS_KEY_ID"),
                           .secret_key = env2("CATTUBE_ROOT_SECRET_KEY", "AWS_SECRET_ACCESS_KEY"),
                           .region = o->region,
                           .service = "cattube",
                           .no_verify_tls = o->no_verify,
                           .ca_file = o->origin_ca,
                           .connect_timeout_s = 5,
                           .low_speed_timeout_s = 30};
    ct_client *c = NULL;
    ct_buf url = CT_BUF_INIT, body = CT_BUF_INIT;
    body.max = LIST_MAX;
    ct_client_resp resp;
    memset(&resp, 0, sizeof resp);
    ct_err err = ct_client_open(&cc, &c);
    if (!err)
        err = ct_buf_printf(&url, "%s%s", o->api, path);
    if (!err) {
        ct_client_req rq = {.method = "GET", .url = url.data, .resp_body = &body};
        err = ct_client_request(c, &rq, &resp);
    }
    if (err)
        ct_warn("edge: GET %s%s: %s %s %s", o->api, path, ct_err_str(err), resp.err_code,
                resp.err_message);
    else if (!(*out = json_loadb(body.data ? body.data : "", body.len, 0, NULL)))
        err = CT_ERR_INVALID;
    ct_client_close(c);
    ct_buf_free(&url);
    ct_buf_free(&body);
    return err;
}

static ct_err append_from_api(const edge_opts *o, json_t *all)
{
    json_t *j = NULL;
    ct_err err = api_get(o, "/cattube/admin/distributions", &j);
    json_t *a = err ? NULL : dist_array(j);
    if (!err && !a)
        err = CT_ERR_INVALID;
    if (a)
        json_array_extend(all, a);
    json_decref(j);
    return err;
}

/* Public keys and key groups of the API node (signed URLs); 0 when applied. */
static int keys_from_api(const edge_opts *o, ct_edge *e)
{
    json_t *k = NULL, *g = NULL;
    ct_err err = api_get(o, "/cattube/admin/public-keys", &k);
    if (!err)
        err = api_get(o, "/cattube/admin/key-groups", &g);
    if (!err) {
        char *ks = json_dumps(json_object_get(k, "publicKeys"), JSON_COMPACT);
        char *gs = json_dumps(json_object_get(g, "keyGroups"), JSON_COMPACT);
        err = ks && gs ? ct_edge_sync_keys(e, ks, gs) : CT_ERR_INVALID;
        if (err)
            ct_warn("edge: applying public keys and key groups: %s", ct_err_str(err));
        free(ks);
        free(gs);
    }
    json_decref(k);
    json_decref(g);
    return err ? -1 : 0;
}

static ct_err append_from_file(const char *path, json_t *all)
{
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    json_t *a = dist_array(j);
    if (!a) {
        ct_warn("edge: %s: %s", path, j ? "no \"distributions\" array" : je.text);
        json_decref(j);
        return CT_ERR_INVALID;
    }
    json_array_extend(all, a);
    json_decref(j);
    return CT_OK;
}

/* One poll: the union of both sources replaces the edge's distributions.
 * When a source fails the edge keeps what it has (never empties itself on a
 * network error). 0 when the configuration was applied. */
static int poll_once(const edge_opts *o, ct_edge *e, int *first)
{
    json_t *all = json_array();
    ct_err err = CT_OK;
    int keys_failed = o->api && keys_from_api(o, e); /* before the distributions that trust them */
    if (o->api && (err = append_from_api(o, all)) == CT_OK && *first)
        ct_info("edge: distributions from %s", o->api);
    if (!err && o->config)
        err = append_from_file(o->config, all);
    char *text = err ? NULL : json_dumps(all, JSON_COMPACT);
    if (text && (err = ct_edge_sync_distributions(e, text)))
        ct_warn("edge: applying distributions: %s", ct_err_str(err));
    else if (text && *first) {
        ct_info("edge: serving %zu distribution(s)", json_array_size(all));
        *first = 0;
    }
    free(text);
    json_decref(all);
    return text && !err && !keys_failed ? 0 : -1;
}

/* Viewer requests are let through after the first applied poll, or on a
 * failed one when a previous run's copy exists. */
static void maybe_ready(ct_edge *e, int applied, int *ready)
{
    if (*ready)
        return;
    size_t kept = applied ? 0 : ct_edge_distribution_count(e);
    if (!applied && !kept)
        return;
    if (!applied)
        ct_warn("edge: configuration source unavailable; serving the %zu distribution(s) kept "
                "by the previous run",
                kept);
    ct_edge_set_ready(e);
    *ready = 1;
}

int ct_cmd_edge(int argc, char **argv)
{
    edge_opts o = {.listen = "127.0.0.1:8443", .http_listen = "127.0.0.1:8080",
                   .data_dir = "./cattube-edge-data", .region = "us-east-1", .poll = "10"};
    int rc = parse_opts(argc, argv, &o);
    if (rc)
        return rc == 1 ? 0 : rc;
    long poll_s = strtol(o.poll, NULL, 10), mib = o.cache_mib ? strtol(o.cache_mib, NULL, 10) : 1024;
    if (poll_s < 1 || poll_s > 86400 || mib < 1) {
        fputs("cattube edge: --poll-seconds must be 1..86400 and --cache-mib positive\n", stderr);
        return 2;
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    ct_meta *meta = NULL;
    ct_edge *e = NULL;
    char path[4096];
    rc = 1;
    mkdir(o.data_dir, 0700);
    ct_edge_config ec = {.https_listen = o.listen,
                         .http_listen = o.http_listen,
                         .data_dir = o.data_dir,
                         .cert_file = o.cert,
                         .key_file = o.key,
                         .public_host = o.public_host,
                         .origin_url = o.origin,
                         .origin_access_key = env3("CATTUBE_ORIGIN_ACCESS_KEY", "AWS_ACCESS_KEY_ID",
                                                   "CATTUBE_ROOT_ACCESS_KEY"),
                         .origin_secret_key = env3("CATTUBE_ORIGIN_SECRET_KEY",
                                                   "AWS_SECRET_ACCESS_KEY",
                                                   "CATTUBE_ROOT_SECRET_KEY"),
                         .origin_region = o.region,
                         .origin_no_verify_tls = o.no_verify,
                         .origin_ca_file = o.origin_ca,
                         .origin_evaluate_policy = o.eval_policy,
                         .external_s3_endpoint = o.external_s3,
                         .origin_allow = o.origin_allow,
                         .disk_cache_bytes = (uint64_t)mib << 20,
                         .wait_for_config = 1};
    ct_err err;
    if ((err = ct_client_global_init()) ||
        (err = ct_snprintf(path, sizeof path, "%s/edge-meta.db", o.data_dir)) ||
        (err = ct_meta_open_sqlite(path, &meta)) || (err = ct_edge_start(&ec, meta, NULL, &e))) {
        ct_error("edge: start failed: %s", ct_err_str(err));
        goto out;
    }
    if (!ec.origin_access_key || !ec.origin_secret_key)
        ct_warn("edge: no origin credentials: every origin is read anonymously");
    int first = 1, ready = 0;
    maybe_ready(e, poll_once(&o, e, &first) == 0, &ready);
    fprintf(stderr, "CatTube edge is serving https://%s (plain HTTP %s), origin %s%s\n", o.listen,
            o.http_listen && *o.http_listen ? o.http_listen : "off", o.origin,
            ready ? "" : "; 503 until its configuration loads");
    struct timespec tick = {poll_s, 0};
    int sig;
    while ((sig = sigtimedwait(&set, NULL, &tick)) < 0)
        maybe_ready(e, poll_once(&o, e, &first) == 0, &ready);
    ct_info("edge: signal %d, stopping", sig);
    rc = 0;
out:
    ct_edge_stop(e);
    ct_meta_close(meta);
    ct_client_global_cleanup();
    return rc;
}
