"""Outputs play end to end in a real browser, through the edge over HTTPS.

Debian's Chromium, headless, driven by playwright-core
(tests/integration/js_play/play.mjs) loads a page from its own loopback
origin (so every request to the edge is cross-origin and needs CORS) with
hls.js and dash.js from npm. For each output: playback starts and
currentTime advances, then a seek to a later point, and playback goes on
from there. A progressive MP4 must be fetched with Range requests (206).

One job makes the outputs from a 12 s clip: the seed job's file group
(-hd H.265, -sd AV1 MP4), an HLS group (two H.264 renditions and an audio
rendition, TS, 2 s segments) and an H.264 MP4. DASH ISO, CMAF and fMP4 HLS
groups (AV1 and H.264 renditions, each locked in turn) get their own jobs;
they skip (naming the reason) while the engine does not offer them. A
private video plays with CloudFront signed cookies from a player page on
the edge's own site (https://player.cattube.localhost).

`npm ci` runs once when js_play/node_modules is missing; the tests skip
when node/npm or /usr/bin/chromium are not installed (scripts/deps.sh
installs them)."""

import copy
import json
import os
import re
import shutil
import subprocess
import time
import urllib.parse

import botocore.exceptions
import pytest

import media
from conftest import REPO

HERE = os.path.dirname(os.path.abspath(__file__))
JS_DIR = os.path.join(HERE, "js_play")
CHROMIUM = os.environ.get("CATTUBE_CHROMIUM", "/usr/bin/chromium")
SRC, DST = "play-source", "play-destination"
CLIP, BASE = "cat clip.mp4", "cat clip"
CLIP_SECONDS = 12
SEGMENT = 2
ROLE = "arn:aws:iam::000000000000:role/MediaConvert_Default_Role"
PLAY_TIMEOUT_MS = 90000


def node_ready():
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node:
        pytest.skip("node is not installed (scripts/deps.sh installs nodejs and npm)")
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        pytest.skip(f"{CHROMIUM} is not installed (scripts/deps.sh installs Debian's chromium)")
    need = [os.path.join(JS_DIR, "node_modules", m, "package.json")
            for m in ("hls.js", "dashjs", "playwright-core")]
    if not all(os.path.isfile(p) for p in need):
        if not npm:
            pytest.skip("npm is not installed and tests/integration/js_play/node_modules is "
                        "missing")
        cmd = [npm, "ci" if os.path.exists(os.path.join(JS_DIR, "package-lock.json"))
               else "install", "--no-audit", "--no-fund"]
        try:
            p = subprocess.run(cmd, cwd=JS_DIR, capture_output=True, text=True, timeout=600)
        except subprocess.TimeoutExpired:
            pytest.skip("npm ci timed out (is the npm registry reachable?)")
        if p.returncode != 0:
            pytest.skip(f"npm ci failed (is the npm registry reachable?):\n{p.stderr[-1500:]}")
    return node


def aac(bitrate=96000):
    return {"Codec": "AAC", "AacSettings": {"Bitrate": bitrate, "CodingMode": "CODING_MODE_2_0",
                                            "SampleRate": 48000}}


def h264_video(width, height, max_bitrate):
    return {"Width": width, "Height": height, "CodecSettings": {
        "Codec": "H_264", "H264Settings": {"RateControlMode": "QVBR", "MaxBitrate": max_bitrate,
                                           "QvbrSettings": {"QvbrQualityLevel": 7}}}}


def main_job_settings():
    """The seed job's settings (its file group as-is) plus an HLS group and an
    H.264 MP4, all into DST."""
    with open(os.path.join(REPO, "examples", "seed", "job.json")) as f:
        settings = copy.deepcopy(json.load(f)["Settings"])
    settings["Inputs"][0]["FileInput"] = f"s3://{SRC}/{CLIP}"
    settings["OutputGroups"][0]["OutputGroupSettings"]["FileGroupSettings"]["Destination"] = \
        f"s3://{DST}/"
    settings["OutputGroups"].append({
        "Name": "Apple HLS",
        "OutputGroupSettings": {"Type": "HLS_GROUP_SETTINGS", "HlsGroupSettings": {
            "Destination": f"s3://{DST}/hls/", "SegmentLength": SEGMENT, "MinSegmentLength": 0}},
        "Outputs": [{"NameModifier": m, "ContainerSettings": {"Container": "M3U8"},
                     "VideoDescription": h264_video(w, h, br),
                     "AudioDescriptions": [{"CodecSettings": aac(64000)}]}
                    for m, w, h, br in (("_240p", 320, 240, 600000),
                                        ("_120p", 160, 120, 200000))] +
        # and an audio-only rendition: the master's separate audio group
        [{"NameModifier": "_audio", "ContainerSettings": {"Container": "M3U8"},
          "AudioDescriptions": [{"CodecSettings": aac(64000)}]}]})
    settings["OutputGroups"].append({
        "Name": "Web MP4",
        "OutputGroupSettings": {"Type": "FILE_GROUP_SETTINGS", "FileGroupSettings": {
            "Destination": f"s3://{DST}/web/"}},
        "Outputs": [{"NameModifier": "-web", "ContainerSettings": {"Container": "MP4"},
                     "VideoDescription": h264_video(320, 240, 800000),
                     "AudioDescriptions": [{"CodecSettings": aac()}]}]})
    return settings


def run_job(server, settings, what):
    """CreateJob; a 400 (the engine lacks a setting) skips with the server's
    message. Returns the finished job, which must be COMPLETE."""
    mc = server.client("mediaconvert")
    try:
        job = mc.create_job(Role=ROLE, Settings=settings)["Job"]
    except botocore.exceptions.ClientError as e:
        r = e.response
        if r["ResponseMetadata"]["HTTPStatusCode"] == 400:
            pytest.skip(f"{what} is not supported by the engine yet: "
                        f"{r['Error'].get('Message', '')[:300]}")
        raise
    final, history = server.wait_job(job["Id"], timeout=600)
    assert final["Status"] == "COMPLETE", (what, history, final.get("ErrorCode"),
                                           final.get("ErrorMessage"))
    return final


@pytest.fixture(scope="module")
def env(server, tmp_path_factory):
    node = node_ready()
    d = tmp_path_factory.mktemp("play")
    s3 = server.client("s3")
    for b in (SRC, DST):
        s3.create_bucket(Bucket=b)
    clip = media.make_media(os.path.join(d, CLIP), duration=CLIP_SECONDS, rate=24,
                            fmt="mp4")
    s3.upload_file(clip, SRC, CLIP)
    t0 = time.monotonic()
    job = run_job(server, main_job_settings(), "the seed job + HLS")
    print(f"main job took {time.monotonic() - t0:.1f} s")
    p = server.cattube("distribution", "create", "--endpoint", server.endpoint,
                       "--origin-bucket", DST, "--viewer-protocol-policy", "redirect-to-https")
    dist = json.loads(p.stdout)
    url = dist["url"].rstrip("/")
    assert urllib.parse.urlsplit(url).scheme == "https", dist
    return {"node": node, "dir": d, "job": job, "url": url, "s3": s3}


def edge_url(env, key):
    return env["url"] + "/" + urllib.parse.quote(key)


def play(env, kind, key, seek_to=8.0, play_s=1.0, width=0, base=None, cookies=None,
         page=None):
    """Plays key through the edge; returns play.mjs's JSON (result + responses).
    width: lock the rendition of that width; base: another distribution's
    URL; cookies: set for the edge's host and sent with credentials."""
    src = (base + "/" + urllib.parse.quote(key)) if base else edge_url(env, key)
    cfg = {"kind": kind, "src": src, "seekTo": seek_to, "playS": play_s,
           "timeoutMs": PLAY_TIMEOUT_MS, "chromium": CHROMIUM, "width": width}
    if cookies:
        cfg.update(cookies=cookies, withCredentials=True)
    if page:
        cfg.update(page)
    env_vars = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    t0 = time.monotonic()
    p = subprocess.run([env["node"], os.path.join(JS_DIR, "play.mjs"), json.dumps(cfg)],
                       cwd=JS_DIR, capture_output=True, text=True, timeout=300, env=env_vars)
    took = time.monotonic() - t0
    try:
        out = json.loads(p.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise AssertionError(f"play.mjs printed no JSON (exit {p.returncode}):\n"
                             f"stdout: {p.stdout[-2000:]}\nstderr: {p.stderr[-3000:]}")
    assert "fatal" not in out, f"play.mjs failed: {out['fatal']}\nstderr: {p.stderr[-2000:]}"
    r = out["result"]
    print(f"{kind} {key}: {took:.1f} s wall; played {r.get('before')} -> seek "
          f"{r.get('target')} -> {r.get('after')}; {len(out['responses'])} responses; "
          f"{r.get('framesDecoded')} frames decoded; Chromium {out.get('browserVersion')}")
    return out


def explain(out):
    r = out.get("result", {})
    lines = ["errors: " + json.dumps(r.get("errors")), "events:"] + \
        ["  " + e for e in r.get("events", [])] + ["responses:"] + \
        ["  " + json.dumps(x) for x in out.get("responses", [])] + \
        ["failed requests: " + json.dumps(out.get("failed"))] + \
        ["console: " + json.dumps(out.get("console")[-20:])] + \
        ["page errors: " + json.dumps(out.get("pageErrors"))]
    return "\n".join(lines)


def check_played(out, min_target=6.0):
    r = out["result"]
    why = explain(out)
    assert r["ok"], why
    assert r["before"] >= 1.0, why
    assert r["target"] >= min_target and r["target"] > r["before"], why
    assert r["after"] >= r["target"] + 1.0, why
    assert r["framesDecoded"] > 0 and r["width"] > 0 and r["height"] > 0, why
    assert abs(r["duration"] - CLIP_SECONDS) < 0.5, why
    for x in out["responses"]:
        assert x["status"] in (200, 206, 304), ("edge answered an error", x, why)
        assert x["acao"], ("no Access-Control-Allow-Origin on a cross-origin response", x)
    # the player cancels (ERR_ABORTED) a download it no longer needs on a seek
    assert not [x for x in out["failed"] if x["error"] != "net::ERR_ABORTED"], why


@pytest.mark.parametrize("size", [None, (320, 240), (160, 120)],
                         ids=["abr", "240p", "120p"])
def test_hls_plays_and_seeks(env, size):
    """The master playlist with hls.js: its own choice of rendition, then
    each rendition locked."""
    out = play(env, "hls", f"hls/{BASE}.m3u8", width=size[0] if size else 0)
    check_played(out)
    r, why = out["result"], explain(out)
    assert (r["width"], r["height"]) in ((320, 240), (160, 120)), why
    if size:
        assert (r["width"], r["height"]) == size, why
    # the audio came from the separate audio rendition
    assert any(f"{BASE}_audio_" in urllib.parse.unquote(x["url"]) for x in out["responses"]), why
    segs = []
    for x in out["responses"]:
        path = urllib.parse.unquote(urllib.parse.urlsplit(x["url"]).path)
        if path.endswith(".m3u8"):
            assert "mpegurl" in (x["contentType"] or "").lower(), x
        m = re.search(r"_(\d{5})\.(ts|mp4|m4s)$", path)
        if m:
            segs.append(int(m.group(1)))
    # segment n (1-based) covers [(n-1)*SEGMENT, n*SEGMENT): the seek target's
    # segment was loaded, without fetching everything before it
    need = int(r["target"] // SEGMENT) + 1
    assert need in segs, (need, sorted(segs), why)


def test_mp4_h264_plays_and_seeks_with_ranges(env):
    out = play(env, "mp4", f"web/{BASE}-web.mp4")
    check_played(out)
    assert (out["result"]["width"], out["result"]["height"]) == (320, 240), explain(out)
    media_resps = [x for x in out["responses"] if x["url"].endswith("-web.mp4")]
    assert media_resps, explain(out)
    ranged = [x for x in media_resps if x["range"] and x["status"] == 206]
    assert ranged, ("Chromium's media requests were not answered with 206", explain(out))
    for x in ranged:
        assert re.fullmatch(r"bytes \d+-\d+/\d+", x["contentRange"] or ""), x
        assert x["contentType"] == "video/mp4", x


def test_mp4_seek_ranges_match_the_object(env, server):
    """A small MP4 on loopback is often buffered whole by Chromium before the
    seek, so the seek itself may need no request: ask the edge for the
    open-ended range a seek to two thirds would send, and a suffix range,
    and compare with the object's bytes."""
    key = f"web/{BASE}-web.mp4"
    body = env["s3"].get_object(Bucket=DST, Key=key)["Body"].read()
    size, start = len(body), len(body) * 2 // 3
    r = server.curl(edge_url(env, key), "-H", f"Range: bytes={start}-",
                    "-H", "Origin: http://127.0.0.1")
    assert r.status == 206 and r.body == body[start:], (r.status, r.headers)
    assert r.headers.get("content-range") == f"bytes {start}-{size - 1}/{size}", r.headers
    assert r.headers.get("access-control-allow-origin"), r.headers
    r = server.curl(edge_url(env, key), "-H", "Range: bytes=-1000")
    assert r.status == 206 and r.body == body[-1000:], (r.status, r.headers)


def test_seed_av1_mp4_plays_and_seeks(env):
    """The seed job's -sd output (AV1 256x144 in MP4), progressive."""
    out = play(env, "mp4", f"{BASE}-sd.mp4")
    if not out["result"].get("mse", {}).get("av1"):
        pytest.skip("this Chromium has no AV1 decoder")
    check_played(out)
    assert (out["result"]["width"], out["result"]["height"]) == (256, 144), explain(out)
    assert any(x["status"] == 206 for x in out["responses"]), explain(out)


def test_dash_plays_and_seeks(env, server):
    settings = {
        "Inputs": [{"FileInput": f"s3://{SRC}/{CLIP}",
                    "AudioSelectors": {"Audio Selector 1": {"DefaultSelection": "DEFAULT"}}}],
        "OutputGroups": [{
            "Name": "DASH ISO",
            "OutputGroupSettings": {"Type": "DASH_ISO_GROUP_SETTINGS", "DashIsoGroupSettings": {
                "Destination": f"s3://{DST}/dash/", "SegmentLength": SEGMENT,
                "FragmentLength": SEGMENT}},
            "Outputs": [{"NameModifier": "_240p", "ContainerSettings": {"Container": "MPD"},
                         "VideoDescription": h264_video(320, 240, 600000)},
                        {"NameModifier": "_audio", "ContainerSettings": {"Container": "MPD"},
                         "AudioDescriptions": [{"CodecSettings": aac(64000)}]}]}]}
    run_job(server, settings, "DASH_ISO_GROUP_SETTINGS")
    out = play(env, "dash", f"dash/{BASE}.mpd")
    check_played(out)
    for x in out["responses"]:
        if x["url"].endswith(".mpd"):
            assert x["contentType"] == "application/dash+xml", x


@pytest.fixture(scope="module")
def cmaf(env, server):
    """One set of fMP4 segments (an AV1 and an H.264 rendition, audio apart)
    with an HLS and a DASH manifest."""
    settings = {
        "Inputs": [{"FileInput": f"s3://{SRC}/{CLIP}",
                    "AudioSelectors": {"Audio Selector 1": {"DefaultSelection": "DEFAULT"}}}],
        "OutputGroups": [{
            "Name": "CMAF",
            "OutputGroupSettings": {"Type": "CMAF_GROUP_SETTINGS", "CmafGroupSettings": {
                "Destination": f"s3://{DST}/cmaf/", "SegmentLength": SEGMENT,
                "FragmentLength": SEGMENT, "WriteHlsManifest": "ENABLED",
                "WriteDashManifest": "ENABLED"}},
            "Outputs": [
                {"NameModifier": "_av1", "ContainerSettings": {"Container": "CMFC"},
                 "VideoDescription": {"Width": 320, "Height": 240, "CodecSettings": {
                     "Codec": "AV1", "Av1Settings": {"RateControlMode": "QVBR",
                                                     "MaxBitrate": 400000}}}},
                {"NameModifier": "_h264", "ContainerSettings": {"Container": "CMFC"},
                 "VideoDescription": h264_video(160, 120, 200000)},
                {"NameModifier": "_audio", "ContainerSettings": {"Container": "CMFC"},
                 "AudioDescriptions": [{"CodecSettings": aac(64000)}]}]}]}
    return run_job(server, settings, "CMAF_GROUP_SETTINGS")


@pytest.mark.parametrize("kind,manifest", [("hls", f"cmaf/{BASE}.m3u8"),
                                           ("dash", f"cmaf/{BASE}.mpd")])
@pytest.mark.parametrize("width,modifier", [(320, "_av1"), (160, "_h264")],
                         ids=["av1", "h264"])
def test_cmaf_plays_and_seeks(env, cmaf, kind, manifest, width, modifier):
    """Each CMAF rendition, locked, with hls.js (HLS manifest) and dash.js
    (DASH manifest)."""
    out = play(env, kind, manifest, width=width)
    check_played(out)
    r, why = out["result"], explain(out)
    assert r["width"] == width, why
    names = [urllib.parse.unquote(x["url"]) for x in out["responses"]]
    assert any(f"{BASE}{modifier}" in n for n in names), (modifier, why)
    assert any(f"{BASE}_audio" in n for n in names), why


@pytest.fixture(scope="module")
def hls_fmp4(env, server):
    """An HLS group with fMP4 segments (container CMFC): AV1 and H.264."""
    settings = {
        "Inputs": [{"FileInput": f"s3://{SRC}/{CLIP}",
                    "AudioSelectors": {"Audio Selector 1": {"DefaultSelection": "DEFAULT"}}}],
        "OutputGroups": [{
            "Name": "Apple HLS fMP4",
            "OutputGroupSettings": {"Type": "HLS_GROUP_SETTINGS", "HlsGroupSettings": {
                "Destination": f"s3://{DST}/hlsfmp4/", "SegmentLength": SEGMENT,
                "MinSegmentLength": 0}},
            "Outputs": [
                {"NameModifier": "_av1", "ContainerSettings": {"Container": "CMFC"},
                 "VideoDescription": {"Width": 320, "Height": 240, "CodecSettings": {
                     "Codec": "AV1", "Av1Settings": {"RateControlMode": "QVBR",
                                                     "MaxBitrate": 400000}}},
                 "AudioDescriptions": [{"CodecSettings": aac(64000)}]},
                {"NameModifier": "_h264", "ContainerSettings": {"Container": "CMFC"},
                 "VideoDescription": h264_video(160, 120, 200000),
                 "AudioDescriptions": [{"CodecSettings": aac(64000)}]}]}]}
    return run_job(server, settings, "HLS with fMP4 (CMFC) segments")


@pytest.mark.parametrize("width,modifier", [(320, "_av1"), (160, "_h264")],
                         ids=["av1", "h264"])
def test_hls_fmp4_plays_and_seeks(env, hls_fmp4, width, modifier):
    out = play(env, "hls", f"hlsfmp4/{BASE}.m3u8", width=width)
    check_played(out)
    r, why = out["result"], explain(out)
    assert r["width"] == width, why
    names = [urllib.parse.unquote(x["url"]) for x in out["responses"]]
    assert any(f"{BASE}{modifier}" in n and not n.endswith(".m3u8") for n in names), \
        (modifier, why)


def test_private_hls_with_signed_cookies(env, server, tmp_path):
    """A private video: a distribution that trusts a key group, CloudFront
    signed cookies (custom policy on /hls/*, from @aws-sdk/cloudfront-signer)
    set for the edge's host, and hls.js sending them (withCredentials) from
    the player page's origin."""
    from test_edge_signed import JS as JS_CF, _node_ready, admin, keypair
    node = _node_ready()
    priv, pub = keypair(str(tmp_path), "player")
    st, key = admin(server, "POST", "/cattube/admin/public-keys",
                    {"name": "playback", "encodedKey": pub})
    assert st == 201, key
    st, group = admin(server, "POST", "/cattube/admin/key-groups",
                      {"name": "playback-viewers", "items": [key["id"]]})
    assert st == 201, group
    st, dist = admin(server, "POST", "/cattube/admin/distributions",
                     {"originBucket": DST, "trustedKeyGroups": [group["id"]]})
    assert st == 201, dist
    base = dist["url"].rstrip("/")
    manifest = f"hls/{BASE}.m3u8"
    assert server.curl(base + "/" + urllib.parse.quote(manifest)).status == 403
    policy = json.dumps({"Statement": [{"Resource": base + "/hls/*", "Condition": {
        "DateLessThan": {"AWS:EpochTime": int(time.time()) + 600}}}]})
    p = subprocess.run([node, os.path.join(JS_CF, "sign.mjs"), json.dumps(
        {"mode": "cookies", "keyPairId": key["id"], "privateKeyFile": priv, "policy": policy})],
        cwd=JS_CF, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    cookies = json.loads(p.stdout)["cookies"]
    assert set(cookies) == {"CloudFront-Policy", "CloudFront-Signature",
                            "CloudFront-Key-Pair-Id"}, cookies
    r = server.curl(base + "/" + urllib.parse.quote(manifest), "-H",
                    "Cookie: " + "; ".join(f"{k}={v}" for k, v in cookies.items()))
    assert r.status == 200, r
    # The player page on the edge's site (https://player.cattube.localhost), as
    # www.example.com would play from cdn.example.com: the cookies are
    # first-party, the requests cross-origin.
    cert, pkey = str(tmp_path / "page.pem"), str(tmp_path / "page.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=player.cattube.localhost", "-keyout", pkey, "-out", cert],
                   check=True, capture_output=True, timeout=60)
    out = play(env, "hls", manifest, base=base, cookies=cookies,
               page={"pageHost": "player.cattube.localhost",
                     "pageTls": {"cert": cert, "key": pkey}})
    check_played(out)
