/* sandbox: runs a transcode in a child process under seccomp-bpf and rlimits.
 *
 * DESIGN: the parent (a worker thread) opens the input and creates the output
 * files, then re-executes /proc/self/exe as `cattube transcode` with:
 *   fd 0: the plan as JSON (a socketpair end, read to EOF)
 *   fd 1: the report pipe (line protocol below)
 *   fd 3: the input file; fd 4..4+N-1: the outputs; fd 4+N..: the further
 *   inputs of a job with several (plan->inputs[1..])
 * The child closes everything else, sets no_new_privs, rlimits, tries to
 * unshare the network, installs the seccomp allow-list (no socket, execve or
 * open of new files), and calls ct_transcode_run. Report lines:
 *   "progress PHASE PERCENT\n"
 *   "result {json}\n"      (ct_transcode_result as JSON; last line)
 * The parent enforces a wall-clock limit and cancellation by SIGKILL, and
 * always reaps the child. CPU, address-space and file-size limits are set
 * by the parent with prlimit() while the child still waits for the plan;
 * the child gets a minimal environment (no server secrets). */
#ifndef CT_SANDBOX_H
#define CT_SANDBOX_H

#include "core/plan.h"
#include "transcode/transcode.h"

typedef struct {
    int64_t wall_limit_ms;       /* kill after this long (0 = 6 h) */
    int64_t cpu_limit_s;         /* RLIMIT_CPU (0 = 6 h) */
    int64_t mem_limit_bytes;     /* RLIMIT_AS (0 = 8 GiB) */
    int64_t file_limit_bytes;    /* RLIMIT_FSIZE (0 = 64 GiB) */
    const char *self_exe;        /* path of the cattube binary (NULL = /proc/self/exe) */
} ct_sandbox_limits;

/* Called from the parent's thread for every progress line, and again with
 * the last phase/percent at least once a second while the child is quiet
 * (a heartbeat, so cancellation works between progress lines). Return
 * nonzero to cancel (the child is killed within a second). */
typedef int (*ct_sandbox_progress_fn)(void *ctx, const char *phase, int percent);

/* Runs plan in a sandboxed child. The plan's input_path and output paths
 * are opened by the parent (outputs created/truncated, mode 0600). Returns
 * CT_OK with result filled (result->error_code may be nonzero for input
 * errors); CT_ERR_CANCELED when progress asked to cancel; CT_ERR_TIMEOUT;
 * CT_ERR_INTERNAL when the child crashed or was killed by seccomp/rlimit
 * (result->error_code set to 1999 or 1010 with a message). */
ct_err ct_sandbox_transcode(const ct_plan *plan, const ct_sandbox_limits *lim,
                            ct_sandbox_progress_fn progress, void *ctx,
                            ct_transcode_result *result);

/* Multi-file outputs (HLS, frame capture; ct_plan_output_is_multi): the
 * plan's path is a directory that must exist. The parent hands the child
 * an unlinked scratch file in it instead of a directory: the child appends
 * one record per file it finishes (core/plan.h, "Bundle"), so it never
 * opens anything by name and seccomp keeps refusing openat(). After a
 * successful run the parent unpacks the records into the directory with
 * ct_sandbox_unpack_bundle (names validated, openat on the directory fd,
 * O_NOFOLLOW). Returns CT_ERR_INVALID for a malformed bundle or a refused
 * name, CT_ERR_IO for file-system errors; err says which. */
ct_err ct_sandbox_unpack_bundle(int bundle_fd, const char *dir, char *err, size_t errlen);

/* MediaConvert's Probe of a local file in a sandboxed child (`cattube
 * transcode --probe`: fd 0 a go-pipe, fd 1 the report, fd 3 the input; the
 * same lock-down and seccomp as a transcode). *json_out (heap) is the
 * Container JSON of ct_transcode_probe. CT_ERR_INVALID with
 * result->error_code/message for unreadable input; CT_ERR_TIMEOUT past the
 * wall limit (0 = 30 s); CT_ERR_INTERNAL when the child failed. */
ct_err ct_sandbox_probe(const char *input_path, const ct_sandbox_limits *lim, char **json_out,
                        ct_transcode_result *result);
int ct_sandbox_probe_child_main(void);

/* Entry point of `cattube transcode` (the child side). Returns the exit code. */
int ct_sandbox_child_main(void);

#endif
