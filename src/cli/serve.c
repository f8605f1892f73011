/* serve.c: the all-in-one server: S3 + MediaConvert + admin API on one
 * port, the event dispatcher, transcode workers and the HTTPS edge.
 *
 * DESIGN: main owns every module and wires them together here; modules
 * only borrow each other. Routing: /2017-08-29/... is MediaConvert and
 * /cattube/admin/... is the admin API when the request is signed for those
 * services (their paths are also valid S3 bucket names, so the SigV4
 * credential scope's service decides); everything else is S3. Signals are
 * blocked in every thread and taken synchronously by main with sigwait. */
#include "cli/cli.h"
#include "client/client.h"
#include "edge/edge.h"
#include "events/events.h"
#include "http/http.h"
#include "mc/mc.h"
#include "meta/meta.h"
#include "s3/s3.h"
#include "store/store.h"
#include "worker/worker.h"

#include <errno.h>
#include <pthread.h>
#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

typedef struct {
    const char *data_dir;
    const char *listen;
    const char *edge_listen;
    const char *edge_http_listen;
    const char *region;
    const char *public_host;
    const char *edge_cert, *edge_key;
    int workers;
    int lease_s;
    long stale_upload_s;
    const char *domain;        /* S3 virtual-hosted style base domain, or NULL */
    const char *db;            /* postgres://... shared by nodes; NULL: SQLite DIR/meta.db */
    int orphan_grace_s;        /* shared DIR: unreferenced blobs older than this are swept */
    int64_t job_retention_ms;  /* finished jobs older than this are deleted; 0 = kept forever */
    ct_cli_job_limits limits;  /* transcode limits (job_limits.c) */
    /* the edge's external origins (CustomOriginConfig, amazonaws.com buckets not here) */
    const char *origin_ak, *origin_sk, *origin_region, *external_s3;
    int origin_no_verify;
    long long inline_max;      /* S3 objects up to this size live in their meta row */
    char origin_allow[4096];   /* --origin-allow values joined by ',' */
    const char *origin_ca_file; /* CAs for https origins; NULL: the system's */
    const char *webhook_ca_file; /* CAs for https webhooks; NULL: the system's */
} serve_opts;

typedef struct {
    serve_opts opt;
    char access_key[128];
    char secret_key[128];
    unsigned char master_key[32];
    char account_id[16];
    char endpoint_url[256];
    ct_meta *meta;
    ct_iam *iam;
    ct_store *store;
    ct_s3 *s3;
    ct_mc *mc;
    ct_edge *edge;
    ct_events *events;
    ct_worker *worker;
    ct_http_server *http;
    ct_serve_probe_ctx probe;
} server;

/* ---- credentials ---- */

static ct_err load_or_create_root(server *sv)
{
    char path[2048], *text = NULL;
    ct_snprintf(path, sizeof path, "%s/root-credentials.json", sv->opt.data_dir);
    const char *env_ak = getenv("CATTUBE_ROOT_ACCESS_KEY");
    const char *env_sk = getenv("CATTUBE_ROOT_SECRET_KEY");
    json_t *doc = NULL;
    if (ct_read_file(path, 1 << 16, &text, NULL) == CT_OK)
        doc = json_loads(text, 0, NULL);
    free(text);
    const char *acct = json_string_value(json_object_get(doc, "accountId"));
    const char *ak = json_string_value(json_object_get(doc, "accessKeyId"));
    const char *sk = json_string_value(json_object_get(doc, "secretAccessKey"));
    if (acct && strlen(acct) == 12) {
        snprintf(sv->account_id, sizeof sv->account_id, "%s", acct);
    } else {
        char digits[16];
        ct_random_hex(digits, 12);
        for (int i = 0; i < 12; i++)
            sv->account_id[i] = (char)('0' + (digits[i] % 10));
        sv->account_id[0] = sv->account_id[0] == '0' ? '1' : sv->account_id[0];
        sv->account_id[12] = '\0';
    }
    if (env_ak && env_sk && *env_ak && *env_sk) {
        snprintf(sv->access_key, sizeof sv->access_key, "%s", env_ak);
        snprintf(sv->secret_key, sizeof sv->secret_key, "%s", env_sk);
    } else if (ak && sk) {
        snprintf(sv->access_key, sizeof sv->access_key, "%s", ak);
        snprintf(sv->secret_key, sizeof sv->secret_key, "%s", sk);
    } else {
        memcpy(sv->access_key, "AKIA", 4);
        ct_random_alnum(sv->access_key + 4, 16, 1);
        ct_random_alnum(sv->secret_key, 40, 0);
    }
    json_decref(doc);
    doc = json_pack("{s:s, s:s, s:s}", "accountId", sv->account_id, "accessKeyId",
                    sv->access_key, "secretAccessKey", sv->secret_key);
    char *out = json_dumps(doc, JSON_INDENT(2));
    json_decref(doc);
    ct_err e = ct_write_file_atomic(path, out, strlen(out), 0600);
    free(out);
    return e;
}

/* The key sealing IAM users' and webhooks' secrets: CATTUBE_MASTER_KEY (64 hex digits;
 * nodes sharing one database must share it) or DIR/master.key, made once. */
static ct_err load_or_create_master_key(server *sv)
{
    char path[2048], hex[65], *text = NULL;
    size_t len = 0;
    const char *env = getenv("CATTUBE_MASTER_KEY");
    ct_snprintf(path, sizeof path, "%s/master.key", sv->opt.data_dir);
    if (env && *env) {
        snprintf(hex, sizeof hex, "%s", env);
    } else if (ct_read_file(path, 256, &text, &len) == CT_OK) {
        snprintf(hex, sizeof hex, "%.*s", (int)(len < 64 ? len : 64), text);
        free(text);
    } else {
        ct_random_hex(hex, 64);
        hex[64] = '\0';
        ct_err e = ct_write_file_atomic(path, hex, 64, 0600);
        if (e)
            return e;
    }
    if (strlen(hex) != 64 || ct_unhex(hex, 64, sv->master_key) < 0) {
        ct_error("serve: the master key (%s) must be 64 hex digits",
                 env && *env ? "CATTUBE_MASTER_KEY" : path);
        return CT_ERR_INVALID;
    }
    explicit_bzero(hex, sizeof hex);
    return CT_OK;
}

static ct_err secret_for(void *ctx, const char *access_key, char *secret, size_t n,
                         ct_principal *p)
{
    server *sv = ctx;
    return ct_iam_secret(sv->iam, access_key, secret, n, p);
}

/* ---- routing ---- */

typedef enum { ROUTE_S3, ROUTE_MC, ROUTE_ADMIN, ROUTE_CLOUDFRONT, ROUTE_HEALTH } route;

static int has_prefix(const char *s, const char *p) { return strncmp(s, p, strlen(p)) == 0; }

static route route_of(const server *sv, const ct_http_req *req)
{
    if (ct_s3_is_virtual_host(sv->s3, req))
        return ROUTE_S3; /* bucket.DOMAIN: every path is a key */
    const char *svc = req->principal.service;
    int signed_s3 = !req->principal.anonymous && strcmp(svc, "s3") == 0;
    if (strcmp(req->path, "/cattube/health") == 0 && (req->principal.anonymous || !signed_s3))
        return ROUTE_HEALTH;
    if (signed_s3)
        return ROUTE_S3;
    if (has_prefix(req->path, "/2017-08-29/"))
        return ROUTE_MC;
    if (has_prefix(req->path, "/2020-05-31/"))
        return ROUTE_CLOUDFRONT;
    if (has_prefix(req->path, "/cattube/admin/") || strcmp(req->path, "/cattube/admin") == 0)
        return ROUTE_ADMIN;
    return ROUTE_S3;
}

/* MediaConvert and admin errors are JSON: {"message": ...}. */
static void json_auth_error(ct_http_resp *resp, const ct_http_req *req)
{
    const char *type = "ForbiddenException";
    const char *msg = "Forbidden";
    switch (req->auth_err) {
    case CT_ERR_AUTH:
        type = "InvalidSignatureException";
        msg = "The request signature we calculated does not match the signature you provided.";
        break;
    case CT_ERR_SKEW: type = "InvalidSignatureException"; msg = "Signature expired"; break;
    case CT_ERR_DENIED:
        type = "UnrecognizedClientException";
        msg = "The security token included in the request is invalid.";
        break;
    case CT_ERR_TOO_LARGE: type = "BadRequestException"; msg = req->auth_msg; break;
    default:
        if (req->auth_msg[0])
            msg = req->auth_msg;
        break;
    }
    if (req->auth_err == CT_OK)
        msg = "Missing Authentication Token";
    json_t *body = json_pack("{s:s}", "message", msg);
    ct_http_resp_json(resp, req->auth_err == CT_ERR_TOO_LARGE ? 400 : 403,
                      json_dumps(body, JSON_COMPACT));
    json_decref(body);
    ct_http_resp_header(resp, "x-amzn-ErrorType", type);
}

/* Whether the caller of req may do action on resource (the root user may do
 * anything); also mc's check of iam:PassRole on a new job's role. */
static ct_err caller_may(void *ctx, const ct_http_req *req, const char *action,
                           const char *resource)
{
    server *sv = ctx;
    ct_iam_request r = {.action = action, .resource = resource, .source_ip = req->client_ip,
                        .secure = req->secure};
    if (ct_iam_is_root(sv->iam, &req->principal))
        return CT_OK;
    return ct_iam_authorize(sv->iam, &req->principal, &r) == CT_OK ? CT_OK : CT_ERR_DENIED;
}

/* Non-S3 APIs: the admin API is the root user's; MediaConvert and CloudFront
 * requests need an identity policy allowing their own action
 * ("mediaconvert:GetJob" on the job's ARN, ct_mc_request_action;
 * "cloudfront:UpdateDistribution" on the distribution's ARN,
 * ct_edge_cloudfront_action). */
static int api_allowed(server *sv, const ct_http_req *req, char *why, size_t whylen)
{
    const char *p = req->path;
    snprintf(why, whylen, "User is not authorized to perform this action");
    if (ct_iam_is_root(sv->iam, &req->principal))
        return 1;
    if (has_prefix(p, "/cattube/admin/users") || has_prefix(p, "/cattube/admin/policies") ||
        has_prefix(p, "/cattube/admin/roles"))
        return 1; /* answers its own 403 for non-root callers */
    char action[64] = "", resource[512] = "*";
    if (has_prefix(p, "/2017-08-29/"))
        ct_mc_request_action(sv->mc, req->method, p, action, resource);
    else if (has_prefix(p, "/2020-05-31/"))
        ct_edge_cloudfront_action(sv->account_id, req->method, p, action, resource);
    else
        return 0;
    if (caller_may(sv, req, action, resource) == CT_OK)
        return 1;
    snprintf(why, whylen, "User: %.150s is not authorized to perform: %.63s on resource: %.150s",
             req->principal.arn, action, resource);
    return 0;
}

/* Authenticated non-S3 requests: MediaConvert, CloudFront, admin. */
static void route_admin(server *sv, ct_http_req *req, ct_http_resp *resp)
{
    const char *p = req->path;
    char why[512];
    int allowed = api_allowed(sv, req, why, sizeof why);
    if (!allowed && has_prefix(p, "/2020-05-31/")) {
        /* CloudFront answers in its own XML error shape */
        req->auth_err = CT_ERR_DENIED;
        snprintf(req->auth_msg, sizeof req->auth_msg, "%s", why);
        ct_edge_cloudfront_handle(sv->edge, req, resp);
        return;
    }
    if (!allowed) {
        json_t *body = json_pack("{s:s}", "message", why);
        ct_http_resp_json(resp, 403, json_dumps(body, JSON_COMPACT));
        json_decref(body);
        ct_http_resp_header(resp, "x-amzn-ErrorType", "AccessDeniedException");
        return;
    }
    if (has_prefix(p, "/2017-08-29/"))
        ct_mc_handle(sv->mc, req, resp);
    else if (has_prefix(p, "/2020-05-31/"))
        ct_edge_cloudfront_handle(sv->edge, req, resp);
    else if (has_prefix(p, "/cattube/admin/webhooks") || has_prefix(p, "/cattube/admin/deliveries") ||
             has_prefix(p, "/cattube/admin/events"))
        ct_events_admin_handle(sv->events, req, resp);
    else if (has_prefix(p, "/cattube/admin/users") || has_prefix(p, "/cattube/admin/policies") ||
             has_prefix(p, "/cattube/admin/roles"))
        ct_iam_admin_handle(sv->iam, req, resp);
    else
        ct_edge_admin_handle(sv->edge, req, resp);
}

static void handle(void *ctx, ct_http_req *req, ct_http_resp *resp)
{
    server *sv = ctx;
    switch (route_of(sv, req)) {
    case ROUTE_HEALTH:
        ct_http_resp_json(resp, 200, strdup("{\"status\":\"ok\"}"));
        return;
    case ROUTE_MC:
    case ROUTE_ADMIN:
    case ROUTE_CLOUDFRONT:
        if (req->auth_err || req->principal.anonymous) {
            json_auth_error(resp, req);
            return;
        }
        route_admin(sv, req, resp);
        return;
    case ROUTE_S3:
        ct_s3_handle(sv->s3, req, resp);
        return;
    }
}

static int wants_stream(void *ctx, const ct_http_req *req)
{
    server *sv = ctx;
    return route_of(sv, req) == ROUTE_S3 && ct_s3_wants_stream(sv->s3, req);
}

static void *stream_begin(void *ctx, ct_http_req *req, ct_http_resp *resp)
{
    return ct_s3_stream_begin(((server *)ctx)->s3, req, resp);
}

/* ---- options ---- */

/* MediaConvert keeps job history for 90 days. */
#define SERVE_JOB_RETENTION_DAYS 90
/* Jobs deleted per housekeeping pass at most, so a backlog (retention just
 * lowered) never keeps the main thread from taking a signal for long. */
#define SERVE_PURGE_MAX_JOBS (10 * CT_META_JOB_PURGE_BATCH)

static void serve_usage(FILE *f)
{
    fprintf(f, "usage: cattube serve [options]\n"
          "  --data DIR               data directory (default ./cattube-data)\n"
          "  --db URL                 metadata database: postgres://... shared by several\n"
          "                           nodes and workers (default: SQLite in DIR/meta.db)\n"
          "  --listen HOST:PORT       S3 + MediaConvert + admin API (default 127.0.0.1:9000)\n"
          "  --edge-listen HOST:PORT  HTTPS edge (default 127.0.0.1:8443)\n"
          "  --edge-http-listen H:P   plain HTTP edge, redirects (default 127.0.0.1:8080)\n"
          "  --region REGION          (default us-east-1)\n"
          "  --workers N              concurrent transcode jobs (default 1; 0 = none)\n"
          "  --lease-seconds N        job lease; a dead worker's job is retried after it (30)\n"
          "  --stale-upload-seconds N abort multipart uploads older than this (604800 = 7 days)\n"
          "  --orphan-grace-seconds N with --db: at start, remove unreferenced blobs last\n"
          "                           written longer ago than this (default 600)\n"
          "  --job-retention-days N   delete jobs N days after they finished (COMPLETE, ERROR,\n"
          "                           CANCELED); 0 keeps them forever (default 90)\n"
          "  --job-retention-seconds N  the same in seconds, for tests\n"
          "  --inline-max BYTES       store S3 objects up to this size in the metadata row:\n"
          "                           one durable commit per PUT (default 65536; 0 = never)\n"
          "%s"
          "  --public-host NAME       host name the edge puts in its URLs\n"
          "  --domain D               S3 virtual-hosted style: Host bucket.D[:port] names a bucket\n"
          "  --edge-cert PEM --edge-key PEM   edge TLS certificate (default: generated)\n"
          "  --origin-access-key AK --origin-secret-key SK  credentials the edge signs reads\n"
          "                           of external origins with an origin access control\n"
          "                           (else env CATTUBE_ORIGIN_ACCESS_KEY / _SECRET_KEY)\n"
          "  --origin-region R        SigV4 region of custom origins (default us-east-1)\n"
          "  --origin-no-verify-ssl   do not verify external origins' TLS certificates\n"
          "  --origin-ca-file PEM     trust the CAs in PEM (instead of the system's) for https\n"
          "                           external origins, e.g. a private CA\n"
          "  --webhook-ca-file PEM    trust the CAs in PEM (instead of the system's) for https\n"
          "                           webhook URLs\n"
          "  --external-s3-endpoint URL  where S3 origins whose bucket is not on this node are\n"
          "                           read (default https://s3.REGION.amazonaws.com); its host\n"
          "                           is allowed without --origin-allow\n"
          "  --origin-allow LIST      hosts external origins may be read at, comma-separated,\n"
          "                           repeatable: host, host:port, *.example.com, * (any\n"
          "                           public host), 192.0.2.7, 10.0.0.0/8 (default: none, so\n"
          "                           distributions with external origins are refused).\n"
          "                           Loopback, link-local and private addresses only when an\n"
          "                           address/CIDR entry or the exact host name names them\n"
          "  --verbose                debug logging\n"
          "Root credentials come from CATTUBE_ROOT_ACCESS_KEY / CATTUBE_ROOT_SECRET_KEY, else are\n"
          "generated once and kept in DIR/root-credentials.json.\n",
            ct_cli_limits_usage);
}

/* One --origin-allow value appended to buf (the option may repeat);
 * checked here so a bad entry stops serve before anything starts. */
static int append_allow(char *buf, size_t n, const char *v)
{
    char why[512];
    size_t len = strlen(buf);
    if (ct_edge_origin_allow_check(v, why, sizeof why)) {
        fprintf(stderr, "cattube serve: %s\n", why);
        return -1;
    }
    if (snprintf(buf + len, n - len, "%s%s", len ? "," : "", v) >= (int)(n - len)) {
        fprintf(stderr, "cattube serve: --origin-allow lists are too long\n");
        return -1;
    }
    return 0;
}

static int parse_opts(int argc, char **argv, serve_opts *o)
{
    static const struct option longopts[] = {
        {"data", required_argument, NULL, 'd'},       {"listen", required_argument, NULL, 'l'},
        {"edge-listen", required_argument, NULL, 'e'}, {"edge-http-listen", required_argument, NULL, 'E'},
        {"region", required_argument, NULL, 'r'},     {"workers", required_argument, NULL, 'w'},
        {"public-host", required_argument, NULL, 'p'}, {"edge-cert", required_argument, NULL, 'c'},
        {"edge-key", required_argument, NULL, 'k'},   {"verbose", no_argument, NULL, 'v'},
        {"lease-seconds", required_argument, NULL, 'L'},
        {"stale-upload-seconds", required_argument, NULL, 'S'},
        {"domain", required_argument, NULL, 'D'},   {"db", required_argument, NULL, 'B'},
        {"orphan-grace-seconds", required_argument, NULL, 'G'},
        {"job-retention-days", required_argument, NULL, 'J'},
        {"job-retention-seconds", required_argument, NULL, 'j'},
        {"origin-access-key", required_argument, NULL, 0x101},
        {"origin-secret-key", required_argument, NULL, 0x102},
        {"origin-region", required_argument, NULL, 0x103},
        {"external-s3-endpoint", required_argument, NULL, 0x104},
        {"origin-no-verify-ssl", no_argument, NULL, 0x105},
        {"origin-allow", required_argument, NULL, 0x106},
        {"origin-ca-file", required_argument, NULL, 0x107},
        {"webhook-ca-file", required_argument, NULL, 0x108},
        {"inline-max", required_argument, NULL, 'I'},
        CT_CLI_LIMIT_LONGOPTS,
        {"help", no_argument, NULL, 'h'},             {NULL, 0, NULL, 0},
    };
    *o = (serve_opts){"./cattube-data", "127.0.0.1:9000", "127.0.0.1:8443", "127.0.0.1:8080",
                      "us-east-1", NULL, NULL, NULL, 1, 30, 604800, NULL, NULL, 600,
                      SERVE_JOB_RETENTION_DAYS * 86400000LL, {0}, NULL, NULL, NULL, NULL, 0,
                      CT_S3_INLINE_MAX_DEFAULT, "", NULL, NULL};
    ct_cli_limits_defaults(&o->limits);
    int c, lim;
    long long days = -1, secs = -1; /* -1: not given */
    int bad_retention = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'd': o->data_dir = optarg; break;
        case 'l': o->listen = optarg; break;
        case 'e': o->edge_listen = optarg; break;
        case 'E': o->edge_http_listen = optarg; break;
        case 'r': o->region = optarg; break;
        case 'w': o->workers = atoi(optarg); break;
        case 'p': o->public_host = optarg; break;
        case 'D': o->domain = optarg; break;
        case 'B': o->db = optarg; break;
        case 'c': o->edge_cert = optarg; break;
        case 'k': o->edge_key = optarg; break;
        case 'v': ct_log_set_level(CT_LOG_DEBUG); break;
        case 'L': o->lease_s = atoi(optarg); break;
        case 'S': o->stale_upload_s = atol(optarg); break;
        case 'G': o->orphan_grace_s = atoi(optarg); break;
        case 'J': days = ct_cli_whole(optarg, 0, 100000); bad_retention |= days < 0; break;
        case 'j': secs = ct_cli_whole(optarg, 0, 100000LL * 86400); bad_retention |= secs < 0; break;
        case 0x101: o->origin_ak = optarg; break;
        case 0x102: o->origin_sk = optarg; break;
        case 0x103: o->origin_region = optarg; break;
        case 0x104: o->external_s3 = optarg; break;
        case 0x105: o->origin_no_verify = 1; break;
        case 0x107: o->origin_ca_file = optarg; break;
        case 0x108: o->webhook_ca_file = optarg; break;
        case 0x106:
            if (append_allow(o->origin_allow, sizeof o->origin_allow, optarg))
                return -1;
            break;
        case 'I':
            if ((o->inline_max = ct_cli_whole(optarg, 0, CT_S3_INLINE_MAX_LIMIT)) < 0) {
                fprintf(stderr, "cattube serve: --inline-max must be a whole number of bytes, "
                                "0..%d\n", CT_S3_INLINE_MAX_LIMIT);
                return -1;
            }
            break;
        case 'h': serve_usage(stdout); exit(0);
        default:
            lim = ct_cli_limit_option(c, optarg, &o->limits);
            if (lim > 0)
                break;
            if (lim == 0)
                serve_usage(stderr);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "cattube serve: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    if (o->workers < 0 || o->workers > 16 || o->lease_s < 1 || o->stale_upload_s < 1 ||
        o->orphan_grace_s < 1) {
        fprintf(stderr, "cattube serve: --workers must be 0..16, --lease-seconds, "
                        "--stale-upload-seconds and --orphan-grace-seconds >= 1\n");
        return -1;
    }
    if (bad_retention || (days >= 0 && secs >= 0)) {
        fprintf(stderr, "cattube serve: give either --job-retention-days N (0..100000) or "
                        "--job-retention-seconds N, a whole number\n");
        return -1;
    }
    char why[128];
    if (o->webhook_ca_file && ct_client_ca_file_check(o->webhook_ca_file, why, sizeof why)) {
        fprintf(stderr, "cattube serve: --webhook-ca-file %s: %s\n", o->webhook_ca_file, why);
        return -1;
    }
    if (days >= 0 || secs >= 0)
        o->job_retention_ms = days >= 0 ? days * 86400000LL : secs * 1000LL;
    if (!o->origin_ak && !o->origin_sk) { /* as `cattube edge` reads them */
        o->origin_ak = getenv("CATTUBE_ORIGIN_ACCESS_KEY");
        o->origin_sk = getenv("CATTUBE_ORIGIN_SECRET_KEY");
    }
    if (!o->origin_ak != !o->origin_sk) {
        fprintf(stderr, "cattube serve: give both --origin-access-key and --origin-secret-key\n");
        return -1;
    }
    return 0;
}

/* ---- lifecycle ---- */

static int blob_referenced(void *ctx, const char *id)
{
    int ref = 1; /* on error, keep the blob */
    ct_meta_blob_is_referenced(ctx, id, &ref);
    return ref;
}

/* DIR/edge-nodes/HOST-LISTEN: this node's own directory under a shared DIR
 * (the edge's disk cache is one process's), stable across restarts. */
static int serve_node_dir(server *sv, char *out, size_t n)
{
    char host[128] = "node";
    gethostname(host, sizeof host - 1);
    int len = snprintf(out, n, "%s/edge-nodes/%s-%s", sv->opt.data_dir, host, sv->opt.listen);
    if (len < 0 || (size_t)len >= n)
        return -1;
    for (char *p = out + strlen(sv->opt.data_dir) + 12; *p; p++)
        if (*p == '/' || *p == ':' || *p == ' ')
            *p = '_';
    return ct_mkdirs(out, 0700) ? -1 : 0;
}

/* A shared database: every node uses the account id the first one stored. */
static ct_err adopt_account(server *sv)
{
    char *stored = NULL;
    ct_err e = ct_meta_kv_add(sv->meta, "account_id", sv->account_id, &stored);
    if (!e && strlen(stored) == 12)
        snprintf(sv->account_id, sizeof sv->account_id, "%s", stored);
    free(stored);
    return e;
}

static ct_err start_all(server *sv)
{
    char path[2048];
    ct_err e;
    if ((e = ct_mkdirs(sv->opt.data_dir, 0700)))
        return e;
    if ((e = load_or_create_root(sv)) || (e = load_or_create_master_key(sv)))
        return e;
    ct_snprintf(path, sizeof path, "%s/meta.db", sv->opt.data_dir);
    if ((e = ct_meta_open(sv->opt.db ? sv->opt.db : path, &sv->meta)))
        return e;
    if (ct_meta_is_shared(sv->meta)) {
        /* Other nodes may be writing into DIR right now: only temp files no
         * live writer holds and old unreferenced blobs are swept. */
        if ((e = ct_store_open_fs_shared(sv->opt.data_dir, &sv->store)) || (e = adopt_account(sv)))
            return e;
        int temps = 0, blobs = 0;
        if (ct_store_sweep_shared(sv->store, blob_referenced, sv->meta, sv->opt.orphan_grace_s,
                                  &temps, &blobs) == CT_OK && (temps || blobs))
            ct_info("serve: removed %d upload temp file(s) and %d unreferenced blob(s) left by "
                    "a crashed node", temps, blobs);
    } else {
        if ((e = ct_store_open_fs(sv->opt.data_dir, &sv->store)))
            return e;
        int swept = 0;
        if (ct_store_sweep(sv->store, blob_referenced, sv->meta, &swept) == CT_OK && swept)
            ct_info("serve: removed %d unreferenced blob(s) left by a crash", swept);
    }
    snprintf(sv->endpoint_url, sizeof sv->endpoint_url, "http://%s", sv->opt.listen);
    ct_iam_config ic = {sv->account_id, sv->access_key, sv->secret_key, sv->master_key};
    if ((e = ct_iam_open(&ic, sv->meta, &sv->iam)))
        return e;
    ct_s3_config s3c = {sv->opt.region, sv->account_id, sv->iam, sv->opt.domain,
                        (uint64_t)sv->opt.inline_max};
    sv->probe = (ct_serve_probe_ctx){sv->meta, sv->store, sv->iam};
    ct_mc_config mcc = {sv->opt.region, sv->account_id, sv->endpoint_url, ct_serve_probe,
                        &sv->probe, caller_may, sv};
    if ((e = ct_s3_open(&s3c, sv->meta, sv->store, &sv->s3)) ||
        (e = ct_mc_open(&mcc, sv->meta, &sv->mc)))
        return e;
    ct_edge_config ec = {.https_listen = sv->opt.edge_listen,
                         .http_listen = sv->opt.edge_http_listen,
                         .data_dir = sv->opt.data_dir,
                         .cert_file = sv->opt.edge_cert,
                         .key_file = sv->opt.edge_key,
                         .account_id = sv->account_id,
                         .public_host = sv->opt.public_host,
                         .origin_access_key = sv->opt.origin_ak,
                         .origin_secret_key = sv->opt.origin_sk,
                         .origin_region = sv->opt.origin_region,
                         .origin_no_verify_tls = sv->opt.origin_no_verify,
                         .origin_ca_file = sv->opt.origin_ca_file,
                         .external_s3_endpoint = sv->opt.external_s3,
                         .origin_allow = sv->opt.origin_allow};
    char disk_dir[512]; /* nodes sharing DIR (--db) each keep their own disk cache */
    if (sv->opt.db && serve_node_dir(sv, disk_dir, sizeof disk_dir) == 0)
        ec.disk_dir = disk_dir;
    if ((e = ct_edge_start(&ec, sv->meta, sv->store, &sv->edge))) {
        ct_error("serve: edge failed to start on %s / %s", sv->opt.edge_listen,
                 sv->opt.edge_http_listen);
        return e;
    }
    ct_events_config evc = {sv->opt.region, sv->account_id, sv->master_key,
                            sv->opt.webhook_ca_file};
    if ((e = ct_events_start(&evc, sv->meta, sv->mc, &sv->events)))
        return e;
    if (sv->opt.workers > 0) {
        ct_worker_config wc = {.threads = sv->opt.workers,
                               .lease_ms = (int64_t)sv->opt.lease_s * 1000,
                               .limits = sv->opt.limits.sb,
                               .max_input_width = sv->opt.limits.max_w,
                               .max_input_height = sv->opt.limits.max_h,
                               .max_input_duration_s = sv->opt.limits.max_dur_s,
                               .max_input_streams = sv->opt.limits.max_streams};
        if ((e = ct_worker_start(&wc, sv->meta, sv->store, sv->mc, &sv->worker)))
            return e;
    }
    ct_http_handlers h = {sv, secret_for, wants_stream, handle, stream_begin,
                          ct_s3_stream_data, ct_s3_stream_end, ct_s3_stream_abort};
    if ((e = ct_http_server_start(sv->opt.listen, &h, &sv->http))) {
        ct_error("serve: cannot listen on %s", sv->opt.listen);
        return e;
    }
    return CT_OK;
}

static void stop_all(server *sv)
{
    ct_http_server_stop(sv->http);
    ct_worker_stop(sv->worker);
    ct_events_stop(sv->events);
    ct_edge_stop(sv->edge);
    ct_mc_close(sv->mc);
    ct_s3_close(sv->s3);
    ct_store_close(sv->store);
    ct_iam_close(sv->iam);
    ct_meta_close(sv->meta);
}

/* Job retention, from the housekeeping loop: at start, then every quarter
 * of the retention (1 s .. 10 min), sooner while a backlog remains. Every
 * node does it; concurrent passes take disjoint jobs (meta_retention.c). */
static long purge_period_s(const serve_opts *o)
{
    int64_t s = o->job_retention_ms / 4000;
    return s < 1 ? 1 : s > 600 ? 600 : (long)s;
}

static void purge_jobs(server *sv, int64_t *next_ms)
{
    if (sv->opt.job_retention_ms <= 0 || ct_mono_ms() < *next_ms)
        return;
    int n = 0;
    ct_err e = ct_meta_job_purge(sv->meta, sv->opt.job_retention_ms, 0, SERVE_PURGE_MAX_JOBS, &n);
    *next_ms = ct_mono_ms() + (n == SERVE_PURGE_MAX_JOBS ? 0 : purge_period_s(&sv->opt) * 1000);
    if (e)
        ct_warn("serve: job retention: deleting expired jobs failed: %s", ct_err_str(e));
    int64_t r = sv->opt.job_retention_ms;
    if (n)
        ct_info("serve: job retention: deleted %d job(s) finished more than %lld %s ago", n,
                (long long)(r % 86400000 ? r / 1000 : r / 86400000), r % 86400000 ? "s" : "day(s)");
}

static void print_banner(const server *sv)
{
    fprintf(stderr,
            "CatTube is serving.\n"
            "  S3 + MediaConvert API: %s   (region %s, account %s)\n"
            "  Edge: https://%s  (plain HTTP %s)\n"
            "  Root credentials:\n"
            "    export AWS_ACCESS_KEY_ID=%s\n"
            "    export AWS_SECRET_ACCESS_KEY=%s\n"
            "    export AWS_DEFAULT_REGION=%s\n",
            sv->endpoint_url, sv->opt.region, sv->account_id, sv->opt.edge_listen,
            sv->opt.edge_http_listen ? sv->opt.edge_http_listen : "off", sv->access_key,
            sv->secret_key, sv->opt.region);
    ct_info("cattube ready");
}

int ct_cmd_serve(int argc, char **argv)
{
    server sv;
    memset(&sv, 0, sizeof sv);
    if (parse_opts(argc, argv, &sv.opt))
        return 2;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL); /* inherited by every thread we start */
    signal(SIGPIPE, SIG_IGN);
    int rc = 0;
    ct_err e = start_all(&sv);
    if (e) {
        ct_error("serve: start failed: %s", ct_err_str(e));
        rc = 1;
        goto out;
    }
    print_banner(&sv);
    /* Main thread: housekeeping between signals. */
    long period = sv.opt.stale_upload_s / 2 < 60 ? sv.opt.stale_upload_s / 2 : 60;
    if (sv.opt.job_retention_ms > 0 && purge_period_s(&sv.opt) < period)
        period = purge_period_s(&sv.opt);
    struct timespec tick = {period > 0 ? period : 1, 0};
    int64_t next_purge_ms = 0;
    int sig;
    purge_jobs(&sv, &next_purge_ms);
    while ((sig = sigtimedwait(&set, NULL, &tick)) < 0) {
        purge_jobs(&sv, &next_purge_ms);
        ct_s3_abort_stale_uploads(sv.s3, (int64_t)sv.opt.stale_upload_s * 1000);
        int temps = 0, blobs = 0; /* a peer that died and stays down */
        if (ct_meta_is_shared(sv.meta) &&
            ct_store_sweep_shared(sv.store, NULL, NULL, 0, &temps, &blobs) == CT_OK && temps)
            ct_info("serve: removed %d upload temp file(s) of a crashed node", temps);
    }
    ct_info("serve: signal %d, shutting down", sig);
out:
    stop_all(&sv);
    return rc;
}
