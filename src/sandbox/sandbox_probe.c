/* sandbox_probe: MediaConvert's Probe in the same sandbox as a transcode.
 *
 * DESIGN: a probe parses untrusted media just like a transcode does, so it
 * never runs in the server: the parent spawns `cattube transcode --probe`
 * with fd 0 = a go-pipe, fd 1 = the report pipe, fd 3 = the input. The
 * child blocks on fd 0 until the parent has applied CPU/AS/FSIZE limits
 * with prlimit() and closed the pipe, then locks down exactly like the
 * transcode child (settle fds, no_new_privs, pdeathsig, seccomp) and writes
 * one line: "probe {json}" or "error CODE message". The parent reads it
 * with a wall-clock limit, kills the child past it, and always reaps it. */
#include "sandbox/sandbox_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define PROBE_WALL_MS 30000
#define PROBE_CPU_S 20
#define PROBE_AS_BYTES ((rlim_t)2 << 30)
#define PROBE_REPORT_MAX ((size_t)256 << 10)

/* ------------------------------------------------------------------ child */

int ct_sandbox_probe_child_main(void)
{
    static ct_transcode_result res;
    char go[64], line[640];
    char *json = NULL;
    ssize_t r;
    signal(SIGPIPE, SIG_IGN);
    while ((r = read(0, go, sizeof go)) > 0 || (r < 0 && errno == EINTR))
        ; /* the parent closes its end once our limits are set */
    if (ct_sandbox_settle_fds(0) != 0 || ct_sandbox_lock_down(0) != 0 ||
        ct_sandbox_seccomp_install() != 0) {
        fprintf(stderr, "cattube transcode --probe: sandbox setup failed: %s\n", strerror(errno));
        return 4;
    }
    if (ct_transcode_probe(3, &json, &res) == CT_OK) {
        ct_sandbox_write_all(1, "probe ", 6);
        ct_sandbox_write_all(1, json, strlen(json));
        ct_sandbox_write_all(1, "\n", 1);
    } else {
        int n = snprintf(line, sizeof line, "error %d %s\n", res.error_code ? res.error_code : 1999,
                         res.error_message);
        ct_sandbox_write_all(1, line, n > 0 && (size_t)n < sizeof line ? (size_t)n : strlen(line));
    }
    free(json);
#if defined(__SANITIZE_ADDRESS__)
    _exit(0); /* LSan's exit-time check clones a ptrace tracer: seccomp kills that */
#endif
    return 0;
}

/* ----------------------------------------------------------------- parent */

typedef struct {
    int in_fd, go[2], rep[2];
    pid_t pid;
    char *buf;
    size_t len;
} probe_run;

static int open_fds(probe_run *p, const char *path)
{
    p->in_fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (p->in_fd < 0 || pipe2(p->go, O_CLOEXEC) != 0 || pipe2(p->rep, O_CLOEXEC) != 0)
        return -1;
    /* >= 4: the child's dup2 targets (0, 1, 3) cannot clobber them */
    return ct_sandbox_raise_fd(&p->in_fd, 4) || ct_sandbox_raise_fd(&p->go[0], 4) ||
                   ct_sandbox_raise_fd(&p->go[1], 4) || ct_sandbox_raise_fd(&p->rep[0], 4) ||
                   ct_sandbox_raise_fd(&p->rep[1], 4)
               ? -1
               : 0;
}

static int limit(pid_t pid, const ct_sandbox_limits *lim)
{
    rlim_t cpu = lim->cpu_limit_s > 0 && lim->cpu_limit_s < PROBE_CPU_S ? (rlim_t)lim->cpu_limit_s
                                                                         : PROBE_CPU_S;
    return ct_sandbox_limit_child(pid, cpu, cpu + 2, 0, PROBE_AS_BYTES);
}

/* Reads the report to EOF within wall_ms. */
static ct_err read_report(probe_run *p, int64_t wall_ms)
{
    int64_t deadline = ct_mono_ms() + wall_ms;
    p->buf = malloc(PROBE_REPORT_MAX + 1);
    if (!p->buf)
        return CT_ERR_NOMEM;
    for (;;) {
        int64_t left = deadline - ct_mono_ms();
        struct pollfd pfd = {p->rep[0], POLLIN, 0};
        if (left <= 0)
            return CT_ERR_TIMEOUT;
        int n = poll(&pfd, 1, (int)(left > 1000 ? 1000 : left));
        if (n < 0 && errno != EINTR)
            return CT_ERR_IO;
        if (n <= 0)
            continue;
        ssize_t r = read(p->rep[0], p->buf + p->len, PROBE_REPORT_MAX - p->len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return CT_ERR_IO;
        if (r == 0)
            break;
        if ((p->len += (size_t)r) >= PROBE_REPORT_MAX)
            return CT_ERR_TOO_LARGE;
    }
    p->buf[p->len] = '\0';
    return CT_OK;
}

static ct_err parse_report(probe_run *p, char **json_out, ct_transcode_result *res)
{
    char *nl = p->buf ? strchr(p->buf, '\n') : NULL;
    int code = 0, off = 0;
    if (!nl)
        return CT_ERR_INTERNAL;
    *nl = '\0';
    if (strncmp(p->buf, "probe ", 6) == 0) {
        *json_out = strdup(p->buf + 6);
        return *json_out ? CT_OK : CT_ERR_NOMEM;
    }
    if (sscanf(p->buf, "error %d %n", &code, &off) == 1 && off > 0) {
        res->error_code = code;
        snprintf(res->error_message, sizeof res->error_message, "%s", p->buf + off);
        return CT_ERR_INVALID;
    }
    return CT_ERR_INTERNAL;
}

ct_err ct_sandbox_probe(const char *input_path, const ct_sandbox_limits *lim, char **json_out,
                        ct_transcode_result *result)
{
    probe_run p = {.in_fd = -1, .go = {-1, -1}, .rep = {-1, -1}, .pid = -1};
    const char *exe = lim->self_exe ? lim->self_exe : "/proc/self/exe";
    int64_t wall = lim->wall_limit_ms > 0 && lim->wall_limit_ms < PROBE_WALL_MS ? lim->wall_limit_ms
                                                                                 : PROBE_WALL_MS;
    ct_err err = CT_ERR_INTERNAL;
    int status = 0;
    memset(result, 0, sizeof *result);
    *json_out = NULL;
    if (open_fds(&p, input_path) != 0) {
        result->error_code = 1010;
        snprintf(result->error_message, sizeof result->error_message, "input: cannot open (%s)",
                 strerror(errno));
        err = p.in_fd < 0 ? CT_ERR_INVALID : CT_ERR_INTERNAL;
        goto cleanup;
    }
    if (ct_sandbox_spawn(exe, "--probe", p.go[0], p.rep[1], &p.in_fd, 1, &p.pid) != 0)
        goto cleanup;
    ct_sandbox_close_fd(&p.rep[1]);
    ct_sandbox_close_fd(&p.go[0]);
    if (limit(p.pid, lim) != 0)
        goto cleanup; /* the child is killed below, before it saw the input */
    ct_sandbox_close_fd(&p.go[1]); /* go */
    if ((err = read_report(&p, wall)) != CT_OK) {
        result->error_code = 1999;
        snprintf(result->error_message, sizeof result->error_message, "probe: %s",
                 err == CT_ERR_TIMEOUT ? "took too long" : "unreadable report from the child");
        err = err == CT_ERR_TIMEOUT ? err : CT_ERR_INTERNAL;
        goto cleanup;
    }
    err = parse_report(&p, json_out, result);
cleanup:
    if (p.pid > 0) {
        if (err != CT_OK && err != CT_ERR_INVALID)
            kill(p.pid, SIGKILL);
        while (waitpid(p.pid, &status, 0) < 0 && errno == EINTR)
            ;
    }
    if (err == CT_ERR_INTERNAL && !result->error_code) {
        result->error_code = 1999;
        snprintf(result->error_message, sizeof result->error_message,
                 "probe: the sandboxed child failed (status %d)", status);
    }
    ct_sandbox_close_fd(&p.in_fd);
    ct_sandbox_close_fd(&p.go[0]);
    ct_sandbox_close_fd(&p.go[1]);
    ct_sandbox_close_fd(&p.rep[0]);
    ct_sandbox_close_fd(&p.rep[1]);
    free(p.buf);
    return err;
}
