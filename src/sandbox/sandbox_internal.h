/* sandbox internals: the report-line protocol shared by parent and child. */
#ifndef CT_SANDBOX_INTERNAL_H
#define CT_SANDBOX_INTERNAL_H

#include "sandbox/sandbox.h"

#include <sys/resource.h>
#include <sys/types.h>

#define CT_SANDBOX_PLAN_MAX ((size_t)1 << 20) /* plan JSON read by the child */
#define CT_SANDBOX_LINE_MAX ((size_t)64 << 10) /* one report line */

/* ct_transcode_result <-> JSON (n_outputs entries). to_json returns a heap
 * string or NULL. */
char *ct_sandbox_result_to_json(const ct_transcode_result *r, int n_outputs);
ct_err ct_sandbox_result_from_json(const char *json, ct_transcode_result *r);

/* Child side, shared by the transcode and probe children (sandbox_child.c):
 * fd 0 becomes /dev/null, fds 3..3+n must exist, everything from 4+n is
 * closed; then no_new_privs, pdeathsig, rlimits, network namespace. 0/-1. */
int ct_sandbox_settle_fds(int n_outputs);
int ct_sandbox_lock_down(int n_outputs);
/* write() of all n bytes (EINTR retried); 0/-1. */
int ct_sandbox_write_all(int fd, const char *p, size_t n);

/* Parent side, shared by the transcode and probe parents (sandbox_spawn.c). */
void ct_sandbox_close_fd(int *fd); /* closes a fd >= 0, sets it to -1 */
/* Moves fd to a number >= min (close-on-exec kept), so that the child's
 * dup2 targets cannot clobber it. 0/-1. */
int ct_sandbox_raise_fd(int *fd, int min);
/* Starts `exe transcode [arg]` with child fd 0 = fd0, 1 = fd1, 3.. =
 * from3[0..n3-1] and nothing else open, a minimal environment (no server
 * secrets), an empty signal mask, default dispositions, in its own process
 * group. Every parent fd must already be >= 3 + n3. 0 or an errno value. */
int ct_sandbox_spawn(const char *exe, const char *arg, int fd0, int fd1, const int *from3, int n3,
                     pid_t *pid);
/* RLIMIT_CPU (soft/hard seconds), RLIMIT_FSIZE and RLIMIT_AS (not under
 * ASan) on the child with prlimit(). 0/-1. */
int ct_sandbox_limit_child(pid_t pid, rlim_t cpu_s, rlim_t cpu_hard_s, rlim_t file_bytes,
                           rlim_t as_bytes);

/* Installs the seccomp allow-list (sandbox_seccomp.c). 0 or -errno. */
int ct_sandbox_seccomp_install(void);

#endif
