"""DASH ISO, CMAF and fMP4 HLS output groups, end to end through the worker.

One job on a 4 s 640x360 clip:
  DASH ISO group (SegmentLength 2, FragmentLength 1): H.264 360p, H.265
    180p and an AAC audio output;
  CMAF group (SegmentLength 1): H.264 360p, AV1 180p and AAC audio;
  HLS group with container CMFC (fMP4 segments): H.265 + AAC muxed.
Checks MediaConvert's file names, the MPDs (parsed with xml.etree: every
segment the timeline lists exists, the timeline covers the clip), each
representation with ffprobe (init + segments), keyframes at the same times
in every video rendition of a group, fragments inside DASH segments, the
playlists (EXT-X-MAP, CODECS from the real streams) and outputGroupDetails."""

import json
import os
import re
import struct
import subprocess
import xml.etree.ElementTree as ET

import pytest

import media
import playback

SRC, DST = "pkg-source", "pkg-destination"
CLIP = "cat clip.mp4"
BASE = "cat clip"
NS = {"m": "urn:mpeg:dash:schema:mpd:2011"}


def video(codec, width, height, bitrate):
    key = {"H_264": "H264Settings", "H_265": "H265Settings", "AV1": "Av1Settings"}[codec]
    return {"Width": width, "Height": height, "CodecSettings": {"Codec": codec, key: {
        "RateControlMode": "QVBR", "MaxBitrate": bitrate, "QvbrSettings": {"QvbrQualityLevel": 7}}}}


AUDIO = [{"CodecSettings": {"Codec": "AAC", "AacSettings": {
    "Bitrate": 64000, "CodingMode": "CODING_MODE_2_0", "SampleRate": 48000}}}]


def job_settings():
    dash = {"Name": "DASH ISO",
            "OutputGroupSettings": {"Type": "DASH_ISO_GROUP_SETTINGS", "DashIsoGroupSettings": {
                "Destination": f"s3://{DST}/dash/", "SegmentLength": 2, "FragmentLength": 1,
                "MinBufferTime": 3000}},
            "Outputs": [
                {"NameModifier": "_360p", "ContainerSettings": {"Container": "MPD"},
                 "VideoDescription": video("H_264", 640, 360, 800000)},
                {"NameModifier": "_180p", "ContainerSettings": {"Container": "MPD"},
                 "VideoDescription": video("H_265", 320, 180, 300000)},
                {"NameModifier": "_audio", "ContainerSettings": {"Container": "MPD"},
                 "AudioDescriptions": AUDIO}]}
    cmaf = {"Name": "CMAF",
            "OutputGroupSettings": {"Type": "CMAF_GROUP_SETTINGS", "CmafGroupSettings": {
                "Destination": f"s3://{DST}/cmaf/", "SegmentLength": 1}},
            "Outputs": [
                {"NameModifier": "_360p", "ContainerSettings": {"Container": "CMFC"},
                 "VideoDescription": video("H_264", 640, 360, 800000)},
                {"NameModifier": "_av1", "ContainerSettings": {"Container": "CMFC"},
                 "VideoDescription": video("AV1", 320, 180, 300000)},
                {"NameModifier": "_audio", "ContainerSettings": {"Container": "CMFC"},
                 "AudioDescriptions": AUDIO}]}
    hls = {"Name": "Apple HLS",
           "OutputGroupSettings": {"Type": "HLS_GROUP_SETTINGS", "HlsGroupSettings": {
               "Destination": f"s3://{DST}/hls/", "SegmentLength": 1, "MinSegmentLength": 0}},
           "Outputs": [{"NameModifier": "_hevc", "ContainerSettings": {"Container": "CMFC"},
                        "VideoDescription": video("H_265", 320, 180, 300000),
                        "AudioDescriptions": AUDIO}]}
    return {"Inputs": [{"FileInput": f"s3://{SRC}/{CLIP}",
                        "AudioSelectors": {"Audio Selector 1": {"DefaultSelection": "DEFAULT"}}}],
            "OutputGroups": [dash, cmaf, hls]}


@pytest.fixture(scope="module")
def done(server, tmp_path_factory):
    d = tmp_path_factory.mktemp("pkg")
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
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=DST, MaxKeys=1000)["Contents"]]
    local = d / "out"
    for k in keys:
        p = local / k
        p.parent.mkdir(parents=True, exist_ok=True)
        s3.download_file(DST, k, str(p))
    return {"job": final, "keys": keys, "dir": local}


def ffprobe(path, *args):
    r = subprocess.run(["ffprobe", "-v", "error", "-of", "json", *args, str(path)],
                       check=True, capture_output=True, text=True, timeout=60)
    return json.loads(r.stdout)


def joined(done, group, stem, ext, n, tmp_path):
    """init + every segment of one representation, as one playable file."""
    folder = done["dir"] / group
    out = tmp_path / f"{group}-{stem}.{ext}"
    with open(out, "wb") as f:
        f.write((folder / f"{BASE}{stem}init.{ext}").read_bytes())
        for k in range(1, n + 1):
            f.write((folder / f"{BASE}{stem}_{k:09d}.{ext}").read_bytes())
    return out


def top_boxes(path):
    data, off, types = open(path, "rb").read(), 0, []
    while off + 8 <= len(data):
        size, typ = struct.unpack(">I4s", data[off:off + 8])
        types.append(typ.decode())
        off += size if size >= 8 else len(data)
    return types


def test_mediaconvert_names(done):
    keys = set(done["keys"])
    expected = {f"dash/{BASE}.mpd", f"cmaf/{BASE}.mpd", f"cmaf/{BASE}.m3u8", f"hls/{BASE}.m3u8",
                f"hls/{BASE}_hevc.m3u8", f"hls/{BASE}_hevcinit.mp4"}
    for mod in ("_360p", "_180p", "_audio"):
        expected.add(f"dash/{BASE}{mod}init.mp4")
        expected |= {f"dash/{BASE}{mod}_{n:09d}.mp4" for n in (1, 2)}
    for mod, ext in (("_360p", "cmfv"), ("_av1", "cmfv"), ("_audio", "cmfa")):
        expected |= {f"cmaf/{BASE}{mod}init.{ext}", f"cmaf/{BASE}{mod}.m3u8"}
        expected |= {f"cmaf/{BASE}{mod}_{n:09d}.{ext}" for n in range(1, 5)}
    expected |= {f"hls/{BASE}_hevc_{n:05d}.mp4" for n in range(1, 5)}
    assert keys == expected, sorted(keys ^ expected)


def representations(mpd_path):
    root = ET.parse(mpd_path).getroot()
    assert root.tag == "{urn:mpeg:dash:schema:mpd:2011}MPD" and root.get("type") == "static"
    reps = {}
    for aset in root.iterfind("m:Period/m:AdaptationSet", NS):
        for rep in aset.iterfind("m:Representation", NS):
            tpl = rep.find("m:SegmentTemplate", NS)
            times, t = [], None
            for s in tpl.iterfind("m:SegmentTimeline/m:S", NS):
                t = int(s.get("t", t))
                for _ in range(int(s.get("r", "0")) + 1):
                    times.append((t, int(s.get("d"))))
                    t += int(s.get("d"))
            reps[tpl.get("initialization")] = {"aset": aset, "rep": rep, "tpl": tpl, "times": times}
    return root, reps


@pytest.mark.parametrize("group", ["dash", "cmaf"])
def test_mpd(done, group):
    folder = done["dir"] / group
    root, reps = representations(folder / f"{BASE}.mpd")
    assert abs(float(root.get("mediaPresentationDuration")[2:-1]) - 4.0) < 0.1, root.attrib
    if group == "dash":
        assert root.get("minBufferTime") == "PT3.000S"
    ext = {"dash": ("mp4", "mp4", "mp4"), "cmaf": ("cmfv", "cmfv", "cmfa")}[group]
    mods = ("_360p", "_180p" if group == "dash" else "_av1", "_audio")
    codecs = {"_360p": r"avc1\.64[0-9a-f]{4}", "_180p": r"hvc1\.1\.6\.L\d+(\.[0-9A-F]{2})+",
              "_av1": r"av01\.0\.\d\dM\.08", "_audio": r"mp4a\.40\.2"}
    assert len(reps) == 3, reps.keys()
    for mod, e in zip(mods, ext):
        r = reps[f"{BASE}{mod}init.{e}"]
        assert r["tpl"].get("media") == f"{BASE}{mod}_$Number%09d$.{e}"
        assert re.fullmatch(codecs[mod], r["rep"].get("codecs")), r["rep"].attrib
        scale = int(r["tpl"].get("timescale"))
        pto = int(r["tpl"].get("presentationTimeOffset"))
        times = r["times"]
        # the timeline is gapless, covers the clip, and names files that exist
        assert all(a[0] + a[1] == b[0] for a, b in zip(times, times[1:])), times
        span = (times[-1][0] + times[-1][1] - max(times[0][0], pto)) / scale
        assert abs(span - 4.0) < 0.1, (mod, times, pto)
        for n in range(1, len(times) + 1):
            assert (folder / f"{BASE}{mod}_{n:09d}.{e}").is_file(), (mod, n)
        if mod != "_audio":
            assert int(r["rep"].get("bandwidth")) > 50000
            assert r["aset"].get("contentType") == "video"
            assert [t for t, _ in times] == [pto + k * scale * (2 if group == "dash" else 1)
                                             for k in range(len(times))], times
        else:
            assert r["aset"].get("contentType") == "audio"
            assert r["rep"].find("m:AudioChannelConfiguration", NS).get("value") == "2"


@pytest.mark.parametrize("group,mod,ext,n,codec,size", [
    ("dash", "_360p", "mp4", 2, "h264", (640, 360)),
    ("dash", "_180p", "mp4", 2, "hevc", (320, 180)),
    ("dash", "_audio", "mp4", 2, "aac", None),
    ("cmaf", "_360p", "cmfv", 4, "h264", (640, 360)),
    ("cmaf", "_av1", "cmfv", 4, "av1", (320, 180)),
    ("cmaf", "_audio", "cmfa", 4, "aac", None)])
def test_representation_plays(done, tmp_path, group, mod, ext, n, codec, size):
    info = ffprobe(joined(done, group, mod, ext, n, tmp_path), "-show_streams", "-show_format")
    assert len(info["streams"]) == 1, info["streams"]
    s = info["streams"][0]
    assert s["codec_name"] == codec, s
    if size:
        assert (s["width"], s["height"]) == size, s
    else:
        assert int(s["channels"]) == 2 and s["sample_rate"] == "48000", s
    assert abs(float(info["format"]["duration"]) - 4.0) < 0.15, info["format"]


def keyframes(path):
    info = ffprobe(path, "-select_streams", "v", "-show_entries", "packet=pts_time,flags")
    return [round(float(p["pts_time"]), 3) for p in info["packets"] if "K" in p["flags"]]


# DASH: a keyframe starts every fragment (1 s); CMAF: every segment (1 s).
# Renditions of different encoders share one timeline (same shift).
@pytest.mark.parametrize("group,mods,ext,n", [
    ("dash", ("_360p", "_180p"), "mp4", 2), ("cmaf", ("_360p", "_av1"), "cmfv", 4)])
def test_keyframes_aligned(done, tmp_path, group, mods, ext, n):
    times = [keyframes(joined(done, group, m, ext, n, tmp_path)) for m in mods]
    assert times[0] == times[1], times
    starts = [t - times[0][0] for t in times[0]]
    assert [round(t, 2) for t in starts] == [0, 1, 2, 3], times


def test_dash_fragments(done):
    # FragmentLength 1 inside SegmentLength 2: two moof/mdat pairs per video segment
    for mod in ("_360p", "_180p"):
        boxes = top_boxes(done["dir"] / "dash" / f"{BASE}{mod}_000000001.mp4")
        assert boxes.count("moof") == 2 and boxes.count("mdat") == 2, boxes
    assert top_boxes(done["dir"] / "dash" / f"{BASE}_360pinit.mp4")[:2] == ["ftyp", "moov"]


def test_dash_demuxer_reads_mpd(done):
    info = ffprobe(os.path.abspath(done["dir"] / "dash" / f"{BASE}.mpd"), "-show_streams")
    names = sorted(s["codec_name"] for s in info["streams"])
    assert names == ["aac", "h264", "hevc"], names


def playlist_attrs(line):
    return dict(re.findall(r'([A-Z-]+)=("[^"]*"|[^,]*)', line.split(":", 1)[1]))


def test_cmaf_hls_playlists(done):
    folder = done["dir"] / "cmaf"
    master = (folder / f"{BASE}.m3u8").read_text().splitlines()
    assert master[0] == "#EXTM3U"
    variants = [(playlist_attrs(l), master[i + 1]) for i, l in enumerate(master)
                if l.startswith("#EXT-X-STREAM-INF:")]
    audio = [playlist_attrs(l) for l in master if l.startswith("#EXT-X-MEDIA:")]
    assert [u for _, u in variants] == [f"{BASE}_360p.m3u8", f"{BASE}_av1.m3u8"], variants
    assert re.fullmatch(r'"avc1\.64[0-9a-f]{4},mp4a\.40\.2"', variants[0][0]["CODECS"])
    assert re.fullmatch(r'"av01\.0\.\d\dM\.08,mp4a\.40\.2"', variants[1][0]["CODECS"])
    assert len(audio) == 1 and audio[0]["URI"] == f'"{BASE}_audio.m3u8"', audio
    for mod, ext in (("_360p", "cmfv"), ("_av1", "cmfv"), ("_audio", "cmfa")):
        text = (folder / f"{BASE}{mod}.m3u8").read_text()
        assert f'#EXT-X-MAP:URI="{BASE}{mod}init.{ext}"' in text, text
        segs = [l for l in text.splitlines() if l and not l.startswith("#")]
        assert segs == [f"{BASE}{mod}_{n:09d}.{ext}" for n in range(1, 5)], segs
        durs = [float(l[8:-1]) for l in text.splitlines() if l.startswith("#EXTINF:")]
        assert abs(sum(durs) - 4.0) < 0.1 and "#EXT-X-ENDLIST" in text, durs
    info = ffprobe(folder / f"{BASE}_av1.m3u8", "-show_streams", "-show_format")
    assert info["streams"][0]["codec_name"] == "av1", info["streams"]


def test_hls_fmp4(done):
    folder = done["dir"] / "hls"
    master = (folder / f"{BASE}.m3u8").read_text().splitlines()
    inf = [playlist_attrs(l) for l in master if l.startswith("#EXT-X-STREAM-INF:")]
    assert len(inf) == 1, master
    assert re.fullmatch(r'"hvc1\.1\.6\.L\d+(\.[0-9A-F]{2})+,mp4a\.40\.2"', inf[0]["CODECS"]), inf
    assert inf[0]["RESOLUTION"] == "320x180"
    text = (folder / f"{BASE}_hevc.m3u8").read_text()
    assert f'#EXT-X-MAP:URI="{BASE}_hevcinit.mp4"' in text
    info = ffprobe(folder / f"{BASE}_hevc.m3u8", "-show_streams", "-show_format")
    names = sorted(s["codec_name"] for s in info["streams"])
    assert names == ["aac", "hevc"], info["streams"]
    assert abs(float(info["format"]["duration"]) - 4.0) < 0.15, info["format"]


def test_output_group_details(done):
    # the API's OutputGroupDetail has OutputDetails only (type and
    # playlistFilePaths go to the EventBridge event; see test_mc)
    groups = done["job"]["OutputGroupDetails"]
    assert [len(g["OutputDetails"]) for g in groups] == [3, 3, 1], groups
    d = groups[0]["OutputDetails"]
    assert d[0]["VideoDetails"] == {"WidthInPx": 640, "HeightInPx": 360}, d[0]
    assert groups[1]["OutputDetails"][1]["VideoDetails"] == {"WidthInPx": 320, "HeightInPx": 180}
    assert all(abs(o["DurationInMs"] - 4000) < 200 for g in groups for o in g["OutputDetails"]), groups


# ---------------------------------------------------------------- file formats
#
# A second job: one FILE group with the other containers and codecs
# (WebM VP9 + Opus, WebM VP8 + Vorbis, MOV H.264 + MP3, an MP3 file) and
# the frame-rate conversions with a GOP in seconds, on the same clip.

FMT_DST = "pkg-formats"


def vpx(codec, bitrate):
    key = "Vp9Settings" if codec == "VP9" else "Vp8Settings"
    return {"Width": 320, "Height": 180, "CodecSettings": {"Codec": codec, key: {
        "RateControlMode": "VBR", "Bitrate": bitrate}}}


def rate(codec, num, den, algo, **extra):
    key = {"H_264": "H264Settings", "H_265": "H265Settings"}[codec]
    s = {"RateControlMode": "QVBR", "MaxBitrate": 300000, "FramerateControl": "SPECIFIED",
         "FramerateNumerator": num, "FramerateDenominator": den,
         "FramerateConversionAlgorithm": algo, **extra}
    return {"Width": 160, "Height": 90, "CodecSettings": {"Codec": codec, key: s}}


def audio(codec, **s):
    key = {"OPUS": "OpusSettings", "VORBIS": "VorbisSettings", "MP3": "Mp3Settings"}[codec]
    return [{"CodecSettings": {"Codec": codec, key: s}}]


def formats_settings():
    outs = [
        {"NameModifier": "_vp9", "ContainerSettings": {"Container": "WEBM"},
         "VideoDescription": vpx("VP9", 300000),
         "AudioDescriptions": audio("OPUS", Bitrate=64000, Channels=2, SampleRate=48000)},
        {"NameModifier": "_vp8", "ContainerSettings": {"Container": "WEBM"},
         "VideoDescription": vpx("VP8", 300000),
         "AudioDescriptions": audio("VORBIS", Channels=1, SampleRate=44100, VbrQuality=3)},
        {"NameModifier": "_mov", "ContainerSettings": {"Container": "MOV"},
         "VideoDescription": video("H_264", 320, 180, 300000),
         "AudioDescriptions": audio("MP3", RateControlMode="CBR", Bitrate=128000, Channels=2,
                                    SampleRate=44100)},
        {"NameModifier": "_audio", "ContainerSettings": {"Container": "RAW"},
         "AudioDescriptions": audio("MP3", RateControlMode="VBR", VbrQuality=2, Channels=2,
                                    SampleRate=48000)},
        {"NameModifier": "_30fps",
         "VideoDescription": rate("H_264", 30, 1, "DUPLICATE_DROP", GopSize=0.5,
                                  GopSizeUnits="SECONDS")},
        {"NameModifier": "_50fps", "VideoDescription": rate("H_264", 50, 1, "INTERPOLATE")},
        {"NameModifier": "_ntsc", "VideoDescription": rate("H_265", 24000, 1001, "FRAMEFORMER")},
    ]
    group = {"Name": "File Group",
             "OutputGroupSettings": {"Type": "FILE_GROUP_SETTINGS", "FileGroupSettings": {
                 "Destination": f"s3://{FMT_DST}/f/"}},
             "Outputs": outs}
    return {"Inputs": [{"FileInput": f"s3://{SRC}/{CLIP}"}], "OutputGroups": [group]}


@pytest.fixture(scope="module")
def formats(server, done, tmp_path_factory):
    d = tmp_path_factory.mktemp("fmt")
    s3 = server.client("s3")
    s3.create_bucket(Bucket=FMT_DST)
    mc = server.client("mediaconvert")
    job = mc.create_job(Role="arn:aws:iam::000000000000:role/MediaConvert_Default_Role",
                        Settings=formats_settings())["Job"]
    final, history = server.wait_job(job["Id"])
    assert final["Status"] == "COMPLETE", (history, final.get("ErrorCode"),
                                           final.get("ErrorMessage"))
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=FMT_DST)["Contents"]]
    for k in keys:
        s3.download_file(FMT_DST, k, str(d / os.path.basename(k)))
    return {"keys": keys, "dir": d}


def test_format_names(formats):
    assert sorted(formats["keys"]) == sorted(
        f"f/{BASE}{m}" for m in ("_vp9.webm", "_vp8.webm", "_mov.mov", "_audio.mp3",
                                 "_30fps.mp4", "_50fps.mp4", "_ntsc.mp4"))


@pytest.mark.parametrize("name,fmt,vcodec,acodec,rate_,channels", [
    ("_vp9.webm", "matroska,webm", "vp9", ("opus", "48000"), None, 2),
    ("_vp8.webm", "matroska,webm", "vp8", ("vorbis", "44100"), None, 1),
    ("_mov.mov", "mov,mp4,m4a,3gp,3g2,mj2", "h264", ("mp3", "44100"), None, 2),
    ("_audio.mp3", "mp3", None, ("mp3", "48000"), None, 2),
    ("_30fps.mp4", "mov,mp4,m4a,3gp,3g2,mj2", "h264", None, "30/1", 0),
    ("_50fps.mp4", "mov,mp4,m4a,3gp,3g2,mj2", "h264", None, "50/1", 0),
    ("_ntsc.mp4", "mov,mp4,m4a,3gp,3g2,mj2", "hevc", None, "24000/1001", 0)])
def test_format_outputs(formats, name, fmt, vcodec, acodec, rate_, channels):
    path = formats["dir"] / f"{BASE}{name}"
    info = ffprobe(path, "-show_streams", "-show_format")
    assert info["format"]["format_name"] == fmt, info["format"]
    assert abs(float(info["format"]["duration"]) - 4.0) < 0.15, info["format"]
    v = [s for s in info["streams"] if s["codec_type"] == "video"]
    a = [s for s in info["streams"] if s["codec_type"] == "audio"]
    assert [s["codec_name"] for s in v] == ([vcodec] if vcodec else []), v
    assert [(s["codec_name"], s["sample_rate"]) for s in a] == ([acodec] if acodec else []), a
    if a:
        assert int(a[0]["channels"]) == channels, a
    if v:
        w, h = (320, 180) if not rate_ else (160, 90)
        assert (v[0]["width"], v[0]["height"]) == (w, h), v
    if rate_:
        assert v[0]["r_frame_rate"] == rate_ and v[0]["avg_frame_rate"] in (rate_, v[0]["avg_frame_rate"])
        n, dd = map(int, rate_.split("/"))
        frames = ffprobe(path, "-count_frames", "-select_streams", "v",
                         "-show_entries", "stream=nb_read_frames")["streams"][0]["nb_read_frames"]
        assert abs(int(frames) - 4.0 * n / dd) <= 2, (frames, rate_)


def test_gop_in_seconds(formats):
    # GopSize 0.5 with GopSizeUnits SECONDS at 30 fps: a keyframe every 15 frames
    times = keyframes(formats["dir"] / f"{BASE}_30fps.mp4")
    assert times == [round(0.5 * k, 3) for k in range(8)], times


# ------------------------------------------------------- inputs and clippings
#
# A third job joins three inputs: 00:00:01:00-00:00:01:24 of a clip whose
# four seconds are red, green, blue and white (ZEROBASED: the green second),
# all of a 2 s yellow 320x240 30 fps MKV without audio, and the same first
# clip from 01:00:03:00 on read against its embedded timecode 01:00:00:00
# (the white second). The output must be green, yellow, yellow, white, 4 s,
# with continuous audio (the silent middle filled in), and the 4:3 yellow
# part pillarboxed (ScalingBehavior DEFAULT).

def colour_clip(path):
    cmd = ["ffmpeg", "-nostdin", "-v", "error", "-y", "-filter_complex",
           ";".join(f"color={c}:s=320x180:r=25:d=1[{k}]" for k, c in
                    zip("abcd", ("red", "green", "blue", "white"))) +
           ";[a][b][c][d]concat=n=4:v=1:a=0[v];sine=f=440:r=48000:d=4[s]",
           "-map", "[v]", "-map", "[s]", "-c:v", "libx264", "-preset", "ultrafast",
           "-pix_fmt", "yuv420p", "-c:a", "aac", "-timecode", "01:00:00:00", str(path)]
    subprocess.run(cmd, check=True, timeout=120)
    return str(path)


def yellow_clip(path):
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i",
                    "color=yellow:s=320x240:r=30:d=2", "-c:v", "libx264", "-preset", "ultrafast",
                    "-pix_fmt", "yuv420p", str(path)], check=True, timeout=120)
    return str(path)


@pytest.fixture(scope="module")
def joined_job(server, done, tmp_path_factory):
    d = tmp_path_factory.mktemp("join")
    s3 = server.client("s3")
    s3.upload_file(colour_clip(d / "colours.mp4"), SRC, "colours.mp4")
    s3.upload_file(yellow_clip(d / "yellow.mkv"), SRC, "yellow.mkv")
    settings = {
        "Inputs": [
            {"FileInput": f"s3://{SRC}/colours.mp4", "TimecodeSource": "ZEROBASED",
             "InputClippings": [{"StartTimecode": "00:00:01:00", "EndTimecode": "00:00:01:24"}]},
            {"FileInput": f"s3://{SRC}/yellow.mkv"},
            {"FileInput": f"s3://{SRC}/colours.mp4", "TimecodeSource": "EMBEDDED",
             "InputClippings": [{"StartTimecode": "01:00:03:00"}]}],
        "OutputGroups": [{"OutputGroupSettings": {"Type": "FILE_GROUP_SETTINGS",
                                                  "FileGroupSettings": {"Destination": f"s3://{DST}/joined/"}},
                          "Outputs": [{"NameModifier": "_all",
                                       "VideoDescription": video("H_264", 320, 180, 500000),
                                       "AudioDescriptions": AUDIO}]}]}
    mc = server.client("mediaconvert")
    job = mc.create_job(Role="arn:aws:iam::000000000000:role/MediaConvert_Default_Role",
                        Settings=settings)["Job"]
    final, history = server.wait_job(job["Id"])
    assert final["Status"] == "COMPLETE", (history, final.get("ErrorCode"), final.get("ErrorMessage"))
    out = d / "all.mp4"
    s3.download_file(DST, "joined/colours_all.mp4", str(out))
    return {"job": final, "out": out, "server": server}


def pixel(path, t, crop="crop=16:16"):
    """Average colour of a 16x16 square (the centre unless crop says otherwise) at time t."""
    r = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-ss", str(t), "-i", str(path),
                        "-frames:v", "1", "-vf", crop + ",scale=1:1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                       check=True, capture_output=True, timeout=60)
    return tuple(r.stdout[:3])


def test_joined_inputs(joined_job):
    info = ffprobe(joined_job["out"], "-show_streams", "-show_format")
    v = [s for s in info["streams"] if s["codec_type"] == "video"][0]
    a = [s for s in info["streams"] if s["codec_type"] == "audio"][0]
    assert (v["width"], v["height"]) == (320, 180), v
    assert abs(float(v["duration"]) - 4.0) < 0.1, v
    assert abs(float(a["duration"]) - 4.0) < 0.1, a  # the audio-less input became silence
    # constant frame rate from the first input (25 fps): 25 frames of green,
    # 50 of yellow (a 30 fps input, resampled), 25 of white
    assert int(v["nb_frames"]) == 100 and v["avg_frame_rate"] == "25/1", v

    def near(rgb, want):
        return all(abs(x - y) < 40 for x, y in zip(rgb, want))
    green, yellow, white = (0, 128, 0), (255, 255, 0), (255, 255, 255)
    for t, want in ((0.1, green), (0.9, green), (1.2, yellow), (2.9, yellow), (3.1, white), (3.9, white)):
        assert near(pixel(joined_job["out"], t), want), (t, pixel(joined_job["out"], t))
    # ScalingBehavior DEFAULT: the 4:3 input is pillarboxed in the 16:9 output (black sides)
    assert near(pixel(joined_job["out"], 2.0, "crop=16:16:0:82"), (0, 0, 0))
    assert near(pixel(joined_job["out"], 0.5, "crop=16:16:0:82"), green)
    assert abs(joined_job["job"]["OutputGroupDetails"][0]["OutputDetails"][0]["DurationInMs"] - 4000) < 100


def test_clipping_errors(joined_job):
    mc = joined_job["server"].client("mediaconvert")
    base = {"OutputGroups": [{"OutputGroupSettings": {"Type": "FILE_GROUP_SETTINGS",
                                                      "FileGroupSettings": {"Destination": f"s3://{DST}/x/"}},
                              "Outputs": [{"VideoDescription": video("H_264", 320, 180, 500000)}]}]}
    bad = dict(base, Inputs=[{"FileInput": f"s3://{SRC}/colours.mp4",
                              "InputClippings": [{"StartTimecode": "00:00:02:00",
                                                  "EndTimecode": "00:00:01:00"}]}])
    with pytest.raises(mc.exceptions.BadRequestException) as e:
        mc.create_job(Role="arn:aws:iam::000000000000:role/MediaConvert_Default_Role", Settings=bad)
    assert "settings.inputs[0].inputClippings[0].endTimecode: must not be before startTimecode" in str(e.value)
    # a clipping after the input's end is a settings error of the job (1040), named by input
    late = dict(base, Inputs=[{"FileInput": f"s3://{SRC}/colours.mp4"},
                              {"FileInput": f"s3://{SRC}/yellow.mkv", "TimecodeSource": "ZEROBASED",
                               "InputClippings": [{"StartTimecode": "00:00:09:00"}]}])
    job = mc.create_job(Role="arn:aws:iam::000000000000:role/MediaConvert_Default_Role", Settings=late)["Job"]
    final, _ = joined_job["server"].wait_job(job["Id"])
    assert final["Status"] == "ERROR" and final["ErrorCode"] == 1040, final
    assert final["ErrorMessage"].startswith(f"s3://{SRC}/yellow.mkv: clipping 1 starts at 9.000 s"), final


def test_content_types(server, done):
    s3 = server.client("s3")
    want = {f"dash/{BASE}.mpd": "application/dash+xml", f"cmaf/{BASE}.m3u8": "application/vnd.apple.mpegurl",
            f"cmaf/{BASE}_360p_000000001.cmfv": "video/mp4", f"cmaf/{BASE}_audioinit.cmfa": "audio/mp4",
            f"dash/{BASE}_360p_000000001.mp4": "video/mp4"}
    got = {k: s3.head_object(Bucket=DST, Key=k)["ContentType"] for k in want}
    assert got == want, got


# ------------------------------------------------------------------- playback
#
# The DASH and CMAF outputs played end to end in headless Chromium by
# dash.js and hls.js (tests/integration/js_pack, npm packages pinned by its
# package-lock.json; installed on first use). Skipped without node, npm,
# the registry or /usr/bin/chromium.

@pytest.fixture(scope="module")
def player():
    return playback.node_or_skip()


@pytest.mark.parametrize("manifest,player_name,sizes", [
    (f"dash/{BASE}.mpd", "dash.js", {(640, 360), (320, 180)}),
    (f"cmaf/{BASE}.mpd", "dash.js", {(640, 360), (320, 180)}),
    (f"cmaf/{BASE}.m3u8", "hls.js", {(640, 360), (320, 180)})])
def test_plays_in_chromium(done, player, manifest, player_name, sizes):
    r = playback.play(player, done["dir"], manifest, 2.5)
    assert r["ok"] and r["player"] == player_name, r
    assert r["currentTime"] >= 2.5 and (r["width"], r["height"]) in sizes, r


def first_picture(path):
    """The first coded picture's NAL unit type (HEVC) or frame_type (AV1) in a file."""
    r = subprocess.run(["ffmpeg", "-nostdin", "-v", "trace", "-i", str(path), "-c", "copy", "-bsf:v",
                        "trace_headers", "-f", "null", "-"], capture_output=True, text=True, timeout=60)
    for line in r.stderr.splitlines():
        if "trace_headers" not in line:
            continue
        m = re.search(r"nal_unit_type: (\d+)\((\w+)\)", line)
        if m and int(m.group(1)) < 32:
            return m.group(2)
        m = re.search(r"frame_type\s+\S+ = (\d)", line)
        if m:
            return "KEY_FRAME" if m.group(1) == "0" else "frame_type " + m.group(1)
    return None


@pytest.mark.parametrize("group,mod,ext,want", [
    ("dash", "_180p", "mp4", {"IDR_N_LP", "IDR_W_RADL"}), ("cmaf", "_av1", "cmfv", {"KEY_FRAME"})])
def test_segments_start_closed(done, tmp_path, group, mod, ext, want):
    # every segment opens with a picture that needs nothing before it (x265
    # would otherwise start them with open-GOP CRA pictures)
    folder, n = done["dir"] / group, 1
    while (folder / f"{BASE}{mod}_{n:09d}.{ext}").is_file():
        seg = tmp_path / f"seg{n}.mp4"
        seg.write_bytes((folder / f"{BASE}{mod}init.{ext}").read_bytes() +
                        (folder / f"{BASE}{mod}_{n:09d}.{ext}").read_bytes())
        assert first_picture(seg) in want, (n, first_picture(seg))
        n += 1
    assert n > 2
