/* sandbox_seccomp: the allow-list installed before the untrusted input is
 * demuxed. Default action: kill the process (the parent reports SIGSYS).
 *
 * The list was measured with strace -f on H.264/HEVC/AV1/AAC transcodes
 * (libx264, libx265, libsvtav1, native aac, h264/hevc/dav1d decoders) and
 * trimmed to what they need:
 *   - I/O only on fds we already hold: read/write/pread/pwrite/lseek/close,
 *     fstat (newfstatat with AT_EMPTY_PATH), fcntl.
 *   - memory: mmap/mprotect without PROT_EXEC (EPERM otherwise: nothing in
 *     the pipeline needs new executable pages), munmap, mremap, madvise, brk.
 *   - threads: clone only with CLONE_THREAD (a fork dies), clone3 -> ENOSYS
 *     so glibc falls back to clone whose flags we can check, futex, rseq,
 *     robust lists, affinity/priority/NUMA policy calls the encoders make
 *     for their own threads.
 *   - time, signals (tgkill only to ourselves, for abort()), getrandom.
 * Refused with an errno instead of killing, because libraries probe and
 * fall back: openat/open/access/stat-by-path/readlink -> EACCES (x265 and
 * glibc read /proc/cpuinfo and /sys/... for CPU counts), ioctl -> ENOTTY
 * (isatty on stderr), prctl other than PR_{SET,GET}_NAME -> EPERM.
 * Everything else (socket, connect, execve, fork, ptrace, mkdir, unlink,
 * bind...) kills the process. */
#include "sandbox/sandbox_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

static const int k_allow[] = {
    SCMP_SYS(read), SCMP_SYS(write), SCMP_SYS(readv), SCMP_SYS(writev), SCMP_SYS(pread64),
    SCMP_SYS(pwrite64), SCMP_SYS(lseek), SCMP_SYS(close), SCMP_SYS(fstat), SCMP_SYS(fcntl),
    SCMP_SYS(munmap), SCMP_SYS(mremap), SCMP_SYS(madvise), SCMP_SYS(brk),
    SCMP_SYS(futex), SCMP_SYS(set_robust_list), SCMP_SYS(get_robust_list), SCMP_SYS(rseq),
    SCMP_SYS(exit), SCMP_SYS(exit_group), SCMP_SYS(restart_syscall),
    SCMP_SYS(rt_sigaction), SCMP_SYS(rt_sigprocmask), SCMP_SYS(rt_sigreturn), SCMP_SYS(sigaltstack),
    SCMP_SYS(sched_getaffinity), SCMP_SYS(sched_setaffinity), SCMP_SYS(sched_yield),
    SCMP_SYS(sched_getparam), SCMP_SYS(sched_getscheduler), SCMP_SYS(sched_get_priority_max),
    SCMP_SYS(sched_get_priority_min), SCMP_SYS(getpriority), SCMP_SYS(setpriority),
    SCMP_SYS(get_mempolicy), SCMP_SYS(set_mempolicy), SCMP_SYS(mbind),
    SCMP_SYS(getpid), SCMP_SYS(gettid), SCMP_SYS(getppid), SCMP_SYS(getuid), SCMP_SYS(geteuid),
    SCMP_SYS(getgid), SCMP_SYS(getegid), SCMP_SYS(getrusage), SCMP_SYS(sysinfo), SCMP_SYS(uname),
    SCMP_SYS(clock_gettime), SCMP_SYS(clock_getres), SCMP_SYS(clock_nanosleep), SCMP_SYS(nanosleep),
    SCMP_SYS(gettimeofday), SCMP_SYS(time), SCMP_SYS(getrandom),
};

static const struct {
    int nr, err;
} k_errno[] = {
    {SCMP_SYS(openat), EACCES}, {SCMP_SYS(open), EACCES}, {SCMP_SYS(access), EACCES},
    {SCMP_SYS(faccessat), EACCES}, {SCMP_SYS(faccessat2), EACCES}, {SCMP_SYS(stat), EACCES},
    {SCMP_SYS(lstat), EACCES}, {SCMP_SYS(statx), EACCES}, {SCMP_SYS(readlink), EACCES},
    {SCMP_SYS(readlinkat), EACCES}, {SCMP_SYS(ioctl), ENOTTY}, {SCMP_SYS(clone3), ENOSYS},
};

static int add_conditional(scmp_filter_ctx f)
{
    int rc = 0;
    /* threads only: clone without CLONE_THREAD (fork) falls to the default kill */
    rc |= seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
                           SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD));
    /* fstat() is newfstatat(fd, "", AT_EMPTY_PATH) in glibc 2.33+ */
    rc |= seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(newfstatat), 1,
                           SCMP_A3(SCMP_CMP_MASKED_EQ, AT_EMPTY_PATH, AT_EMPTY_PATH));
    rc |= seccomp_rule_add(f, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(newfstatat), 1,
                           SCMP_A3(SCMP_CMP_MASKED_EQ, AT_EMPTY_PATH, 0));
    /* no new executable memory */
    rc |= seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1, SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
    rc |= seccomp_rule_add(f, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(mmap), 1,
                           SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, PROT_EXEC));
    rc |= seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1,
                           SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
    rc |= seccomp_rule_add(f, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(mprotect), 1,
                           SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, PROT_EXEC));
    /* thread names only */
    rc |= seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1, SCMP_A0(SCMP_CMP_EQ, PR_SET_NAME));
    rc |= seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1, SCMP_A0(SCMP_CMP_EQ, PR_GET_NAME));
    rc |= seccomp_rule_add(f, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(prctl), 1, SCMP_A0(SCMP_CMP_LT, PR_SET_NAME));
    rc |= seccomp_rule_add(f, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(prctl), 1, SCMP_A0(SCMP_CMP_GT, PR_GET_NAME));
    /* signals to our own threads only (abort, glibc's setxid broadcast) */
    rc |= seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1, SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)getpid()));
    return rc;
}

int ct_sandbox_seccomp_install(void)
{
    scmp_filter_ctx f = seccomp_init(SCMP_ACT_KILL_PROCESS);
    int rc = 0;
    if (!f)
        return -ENOMEM;
    for (size_t i = 0; i < CT_ARRAY_LEN(k_allow) && rc == 0; i++)
        rc = seccomp_rule_add(f, SCMP_ACT_ALLOW, k_allow[i], 0);
    for (size_t i = 0; i < CT_ARRAY_LEN(k_errno) && rc == 0; i++)
        rc = seccomp_rule_add(f, SCMP_ACT_ERRNO((uint32_t)k_errno[i].err), k_errno[i].nr, 0);
    if (rc == 0)
        rc = add_conditional(f) ? -EINVAL : 0;
    if (rc == 0)
        rc = seccomp_load(f);
    seccomp_release(f);
    return rc;
}
