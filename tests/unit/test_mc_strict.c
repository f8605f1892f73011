/* Unit tests for mc_strict.c: settings CatTube does not honour answer 400
 * naming the JSON path, unless at MediaConvert's default (silent) or
 * harmless (a warning); the seed job and a console-style job full of
 * defaults pass without warnings. */
#include "ct_test.h"
#include "mc/mc_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A job as MediaConvert's console exports it: every default spelled out. */
static const char console_job[] =
    "{\"Role\":\"r\",\"Settings\":{\"TimecodeConfig\":{\"Source\":\"ZEROBASED\"},"
    "\"Inputs\":[{\"FileInput\":\"s3://src/in/a.mp4\",\"AudioSelectors\":{\"Audio Selector 1\":"
    "{\"DefaultSelection\":\"DEFAULT\",\"Offset\":0,\"ProgramSelection\":1}},"
    "\"VideoSelector\":{\"ColorSpace\":\"FOLLOW\",\"Rotate\":\"DEGREE_0\",\"AlphaBehavior\":\"DISCARD\"},"
    "\"FilterEnable\":\"AUTO\",\"PsiControl\":\"USE_PSI\",\"FilterStrength\":0,\"DeblockFilter\":\"DISABLED\","
    "\"DenoiseFilter\":\"DISABLED\",\"InputScanType\":\"AUTO\",\"TimecodeSource\":\"ZEROBASED\"}],"
    "\"OutputGroups\":[{\"Name\":\"File Group\",\"CustomName\":\"mine\",\"OutputGroupSettings\":"
    "{\"Type\":\"FILE_GROUP_SETTINGS\",\"FileGroupSettings\":{\"Destination\":\"s3://dst/out/\"}},"
    "\"Outputs\":[{\"ContainerSettings\":{\"Container\":\"MP4\",\"Mp4Settings\":{\"CslgAtom\":\"INCLUDE\","
    "\"FreeSpaceBox\":\"EXCLUDE\",\"MoovPlacement\":\"PROGRESSIVE_DOWNLOAD\",\"AudioDuration\":"
    "\"DEFAULT_CODEC_DURATION\"}},\"VideoDescription\":{\"ScalingBehavior\":\"DEFAULT\","
    "\"TimecodeInsertion\":\"DISABLED\",\"AntiAlias\":\"ENABLED\",\"Sharpness\":50,\"AfdSignaling\":\"NONE\","
    "\"DropFrameTimecode\":\"ENABLED\",\"RespondToAfd\":\"NONE\",\"ColorMetadata\":\"INSERT\","
    "\"CodecSettings\":{\"Codec\":\"H_264\",\"H264Settings\":{\"InterlaceMode\":\"PROGRESSIVE\","
    "\"NumberReferenceFrames\":3,\"Syntax\":\"DEFAULT\",\"Softness\":0,\"GopClosedCadence\":1,"
    "\"GopSize\":90,\"Slices\":1,\"GopBReference\":\"DISABLED\",\"SlowPal\":\"DISABLED\","
    "\"SpatialAdaptiveQuantization\":\"ENABLED\",\"TemporalAdaptiveQuantization\":\"ENABLED\","
    "\"FlickerAdaptiveQuantization\":\"DISABLED\",\"EntropyEncoding\":\"CABAC\",\"Bitrate\":5000000,"
    "\"FramerateControl\":\"INITIALIZE_FROM_SOURCE\",\"RateControlMode\":\"CBR\",\"CodecLevel\":\"AUTO\","
    "\"Telecine\":\"NONE\",\"MinIInterval\":0,\"AdaptiveQuantization\":\"HIGH\","
    "\"FieldEncoding\":\"PAFF\",\"SceneChangeDetect\":\"ENABLED\",\"QualityTuningLevel\":\"SINGLE_PASS\","
    "\"FramerateConversionAlgorithm\":\"DUPLICATE_DROP\",\"UnregisteredSeiTimecode\":\"DISABLED\","
    "\"GopSizeUnits\":\"FRAMES\",\"ParControl\":\"INITIALIZE_FROM_SOURCE\","
    "\"NumberBFramesBetweenReferenceFrames\":2,\"RepeatPps\":\"DISABLED\",\"DynamicSubGop\":\"STATIC\"}}},"
    "\"AudioDescriptions\":[{\"AudioTypeControl\":\"FOLLOW_INPUT\",\"AudioSourceName\":\"Audio Selector 1\","
    "\"LanguageCodeControl\":\"FOLLOW_INPUT\",\"CodecSettings\":{\"Codec\":\"AAC\",\"AacSettings\":"
    "{\"AudioDescriptionBroadcasterMix\":\"NORMAL\",\"Bitrate\":96000,\"RateControlMode\":\"CBR\","
    "\"CodecProfile\":\"LC\",\"CodingMode\":\"CODING_MODE_2_0\",\"RawFormat\":\"NONE\",\"SampleRate\":48000,"
    "\"Specification\":\"MPEG4\"}}}],\"NameModifier\":\"-x\"}]}]}}";

static json_t *job(void)
{
    json_t *j = json_loads(console_job, 0, NULL);
    CHECK(j != NULL);
    return j;
}

/* Sets a dotted path ("Settings.Inputs.0.FileInput"); numeric parts index arrays. */
static void set_path(json_t *root, const char *path, json_t *val)
{
    char buf[512];
    snprintf(buf, sizeof buf, "%s", path);
    char *last = strrchr(buf, '.'), *save = NULL;
    json_t *cur = root;
    *last++ = '\0';
    for (char *t = strtok_r(buf, ".", &save); t && cur; t = strtok_r(NULL, ".", &save)) {
        json_t *next = json_is_array(cur) ? json_array_get(cur, (size_t)atoi(t)) : json_object_get(cur, t);
        if (!next && json_is_object(cur)) {
            next = json_object();
            json_object_set_new(cur, t, next);
        }
        cur = next;
    }
    json_object_set_new(cur, last, val);
}

/* Model check + plan; returns 0 or -1 with msg; warnings into *w (new ref). */
static int run(json_t *body, char *msg, size_t n, json_t **w)
{
    mc_diag d;
    ct_plan plan;
    *w = json_array();
    mc_diag_init(&d, "", *w);
    json_t *req = mc_model_check("CreateJobRequest", body, &d);
    int rc = -1;
    if (req) {
        size_t p = mc_path_key(&d, "settings");
        rc = mc_settings_plan(json_object_get(req, "settings"), &plan, NULL, NULL, NULL, &d);
        mc_path_pop(&d, p);
    }
    snprintf(msg, n, "%s", rc ? d.msg : "");
    json_decref(req);
    return rc;
}

static void expect(const char *path, json_t *val, int want_rc, const char *want)
{
    json_t *j = job(), *w;
    char msg[2048];
    set_path(j, path, val);
    int rc = run(j, msg, sizeof msg, &w);
    CHECK(rc == want_rc);
    if (want_rc) {
        CHECK_STR(msg, want);
    } else if (want) {
        CHECK(json_array_size(w) == 1);
        CHECK_STR(json_string_value(json_array_get(w, 0)), want);
    } else {
        CHECK(json_array_size(w) == 0);
    }
    if (rc != want_rc)
        fprintf(stderr, "  %s: %s\n", path, msg);
    json_decref(w);
    json_decref(j);
}

static void test_defaults_pass(void)
{
    json_t *j = job(), *w;
    char msg[2048];
    CHECK(run(j, msg, sizeof msg, &w) == 0);
    CHECK_STR(msg, "");
    CHECK(json_array_size(w) == 0);
    for (size_t i = 0; i < json_array_size(w); i++)
        fprintf(stderr, "  warning: %s\n", json_string_value(json_array_get(w, i)));
    json_decref(w);
    json_decref(j);
}

#define O0 "Settings.OutputGroups.0.Outputs.0."
#define H264 O0 "VideoDescription.CodecSettings.H264Settings."
#define P0 "settings.outputGroups[0].outputs[0]."
#define PH264 P0 "videoDescription.codecSettings.h264Settings."

static void test_rejected(void)
{
    expect("Settings.Inputs.0.VideoSelector.PadVideo", json_string("BLACK"), -1,
           "settings.inputs[0].videoSelector.padVideo: unsupported value \"BLACK\" (CatTube does not"
           " implement it; supported: DISABLED)");
    expect("Settings.Inputs.0.VideoSelector.Hdr10Metadata", json_pack("{s:i}", "MaxLuminance", 1000), -1,
           "settings.inputs[0].videoSelector.hdr10Metadata: unsupported field (CatTube does not implement"
           " it; leave it out)");
    expect("Settings.Inputs.0.InputScanType", json_string("PSF"), -1,
           "settings.inputs[0].inputScanType: unsupported value \"PSF\" (CatTube does not implement it;"
           " supported: AUTO)");
    expect(H264 "Syntax", json_string("RP2027"), -1,
           PH264 "syntax: unsupported value \"RP2027\" (CatTube does not implement it; supported: DEFAULT)");
    expect(H264 "ParControl", json_string("SPECIFIED"), -1,
           PH264 "parControl: unsupported value \"SPECIFIED\" (CatTube does not implement it; supported:"
           " INITIALIZE_FROM_SOURCE)");
    expect(O0 "VideoDescription.RespondToAfd", json_string("RESPOND"), -1,
           P0 "videoDescription.respondToAfd: unsupported value \"RESPOND\" (CatTube does not implement it;"
           " supported: NONE)");
    expect(O0 "AudioDescriptions.0.CodecSettings.AacSettings.RateControlMode", json_string("VBR"), -1,
           P0 "audioDescriptions[0].codecSettings.aacSettings.rateControlMode: unsupported value \"VBR\""
           " (CatTube does not implement it; supported: CBR)");
    expect(O0 "ContainerSettings.Mp4Settings.AudioDuration", json_string("MATCH_VIDEO_DURATION"), -1,
           P0 "containerSettings.mp4Settings.audioDuration: unsupported value \"MATCH_VIDEO_DURATION\""
           " (CatTube does not implement it; supported: DEFAULT_CODEC_DURATION)");
    expect("Settings.OutputGroups.0.AutomatedEncodingSettings",
           json_pack("{s:{s:i}}", "AbrSettings", "MaxAbrBitrate", 8000000), -1,
           "settings.outputGroups[0].automatedEncodingSettings: unsupported field (CatTube does not"
           " implement it; leave it out)");
    expect("Settings.OutputGroups.0.OutputGroupSettings.FileGroupSettings.DestinationSettings",
           json_pack("{s:{s:s}}", "S3Settings", "StorageClass", "GLACIER"), -1,
           "settings.outputGroups[0].outputGroupSettings.fileGroupSettings.destinationSettings: unsupported"
           " field (CatTube does not implement it; leave it out)");
    expect("Settings.AdAvailOffset", json_integer(1), -1,
           "settings.adAvailOffset: unsupported value \"1\" (CatTube does not implement it; supported: 0)");
    expect(O0 "OutputSettings.HlsSettings.SegmentModifier", json_string("x"), -1,
           P0 "outputSettings.hlsSettings.segmentModifier: unsupported value \"x\" (CatTube does not implement"
           " it; leave it out)");
    expect("Settings.AvailBlanking", json_pack("{s:s}", "AvailBlankingImage", "s3://a/b.png"), -1,
           "settings.availBlanking: unsupported field (CatTube does not implement it; leave it out)");
    expect(O0 "VideoDescription.CodecSettings.Mpeg2Settings", json_pack("{s:i}", "Bitrate", 5000000), -1,
           P0 "videoDescription.codecSettings.mpeg2Settings: unsupported field (CatTube does not implement"
           " it; leave it out)");
}

static void test_defaults_and_warnings(void)
{
    /* empty objects ask for nothing */
    expect("Settings.OutputGroups.0.OutputGroupSettings.FileGroupSettings.DestinationSettings",
           json_object(), 0, NULL);
    expect("Settings.Inputs.0.VideoSelector.Rotate", json_string("AUTO"), 0, NULL);
    expect(O0 "VideoDescription.AfdSignaling", json_string("AUTO"), 0,
           P0 "videoDescription.afdSignaling: not implemented by CatTube; ignored");
    expect(O0 "VideoDescription.TimecodeInsertion", json_string("PIC_TIMING_SEI"), 0,
           P0 "videoDescription.timecodeInsertion: not implemented by CatTube; ignored");
    expect(H264 "NumberReferenceFrames", json_integer(5), 0,
           PH264 "numberReferenceFrames: not implemented by CatTube; ignored");
    expect(O0 "ContainerSettings.Mp4Settings.MoovPlacement", json_string("NORMAL"), 0,
           P0 "containerSettings.mp4Settings.moovPlacement: not implemented by CatTube; ignored");
    expect("Settings.Inputs.0.CaptionSelectors", json_pack("{s:{}}", "Captions Selector 1"), 0,
           "settings.inputs[0].captionSelectors: not implemented by CatTube; ignored");
}

/* Settings implemented rather than refused land in the plan, and the plan
 * survives its JSON round trip to the transcode child. */
static void test_implemented(void)
{
    json_t *j = job(), *w;
    char msg[2048];
    mc_diag d;
    ct_plan plan, back;
    set_path(j, "Settings.Inputs.0.VideoSelector.Rotate", json_string("DEGREES_270"));
    set_path(j, "Settings.Inputs.0.DeblockFilter", json_string("ENABLED"));
    set_path(j, "Settings.Inputs.0.DenoiseFilter", json_string("ENABLED"));
    set_path(j, H264 "CodecProfile", json_string("HIGH_10BIT"));
    set_path(j, H264 "CodecLevel", json_string("LEVEL_4_1"));
    w = json_array();
    mc_diag_init(&d, "", w);
    json_t *req = mc_model_check("CreateJobRequest", j, &d);
    CHECK(req != NULL);
    size_t p = mc_path_key(&d, "settings");
    CHECK(mc_settings_plan(json_object_get(req, "settings"), &plan, NULL, NULL, NULL, &d) == 0);
    mc_path_pop(&d, p);
    snprintf(msg, sizeof msg, "%s", d.msg);
    CHECK(plan.inputs[0].rotate == CT_ROTATE_270 && plan.inputs[0].deblock == 1 && plan.inputs[0].denoise == 1);
    const ct_plan_video *v = &plan.outputs[0].video;
    CHECK(v->profile == CT_VPROF_HIGH && v->bit_depth == 10 && v->level == 41 && v->high_tier == 0);
    char *js = ct_plan_to_json(&plan), err[256];
    CHECK(js && ct_plan_from_json(js, &back, err, sizeof err) == CT_OK);
    CHECK(back.inputs[0].rotate == CT_ROTATE_270 && back.inputs[0].deblock == 1 && back.inputs[0].denoise == 1);
    CHECK(back.outputs[0].video.bit_depth == 10 && back.outputs[0].video.level == 41);
    /* plans written before these fields (bench/transcode.py) still parse */
    json_t *pj = json_loads(js, 0, NULL);
    json_object_del(json_array_get(json_object_get(pj, "inputs"), 0), "prep");
    json_object_del(json_object_get(json_array_get(json_object_get(pj, "outputs"), 0), "video"), "prof");
    char *old = json_dumps(pj, JSON_COMPACT);
    CHECK(old && ct_plan_from_json(old, &back, err, sizeof err) == CT_OK);
    CHECK(back.inputs[0].rotate == CT_ROTATE_AUTO && back.outputs[0].video.bit_depth == 0);
    free(old);
    json_decref(pj);
    free(js);
    json_decref(req);
    json_decref(w);
    json_decref(j);
    /* H.265 Main 10 high tier */
    j = job();
    set_path(j, O0 "VideoDescription.CodecSettings.Codec", json_string("H_265"));
    set_path(j, O0 "VideoDescription.CodecSettings.H265Settings",
             json_pack("{s:s, s:i, s:s, s:s}", "RateControlMode", "QVBR", "MaxBitrate", 2000000,
                       "CodecProfile", "MAIN10_HIGH", "CodecLevel", "LEVEL_5_1"));
    json_object_del(json_object_get(json_object_get(json_array_get(json_object_get(json_array_get(
        json_object_get(json_object_get(j, "Settings"), "OutputGroups"), 0), "Outputs"), 0),
        "VideoDescription"), "CodecSettings"), "H264Settings");
    CHECK(run(j, msg, sizeof msg, &w) == 0);
    CHECK_STR(msg, "");
    json_decref(w);
    json_decref(j);
    expect(H264 "CodecProfile", json_string("HIGH_422"), -1,
           PH264 "codecProfile: unsupported value \"HIGH_422\" (supported: BASELINE, MAIN, HIGH, HIGH_10BIT)");
    /* FilterEnable DISABLE turns the filters off; FilterStrength -5..5 */
    j = job();
    set_path(j, "Settings.Inputs.0.DenoiseFilter", json_string("ENABLED"));
    set_path(j, "Settings.Inputs.0.FilterEnable", json_string("FORCE"));
    set_path(j, "Settings.Inputs.0.FilterStrength", json_integer(-3));
    w = json_array();
    mc_diag_init(&d, "", w);
    req = mc_model_check("CreateJobRequest", j, &d);
    CHECK(req && mc_settings_plan(json_object_get(req, "settings"), &plan, NULL, NULL, NULL, &d) == 0);
    CHECK(plan.inputs[0].denoise == 1 && plan.inputs[0].filter_strength == -3);
    json_decref(req);
    set_path(j, "Settings.Inputs.0.FilterEnable", json_string("DISABLE"));
    req = mc_model_check("CreateJobRequest", j, &d);
    CHECK(req && mc_settings_plan(json_object_get(req, "settings"), &plan, NULL, NULL, NULL, &d) == 0);
    CHECK(plan.inputs[0].denoise == 0 && plan.inputs[0].deblock == 0);
    json_decref(req);
    json_decref(w);
    json_decref(j);
}

int main(void)
{
    test_defaults_pass();
    test_rejected();
    test_defaults_and_warnings();
    test_implemented();
    CT_TEST_END();
}
