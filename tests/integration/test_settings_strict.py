"""Strict job settings (issue 4: "everything else answers 400 naming the
JSON path"): members CatTube does not honour are refused by CreateJob with
BadRequestException naming the path, members at MediaConvert's defaults pass
silently, harmless ignored ones pass with a warning. The settings CatTube
implements instead of refusing are checked end to end with ffprobe:
VideoSelector Rotate, DeblockFilter / DenoiseFilter, H.264 and H.265
CodecProfile / CodecLevel (10-bit included), AV1 BitDepth. And an input in a codec the
engine does not decode ends in ERROR with code 1030."""

import copy
import json
import os

import botocore.exceptions
import pytest

import media

SRC, DST = "strict-source", "strict-destination"
ROLE = "arn:aws:iam::000000000000:role/MediaConvert_Default_Role"
AAC = {"Codec": "AAC", "AacSettings": {"Bitrate": 96000, "CodingMode": "CODING_MODE_2_0",
                                       "SampleRate": 48000}}
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SEED_JOBS = [os.path.join(os.path.dirname(REPO), "shared", "seed", "job.json"),
             os.path.join(REPO, "examples", "seed", "job.json")]


@pytest.fixture(scope="module")
def s3(server):
    c = server.client("s3")
    for b in (SRC, DST):
        c.create_bucket(Bucket=b)
    return c


@pytest.fixture(scope="module")
def clip(s3, tmp_path_factory):
    """320x240 H.264 + AAC, 2 s, in the source bucket."""
    path = media.make_clip(tmp_path_factory.mktemp("strict") / "clip.mp4", container="mp4")
    s3.upload_file(path, SRC, "in/clip.mp4")
    return f"s3://{SRC}/in/clip.mp4"


def video(codec="H_264", width=None, **codec_settings):
    key = {"H_264": "H264Settings", "H_265": "H265Settings"}[codec]
    cs = {"RateControlMode": "QVBR", "MaxBitrate": 800000, **codec_settings}
    vd = {"CodecSettings": {"Codec": codec, key: cs}}
    if width:
        vd["Width"] = width
    return vd


def settings(file_input, name, outputs, **input_extra):
    return {"Inputs": [{"FileInput": file_input, **input_extra}], "OutputGroups": [{
        "Name": "File Group", "OutputGroupSettings": {
            "Type": "FILE_GROUP_SETTINGS",
            "FileGroupSettings": {"Destination": f"s3://{DST}/{name}/"}},
        "Outputs": outputs}]}


def mp4(mod, vd, audio=False):
    o = {"NameModifier": mod, "ContainerSettings": {"Container": "MP4"}, "VideoDescription": vd}
    if audio:
        o["AudioDescriptions"] = [{"CodecSettings": AAC}]
    return o


def create_error(server, s):
    """CreateJob through boto3 that must fail: (status, code, message)."""
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        server.client("mediaconvert").create_job(Role=ROLE, Settings=s)
    e = ei.value.response
    return e["ResponseMetadata"]["HTTPStatusCode"], e["Error"]["Code"], e["Error"]["Message"]


def run(server, s, timeout=300):
    job = server.client("mediaconvert").create_job(Role=ROLE, Settings=s)["Job"]
    final, history = server.wait_job(job["Id"], timeout=timeout)
    return final, history


def fetch(s3, key, tmp_path):
    local = str(tmp_path / key.replace("/", "_"))
    s3.download_file(DST, key, local)
    return local


def probe_video(path):
    info = media.probe(path)
    v = media.stream(info, "video")
    assert v, info["streams"]
    return v


# ------------------------------------------------------------------ refusals

def test_audit_settings_are_refused_or_done(server, clip):
    """The settings an audit found silently accepted: each now either
    answers 400 naming its path, or is implemented (tests below)."""
    refused = [
        (["Inputs", 0, "VideoSelector", "PadVideo"], "BLACK",
         "settings.inputs[0].videoSelector.padVideo: unsupported value \"BLACK\""),
        (["Inputs", 0, "InputScanType"], "PSF", "settings.inputs[0].inputScanType: unsupported value \"PSF\""),
        (["OutputGroups", 0, "Outputs", 0, "VideoDescription", "CodecSettings", "H265Settings",
          "CodecProfile"], "MAIN_422_10BIT_MAIN",
         "settings.outputGroups[0].outputs[0].videoDescription.codecSettings.h265Settings.codecProfile:"
         " unsupported value \"MAIN_422_10BIT_MAIN\" (supported: MAIN_MAIN, MAIN_HIGH, MAIN10_MAIN,"
         " MAIN10_HIGH)"),
        (["OutputGroups", 0, "Outputs", 0, "VideoDescription", "RespondToAfd"], "RESPOND",
         "settings.outputGroups[0].outputs[0].videoDescription.respondToAfd: unsupported value"),
        (["OutputGroups", 0, "Outputs", 0, "VideoDescription", "CodecSettings", "H265Settings",
          "WriteMp4PackagingType"], "HEV1", "h265Settings.writeMp4PackagingType: unsupported value"),
        (["OutputGroups", 0, "AutomatedEncodingSettings"], {"AbrSettings": {"MaxRenditions": 3}},
         "settings.outputGroups[0].automatedEncodingSettings: unsupported field"),
    ]
    base = settings(clip, "refused", [mp4("-x", video("H_265"))])
    for path, value, want in refused:
        s = copy.deepcopy(base)
        node = s
        for k in path[:-1]:
            node = node[k] if isinstance(k, int) else node.setdefault(k, {})
        node[path[-1]] = value
        status, code, msg = create_error(server, s)
        assert (status, code) == (400, "BadRequestException"), (path, status, code, msg)
        assert want in msg, (path, msg)


def test_refusal_through_the_aws_cli(server, clip, tmp_path):
    """The aws CLI shows the same 400 with the JSON path."""
    s = settings(clip, "cli", [mp4("-x", video())])
    s["Inputs"][0]["VideoSelector"] = {"SampleRange": "FULL_RANGE"}
    p = tmp_path / "job.json"
    p.write_text(json.dumps({"Role": ROLE, "Settings": s}))
    err = server.aws_fail("mediaconvert", "create-job", "--cli-input-json", f"file://{p}")
    assert "BadRequestException" in err.stderr, err.stderr
    assert ("settings.inputs[0].videoSelector.sampleRange: unsupported value \"FULL_RANGE\" (CatTube does"
            " not implement it; supported: FOLLOW)") in err.stderr, err.stderr


def test_templates_and_presets_are_checked_too(server, clip):
    """CreateJobTemplate and CreatePreset answer the same 400 naming the path."""
    mc = server.client("mediaconvert")
    s = settings(clip, "tpl", [mp4("-x", video())])
    s["Inputs"][0]["VideoSelector"] = {"PadVideo": "BLACK"}
    del s["Inputs"][0]["FileInput"]
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        mc.create_job_template(Name="strict-tpl", Settings=s)
    assert ei.value.response["Error"]["Code"] == "BadRequestException", ei.value.response
    assert "settings.inputs[0].videoSelector.padVideo: unsupported value \"BLACK\"" in \
        ei.value.response["Error"]["Message"], ei.value.response["Error"]
    vd = video()
    vd["CodecSettings"]["H264Settings"]["Syntax"] = "RP2027"
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        mc.create_preset(Name="strict-preset", Settings={"ContainerSettings": {"Container": "MP4"},
                                                         "VideoDescription": vd})
    assert ei.value.response["Error"]["Code"] == "BadRequestException", ei.value.response
    assert "videoDescription.codecSettings.h264Settings.syntax: unsupported value \"RP2027\"" in \
        ei.value.response["Error"]["Message"], ei.value.response["Error"]


def test_seed_and_console_defaults_pass(server, clip, s3, tmp_path):
    """The seed job, and a job carrying the defaults MediaConvert's console
    writes (tuning, signalling, container atoms), are accepted; defaults
    make no warnings, an ignored harmless setting makes one naming it."""
    seed = next((p for p in SEED_JOBS if os.path.isfile(p)), None)
    if seed:
        job = server.aws("mediaconvert", "create-job", "--cli-input-json", "file://" + seed)["Job"]
        assert job["Status"] in ("SUBMITTED", "PROGRESSING", "ERROR"), job
    h264 = {"InterlaceMode": "PROGRESSIVE", "NumberReferenceFrames": 3, "Syntax": "DEFAULT", "Softness": 0,
            "GopClosedCadence": 1, "GopSize": 48, "Slices": 1, "GopBReference": "DISABLED",
            "SlowPal": "DISABLED", "SpatialAdaptiveQuantization": "ENABLED",
            "TemporalAdaptiveQuantization": "ENABLED", "FlickerAdaptiveQuantization": "DISABLED",
            "EntropyEncoding": "CABAC", "FramerateControl": "INITIALIZE_FROM_SOURCE", "CodecProfile": "MAIN",
            "Telecine": "NONE", "MinIInterval": 0, "AdaptiveQuantization": "HIGH", "CodecLevel": "AUTO",
            "FieldEncoding": "PAFF", "SceneChangeDetect": "ENABLED", "QualityTuningLevel": "SINGLE_PASS",
            "FramerateConversionAlgorithm": "DUPLICATE_DROP", "UnregisteredSeiTimecode": "DISABLED",
            "GopSizeUnits": "FRAMES", "ParControl": "INITIALIZE_FROM_SOURCE",
            "NumberBFramesBetweenReferenceFrames": 2, "RepeatPps": "DISABLED", "DynamicSubGop": "STATIC"}
    vd = video(width=160, **h264)
    vd.update({"ScalingBehavior": "DEFAULT", "TimecodeInsertion": "DISABLED", "AntiAlias": "ENABLED",
               "Sharpness": 50, "AfdSignaling": "NONE", "DropFrameTimecode": "ENABLED",
               "RespondToAfd": "NONE", "ColorMetadata": "INSERT"})
    out = mp4("-console", vd, audio=True)
    out["ContainerSettings"]["Mp4Settings"] = {"CslgAtom": "INCLUDE", "FreeSpaceBox": "EXCLUDE",
                                               "MoovPlacement": "PROGRESSIVE_DOWNLOAD"}
    s = settings(clip, "console", [out], VideoSelector={"ColorSpace": "FOLLOW", "Rotate": "AUTO"},
                 FilterEnable="AUTO", PsiControl="USE_PSI", FilterStrength=0, DeblockFilter="DISABLED",
                 DenoiseFilter="DISABLED", InputScanType="AUTO", TimecodeSource="ZEROBASED",
                 AudioSelectors={"Audio Selector 1": {"DefaultSelection": "DEFAULT", "Offset": 0,
                                                      "ProgramSelection": 1}})
    s["TimecodeConfig"] = {"Source": "ZEROBASED"}
    final, history = run(server, s)
    assert final["Status"] == "COMPLETE", (history, final.get("ErrorMessage"))
    assert not final.get("Messages", {}).get("Warning"), final.get("Messages")
    v = probe_video(fetch(s3, "console/clip-console.mp4", tmp_path))
    assert v["codec_name"] == "h264" and v["profile"] == "Main" and v["width"] == 160, v
    # harmless but ignored: accepted with a warning naming it
    vd["AfdSignaling"] = "AUTO"
    job = server.client("mediaconvert").create_job(Role=ROLE, Settings=s)["Job"]
    warnings = job.get("Messages", {}).get("Warning") or \
        server.client("mediaconvert").get_job(Id=job["Id"])["Job"]["Messages"]["Warning"]
    assert any("videoDescription.afdSignaling: not implemented by CatTube; ignored" in w for w in warnings), \
        warnings
    server.wait_job(job["Id"])


# ------------------------------------------------------ implemented settings

@pytest.mark.parametrize("rotate,want,vf", [("DEGREES_90", (240, 320), "transpose=clock"),
                                            ("DEGREES_180", (320, 240), "hflip,vflip"),
                                            ("DEGREES_270", (240, 320), "transpose=cclock"),
                                            ("DEGREE_0", (320, 240), "null")])
def test_rotate(server, s3, clip, tmp_path, rotate, want, vf):
    """VideoSelector Rotate turns the picture clockwise: 90 and 270 swap the
    output's width and height, the picture matches the source turned by the
    ffmpeg CLI (PSNR), and the output carries no display matrix."""
    name = "rot" + rotate.split("_")[-1]
    final, history = run(server, settings(clip, name, [mp4("-r", video())], VideoSelector={"Rotate": rotate}))
    assert final["Status"] == "COMPLETE", (history, final.get("ErrorMessage"))
    out = fetch(s3, f"{name}/clip-r.mp4", tmp_path)
    v = probe_video(out)
    assert (v["width"], v["height"]) == want, v
    assert media.rotation_of(v) == 0, v
    src = str(tmp_path / "clip.mp4")
    s3.download_file(SRC, "in/clip.mp4", src)
    ref = str(tmp_path / "ref.mp4")
    media.run_ffmpeg("-i", src, "-vf", vf, "-an", "-c:v", "libx264", "-qp", "0", ref)
    assert media.psnr(out, ref) > 30, rotate


def test_rotate_degree_0_ignores_display_matrix_auto_follows_it(server, s3, tmp_path):
    """A phone-style input (display matrix 90): AUTO (and no Rotate) come
    out portrait; DEGREE_0 ignores the matrix as MediaConvert does."""
    src = media.make_clip(tmp_path / "land.mov", container="mov")
    rotated = media.set_rotation(src, tmp_path / "phone.mov", 90)
    s3.upload_file(rotated, SRC, "in/phone.mov")
    fi = f"s3://{SRC}/in/phone.mov"
    outs = {"auto": ({"Rotate": "AUTO"}, (240, 320)), "zero": ({"Rotate": "DEGREE_0"}, (320, 240))}
    for name, (sel, want) in outs.items():
        final, history = run(server, settings(fi, "phone-" + name, [mp4("-p", video())], VideoSelector=sel))
        assert final["Status"] == "COMPLETE", (history, final.get("ErrorMessage"))
        v = probe_video(fetch(s3, f"phone-{name}/phone-p.mp4", tmp_path))
        assert (v["width"], v["height"]) == want, (name, v)


def test_h264_profiles_and_levels(server, s3, clip, tmp_path):
    """H.264 CodecProfile BASELINE / MAIN / HIGH / HIGH_10BIT and CodecLevel:
    ffprobe reports the profile, the level (x 10) and the pixel format."""
    cases = {"-base": ("BASELINE", "LEVEL_3", "Constrained Baseline", 30, "yuv420p"),
             "-main": ("MAIN", "LEVEL_3_1", "Main", 31, "yuv420p"),
             "-high": ("HIGH", "LEVEL_4_1", "High", 41, "yuv420p"),
             "-hi10": ("HIGH_10BIT", "AUTO", "High 10", None, "yuv420p10le")}
    outs = [mp4(mod, video(CodecProfile=p, CodecLevel=lv)) for mod, (p, lv, *_) in cases.items()]
    final, history = run(server, settings(clip, "avc", outs))
    assert final["Status"] == "COMPLETE", (history, final.get("ErrorMessage"))
    for mod, (_, _, profile, level, pix) in cases.items():
        v = probe_video(fetch(s3, f"avc/clip{mod}.mp4", tmp_path))
        assert v["codec_name"] == "h264" and v["profile"] in (profile, profile.replace("Constrained ", "")), v
        assert v["pix_fmt"] == pix, v
        if level:
            assert v["level"] == level, v


def test_h265_profiles_and_levels(server, s3, clip, tmp_path):
    """H.265 MAIN_MAIN and MAIN10_MAIN (Debian's x265 encodes 10-bit) with
    CodecLevel: ffprobe's profile, level (x 30) and pixel format."""
    cases = {"-main": ("MAIN_MAIN", "LEVEL_3", "Main", 90, "yuv420p"),
             "-main10": ("MAIN10_MAIN", "LEVEL_3_1", "Main 10", 93, "yuv420p10le")}
    outs = [mp4(mod, video("H_265", CodecProfile=p, CodecLevel=lv)) for mod, (p, lv, *_) in cases.items()]
    final, history = run(server, settings(clip, "hevc", outs))
    assert final["Status"] == "COMPLETE", (history, final.get("ErrorMessage"))
    for mod, (_, _, profile, level, pix) in cases.items():
        v = probe_video(fetch(s3, f"hevc/clip{mod}.mp4", tmp_path))
        assert v["codec_name"] == "hevc" and v["profile"] == profile, v
        assert v["pix_fmt"] == pix and v["level"] == level, v


def test_av1_bit_depth_10(server, s3, clip, tmp_path):
    """AV1 BitDepth BIT_10: SVT-AV1 encodes yuv420p10le (ffprobe)."""
    vd = {"Width": 160, "CodecSettings": {"Codec": "AV1", "Av1Settings": {
        "RateControlMode": "QVBR", "MaxBitrate": 400000, "BitDepth": "BIT_10"}}}
    final, history = run(server, settings(clip, "av1ten", [mp4("-a", vd)]))
    assert final["Status"] == "COMPLETE", (history, final.get("ErrorMessage"))
    v = probe_video(fetch(s3, "av1ten/clip-a.mp4", tmp_path))
    assert v["codec_name"] == "av1" and v["pix_fmt"] == "yuv420p10le" and v["width"] == 160, v


def test_h265_level_too_small_for_the_picture_is_1040(server, s3, clip):
    """x265 refuses a CodecLevel the picture does not fit (320x240 at level
    1): the job ends in ERROR 1040 naming the encoder, nothing is written."""
    final, history = run(server, settings(clip, "lv1", [mp4("-l", video("H_265", CodecLevel="LEVEL_1"))]))
    assert final["Status"] == "ERROR" and final["ErrorCode"] == 1040, (history, final)
    assert "libx265" in final["ErrorMessage"], final["ErrorMessage"]
    assert s3.list_objects_v2(Bucket=DST, Prefix="lv1/").get("KeyCount", 0) == 0


def test_deblock_and_denoise(server, s3, tmp_path):
    """DeblockFilter and DenoiseFilter ENABLED run libavfilter's deblock and
    hqdn3d before scaling: a noisy input comes out closer to the clean
    picture (PSNR) and smaller at the same quality level than the same job
    without them; FilterStrength 5 filters harder still."""
    lavfi = ("-f", "lavfi", "-i", "testsrc2=size=320x240:rate=24:duration=2")
    clean = str(tmp_path / "clean.mp4")  # lossless reference
    media.run_ffmpeg(*lavfi, "-c:v", "libx264", "-qp", "0", "-pix_fmt", "yuv420p", "-t", "2", clean)
    src = str(tmp_path / "noisy.mp4")
    media.run_ffmpeg(*lavfi, "-vf", "noise=alls=8:allf=t", "-c:v", "libx264", "-preset", "ultrafast",
                     "-pix_fmt", "yuv420p", "-t", "2", src)
    s3.upload_file(src, SRC, "in/noisy.mp4")
    fi = f"s3://{SRC}/in/noisy.mp4"
    vd = video(RateControlMode="QVBR", MaxBitrate=5000000, QvbrSettings={"QvbrQualityLevel": 9})
    sizes, psnr = {}, {}
    on = {"DeblockFilter": "ENABLED", "DenoiseFilter": "ENABLED"}
    runs = {"plain": {}, "filtered": on, "strong": {**on, "FilterEnable": "FORCE", "FilterStrength": 5}}
    for name, extra in runs.items():
        final, history = run(server, settings(fi, "dn-" + name, [mp4("-d", vd)], **extra))
        assert final["Status"] == "COMPLETE", (history, final.get("ErrorMessage"))
        out = fetch(s3, f"dn-{name}/noisy-d.mp4", tmp_path)
        v = probe_video(out)
        assert (v["width"], v["height"]) == (320, 240) and v["codec_name"] == "h264", v
        sizes[name] = os.path.getsize(out)
        psnr[name] = media.psnr(out, clean)
    assert sizes["filtered"] < sizes["plain"] * 0.9, sizes
    assert psnr["filtered"] > psnr["plain"] + 1.0, psnr
    assert sizes["strong"] < sizes["filtered"] * 0.95, sizes  # FilterStrength 5: twice the strength


# ------------------------------------------------------------- error 1030

def test_unsupported_input_codec_is_1030(server, s3, tmp_path):
    """An FFV1 video in Matroska (a codec the engine does not decode): the
    job ends in ERROR with MediaConvert's 1030 and a message naming it."""
    src = str(tmp_path / "ffv1.mkv")
    media.run_ffmpeg("-f", "lavfi", "-i", "testsrc2=size=160x120:rate=10:duration=1", "-c:v", "ffv1",
                     "-t", "1", src)
    s3.upload_file(src, SRC, "in/ffv1.mkv")
    final, history = run(server, settings(f"s3://{SRC}/in/ffv1.mkv", "ffv1", [mp4("-f", video())]))
    assert final["Status"] == "ERROR", (history, final)
    assert final["ErrorCode"] == 1030, final
    assert "ffv1" in final["ErrorMessage"].lower(), final["ErrorMessage"]
    listed = s3.list_objects_v2(Bucket=DST, Prefix="ffv1/")
    assert listed.get("KeyCount", 0) == 0, listed
