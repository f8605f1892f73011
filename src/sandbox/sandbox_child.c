/* sandbox_child: `cattube transcode`, the sandboxed side.
 *
 * Order matters: read the (trusted) plan from fd 0, close every fd but
 * 0..2 and 3..3+N, lock the process down (no_new_privs, pdeathsig,
 * non-dumpable, core/nofile limits, arena cap, network namespace when the
 * kernel lets us), install the seccomp allow-list, and only then let libav
 * touch the untrusted input. CPU/AS/FSIZE limits are set on this process by
 * the parent with prlimit() before it sends the plan, so they are in place
 * before we get this far. Exit status is 0 whenever a result line was
 * written, even for input errors (the result carries the error code). */
#include "sandbox/sandbox_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#define REPORT_FD 1
#define INPUT_FD 3

int ct_sandbox_write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static void child_progress(void *ctx, const char *phase, int percent)
{
    char line[96];
    (void)ctx;
    int n = snprintf(line, sizeof line, "progress %s %d\n", phase, percent);
    if (n > 0 && (size_t)n < sizeof line)
        ct_sandbox_write_all(REPORT_FD, line, (size_t)n);
}

/* Reads fd 0 to EOF; heap string or NULL (too large / read error). */
static char *read_plan(void)
{
    size_t cap = 16384, len = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (len + 1 == cap) {
            char *nb = cap >= CT_SANDBOX_PLAN_MAX ? NULL : realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                return NULL;
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t r = read(0, buf + len, cap - 1 - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            free(buf);
            return NULL;
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
    if (buf)
        buf[len] = '\0';
    return buf;
}

/* fd 0 becomes /dev/null; everything at or above 4+N is closed. */
int ct_sandbox_settle_fds(int n_outputs) /* outputs and further inputs */
{
    int nul = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (nul < 0 || dup2(nul, 0) < 0)
        return -1;
    close(nul);
    for (int fd = INPUT_FD; fd < 4 + n_outputs; fd++)
        if (fcntl(fd, F_GETFD) < 0)
            return -1;
    return close_range(4 + (unsigned)n_outputs, ~0U, 0);
}

static int set_limit(int res, rlim_t v)
{
    struct rlimit rl;
    if (getrlimit(res, &rl) == 0 && rl.rlim_max != RLIM_INFINITY && rl.rlim_max < v)
        v = rl.rlim_max; /* never try to raise what the parent lowered */
    rl.rlim_cur = rl.rlim_max = v;
    return setrlimit(res, &rl);
}

int ct_sandbox_lock_down(int n_outputs)
{
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
        prctl(PR_SET_DUMPABLE, 0) != 0)
        return -1;
    mallopt(M_ARENA_MAX, 2);
    if (set_limit(RLIMIT_CORE, 0) != 0 || set_limit(RLIMIT_NOFILE, (rlim_t)n_outputs + 4 + 16) != 0)
        return -1;
    /* Best effort: Docker's default profile refuses unshare. */
    if (unshare(CLONE_NEWUSER | CLONE_NEWNET) != 0)
        (void)unshare(CLONE_NEWNET);
    return 0;
}

static void emit_result(const ct_transcode_result *res, int n_outputs)
{
    char *json = ct_sandbox_result_to_json(res, n_outputs);
    if (!json)
        return;
    ct_sandbox_write_all(REPORT_FD, "result ", 7);
    ct_sandbox_write_all(REPORT_FD, json, strlen(json));
    ct_sandbox_write_all(REPORT_FD, "\n", 1);
    free(json);
}

int ct_sandbox_child_main(void)
{
    static ct_plan plan; /* large; keep it off the stack */
    static ct_transcode_result res;
    char err[256];
    int out_fds[CT_PLAN_MAX_OUTPUTS], in_fds[CT_PLAN_MAX_INPUTS];
    signal(SIGPIPE, SIG_IGN);
    signal(SIGXFSZ, SIG_IGN); /* over RLIMIT_FSIZE: write fails with EFBIG -> error 1050 */
    setenv("SVT_LOG", "1", 0); /* SVT-AV1: errors only */
    char *json = read_plan();
    if (!json || ct_plan_from_json(json, &plan, err, sizeof err) != CT_OK) {
        fprintf(stderr, "cattube transcode: bad plan on stdin: %s\n", json ? err : "unreadable or too large");
        free(json);
        return 3;
    }
    free(json);
    int n_in = plan.n_inputs > 1 ? plan.n_inputs : 1; /* inputs 2.. come after the outputs */
    if (ct_sandbox_settle_fds(plan.n_outputs + n_in - 1) != 0) {
        fprintf(stderr, "cattube transcode: expected fds 3..%d (input, outputs, further inputs)\n",
                2 + plan.n_outputs + n_in);
        return 3;
    }
    int locked = ct_sandbox_lock_down(plan.n_outputs + n_in - 1) == 0;
    if (locked) /* encoders read /sys and /proc once; nothing here reads the input */
        ct_transcode_preload(&plan);
    if (!locked || ct_sandbox_seccomp_install() != 0) {
        fprintf(stderr, "cattube transcode: sandbox setup failed: %s\n", strerror(errno));
        return 4;
    }
    for (int i = 0; i < plan.n_outputs; i++)
        out_fds[i] = 4 + i;
    in_fds[0] = INPUT_FD;
    for (int i = 1; i < n_in; i++)
        in_fds[i] = 4 + plan.n_outputs + i - 1;
    ct_transcode_run_inputs(&plan, in_fds, n_in, out_fds, child_progress, NULL, &res);
    emit_result(&res, plan.n_outputs);
#if defined(__SANITIZE_ADDRESS__)
    _exit(0); /* LSan's exit-time check clones a ptrace tracer: seccomp kills that */
#endif
    return 0;
}
