/* sandbox internals: the report-line protocol shared by parent and child. */
#ifndef CT_SANDBOX_INTERNAL_H
#define CT_SANDBOX_INTERNAL_H

#include "sandbox/sandbox.h"

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
/* Parent side: the child's minimal environment (sandbox_parent.c). */
void ct_sandbox_child_env(char **env, size_t cap);

/* Installs the seccomp allow-list (sandbox_seccomp.c). 0 or -errno. */
int ct_sandbox_seccomp_install(void);

#endif
