/* cmd_worker.c: `cattube worker`, transcode workers in their own process.
 *
 * DESIGN: a worker process shares the server's data directory: the SQLite
 * database (WAL allows several processes) holds the queue and leases, and
 * the blob store is read and written in place (opened "shared", so the
 * worker never cleans the server's temp files). meta's watcher thread
 * (meta_watch.c) wakes it within ~20 ms of a job submitted by another
 * process; it still polls once a second (expired leases). SIGTERM or
 * SIGINT stops claiming, kills running transcodes and hands their jobs
 * back (their leases end at once, so another worker takes them; an upload
 * of finished outputs completes first).
 * With --store URL the worker touches neither the blob store nor the object
 * table: inputs and outputs go through that S3 API (job_io_s3.c), so it can
 * run on another host against CatTube or any S3-compatible store.
 * With --db postgres://... the queue is the shared PostgreSQL database
 * instead of DIR/meta.db and NOTIFY wakes the worker at once; with --store
 * too, no data directory is needed (the account id comes from the
 * database). */
#include "cli/cli.h"
#include "client/client.h"
#include "mc/mc.h"
#include "meta/meta.h"
#include "store/store.h"
#include "worker/worker.h"

#include <getopt.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    const char *data_dir;
    const char *db; /* NULL: DIR/meta.db */
    const char *region;
    const char *worker_id;
    int threads;
    int lease_s;
    /* --store: S3 I/O */
    const char *store_url, *access_key, *secret_key, *store_region, *scratch, *ca_bundle;
    int no_verify_tls;
    uint64_t multipart_threshold;
    ct_cli_job_limits limits; /* transcode limits (job_limits.c) */
} worker_opts;

static void worker_usage(FILE *f)
{
    fprintf(f, "usage: cattube worker [--data] DIR [options]\n"
          "       cattube worker --db URL --store URL [options]\n"
          "  --data DIR           the data directory of a 'cattube serve' on this host\n"
          "  --db URL             the servers' shared database (postgres://...) instead of\n"
          "                       DIR/meta.db\n"
          "  --workers N          concurrent jobs (default 1)\n"
          "  --lease-seconds N    job lease; a dead worker's job is retried after it (default 30)\n"
          "  --worker-id NAME     lease owner name (default host:pid)\n"
          "  --region REGION      (default us-east-1)\n"
          "%s"
          "reading inputs and writing outputs through an S3 API instead of DIR's store:\n"
          "  --store URL          S3 endpoint, path-style (http://127.0.0.1:9000): CatTube's own\n"
          "                       API or any S3-compatible store\n"
          "  --access-key KEY     default $AWS_ACCESS_KEY_ID\n"
          "  --secret-key SECRET  default $AWS_SECRET_ACCESS_KEY ($AWS_SESSION_TOKEN is sent\n"
          "                       when set)\n"
          "  --store-region R     SigV4 region of the store (default $AWS_REGION, else --region)\n"
          "  --scratch DIR        where inputs are downloaded and outputs made (default a new\n"
          "                       directory under $TMPDIR or /tmp, removed at exit)\n"
          "  --multipart-threshold BYTES  multipart uploads from this size (default 64 MiB)\n"
          "  --no-verify-ssl      do not verify the store's TLS certificate\n"
          "  --ca-bundle PEM      trust the CAs in PEM (instead of the system's) for an https\n"
          "                       store, e.g. a private CA (as the aws CLI's --ca-bundle)\n",
            ct_cli_limits_usage);
}

static int parse_opts(int argc, char **argv, worker_opts *o)
{
    static const struct option longopts[] = {
        {"data", required_argument, NULL, 'd'},       {"workers", required_argument, NULL, 'w'},
        {"lease-seconds", required_argument, NULL, 'l'}, {"worker-id", required_argument, NULL, 'i'},
        {"region", required_argument, NULL, 'r'},     {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},             {"store", required_argument, NULL, 'S'},
        {"access-key", required_argument, NULL, 'A'}, {"secret-key", required_argument, NULL, 'K'},
        {"store-region", required_argument, NULL, 'R'},
        {"scratch", required_argument, NULL, 'T'},
        {"multipart-threshold", required_argument, NULL, 'M'},
        {"no-verify-ssl", no_argument, NULL, 'N'},    {"db", required_argument, NULL, 'D'},
        {"ca-bundle", required_argument, NULL, 'C'},
        CT_CLI_LIMIT_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    *o = (worker_opts){.region = "us-east-1", .threads = 1, .lease_s = 30,
                       .access_key = getenv("AWS_ACCESS_KEY_ID"),
                       .secret_key = getenv("AWS_SECRET_ACCESS_KEY"),
                       .store_region = getenv("AWS_REGION")};
    ct_cli_limits_defaults(&o->limits);
    int c, lim;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'd': o->data_dir = optarg; break;
        case 'D': o->db = optarg; break;
        case 'w': o->threads = atoi(optarg); break;
        case 'l': o->lease_s = atoi(optarg); break;
        case 'i': o->worker_id = optarg; break;
        case 'r': o->region = optarg; break;
        case 'v': ct_log_set_level(CT_LOG_DEBUG); break;
        case 'S': o->store_url = optarg; break;
        case 'A': o->access_key = optarg; break;
        case 'K': o->secret_key = optarg; break;
        case 'R': o->store_region = optarg; break;
        case 'T': o->scratch = optarg; break;
        case 'M': o->multipart_threshold = strtoull(optarg, NULL, 10); break;
        case 'N': o->no_verify_tls = 1; break;
        case 'C': o->ca_bundle = optarg; break;
        case 'h': worker_usage(stdout); exit(0);
        default:
            lim = ct_cli_limit_option(c, optarg, &o->limits);
            if (lim > 0)
                break;
            if (lim == 0)
                worker_usage(stderr);
            return -1;
        }
    }
    if (!o->data_dir && optind < argc)
        o->data_dir = argv[optind++];
    if ((!o->data_dir && !o->db) || optind < argc || o->threads < 1 || o->threads > 16 ||
        o->lease_s < 1) {
        worker_usage(stderr);
        return -1;
    }
    if (!o->data_dir && !o->store_url) {
        fputs("cattube worker: without a data directory, --store is needed\n", stderr);
        return -1;
    }
    if (o->store_url && strncmp(o->store_url, "http://", 7) != 0 &&
        strncmp(o->store_url, "https://", 8) != 0) {
        fprintf(stderr, "cattube worker: --store wants an http:// or https:// URL, not '%s'\n",
                o->store_url);
        return -1;
    }
    if (o->store_url && (!o->access_key || !*o->access_key || !o->secret_key || !*o->secret_key)) {
        fputs("cattube worker: --store needs credentials: --access-key/--secret-key or\n"
              "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY\n", stderr);
        return -1;
    }
    char why[128];
    if (o->ca_bundle && ct_client_ca_file_check(o->ca_bundle, why, sizeof why)) {
        fprintf(stderr, "cattube worker: --ca-bundle %s: %s\n", o->ca_bundle, why);
        return -1;
    }
    return 0;
}

/* The account id the server minted (ARNs in job records). */
static int read_account(const char *dir, char out[16])
{
    char path[2048], *text = NULL;
    if (ct_snprintf(path, sizeof path, "%s/root-credentials.json", dir) ||
        ct_read_file(path, 1 << 16, &text, NULL) != CT_OK)
        return -1;
    json_t *doc = json_loads(text, 0, NULL);
    free(text);
    const char *acct = json_string_value(json_object_get(doc, "accountId"));
    int ok = acct && strlen(acct) == 12;
    if (ok)
        memcpy(out, acct, 13);
    json_decref(doc);
    return ok ? 0 : -1;
}

/* --store: the S3 job I/O, with its scratch directory (made when not given;
 * *made_scratch then names it for removal at exit). */
static ct_err open_s3_io(const worker_opts *o, char *made_scratch, size_t n, ct_job_io **io)
{
    made_scratch[0] = '\0';
    const char *scratch = o->scratch;
    if (!scratch) {
        const char *tmp = getenv("TMPDIR");
        if (ct_snprintf(made_scratch, n, "%s/cattube-worker-XXXXXX", tmp && *tmp ? tmp : "/tmp"))
            return CT_ERR_TOO_LARGE;
        if (!mkdtemp(made_scratch)) {
            made_scratch[0] = '\0';
            return CT_ERR_IO;
        }
        scratch = made_scratch;
    } else if (ct_mkdirs(scratch, 0700)) {
        return CT_ERR_IO;
    }
    ct_err e = ct_client_global_init();
    if (e)
        return e;
    ct_job_io_s3_config c = {.endpoint = o->store_url, .access_key = o->access_key,
                             .secret_key = o->secret_key,
                             .session_token = getenv("AWS_SESSION_TOKEN"),
                             .region = o->store_region && *o->store_region ? o->store_region
                                                                           : o->region,
                             .no_verify_tls = o->no_verify_tls, .ca_file = o->ca_bundle,
                             .scratch_dir = scratch,
                             .multipart_threshold = o->multipart_threshold};
    return ct_job_io_s3_open(&c, io);
}

/* A shared database holds the account id the API nodes agreed on. */
static ct_err shared_account(ct_meta *meta, char account[16])
{
    char *stored = NULL;
    if (ct_meta_is_shared(meta) && ct_meta_kv_get(meta, "account_id", &stored) == CT_OK &&
        strlen(stored) == 12)
        memcpy(account, stored, 13);
    free(stored);
    if (account[0])
        return CT_OK;
    ct_error("worker: no account id in the database (start 'cattube serve --db' on it first)");
    return CT_ERR_NOT_FOUND;
}

int ct_cmd_worker(int argc, char **argv)
{
    worker_opts o;
    if (parse_opts(argc, argv, &o))
        return 2;
    char account[16] = "", path[2048] = "";
    if (o.data_dir && read_account(o.data_dir, account) && !o.db) {
        ct_error("worker: %s is not a CatTube data directory (start 'cattube serve' on it first)",
                 o.data_dir);
        return 1;
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    ct_meta *meta = NULL;
    ct_store *store = NULL;
    ct_mc *mc = NULL;
    ct_worker *w = NULL;
    ct_job_io *io = NULL;
    char made_scratch[1024] = "";
    int rc = 1;
    ct_mc_config mcc = {.region = o.region, .account_id = account, .endpoint_url = ""};
    ct_worker_config wc = {.threads = o.threads, .worker_id = o.worker_id,
                           .lease_ms = (int64_t)o.lease_s * 1000, .limits = o.limits.sb,
                           .max_input_width = o.limits.max_w, .max_input_height = o.limits.max_h,
                           .max_input_duration_s = o.limits.max_dur_s,
                           .max_input_streams = o.limits.max_streams};
    ct_err e;
    if (o.store_url && (e = open_s3_io(&o, made_scratch, sizeof made_scratch, &io))) {
        ct_error("worker: --store %s: %s", o.store_url, ct_err_str(e));
        goto out;
    }
    wc.io = io;
    if ((o.data_dir && (e = ct_snprintf(path, sizeof path, "%s/meta.db", o.data_dir))) ||
        (e = ct_meta_open(o.db ? o.db : path, &meta)) || (e = shared_account(meta, account)) ||
        (!io && (e = ct_store_open_fs_shared(o.data_dir, &store))) ||
        (e = ct_mc_open(&mcc, meta, &mc)) || (e = ct_worker_start(&wc, meta, store, mc, &w))) {
        ct_error("worker: start failed: %s", ct_err_str(e));
        goto out;
    }
    ct_info("cattube worker ready (%d thread(s), lease %d s, %s%s)", o.threads, o.lease_s,
            io ? "S3 store " : "local store", io ? o.store_url : "");
    int sig = 0;
    sigwait(&set, &sig);
    ct_info("worker: signal %d, stopping", sig);
    rc = 0;
out:
    ct_worker_stop(w);
    ct_job_io_close(io);
    if (made_scratch[0])
        rmdir(made_scratch); /* the jobs' directories are gone by now */
    ct_mc_close(mc);
    ct_store_close(store);
    ct_meta_close(meta);
    return rc;
}
