"""A foreign S3 store: `cattube worker --store URL` and `cattube edge --origin URL`
against s3rver (npm `s3rver` 3.7.1, an independent Node.js S3 implementation, in
tests/integration/js_s3rver), not CatTube's own S3 API.

s3rver runs on a free loopback port with its own directory and its one account
(access key S3RVER, secret S3RVER). Buckets and a small ffmpeg-made clip go in
with boto3 (path-style). Checks:
  - worker: `cattube serve --workers 0` holds the queue (SQLite, as
    test_remote_worker.py); a `cattube worker DIR --store http://s3rver
    --access-key S3RVER --secret-key S3RVER` runs a MediaConvert job whose input
    (a key with a space, '+' and unicode) and outputs are s3rver buckets: an
    MP4 uploaded with multipart (three parts) and an HLS group with single PUTs.
    The job is COMPLETE with no 4xx/5xx in s3rver's request log, s3rver lists
    the outputs, ffprobe reads them, and the log shows the MP4's multipart
    upload (s3rver gives completed uploads a plain MD5 ETag, unlike AWS).
    A worker whose access key s3rver does not know logs that the store refused
    its credentials, naming the object, and writes nothing.
  - edge: `cattube edge --origin http://s3rver --config FILE` with a
    distribution (with an origin access control, so the edge signs its origin
    reads with CATTUBE_ORIGIN_*) over an s3rver bucket serves an object 200
    with the right bytes and Content-Type, a single Range as 206, a
    multi-range as multipart/byteranges, and a missing key as an error.

What s3rver does not check (so these parts cannot be proved against it):
  - SigV4 signatures: s3rver 3.7.1 verifies only V2 signatures; for V4 it
    checks the header's form and that the access key exists
    (lib/middleware/authentication.js: "Signature version 4 calculation is
    unimplemeneted"). So a wrong secret is not refused, and CatTube's SigV4
    signing is proved against CatTube's own API and AWS-compatible clients
    (test_remote_worker.py, test_s3_*), not here; here only that an unknown
    access key is refused (InvalidAccessKeyId) and reaches the job as an error.
  - anonymous access: s3rver has no bucket policies or ACL enforcement, so an
    unsigned request reads any bucket; edge-side OAC vs anonymous semantics
    are tested against CatTube (test_edge_remote.py)."""

import json
import os
import re
import signal
import subprocess
import time
import urllib.request

import boto3
import botocore.config
import pytest

import media
from conftest import Server, free_port, node_with_modules
from test_edge_remote import Edge, wait_for
from test_remote_worker import stop_worker, wait_status, worker_log

JS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "js_s3rver")
KEY = SECRET = "S3RVER"
SRC, DST, WEB = "foreign-source", "foreign-destination", "foreign-web"
CLIP = "cat clip+ü.mov"
BASE = "cat clip+ü"
SEG = os.urandom(300_000)
DIST_ID = "E2S3RVERDIST01"


class S3rver:
    def __init__(self, base):
        node = node_with_modules(JS, ["s3rver"])
        self.dir = os.path.join(base, "s3rver-data")
        os.makedirs(self.dir, exist_ok=True)
        self.log = open(os.path.join(base, "s3rver.log"), "ab")
        for _attempt in range(3):
            self.port = free_port()
            self.url = f"http://127.0.0.1:{self.port}"
            self.proc = subprocess.Popen(
                [node, os.path.join(JS, "node_modules", "s3rver", "bin", "s3rver.js"),
                 "-d", self.dir, "-a", "127.0.0.1", "-p", str(self.port), "--no-vhost-buckets"],
                stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log,
                start_new_session=True)
            if self._ready():
                return
            self.stop()
        raise RuntimeError("s3rver did not start; see s3rver.log")

    def _ready(self):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                urllib.request.build_opener(urllib.request.ProxyHandler({})).open(
                    self.url + "/", timeout=2).read()
                return True
            except OSError:
                time.sleep(0.2)
        return False

    def log_size(self):
        self.log.flush()
        return os.path.getsize(self.log.name)

    def log_text(self, start=0):
        """s3rver's request log (colours stripped) from byte offset start."""
        with open(self.log.name, "rb") as f:
            f.seek(start)
            return re.sub(r"\x1b\[[0-9;]*m", "", f.read().decode("utf-8", "replace"))

    def client(self, key=KEY, secret=SECRET):
        return boto3.client("s3", endpoint_url=self.url, region_name="us-east-1",
                            aws_access_key_id=key, aws_secret_access_key=secret,
                            config=botocore.config.Config(s3={"addressing_style": "path"},
                                                          proxies={}))

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    base = str(tmp_path_factory.mktemp("s3rver"))
    s = S3rver(base)
    s.base = base
    try:
        s3 = s.client()
        for b in (SRC, DST, WEB):
            s3.create_bucket(Bucket=b)
        clip = media.make_clip(os.path.join(base, "clip.mov"), duration=2.0, size="320x240")
        s3.upload_file(clip, SRC, CLIP)
        s3.put_object(Bucket=WEB, Key="seg 1.ts", Body=SEG, ContentType="video/mp2t")
        yield s
    finally:
        s.stop()
        s.log.close()


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    srv = Server(str(tmp_path_factory.mktemp("foreign-api")))
    srv.extra_args = ["--workers", "0", "--lease-seconds", "3"]
    srv.start()
    srv.workers = []
    yield srv
    for p in srv.workers:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    problems = srv.stop()
    problems += sanitizer_reports(srv.base)
    assert not problems, problems


def sanitizer_reports(base):
    """The worker and edge logs (ASan/UBSan builds) under base."""
    out = []
    for root, _dirs, files in os.walk(base):
        for name in files:
            if name.endswith(".log"):
                with open(os.path.join(root, name), errors="replace") as f:
                    text = f.read()
                if "Sanitizer" in text or "runtime error:" in text:
                    out.append(f"sanitizer report in {name}")
    return out


def start_worker(srv, store, name, key=KEY, secret=SECRET):
    """`cattube worker DIR --store <s3rver>` with the credentials as options."""
    log = open(os.path.join(srv.base, f"worker-{name}.log"), "ab")
    cmd = [srv.bin, "worker", srv.data_dir, "--lease-seconds", "3", "--worker-id", name,
           "--store", store.url, "--access-key", key, "--secret-key", secret,
           "--scratch", os.path.join(srv.base, f"scratch-{name}"),
           "--multipart-threshold", "20000"]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "NO_PROXY": "*", "no_proxy": "*"}
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env,
                         start_new_session=True)
    log.close()
    srv.workers.append(p)
    return p


def job_settings(src_key, prefix):
    audio = [{"CodecSettings": {"Codec": "AAC", "AacSettings": {
        "Bitrate": 64000, "CodingMode": "CODING_MODE_2_0", "SampleRate": 48000}}}]
    video = {"Width": 320, "Height": 180, "CodecSettings": {"Codec": "H_264", "H264Settings": {
        "RateControlMode": "QVBR", "MaxBitrate": 400000}}}
    return {"Inputs": [{"FileInput": f"s3://{SRC}/{src_key}",
                        "AudioSelectors": {"Audio Selector 1": {"DefaultSelection": "DEFAULT"}}}],
            "OutputGroups": [
                {"Name": "File Group", "OutputGroupSettings": {
                    "Type": "FILE_GROUP_SETTINGS",
                    "FileGroupSettings": {"Destination": f"s3://{DST}/{prefix}/"}},
                 "Outputs": [{"NameModifier": " sd", "ContainerSettings": {"Container": "MP4"},
                              "VideoDescription": video, "AudioDescriptions": audio}]},
                {"Name": "Apple HLS", "OutputGroupSettings": {
                    "Type": "HLS_GROUP_SETTINGS", "HlsGroupSettings": {
                        "Destination": f"s3://{DST}/{prefix}/hls é/", "SegmentLength": 1,
                        "MinSegmentLength": 0}},
                 "Outputs": [{"NameModifier": "_180p", "ContainerSettings": {"Container": "M3U8"},
                              "VideoDescription": video, "AudioDescriptions": audio}]}]}


def create_job(srv, src_key, prefix):
    mc = srv.client("mediaconvert")
    return mc.create_job(Role="arn:aws:iam::000000000000:role/MediaConvert_Default_Role",
                         Settings=job_settings(src_key, prefix))["Job"]["Id"]


def listing(store, prefix):
    r = store.client().list_objects_v2(Bucket=DST, Prefix=prefix + "/")
    return {o["Key"][len(prefix) + 1:]: o["Size"] for o in r.get("Contents", [])}


def test_s3rver_refuses_an_unknown_access_key(store):
    """What s3rver does check of a SigV4 request (see the docstring)."""
    bad = store.client(key="AKIANOSUCHKEY")
    with pytest.raises(bad.exceptions.ClientError) as e:
        bad.list_objects_v2(Bucket=SRC)
    assert e.value.response["Error"]["Code"] == "InvalidAccessKeyId"


def test_remote_worker_on_s3rver(api, store, tmp_path):
    start = store.log_size()
    w = start_worker(api, store, "s3rver")
    job = wait_status(api, create_job(api, CLIP, "out"), ("COMPLETE", "ERROR"))
    stop_worker(w)
    assert job["Status"] == "COMPLETE", (job, worker_log(api, "s3rver")[-3000:])
    keys = listing(store, "out")
    assert f"{BASE} sd.mp4" in keys and f"hls é/{BASE}_180p.m3u8" in keys, sorted(keys)
    segs = [k for k in keys if k.startswith(f"hls é/{BASE}_180p_") and k.endswith(".ts")]
    assert len(segs) >= 2, sorted(keys)
    s3 = store.client()
    for key in (f"out/{BASE} sd.mp4", f"out/{segs[0]}"):
        path = tmp_path / os.path.basename(key)
        s3.download_file(DST, key, str(path))
        info = media.probe(path)
        v = media.stream(info, "video")
        assert (v["codec_name"], v["width"], v["height"]) == ("h264", 320, 180), v
        assert media.stream(info, "audio")["codec_name"] == "aac"
    mp4 = tmp_path / f"{BASE} sd.mp4"
    assert abs(float(media.probe(mp4)["format"]["duration"]) - 2.0) < 0.2
    head = s3.head_object(Bucket=DST, Key=f"out/{BASE} sd.mp4")
    assert head["ContentLength"] == os.path.getsize(mp4) > 20000
    assert head["ContentType"] == "video/mp4", head
    # s3rver gives a completed multipart upload a plain MD5 ETag (AWS: "<md5>-<parts>"),
    # so its request log shows that the MP4 went up in parts and the playlist in one PUT
    log = store.log_text(start)
    assert not re.search(r" [45]\d\d \d+ms", log), log[-3000:]
    mp4_path = "/out/cat%20clip%2B%C3%BC%20sd.mp4"
    for q in ("?uploads ", "?partNumber=1&uploadId=", "?uploadId="):
        assert mp4_path + q in log, log[-3000:]
    assert "_180p.m3u8?uploads" not in log and "/out/hls%20%C3%A9/cat%20clip%2B%C3%BC_180p.m3u8 200" in log
    pl = s3.get_object(Bucket=DST, Key=f"out/hls é/{BASE}_180p.m3u8")["Body"].read().decode()
    assert "#EXTM3U" in pl and segs[0].split("/")[-1] in pl, pl
    d = job["OutputGroupDetails"][0]["OutputDetails"][0]
    assert abs(d["DurationInMs"] - 2000) < 200 and d["VideoDetails"]["WidthInPx"] == 320, d
    assert os.listdir(os.path.join(api.base, "scratch-s3rver")) == []


def test_unknown_key_on_s3rver_is_a_job_error(api, store):
    w = start_worker(api, store, "badkey", key="AKIANOSUCHKEY")
    job = wait_status(api, create_job(api, CLIP, "badkey"), ("COMPLETE", "ERROR"))
    stop_worker(w)
    # bad credentials are the worker's fault, not the job's: it hands the job back
    # (here, the only worker, until the job's attempts run out)
    assert job["Status"] == "ERROR", job
    log = worker_log(api, "badkey")
    assert "the store refused this worker's credentials (InvalidAccessKeyId" in log, log[-2000:]
    assert f"s3://{SRC}/{CLIP}" in log and "handed back" in log, log[-2000:]
    # ... with backoff between attempts (2 s, 4 s, 8 s), not in milliseconds
    for delay in ("claimable in 2000 ms", "claimable in 4000 ms", "claimable in 8000 ms"):
        assert delay in log, log[-2000:]
    assert "retries used up" in job.get("ErrorMessage", ""), job
    assert listing(store, "badkey") == {}


@pytest.fixture(scope="module")
def edge(api, store, tmp_path_factory):
    base = str(tmp_path_factory.mktemp("foreign-edge"))
    cfg = os.path.join(base, "dists.json")
    with open(cfg, "w") as f:
        json.dump({"distributions": [{
            "id": DIST_ID, "originBucket": WEB, "enabled": True,
            "originAccessControlId": "E2S3RVEROAC001", "viewerProtocolPolicy": "allow-all"}]}, f)
    e = Edge(api, base, "--config", cfg, origin=store.url,
             env={"CATTUBE_ORIGIN_ACCESS_KEY": KEY, "CATTUBE_ORIGIN_SECRET_KEY": SECRET})
    try:
        yield e
    finally:
        e.stop()
    assert not sanitizer_reports(base)


def test_edge_serves_an_s3rver_bucket(api, edge):
    u = edge.url(DIST_ID, "/seg%201.ts")
    r = wait_for(lambda: (lambda r: r if r.status != 503 else None)(api.curl(u)),
                 "the edge to load its configuration")
    assert r.status == 200 and r.body == SEG, (r.status, r.body[:500])
    assert r.headers["content-type"] == "video/mp2t"
    r = api.curl(u, "-H", "Range: bytes=100-199")
    assert r.status == 206 and r.body == SEG[100:200], r
    assert r.headers["content-range"] == f"bytes 100-199/{len(SEG)}"
    r = api.curl(u, "-H", "Range: bytes=0-9,-10")
    assert r.status == 206 and r.headers["content-type"].startswith("multipart/byteranges")
    assert SEG[:10] in r.body and SEG[-10:] in r.body
    r = api.curl(edge.url(DIST_ID, "/no-such-key.ts"))
    assert r.status in (403, 404), r


def test_edge_range_on_a_cold_object(api, store, edge):
    """A Range request for an object the edge has not cached yet: the answer is
    still exactly the range, whichever way the edge fetches it from s3rver."""
    body = os.urandom(120_000)
    store.client().put_object(Bucket=WEB, Key="cold.bin", Body=body)
    u = edge.url(DIST_ID, "/cold.bin")
    r = wait_for(lambda: (lambda r: r if r.status != 503 else None)(
        api.curl(u, "-H", "Range: bytes=5000-5099")), "the edge")
    assert r.status == 206 and r.body == body[5000:5100], r
    assert api.curl(u).body == body
