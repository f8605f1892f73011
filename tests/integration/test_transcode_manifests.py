"""Group manifests with BaseUrl, and VP9 in DASH ISO and CMAF groups, end to
end: one job with an HLS group (H.264, TS), a DASH ISO group and a CMAF
group (VP9 renditions + AAC), each with BaseUrl "media/". The manifests are
kept where they are and every other file is moved under media/, so the
players in headless Chromium (hls.js, dash.js) only find the media through
the BaseUrl; every rendition is checked with ffprobe (init + segments).
Then MinFinalSegmentLength: a short last segment joins the one before."""

import os
import re

import botocore.exceptions
import pytest

import media
import playback

SRC, DST = "man-source", "man-destination"
ROLE = "arn:aws:iam::000000000000:role/MediaConvert_Default_Role"
BASE = "cat"
AAC = {"Codec": "AAC", "AacSettings": {"Bitrate": 64000, "CodingMode": "CODING_MODE_2_0",
                                       "SampleRate": 48000}}


def vp9(width, height, bitrate):
    return {"Width": width, "Height": height, "CodecSettings": {"Codec": "VP9", "Vp9Settings": {
        "RateControlMode": "VBR", "Bitrate": bitrate}}}


def h264(width, height):
    return {"Width": width, "Height": height, "CodecSettings": {"Codec": "H_264", "H264Settings": {
        "RateControlMode": "QVBR", "MaxBitrate": 600000, "QvbrSettings": {"QvbrQualityLevel": 7}}}}


def group(kind, key, prefix, outputs, **extra):
    gs = {"Destination": f"s3://{DST}/{prefix}/", "SegmentLength": 2, "BaseUrl": "media/"}
    gs.update(extra)
    return {"OutputGroupSettings": {"Type": kind, key: gs}, "Outputs": outputs}


def job_settings():
    hls = group("HLS_GROUP_SETTINGS", "HlsGroupSettings", "hls", [
        {"NameModifier": "_240", "ContainerSettings": {"Container": "M3U8"},
         "VideoDescription": h264(320, 240), "AudioDescriptions": [{"CodecSettings": AAC}]}],
        MinSegmentLength=0)
    dash_outs = [
        {"NameModifier": "_240", "ContainerSettings": {"Container": "MPD"}, "VideoDescription": vp9(320, 240, 400000)},
        {"NameModifier": "_120", "ContainerSettings": {"Container": "MPD"}, "VideoDescription": vp9(160, 120, 150000)},
        {"NameModifier": "_audio", "ContainerSettings": {"Container": "MPD"},
         "AudioDescriptions": [{"CodecSettings": AAC}]}]
    cmaf_outs = [
        {"NameModifier": "_240", "ContainerSettings": {"Container": "CMFC"}, "VideoDescription": vp9(320, 240, 400000)},
        {"NameModifier": "_audio", "ContainerSettings": {"Container": "CMFC"},
         "AudioDescriptions": [{"CodecSettings": AAC}]}]
    return {"Inputs": [{"FileInput": f"s3://{SRC}/{BASE}.mp4"}],
            "OutputGroups": [hls, group("DASH_ISO_GROUP_SETTINGS", "DashIsoGroupSettings", "dash", dash_outs),
                             group("CMAF_GROUP_SETTINGS", "CmafGroupSettings", "cmaf", cmaf_outs)]}


MANIFESTS = {"hls": [f"{BASE}.m3u8"], "dash": [f"{BASE}.mpd"], "cmaf": [f"{BASE}.m3u8", f"{BASE}.mpd"]}


@pytest.fixture(scope="module")
def done(server, tmp_path_factory):
    d = tmp_path_factory.mktemp("manifests")
    s3 = server.client("s3")
    for b in (SRC, DST):
        s3.create_bucket(Bucket=b)
    clip = str(d / "in.mp4")
    media.make_media(clip, size="320x240", rate=24, duration=4, sample_rate=48000)
    s3.upload_file(clip, SRC, f"{BASE}.mp4")
    job = server.client("mediaconvert").create_job(Role=ROLE, Settings=job_settings())["Job"]
    final, history = server.wait_job(job["Id"], timeout=300)
    assert final["Status"] == "COMPLETE", (history, final.get("ErrorMessage"))
    root = d / "site"
    for obj in s3.list_objects_v2(Bucket=DST)["Contents"]:
        prefix, name = obj["Key"].split("/", 1)
        rel = name if name in MANIFESTS[prefix] else f"media/{name}"
        local = root / prefix / rel
        os.makedirs(local.parent, exist_ok=True)
        s3.download_file(DST, obj["Key"], str(local))
    return {"dir": root, "job": final}


def read(done, rel):
    with open(done["dir"] / rel) as f:
        return f.read()


def test_master_playlists_use_the_base_url(done):
    for rel in ("hls/cat.m3u8", "cmaf/cat.m3u8"):
        text = read(done, rel)
        uris = [l for l in text.splitlines() if l.endswith(".m3u8") and not l.startswith("#")]
        uris += [l.split('URI="')[1].split('"')[0] for l in text.splitlines() if 'URI="' in l]
        assert uris and all(u.startswith("media/cat_") for u in uris), text
        for u in uris:
            assert (done["dir"] / rel.split("/")[0] / u).is_file(), u


def test_mpds_carry_the_base_url(done):
    for rel in ("dash/cat.mpd", "cmaf/cat.mpd"):
        text = read(done, rel)
        assert "<BaseURL>media/</BaseURL>" in text, text
        assert text.index("<BaseURL>") < text.index("<Period"), text


@pytest.mark.parametrize("prefix,init,seg,size", [
    ("dash", "cat_240init.mp4", "cat_240_000000001.mp4", (320, 240)),
    ("dash", "cat_120init.mp4", "cat_120_000000002.mp4", (160, 120)),
    ("cmaf", "cat_240init.cmfv", "cat_240_000000001.cmfv", (320, 240))])
def test_vp9_renditions(done, tmp_path, prefix, init, seg, size):
    joined = tmp_path / "joined.mp4"
    with open(joined, "wb") as out:
        for name in (init, seg):
            with open(done["dir"] / prefix / "media" / name, "rb") as f:
                out.write(f.read())
    v = media.stream(media.probe(str(joined)), "video")
    assert v["codec_name"] == "vp9" and (v["width"], v["height"]) == size, v
    assert 'codecs="vp09.' in read(done, f"{prefix}/cat.mpd"), read(done, f"{prefix}/cat.mpd")


@pytest.mark.parametrize("manifest,player_name", [
    ("hls/cat.m3u8", "hls.js"), ("dash/cat.mpd", "dash.js"), ("cmaf/cat.mpd", "dash.js")])
def test_plays_through_the_base_url(done, manifest, player_name):
    node = playback.node_or_skip()
    r = playback.play(node, done["dir"], manifest, 2.5)
    assert r["ok"] and r["player"] == player_name, r
    assert r["currentTime"] >= 2.5 and r["width"] > 0, r


@pytest.mark.parametrize("url", ["media files/", 'x"y/', "a<b"])
def test_bad_base_url_names_the_field(server, url):
    s = job_settings()
    s["OutputGroups"][1]["OutputGroupSettings"]["DashIsoGroupSettings"]["BaseUrl"] = url
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        server.client("mediaconvert").create_job(Role=ROLE, Settings=s)
    msg = ei.value.response["Error"]["Message"]
    assert "settings.outputGroups[1].outputGroupSettings.dashIsoGroupSettings.baseUrl: must be a URL" in msg, msg


# ------------------------------------------------- MinFinalSegmentLength
#
# A 5 s clip cut into 2 s segments ends with a 1 s segment; with
# MinFinalSegmentLength 1.5 that last second joins the segment before it
# (2 + 3 s), in HLS (TS, video and audio muxed), DASH ISO and CMAF alike.

def final_groups(minfinal):
    extra = {"MinFinalSegmentLength": minfinal} if minfinal else {}
    tag = "merged" if minfinal else "plain"
    av = {"NameModifier": "_av", "ContainerSettings": {"Container": "M3U8"},
          "VideoDescription": h264(320, 240), "AudioDescriptions": [{"CodecSettings": AAC}]}
    v = {"NameModifier": "_v", "VideoDescription": h264(320, 240)}
    a = {"NameModifier": "_a", "AudioDescriptions": [{"CodecSettings": AAC}]}
    def g(kind, key, prefix, outs):
        gs = {"Destination": f"s3://{DST}/{tag}-{prefix}/", "SegmentLength": 2, **extra}
        return {"OutputGroupSettings": {"Type": kind, key: gs}, "Outputs": outs}
    return [g("HLS_GROUP_SETTINGS", "HlsGroupSettings", "hls", [av]),
            g("DASH_ISO_GROUP_SETTINGS", "DashIsoGroupSettings", "dash",
              [dict(v, ContainerSettings={"Container": "MPD"}), dict(a, ContainerSettings={"Container": "MPD"})]),
            g("CMAF_GROUP_SETTINGS", "CmafGroupSettings", "cmaf",
              [dict(v, ContainerSettings={"Container": "CMFC"}), dict(a, ContainerSettings={"Container": "CMFC"})])]


@pytest.fixture(scope="module")
def finals(server, done, tmp_path_factory):
    d = tmp_path_factory.mktemp("finals")
    s3 = server.client("s3")
    clip = str(d / "five.mp4")
    media.make_media(clip, size="320x240", rate=24, duration=5, sample_rate=48000)
    s3.upload_file(clip, SRC, "five.mp4")
    s = {"Inputs": [{"FileInput": f"s3://{SRC}/five.mp4"}],
         "OutputGroups": final_groups(None) + final_groups(1.5)}
    job = server.client("mediaconvert").create_job(Role=ROLE, Settings=s)["Job"]
    final, history = server.wait_job(job["Id"], timeout=300)
    assert final["Status"] == "COMPLETE", (history, final.get("ErrorMessage"))
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=DST, MaxKeys=1000)["Contents"]]
    return {"s3": s3, "dir": d, "keys": keys}


def get_text(finals, key):
    return finals["s3"].get_object(Bucket=DST, Key=key)["Body"].read().decode()


def extinfs(text):
    return [float(l.split(":")[1].rstrip(",")) for l in text.splitlines() if l.startswith("#EXTINF:")]


@pytest.mark.parametrize("playlist", ["hls/five_av.m3u8", "cmaf/five_v.m3u8", "cmaf/five_a.m3u8"])
def test_hls_final_segment_joins_the_one_before(finals, playlist):
    prefix, name = playlist.split("/")
    plain = extinfs(get_text(finals, f"plain-{prefix}/{name}"))
    merged_text = get_text(finals, f"merged-{prefix}/{name}")
    merged = extinfs(merged_text)
    assert len(plain) == 3 and abs(plain[-1] - 1.0) < 0.15, plain
    assert len(merged) == 2 and abs(merged[-1] - 3.0) < 0.15, merged_text
    assert abs(sum(merged) - sum(plain)) < 0.05, (plain, merged)
    target = int(next(l for l in merged_text.splitlines() if l.startswith("#EXT-X-TARGETDURATION:"))
                 .split(":")[1])
    assert target >= round(merged[-1]), merged_text


def test_hls_ts_last_segment_decodes(finals, tmp_path):
    seg = tmp_path / "last.ts"
    finals["s3"].download_file(DST, "merged-hls/five_av_00002.ts", str(seg))
    info = media.probe(str(seg))
    assert media.stream(info, "video")["codec_name"] == "h264", info
    assert abs(media.duration(info) - 3.0) < 0.2, info["format"]
    assert "merged-hls/five_av_00003.ts" not in finals["keys"], finals["keys"]


@pytest.mark.parametrize("prefix", ["dash", "cmaf"])
def test_mpd_final_segment_joins_the_one_before(finals, prefix):
    ext = "mp4" if prefix == "dash" else "cmfv"
    assert f"plain-{prefix}/five_v_000000003.{ext}" in finals["keys"], finals["keys"]
    assert f"merged-{prefix}/five_v_000000002.{ext}" in finals["keys"], finals["keys"]
    assert f"merged-{prefix}/five_v_000000003.{ext}" not in finals["keys"], finals["keys"]
    mpd = get_text(finals, f"merged-{prefix}/five.mpd")
    assert mpd.count("<S ") + sum(int(x) for x in re.findall(r' r="(\d+)"', mpd)) == 4, mpd


def test_min_final_longer_than_segment_is_refused(server):
    s = {"Inputs": [{"FileInput": f"s3://{SRC}/five.mp4"}], "OutputGroups": final_groups(2.5)[1:2]}
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        server.client("mediaconvert").create_job(Role=ROLE, Settings=s)
    msg = ei.value.response["Error"]["Message"]
    assert ("settings.outputGroups[0].outputGroupSettings.dashIsoGroupSettings.minFinalSegmentLength:"
            " must be a number of seconds from 0 to segmentLength (2)") in msg, msg
