/* worker.c: job claiming, running and finishing. */
#include "worker/worker.h"

#include "iam/iam.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define WORKER_MAX_THREADS 16
#define WORKER_POLL_MS 1000
#define HEARTBEAT_EVERY_MS 1000

struct ct_worker {
    ct_worker_config cfg;
    char worker_id[128];
    ct_meta *meta;
    ct_store *store;
    ct_mc *mc;
    ct_job_io *io;
    int own_io;                /* the local job I/O, made by ct_worker_start */
    int n_threads;
    pthread_t threads[WORKER_MAX_THREADS];
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int kicks;
    volatile int stopping;
};

/* One running job. */
typedef struct {
    ct_worker *w;
    ct_meta_job job;
    int64_t last_beat_ms;
    int last_percent;
    int lease_lost;
    int cancel;
    int uploading;           /* SIGTERM lets an upload finish */
    char phase[32];
    char input_url[1100];    /* s3://bucket/key, for error messages */
    char role[72];           /* the job's IAM role name, "" when its ARN is not valid */
} job_run;

/* Scratch layout: out<i>.mp4 files and, for multi-file outputs, out<i>/
 * directories of plain files: two levels at most. */
static void rm_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char p[4096];
        if (ct_snprintf(p, sizeof p, "%s/%s", dir, e->d_name) == CT_OK && unlink(p) != 0 &&
            errno == EISDIR)
            rm_tree(p);
    }
    closedir(d);
    rmdir(dir);
}

static int on_progress(void *ctx, const char *phase, int percent)
{
    job_run *r = ctx;
    int64_t now = ct_mono_ms();
    if (phase != r->phase)
        snprintf(r->phase, sizeof r->phase, "%s", phase);
    if (now - r->last_beat_ms < HEARTBEAT_EVERY_MS && percent == r->last_percent)
        return r->cancel || r->lease_lost || r->w->stopping;
    r->last_beat_ms = now;
    r->last_percent = percent;
    int cancel = 0;
    ct_err e = ct_meta_job_heartbeat(r->w->meta, r->job.id, r->job.attempt, phase, percent,
                                     r->w->cfg.lease_ms, &cancel);
    if (e == CT_ERR_CONFLICT)
        r->lease_lost = 1;
    if (cancel)
        r->cancel = 1;
    return r->cancel || r->lease_lost || r->w->stopping;
}

static void finish_warned(job_run *r, const char *status, int code, const char *msg,
                          const char *details, const char *warnings_json)
{
    ct_err e = ct_meta_job_finish(r->w->meta, r->job.id, r->job.attempt, status, code, msg,
                                  details, warnings_json);
    if (e)
        ct_warn("worker: job %s: could not record %s: %s", r->job.id, status, ct_err_str(e));
    else if (code)
        ct_info("worker: job %s %s (%d): %s", r->job.id, status, code, msg ? msg : "");
    else
        ct_info("worker: job %s %s", r->job.id, status);
}

static void finish(job_run *r, const char *status, int code, const char *msg,
                   const char *details)
{
    finish_warned(r, status, code, msg, details, NULL);
}

/* Job I/O transfers heartbeat through here; they stop for a cancel, a lost
 * lease, or SIGTERM (except while uploading finished outputs). */
static int io_tick(void *ctx)
{
    job_run *r = ctx;
    on_progress(r, r->phase, r->last_percent < 0 ? 0 : r->last_percent);
    return r->cancel || r->lease_lost || (r->w->stopping && !r->uploading);
}

/* The job's Role decides what it may read and write (iam_roles.c), on both
 * job I/O paths: with an S3 store the worker's own credentials do the
 * transfer, so this check is what confines the job to its role. The bucket
 * policy comes from meta when the bucket is CatTube's (a foreign store
 * applies its own to the worker's credentials). MediaConvert reaches S3
 * over TLS, hence aws:SecureTransport true. 0, or 1401 (input) / 1432
 * (output) with msg naming the object, the action and the role. */
static int role_allows(job_run *r, const char *action, const char *bucket, const char *key,
                       char *msg, size_t msglen)
{
    const char *acct = ct_mc_account_id(r->w->mc);
    char why[160] = "the job's role is not an IAM role ARN", res[1200];
    ct_meta_bucket b = {0};
    int have = ct_meta_bucket_get(r->w->meta, bucket, &b) == CT_OK;
    snprintf(res, sizeof res, "arn:aws:s3:::%s/%s", bucket, key);
    ct_iam_request q = {.action = action, .resource = res,
                        .bucket_policy_json = have ? b.policy_json : NULL, .secure = 1};
    ct_err e = r->role[0] ? ct_iam_role_authorize(r->w->meta, acct, r->role, &q, why, sizeof why)
                          : CT_ERR_DENIED;
    if (have)
        ct_meta_bucket_free(&b);
    if (!e)
        return 0;
    int input = strcmp(action, "s3:GetObject") == 0;
    snprintf(msg, msglen, "s3://%s/%s: AccessDenied: role arn:aws:iam::%s:role/%s is not allowed "
             "%s on the %s (%s)", bucket, key, acct, r->role[0] ? r->role : "?", action,
             input ? "input" : "output", why);
    return input ? 1401 : 1432;
}

static int fetch(job_run *r, const char *bucket, const char *key, const char *dir, char *path,
                 size_t n, char *msg, size_t msglen)
{
    ct_job_io *io = r->w->io;
    int code = role_allows(r, "s3:GetObject", bucket, key, msg, msglen);
    if (code)
        return code;
    return io->ops->fetch_input(io, bucket, key, dir, path, n, io_tick, r, msg, msglen);
}

/* Multi-file output: every file of its directory becomes the object
 * key-prefix + file name (names were checked when the bundle was unpacked;
 * dot files are the sandbox's scratch). */
static int upload_dir(job_run *r, const ct_mc_dest *dest, const char *dir, int check_only,
                      char *msg, size_t msglen)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int code = 0;
    if (!d) {
        snprintf(msg, msglen, "%s: %s", dir, strerror(errno));
        return 1050;
    }
    while (!code && (e = readdir(d))) {
        ct_mc_dest one = *dest;
        char p[4096];
        if (e->d_name[0] == '.')
            continue;
        if (ct_snprintf(one.key, sizeof one.key, "%s%s", dest->key, e->d_name) ||
            ct_snprintf(p, sizeof p, "%s/%s", dir, e->d_name)) {
            snprintf(msg, msglen, "s3://%s/%s%s: key too long", dest->bucket, dest->key, e->d_name);
            code = 1040;
            break;
        }
        code = check_only ? role_allows(r, "s3:PutObject", one.bucket, one.key, msg, msglen)
                          : r->w->io->ops->put_output(r->w->io, &one, p, io_tick, r, msg, msglen);
    }
    closedir(d);
    return code;
}

/* Output i: pass 0 checks its object(s) against the role, pass 1 stores them. */
static int output_pass(job_run *r, int pass, const ct_plan_output *o, const ct_mc_dest *dest,
                       char *msg, size_t msglen)
{
    ct_job_io *io = r->w->io;
    if (ct_plan_output_is_multi(o))
        return upload_dir(r, dest, o->path, !pass, msg, msglen);
    if (!pass)
        return role_allows(r, "s3:PutObject", dest->bucket, dest->key, msg, msglen);
    return io->ops->put_output(io, dest, o->path, io_tick, r, msg, msglen);
}

/* Every object is checked before the first is stored, so a denied output
 * leaves no partial outputs behind (the worker never deletes objects). */
static int upload_outputs(job_run *r, const ct_plan *plan, const ct_mc_dest *dests, char *msg,
                          size_t msglen)
{
    on_progress(r, "UPLOADING", 100);
    r->uploading = 1;
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < plan->n_outputs; i++) {
            int code = output_pass(r, pass, &plan->outputs[i], &dests[i], msg, msglen);
            if (code)
                return code;
        }
    }
    return 0;
}

/* out<i>.mp4, or a directory out<i>/ for a multi-file output. */
static int scratch_output(const char *scratch, int i, ct_plan_output *o, char *msg, size_t msglen)
{
    int multi = ct_plan_output_is_multi(o);
    if (ct_snprintf(o->path, sizeof o->path, multi ? "%s/out%d" : "%s/out%d.mp4", scratch, i)) {
        snprintf(msg, msglen, "scratch path too long");
        return 1050;
    }
    if (multi && mkdir(o->path, 0700) != 0 && errno != EEXIST) {
        snprintf(msg, msglen, "scratch directory: %s", strerror(errno));
        return 1050;
    }
    return 0;
}

/* Settings.Inputs[1..] of a job with several inputs (joined in order):
 * each fetched like the first, into its own scratch subdirectory (an S3
 * fetch names its file after the job, not the input). */
static int more_inputs(job_run *r, ct_plan *plan, const char *scratch, char *msg, size_t msglen)
{
    char bucket[64], key[1025], dir[1100];
    for (int i = 1; i < plan->n_inputs; i++) {
        if (ct_mc_job_input(r->job.spec_json, i, bucket, key) != CT_OK) {
            snprintf(msg, msglen, "settings.inputs[%d].fileInput: not an s3:// URL", i);
            return 1040;
        }
        if (ct_snprintf(dir, sizeof dir, "%s/in%d", scratch, i) || (mkdir(dir, 0700) != 0 && errno != EEXIST)) {
            snprintf(msg, msglen, "scratch directory: %s", strerror(errno));
            return 1050;
        }
        int code = fetch(r, bucket, key, dir, plan->inputs[i].path, sizeof plan->inputs[i].path,
                         msg, msglen);
        if (code)
            return code;
    }
    return 0;
}

static int prepare_plan(job_run *r, ct_plan *plan, ct_mc_dest *dests, char *scratch, size_t n,
                        char *msg, size_t msglen)
{
    ct_job_io *io = r->w->io;
    char in_bucket[64], in_key[1025];
    if (ct_mc_job_plan(r->job.spec_json, plan, in_bucket, in_key, dests, msg, msglen))
        return 1040;
    plan->max_width = r->w->cfg.max_input_width;
    plan->max_height = r->w->cfg.max_input_height;
    plan->max_duration_s = r->w->cfg.max_input_duration_s;
    plan->max_streams = r->w->cfg.max_input_streams;
    snprintf(r->input_url, sizeof r->input_url, "s3://%s/%s", in_bucket, in_key);
    if (!ct_mc_job_role(r->job.spec_json, r->role))
        r->role[0] = '\0';
    if (ct_snprintf(scratch, n, "%s/job-%s-%d", io->ops->scratch_dir(io), r->job.id,
                    r->job.attempt) ||
        (mkdir(scratch, 0700) != 0 && errno != EEXIST)) {
        snprintf(msg, msglen, "scratch directory: %s", strerror(errno));
        scratch[0] = '\0';
        return 1050;
    }
    int code = fetch(r, in_bucket, in_key, scratch, plan->input_path, sizeof plan->input_path,
                     msg, msglen);
    if (!code)
        code = more_inputs(r, plan, scratch, msg, msglen);
    for (int i = 0; !code && i < plan->n_outputs; i++)
        code = scratch_output(scratch, i, &plan->outputs[i], msg, msglen);
    /* Single-file outputs are known now: a denied one fails before the
     * transcode instead of after it. */
    for (int i = 0; !code && i < plan->n_outputs; i++)
        if (!ct_plan_output_is_multi(&plan->outputs[i]))
            code = role_allows(r, "s3:PutObject", dests[i].bucket, dests[i].key, msg, msglen);
    return code;
}

/* Stopping, or an I/O failure that is nobody's fault: the job goes back to
 * the queue now (a lease that ends now, so the next claim takes it and
 * counts a retry) instead of when the lease would have run out. A cancel
 * seen meanwhile ends it; a lost lease is someone else's job already. */
static void hand_back_after(job_run *r, int64_t delay_ms);
static void hand_back(job_run *r) { hand_back_after(r, 0); }

/* An infrastructure fault (the store refused or failed after its own
 * retries): back to the queue after 2 s, 4 s, 8 s ... (30 s at most) by
 * retry, so that a lone worker with bad credentials or a store that is down
 * does not use up the job's retries in milliseconds. */
static void hand_back_io(job_run *r)
{
    int n = r->job.retry_count < 4 ? r->job.retry_count : 4;
    int64_t delay = (int64_t)2000 << n;
    hand_back_after(r, delay > 30000 ? 30000 : delay);
}

static void hand_back_after(job_run *r, int64_t delay_ms)
{
    if (r->lease_lost) {
        ct_info("worker: job %s: lease lost, dropped", r->job.id);
        return;
    }
    if (r->cancel) {
        finish(r, "CANCELED", 0, NULL, NULL);
        return;
    }
    ct_err e = ct_meta_job_heartbeat(r->w->meta, r->job.id, r->job.attempt, NULL,
                                     r->last_percent < 0 ? 0 : r->last_percent, delay_ms, NULL);
    ct_info("worker: job %s handed back%s (claimable in %lld ms)", r->job.id,
            e ? " (its lease will expire)" : "", (long long)delay_ms);
}

static void run_job(job_run *r)
{
    ct_worker *w = r->w;
    ct_plan *plan = calloc(1, sizeof *plan);
    ct_mc_dest *dests = calloc(CT_PLAN_MAX_OUTPUTS, sizeof *dests);
    ct_transcode_result *res = calloc(1, sizeof *res);
    char scratch[1024] = "", msg[1400] = "", in_b[64], in_k[1025];
    if (!plan || !dests || !res)
        goto cleanup; /* the lease expires and the job is retried */
    on_progress(r, "PROBING", 0);
    int code = prepare_plan(r, plan, dests, scratch, sizeof scratch, msg, sizeof msg);
    if (code == CT_JOB_IO_HAND_BACK) {
        hand_back_io(r);
        goto cleanup;
    }
    if (code) {
        finish(r, "ERROR", code, msg, NULL);
        goto cleanup;
    }
    ct_err e = ct_sandbox_transcode(plan, &w->cfg.limits, on_progress, r, res);
    /* Stopping: whatever the child's fate, the job is handed back; it did
     * not fail. */
    if (r->lease_lost || (w->stopping && !r->cancel)) {
        hand_back(r);
        goto cleanup;
    }
    if (e == CT_ERR_CANCELED) {
        finish(r, "CANCELED", 0, NULL, NULL);
        goto cleanup;
    }
    if (e || res->error_code) {
        /* Name the input the user knows (its S3 URL), not the engine's view. */
        const char *why = res->error_message[0] ? res->error_message : ct_err_str(e);
        char url[1100];
        int k = 0, used = 0;
        snprintf(url, sizeof url, "%s", r->input_url);
        if (strncmp(why, "input: ", 7) == 0)
            why += 7;
        else if (sscanf(why, "input %d: %n", &k, &used) == 1 && used > 0 && k > 1 &&
                 ct_mc_job_input(r->job.spec_json, k - 1, in_b, in_k) == CT_OK) {
            why += used; /* "input N: " names the N-th input of a joined job */
            snprintf(url, sizeof url, "s3://%s/%s", in_b, in_k);
        }
        ct_buf m = CT_BUF_INIT;
        ct_buf_printf(&m, "%s: %s", url, why);
        finish(r, "ERROR", res->error_code ? res->error_code : 1999, m.data, NULL);
        ct_buf_free(&m);
        goto cleanup;
    }
    /* The point of no return: this heartbeat either sees a cancel (the job
     * ends CANCELED, nothing committed) or moves the job to UPLOADING, after
     * which CancelJob answers 409 (meta_search.h). Forced past the
     * heartbeat throttle. */
    r->last_beat_ms = 0;
    r->last_percent = -1;
    on_progress(r, "UPLOADING", 100);
    if (r->lease_lost || r->cancel) {
        hand_back(r); /* lease lost: dropped; cancel: CANCELED */
        goto cleanup;
    }
    if ((code = upload_outputs(r, plan, dests, msg, sizeof msg))) {
        if (code == CT_JOB_IO_HAND_BACK)
            hand_back_io(r);
        else
            finish(r, "ERROR", code, msg, NULL);
        goto cleanup;
    }
    double durs[CT_PLAN_MAX_OUTPUTS];
    int widths[CT_PLAN_MAX_OUTPUTS], heights[CT_PLAN_MAX_OUTPUTS];
    for (int i = 0; i < plan->n_outputs; i++) {
        durs[i] = res->outputs[i].duration_s;
        widths[i] = res->outputs[i].width;
        heights[i] = res->outputs[i].height;
    }
    char *details = ct_mc_output_details(r->job.spec_json, dests, plan->n_outputs, durs, widths,
                                         heights);
    char *warnings = ct_mc_warnings_json(res->warnings);
    finish_warned(r, "COMPLETE", 0, NULL, details, warnings);
    free(warnings);
    free(details);
cleanup:
    if (scratch[0])
        rm_tree(scratch);
    free(plan);
    free(dests);
    free(res);
}

static void wait_for_work(ct_worker *w)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += WORKER_POLL_MS / 1000;
    pthread_mutex_lock(&w->mu);
    while (!w->kicks && !w->stopping)
        if (pthread_cond_timedwait(&w->cv, &w->mu, &ts) != 0)
            break;
    if (w->kicks)
        w->kicks--;
    pthread_mutex_unlock(&w->mu);
}

static void *worker_thread(void *arg)
{
    ct_worker *w = arg;
    while (!w->stopping) {
        job_run r;
        memset(&r, 0, sizeof r);
        r.w = w;
        r.last_percent = -1;
        ct_err e = ct_meta_job_claim(w->meta, w->worker_id, w->cfg.lease_ms, &r.job);
        if (e == CT_OK) {
            ct_info("worker: job %s claimed (attempt %d)", r.job.id, r.job.attempt);
            run_job(&r);
            ct_meta_job_free(&r.job);
            continue;
        }
        if (e != CT_ERR_NOT_FOUND)
            ct_warn("worker: claim: %s", ct_err_str(e));
        wait_for_work(w);
    }
    return NULL;
}

void ct_worker_kick(ct_worker *w)
{
    pthread_mutex_lock(&w->mu);
    if (w->kicks < w->n_threads)
        w->kicks++;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static void kick_hook(void *ctx) { ct_worker_kick(ctx); }

ct_err ct_worker_start(const ct_worker_config *cfg, ct_meta *meta, ct_store *store, ct_mc *mc,
                       ct_worker **out)
{
    ct_worker *w = calloc(1, sizeof *w);
    if (!w)
        return CT_ERR_NOMEM;
    w->cfg = *cfg;
    if (w->cfg.lease_ms <= 0)
        w->cfg.lease_ms = 30000;
    w->n_threads = cfg->threads <= 0 ? 1 : cfg->threads > WORKER_MAX_THREADS ? WORKER_MAX_THREADS
                                                                             : cfg->threads;
    if (cfg->worker_id) {
        snprintf(w->worker_id, sizeof w->worker_id, "%s", cfg->worker_id);
    } else {
        char host[64] = "localhost";
        gethostname(host, sizeof host - 1);
        snprintf(w->worker_id, sizeof w->worker_id, "%s:%d", host, (int)getpid());
    }
    w->cfg.worker_id = w->worker_id;
    w->meta = meta;
    w->store = store;
    w->mc = mc;
    w->io = cfg->io;
    if (!w->io) {
        ct_err e = store ? ct_job_io_local_open(meta, store, &w->io) : CT_ERR_INVALID;
        if (e) {
            free(w);
            return e;
        }
        w->own_io = 1;
    }
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    for (int i = 0; i < w->n_threads; i++) {
        if (pthread_create(&w->threads[i], NULL, worker_thread, w) != 0) {
            w->n_threads = i;
            ct_worker_stop(w);
            return CT_ERR_INTERNAL;
        }
    }
    ct_meta_on_job(meta, kick_hook, w);
    *out = w;
    return CT_OK;
}

void ct_worker_stop(ct_worker *w)
{
    if (!w)
        return;
    ct_meta_on_job(w->meta, NULL, NULL);
    pthread_mutex_lock(&w->mu);
    w->stopping = 1;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    for (int i = 0; i < w->n_threads; i++)
        pthread_join(w->threads[i], NULL);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    if (w->own_io)
        ct_job_io_close(w->io);
    free(w);
}
