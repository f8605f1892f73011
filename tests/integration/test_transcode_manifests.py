"""Group manifests with BaseUrl, and VP9 in DASH ISO and CMAF groups, end to
end: one job with an HLS group (H.264, TS), a DASH ISO group and a CMAF
group (VP9 renditions + AAC), each with BaseUrl "media/". The manifests are
kept where they are and every other file is moved under media/, so the
players in headless Chromium (hls.js, dash.js) only find the media through
the BaseUrl; every rendition is checked with ffprobe (init + segments)."""

import os

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
