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

/* Installs the seccomp allow-list (sandbox_seccomp.c). 0 or -errno. */
int ct_sandbox_seccomp_install(void);

#endif
