/* cli: subcommands of the one cattube binary. Each returns a process exit code. */
#ifndef CT_CLI_H
#define CT_CLI_H

#include "http/http.h"
#include "iam/iam.h"
#include "mc/mc.h"
#include "sandbox/sandbox.h"
#include "store/store.h"

int ct_cmd_serve(int argc, char **argv);
int ct_cmd_worker(int argc, char **argv);
/* Admin API for users, access keys and policies (/cattube/admin/users...). */
void ct_iam_admin_handle(ct_iam *iam, const ct_http_req *req, ct_http_resp *resp);
int ct_cmd_distribution(int argc, char **argv);
/* `cattube admin jobs purge ...` (jobs_admin.c); argv[0] is "jobs". */
int ct_cmd_admin_jobs(int argc, char **argv);

/* Transcode limits taken by both `serve` and `worker` (job_limits.c):
 * --max-input-size WxH, --max-input-duration SECONDS, --max-input-streams N, --job-memory-mb N,
 * --job-cpu-seconds N, --job-wall-seconds N. CT_CLI_LIMIT_LONGOPTS goes into
 * a getopt_long table; ct_cli_limit_option handles those codes. */
#define CT_CLI_LIMIT_OPT_BASE 0x1000
#define CT_CLI_LIMIT_LONGOPTS                                                                    \
    {"max-input-size", required_argument, NULL, CT_CLI_LIMIT_OPT_BASE},                          \
    {"max-input-duration", required_argument, NULL, CT_CLI_LIMIT_OPT_BASE + 1},                  \
    {"job-memory-mb", required_argument, NULL, CT_CLI_LIMIT_OPT_BASE + 2},                       \
    {"job-cpu-seconds", required_argument, NULL, CT_CLI_LIMIT_OPT_BASE + 3},                     \
    {"job-wall-seconds", required_argument, NULL, CT_CLI_LIMIT_OPT_BASE + 4},                    \
    {"max-input-streams", required_argument, NULL, CT_CLI_LIMIT_OPT_BASE + 5}
extern const char ct_cli_limits_usage[];
/* An option's whole number: decimal digits only, in [lo, hi] (lo >= 0), else -1. */
long long ct_cli_whole(const char *s, long long lo, long long hi);
typedef struct {
    int max_w, max_h, max_streams;
    double max_dur_s;
    ct_sandbox_limits sb;
} ct_cli_job_limits;
/* Sets the defaults (8192x8192, 24 h, 32 streams, the sandbox's own limits). */
void ct_cli_limits_defaults(ct_cli_job_limits *l);
/* 1: c was a limit option and arg valid (applied); -1: invalid (message on
 * stderr naming the option); 0: not a limit option. */
int ct_cli_limit_option(int c, const char *arg, ct_cli_job_limits *l);

/* The admin API as a client (cmd_admin.c): one request signed with the root
 * credentials from the environment (service "cattube"); prints the JSON
 * answer on stdout or the server's message on stderr. Returns the exit code. */
typedef struct {
    const char *endpoint, *region;
    const char *ca_file; /* --ca-bundle: PEM CAs trusted instead of the system's */
    int no_verify;
} ct_cli_admin_target;
int ct_cli_admin_call(const ct_cli_admin_target *t, const char *method, const char *path,
                      const char *body);

/* MediaConvert's Probe for `serve` (serve_probe.c): a ct_mc_probe_fn whose
 * ctx is a ct_serve_probe_ctx (borrowed handles, owned by serve). */
typedef struct {
    ct_meta *meta;
    ct_store *store;
    ct_iam *iam;
} ct_serve_probe_ctx;
ct_err ct_serve_probe(void *ctx, const ct_http_req *req, const char *bucket, const char *key,
                      ct_mc_probe_out *out);

#endif
