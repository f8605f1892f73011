/* sandbox_spawn: the parent-side steps every sandboxed child shares (the
 * transcode of sandbox_parent.c and the probe of sandbox_probe.c): fds moved
 * out of the way of the child's layout, posix_spawn of `cattube transcode`
 * with a minimal environment in its own process group, and the prlimit()
 * limits applied while the child still waits for its go. */
#include "sandbox/sandbox_internal.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

extern char **environ;

void ct_sandbox_close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

int ct_sandbox_raise_fd(int *fd, int min)
{
    if (*fd < 0 || *fd >= min)
        return 0;
    int n = fcntl(*fd, F_DUPFD_CLOEXEC, min);
    if (n < 0)
        return -1;
    close(*fd);
    *fd = n;
    return 0;
}

/* The child gets a minimal environment: the server's may hold secrets, and
 * a compromised decoder could copy them into an output the user downloads.
 * Sanitizer settings pass through so test builds behave. */
static void child_env(char **env, size_t cap)
{
    static const char *const pass[] = {"ASAN_OPTIONS=", "UBSAN_OPTIONS=", "LSAN_OPTIONS="};
    size_t n = 0;
    env[n++] = (char *)"SVT_LOG=1";
    env[n++] = (char *)"MALLOC_ARENA_MAX=2";
    for (char **e = environ; *e && n + 1 < cap; e++)
        for (size_t i = 0; i < CT_ARRAY_LEN(pass); i++)
            if (strncmp(*e, pass[i], strlen(pass[i])) == 0)
                env[n++] = *e;
    env[n] = NULL;
}

int ct_sandbox_spawn(const char *exe, const char *arg, int fd0, int fd1, const int *from3, int n3,
                     pid_t *pid)
{
    char *env[8];
    char *argv[] = {(char *)exe, (char *)"transcode", (char *)arg, NULL};
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    sigset_t none, all;
    child_env(env, CT_ARRAY_LEN(env));
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&at);
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &all);
    /* Its own process group: a signal to the worker's group (Ctrl-C, a
     * service manager's SIGTERM) must reach the worker, which decides, and
     * not kill the child under it. PDEATHSIG still ends the child if the
     * worker dies. */
    posix_spawnattr_setpgroup(&at, 0);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
                                      POSIX_SPAWN_SETPGROUP);
    int rc = posix_spawn_file_actions_adddup2(&fa, fd0, 0);
    rc = rc ? rc : posix_spawn_file_actions_adddup2(&fa, fd1, 1);
    for (int i = 0; !rc && i < n3; i++)
        rc = posix_spawn_file_actions_adddup2(&fa, from3[i], 3 + i);
    rc = rc ? rc : posix_spawn_file_actions_addclosefrom_np(&fa, 3 + n3);
    rc = rc ? rc : posix_spawn(pid, exe, &fa, &at, argv, env);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    if (rc)
        *pid = -1;
    return rc;
}

int ct_sandbox_limit_child(pid_t pid, rlim_t cpu_s, rlim_t cpu_hard_s, rlim_t file_bytes,
                           rlim_t as_bytes)
{
    struct rlimit cpu = {cpu_s, cpu_hard_s}, fsz = {file_bytes, file_bytes};
    struct rlimit as = {as_bytes, as_bytes};
    if (prlimit(pid, RLIMIT_CPU, &cpu, NULL) != 0 || prlimit(pid, RLIMIT_FSIZE, &fsz, NULL) != 0)
        return -1;
#if !defined(__SANITIZE_ADDRESS__)
    /* ASan reserves terabytes of shadow address space: no AS limit there. */
    if (prlimit(pid, RLIMIT_AS, &as, NULL) != 0)
        return -1;
#else
    (void)as;
#endif
    return 0;
}
