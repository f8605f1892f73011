/* sandbox_parent: ct_sandbox_transcode, run from a worker thread of the
 * multi-threaded server.
 *
 * Thread safety: no global state; every fd is created O_CLOEXEC (so a
 * concurrent spawn from another thread never inherits ours) and moved above
 * the child's fd layout before spawning, so the dup2 actions cannot clobber
 * each other. The child is started with posix_spawn (vfork-style, no
 * async-signal-safety traps in a threaded parent), an empty signal mask and
 * default dispositions. Limits are applied with prlimit() while the child
 * is still blocked reading the plan, i.e. before it sees any input.
 * The plan goes over a socketpair so a dead child gives EPIPE, never
 * SIGPIPE (send with MSG_NOSIGNAL). The child is always reaped. */
#include "sandbox/sandbox_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define TICK_MS 200
#define HEARTBEAT_MS 1000

typedef struct {
    const ct_plan *plan;
    ct_sandbox_limits lim;
    ct_sandbox_progress_fn progress;
    void *ctx;
    ct_transcode_result *res;
    int in_fd, out_fds[CT_PLAN_MAX_OUTPUTS];
    int more_in[CT_PLAN_MAX_INPUTS - 1]; /* inputs 2.. (plan->inputs[1..].path) */
    int n_more;
    int bundle_fds[CT_PLAN_MAX_OUTPUTS]; /* parent's copies, unpacked after the run */
    int plan_parent, plan_child, rep_parent, rep_child;
    pid_t pid;
    char *plan_json;
    size_t plan_len, plan_off;
    char *line;
    size_t line_len;
    char phase[32];
    int percent, got_result, canceled, timed_out;
    int64_t last_cb_ms;
} sb_run;

static void set_msg(ct_transcode_result *r, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_msg(ct_transcode_result *r, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->error_message, sizeof r->error_message, fmt, ap);
    va_end(ap);
    r->error_code = code;
}

/* Multi-file output: an unlinked scratch file inside its directory (so it
 * is never uploaded), plus a copy the parent keeps for unpacking. */
static int open_bundle(sb_run *s, int i)
{
    char p[CT_PLAN_PATH_MAX + 32];
    if (ct_snprintf(p, sizeof p, "%s/.bundle-%d", s->plan->outputs[i].path, i) != CT_OK) {
        errno = ENAMETOOLONG;
        return -1;
    }
    s->out_fds[i] = open(p, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW, 0600);
    if (s->out_fds[i] < 0)
        return -1;
    unlink(p);
    s->bundle_fds[i] = fcntl(s->out_fds[i], F_DUPFD_CLOEXEC, 0);
    return s->bundle_fds[i] < 0 ? -1 : 0;
}

static int open_output(sb_run *s, int i)
{
    const ct_plan_output *o = &s->plan->outputs[i];
    if (ct_plan_output_is_multi(o))
        return open_bundle(s, i);
    s->out_fds[i] = open(o->path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOCTTY, 0600);
    return s->out_fds[i] < 0 ? -1 : 0;
}

static ct_err open_files(sb_run *s)
{
    const ct_plan *p = s->plan;
    s->n_more = p->n_inputs > 1 ? p->n_inputs - 1 : 0;
    int min = 5 + p->n_outputs + s->n_more, sp[2], pp[2];
    s->in_fd = open(p->input_path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (s->in_fd < 0) {
        set_msg(s->res, CT_MC_ERR_INPUT_UNREADABLE, "input: cannot open (%s)", strerror(errno));
        return CT_ERR_IO;
    }
    for (int i = 0; i < s->n_more; i++) {
        s->more_in[i] = open(p->inputs[i + 1].path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (s->more_in[i] < 0 || ct_sandbox_raise_fd(&s->more_in[i], min) != 0) {
            set_msg(s->res, CT_MC_ERR_INPUT_UNREADABLE, "input %d: cannot open (%s)", i + 2, strerror(errno));
            return CT_ERR_IO;
        }
    }
    for (int i = 0; i < p->n_outputs; i++) {
        if (open_output(s, i) != 0) {
            set_msg(s->res, CT_MC_ERR_DISK, "output %d: cannot create (%s)", i + 1, strerror(errno));
            return CT_ERR_IO;
        }
    }
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) != 0 || pipe2(pp, O_CLOEXEC) != 0) {
        set_msg(s->res, CT_MC_ERR_UNKNOWN, "sandbox: cannot create pipes (%s)", strerror(errno));
        return CT_ERR_INTERNAL;
    }
    s->plan_parent = sp[0];
    s->plan_child = sp[1];
    s->rep_parent = pp[0];
    s->rep_child = pp[1];
    int ok = ct_sandbox_raise_fd(&s->in_fd, min) == 0 && ct_sandbox_raise_fd(&s->plan_child, min) == 0 &&
             ct_sandbox_raise_fd(&s->rep_child, min) == 0;
    for (int i = 0; ok && i < p->n_outputs; i++)
        ok = ct_sandbox_raise_fd(&s->out_fds[i], min) == 0;
    if (!ok || fcntl(s->plan_parent, F_SETFL, O_NONBLOCK) != 0) {
        set_msg(s->res, CT_MC_ERR_UNKNOWN, "sandbox: fd setup failed (%s)", strerror(errno));
        return CT_ERR_INTERNAL;
    }
    return CT_OK;
}

static ct_err spawn_child(sb_run *s)
{
    const char *exe = s->lim.self_exe ? s->lim.self_exe : "/proc/self/exe";
    int n = s->plan->n_outputs, from3[1 + CT_PLAN_MAX_OUTPUTS + CT_PLAN_MAX_INPUTS - 1];
    from3[0] = s->in_fd;
    memcpy(from3 + 1, s->out_fds, sizeof s->out_fds[0] * (size_t)n);
    /* further inputs after the outputs */
    memcpy(from3 + 1 + n, s->more_in, sizeof s->more_in[0] * (size_t)s->n_more);
    int rc = ct_sandbox_spawn(exe, NULL, s->plan_child, s->rep_child, from3, 1 + n + s->n_more,
                              &s->pid);
    if (rc != 0) {
        set_msg(s->res, CT_MC_ERR_UNKNOWN, "sandbox: cannot start %s (%s)", exe, strerror(rc));
        return CT_ERR_INTERNAL;
    }
    return CT_OK;
}

static int limit_child(sb_run *s)
{
    const ct_sandbox_limits *l = &s->lim;
    return ct_sandbox_limit_child(s->pid, (rlim_t)l->cpu_limit_s, (rlim_t)l->cpu_limit_s + 5,
                                  (rlim_t)l->file_limit_bytes, (rlim_t)l->mem_limit_bytes);
}

static int call_progress(sb_run *s)
{
    s->last_cb_ms = ct_mono_ms();
    if (s->progress && s->phase[0] && s->progress(s->ctx, s->phase, s->percent) != 0)
        s->canceled = 1;
    return s->canceled;
}

static void handle_line(sb_run *s, char *line)
{
    char phase[32];
    int pct;
    if (strncmp(line, "progress ", 9) == 0) {
        if (sscanf(line + 9, "%31s %d", phase, &pct) == 2 && pct >= 0 && pct <= 100) {
            snprintf(s->phase, sizeof s->phase, "%s", phase);
            s->percent = pct;
            call_progress(s);
        }
    } else if (strncmp(line, "result ", 7) == 0) {
        s->got_result = ct_sandbox_result_from_json(line + 7, s->res) == CT_OK;
    }
}

/* Reads what the child reported; 1 at EOF, 0 otherwise. */
static int read_reports(sb_run *s)
{
    char buf[4096];
    ssize_t r = read(s->rep_parent, buf, sizeof buf);
    if (r < 0)
        return errno == EINTR || errno == EAGAIN ? 0 : 1;
    if (r == 0)
        return 1;
    for (ssize_t i = 0; i < r && !s->canceled; i++) {
        if (buf[i] == '\n') {
            s->line[s->line_len] = '\0';
            handle_line(s, s->line);
            s->line_len = 0;
        } else if (s->line_len + 1 < CT_SANDBOX_LINE_MAX) {
            s->line[s->line_len++] = buf[i];
        } /* longer lines are truncated and then fail to parse */
    }
    return 0;
}

static void send_plan(sb_run *s)
{
    ssize_t w = send(s->plan_parent, s->plan_json + s->plan_off, s->plan_len - s->plan_off, MSG_NOSIGNAL);
    if (w > 0)
        s->plan_off += (size_t)w;
    if ((w < 0 && errno != EAGAIN && errno != EINTR) || s->plan_off == s->plan_len)
        ct_sandbox_close_fd(&s->plan_parent); /* done (EOF for the child) or the child is gone */
}

/* Pumps the pipes until the child closes its report pipe, the wall clock
 * runs out, or the caller cancels. */
static void supervise(sb_run *s)
{
    int64_t deadline = ct_mono_ms() + s->lim.wall_limit_ms;
    s->last_cb_ms = ct_mono_ms();
    for (;;) {
        struct pollfd pf[2] = {{s->rep_parent, POLLIN, 0}, {s->plan_parent, POLLOUT, 0}};
        int64_t now = ct_mono_ms();
        if (now >= deadline) {
            s->timed_out = 1;
            return;
        }
        int64_t wait = deadline - now < TICK_MS ? deadline - now : TICK_MS;
        int n = poll(pf, s->plan_parent >= 0 ? 2 : 1, (int)wait);
        if (n < 0 && errno != EINTR)
            return;
        if (s->plan_parent >= 0 && (pf[1].revents & (POLLOUT | POLLERR | POLLHUP)))
            send_plan(s);
        if ((pf[0].revents & (POLLIN | POLLERR | POLLHUP)) && read_reports(s))
            return;
        if (s->canceled)
            return;
        /* Heartbeat: lets the caller cancel even while the child is quiet. */
        if (ct_mono_ms() - s->last_cb_ms >= HEARTBEAT_MS && call_progress(s))
            return;
    }
}

/* Waits for the child to exit on its own (up to grace_ms), then kills it. */
static int reap(pid_t pid, int64_t grace_ms)
{
    int status = 0;
    int64_t end = ct_mono_ms() + grace_ms;
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            return status;
        if (r < 0 && errno != EINTR)
            return -1;
        if (ct_mono_ms() >= end)
            break;
        usleep(10000);
    }
    kill(pid, SIGKILL);
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return status;
}

static const char *signal_reason(int sig)
{
    switch (sig) {
    case SIGSYS: return "seccomp blocked a system call";
    case SIGXCPU: return "CPU time limit";
    case SIGKILL: return "killed: CPU hard limit or out of memory";
    case SIGXFSZ: return "output size limit";
    case SIGSEGV: return "crashed";
    case SIGABRT: return "aborted, possibly out of memory under the address-space limit";
    default: return "unexpected signal";
    }
}

static ct_err conclude(sb_run *s, int status)
{
    ct_transcode_result *r = s->res;
    if (s->canceled) {
        set_msg(r, CT_MC_ERR_UNKNOWN, "transcode canceled");
        return CT_ERR_CANCELED;
    }
    if (s->timed_out) {
        set_msg(r, CT_MC_ERR_UNKNOWN, "transcode exceeded the wall-clock limit of %lld s",
                (long long)(s->lim.wall_limit_ms / 1000));
        return CT_ERR_TIMEOUT;
    }
    if (status >= 0 && WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        const char *abbrev = sigabbrev_np(sig);
        memset(r, 0, sizeof *r);
        set_msg(r, CT_MC_ERR_UNKNOWN, "transcode child killed by signal SIG%s (%s)",
                abbrev ? abbrev : "?", signal_reason(sig));
        return CT_ERR_INTERNAL;
    }
    if (status < 0 || WEXITSTATUS(status) != 0 || !s->got_result) {
        memset(r, 0, sizeof *r);
        set_msg(r, CT_MC_ERR_UNKNOWN, "transcode child exited with status %d without a result",
                status < 0 ? -1 : WEXITSTATUS(status));
        return CT_ERR_INTERNAL;
    }
    return CT_OK;
}

static ct_err unpack_all(sb_run *s)
{
    char err[512];
    for (int i = 0; i < s->plan->n_outputs; i++) {
        if (s->bundle_fds[i] < 0)
            continue;
        ct_err e = ct_sandbox_unpack_bundle(s->bundle_fds[i], s->plan->outputs[i].path, err, sizeof err);
        if (e != CT_OK) {
            set_msg(s->res, e == CT_ERR_IO ? CT_MC_ERR_DISK : CT_MC_ERR_UNKNOWN,
                    "output %d: cannot unpack files (%s)", i + 1, err);
            return e;
        }
    }
    return CT_OK;
}

static void limits_defaults(ct_sandbox_limits *l, const ct_sandbox_limits *in)
{
    if (in)
        *l = *in;
    if (l->wall_limit_ms <= 0)
        l->wall_limit_ms = 6LL * 3600 * 1000;
    if (l->cpu_limit_s <= 0)
        l->cpu_limit_s = 6LL * 3600;
    if (l->mem_limit_bytes <= 0)
        l->mem_limit_bytes = 8LL << 30;
    if (l->file_limit_bytes <= 0)
        l->file_limit_bytes = 64LL << 30;
}

static ct_err start(sb_run *s)
{
    ct_err e = open_files(s);
    if (e == CT_OK)
        e = spawn_child(s);
    ct_sandbox_close_fd(&s->plan_child);
    ct_sandbox_close_fd(&s->rep_child);
    ct_sandbox_close_fd(&s->in_fd);
    for (int i = 0; i < CT_PLAN_MAX_OUTPUTS; i++)
        ct_sandbox_close_fd(&s->out_fds[i]);
    for (int i = 0; i < CT_PLAN_MAX_INPUTS - 1; i++)
        ct_sandbox_close_fd(&s->more_in[i]);
    if (e == CT_OK && limit_child(s) != 0) {
        set_msg(s->res, CT_MC_ERR_UNKNOWN, "sandbox: prlimit failed (%s)", strerror(errno));
        kill(s->pid, SIGKILL);
        e = CT_ERR_INTERNAL;
    }
    return e;
}

ct_err ct_sandbox_transcode(const ct_plan *plan, const ct_sandbox_limits *lim,
                            ct_sandbox_progress_fn progress, void *ctx, ct_transcode_result *result)
{
    sb_run s = {.plan = plan, .progress = progress, .ctx = ctx, .res = result, .in_fd = -1,
                .plan_parent = -1, .plan_child = -1, .rep_parent = -1, .rep_child = -1, .pid = -1};
    ct_err e;
    memset(result, 0, sizeof *result);
    for (int i = 0; i < CT_PLAN_MAX_OUTPUTS; i++)
        s.out_fds[i] = s.bundle_fds[i] = -1;
    for (int i = 0; i < CT_PLAN_MAX_INPUTS - 1; i++)
        s.more_in[i] = -1;
    if (!plan || plan->n_outputs < 1 || plan->n_outputs > CT_PLAN_MAX_OUTPUTS ||
        plan->n_inputs > CT_PLAN_MAX_INPUTS) {
        set_msg(result, CT_MC_ERR_SETTINGS, "plan: bad output count");
        return CT_ERR_INVALID;
    }
    limits_defaults(&s.lim, lim);
    s.plan_json = ct_plan_to_json(plan);
    s.line = malloc(CT_SANDBOX_LINE_MAX);
    if (!s.plan_json || !s.line) {
        set_msg(result, CT_MC_ERR_UNKNOWN, "sandbox: out of memory");
        e = CT_ERR_NOMEM;
        goto cleanup;
    }
    s.plan_len = strlen(s.plan_json);
    e = start(&s);
    if (s.pid > 0) {
        if (e == CT_OK)
            supervise(&s);
        int killed = e != CT_OK || s.canceled || s.timed_out;
        int status = reap(s.pid, killed ? 0 : 5000);
        if (e == CT_OK)
            e = conclude(&s, status);
        if (e == CT_OK && result->error_code == 0)
            e = unpack_all(&s);
    }
cleanup:
    for (int i = 0; i < CT_PLAN_MAX_OUTPUTS; i++)
        ct_sandbox_close_fd(&s.bundle_fds[i]);
    ct_sandbox_close_fd(&s.plan_parent);
    ct_sandbox_close_fd(&s.rep_parent);
    free(s.plan_json);
    free(s.line);
    return e;
}
