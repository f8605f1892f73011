/* job_io_s3.c: job I/O through an S3 API (the client module). A client is
 * opened per transfer, so worker threads share nothing but the config. */
#include "worker/job_io.h"

#include "client/client.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_ATTEMPTS 5
#define BACKOFF_FIRST_MS 500
#define BACKOFF_MAX_MS 8000

typedef struct {
    ct_job_io base;
    ct_client_config cc;
    char *endpoint, *access_key, *secret_key, *session_token, *region, *scratch, *ca_file;
    int max_attempts;
} s3_io;

typedef enum { XFER_GET, XFER_PUT } xfer_kind;

/* Sleeps ms in short slices; nonzero when tick asked to stop. */
static int backoff(int ms, ct_job_io_tick_fn tick, void *ctx)
{
    for (int waited = 0; waited < ms; waited += 200) {
        if (tick && tick(ctx))
            return 1;
        usleep(200 * 1000);
    }
    return 0;
}

/* One GET or PUT with retries of retryable failures. */
static ct_err transfer(s3_io *s, xfer_kind kind, const char *bucket, const char *key,
                       const char *path, ct_job_io_tick_fn tick, void *ctx, ct_client_resp *resp)
{
    ct_err e = CT_ERR_IO;
    int delay = BACKOFF_FIRST_MS;
    memset(resp, 0, sizeof *resp); /* read by the caller even when no attempt ran */
    for (int attempt = 1; attempt <= s->max_attempts; attempt++) {
        ct_client *c = NULL;
        if ((e = ct_client_open(&s->cc, &c))) {
            memset(resp, 0, sizeof *resp);
            return e;
        }
        if (kind == XFER_GET)
            e = ct_client_s3_get_file(c, bucket, key, NULL, path, tick, ctx, resp);
        else
            e = ct_client_s3_put_file(c, bucket, key, path, ct_mime_from_name(key), tick, ctx,
                                      resp);
        ct_client_close(c);
        if (!e || !resp->retryable || attempt == s->max_attempts)
            break;
        ct_warn("worker: s3://%s/%s: %s %s (attempt %d of %d), retrying in %d ms", bucket, key,
                kind == XFER_GET ? "GET" : "PUT", resp->err_message[0] ? resp->err_message
                                                                       : resp->err_code,
                attempt, s->max_attempts, delay);
        if (backoff(delay, tick, ctx))
            return CT_ERR_CANCELED;
        delay = delay * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : delay * 2;
    }
    return e;
}

/* The S3 answer for a message: "AccessDenied: Access Denied". */
static const char *why(const ct_client_resp *r, char *buf, size_t n)
{
    if (r->err_code[0] && r->err_message[0])
        snprintf(buf, n, "%s: %s", r->err_code, r->err_message);
    else
        snprintf(buf, n, "%s", r->err_message[0] ? r->err_message : r->err_code);
    return buf;
}

/* ct_err of a failed transfer -> MediaConvert code, message, or hand back. */
static int failure(ct_err e, const ct_client_resp *r, xfer_kind kind, const char *bucket,
                   const char *key, char *msg, size_t msglen)
{
    char w[700];
    const char *what = kind == XFER_GET ? "input" : "output";
    const char *action = kind == XFER_GET ? "s3:GetObject" : "s3:PutObject";
    why(r, w, sizeof w);
    switch (e) {
    case CT_ERR_DENIED:
        snprintf(msg, msglen, "s3://%s/%s: access denied: %s on the %s was refused (%s)", bucket,
                 key, action, what, w);
        return kind == XFER_GET ? 1401 : 1432;
    case CT_ERR_NOT_FOUND:
        snprintf(msg, msglen, "s3://%s/%s: %s (%s)", bucket, key,
                 strcmp(r->err_code, "NoSuchBucket") == 0 ? "bucket does not exist"
                 : kind == XFER_GET                        ? "input object not found"
                                                           : "could not write output",
                 w);
        return 1404;
    case CT_ERR_NOSPC:
        snprintf(msg, msglen, "s3://%s/%s: scratch disk full", bucket, key);
        return 1050;
    case CT_ERR_AUTH:
    case CT_ERR_SKEW:
    case CT_ERR_EXPIRED:
        /* The worker's credentials or clock, not the job: another worker may do it. */
        ct_error("worker: s3://%s/%s: the store refused this worker's credentials (%s)", bucket,
                 key, w);
        return CT_JOB_IO_HAND_BACK;
    case CT_ERR_CANCELED:
        return CT_JOB_IO_HAND_BACK;
    default:
        if (r->retryable) {
            ct_warn("worker: s3://%s/%s: %s failed after retries (%s); handing the job back",
                    bucket, key, action, w);
            return CT_JOB_IO_HAND_BACK;
        }
        snprintf(msg, msglen, "s3://%s/%s: could not %s %s (%s)", bucket, key,
                 kind == XFER_GET ? "read" : "write", what, w[0] ? w : ct_err_str(e));
        return kind == XFER_GET ? 1010 : 1999;
    }
}

/* scratch/input.<ext of key>: the extension helps format probing. */
static ct_err input_path(const char *scratch, const char *key, char *path, size_t n)
{
    const char *slash = strrchr(key, '/');
    const char *dot = strrchr(slash ? slash : key, '.');
    char ext[12] = "";
    size_t len = dot ? strlen(dot + 1) : 0;
    if (len > 0 && len < sizeof ext - 1) {
        for (size_t i = 0; i < len; i++)
            if (!isalnum((unsigned char)dot[1 + i]))
                len = 0;
        if (len)
            snprintf(ext, sizeof ext, ".%s", dot + 1);
    }
    return ct_snprintf(path, n, "%s/input%s", scratch, ext);
}

static int s3_fetch(ct_job_io *io, const char *bucket, const char *key, const char *scratch,
                    char *path, size_t n, ct_job_io_tick_fn tick, void *ctx, char *msg,
                    size_t msglen)
{
    ct_client_resp r;
    if (input_path(scratch, key, path, n)) {
        snprintf(msg, msglen, "scratch path too long");
        return 1050;
    }
    ct_err e = transfer((s3_io *)io, XFER_GET, bucket, key, path, tick, ctx, &r);
    return e ? failure(e, &r, XFER_GET, bucket, key, msg, msglen) : 0;
}

static int s3_put(ct_job_io *io, const ct_mc_dest *d, const char *path, ct_job_io_tick_fn tick,
                  void *ctx, char *msg, size_t msglen)
{
    ct_client_resp r;
    ct_err e = transfer((s3_io *)io, XFER_PUT, d->bucket, d->key, path, tick, ctx, &r);
    return e ? failure(e, &r, XFER_PUT, d->bucket, d->key, msg, msglen) : 0;
}

static const char *s3_scratch(ct_job_io *io) { return ((s3_io *)io)->scratch; }

static void s3_close(ct_job_io *io)
{
    s3_io *s = (s3_io *)io;
    free(s->endpoint);
    free(s->access_key);
    free(s->secret_key);
    free(s->session_token);
    free(s->region);
    free(s->scratch);
    free(s->ca_file);
    free(s);
}

static const ct_job_io_ops s3_ops = {s3_fetch, s3_put, s3_scratch, s3_close};

static char *dup_opt(const char *s, int *bad)
{
    char *d = s ? strdup(s) : NULL;
    if (s && !d)
        *bad = 1;
    return d;
}

ct_err ct_job_io_s3_open(const ct_job_io_s3_config *cfg, ct_job_io **out)
{
    if (!cfg->endpoint || !cfg->scratch_dir)
        return CT_ERR_INVALID;
    s3_io *s = calloc(1, sizeof *s);
    if (!s)
        return CT_ERR_NOMEM;
    int bad = 0;
    s->base.ops = &s3_ops;
    s->endpoint = dup_opt(cfg->endpoint, &bad);
    s->access_key = dup_opt(cfg->access_key, &bad);
    s->secret_key = dup_opt(cfg->secret_key, &bad);
    s->session_token = dup_opt(cfg->session_token, &bad);
    s->region = dup_opt(cfg->region, &bad);
    s->scratch = dup_opt(cfg->scratch_dir, &bad);
    s->ca_file = dup_opt(cfg->ca_file, &bad);
    s->max_attempts = cfg->max_attempts > 0 ? cfg->max_attempts : DEFAULT_ATTEMPTS;
    s->cc = (ct_client_config){.endpoint = s->endpoint, .access_key = s->access_key,
                               .secret_key = s->secret_key, .session_token = s->session_token,
                               .region = s->region, .service = "s3",
                               .no_verify_tls = cfg->no_verify_tls, .ca_file = s->ca_file,
                               .multipart_threshold = cfg->multipart_threshold};
    if (bad) {
        s3_close(&s->base);
        return CT_ERR_NOMEM;
    }
    *out = &s->base;
    return CT_OK;
}
