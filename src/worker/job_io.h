/* job_io: where a worker reads a job's input and writes its outputs.
 *
 * DESIGN: the worker's only view of storage. Two implementations:
 *  - local (job_io_local.c): the server's data directory. The input blob is
 *    read in place; outputs are adopted as blobs and committed as objects
 *    in meta, with their ObjectCreated event, in one transaction.
 *  - S3 (job_io_s3.c): any S3 API (CatTube's own or another store) through
 *    the client module. The input is downloaded into the job's scratch
 *    directory; outputs are PUT (multipart when large), so the store's own
 *    notifications fire for them. Network errors and 5xx answers are
 *    retried with backoff; when the attempts run out the job is handed back
 *    (its lease is ended at once and a worker retries it). AccessDenied is the job's
 *    fault: ERROR 1401 (input) or 1432 (output), naming the object and the
 *    denied action.
 * Neither decides what a job may touch: the worker checks the job's Role
 * (worker.c, iam_roles.c) before every fetch_input and put_output.
 * Operations return 0, a MediaConvert error code (> 0, msg filled) for
 * ERROR, or CT_JOB_IO_HAND_BACK. They may be called from several worker
 * threads at once. tick is called during long transfers (the worker
 * heartbeats there); a nonzero return aborts the transfer (HAND_BACK). */
#ifndef CT_JOB_IO_H
#define CT_JOB_IO_H

#include "mc/mc.h"
#include "meta/meta.h"
#include "store/store.h"

#define CT_JOB_IO_HAND_BACK (-1)

typedef struct ct_job_io ct_job_io;
typedef int (*ct_job_io_tick_fn)(void *ctx);

typedef struct {
    /* Makes s3://bucket/key readable as a local file; its path into path.
     * scratch is the job's own directory (S3 downloads there). */
    int (*fetch_input)(ct_job_io *io, const char *bucket, const char *key, const char *scratch,
                       char *path, size_t n, ct_job_io_tick_fn tick, void *ctx, char *msg,
                       size_t msglen);
    /* Stores the local file path as the object d->bucket/d->key (the file
     * may be consumed). */
    int (*put_output)(ct_job_io *io, const ct_mc_dest *d, const char *path,
                      ct_job_io_tick_fn tick, void *ctx, char *msg, size_t msglen);
    /* Where jobs' scratch directories go. */
    const char *(*scratch_dir)(ct_job_io *io);
    void (*close)(ct_job_io *io);
} ct_job_io_ops;

struct ct_job_io {
    const ct_job_io_ops *ops;
};

/* Borrows meta and store. */
ct_err ct_job_io_local_open(ct_meta *meta, ct_store *store, ct_job_io **out);

typedef struct {
    const char *endpoint;       /* "http://127.0.0.1:9000" */
    const char *access_key, *secret_key, *session_token;
    const char *region;         /* SigV4 region (NULL = us-east-1) */
    int no_verify_tls;
    const char *ca_file;        /* PEM CAs trusted instead of the system's, or NULL */
    const char *scratch_dir;    /* must exist */
    uint64_t multipart_threshold; /* 0 = the client's default (64 MiB) */
    int max_attempts;           /* per transfer; 0 = 5 */
} ct_job_io_s3_config;

/* Strings are copied. Call ct_client_global_init() first (main). */
ct_err ct_job_io_s3_open(const ct_job_io_s3_config *cfg, ct_job_io **out);

static inline void ct_job_io_close(ct_job_io *io)
{
    if (io)
        io->ops->close(io);
}

#endif
