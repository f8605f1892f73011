/* Unit tests for mc: model check + normalisation, supported-subset
 * validation, plan building and naming, template merge, and the REST API
 * through ct_mc_handle (queues, templates, presets, jobs, endpoints). */
#include "ct_test.h"
#include "mc/mc_internal.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char seed_job[] =
    "{\"Queue\":\"arn:aws:mediaconvert:region:account_id:queues/Default\",\"UserMetadata\":{},\""
    "Role\":\"arn:aws:iam::account_id:role/MediaConvert_Default_Role\",\"Settings\":{\"Timecode"
    "Config\":{\"Source\":\"ZEROBASED\"},\"OutputGroups\":[{\"Name\":\"File Group\",\"Outputs\""
    ":[{\"ContainerSettings\":{\"Container\":\"MP4\",\"Mp4Settings\":{}},\"VideoDescription\":{"
    "\"CodecSettings\":{\"Codec\":\"H_265\",\"H265Settings\":{\"MaxBitrate\":5000000,\"RateCont"
    "rolMode\":\"QVBR\",\"SceneChangeDetect\":\"TRANSITION_DETECTION\"}}},\"AudioDescriptions\""
    ":[{\"AudioSourceName\":\"Audio Selector 1\",\"CodecSettings\":{\"Codec\":\"AAC\",\"AacSett"
    "ings\":{\"Bitrate\":96000,\"CodingMode\":\"CODING_MODE_2_0\",\"SampleRate\":48000}}}],\"Na"
    "meModifier\":\"-hd\"},{\"ContainerSettings\":{\"Container\":\"MP4\",\"Mp4Settings\":{}},\""
    "VideoDescription\":{\"Width\":256,\"Height\":144,\"CodecSettings\":{\"Codec\":\"AV1\",\"Av"
    "1Settings\":{\"RateControlMode\":\"QVBR\",\"QvbrSettings\":{},\"MaxBitrate\":100000}}},\"A"
    "udioDescriptions\":[{\"CodecSettings\":{\"Codec\":\"AAC\",\"AacSettings\":{\"Bitrate\":960"
    "00,\"CodingMode\":\"CODING_MODE_2_0\",\"SampleRate\":48000}}}],\"NameModifier\":\"-sd\"}],"
    "\"OutputGroupSettings\":{\"Type\":\"FILE_GROUP_SETTINGS\",\"FileGroupSettings\":{\"Destina"
    "tion\":\"s3://destination_bucket/\"}}}],\"Inputs\":[{\"AudioSelectors\":{\"Audio Selector "
    "1\":{\"DefaultSelection\":\"DEFAULT\"}},\"VideoSelector\":{},\"TimecodeSource\":\"ZEROBASE"
    "D\",\"FileInput\":\"s3://source_bucket/object.mp4\"}]},\"AccelerationSettings\":{\"Mode\":"
    "\"DISABLED\"},\"StatusUpdateInterval\":\"SECONDS_60\",\"Priority\":0}";

#define ACCOUNT "123456789012"

/* ------------------------------------------------------------ helpers */

static json_t *seed(void)
{
    json_t *j = json_loads(seed_job, 0, NULL);
    CHECK(j != NULL);
    return j;
}

/* Sets a dotted path ("Settings.Inputs.0.FileInput"); numeric parts index arrays. */
static void set_path(json_t *root, const char *path, json_t *val)
{
    char buf[512], *save = NULL;
    snprintf(buf, sizeof buf, "%s", path);
    char *last = strrchr(buf, '.');
    json_t *cur = root;
    if (last) {
        *last = '\0';
        for (char *t = strtok_r(buf, ".", &save); t && cur; t = strtok_r(NULL, ".", &save))
            cur = json_is_array(cur) ? json_array_get(cur, (size_t)atoi(t)) : json_object_get(cur, t);
        last++;
    } else {
        last = buf;
    }
    if (json_is_array(cur))
        json_array_set_new(cur, (size_t)atoi(last), val);
    else if (val)
        json_object_set_new(cur, last, val);
    else
        json_object_del(cur, last);
}

/* Model check + plan of a CreateJob body; returns 0 or -1 with msg. */
static int run_job(json_t *body, ct_plan *plan, char bucket[64], char key[1025], ct_mc_dest *dests,
                   char *msg, size_t n)
{
    mc_diag d;
    mc_diag_init(&d, "", NULL);
    json_t *req = mc_model_check("CreateJobRequest", body, &d);
    int rc = -1;
    if (req) {
        size_t p = mc_path_key(&d, "settings");
        rc = mc_settings_plan(json_object_get(req, "settings"), plan, bucket, key, dests, &d);
        mc_path_pop(&d, p);
    }
    snprintf(msg, n, "%s", rc ? d.msg : "");
    json_decref(req);
    return rc;
}

static void expect_err(const char *path, json_t *val, const char *want)
{
    json_t *j = seed();
    ct_plan plan;
    char b[64], k[1025], msg[2048];
    set_path(j, path, val);
    CHECK(run_job(j, &plan, b, k, NULL, msg, sizeof msg) == -1);
    CHECK_STR(msg, want);
    json_decref(j);
}

/* --------------------------------------------------------- model + plan */

static void test_seed_plan(void)
{
    json_t *j = seed();
    ct_plan plan;
    ct_mc_dest dests[CT_PLAN_MAX_OUTPUTS];
    char b[64], k[1025], msg[2048];
    CHECK(run_job(j, &plan, b, k, dests, msg, sizeof msg) == 0);
    CHECK_STR(msg, "");
    CHECK_STR(b, "source_bucket");
    CHECK_STR(k, "object.mp4");
    CHECK(plan.n_outputs == 2);
    ct_plan_output *o = &plan.outputs[0];
    CHECK(o->video.codec == CT_VCODEC_H265 && o->video.rc_mode == CT_RC_QVBR);
    CHECK(o->video.qvbr_level == 7 && o->video.max_bitrate == 5000000);
    CHECK(o->video.width == 0 && o->video.height == 0 && o->video.scene_change_detect == 1);
    CHECK(o->audio.codec == CT_ACODEC_AAC && o->audio.bitrate == 96000);
    CHECK(o->audio.channels == 2 && o->audio.sample_rate == 48000);
    CHECK(o->path[0] == '\0' && plan.input_path[0] == '\0');
    o = &plan.outputs[1];
    CHECK(o->video.codec == CT_VCODEC_AV1 && o->video.width == 256 && o->video.height == 144);
    CHECK(o->video.qvbr_level == 7 && o->video.max_bitrate == 100000);
    CHECK_STR(dests[0].bucket, "destination_bucket");
    CHECK_STR(dests[0].key, "object-hd.mp4");
    CHECK_STR(dests[1].key, "object-sd.mp4");
    CHECK_STR(dests[1].group_name, "File Group");
    CHECK(dests[1].group_index == 0);
    json_decref(j);
}

static void test_normalise(void)
{
    json_t *j = seed();
    mc_diag d;
    mc_diag_init(&d, "", NULL);
    json_t *n = mc_model_check("CreateJobRequest", j, &d);
    CHECK(n != NULL);
    json_t *in = json_array_get(json_object_get(json_object_get(n, "settings"), "inputs"), 0);
    CHECK(json_object_get(json_object_get(in, "audioSelectors"), "Audio Selector 1") != NULL);
    CHECK_STR(json_string_value(json_object_get(
                  json_object_get(json_object_get(in, "audioSelectors"), "Audio Selector 1"),
                  "defaultSelection")),
              "DEFAULT");
    CHECK_STR(json_string_value(json_object_get(in, "fileInput")), "s3://source_bucket/object.mp4");
    CHECK(json_object_get(n, "userMetadata") != NULL && json_object_get(n, "Role") == NULL);
    json_t *o = json_array_get(json_object_get(json_array_get(json_object_get(
                    json_object_get(n, "settings"), "outputGroups"), 0), "outputs"), 1);
    json_t *av1 = json_object_get(json_object_get(json_object_get(o, "videoDescription"),
                                                  "codecSettings"), "av1Settings");
    CHECK(json_integer_value(json_object_get(av1, "maxBitrate")) == 100000);
    /* camelCase input normalises to itself */
    json_t *again = mc_model_check("CreateJobRequest", n, &d);
    CHECK(again && json_equal(again, n));
    /* user metadata keys are data, never case-folded */
    json_t *um = json_pack("{s:{s:s}, s:s, s:{}}", "userMetadata", "Key", "Value", "role", "r",
                           "settings");
    json_t *um2 = mc_model_check("CreateJobRequest", um, &d);
    CHECK(um2 && json_object_get(json_object_get(um2, "userMetadata"), "Key") != NULL);
    json_decref(um);
    json_decref(um2);
    json_decref(again);
    json_decref(n);
    json_decref(j);
}

static void test_errors(void)
{
    expect_err("Settings.OutputGroups.0.Outputs.1.VideoDescription.CodecSettings.Codec",
               json_string("MPEG2"),
               "settings.outputGroups[0].outputs[1].videoDescription.codecSettings.codec: "
               "unsupported value \"MPEG2\" (supported: H_264, H_265, AV1, VP9, VP8, FRAME_CAPTURE)");
    expect_err("Settings.OutputGroups.0.Outputs.0.VideoDescription.foo", json_integer(1),
               "settings.outputGroups[0].outputs[0].videoDescription.foo: unknown field");
    expect_err("Settings.OutputGroups.0.Outputs.0.VideoDescription.Widht", json_integer(640),
               "settings.outputGroups[0].outputs[0].videoDescription.widht: unknown field");
    expect_err("Settings.Inputs.0.FileInput", NULL, "settings.inputs[0].fileInput: required");
    expect_err("Settings.Inputs.0.FileInput", json_string("https://x/y.mp4"),
               "settings.inputs[0].fileInput: must be an s3://bucket/key URL (got "
               "\"https://x/y.mp4\")");
    expect_err("Settings.OutputGroups.0.OutputGroupSettings.Type", json_string("HLS_GROUP_SETTINGS"),
               "settings.outputGroups[0].outputGroupSettings.hlsGroupSettings.destination: required");
    expect_err("Settings.OutputGroups.0.OutputGroupSettings.Type", json_string("DASH_ISO_GROUP_SETTINGS"),
               "settings.outputGroups[0].outputGroupSettings.dashIsoGroupSettings.destination: required");
    expect_err("Settings.OutputGroups.0.OutputGroupSettings.Type", json_string("MS_SMOOTH_GROUP_SETTINGS"),
               "settings.outputGroups[0].outputGroupSettings.type: unsupported value "
               "\"MS_SMOOTH_GROUP_SETTINGS\" (supported: FILE_GROUP_SETTINGS, HLS_GROUP_SETTINGS,"
               " DASH_ISO_GROUP_SETTINGS, CMAF_GROUP_SETTINGS)");
    expect_err("Settings.OutputGroups.0.OutputGroupSettings.Type", json_string("BOGUS"),
               "settings.outputGroups[0].outputGroupSettings.type: invalid value \"BOGUS\" "
               "(valid: HLS_GROUP_SETTINGS, DASH_ISO_GROUP_SETTINGS, FILE_GROUP_SETTINGS, "
               "MS_SMOOTH_GROUP_SETTINGS, CMAF_GROUP_SETTINGS)");
    expect_err("Settings.OutputGroups.0.Outputs.0.VideoDescription.CodecSettings.H265Settings.MaxBitrate",
               NULL,
               "settings.outputGroups[0].outputs[0].videoDescription.codecSettings.h265Settings."
               "maxBitrate: required when rateControlMode is QVBR");
    expect_err("Settings.OutputGroups.0.Outputs.1.VideoDescription.CodecSettings.Av1Settings."
               "QvbrSettings.QvbrQualityLevel", json_integer(11),
               "settings.outputGroups[0].outputs[1].videoDescription.codecSettings.av1Settings."
               "qvbrSettings.qvbrQualityLevel: must be between 1 and 10 (got 11)");
    expect_err("Settings.OutputGroups.0.Outputs.1.VideoDescription.Width", json_string("256"),
               "settings.outputGroups[0].outputs[1].videoDescription.width: expected an integer");
    expect_err("Settings.OutputGroups.0.Outputs.1.NameModifier", json_string("-hd"),
               "settings.outputGroups[0].outputs[1].nameModifier: two outputs would both write "
               "s3://destination_bucket/object-hd.mp4; give each a distinct nameModifier");
    expect_err("Settings.OutputGroups.0.Outputs.0.AudioDescriptions.0.AudioSourceName",
               json_string("Audio Selector 9"),
               "settings.outputGroups[0].outputs[0].audioDescriptions[0].audioSourceName: no audio "
               "selector named \"Audio Selector 9\" in settings.inputs[0]");
    expect_err("Settings.OutputGroups.0.Outputs.0.AudioDescriptions.0.CodecSettings.Codec",
               json_string("MP3"),
               "settings.outputGroups[0].outputs[0].audioDescriptions[0].codecSettings.codec: "
               "unsupported value \"MP3\" in container MP4 (supported: video H_264, H_265, AV1; audio AAC)");
    expect_err("Settings.OutputGroups.0.Outputs.0.AudioDescriptions.0.CodecSettings.Codec",
               json_string("AC3"),
               "settings.outputGroups[0].outputs[0].audioDescriptions[0].codecSettings.codec: "
               "unsupported value \"AC3\" (supported: AAC, OPUS, MP3, VORBIS)");
    expect_err("Settings.OutputGroups.0.Outputs.0.ContainerSettings.Container", json_string("MXF"),
               "settings.outputGroups[0].outputs[0].containerSettings.container: unsupported "
               "value \"MXF\" in this output group (supported: MP4, MOV, WEBM and RAW (frame "
               "capture or MP3) in FILE_GROUP_SETTINGS; M3U8 (TS segments) and CMFC (fMP4 segments) in "
               "HLS_GROUP_SETTINGS; MPD in DASH_ISO_GROUP_SETTINGS; CMFC in CMAF_GROUP_SETTINGS)");
    expect_err("Settings.OutputGroups.0.Outputs.0.ContainerSettings.Container", json_string("WEBM"),
               "settings.outputGroups[0].outputs[0].videoDescription.codecSettings.codec: unsupported "
               "value \"H_265\" in container WEBM (supported: video VP8, VP9; audio OPUS, VORBIS)");
    expect_err("Settings.OutputGroups.0.Outputs.0.CaptionDescriptions", json_array(),
               "settings.outputGroups[0].outputs[0].captionDescriptions: unsupported field "
               "(CatTube does not implement it)");
    expect_err("Settings.OutputGroups.0.OutputGroupSettings.FileGroupSettings.Destination",
               json_string("/local/dir/"),
               "settings.outputGroups[0].outputGroupSettings.fileGroupSettings.destination: "
               "must be an s3://bucket/prefix URL (got \"/local/dir/\")");
    expect_err("Priority", json_integer(51), "priority: must be between -50 and 50 (got 51)");
    expect_err("Settings", json_string("x"), "settings: expected an object");
    expect_err("Settings.OutputGroups", json_array(), "settings.outputGroups: must have at "
                                                      "least 1 item");
}

/* Several inputs (concatenated), InputClippings and TimecodeSource. */
static void test_two_inputs(void)
{
    json_t *j = seed();
    json_t *inputs = json_object_get(json_object_get(j, "Settings"), "Inputs");
    json_array_append_new(inputs, json_pack("{s:s, s:[{s:s, s:s}, {s:s}], s:s, s:s}", "FileInput",
                                            "s3://bbb/c.mp4", "InputClippings", "StartTimecode",
                                            "00:00:01:00", "EndTimecode", "00:00:02;12", "StartTimecode",
                                            "01:00:05:00", "TimecodeSource", "SPECIFIEDSTART",
                                            "TimecodeStart", "01:00:00:00"));
    char b[64], k[1025], msg[2048];
    static ct_plan plan;
    CHECK(run_job(j, &plan, b, k, NULL, msg, sizeof msg) == 0);
    CHECK_STR(msg, "");
    CHECK(plan.n_inputs == 2 && plan.inputs[0].n_clips == 0 && plan.inputs[0].tc_source == CT_TC_ZEROBASED);
    const ct_plan_input *in = &plan.inputs[1];
    CHECK(in->n_clips == 2 && in->tc_source == CT_TC_SPECIFIED && in->tc_start.h == 1);
    CHECK(in->clips[0].start.s == 1 && in->clips[0].end.s == 2 && in->clips[0].end.f == 12);
    CHECK(in->clips[1].start.h == 1 && in->clips[1].start.s == 5 && in->clips[1].end.h == -1);
    CHECK_STR(k, "object.mp4"); /* names come from the first input */
    char jb[64], jk[1025];
    set_path(j, "Settings.Inputs.1.InputClippings.0.EndTimecode", json_string("00:00:00:10"));
    CHECK(run_job(j, &plan, b, k, NULL, msg, sizeof msg) == -1);
    CHECK_STR(msg, "settings.inputs[1].inputClippings[0].endTimecode: must not be before startTimecode");
    set_path(j, "Settings.Inputs.1.InputClippings.0.EndTimecode", json_string("00:61:00:10"));
    CHECK(run_job(j, &plan, b, k, NULL, msg, sizeof msg) == -1);
    CHECK(strstr(msg, "endTimecode: ") != NULL);
    set_path(j, "Settings.Inputs.1.InputClippings.0.EndTimecode", NULL);
    set_path(j, "Settings.Inputs.1.TimecodeStart", NULL);
    CHECK(run_job(j, &plan, b, k, NULL, msg, sizeof msg) == -1);
    CHECK_STR(msg, "settings.inputs[1].timecodeStart: required when timecodeSource is SPECIFIEDSTART");
    /* the worker's view of input 2 of a stored job */
    CHECK(ct_mc_job_input("{\"settings\":{\"inputs\":[{\"fileInput\":\"s3://aaa/x.mp4\"},"
                          "{\"fileInput\":\"s3://bbb/d/y.mov\"}]}}", 1, jb, jk) == CT_OK);
    CHECK_STR(jb, "bbb");
    CHECK_STR(jk, "d/y.mov");
    CHECK(ct_mc_job_input("{\"settings\":{\"inputs\":[]}}", 0, jb, jk) == CT_ERR_NOT_FOUND);
    for (int i = 0; i < 8; i++)
        json_array_append_new(inputs, json_pack("{s:s}", "FileInput", "s3://bbb/c.mp4"));
    CHECK(run_job(j, &plan, b, k, NULL, msg, sizeof msg) == -1);
    CHECK_STR(msg, "settings.inputs: expected 1 to 8 inputs (got 10)");
    json_decref(j);
}

static void naming_case(const char *input, const char *dest, const char *mod, const char *ext,
                        const char *want)
{
    json_t *j = seed();
    ct_plan plan;
    ct_mc_dest dests[CT_PLAN_MAX_OUTPUTS];
    char b[64], k[1025], msg[2048];
    set_path(j, "Settings.Inputs.0.FileInput", json_string(input));
    set_path(j, "Settings.OutputGroups.0.OutputGroupSettings.FileGroupSettings.Destination",
             json_string(dest));
    set_path(j, "Settings.OutputGroups.0.Outputs.0.NameModifier", mod ? json_string(mod) : NULL);
    if (ext)
        set_path(j, "Settings.OutputGroups.0.Outputs.0.Extension", json_string(ext));
    CHECK(run_job(j, &plan, b, k, dests, msg, sizeof msg) == 0);
    CHECK_STR(msg, "");
    CHECK_STR(dests[0].key, want);
    json_decref(j);
}

static void test_naming(void)
{
    naming_case("s3://src/dir/my video.final.mov", "s3://out/", "-hd", NULL, "my video.final-hd.mp4");
    naming_case("s3://src/a/b/clip.mp4", "s3://out/renditions/", "_720", NULL,
                "renditions/clip_720.mp4");
    naming_case("s3://src/clip.mp4", "s3://out/renditions/base", "-hd", NULL, "renditions/base-hd.mp4");
    naming_case("s3://src/clip.mp4", "s3://out", NULL, "m4v", "clip.m4v");
    naming_case("s3://src/d%20x/caf\xc3\xa9 noext", "s3://out/", NULL, ".mp4", "caf\xc3\xa9 noext.mp4");
}

static const char k_hls_job[] =
    "{\"Role\":\"arn:aws:iam::1:role/r\",\"Settings\":{\"Inputs\":[{\"FileInput\":\"s3://src/in/my clip.mov\"}],"
    "\"OutputGroups\":[{\"OutputGroupSettings\":{\"Type\":\"HLS_GROUP_SETTINGS\",\"HlsGroupSettings\":"
    "{\"Destination\":\"s3://out/hls/\",\"SegmentLength\":4,\"MinSegmentLength\":0}},\"Outputs\":["
    "{\"NameModifier\":\"_720p\",\"ContainerSettings\":{\"Container\":\"M3U8\"},\"VideoDescription\":"
    "{\"Height\":720,\"CodecSettings\":{\"Codec\":\"H_264\",\"H264Settings\":{\"MaxBitrate\":3000000}}}},"
    "{\"NameModifier\":\"_a\",\"AudioDescriptions\":[{\"CodecSettings\":{\"Codec\":\"AAC\"}}]}]},"
    "{\"OutputGroupSettings\":{\"Type\":\"FILE_GROUP_SETTINGS\",\"FileGroupSettings\":"
    "{\"Destination\":\"s3://out/thumbs/poster\"}},\"Outputs\":[{\"NameModifier\":\"-t\","
    "\"ContainerSettings\":{\"Container\":\"RAW\"},\"VideoDescription\":{\"Width\":320,"
    "\"CodecSettings\":{\"Codec\":\"FRAME_CAPTURE\",\"FrameCaptureSettings\":{\"FramerateNumerator\":1,"
    "\"FramerateDenominator\":5,\"MaxCaptures\":4,\"Quality\":70}}}}]}]}}";

static int hls_case(const char *path, json_t *val, char *msg, size_t n, ct_plan *plan, ct_mc_dest *dests)
{
    json_t *j = json_loads(k_hls_job, 0, NULL);
    char b[64], k[1025];
    if (path)
        set_path(j, path, val);
    int rc = run_job(j, plan, b, k, dests, msg, n);
    json_decref(j);
    return rc;
}

/* HLS group + frame capture: plan fields, MediaConvert names, errors. */
static void test_hls_plan(void)
{
    static ct_plan plan;
    static ct_mc_dest d[CT_PLAN_MAX_OUTPUTS];
    char msg[2048];
    CHECK(hls_case(NULL, NULL, msg, sizeof msg, &plan, d) == 0);
    CHECK_STR(msg, "");
    CHECK(plan.n_outputs == 3);
    CHECK(plan.outputs[0].container == CT_CONTAINER_HLS_TS && plan.outputs[0].segment_length == 4);
    CHECK(plan.outputs[1].container == CT_CONTAINER_HLS_TS && plan.outputs[1].video.codec == CT_VCODEC_NONE);
    CHECK_STR(plan.outputs[0].name, "my clip_720p");
    CHECK_STR(plan.outputs[0].master, "my clip.m3u8");
    CHECK_STR(plan.outputs[1].name, "my clip_a");
    CHECK_STR(plan.outputs[1].master, "");
    CHECK(d[0].multi && d[1].multi && d[2].multi);
    CHECK_STR(d[0].key, "hls/");
    CHECK_STR(d[0].group_type, "HLS_GROUP");
    const ct_plan_output *fc = &plan.outputs[2];
    CHECK(fc->container == CT_CONTAINER_JPEG && fc->video.codec == CT_VCODEC_JPEG);
    CHECK(fc->video.fc_num == 1 && fc->video.fc_den == 5 && fc->video.fc_max == 4);
    CHECK(fc->video.fc_quality == 70 && fc->video.width == 320 && fc->group == 1);
    CHECK_STR(fc->name, "poster-t");
    CHECK_STR(d[2].key, "thumbs/");
    double dur[3] = {10, 10, 10};
    int w[3] = {1280, 0, 320}, h[3] = {720, 0, 180};
    char *det = ct_mc_output_details(NULL, d, 3, dur, w, h);
    CHECK(det && strstr(det, "\"type\":\"HLS_GROUP\"") &&
          strstr(det, "\"playlistFilePaths\":[\"s3://out/hls/my clip.m3u8\"]") &&
          strstr(det, "\"outputFilePaths\":[\"s3://out/hls/my clip_720p.m3u8\"]"));
    free(det);
    CHECK(hls_case("Settings.OutputGroups.0.OutputGroupSettings.HlsGroupSettings.SegmentControl",
                   json_string("SINGLE_FILE"), msg, sizeof msg, &plan, d) == -1);
    CHECK(strstr(msg, "segmentControl") != NULL);
    CHECK(hls_case("Settings.OutputGroups.0.Outputs.0.VideoDescription.CodecSettings",
                   json_pack("{s:s, s:{s:i}}", "Codec", "H_265", "H265Settings", "MaxBitrate", 1000000),
                   msg, sizeof msg, &plan, d) == -1);
    CHECK(strstr(msg, "supported: video H_264 (use container CMFC for H_265 and AV1)") != NULL);
    CHECK(hls_case("Settings.OutputGroups.1.Outputs.0.ContainerSettings.Container",
                   json_string("MP4"), msg, sizeof msg, &plan, d) == -1);
    CHECK(strstr(msg, "unsupported value \"FRAME_CAPTURE\" in container MP4") != NULL);
    CHECK(hls_case("Settings.OutputGroups.0.Outputs.1.NameModifier", json_string("_720p"), msg,
                   sizeof msg, &plan, d) == -1);
    CHECK(strstr(msg, "distinct nameModifier") != NULL);
    CHECK(hls_case("Settings.OutputGroups.0.Outputs.1.NameModifier", json_string("a\"b"), msg,
                   sizeof msg, &plan, d) == -1);
    CHECK(strstr(msg, "is not usable") != NULL);
}

static const char k_dash_job[] =
    "{\"Role\":\"arn:aws:iam::1:role/r\",\"Settings\":{\"Inputs\":[{\"FileInput\":\"s3://src/in/my clip.mov\"}],"
    "\"OutputGroups\":[{\"OutputGroupSettings\":{\"Type\":\"DASH_ISO_GROUP_SETTINGS\",\"DashIsoGroupSettings\":"
    "{\"Destination\":\"s3://out/dash/\",\"SegmentLength\":4,\"FragmentLength\":2,\"MinBufferTime\":3000}},"
    "\"Outputs\":[{\"NameModifier\":\"_720p\",\"ContainerSettings\":{\"Container\":\"MPD\"},"
    "\"VideoDescription\":{\"Height\":720,\"CodecSettings\":{\"Codec\":\"H_265\",\"H265Settings\":"
    "{\"MaxBitrate\":3000000}}}},"
    "{\"NameModifier\":\"_a\",\"AudioDescriptions\":[{\"CodecSettings\":{\"Codec\":\"AAC\"}}]}]},"
    "{\"OutputGroupSettings\":{\"Type\":\"CMAF_GROUP_SETTINGS\",\"CmafGroupSettings\":"
    "{\"Destination\":\"s3://out/cmaf/main\",\"SegmentLength\":2}},\"Outputs\":[{\"NameModifier\":\"_v\","
    "\"ContainerSettings\":{\"Container\":\"CMFC\"},\"VideoDescription\":{\"Width\":320,"
    "\"CodecSettings\":{\"Codec\":\"AV1\",\"Av1Settings\":{\"MaxBitrate\":500000}}}}]}]}}";

static int dash_case(const char *path, json_t *val, char *msg, size_t n, ct_plan *plan, ct_mc_dest *dests)
{
    json_t *j = json_loads(k_dash_job, 0, NULL);
    char b[64], k[1025];
    if (path)
        set_path(j, path, val);
    int rc = run_job(j, plan, b, k, dests, msg, n);
    json_decref(j);
    return rc;
}

/* DASH ISO and CMAF groups: containers, names, settings, details, errors. */
static void test_dash_cmaf_plan(void)
{
    static ct_plan plan;
    static ct_mc_dest d[CT_PLAN_MAX_OUTPUTS];
    char msg[2048];
    const char *g0 = "Settings.OutputGroups.0.OutputGroupSettings.DashIsoGroupSettings.";
    char key[256];
    CHECK(dash_case(NULL, NULL, msg, sizeof msg, &plan, d) == 0);
    CHECK_STR(msg, "");
    CHECK(plan.n_outputs == 3);
    const ct_plan_output *o = &plan.outputs[0];
    CHECK(o->container == CT_CONTAINER_DASH && o->segment_length == 4 && o->fragment_length == 2);
    CHECK(o->min_buffer_ms == 3000 && o->video.codec == CT_VCODEC_H265);
    CHECK_STR(o->name, "my clip_720p");
    CHECK_STR(o->master, "my clip.mpd");
    CHECK_STR(plan.outputs[1].master, "");
    CHECK(plan.outputs[1].container == CT_CONTAINER_DASH && plan.outputs[1].audio.codec == CT_ACODEC_AAC);
    o = &plan.outputs[2];
    CHECK(o->container == CT_CONTAINER_CMAF && o->segment_length == 2 && o->fragment_length == 0);
    CHECK_STR(o->name, "main_v");
    CHECK_STR(o->master, "main.m3u8");
    CHECK_STR(d[0].group_type, "DASH_ISO_GROUP");
    CHECK_STR(d[0].group_name, "DASH ISO");
    CHECK_STR(d[2].group_type, "CMAF_GROUP");
    CHECK_STR(d[2].key, "cmaf/");
    double dur[3] = {10, 10, 10};
    int w[3] = {1280, 0, 320}, h[3] = {720, 0, 180};
    char *det = ct_mc_output_details(NULL, d, 3, dur, w, h);
    CHECK(det && strstr(det, "\"type\":\"DASH_ISO_GROUP\",\"playlistFilePaths\":[\"s3://out/dash/my clip.mpd\"]"));
    CHECK(det && strstr(det, "\"playlistFilePaths\":[\"s3://out/cmaf/main.mpd\",\"s3://out/cmaf/main.m3u8\"]"));
    CHECK(det && !strstr(det, "outputFilePaths"));
    free(det);
    snprintf(key, sizeof key, "%sSegmentControl", g0);
    CHECK(dash_case(key, json_string("SINGLE_FILE"), msg, sizeof msg, &plan, d) == -1);
    CHECK_STR(msg, "settings.outputGroups[0].outputGroupSettings.dashIsoGroupSettings.segmentControl:"
                   " unsupported value \"SINGLE_FILE\" (supported: SEGMENTED_FILES)");
    snprintf(key, sizeof key, "%sMpdProfile", g0);
    CHECK(dash_case(key, json_string("ON_DEMAND_PROFILE"), msg, sizeof msg, &plan, d) == -1);
    CHECK(strstr(msg, "mpdProfile: unsupported value \"ON_DEMAND_PROFILE\" (supported: MAIN_PROFILE)") != NULL);
    CHECK(dash_case("Settings.OutputGroups.0.Outputs.1.VideoDescription",
                    json_pack("{s:{s:s, s:{s:i}}}", "CodecSettings", "Codec", "H_264", "H264Settings",
                              "MaxBitrate", 1000000), msg, sizeof msg, &plan, d) == -1);
    CHECK_STR(msg, "settings.outputGroups[0].outputs[1]: an output of a DASH ISO or CMAF group carries"
                   " either videoDescription or audioDescriptions, not both: put audio in an output of"
                   " its own");
    CHECK(dash_case("Settings.OutputGroups.0.Outputs.0.ContainerSettings.Container", json_string("M3U8"),
                    msg, sizeof msg, &plan, d) == -1);
    CHECK(strstr(msg, "outputs[0].containerSettings.container: unsupported value \"M3U8\" in this"
                      " output group") != NULL);
    CHECK(dash_case("Settings.OutputGroups.0.Outputs.0.NameModifier", json_string("_$Number$"),
                    msg, sizeof msg, &plan, d) == -1);
    CHECK(strstr(msg, "nameModifier: format identifiers") != NULL);
    CHECK(dash_case("Settings.OutputGroups.1.OutputGroupSettings.CmafGroupSettings.WriteHlsManifest",
                    json_string("DISABLED"), msg, sizeof msg, &plan, d) == 0);
    CHECK(plan.outputs[2].no_hls == 1 && plan.outputs[2].no_dash == 0 && d[2].no_hls == 1);
    det = ct_mc_output_details(NULL, d, 3, dur, w, h);
    CHECK(det && strstr(det, "\"playlistFilePaths\":[\"s3://out/cmaf/main.mpd\"]"));
    free(det);
    CHECK(dash_case("Settings.OutputGroups.0.OutputGroupSettings.DashIsoGroupSettings.Encryption",
                    json_pack("{s:s}", "PlaybackDeviceCompatibility", "CENC_V1"), msg, sizeof msg, &plan, d) == -1);
    CHECK_STR(msg, "settings.outputGroups[0].outputGroupSettings.dashIsoGroupSettings.encryption: not"
                   " supported by CatTube (leave it out)");
    CHECK(dash_case("Settings.OutputGroups.1.OutputGroupSettings.CmafGroupSettings.VideoCompositionOffsets",
                    json_string("SIGNED"), msg, sizeof msg, &plan, d) == -1);
    CHECK(strstr(msg, "videoCompositionOffsets: unsupported value \"SIGNED\" (supported: UNSIGNED)") != NULL);
    CHECK(dash_case("Settings.OutputGroups.1.OutputGroupSettings.CmafGroupSettings.MinFinalSegmentLength",
                    json_real(1.5), msg, sizeof msg, &plan, d) == 0);
    CHECK(plan.outputs[2].min_final_ms == 1500 && plan.outputs[0].min_final_ms == 0);
    CHECK(dash_case("Settings.OutputGroups.1.OutputGroupSettings.CmafGroupSettings.MinFinalSegmentLength",
                    json_real(3600.5), msg, sizeof msg, &plan, d) == -1);
    CHECK(strstr(msg, "cmafGroupSettings.minFinalSegmentLength: must be a number of seconds from 0 to"
                      " segmentLength") != NULL);
    CHECK(dash_case("Settings.OutputGroups.1.OutputGroupSettings.CmafGroupSettings.AdditionalManifests",
                    json_array(), msg, sizeof msg, &plan, d) == 0);
    CHECK(hls_case("Settings.OutputGroups.0.OutputGroupSettings.HlsGroupSettings.ManifestCompression",
                   json_string("GZIP"), msg, sizeof msg, &plan, d) == -1);
    CHECK(strstr(msg, "hlsGroupSettings.manifestCompression: unsupported value \"GZIP\" (supported: NONE)"));
    /* an HLS group with CMFC writes fMP4 segments */
    CHECK(hls_case("Settings.OutputGroups.0.Outputs.0.ContainerSettings.Container", json_string("CMFC"),
                   msg, sizeof msg, &plan, d) == 0);
    CHECK(plan.outputs[0].container == CT_CONTAINER_HLS_FMP4);
}

static void test_variants(void)
{
    json_t *j = seed();
    ct_plan plan;
    char b[64], k[1025], msg[2048];
    const char *cs = "Settings.OutputGroups.0.Outputs.0.VideoDescription.CodecSettings";
    char path[256];
    set_path(j, "Settings.OutputGroups.0.Outputs.0.VideoDescription.CodecSettings.Codec",
             json_string("H_264"));
    snprintf(path, sizeof path, "%s.H264Settings", cs);
    set_path(j, path, json_pack("{s:s, s:i, s:i, s:f, s:s, s:s, s:i}", "RateControlMode", "VBR",
                                "Bitrate", 2000000, "MaxBitrate", 4000000, "GopSize", 48.0,
                                "GopSizeUnits", "FRAMES", "SceneChangeDetect", "DISABLED",
                                "HrdBufferSize", 8000000));
    set_path(j, "Settings.OutputGroups.0.Outputs.0.AudioDescriptions.0.CodecSettings.AacSettings",
             json_pack("{s:s}", "CodingMode", "CODING_MODE_1_0"));
    CHECK(run_job(j, &plan, b, k, NULL, msg, sizeof msg) == 0);
    CHECK_STR(msg, "");
    ct_plan_video *v = &plan.outputs[0].video;
    CHECK(v->codec == CT_VCODEC_H264 && v->rc_mode == CT_RC_VBR && v->bitrate == 2000000);
    CHECK(v->max_bitrate == 4000000 && v->gop_frames == 48 && v->scene_change_detect == 0);
    CHECK(v->hrd_buffer == 8000000);
    CHECK(plan.outputs[0].audio.channels == 1 && plan.outputs[0].audio.bitrate == 96000);
    CHECK(plan.outputs[0].audio.sample_rate == 48000);
    /* audio-only output */
    set_path(j, "Settings.OutputGroups.0.Outputs.1.VideoDescription", NULL);
    CHECK(run_job(j, &plan, b, k, NULL, msg, sizeof msg) == 0);
    CHECK(plan.outputs[1].video.codec == CT_VCODEC_NONE && plan.outputs[1].audio.codec == CT_ACODEC_AAC);
    /* harmless model fields are accepted; FramerateControl SPECIFIED is planned */
    set_path(j, "Settings.OutputGroups.0.Outputs.0.VideoDescription.AfdSignaling", json_string("NONE"));
    set_path(j, "Settings.OutputGroups.0.Outputs.0.VideoDescription.ScalingBehavior",
             json_string("DEFAULT"));
    set_path(j, "Settings.OutputGroups.0.Outputs.0.VideoDescription.Sharpness", json_integer(50));
    snprintf(path, sizeof path, "%s.H264Settings.FramerateControl", cs);
    set_path(j, path, json_string("SPECIFIED"));
    mc_diag d;
    json_t *w = json_array();
    mc_diag_init(&d, "", w);
    json_t *n = mc_model_check("CreateJobRequest", j, &d);
    CHECK(n != NULL);
    CHECK(json_array_size(w) == 0);
    json_decref(n);
    json_decref(w);
    CHECK(run_job(j, &plan, b, k, NULL, msg, sizeof msg) == -1);
    CHECK_STR(msg, "settings.outputGroups[0].outputs[0].videoDescription.codecSettings.h264Settings."
                   "framerateNumerator: required, between 1 and 1000000, when framerateControl is SPECIFIED");
    snprintf(path, sizeof path, "%s.H264Settings.FramerateNumerator", cs);
    set_path(j, path, json_integer(30000));
    snprintf(path, sizeof path, "%s.H264Settings.FramerateDenominator", cs);
    set_path(j, path, json_integer(1001));
    snprintf(path, sizeof path, "%s.H264Settings.FramerateConversionAlgorithm", cs);
    set_path(j, path, json_string("INTERPOLATE"));
    snprintf(path, sizeof path, "%s.H264Settings.GopSizeUnits", cs);
    set_path(j, path, json_string("SECONDS"));
    snprintf(path, sizeof path, "%s.H264Settings.GopSize", cs);
    set_path(j, path, json_real(1.5));
    CHECK(run_job(j, &plan, b, k, NULL, msg, sizeof msg) == 0);
    CHECK(v->fr_num == 30000 && v->fr_den == 1001 && v->fr_algo == CT_FR_INTERPOLATE);
    CHECK(v->gop_ms == 1500 && v->gop_frames == 0 && v->stretch == 0);
    set_path(j, "Settings.OutputGroups.0.Outputs.0.VideoDescription.ScalingBehavior",
             json_string("STRETCH_TO_OUTPUT"));
    CHECK(run_job(j, &plan, b, k, NULL, msg, sizeof msg) == 0 && v->stretch == 1);
    snprintf(path, sizeof path, "%s.H264Settings.FramerateNumerator", cs);
    set_path(j, path, json_integer(200000));
    CHECK(run_job(j, &plan, b, k, NULL, msg, sizeof msg) == -1);
    CHECK(strstr(msg, "h264Settings.framerateNumerator: frame rate 200000/1001 is outside 0.5..120 fps"));
    json_decref(j);
}

/* VP8/VP9 (VBR only), OPUS, MP3 (CBR/VBR), VORBIS, WEBM/MOV/RAW containers. */
static void test_codecs(void)
{
    static const char job[] =
        "{\"Role\":\"r\",\"Settings\":{\"Inputs\":[{\"FileInput\":\"s3://src/in/c.mov\"}],"
        "\"OutputGroups\":[{\"OutputGroupSettings\":{\"Type\":\"FILE_GROUP_SETTINGS\","
        "\"FileGroupSettings\":{\"Destination\":\"s3://out/f/\"}},\"Outputs\":["
        "{\"NameModifier\":\"_a\",\"ContainerSettings\":{\"Container\":\"WEBM\"},\"VideoDescription\":"
        "{\"CodecSettings\":{\"Codec\":\"VP9\",\"Vp9Settings\":{\"Bitrate\":500000,\"MaxBitrate\":900000}}},"
        "\"AudioDescriptions\":[{\"CodecSettings\":{\"Codec\":\"OPUS\",\"OpusSettings\":{\"Channels\":1}}}]},"
        "{\"NameModifier\":\"_b\",\"ContainerSettings\":{\"Container\":\"RAW\"},\"AudioDescriptions\":"
        "[{\"CodecSettings\":{\"Codec\":\"MP3\",\"Mp3Settings\":{\"RateControlMode\":\"VBR\","
        "\"VbrQuality\":3,\"SampleRate\":44100}}}]},"
        "{\"NameModifier\":\"_c\",\"ContainerSettings\":{\"Container\":\"MOV\"},\"VideoDescription\":"
        "{\"CodecSettings\":{\"Codec\":\"H_264\",\"H264Settings\":{\"MaxBitrate\":900000}}},"
        "\"AudioDescriptions\":[{\"CodecSettings\":{\"Codec\":\"MP3\",\"Mp3Settings\":{\"Bitrate\":192000}}}]}"
        "]}]}}";
    json_t *j = json_loads(job, 0, NULL);
    static ct_plan plan;
    static ct_mc_dest dd[CT_PLAN_MAX_OUTPUTS];
    char b[64], k[1025], msg[2048];
    CHECK(run_job(j, &plan, b, k, dd, msg, sizeof msg) == 0);
    CHECK_STR(msg, "");
    const ct_plan_output *o = &plan.outputs[0];
    CHECK(o->container == CT_CONTAINER_WEBM && o->video.codec == CT_VCODEC_VP9);
    CHECK(o->video.rc_mode == CT_RC_VBR && o->video.bitrate == 500000 && o->video.max_bitrate == 900000);
    CHECK(o->audio.codec == CT_ACODEC_OPUS && o->audio.channels == 1 && o->audio.bitrate == 96000);
    CHECK(o->audio.sample_rate == 48000 && o->audio.vbr_quality == CT_PLAN_VBR_NONE);
    CHECK_STR(dd[0].key, "f/c_a.webm");
    o = &plan.outputs[1];
    CHECK(o->container == CT_CONTAINER_MP3 && o->video.codec == CT_VCODEC_NONE);
    CHECK(o->audio.codec == CT_ACODEC_MP3 && o->audio.vbr_quality == 3 && o->audio.sample_rate == 44100);
    CHECK_STR(dd[1].key, "f/c_b.mp3");
    o = &plan.outputs[2];
    CHECK(o->container == CT_CONTAINER_MOV && o->audio.codec == CT_ACODEC_MP3);
    CHECK(o->audio.bitrate == 192000 && o->audio.vbr_quality == CT_PLAN_VBR_NONE);
    CHECK_STR(dd[2].key, "f/c_c.mov");
    json_t *bad = json_deep_copy(j);
    set_path(bad, "Settings.OutputGroups.0.Outputs.0.VideoDescription.CodecSettings.Vp9Settings.Bitrate", NULL);
    CHECK(run_job(bad, &plan, b, k, dd, msg, sizeof msg) == -1);
    CHECK_STR(msg, "settings.outputGroups[0].outputs[0].videoDescription.codecSettings.vp9Settings.bitrate:"
                   " required (at least 1000)");
    json_decref(bad);
    bad = json_deep_copy(j);
    set_path(bad, "Settings.OutputGroups.0.Outputs.0.AudioDescriptions.0.CodecSettings.OpusSettings.SampleRate",
             json_integer(44100));
    CHECK(run_job(bad, &plan, b, k, dd, msg, sizeof msg) == -1);
    CHECK_STR(msg, "settings.outputGroups[0].outputs[0].audioDescriptions[0].codecSettings.opusSettings."
                   "sampleRate: unsupported value 44100 (supported: 16000, 24000, 48000)");
    json_decref(bad);
    bad = json_deep_copy(j);
    set_path(bad, "Settings.OutputGroups.0.Outputs.1.VideoDescription",
             json_pack("{s:{s:s, s:{s:i}}}", "CodecSettings", "Codec", "VP8", "Vp8Settings", "Bitrate", 100000));
    CHECK(run_job(bad, &plan, b, k, dd, msg, sizeof msg) == -1);
    CHECK_STR(msg, "settings.outputGroups[0].outputs[1].videoDescription.codecSettings.codec: unsupported"
                   " value \"VP8\" in container RAW (supported: video FRAME_CAPTURE without audio, or audio MP3"
                   " without video)");
    json_decref(bad);
    json_decref(j);
}

static void test_merge(void)
{
    json_t *base = json_loads("{\"a\":1,\"o\":{\"x\":1,\"y\":2},\"l\":[{\"p\":1,\"q\":1},{\"p\":2}]}",
                              0, NULL);
    json_t *over = json_loads("{\"b\":2,\"o\":{\"y\":3},\"l\":[{\"q\":9}]}", 0, NULL);
    json_t *m = mc_merge(base, over);
    json_t *want = json_loads("{\"a\":1,\"b\":2,\"o\":{\"x\":1,\"y\":3},"
                              "\"l\":[{\"p\":1,\"q\":9},{\"p\":2}]}", 0, NULL);
    CHECK(json_equal(m, want));
    json_decref(base);
    json_decref(over);
    json_decref(m);
    json_decref(want);
    CHECK_STR(mc_ref_name("arn:aws:mediaconvert:region:account_id:queues/Default"), "Default");
    CHECK_STR(mc_ref_name("MyQueue"), "MyQueue");
}

static void test_output_details(void)
{
    ct_mc_dest d[3];
    memset(d, 0, sizeof d);
    d[1].group_index = 0;
    d[2].group_index = 1;
    double dur[3] = {10.5, 10.5, 10.0};
    int w[3] = {1920, 256, 0}, h[3] = {1080, 144, 0};
    char *s = ct_mc_output_details(NULL, d, 3, dur, w, h);
    CHECK_STR(s, "[{\"outputDetails\":[{\"durationInMs\":10500,\"videoDetails\":{\"widthInPx\":1920,"
                 "\"heightInPx\":1080}},{\"durationInMs\":10500,\"videoDetails\":{\"widthInPx\":256,"
                 "\"heightInPx\":144}}]},{\"outputDetails\":[{\"durationInMs\":10000}]}]");
    free(s);
}

/* ------------------------------------------------------------------ API */

static char last_type[64];

static int call(ct_mc *mc, const char *method, const char *target, const char *body, json_t **out)
{
    char path[512], query[512] = "";
    const char *q = strchr(target, '?');
    snprintf(path, sizeof path, "%.*s", q ? (int)(q - target) : (int)strlen(target), target);
    if (q)
        snprintf(query, sizeof query, "%s", q + 1);
    ct_http_req req;
    memset(&req, 0, sizeof req);
    req.method = method;
    req.raw_target = target;
    req.path = path;
    req.query = query;
    req.body = body;
    req.body_len = body ? strlen(body) : 0;
    snprintf(req.principal.account_id, sizeof req.principal.account_id, ACCOUNT);
    ct_http_resp resp;
    ct_http_resp_init(&resp);
    ct_mc_handle(mc, &req, &resp);
    last_type[0] = '\0';
    for (int i = 0; i < resp.n_headers; i++)
        if (strcasecmp(resp.headers[i].name, "x-amzn-ErrorType") == 0)
            snprintf(last_type, sizeof last_type, "%s", resp.headers[i].value);
    if (out)
        *out = resp.body.data ? json_loads(resp.body.data, 0, NULL) : NULL;
    int status = resp.status;
    ct_http_resp_free(&resp);
    return status;
}

static const char *jget(json_t *o, const char *path)
{
    static char buf[256];
    json_t *cur = o;
    char tmp[256], *save = NULL;
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *t = strtok_r(tmp, ".", &save); t && cur; t = strtok_r(NULL, ".", &save))
        cur = json_is_array(cur) ? json_array_get(cur, (size_t)atoi(t)) : json_object_get(cur, t);
    if (json_is_string(cur))
        return json_string_value(cur);
    if (json_is_integer(cur)) {
        snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(cur));
        return buf;
    }
    return cur ? "(non-scalar)" : NULL;
}

static void test_api_queues(ct_mc *mc)
{
    json_t *r = NULL;
    CHECK(call(mc, "GET", "/2017-08-29/queues/Default", NULL, &r) == 200);
    CHECK_STR(jget(r, "queue.arn"), "arn:aws:mediaconvert:us-east-1:" ACCOUNT ":queues/Default");
    CHECK_STR(jget(r, "queue.type"), "SYSTEM");
    CHECK_STR(jget(r, "queue.status"), "ACTIVE");
    json_decref(r);
    CHECK(call(mc, "POST", "/2017-08-29/queues", "{\"name\":\"Fast\",\"description\":\"d\"}", &r) == 201);
    CHECK_STR(jget(r, "queue.name"), "Fast");
    CHECK_STR(jget(r, "queue.pricingPlan"), "ON_DEMAND");
    CHECK_STR(jget(r, "queue.submittedJobsCount"), "0");
    json_decref(r);
    CHECK(call(mc, "POST", "/2017-08-29/queues", "{\"name\":\"Fast\"}", &r) == 409);
    CHECK_STR(last_type, "ConflictException");
    json_decref(r);
    CHECK(call(mc, "PUT", "/2017-08-29/queues/Fast", "{\"status\":\"PAUSED\"}", &r) == 200);
    CHECK_STR(jget(r, "queue.status"), "PAUSED");
    json_decref(r);
    CHECK(call(mc, "PUT", "/2017-08-29/queues/Fast", "{\"status\":\"STOPPED\"}", &r) == 400);
    json_decref(r);
    CHECK(call(mc, "GET", "/2017-08-29/queues?maxResults=1", NULL, &r) == 200);
    CHECK(json_array_size(json_object_get(r, "queues")) == 1);
    CHECK_STR(jget(r, "queues.0.name"), "Default");
    CHECK_STR(jget(r, "nextToken"), "o1");
    json_decref(r);
    CHECK(call(mc, "GET", "/2017-08-29/queues?maxResults=1&nextToken=o1", NULL, &r) == 200);
    CHECK_STR(jget(r, "queues.0.name"), "Fast");
    CHECK(json_object_get(r, "nextToken") == NULL);
    json_decref(r);
    CHECK(call(mc, "DELETE", "/2017-08-29/queues/Default", NULL, &r) == 400);
    json_decref(r);
    CHECK(call(mc, "GET", "/2017-08-29/queues/Nope", NULL, &r) == 404);
    CHECK_STR(last_type, "NotFoundException");
    json_decref(r);
}

static void test_api_jobs(ct_mc *mc, char job_id[40])
{
    json_t *r = NULL;
    CHECK(call(mc, "POST", "/2017-08-29/jobs", seed_job, &r) == 201);
    const char *id = jget(r, "job.id");
    CHECK(id && strlen(id) == 20 && id[13] == '-');
    snprintf(job_id, 40, "%s", id ? id : "");
    CHECK_STR(jget(r, "job.status"), "SUBMITTED");
    CHECK_STR(jget(r, "job.queue"), "arn:aws:mediaconvert:us-east-1:" ACCOUNT ":queues/Default");
    CHECK_STR(jget(r, "job.settings.inputs.0.fileInput"), "s3://source_bucket/object.mp4");
    CHECK_STR(jget(r, "job.settings.outputGroups.0.outputs.0.nameModifier"), "-hd");
    CHECK_STR(jget(r, "job.role"), "arn:aws:iam::account_id:role/MediaConvert_Default_Role");
    CHECK_STR(jget(r, "job.statusUpdateInterval"), "SECONDS_60");
    CHECK_STR(jget(r, "job.accelerationSettings.mode"), "DISABLED");
    CHECK(jget(r, "job.timing.submitTime") != NULL && jget(r, "job.createdAt") != NULL);
    CHECK(json_is_array(json_object_get(json_object_get(json_object_get(r, "job"), "messages"), "warning")));
    json_decref(r);
    char target[128];
    snprintf(target, sizeof target, "/2017-08-29/jobs/%s", job_id);
    CHECK(call(mc, "GET", target, NULL, &r) == 200);
    CHECK_STR(jget(r, "job.id"), job_id);
    CHECK_STR(jget(r, "job.arn") + strlen(jget(r, "job.arn")) - strlen(job_id), job_id);
    json_decref(r);
    CHECK(call(mc, "GET", "/2017-08-29/jobs/nope", NULL, &r) == 404);
    json_decref(r);
    /* idempotency through clientRequestToken */
    json_t *body = seed();
    json_object_set_new(body, "clientRequestToken", json_string("tok-1"));
    char *text = json_dumps(body, 0);
    char first[40];
    CHECK(call(mc, "POST", "/2017-08-29/jobs", text, &r) == 201);
    snprintf(first, sizeof first, "%s", jget(r, "job.id") ? jget(r, "job.id") : "");
    json_decref(r);
    CHECK(call(mc, "POST", "/2017-08-29/jobs", text, &r) == 201);
    CHECK_STR(jget(r, "job.id"), first);
    json_decref(r);
    free(text);
    json_decref(body);
    /* invalid bodies */
    CHECK(call(mc, "POST", "/2017-08-29/jobs", "{not json", &r) == 400);
    CHECK_STR(last_type, "BadRequestException");
    CHECK(jget(r, "message") != NULL);
    json_decref(r);
    CHECK(call(mc, "POST", "/2017-08-29/jobs", "{\"role\":\"r\",\"settings\":{\"inputs\":[{}],"
               "\"outputGroups\":[]}}", &r) == 400);
    CHECK_STR(jget(r, "message"), "settings.inputs[0].fileInput: required");
    json_decref(r);
    body = seed();
    json_object_set_new(body, "Queue", json_string("NoSuchQueue"));
    text = json_dumps(body, 0);
    CHECK(call(mc, "POST", "/2017-08-29/jobs", text, &r) == 404);
    CHECK_STR(jget(r, "message"), "queue: queue \"NoSuchQueue\" not found");
    json_decref(r);
    free(text);
    /* roles: the built-in one exists (seed); others must exist, as ARNs */
    json_object_del(body, "Queue");
    json_object_set_new(body, "Role", json_string("arn:aws:iam::1:role/NoSuchRole"));
    text = json_dumps(body, 0);
    CHECK(call(mc, "POST", "/2017-08-29/jobs", text, &r) == 400);
    CHECK_STR(last_type, "BadRequestException");
    CHECK(jget(r, "message") && strstr(jget(r, "message"), "role \"NoSuchRole\"") &&
          strstr(jget(r, "message"), "does not exist"));
    json_decref(r);
    free(text);
    json_object_set_new(body, "Role", json_string("r"));
    text = json_dumps(body, 0);
    CHECK(call(mc, "POST", "/2017-08-29/jobs", text, &r) == 400);
    CHECK(jget(r, "message") && strstr(jget(r, "message"), "not an IAM role ARN"));
    json_decref(r);
    free(text);
    json_object_set_new(body, "Role",
                        json_string("arn:aws:iam::account_id:role/MediaConvert_Default_Role"));
    /* to the paused queue, priority set */
    json_object_set_new(body, "Queue", json_string("Fast"));
    json_object_set_new(body, "Priority", json_integer(7));
    json_object_set_new(body, "UserMetadata", json_pack("{s:s}", "Owner", "me"));
    text = json_dumps(body, 0);
    CHECK(call(mc, "POST", "/2017-08-29/jobs", text, &r) == 201);
    CHECK_STR(jget(r, "job.priority"), "7");
    CHECK_STR(jget(r, "job.userMetadata.Owner"), "me");
    json_decref(r);
    free(text);
    json_decref(body);
    CHECK(call(mc, "GET", "/2017-08-29/queues/Fast", NULL, &r) == 200);
    CHECK_STR(jget(r, "queue.submittedJobsCount"), "1");
    json_decref(r);
    CHECK(call(mc, "DELETE", "/2017-08-29/queues/Fast", NULL, &r) == 409);
    json_decref(r);
}

static void test_api_list_cancel(ct_mc *mc, const char *job_id)
{
    json_t *r = NULL;
    CHECK(call(mc, "GET", "/2017-08-29/jobs?maxResults=2&order=ASCENDING", NULL, &r) == 200);
    CHECK(json_array_size(json_object_get(r, "jobs")) == 2);
    CHECK_STR(jget(r, "jobs.0.id"), job_id);
    const char *tok = jget(r, "nextToken");
    char target[256];
    snprintf(target, sizeof target, "/2017-08-29/jobs?maxResults=2&order=ASCENDING&nextToken=%s",
             tok ? tok : "");
    json_decref(r);
    CHECK(call(mc, "GET", target, NULL, &r) == 200);
    CHECK(json_array_size(json_object_get(r, "jobs")) == 1);
    json_decref(r);
    CHECK(call(mc, "GET", "/2017-08-29/jobs?queue=arn:aws:mediaconvert:x:y:queues/Fast", NULL, &r) == 200);
    CHECK(json_array_size(json_object_get(r, "jobs")) == 1);
    json_decref(r);
    CHECK(call(mc, "GET", "/2017-08-29/jobs?status=BOGUS", NULL, &r) == 400);
    json_decref(r);
    CHECK(call(mc, "GET", "/2017-08-29/jobs?maxResults=21", NULL, &r) == 400);
    json_decref(r);
    snprintf(target, sizeof target, "/2017-08-29/jobs/%s", job_id);
    CHECK(call(mc, "DELETE", target, NULL, &r) == 202);
    json_decref(r);
    CHECK(call(mc, "GET", target, NULL, &r) == 200);
    CHECK_STR(jget(r, "job.status"), "CANCELED");
    CHECK(jget(r, "job.timing.finishTime") != NULL);
    json_decref(r);
    CHECK(call(mc, "DELETE", target, NULL, &r) == 409);
    json_decref(r);
    CHECK(call(mc, "GET", "/2017-08-29/jobs?status=CANCELED", NULL, &r) == 200);
    CHECK(json_array_size(json_object_get(r, "jobs")) == 1);
    json_decref(r);
}

static const char tmpl_body[] =
    "{\"name\":\"hls-ish\",\"category\":\"web\",\"settings\":{\"inputs\":[{\"audioSelectors\":"
    "{\"Audio Selector 1\":{\"defaultSelection\":\"DEFAULT\"}}}],\"outputGroups\":[{\"name\":"
    "\"File Group\",\"outputGroupSettings\":{\"type\":\"FILE_GROUP_SETTINGS\",\"fileGroupSettings\":"
    "{\"destination\":\"s3://out/videos/\"}},\"outputs\":[{\"nameModifier\":\"-720\",\"preset\":"
    "\"p720\"},{\"nameModifier\":\"-sd\",\"videoDescription\":{\"width\":640,\"codecSettings\":{"
    "\"codec\":\"H_264\",\"h264Settings\":{\"rateControlMode\":\"QVBR\",\"maxBitrate\":1000000,"
    "\"qvbrSettings\":{\"qvbrQualityLevel\":6}}}}}]}]},\"priority\":3}";

static void test_api_templates(ct_mc *mc)
{
    json_t *r = NULL;
    CHECK(call(mc, "POST", "/2017-08-29/jobTemplates", tmpl_body, &r) == 404); /* preset missing */
    CHECK_STR(jget(r, "message"), "settings.outputGroups[0].outputs[0].preset: preset \"p720\" not found");
    json_decref(r);
    CHECK(call(mc, "POST", "/2017-08-29/presets", "{\"name\":\"p720\",\"settings\":{\"videoDescription\":"
               "{\"height\":720,\"codecSettings\":{\"codec\":\"H_265\",\"h265Settings\":{\"maxBitrate\":"
               "3000000}}},\"audioDescriptions\":[{\"codecSettings\":{\"codec\":\"AAC\"}}]}}", &r) == 201);
    CHECK_STR(jget(r, "preset.arn"), "arn:aws:mediaconvert:us-east-1:" ACCOUNT ":presets/p720");
    json_decref(r);
    CHECK(call(mc, "POST", "/2017-08-29/presets", "{\"name\":\"bad\",\"settings\":{\"videoDescription\":"
               "{\"codecSettings\":{\"codec\":\"VP9\"}}}}", &r) == 400);
    CHECK_STR(jget(r, "message"), "settings.videoDescription.codecSettings.vp9Settings.bitrate: "
                                  "required (at least 1000)");
    json_decref(r);
    CHECK(call(mc, "POST", "/2017-08-29/jobTemplates", tmpl_body, &r) == 201);
    CHECK_STR(jget(r, "jobTemplate.arn"), "arn:aws:mediaconvert:us-east-1:" ACCOUNT ":jobTemplates/hls-ish");
    CHECK_STR(jget(r, "jobTemplate.queue"), "arn:aws:mediaconvert:us-east-1:" ACCOUNT ":queues/Default");
    CHECK_STR(jget(r, "jobTemplate.type"), "CUSTOM");
    json_decref(r);
    CHECK(call(mc, "POST", "/2017-08-29/jobTemplates", "{\"name\":\"t2\",\"settings\":{\"inputs\":"
               "[{\"fileInput\":\"s3://a/b\"}]}}", &r) == 400);
    CHECK_STR(jget(r, "message"), "settings.inputs[0].fileInput: unknown field");
    json_decref(r);
    CHECK(call(mc, "GET", "/2017-08-29/jobTemplates?category=web", NULL, &r) == 200);
    CHECK(json_array_size(json_object_get(r, "jobTemplates")) == 1);
    json_decref(r);
    CHECK(call(mc, "GET", "/2017-08-29/jobTemplates?category=other", NULL, &r) == 200);
    CHECK(json_array_size(json_object_get(r, "jobTemplates")) == 0);
    json_decref(r);
    CHECK(call(mc, "PUT", "/2017-08-29/jobTemplates/hls-ish", "{\"description\":\"updated\"}", &r) == 200);
    CHECK_STR(jget(r, "jobTemplate.description"), "updated");
    CHECK_STR(jget(r, "jobTemplate.priority"), "3");
    json_decref(r);
}

static void test_api_template_jobs(ct_mc *mc)
{
    json_t *r = NULL;
    char id[40], id2[40], msg[256];
    CHECK(ct_mc_job_from_template(mc, "arn:aws:mediaconvert:us-east-1:" ACCOUNT ":jobTemplates/hls-ish",
                                  "s3://src/uploads/My Movie.mov", "evt-1", id, msg, sizeof msg) == CT_OK);
    CHECK(ct_mc_job_from_template(mc, "hls-ish", "s3://src/uploads/My Movie.mov", "evt-1", id2, msg,
                                  sizeof msg) == CT_ERR_EXISTS);
    CHECK_STR(id2, id);
    CHECK(ct_mc_job_from_template(mc, "nope", "s3://src/x.mp4", "evt-2", id2, msg, sizeof msg) ==
          CT_ERR_NOT_FOUND);
    CHECK_STR(msg, "jobTemplate: job template \"nope\" not found");
    char target[128];
    snprintf(target, sizeof target, "/2017-08-29/jobs/%s", id);
    CHECK(call(mc, "GET", target, NULL, &r) == 200);
    CHECK_STR(jget(r, "job.priority"), "3");
    CHECK_STR(jget(r, "job.role"), "arn:aws:iam::" ACCOUNT ":role/MediaConvert_Default_Role");
    CHECK_STR(jget(r, "job.settings.inputs.0.audioSelectors.Audio Selector 1.defaultSelection"), "DEFAULT");
    CHECK_STR(jget(r, "job.settings.outputGroups.0.outputs.0.videoDescription.height"), "720");
    CHECK_STR(jget(r, "job.settings.outputGroups.0.outputs.0.preset"), "p720");
    /* the stored spec plans without meta: presets were resolved */
    char *spec = json_dumps(json_object_get(r, "job"), 0);
    ct_plan plan;
    ct_mc_dest dests[CT_PLAN_MAX_OUTPUTS];
    char b[64], k[1025];
    CHECK(ct_mc_job_plan(spec, &plan, b, k, dests, msg, sizeof msg) == CT_OK);
    CHECK(plan.n_outputs == 2 && plan.outputs[0].video.codec == CT_VCODEC_H265);
    CHECK(plan.outputs[0].video.height == 720 && plan.outputs[1].video.width == 640);
    CHECK(plan.outputs[1].video.qvbr_level == 6);
    CHECK_STR(k, "uploads/My Movie.mov");
    CHECK_STR(dests[0].key, "videos/My Movie-720.mp4");
    CHECK_STR(dests[1].key, "videos/My Movie-sd.mp4");
    free(spec);
    json_decref(r);
    /* API job from a template overriding one output field */
    CHECK(call(mc, "POST", "/2017-08-29/jobs", "{\"jobTemplate\":\"hls-ish\",\"role\":\"arn:aws:iam::1:role/MediaConvert_Default_Role\",\"settings\":"
               "{\"inputs\":[{\"fileInput\":\"s3://src/a.mp4\"}],\"outputGroups\":[{\"outputs\":[{},"
               "{\"videoDescription\":{\"width\":320}}]}]}}", &r) == 201);
    CHECK_STR(jget(r, "job.jobTemplate"), "hls-ish");
    CHECK_STR(jget(r, "job.settings.outputGroups.0.outputs.1.videoDescription.width"), "320");
    CHECK_STR(jget(r, "job.settings.outputGroups.0.outputs.1.videoDescription.codecSettings.codec"), "H_264");
    json_decref(r);
    CHECK(call(mc, "DELETE", "/2017-08-29/presets/p720", NULL, &r) == 202);
    json_decref(r);
    CHECK(call(mc, "DELETE", "/2017-08-29/jobTemplates/hls-ish", NULL, &r) == 202);
    json_decref(r);
    CHECK(call(mc, "GET", "/2017-08-29/jobTemplates/hls-ish", NULL, &r) == 404);
    json_decref(r);
    /* a redelivered event still maps to its job after the template is gone */
    CHECK(ct_mc_job_from_template(mc, "hls-ish", "s3://src/uploads/My Movie.mov", "evt-1", id2, msg,
                                  sizeof msg) == CT_ERR_EXISTS);
    CHECK_STR(id2, id);
}

static void test_api_misc(ct_mc *mc)
{
    json_t *r = NULL;
    CHECK(call(mc, "POST", "/2017-08-29/endpoints", "{}", &r) == 200);
    CHECK_STR(jget(r, "endpoints.0.url"), "http://localhost:9000");
    json_decref(r);
    CHECK(call(mc, "GET", "/2017-08-29/certificates", NULL, &r) == 404);
    json_decref(r);
    CHECK(call(mc, "PATCH", "/2017-08-29/jobs", NULL, &r) == 400);
    json_decref(r);
    CHECK(call(mc, "GET", "/2017-08-29/jobs/a/b", NULL, &r) == 404);
    json_decref(r);
}

int main(void)
{
    char dir[] = "/tmp/ct_test_mc_XXXXXX", path[128];
    ct_log_set_level(CT_LOG_ERROR);
    test_seed_plan();
    test_normalise();
    test_errors();
    test_two_inputs();
    test_naming();
    test_variants();
    test_codecs();
    test_merge();
    test_output_details();
    test_hls_plan();
    test_dash_cmaf_plan();
    if (!mkdtemp(dir))
        return 1;
    snprintf(path, sizeof path, "%s/meta.db", dir);
    ct_meta *meta = NULL;
    ct_mc *mc = NULL;
    ct_mc_config cfg = {.region = "us-east-1", .account_id = ACCOUNT, .endpoint_url = "http://localhost:9000"};
    CHECK(ct_meta_open_sqlite(path, &meta) == CT_OK);
    CHECK(meta && ct_mc_open(&cfg, meta, &mc) == CT_OK);
    if (mc) {
        char job_id[40];
        test_api_queues(mc);
        test_api_jobs(mc, job_id);
        test_api_list_cancel(mc, job_id);
        test_api_templates(mc);
        test_api_template_jobs(mc);
        test_api_misc(mc);
    }
    ct_mc_close(mc);
    ct_meta_close(meta);
    snprintf(path, sizeof path, "rm -rf %s", dir);
    CHECK(system(path) == 0);
    CT_TEST_END();
}
