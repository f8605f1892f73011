/* test_tc_features: audio source slots and the Deinterlacer, from settings
 * (ct_mc_job_plan: what mc plans, what it refuses and the JSON path it
 * names) through the plan's JSON to the engine (ct_transcode_run on clips
 * made with the ffmpeg CLI, outputs checked with ffprobe). */
#include "ct_test.h"
#include "mc/mc_internal.h"
#include "transcode/transcode.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <unistd.h>

const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:libx265.so\n";
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

/* ---------------------------------------------------------------- mc */

#define OUT(mod, extra_vd, src)                                                                    \
    "{\"nameModifier\":\"" mod "\",\"containerSettings\":{\"container\":\"MP4\"},"                 \
    "\"videoDescription\":{\"codecSettings\":{\"codec\":\"H_264\",\"h264Settings\":{"              \
    "\"rateControlMode\":\"QVBR\",\"maxBitrate\":500000}}" extra_vd "},"                           \
    "\"audioDescriptions\":[{" src "\"codecSettings\":{\"codec\":\"AAC\",\"aacSettings\":{"         \
    "\"bitrate\":96000,\"codingMode\":\"CODING_MODE_2_0\",\"sampleRate\":48000}}}]}"

static ct_err plan_of(const char *inputs, const char *outputs, ct_plan *p, char *msg, size_t n)
{
    char spec[8192];
    ct_mc_dest dests[CT_PLAN_MAX_OUTPUTS];
    char b[64], k[1025];
    snprintf(spec, sizeof spec,
             "{\"settings\":{\"inputs\":%s,\"outputGroups\":[{\"outputGroupSettings\":{\"type\":"
             "\"FILE_GROUP_SETTINGS\",\"fileGroupSettings\":{\"destination\":\"s3://dst/o/\"}},"
             "\"outputs\":[%s]}]}}", inputs, outputs);
    ct_err e = ct_mc_job_plan(spec, p, b, k, dests, msg, n);
    if (e)
        fprintf(stderr, "  plan: %s\n", msg);
    return e;
}

static void expect_refused(const char *inputs, const char *outputs, const char *msg_part)
{
    static ct_plan p;
    char msg[1600];
    ct_err e = ct_mc_job_plan("{}", &p, NULL, NULL, NULL, msg, sizeof msg); /* no settings */
    CHECK(e == CT_ERR_INVALID);
    char spec[8192];
    ct_mc_dest dests[CT_PLAN_MAX_OUTPUTS];
    char b[64], k[1025];
    snprintf(spec, sizeof spec,
             "{\"settings\":{\"inputs\":%s,\"outputGroups\":[{\"outputGroupSettings\":{\"type\":"
             "\"FILE_GROUP_SETTINGS\",\"fileGroupSettings\":{\"destination\":\"s3://dst/o/\"}},"
             "\"outputs\":[%s]}]}}", inputs, outputs);
    e = ct_mc_job_plan(spec, &p, b, k, dests, msg, sizeof msg);
    CHECK(e == CT_ERR_INVALID);
    if (!strstr(msg, msg_part)) {
        fprintf(stderr, "  expected \"%s\" in \"%s\"\n", msg_part, msg);
        CHECK(0);
    }
}

static void test_mc_audio_sources(void)
{
    static ct_plan p, q;
    char msg[1600];
    const char *in2 =
        "[{\"fileInput\":\"s3://src/a.mp4\",\"audioSelectors\":{"
        "\"Audio Selector 1\":{\"defaultSelection\":\"DEFAULT\"},"
        "\"Two\":{\"selectorType\":\"TRACK\",\"tracks\":[2]},"
        "\"Pid\":{\"pids\":[258]},"
        "\"Fra\":{\"selectorType\":\"LANGUAGE_CODE\",\"languageCode\":\"FRA\"}}},"
        "{\"fileInput\":\"s3://src/b.mp4\",\"audioSelectors\":{"
        "\"Fallback\":{\"tracks\":[3],\"defaultSelection\":\"DEFAULT\"}}}]";
    CHECK(plan_of(in2, OUT("-a", "", "") "," OUT("-b", "", "\"audioSourceName\":\"Two\",") ","
                  OUT("-c", "", "\"audioSourceName\":\"Pid\",") ","
                  OUT("-d", "", "\"audioSourceName\":\"Two\",") ","
                  OUT("-e", "", "\"audioSourceName\":\"Fra\","), &p, msg, sizeof msg) == CT_OK);
    CHECK(p.n_audio == 4);
    CHECK(p.outputs[0].audio.source == 0 && p.outputs[1].audio.source == 1);
    CHECK(p.outputs[2].audio.source == 2 && p.outputs[3].audio.source == 1 && p.outputs[4].audio.source == 3);
    CHECK(p.inputs[0].audio[0].kind == CT_ASEL_DEFAULT);
    CHECK(p.inputs[0].audio[1].kind == CT_ASEL_TRACK && p.inputs[0].audio[1].value == 2);
    CHECK(p.inputs[0].audio[2].kind == CT_ASEL_PID && p.inputs[0].audio[2].value == 258);
    CHECK(p.inputs[0].audio[3].kind == CT_ASEL_LANG && strcmp(p.inputs[0].audio[3].lang, "fra") == 0);
    /* the second input has none of those names: its DEFAULT selector for each */
    for (int s = 0; s < 4; s++)
        CHECK(p.inputs[1].audio[s].kind == CT_ASEL_TRACK && p.inputs[1].audio[s].value == 3);
    /* through the plan's JSON unchanged */
    char *json = ct_plan_to_json(&p), err[256];
    CHECK(json && ct_plan_from_json(json, &q, err, sizeof err) == CT_OK);
    CHECK(memcmp(&p, &q, sizeof p) == 0);
    free(json);
    /* no selectors at all: one slot, the default track */
    CHECK(plan_of("[{\"fileInput\":\"s3://src/a.mp4\"}]", OUT("-a", "", ""), &p, msg, sizeof msg) == CT_OK);
    CHECK(p.n_audio == 1 && p.outputs[0].audio.source == 0 && p.inputs[0].audio[0].kind == CT_ASEL_DEFAULT);

    /* LanguageCode / CustomLanguageCode and StreamName label the rendition */
    CHECK(plan_of("[{\"fileInput\":\"s3://src/a.mp4\"}]",
                  OUT("-a", "", "\"languageCode\":\"SPA\",\"streamName\":\"Espanol 2\",") ","
                  OUT("-b", "", "\"customLanguageCode\":\"pt-BR\","), &p, msg, sizeof msg) == CT_OK);
    CHECK_STR(p.outputs[0].audio.lang, "spa");
    CHECK_STR(p.outputs[0].audio.stream_name, "Espanol 2");
    CHECK_STR(p.outputs[1].audio.lang, "pt-br");
    CHECK(p.outputs[0].audio.lang_follow == 1);
    CHECK(p.outputs[1].audio.stream_name[0] == '\0');
    expect_refused("[{\"fileInput\":\"s3://src/a.mp4\"}]", OUT("-a", "", "\"streamName\":\"a\\\"b\","),
                   "settings.outputGroups[0].outputs[0].audioDescriptions[0].streamName: at most 63 bytes");
    expect_refused("[{\"fileInput\":\"s3://src/a.mp4\"}]", OUT("-a", "", "\"customLanguageCode\":\"e n\","),
                   "settings.outputGroups[0].outputs[0].audioDescriptions[0].customLanguageCode: expected a language");

    const char *sel = "settings.inputs[0].audioSelectors[\"Audio Selector 1\"].";
    char want[256];
    snprintf(want, sizeof want, "%stracks: at most one per audio selector", sel);
    expect_refused("[{\"fileInput\":\"s3://src/a.mp4\",\"audioSelectors\":{\"Audio Selector 1\":{\"tracks\":[1,2]}}}]",
                   OUT("-a", "", ""), want);
    snprintf(want, sizeof want, "%spids: required when selectorType is PID", sel);
    expect_refused("[{\"fileInput\":\"s3://src/a.mp4\",\"audioSelectors\":{\"Audio Selector 1\":{\"selectorType\":\"PID\"}}}]",
                   OUT("-a", "", ""), want);
    snprintf(want, sizeof want, "%slanguageCode: required", sel);
    expect_refused("[{\"fileInput\":\"s3://src/a.mp4\",\"audioSelectors\":{\"Audio Selector 1\":{\"selectorType\":"
                   "\"LANGUAGE_CODE\"}}}]", OUT("-a", "", ""), want);
    snprintf(want, sizeof want, "%scustomLanguageCode: expected a 3-letter", sel);
    expect_refused("[{\"fileInput\":\"s3://src/a.mp4\",\"audioSelectors\":{\"Audio Selector 1\":{\"customLanguageCode\":"
                   "\"e1g\"}}}]", OUT("-a", "", ""), want);
    snprintf(want, sizeof want, "%sremixSettings: not supported", sel);
    expect_refused("[{\"fileInput\":\"s3://src/a.mp4\",\"audioSelectors\":{\"Audio Selector 1\":{\"remixSettings\":{}}}}]",
                   OUT("-a", "", ""), want);
    /* a selector of a later input is checked too */
    expect_refused("[{\"fileInput\":\"s3://src/a.mp4\"},{\"fileInput\":\"s3://src/b.mp4\",\"audioSelectors\":{\"X\":"
                   "{\"tracks\":[0]}}}]", OUT("-a", "", ""),
                   "settings.inputs[1].audioSelectors[\"X\"].tracks: expected an integer from 1");
}

static void test_mc_deinterlacer(void)
{
    static ct_plan p;
    char msg[1600];
    const char *in = "[{\"fileInput\":\"s3://src/a.mp4\"}]";
    CHECK(plan_of(in, OUT("-a", "", ""), &p, msg, sizeof msg) == CT_OK);
    CHECK(p.outputs[0].video.deint_mode == CT_DEINT_AUTO);
    CHECK(plan_of(in, OUT("-a", ",\"videoPreprocessors\":{\"deinterlacer\":{\"algorithm\":\"BLEND_TICKER\","
                          "\"control\":\"FORCE_ALL_FRAMES\"}}", ""), &p, msg, sizeof msg) == CT_OK);
    CHECK(p.outputs[0].video.deint_mode == CT_DEINT_DEINTERLACE && p.outputs[0].video.deint_algo == CT_DEINT_BLEND);
    CHECK(p.outputs[0].video.deint_force == 1);
    CHECK(plan_of(in, OUT("-a", ",\"videoPreprocessors\":{\"deinterlacer\":{\"mode\":\"INVERSE_TELECINE\","
                          "\"algorithm\":\"LINEAR_INTERPOLATION\"}}", ""), &p, msg, sizeof msg) == CT_OK);
    CHECK(p.outputs[0].video.deint_mode == CT_DEINT_IVTC && p.outputs[0].video.deint_algo == CT_DEINT_LINEAR);
    CHECK(p.outputs[0].video.deint_force == 0);
    const char *vp = "settings.outputGroups[0].outputs[0].videoDescription.videoPreprocessors.";
    char want[256];
    snprintf(want, sizeof want, "%snoiseReducer: not supported by CatTube (supported: deinterlacer)", vp);
    expect_refused(in, OUT("-a", ",\"videoPreprocessors\":{\"noiseReducer\":{}}", ""), want);
    snprintf(want, sizeof want, "%sdeinterlacer.mode: unsupported value \"SLOW\"", vp);
    expect_refused(in, OUT("-a", ",\"videoPreprocessors\":{\"deinterlacer\":{\"mode\":\"SLOW\"}}", ""), want);
}

/* ------------------------------------------------------------ engine */

static const char *path(const char *name)
{
    static char bufs[4][512];
    static int k;
    char *b = bufs[k++ % 4];
    snprintf(b, 512, "%s/%s", g_dir, name);
    return b;
}

static void probe_field(const char *file, const char *entry, char *out, size_t n)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "ffprobe -v error -select_streams v:0 -count_frames -show_entries "
             "stream=%s -of default=nw=1:nk=1 '%s'", entry, file);
    out[0] = '\0';
    FILE *f = popen(cmd, "r");
    if (!f)
        return;
    size_t len = fread(out, 1, n - 1, f);
    out[len] = '\0';
    while (len > 0 && (out[len - 1] == '\n' || out[len - 1] == '\r'))
        out[--len] = '\0';
    pclose(f);
}

static void video_plan(ct_plan *p, const char *in, const char *out)
{
    memset(p, 0, sizeof *p);
    snprintf(p->input_path, sizeof p->input_path, "%s", in);
    p->n_outputs = 1;
    ct_plan_output *o = &p->outputs[0];
    snprintf(o->path, sizeof o->path, "%s", out);
    o->video.codec = CT_VCODEC_H264;
    o->video.rc_mode = CT_RC_QVBR;
    o->video.qvbr_level = 7;
    o->video.max_bitrate = 1000000;
}

static ct_err run(const ct_plan *p, ct_transcode_result *r)
{
    int in = open(p->input_path, O_RDONLY | O_CLOEXEC);
    int out = open(p->outputs[0].path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ct_err e = ct_transcode_run(p, in, &out, NULL, NULL, r);
    close(in);
    close(out);
    if (r->error_code)
        fprintf(stderr, "  -> error %d: %s\n", r->error_code, r->error_message);
    return e;
}

/* Every algorithm on an interlaced MPEG-2 input: progressive output, same rate. */
static void test_engine_deinterlacer(void)
{
    static ct_plan p;
    ct_transcode_result r;
    char v[64], in[512];
    snprintf(in, sizeof in, "%s", path("inter.ts"));
    if (sh("ffmpeg -v error -y -f lavfi -i testsrc2=size=320x240:rate=50:duration=1 -vf "
           "tinterlace=mode=interleave_top,setfield=tff -c:v mpeg2video -flags +ilme+ildct -top 1 "
           "-b:v 2M '%s'", in)) {
        CHECK(0);
        return;
    }
    const int algos[] = {CT_DEINT_INTERPOLATE, CT_DEINT_BLEND, CT_DEINT_LINEAR};
    for (int i = 0; i < 3; i++) {
        video_plan(&p, in, path("deint.mp4"));
        p.outputs[0].video.deint_mode = CT_DEINT_DEINTERLACE;
        p.outputs[0].video.deint_algo = algos[i];
        p.outputs[0].video.deint_force = i == 2;
        CHECK(run(&p, &r) == CT_OK);
        probe_field(p.outputs[0].path, "field_order", v, sizeof v);
        CHECK(v[0] == '\0' || strcmp(v, "progressive") == 0);
        probe_field(p.outputs[0].path, "avg_frame_rate", v, sizeof v);
        CHECK_STR(v, "25/1");
    }
    /* ADAPTIVE: field matching, then bwdif; the rate stays */
    video_plan(&p, in, path("adaptive.mp4"));
    p.outputs[0].video.deint_mode = CT_DEINT_ADAPTIVE;
    CHECK(run(&p, &r) == CT_OK);
    probe_field(p.outputs[0].path, "avg_frame_rate", v, sizeof v);
    CHECK_STR(v, "25/1");
}

/* 3:2 pulldown (23.976 fps telecined to 29.97) back to 23.976 fps. */
static void test_engine_inverse_telecine(void)
{
    static ct_plan p;
    ct_transcode_result r;
    char v[64], in[512];
    snprintf(in, sizeof in, "%s", path("telecined.ts"));
    if (sh("ffmpeg -v error -y -f lavfi -i testsrc2=size=320x240:rate=24000/1001:duration=2 -vf "
           "telecine=first_field=top:pattern=23 -c:v mpeg2video -flags +ilme+ildct -top 1 -b:v 2M '%s'",
           in)) {
        CHECK(0);
        return;
    }
    video_plan(&p, in, path("ivtc.mp4"));
    p.outputs[0].video.deint_mode = CT_DEINT_IVTC;
    CHECK(run(&p, &r) == CT_OK);
    probe_field(p.outputs[0].path, "avg_frame_rate", v, sizeof v);
    CHECK_STR(v, "24000/1001");
    probe_field(p.outputs[0].path, "nb_read_frames", v, sizeof v);
    int frames = atoi(v);
    CHECK(frames >= 45 && frames <= 50); /* 2 s at 23.976 */
    if (frames < 45 || frames > 50)
        fprintf(stderr, "  inverse telecine: %d frames\n", frames);
}

/* Video graphs run with slice threads (tc_filter.c): the scaled pictures,
 * and so the encoded bytes, must not depend on how slices were scheduled. */
static void test_engine_threaded_scale_is_deterministic(void)
{
    static ct_plan p;
    ct_transcode_result r;
    char v[64], in[512];
    snprintf(in, sizeof in, "%s", path("scale_src.mp4"));
    if (sh("ffmpeg -v error -y -f lavfi -i testsrc2=size=1280x720:rate=25:duration=1 -c:v libx264 "
           "-preset ultrafast -crf 10 '%s'", in)) {
        CHECK(0);
        return;
    }
    const char *outs[2] = {"scaled_a.mp4", "scaled_b.mp4"};
    for (int i = 0; i < 2; i++) {
        video_plan(&p, in, path(outs[i]));
        p.outputs[0].video.width = 426;
        p.outputs[0].video.height = 240;
        CHECK(run(&p, &r) == CT_OK);
        probe_field(p.outputs[0].path, "width", v, sizeof v);
        CHECK_STR(v, "426");
    }
    CHECK(sh("cmp -s '%s' '%s'", path(outs[0]), path(outs[1])) == 0);
}

int main(void)
{
    snprintf(g_dir, sizeof g_dir, "/tmp/ct_tcfeat_XXXXXX");
    if (!mkdtemp(g_dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_mc_audio_sources();
    test_mc_deinterlacer();
    test_engine_deinterlacer();
    test_engine_inverse_telecine();
    test_engine_threaded_scale_is_deterministic();
    if (!getenv("CT_KEEP_TMP"))
        sh("rm -rf '%s'", g_dir);
    CT_TEST_END();
}
