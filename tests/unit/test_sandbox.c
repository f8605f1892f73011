/* test_sandbox: ct_sandbox_transcode end to end. This binary is also the
 * child: run as `test_sandbox transcode` it calls ct_sandbox_child_main(),
 * exactly like `cattube transcode`. Started through a symlink named
 * ct-probe-MODE it instead installs the seccomp filter and tries something
 * forbidden (MODE: socket, exec, fork, open). */
#include "ct_test.h"
#include "sandbox/sandbox_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <dirent.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:libx265.so\n"; /* x265 3.5 leaks one param block per encoder */
}

static char g_dir[256], g_exe[PATH_MAX];

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int rc = system(cmd);
    if (rc != 0)
        fprintf(stderr, "command failed (%d): %s\n", rc, cmd);
    return rc;
}

static const char *path(const char *name)
{
    static char bufs[8][512];
    static int k;
    char *b = bufs[k++ % 8];
    snprintf(b, 512, "%s/%s", g_dir, name);
    return b;
}

static void probe(const char *file, char *out, size_t n)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "ffprobe -v error -show_entries stream=codec_name,width,height,channels "
                              "-show_entries format=duration -of default=nw=1 '%s'", file);
    out[0] = '\0';
    FILE *p = popen(cmd, "r");
    if (!p)
        return;
    size_t len = fread(out, 1, n - 1, p);
    out[len] = '\0';
    pclose(p);
}

static void plan_init(ct_plan *p, const char *input, int n, const char *tag)
{
    memset(p, 0, sizeof *p);
    snprintf(p->input_path, sizeof p->input_path, "%s", input);
    p->n_outputs = n;
    for (int i = 0; i < n; i++) {
        ct_plan_output *o = &p->outputs[i];
        snprintf(o->path, sizeof o->path, "%s/%s-%d.mp4", g_dir, tag, i);
        o->video.codec = i == 1 ? CT_VCODEC_AV1 : CT_VCODEC_H265;
        o->video.rc_mode = CT_RC_QVBR;
        o->video.qvbr_level = 7;
        o->video.max_bitrate = i == 1 ? 100000 : 5000000;
        o->video.width = i == 1 ? 256 : 0;
        o->video.height = i == 1 ? 144 : 0;
        o->audio.codec = CT_ACODEC_AAC;
        o->audio.bitrate = 96000;
        o->audio.channels = 2;
        o->audio.sample_rate = 48000;
    }
}

typedef struct {
    int calls, last_pct, cancel_after;
    char last_phase[32];
} prog_state;

static int on_progress(void *ctx, const char *phase, int pct)
{
    prog_state *ps = ctx;
    ps->calls++;
    ps->last_pct = pct;
    snprintf(ps->last_phase, sizeof ps->last_phase, "%s", phase);
    return ps->cancel_after > 0 && ps->calls >= ps->cancel_after;
}

static ct_sandbox_limits limits(void)
{
    ct_sandbox_limits l = {0};
    l.self_exe = g_exe;
    l.wall_limit_ms = 120000;
    return l;
}

static void test_seed_job(void)
{
    ct_plan p;
    ct_transcode_result r;
    ct_sandbox_limits l = limits();
    prog_state ps = {0};
    char pr[2048];
    fprintf(stderr, "seed job in the sandbox\n");
    plan_init(&p, path("in.mp4"), 2, "seed");
    ct_err e = ct_sandbox_transcode(&p, &l, on_progress, &ps, &r);
    CHECK(e == CT_OK);
    CHECK(r.error_code == 0);
    if (r.error_code)
        fprintf(stderr, "  error %d: %s\n", r.error_code, r.error_message);
    CHECK(ps.calls >= 2 && ps.last_pct == 100);
    CHECK_STR(ps.last_phase, "TRANSCODING");
    CHECK(fabs(r.input_duration_s - 1.0) < 0.1);
    CHECK(r.outputs[0].width == 320 && r.outputs[0].height == 240);
    CHECK(r.outputs[1].width == 256 && r.outputs[1].height == 144);
    CHECK(fabs(r.outputs[1].duration_s - 1.0) < 0.1);
    probe(p.outputs[0].path, pr, sizeof pr);
    CHECK(strstr(pr, "codec_name=hevc") && strstr(pr, "codec_name=aac") && strstr(pr, "channels=2"));
    probe(p.outputs[1].path, pr, sizeof pr);
    CHECK(strstr(pr, "codec_name=av1") && strstr(pr, "width=256"));
}

static void test_hostile(void)
{
    ct_plan p;
    ct_transcode_result r;
    ct_sandbox_limits l = limits();
    fprintf(stderr, "hostile inputs in the sandbox\n");
    CHECK(sh("printf '#EXTM3U\\n#EXT-X-TARGETDURATION:10\\n#EXTINF:10,\\nfile:///etc/passwd\\n"
             "#EXT-X-ENDLIST\\n' > '%s'", path("hls.mp4")) == 0);
    plan_init(&p, path("hls.mp4"), 1, "hls");
    CHECK(ct_sandbox_transcode(&p, &l, NULL, NULL, &r) == CT_OK);
    CHECK(r.error_code == CT_MC_ERR_INPUT_UNREADABLE && strstr(r.error_message, "hls"));
    CHECK(sh("head -c 100000 /dev/urandom > '%s'", path("rand.mp4")) == 0);
    plan_init(&p, path("rand.mp4"), 1, "rand");
    CHECK(ct_sandbox_transcode(&p, &l, NULL, NULL, &r) == CT_OK);
    CHECK(r.error_code == CT_MC_ERR_INPUT_UNREADABLE);
    plan_init(&p, path("missing.mp4"), 1, "missing");
    CHECK(ct_sandbox_transcode(&p, &l, NULL, NULL, &r) == CT_ERR_IO);
    CHECK(r.error_code == CT_MC_ERR_INPUT_UNREADABLE);
}

static void test_limits_and_cancel(void)
{
    ct_plan p;
    ct_transcode_result r;
    ct_sandbox_limits l = limits();
    prog_state ps = {0};
    fprintf(stderr, "cancel, timeout, file size limit\n");
    plan_init(&p, path("long.mp4"), 1, "cancel");
    ps.cancel_after = 2;
    int64_t t0 = ct_mono_ms();
    CHECK(ct_sandbox_transcode(&p, &l, on_progress, &ps, &r) == CT_ERR_CANCELED);
    CHECK(ct_mono_ms() - t0 < 3000);
    l.wall_limit_ms = 400;
    t0 = ct_mono_ms();
    CHECK(ct_sandbox_transcode(&p, &l, NULL, NULL, &r) == CT_ERR_TIMEOUT);
    CHECK(ct_mono_ms() - t0 < 1500);
    CHECK(strstr(r.error_message, "wall-clock") != NULL);
    l = limits();
    l.file_limit_bytes = 4096;
    plan_init(&p, path("in.mp4"), 1, "fsize");
    CHECK(ct_sandbox_transcode(&p, &l, NULL, NULL, &r) == CT_OK);
    CHECK(r.error_code == CT_MC_ERR_DISK);
    fprintf(stderr, "  fsize: %d %s\n", r.error_code, r.error_message);
    CHECK(waitpid(-1, NULL, WNOHANG) == -1 && errno == ECHILD); /* every child reaped */
}

/* A decode over the address-space limit (RLIMIT_AS) ends the job with a
 * MediaConvert code and a message, and the next job runs normally. */
static void test_memory_limit(void)
{
#if !defined(__SANITIZE_ADDRESS__)
    ct_plan p;
    ct_transcode_result r;
    ct_sandbox_limits l = limits();
    fprintf(stderr, "memory limit\n");
    CHECK(sh("ffmpeg -v error -y -f lavfi -i testsrc2=size=7680x4320:rate=25:duration=0.2 "
             "-c:v libx264 -preset ultrafast '%s'", path("8k.mp4")) == 0);
    plan_init(&p, path("8k.mp4"), 1, "mem");
    p.outputs[0].video.width = 320; /* small output: the decode is what needs memory */
    p.outputs[0].video.height = 180;
    l.mem_limit_bytes = 384LL << 20;
    /* libavcodec's frame threads can also wait forever for a picture whose
     * allocation failed (seen in CI once, at 120 s): the wall-clock limit
     * ends that, and the job still ends ERROR with a message. */
    l.wall_limit_ms = 30000;
    ct_err e = ct_sandbox_transcode(&p, &l, NULL, NULL, &r);
    int timed_out = e != CT_OK && strstr(r.error_message, "wall-clock limit") != NULL;
    CHECK(e == CT_OK || timed_out);
    fprintf(stderr, "  8K decode under 384 MiB: error %d: %s\n", r.error_code, r.error_message);
    CHECK(r.error_code == CT_MC_ERR_UNKNOWN || r.error_code == CT_MC_ERR_BROKEN_INPUT ||
          r.error_code == CT_MC_ERR_INPUT_UNREADABLE || r.error_code == CT_MC_ERR_UNSUPPORTED_CODEC);
    /* Where the allocation fails decides the words: an ENOMEM the decoder
     * returns reads "out of memory"; frame threads' failed get_buffer()
     * calls only leave the decoder without pictures (seen in CI, loaded). */
    CHECK(timed_out || strstr(r.error_message, "memory") != NULL ||
          strstr(r.error_message, "no decodable video frames") != NULL);
    /* a small job runs normally under a small limit (1 GiB: each encoder,
     * decoder and filter thread reserves its 8 MiB stack in the address
     * space, so 384 MiB left x264 short of memory now and then) */
    l.mem_limit_bytes = 1024LL << 20;
    plan_init(&p, path("in.mp4"), 1, "memok");
    p.outputs[0].video.codec = CT_VCODEC_H264;
    CHECK(ct_sandbox_transcode(&p, &l, NULL, NULL, &r) == CT_OK);
    CHECK(r.error_code == 0);
    if (r.error_code)
        fprintf(stderr, "  small job under 1 GiB: error %d: %s\n", r.error_code, r.error_message);
    CHECK(waitpid(-1, NULL, WNOHANG) == -1 && errno == ECHILD);
#endif
}

/* The seccomp filter kills socket() and execve(); openat fails with EACCES. */
static void test_seccomp(void)
{
    static const struct { const char *mode; ct_err want; } cases[] = {
        {"socket", CT_ERR_INTERNAL}, {"exec", CT_ERR_INTERNAL}, {"fork", CT_ERR_INTERNAL}, {"open", CT_OK}};
    ct_plan p;
    ct_transcode_result r;
    ct_sandbox_limits l = limits();
    fprintf(stderr, "seccomp\n");
    plan_init(&p, path("in.mp4"), 1, "probe");
    for (size_t i = 0; i < CT_ARRAY_LEN(cases); i++) {
        char link[600];
        snprintf(link, sizeof link, "%s/ct-probe-%s", g_dir, cases[i].mode);
        CHECK(symlink(g_exe, link) == 0);
        l.self_exe = link;
        ct_err e = ct_sandbox_transcode(&p, &l, NULL, NULL, &r);
        CHECK(e == cases[i].want);
        if (e == CT_ERR_INTERNAL)
            CHECK(strstr(r.error_message, "SIGSYS") != NULL);
        fprintf(stderr, "  %s: %s | %s\n", cases[i].mode, ct_err_str(e), r.error_message);
    }
}

static void *thread_job(void *arg)
{
    ct_plan *p = arg;
    ct_transcode_result r;
    ct_sandbox_limits l = limits();
    ct_err e = ct_sandbox_transcode(p, &l, NULL, NULL, &r);
    return (void *)(intptr_t)(e == CT_OK && r.error_code == 0);
}

static void test_threads(void)
{
    ct_plan p[2];
    pthread_t th[2];
    void *ok[2];
    fprintf(stderr, "two jobs from two threads\n");
    plan_init(&p[0], path("in.mp4"), 1, "t0");
    plan_init(&p[1], path("in.mp4"), 1, "t1");
    for (int i = 0; i < 2; i++)
        CHECK(pthread_create(&th[i], NULL, thread_job, &p[i]) == 0);
    for (int i = 0; i < 2; i++) {
        pthread_join(th[i], &ok[i]);
        CHECK(ok[i] == (void *)1);
    }
}

/* Child-side probe: what happens after the filter is installed. */
static int probe_child(const char *mode)
{
    char buf[65536];
    while (read(0, buf, sizeof buf) > 0) {
    }
    if (ct_sandbox_seccomp_install() != 0)
        return 5;
    if (strcmp(mode, "socket") == 0)
        return socket(AF_INET, SOCK_STREAM, 0) >= 0 ? 6 : 7;
    if (strcmp(mode, "exec") == 0) {
        char *argv[] = {(char *)"/bin/true", NULL};
        execv("/bin/true", argv);
        return 7;
    }
    if (strcmp(mode, "fork") == 0)
        return fork() >= 0 ? 6 : 7;
    int fd = open("/etc/passwd", O_RDONLY);
    if (fd >= 0 || errno != EACCES)
        return 8;
    const char *res = "result {\"error_code\":0,\"error_message\":\"\",\"input_duration_s\":0,"
                      "\"warnings\":\"\",\"outputs\":[]}\n";
    return write(1, res, strlen(res)) > 0 ? 0 : 9;
}

static int file_in(const char *dir, const char *name)
{
    struct stat sb;
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return stat(p, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size > 0;
}

static int dir_count(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    while (d && (e = readdir(d)))
        n += e->d_name[0] != '.';
    if (d)
        closedir(d);
    return n;
}

/* HLS + frame capture through the real sandbox: the child writes bundles,
 * the parent unpacks them; no scratch bundle is left behind. */
static void test_multi_file(void)
{
    ct_plan p;
    ct_transcode_result r;
    ct_sandbox_limits l = limits();
    const char *dir = path("multi");
    fprintf(stderr, "multi-file outputs\n");
    CHECK(mkdir(dir, 0700) == 0);
    plan_init(&p, path("in.mp4"), 2, "multi");
    for (int i = 0; i < 2; i++) {
        snprintf(p.outputs[i].path, sizeof p.outputs[i].path, "%s", dir);
        p.outputs[i].video.codec = CT_VCODEC_H264;
    }
    p.outputs[0].container = CT_CONTAINER_HLS_TS;
    p.outputs[0].segment_length = 1;
    snprintf(p.outputs[0].name, sizeof p.outputs[0].name, "in_low");
    snprintf(p.outputs[0].master, sizeof p.outputs[0].master, "in.m3u8");
    p.outputs[1].container = CT_CONTAINER_JPEG;
    p.outputs[1].video.codec = CT_VCODEC_JPEG;
    p.outputs[1].audio.codec = CT_ACODEC_NONE;
    p.outputs[1].video.fc_num = p.outputs[1].video.fc_den = 1;
    p.outputs[1].video.fc_quality = 90;
    snprintf(p.outputs[1].name, sizeof p.outputs[1].name, "in_thumb");
    CHECK(ct_sandbox_transcode(&p, &l, NULL, NULL, &r) == CT_OK);
    CHECK(r.error_code == 0 || !fprintf(stderr, "%s\n", r.error_message));
    CHECK(file_in(dir, "in.m3u8") && file_in(dir, "in_low.m3u8") && file_in(dir, "in_low_00001.ts"));
    CHECK(file_in(dir, "in_thumb.0000000.jpg"));
    CHECK(!file_in(dir, "in_low_00002.ts") && !file_in(dir, "in_thumb.0000001.jpg")); /* 1 s clip */
    CHECK(dir_count(dir) == 4);
    char ls[4096];
    snprintf(ls, sizeof ls, "ls -a '%s' | grep -q bundle", dir);
    CHECK(system(ls) != 0);
}

static int put_record(int fd, const char *name, size_t name_len, const char *data, uint64_t len)
{
    unsigned char h[CT_BUNDLE_HDR];
    memcpy(h, CT_BUNDLE_MAGIC, 4);
    for (int i = 0; i < 4; i++)
        h[4 + i] = (unsigned char)(name_len >> (8 * i));
    for (int i = 0; i < 8; i++)
        h[8 + i] = (unsigned char)(len >> (8 * i));
    return write(fd, h, sizeof h) == (ssize_t)sizeof h && write(fd, name, name_len) == (ssize_t)name_len &&
                   write(fd, data, strlen(data)) == (ssize_t)strlen(data) ? 0 : -1;
}

static ct_err unpack_case(const char *name, size_t name_len, const char *data, uint64_t len)
{
    char err[256];
    const char *dir = path("unpack");
    mkdir(dir, 0700);
    int fd = open(path("unpack.bundle"), O_RDWR | O_CREAT | O_TRUNC, 0600);
    CHECK(put_record(fd, "ok.txt", 6, "fine", 4) == 0);
    if (name)
        CHECK(put_record(fd, name, name_len, data, len) == 0);
    ct_err e = ct_sandbox_unpack_bundle(fd, dir, err, sizeof err);
    close(fd);
    return e;
}

/* The bundle comes from the child: every header and name is hostile. */
static void test_unpack_hostile(void)
{
    fprintf(stderr, "hostile bundles\n");
    CHECK(unpack_case(NULL, 0, "", 0) == CT_OK && file_in(path("unpack"), "ok.txt"));
    CHECK(unpack_case("ok.txt", 6, "again", 5) == CT_OK); /* later record replaces */
    char buf[8] = "";
    int fd = open(path("unpack/ok.txt"), O_RDONLY);
    CHECK(fd >= 0 && read(fd, buf, sizeof buf - 1) == 5 && strcmp(buf, "again") == 0);
    close(fd);
    CHECK(unpack_case("../escape", 9, "x", 1) == CT_ERR_INVALID);
    CHECK(unpack_case("a/b", 3, "x", 1) == CT_ERR_INVALID);
    CHECK(unpack_case("..", 2, "x", 1) == CT_ERR_INVALID);
    CHECK(unpack_case(".hidden", 7, "x", 1) == CT_ERR_INVALID);
    CHECK(unpack_case("nul\0x", 5, "x", 1) == CT_ERR_INVALID);
    CHECK(unpack_case("big", 3, "x", 1000) == CT_ERR_INVALID);       /* length past the end */
    CHECK(unpack_case("huge", 4, "x", UINT64_MAX) == CT_ERR_INVALID);
    CHECK(unpack_case("", 0, "x", 1) == CT_ERR_INVALID);
    CHECK(!file_in(g_dir, "escape") && dir_count(path("unpack")) == 1);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "transcode") == 0) {
        const char *base = strrchr(argv[0], '/');
        base = base ? base + 1 : argv[0];
        if (strncmp(base, "ct-probe-", 9) == 0)
            _exit(probe_child(base + 9)); /* no exit-time LSan under seccomp */
        return ct_sandbox_child_main();
    }
    if (!realpath("/proc/self/exe", g_exe)) {
        perror("realpath");
        return 1;
    }
    snprintf(g_dir, sizeof g_dir, "/tmp/ct_sandbox_XXXXXX");
    if (!mkdtemp(g_dir)) {
        perror("mkdtemp");
        return 1;
    }
    CHECK(sh("ffmpeg -v error -y -f lavfi -i testsrc2=size=320x240:rate=25:duration=1 -f lavfi -i "
             "sine=duration=1 -c:v libx264 -preset ultrafast -c:a aac '%s'", path("in.mp4")) == 0);
    CHECK(sh("ffmpeg -v error -y -f lavfi -i testsrc2=size=640x360:rate=25:duration=6 "
             "-c:v libx264 -preset ultrafast '%s'", path("long.mp4")) == 0);
    test_unpack_hostile();
    test_multi_file();
    test_seed_job();
    test_hostile();
    test_limits_and_cancel();
    test_memory_limit();
    test_seccomp();
    test_threads();
    if (!getenv("CT_KEEP_TMP"))
        sh("rm -rf '%s'", g_dir);
    CT_TEST_END();
}
