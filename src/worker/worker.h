/* worker: claims jobs from the queue and runs them.
 *
 * DESIGN: each worker thread loops: claim a job with a lease, build its plan
 * (mc), fetch the input through the job I/O (job_io.h: the local store, or
 * any S3 API) and point the plan at it and at a scratch directory, run the
 * transcode in the sandboxed child, renewing the lease and reporting
 * progress from the child's reports, then store every output through the
 * job I/O as an object in its destination bucket (so output events fire
 * too) and finish the job. Every input read and output write is first
 * checked against the job's Role (docs/architecture.md, "Job roles"):
 * ERROR 1401 / 1432 when denied.
 * A lost lease (another worker took the job over) or a cancel kills the
 * child and discards the scratch outputs. Input errors end the job in ERROR
 * and are not retried; infrastructure errors leave the job to be reclaimed
 * after its lease expires, up to the queue's retry limit. Stopping, and job
 * I/O that gave up on the network, hand the job back at once (its lease is
 * ended); ct_worker_stop therefore needs meta still open.
 * Ownership: ct_worker borrows meta, store (may be NULL with cfg->io), mc
 * and cfg->io. */
#ifndef CT_WORKER_H
#define CT_WORKER_H

#include "mc/mc.h"
#include "meta/meta.h"
#include "sandbox/sandbox.h"
#include "store/store.h"
#include "worker/job_io.h"

typedef struct ct_worker ct_worker;

typedef struct {
    int threads;                 /* concurrent jobs (default 1) */
    const char *worker_id;       /* lease owner name (default host:pid) */
    int64_t lease_ms;            /* default 30 s */
    ct_sandbox_limits limits;
    /* Caps on an input, checked after probing and before decoding (0 = no
     * cap): either orientation must fit max_width x max_height. */
    int max_input_width, max_input_height;
    double max_input_duration_s;
    int max_input_streams;       /* 0: the engine's 32 */
    ct_job_io *io;               /* borrowed; NULL = local I/O on meta + store */
} ct_worker_config;

ct_err ct_worker_start(const ct_worker_config *cfg, ct_meta *meta, ct_store *store, ct_mc *mc,
                       ct_worker **out);
void ct_worker_kick(ct_worker *w);
/* Stops claiming; running jobs are handed back (their child killed, their
 * lease ended so the next claim takes them). */
void ct_worker_stop(ct_worker *w);

#endif
