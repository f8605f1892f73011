/* test_transcode: ct_transcode_run in-process on short clips made with the
 * ffmpeg CLI; outputs checked with ffprobe (both CLIs are referees only). */
#include "ct_test.h"
#include "sandbox/sandbox.h"
#include "transcode/transcode.h"

#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:libx265.so\n"; /* x265 3.5 leaks one param block per encoder */
}

static char g_dir[256];

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

/* ffprobe's stream and format fields as "key=value" lines. */
static void probe(const char *file, char *out, size_t n)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "ffprobe -v error -show_entries stream=codec_name,codec_tag_string,profile,width,height,"
             "sample_rate,channels,duration,bit_rate -show_entries format=duration -of default=nw=1 '%s'",
             file);
    out[0] = '\0';
    FILE *p = popen(cmd, "r");
    if (!p)
        return;
    size_t len = fread(out, 1, n - 1, p);
    out[len] = '\0';
    pclose(p);
}

static int has(const char *probe_out, const char *kv)
{
    return strstr(probe_out, kv) != NULL;
}

static double format_duration(const char *probe_out)
{
    const char *last = NULL, *s = probe_out;
    while ((s = strstr(s, "duration=")) != NULL)
        last = s++;
    return last ? atof(last + 9) : -1;
}

/* Top-level atom order: 1 when moov precedes mdat. */
static int moov_first(const char *file)
{
    FILE *f = fopen(file, "rb");
    unsigned char h[16];
    long pos = 0;
    int res = 0;
    while (f && fseek(f, pos, SEEK_SET) == 0 && fread(h, 1, 8, f) == 8) {
        uint64_t size = ((uint64_t)h[0] << 24) | (h[1] << 16) | (h[2] << 8) | h[3];
        if (memcmp(h + 4, "moov", 4) == 0) { res = 1; break; }
        if (memcmp(h + 4, "mdat", 4) == 0) break;
        if (size == 1 && fread(h + 8, 1, 8, f) == 8) {
            size = 0;
            for (int i = 8; i < 16; i++)
                size = (size << 8) | h[i];
        }
        if (size < 8)
            break;
        pos += (long)size;
    }
    if (f)
        fclose(f);
    return res;
}

static void plan_init(ct_plan *p, const char *input, int n)
{
    memset(p, 0, sizeof *p);
    snprintf(p->input_path, sizeof p->input_path, "%s", input);
    p->n_outputs = n;
    for (int i = 0; i < n; i++) {
        ct_plan_output *o = &p->outputs[i];
        snprintf(o->path, sizeof o->path, "%s/out%d.mp4", g_dir, i);
        o->video.codec = CT_VCODEC_H264;
        o->video.rc_mode = CT_RC_QVBR;
        o->video.qvbr_level = 7;
        o->video.max_bitrate = 1000000;
        o->audio.codec = CT_ACODEC_AAC;
        o->audio.bitrate = 96000;
        o->audio.channels = 2;
        o->audio.sample_rate = 48000;
    }
}

static int g_progress_calls, g_last_pct;
static void on_progress(void *ctx, const char *phase, int pct)
{
    (void)ctx;
    g_progress_calls++;
    if (strcmp(phase, "TRANSCODING") == 0)
        g_last_pct = pct;
}

static ct_err run_plan(const ct_plan *p, ct_transcode_result *r)
{
    int in = open(p->input_path, O_RDONLY | O_CLOEXEC), outs[CT_PLAN_MAX_OUTPUTS];
    for (int i = 0; i < p->n_outputs; i++)
        outs[i] = open(p->outputs[i].path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    g_progress_calls = 0;
    g_last_pct = -1;
    ct_err e = ct_transcode_run(p, in, outs, on_progress, NULL, r);
    close(in);
    for (int i = 0; i < p->n_outputs; i++)
        close(outs[i]);
    if (r->error_code)
        fprintf(stderr, "  -> error %d: %s\n", r->error_code, r->error_message);
    return e;
}

static void test_seed_job(void)
{
    ct_plan p;
    ct_transcode_result r;
    char pr[4096];
    fprintf(stderr, "seed job\n");
    CHECK(sh("ffmpeg -v error -y -f lavfi -i testsrc2=size=640x360:rate=30:duration=2 -f lavfi -i "
             "sine=frequency=440:duration=2:sample_rate=44100 -c:v libx264 -preset ultrafast "
             "-c:a aac -ac 1 '%s'", path("seed.mp4")) == 0);
    plan_init(&p, path("seed.mp4"), 2);
    p.outputs[0].video.codec = CT_VCODEC_H265;
    p.outputs[0].video.max_bitrate = 5000000;
    p.outputs[0].video.scene_change_detect = 1;
    p.outputs[1].video.codec = CT_VCODEC_AV1;
    p.outputs[1].video.width = 256;
    p.outputs[1].video.height = 144;
    p.outputs[1].video.max_bitrate = 100000;
    CHECK(run_plan(&p, &r) == CT_OK);
    CHECK(r.error_code == 0);
    CHECK(fabs(r.input_duration_s - 2.0) < 0.1);
    CHECK(g_last_pct == 100 && g_progress_calls > 5);
    probe(p.outputs[0].path, pr, sizeof pr);
    CHECK(has(pr, "codec_name=hevc") && has(pr, "codec_tag_string=hvc1"));
    CHECK(has(pr, "width=640") && has(pr, "height=360"));
    CHECK(has(pr, "codec_name=aac") && has(pr, "profile=LC"));
    CHECK(has(pr, "sample_rate=48000") && has(pr, "channels=2"));
    CHECK(fabs(format_duration(pr) - 2.0) < 0.1);
    CHECK(moov_first(p.outputs[0].path));
    CHECK(r.outputs[0].width == 640 && r.outputs[0].height == 360);
    CHECK(fabs(r.outputs[0].duration_s - 2.0) < 0.1);
    CHECK(r.outputs[0].video_bitrate > 0 && r.outputs[0].video_bitrate < 5500000);
    probe(p.outputs[1].path, pr, sizeof pr);
    CHECK(has(pr, "codec_name=av1") && has(pr, "width=256") && has(pr, "height=144"));
    CHECK(has(pr, "codec_name=aac") && has(pr, "sample_rate=48000") && has(pr, "channels=2"));
    CHECK(fabs(format_duration(pr) - 2.0) < 0.1);
    CHECK(moov_first(p.outputs[1].path));
    CHECK(r.outputs[1].video_bitrate > 0 && r.outputs[1].video_bitrate < 200000);
    CHECK_STR(r.warnings, "");
}

static int exists(const char *dir, const char *name)
{
    struct stat sb;
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return stat(p, &sb) == 0 && sb.st_size > 0;
}

static void slurp(const char *file, char *out, size_t n)
{
    FILE *f = fopen(file, "rb");
    size_t len = f ? fread(out, 1, n - 1, f) : 0;
    out[len] = '\0';
    if (f)
        fclose(f);
}

static void hls_plan(ct_plan *p, const char *dir)
{
    plan_init(p, path("hls_in.mp4"), 3);
    const char *names[3] = {"clip_360p", "clip_180p", "clip_thumb"};
    for (int i = 0; i < 3; i++) {
        ct_plan_output *o = &p->outputs[i];
        snprintf(o->path, sizeof o->path, "%s", dir);
        snprintf(o->name, sizeof o->name, "%s", names[i]);
        o->container = CT_CONTAINER_HLS_TS;
        o->segment_length = 1;
    }
    snprintf(p->outputs[0].master, sizeof p->outputs[0].master, "clip.m3u8");
    p->outputs[1].video.width = 320;
    p->outputs[2].container = CT_CONTAINER_JPEG;
    p->outputs[2].group = 1;
    p->outputs[2].segment_length = 0;
    p->outputs[2].video.codec = CT_VCODEC_JPEG;
    p->outputs[2].video.width = 160;
    p->outputs[2].video.fc_num = 1;
    p->outputs[2].video.fc_den = 1;
    p->outputs[2].video.fc_max = 2;
    p->outputs[2].video.fc_quality = 80;
    p->outputs[2].audio.codec = CT_ACODEC_NONE;
}

/* HLS renditions and frame capture in-process: bundles unpacked by hand. */
static void test_hls_and_capture(void)
{
    ct_plan p;
    ct_transcode_result r;
    char pr[4096], m3u8[4096], err[256];
    const char *dir = path("hls");
    int in, outs[3];
    fprintf(stderr, "hls + frame capture\n");
    CHECK(sh("ffmpeg -v error -y -f lavfi -i testsrc2=size=640x360:rate=25:duration=3 -f lavfi -i "
             "sine=frequency=440:duration=3:sample_rate=48000 -c:v libx264 -preset ultrafast "
             "-c:a aac '%s'", path("hls_in.mp4")) == 0);
    CHECK(mkdir(dir, 0700) == 0);
    hls_plan(&p, dir);
    in = open(p.input_path, O_RDONLY | O_CLOEXEC);
    for (int i = 0; i < 3; i++)
        outs[i] = open(path(i == 0 ? "b0" : i == 1 ? "b1" : "b2"), O_RDWR | O_CREAT | O_TRUNC, 0600);
    CHECK(ct_transcode_run(&p, in, outs, NULL, NULL, &r) == CT_OK);
    if (r.error_code)
        fprintf(stderr, "  -> error %d: %s\n", r.error_code, r.error_message);
    for (int i = 0; i < 3; i++) {
        CHECK(ct_sandbox_unpack_bundle(outs[i], dir, err, sizeof err) == CT_OK);
        close(outs[i]);
    }
    close(in);
    CHECK(exists(dir, "clip.m3u8") && exists(dir, "clip_360p.m3u8") && exists(dir, "clip_180p.m3u8"));
    CHECK(exists(dir, "clip_360p_00001.ts") && exists(dir, "clip_360p_00003.ts"));
    CHECK(exists(dir, "clip_180p_00003.ts") && !exists(dir, "clip_180p_00004.ts"));
    CHECK(exists(dir, "clip_thumb.0000000.jpg") && exists(dir, "clip_thumb.0000001.jpg"));
    CHECK(!exists(dir, "clip_thumb.0000002.jpg"));
    slurp(path("hls/clip.m3u8"), m3u8, sizeof m3u8);
    CHECK(has(m3u8, "#EXTM3U") && has(m3u8, "RESOLUTION=640x360") && has(m3u8, "RESOLUTION=320x180"));
    CHECK(has(m3u8, "CODECS=\"avc1.") && has(m3u8, ",mp4a.40.2\"") && has(m3u8, "AVERAGE-BANDWIDTH="));
    CHECK(has(m3u8, "\nclip_360p.m3u8\n") && has(m3u8, "\nclip_180p.m3u8\n") && !has(m3u8, "thumb"));
    probe(path("hls/clip_180p.m3u8"), pr, sizeof pr);
    CHECK(has(pr, "codec_name=h264") && has(pr, "width=320") && has(pr, "height=180"));
    CHECK(fabs(format_duration(pr) - 3.0) < 0.2);
    probe(path("hls/clip_thumb.0000001.jpg"), pr, sizeof pr);
    CHECK(has(pr, "codec_name=mjpeg") && has(pr, "width=160") && has(pr, "height=90"));
    CHECK(r.outputs[2].width == 160 && r.outputs[2].height == 90);
    fprintf(stderr, "%s", m3u8);
}

/* Runs a multi-file plan in-process and unpacks every bundle into dir. */
static ct_err run_bundles(ct_plan *p, const char *dir, const int *in, int n_in, ct_transcode_result *r)
{
    int outs[CT_PLAN_MAX_OUTPUTS];
    char err[256], name[32];
    for (int i = 0; i < p->n_outputs; i++) {
        snprintf(name, sizeof name, "bundle%d", i);
        outs[i] = open(path(name), O_RDWR | O_CREAT | O_TRUNC, 0600);
    }
    ct_err e = ct_transcode_run_inputs(p, in, n_in, outs, NULL, NULL, r);
    if (r->error_code)
        fprintf(stderr, "  -> error %d: %s\n", r->error_code, r->error_message);
    for (int i = 0; i < p->n_outputs; i++) {
        if (e == CT_OK && ct_sandbox_unpack_bundle(outs[i], dir, err, sizeof err) != CT_OK)
            e = CT_ERR_INVALID;
        close(outs[i]);
    }
    return e;
}

/* DASH group (H.264 + AV1 + audio, 1 s fragments in 2 s segments) and a
 * CMAF group in-process: names, the MPD and playlists, codec strings. */
static void test_dash_cmaf(void)
{
    static ct_plan p;
    ct_transcode_result r;
    char text[8192], pr[4096], dir[512];
    snprintf(dir, sizeof dir, "%s", path("dash")); /* path()'s buffers rotate */
    fprintf(stderr, "dash + cmaf\n");
    CHECK(mkdir(dir, 0700) == 0);
    plan_init(&p, path("hls_in.mp4"), 5);
    const char *names[5] = {"c_hd", "c_av1", "c_a", "m_v", "m_a"};
    for (int i = 0; i < 5; i++) {
        ct_plan_output *o = &p.outputs[i];
        snprintf(o->path, sizeof o->path, "%s", dir);
        snprintf(o->name, sizeof o->name, "%s", names[i]);
        o->container = i < 3 ? CT_CONTAINER_DASH : CT_CONTAINER_CMAF;
        o->group = i < 3 ? 0 : 1;
        o->segment_length = i < 3 ? 2 : 1;
        o->fragment_length = i < 3 ? 1 : 0;
        o->video.width = 320;
        if (i == 2 || i == 4)
            o->video.codec = CT_VCODEC_NONE;
        else
            o->audio.codec = CT_ACODEC_NONE;
    }
    p.outputs[1].video.codec = CT_VCODEC_AV1;
    snprintf(p.outputs[0].master, sizeof p.outputs[0].master, "c.mpd");
    snprintf(p.outputs[3].master, sizeof p.outputs[3].master, "m.m3u8");
    int in = open(p.input_path, O_RDONLY | O_CLOEXEC);
    CHECK(run_bundles(&p, dir, &in, 1, &r) == CT_OK && r.error_code == 0);
    close(in);
    CHECK(exists(dir, "c.mpd") && exists(dir, "c_hdinit.mp4") && exists(dir, "c_hd_000000002.mp4"));
    CHECK(!exists(dir, "c_hd_000000003.mp4") && exists(dir, "c_av1_000000002.mp4"));
    CHECK(exists(dir, "c_a_000000002.mp4") && !exists(dir, "c_a_000000003.mp4"));
    CHECK(exists(dir, "m.m3u8") && exists(dir, "m.mpd") && exists(dir, "m_vinit.cmfv"));
    CHECK(exists(dir, "m_v_000000003.cmfv") && exists(dir, "m_ainit.cmfa") && exists(dir, "m_a.m3u8"));
    slurp(path("dash/c.mpd"), text, sizeof text);
    CHECK(has(text, "<MPD xmlns=\"urn:mpeg:dash:schema:mpd:2011\" type=\"static\""));
    CHECK(has(text, "codecs=\"avc1.") && has(text, "codecs=\"av01.0.") && has(text, "codecs=\"mp4a.40.2\""));
    CHECK(has(text, "media=\"c_hd_$Number%09d$.mp4\"") && has(text, "initialization=\"c_hdinit.mp4\""));
    CHECK(has(text, "timescale=\"90000\"") && has(text, "<S t=\""));
    slurp(path("dash/m_v.m3u8"), text, sizeof text);
    CHECK(has(text, "#EXT-X-MAP:URI=\"m_vinit.cmfv\"") && has(text, "m_v_000000003.cmfv"));
    slurp(path("dash/m.m3u8"), text, sizeof text);
    CHECK(has(text, "AUDIO=\"program_audio\"") && has(text, "URI=\"m_a.m3u8\""));
    sh("cat '%s/c_av1init.mp4' '%s/c_av1_000000001.mp4' '%s/c_av1_000000002.mp4' > '%s'", dir, dir, dir,
       path("av1.mp4"));
    probe(path("av1.mp4"), pr, sizeof pr);
    CHECK(has(pr, "codec_name=av1") && has(pr, "width=320") && fabs(format_duration(pr) - 3.0) < 0.15);

    /* CMAF with WriteDashManifest DISABLED: playlists but no MPD; WriteHlsManifest DISABLED: the reverse */
    char dir2[512];
    snprintf(dir2, sizeof dir2, "%s", path("cmaf2"));
    CHECK(mkdir(dir2, 0700) == 0);
    plan_init(&p, path("hls_in.mp4"), 2);
    for (int i = 0; i < 2; i++) {
        ct_plan_output *o = &p.outputs[i];
        snprintf(o->path, sizeof o->path, "%s", dir2);
        snprintf(o->name, sizeof o->name, "%s", i ? "y_a" : "x_a");
        snprintf(o->master, sizeof o->master, "%s", i ? "y.m3u8" : "x.m3u8");
        o->container = CT_CONTAINER_CMAF;
        o->group = i;
        o->segment_length = 1;
        o->video.codec = CT_VCODEC_NONE;
    }
    p.outputs[0].no_dash = 1;
    p.outputs[1].no_hls = 1;
    in = open(p.input_path, O_RDONLY | O_CLOEXEC);
    CHECK(run_bundles(&p, dir2, &in, 1, &r) == CT_OK && r.error_code == 0);
    close(in);
    CHECK(exists(dir2, "x.m3u8") && exists(dir2, "x_a.m3u8") && !exists(dir2, "x.mpd"));
    CHECK(exists(dir2, "y.mpd") && !exists(dir2, "y.m3u8") && !exists(dir2, "y_a.m3u8"));
    CHECK(exists(dir2, "y_a_000000001.cmfa") && exists(dir2, "x_ainit.cmfa"));
}

/* Three parts: 1 s clipped from input 1, all of input 2 (no audio), and
 * input 1 again from a timecode; one timeline, continuous audio. */
static void test_joined_inputs(void)
{
    static ct_plan p;
    ct_transcode_result r;
    char pr[4096];
    fprintf(stderr, "joined inputs\n");
    CHECK(sh("ffmpeg -v error -y -f lavfi -i color=yellow:s=320x240:r=30:d=2 -c:v libx264 -preset ultrafast "
             "'%s'", path("yellow.mkv")) == 0);
    plan_init(&p, path("hls_in.mp4"), 1);
    p.outputs[0].video.width = 320;
    p.n_inputs = 3;
    snprintf(p.inputs[1].path, sizeof p.inputs[1].path, "%s", path("yellow.mkv"));
    for (int i = 0; i < 3; i++)
        p.inputs[i].tc_source = CT_TC_ZEROBASED;
    p.inputs[0].n_clips = 1;
    p.inputs[0].clips[0] = (ct_plan_clip){{0, 0, 1, 0}, {0, 0, 1, 24}};
    p.inputs[2].n_clips = 1;
    p.inputs[2].clips[0] = (ct_plan_clip){{0, 0, 2, 0}, {-1, 0, 0, 0}};
    int in[3] = {open(p.input_path, O_RDONLY | O_CLOEXEC), open(path("yellow.mkv"), O_RDONLY | O_CLOEXEC),
                 open(p.input_path, O_RDONLY | O_CLOEXEC)};
    CHECK(ct_transcode_run_inputs(&p, in, 3, (int[]){open(p.outputs[0].path, O_RDWR | O_CREAT | O_TRUNC, 0600)},
                                  NULL, NULL, &r) == CT_OK);
    if (r.error_code)
        fprintf(stderr, "  -> error %d: %s\n", r.error_code, r.error_message);
    CHECK(fabs(r.input_duration_s - 4.0) < 0.05 && fabs(r.outputs[0].duration_s - 4.0) < 0.1);
    probe(p.outputs[0].path, pr, sizeof pr);
    CHECK(has(pr, "codec_name=h264") && has(pr, "codec_name=aac") && fabs(format_duration(pr) - 4.0) < 0.1);
    /* a clipping past the input's end is a settings error naming the input */
    p.inputs[2].clips[0].start.s = 9;
    CHECK(ct_transcode_run_inputs(&p, in, 3, (int[]){open(p.outputs[0].path, O_RDWR | O_TRUNC)}, NULL, NULL,
                                  &r) == CT_ERR_INVALID);
    CHECK(r.error_code == CT_MC_ERR_SETTINGS && strstr(r.error_message, "input 3: clipping 1 starts at 9.000 s"));
    /* a second input at another sample rate rebuilds the audio graph mid-stream:
     * its sound must follow the first input's, not start again at 0 */
    CHECK(sh("ffmpeg -v error -y -f lavfi -i color=blue:s=320x180:r=25:d=1 -f lavfi -i "
             "sine=f=880:r=44100:d=1 -c:v libx264 -preset ultrafast -c:a aac -shortest '%s'",
             path("blue441.mp4")) == 0);
    static ct_plan q;
    plan_init(&q, path("hls_in.mp4"), 1);
    q.n_inputs = 2;
    snprintf(q.inputs[1].path, sizeof q.inputs[1].path, "%s", path("blue441.mp4"));
    int in2[2] = {open(q.input_path, O_RDONLY | O_CLOEXEC), open(path("blue441.mp4"), O_RDONLY | O_CLOEXEC)};
    CHECK(ct_transcode_run_inputs(&q, in2, 2, (int[]){open(q.outputs[0].path, O_RDWR | O_CREAT | O_TRUNC, 0600)},
                                  NULL, NULL, &r) == CT_OK);
    probe(q.outputs[0].path, pr, sizeof pr);
    CHECK(has(pr, "codec_name=aac") && fabs(format_duration(pr) - 4.0) < 0.1);
    CHECK(sh("ffmpeg -v error -ss 3.5 -i '%s' -vn -f null - 2>&1; ffprobe -v error -select_streams a "
             "-show_entries stream=duration -of csv=p=0 '%s' | awk '{exit !($1 > 3.9 && $1 < 4.1)}'",
             q.outputs[0].path, q.outputs[0].path) == 0);
    close(in2[0]);
    close(in2[1]);
    /* each input under the duration cap, together over it: refused before encoding */
    p.inputs[2].clips[0].start.s = 2;
    p.max_duration_s = 3.5;
    CHECK(ct_transcode_run_inputs(&p, in, 3, (int[]){open(p.outputs[0].path, O_RDWR | O_TRUNC)}, NULL, NULL,
                                  &r) == CT_ERR_INVALID);
    CHECK(r.error_code == CT_MC_ERR_SETTINGS && strstr(r.error_message, "exceed the limit of 3.5 s"));
    for (int i = 0; i < 3; i++)
        close(in[i]);
}

static void test_scaling_and_rotation(void)
{
    ct_plan p;
    ct_transcode_result r;
    char pr[4096];
    fprintf(stderr, "rotation, SAR, width-only\n");
    CHECK(sh("ffmpeg -v error -y -f lavfi -i testsrc2=size=320x240:rate=25:duration=1 -c:v libx264 "
             "-preset ultrafast '%s' && ffmpeg -v error -y -i '%s' -c copy -metadata:s:v:0 rotate=90 '%s'",
             path("rot0.mp4"), path("rot0.mp4"), path("rot.mp4")) == 0);
    plan_init(&p, path("rot.mp4"), 2);
    p.outputs[1].video.width = 120; /* height derived: 160 for a 240x320 portrait picture */
    CHECK(run_plan(&p, &r) == CT_OK);
    probe(p.outputs[0].path, pr, sizeof pr);
    CHECK(has(pr, "codec_name=h264") && has(pr, "width=240") && has(pr, "height=320"));
    CHECK(!has(pr, "codec_name=aac")); /* no audio in the input */
    CHECK(strstr(r.warnings, "no audio") != NULL);
    probe(p.outputs[1].path, pr, sizeof pr);
    CHECK(has(pr, "width=120") && has(pr, "height=160"));

    /* ScalingBehavior: DEFAULT letterboxes a 4:3 picture in 320x180 (black sides), STRETCH fills it */
    CHECK(sh("ffmpeg -v error -y -f lavfi -i color=red:s=320x240:r=25:d=1 -c:v libx264 -preset ultrafast "
             "-pix_fmt yuv420p '%s'", path("red43.mp4")) == 0);
    plan_init(&p, path("red43.mp4"), 2);
    for (int i = 0; i < 2; i++) {
        p.outputs[i].video.width = 320;
        p.outputs[i].video.height = 180;
        p.outputs[i].audio.codec = CT_ACODEC_NONE;
    }
    p.outputs[1].video.stretch = 1;
    CHECK(run_plan(&p, &r) == CT_OK);
    CHECK(sh("test \"$(ffmpeg -v error -i '%s' -frames:v 1 -vf crop=8:8:0:86,scale=1:1 -f rawvideo "
             "-pix_fmt gray - | od -An -tu1 | tr -d ' ')\" -lt 30", p.outputs[0].path) == 0);
    CHECK(sh("test \"$(ffmpeg -v error -i '%s' -frames:v 1 -vf crop=8:8:0:86,scale=1:1 -f rawvideo "
             "-pix_fmt gray - | od -An -tu1 | tr -d ' ')\" -gt 50", p.outputs[1].path) == 0);
    probe(p.outputs[0].path, pr, sizeof pr);
    CHECK(has(pr, "width=320") && has(pr, "height=180"));

    CHECK(sh("ffmpeg -v error -y -f lavfi -i testsrc2=size=320x240:rate=25:duration=1 -vf setsar=3/2 "
             "-c:v libx264 -preset ultrafast '%s'", path("sar.mkv")) == 0);
    plan_init(&p, path("sar.mkv"), 1);
    CHECK(run_plan(&p, &r) == CT_OK);
    probe(p.outputs[0].path, pr, sizeof pr);
    CHECK(has(pr, "width=480") && has(pr, "height=240"));
}

static void test_rate_modes_and_containers(void)
{
    ct_plan p;
    ct_transcode_result r;
    char pr[4096];
    fprintf(stderr, "CBR/VBR from mpegts with offset start, mono 22 kHz audio\n");
    CHECK(sh("ffmpeg -v error -y -f lavfi -i testsrc2=size=320x240:rate=30:duration=1.5 -f lavfi -i "
             "sine=duration=1.5:sample_rate=22050 -c:v mpeg2video -c:a mp2 -ac 1 '%s'", path("in.ts")) == 0);
    plan_init(&p, path("in.ts"), 3);
    p.outputs[0].video.rc_mode = CT_RC_CBR;
    p.outputs[0].video.bitrate = 300000;
    p.outputs[1].video.rc_mode = CT_RC_VBR;
    p.outputs[1].video.codec = CT_VCODEC_H265;
    p.outputs[1].video.bitrate = 200000;
    p.outputs[1].video.max_bitrate = 400000;
    p.outputs[1].video.height = 120;
    p.outputs[1].audio.channels = 1;
    p.outputs[1].audio.sample_rate = 44100;
    p.outputs[2].video.codec = CT_VCODEC_NONE; /* audio-only output */
    CHECK(run_plan(&p, &r) == CT_OK);
    probe(p.outputs[0].path, pr, sizeof pr);
    CHECK(has(pr, "codec_name=h264") && has(pr, "width=320"));
    CHECK(fabs(format_duration(pr) - 1.5) < 0.1);
    probe(p.outputs[1].path, pr, sizeof pr);
    CHECK(has(pr, "codec_name=hevc") && has(pr, "width=160") && has(pr, "height=120"));
    CHECK(has(pr, "channels=1") && has(pr, "sample_rate=44100"));
    probe(p.outputs[2].path, pr, sizeof pr);
    CHECK(has(pr, "codec_name=aac") && !has(pr, "codec_name=h264"));
    CHECK(fabs(format_duration(pr) - 1.5) < 0.1);
}

static void expect_error(const char *file, int code, const char *msg_part)
{
    ct_plan p;
    ct_transcode_result r;
    plan_init(&p, file, 1);
    ct_err e = run_plan(&p, &r);
    CHECK(e != CT_OK);
    CHECK(r.error_code == code);
    if (!strstr(r.error_message, msg_part)) {
        fprintf(stderr, "  message '%s' lacks '%s'\n", r.error_message, msg_part);
        CHECK(0);
    }
}

static void test_hostile_inputs(void)
{
    ct_plan p;
    ct_transcode_result r;
    fprintf(stderr, "hostile inputs\n");
    CHECK(sh("head -c 200000 /dev/urandom > '%s'", path("random.mp4")) == 0);
    expect_error(path("random.mp4"), CT_MC_ERR_INPUT_UNREADABLE, "input:");
    CHECK(sh(": > '%s'", path("empty.mp4")) == 0);
    expect_error(path("empty.mp4"), CT_MC_ERR_INPUT_UNREADABLE, "empty");
    CHECK(sh("printf '#EXTM3U\\n#EXT-X-TARGETDURATION:10\\n#EXTINF:10,\\nfile:///etc/passwd\\n"
             "#EXT-X-ENDLIST\\n' > '%s'", path("hls.mp4")) == 0);
    expect_error(path("hls.mp4"), CT_MC_ERR_INPUT_UNREADABLE, "'hls'");
    CHECK(sh("printf 'ffconcat version 1.0\\nfile /etc/passwd\\n' > '%s'", path("concat.mp4")) == 0);
    expect_error(path("concat.mp4"), CT_MC_ERR_INPUT_UNREADABLE, "input:");
    /* moov at the end, file cut in half: no moov */
    CHECK(sh("ffmpeg -v error -y -f lavfi -i testsrc2=size=320x240:rate=25:duration=2 -c:v libx264 "
             "-preset ultrafast '%s' && head -c $(($(stat -c %%s '%s') / 2)) '%s' > '%s'",
             path("whole.mp4"), path("whole.mp4"), path("whole.mp4"), path("cut.mp4")) == 0);
    expect_error(path("cut.mp4"), CT_MC_ERR_TRUNCATED_INPUT, "moov");
    /* moov first, media cut */
    CHECK(sh("ffmpeg -v error -y -i '%s' -c copy -movflags +faststart '%s' && head -c $(($(stat -c %%s '%s') / 3)) "
             "'%s' > '%s'", path("whole.mp4"), path("fs.mp4"), path("fs.mp4"), path("fs.mp4"),
             path("fscut.mp4")) == 0);
    expect_error(path("fscut.mp4"), CT_MC_ERR_TRUNCATED_INPUT, "truncated");
    plan_init(&p, path("fscut.mp4"), 2); /* error path with SVT-AV1 and x265 open */
    p.outputs[0].video.codec = CT_VCODEC_AV1;
    p.outputs[1].video.codec = CT_VCODEC_H265;
    CHECK(run_plan(&p, &r) == CT_ERR_INVALID && r.error_code == CT_MC_ERR_TRUNCATED_INPUT);
    /* moov intact, most of mdat overwritten with noise */
    CHECK(sh("cp '%s' '%s' && off=$(grep -obUa mdat '%s' | head -1 | cut -d: -f1) && "
             "dd if=/dev/urandom of='%s' bs=1 seek=$((off + 2000)) conv=notrunc "
             "count=$(($(stat -c %%s '%s') - off - 2100)) 2>/dev/null",
             path("fs.mp4"), path("noise.mp4"), path("noise.mp4"), path("noise.mp4"),
             path("noise.mp4")) == 0);
    expect_error(path("noise.mp4"), CT_MC_ERR_BROKEN_INPUT, "could not be decoded");
    /* audio only, plan wants video */
    CHECK(sh("ffmpeg -v error -y -f lavfi -i sine=duration=1 '%s'", path("audio.m4a")) == 0);
    expect_error(path("audio.m4a"), CT_MC_ERR_NO_VIDEO, "no video stream");
    /* caps */
    plan_init(&p, path("whole.mp4"), 1);
    p.max_width = 160;
    p.max_height = 120;
    CHECK(run_plan(&p, &r) == CT_ERR_INVALID && r.error_code == CT_MC_ERR_SETTINGS);
    plan_init(&p, path("whole.mp4"), 1);
    p.max_duration_s = 1;
    CHECK(run_plan(&p, &r) == CT_ERR_INVALID && strstr(r.error_message, "duration") != NULL);
}

int main(void)
{
    setenv("SVT_LOG", "1", 1);
    snprintf(g_dir, sizeof g_dir, "/tmp/ct_transcode_XXXXXX");
    if (!mkdtemp(g_dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_hls_and_capture();
    test_dash_cmaf();
    test_joined_inputs();
    test_seed_job();
    test_scaling_and_rotation();
    test_rate_modes_and_containers();
    test_hostile_inputs();
    if (!getenv("CT_KEEP_TMP"))
        sh("rm -rf '%s'", g_dir);
    CT_TEST_END();
}
