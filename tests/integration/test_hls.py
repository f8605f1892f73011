"""HLS output groups and frame capture, end to end through the worker.

One job: an HLS group of two H.264+AAC renditions and one audio-only
rendition (1 s segments) plus a FILE group with a FRAME_CAPTURE output, on a
4 s clip. Checks MediaConvert's names in the destination, the master
playlist's attributes, each variant with ffprobe, keyframes at the same
times in every rendition, the JPEG thumbnails, and playback of the master
playlist by hls.js in headless Chromium."""

import json
import os
import re
import subprocess

import pytest

import media
import playback

SRC, DST = "hls-source", "hls-destination"
CLIP = "cat clip.mp4"
BASE = "cat clip"
SEG = 1


def rendition(mod, width, height, bitrate, video=True, audio=True):
    out = {"NameModifier": mod, "ContainerSettings": {"Container": "M3U8"}}
    if video:
        out["VideoDescription"] = {
            "Width": width, "Height": height,
            "CodecSettings": {"Codec": "H_264", "H264Settings": {
                "RateControlMode": "QVBR", "MaxBitrate": bitrate,
                "QvbrSettings": {"QvbrQualityLevel": 7}}}}
    if audio:
        out["AudioDescriptions"] = [{"CodecSettings": {"Codec": "AAC", "AacSettings": {
            "Bitrate": 64000, "CodingMode": "CODING_MODE_2_0", "SampleRate": 48000}}}]
    return out


def job_settings():
    hls = {"Name": "Apple HLS",
           "OutputGroupSettings": {"Type": "HLS_GROUP_SETTINGS", "HlsGroupSettings": {
               "Destination": f"s3://{DST}/hls/", "SegmentLength": SEG,
               "MinSegmentLength": 0}},
           "Outputs": [rendition("_360p", 640, 360, 800000),
                       rendition("_180p", 320, 180, 300000),
                       rendition("_audio", 0, 0, 0, video=False)]}
    thumbs = {"Name": "File Group",
              "OutputGroupSettings": {"Type": "FILE_GROUP_SETTINGS", "FileGroupSettings": {
                  "Destination": f"s3://{DST}/thumbs/"}},
              "Outputs": [{"NameModifier": "_thumb", "Extension": "jpg",
                           "ContainerSettings": {"Container": "RAW"},
                           "VideoDescription": {"Width": 160, "Height": 90, "CodecSettings": {
                               "Codec": "FRAME_CAPTURE", "FrameCaptureSettings": {
                                   "FramerateNumerator": 1, "FramerateDenominator": 1,
                                   "MaxCaptures": 3, "Quality": 80}}}}]}
    return {"Inputs": [{"FileInput": f"s3://{SRC}/{CLIP}",
                        "AudioSelectors": {"Audio Selector 1": {"DefaultSelection": "DEFAULT"}}}],
            "OutputGroups": [hls, thumbs]}


@pytest.fixture(scope="module")
def done(server, tmp_path_factory):
    d = tmp_path_factory.mktemp("hls")
    s3 = server.client("s3")
    for b in (SRC, DST):
        s3.create_bucket(Bucket=b)
    clip = media.make_clip(os.path.join(d, "in.mp4"), duration=4.0, size="640x360", rate=25,
                           container="mp4")
    s3.upload_file(clip, SRC, CLIP)
    mc = server.client("mediaconvert")
    job = mc.create_job(Role="arn:aws:iam::000000000000:role/MediaConvert_Default_Role",
                        Settings=job_settings())["Job"]
    final, history = server.wait_job(job["Id"])
    assert final["Status"] == "COMPLETE", (history, final.get("ErrorCode"),
                                           final.get("ErrorMessage"))
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=DST)["Contents"]]
    local = d / "out"
    for k in keys:
        p = local / k
        p.parent.mkdir(parents=True, exist_ok=True)
        s3.download_file(DST, k, str(p))
    return {"job": final, "keys": keys, "dir": local}


def read(done, key):
    return (done["dir"] / key).read_text()


def test_mediaconvert_names(done):
    keys = set(done["keys"])
    expected = {f"hls/{BASE}.m3u8"}
    for mod in ("_360p", "_180p", "_audio"):
        expected.add(f"hls/{BASE}{mod}.m3u8")
        expected |= {f"hls/{BASE}{mod}_{n:05d}.ts" for n in range(1, 5)}
    expected |= {f"thumbs/{BASE}_thumb.{n:07d}.jpg" for n in range(3)}
    # AAC's last frame ends a few ms after 4 s: the audio-only rendition may
    # carry a tiny fifth segment
    keys.discard(f"hls/{BASE}_audio_00005.ts")
    assert keys == expected, sorted(keys ^ expected)


def parse_master(text):
    lines = text.splitlines()
    assert lines[0] == "#EXTM3U", text
    variants, media_ = [], []
    for i, line in enumerate(lines):
        if line.startswith("#EXT-X-STREAM-INF:"):
            attrs = dict(re.findall(r'([A-Z-]+)=("[^"]*"|[^,]*)', line.split(":", 1)[1]))
            variants.append((attrs, lines[i + 1]))
        elif line.startswith("#EXT-X-MEDIA:"):
            media_.append(dict(re.findall(r'([A-Z-]+)=("[^"]*"|[^,]*)', line.split(":", 1)[1])))
    return variants, media_


def test_master_playlist(done):
    variants, media_ = parse_master(read(done, f"hls/{BASE}.m3u8"))
    assert [uri for _, uri in variants] == [f"{BASE}_360p.m3u8", f"{BASE}_180p.m3u8"], variants
    sizes = {"_360p": "640x360", "_180p": "320x180"}
    for attrs, uri in variants:
        mod = uri[len(BASE):-len(".m3u8")]
        assert attrs["RESOLUTION"] == sizes[mod], attrs
        assert re.fullmatch(r'"avc1\.[0-9a-f]{6},mp4a\.40\.2"', attrs["CODECS"]), attrs
        assert int(attrs["BANDWIDTH"]) >= int(attrs["AVERAGE-BANDWIDTH"]) > 64000, attrs
        assert float(attrs["FRAME-RATE"]) == 25.0, attrs
        assert attrs["AUDIO"] == '"program_audio"', attrs
    assert int(variants[0][0]["BANDWIDTH"]) > int(variants[1][0]["BANDWIDTH"])
    assert len(media_) == 1 and media_[0]["TYPE"] == "AUDIO", media_
    assert media_[0]["URI"] == f'"{BASE}_audio.m3u8"', media_


def ffprobe(path, *args):
    r = subprocess.run(["ffprobe", "-v", "error", "-of", "json", *args, str(path)],
                       check=True, capture_output=True, text=True, timeout=60)
    return json.loads(r.stdout)


@pytest.mark.parametrize("mod,size", [("_360p", (640, 360)), ("_180p", (320, 180))])
def test_variant_plays(done, mod, size):
    info = ffprobe(done["dir"] / "hls" / f"{BASE}{mod}.m3u8", "-show_streams", "-show_format")
    v = [s for s in info["streams"] if s["codec_type"] == "video"]
    a = [s for s in info["streams"] if s["codec_type"] == "audio"]
    assert v and (v[0]["codec_name"], v[0]["width"], v[0]["height"]) == ("h264", *size), v
    assert a and a[0]["codec_name"] == "aac" and int(a[0]["channels"]) == 2, a
    assert abs(float(info["format"]["duration"]) - 4.0) < 0.2, info["format"]
    playlist = read(done, f"hls/{BASE}{mod}.m3u8")
    assert "#EXT-X-ENDLIST" in playlist and f"{BASE}{mod}_00001.ts" in playlist


def keyframe_times(path):
    info = ffprobe(path, "-select_streams", "v", "-show_entries", "packet=pts_time,flags")
    return [round(float(p["pts_time"]), 3) for p in info["packets"] if "K" in p["flags"]]


def test_keyframes_aligned(done):
    hls = done["dir"] / "hls"
    for n in range(1, 5):
        first = [keyframe_times(hls / f"{BASE}{mod}_{n:05d}.ts") for mod in ("_360p", "_180p")]
        # every segment starts with a keyframe, at the same time in both renditions
        assert first[0] and first[0] == first[1], (n, first)
    times = keyframe_times(hls / f"{BASE}_360p.m3u8")
    starts = [t - times[0] for t in times]
    assert [round(t) for t in starts] == [0, 1, 2, 3], times


def test_frame_capture(done):
    for n in range(3):
        info = ffprobe(done["dir"] / "thumbs" / f"{BASE}_thumb.{n:07d}.jpg", "-show_streams")
        s = info["streams"][0]
        assert (s["codec_name"], s["width"], s["height"]) == ("mjpeg", 160, 90), s


def test_output_group_details(done):
    groups = done["job"]["OutputGroupDetails"]
    assert len(groups) == 2, groups
    hls = groups[0]["OutputDetails"]
    assert len(hls) == 3
    assert hls[0]["VideoDetails"] == {"WidthInPx": 640, "HeightInPx": 360}, hls[0]
    assert abs(hls[0]["DurationInMs"] - 4000) < 200, hls[0]


def test_plays_in_chromium(done):
    node = playback.node_or_skip()
    r = playback.play(node, done["dir"], f"hls/{BASE}.m3u8", 2.5)
    assert r["ok"] and r["player"] == "hls.js" and r["levels"] == 2, r
    assert r["currentTime"] >= 2.5 and (r["width"], r["height"]) in {(640, 360), (320, 180)}, r
