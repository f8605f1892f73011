/* cmd_worker.c: `cattube worker`, transcode workers in their own process.
 *
 * DESIGN: a worker process shares the server's data directory: the SQLite
 * database (WAL allows several processes) holds the queue and leases, and
 * the blob store is read and written in place (opened "shared", so the
 * worker never cleans the server's temp files). Without cross-process
 * wake-ups it polls the queue once a second. SIGTERM or SIGINT stops
 * claiming, kills running transcodes and leaves their jobs to be reclaimed
 * when the lease expires. */
#include "cli/cli.h"
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

typedef struct {
    const char *data_dir;
    const char *region;
    const char *worker_id;
    int threads;
    int lease_s;
} worker_opts;

static void worker_usage(FILE *f)
{
    fputs("usage: cattube worker --data DIR [options]\n"
          "  --data DIR           the data directory of a 'cattube serve' on this host\n"
          "  --workers N          concurrent jobs (default 1)\n"
          "  --lease-seconds N    job lease; a dead worker's job is retried after it (default 30)\n"
          "  --worker-id NAME     lease owner name (default host:pid)\n"
          "  --region REGION      (default us-east-1)\n",
          f);
}

static int parse_opts(int argc, char **argv, worker_opts *o)
{
    static const struct option longopts[] = {
        {"data", required_argument, NULL, 'd'},       {"workers", required_argument, NULL, 'w'},
        {"lease-seconds", required_argument, NULL, 'l'}, {"worker-id", required_argument, NULL, 'i'},
        {"region", required_argument, NULL, 'r'},     {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},             {NULL, 0, NULL, 0},
    };
    *o = (worker_opts){NULL, "us-east-1", NULL, 1, 30};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'd': o->data_dir = optarg; break;
        case 'w': o->threads = atoi(optarg); break;
        case 'l': o->lease_s = atoi(optarg); break;
        case 'i': o->worker_id = optarg; break;
        case 'r': o->region = optarg; break;
        case 'v': ct_log_set_level(CT_LOG_DEBUG); break;
        case 'h': worker_usage(stdout); exit(0);
        default: worker_usage(stderr); return -1;
        }
    }
    if (!o->data_dir || optind < argc || o->threads < 1 || o->threads > 16 || o->lease_s < 1) {
        worker_usage(stderr);
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

int ct_cmd_worker(int argc, char **argv)
{
    worker_opts o;
    if (parse_opts(argc, argv, &o))
        return 2;
    char account[16], path[2048];
    if (read_account(o.data_dir, account)) {
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
    int rc = 1;
    ct_mc_config mcc = {.region = o.region, .account_id = account, .endpoint_url = ""};
    ct_worker_config wc = {.threads = o.threads, .worker_id = o.worker_id,
                           .lease_ms = (int64_t)o.lease_s * 1000};
    ct_err e;
    if ((e = ct_snprintf(path, sizeof path, "%s/meta.db", o.data_dir)) ||
        (e = ct_meta_open_sqlite(path, &meta)) ||
        (e = ct_store_open_fs_shared(o.data_dir, &store)) || (e = ct_mc_open(&mcc, meta, &mc)) ||
        (e = ct_worker_start(&wc, meta, store, mc, &w))) {
        ct_error("worker: start failed: %s", ct_err_str(e));
        goto out;
    }
    ct_info("cattube worker ready (%d thread(s), lease %d s)", o.threads, o.lease_s);
    int sig = 0;
    sigwait(&set, &sig);
    ct_info("worker: signal %d, stopping", sig);
    rc = 0;
out:
    ct_worker_stop(w);
    ct_mc_close(mc);
    ct_store_close(store);
    ct_meta_close(meta);
    return rc;
}
