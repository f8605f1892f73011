"""`cattube worker DIR --store URL`: a worker that claims jobs from the queue
in DIR but reads inputs and writes outputs only through the S3 API, signed
with an IAM user's keys (made with `cattube admin user ...`).

The server runs with --workers 0 and a 3 s lease (Server.extra_args, as
test_workers.py). Checks: the same job run by a local worker and by a
remote one gives the same keys, sizes and outputGroupDetails (MP4 + HLS, keys with
a space, '+' and unicode, an MP4 uploaded with multipart); outputs pass
ffprobe; their S3 events reach a webhook with the worker's identity as
principal (the multipart MP4 as ObjectCreated:CompleteMultipartUpload); a
user without s3:PutObject on the destination ends the job in
ERROR 1432 and without s3:GetObject on the input in ERROR 1401, each
message naming the object and the action; SIGTERM mid-job hands the job
back and a new worker completes it; a worker whose store is unreachable
retries, hands the job back, and a good worker completes it; so does one
whose https store's certificate a private CA signed (the TLS reason in its
log), until --ca-bundle names the CA; --store without credentials, or with
a bad --ca-bundle, is refused with a message naming them."""

import json
import os
import signal
import subprocess
import time
import urllib.parse

import pytest

import media
from conftest import Server, TlsFront, bad_ca_files, make_test_ca, make_user
from test_webhooks import Receiver, make_webhook, notify_bucket

LEASE = 3
SRC, DST = "rw-source", "rw-destination"
CLIP = "cat clip+ü.mov"          # space, '+' and unicode in the input key
BASE = "cat clip+ü"
LONG = "long.mov"


def user_policy(get_buckets, put_buckets):
    st = []
    if get_buckets:
        st.append({"Effect": "Allow", "Action": "s3:GetObject",
                   "Resource": [f"arn:aws:s3:::{b}/*" for b in get_buckets]})
    if put_buckets:
        st.append({"Effect": "Allow", "Action": ["s3:PutObject", "s3:AbortMultipartUpload"],
                   "Resource": [f"arn:aws:s3:::{b}/*" for b in put_buckets]})
    return {"Version": "2012-10-17", "Statement": st}


@pytest.fixture(scope="module")
def rserver(tmp_path_factory):
    base = str(tmp_path_factory.mktemp("remote"))
    srv = Server(base)
    srv.extra_args = ["--workers", "0", "--lease-seconds", str(LEASE)]
    srv.real_bin = srv.bin
    srv.start()
    s3 = srv.client("s3")
    s3.create_bucket(Bucket=SRC)
    s3.create_bucket(Bucket=DST)
    clip = media.make_clip(os.path.join(base, "clip.mov"), duration=2.0, size="320x240")
    s3.upload_file(clip, SRC, CLIP)
    long_clip = media.make_clip(os.path.join(base, "long.mov"), duration=8.0, size="480x270")
    s3.upload_file(long_clip, SRC, LONG)
    srv.keys = {
        "worker": make_user(srv, "remote-worker", user_policy([SRC], [DST])),
        "reader": make_user(srv, "remote-reader", user_policy([SRC], [])),
    }
    srv.workers = []
    yield srv
    for p in srv.workers:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    problems = srv.stop()
    for name in sorted(os.listdir(base)):
        if name.startswith("worker-") and name.endswith(".log"):
            text = worker_log(srv, name[len("worker-"):-len(".log")])
            if "Sanitizer" in text or "runtime error:" in text:
                problems.append(f"sanitizer report in {name}")
    assert not problems, problems


def start_worker(srv, name, keys=None, store=None, extra=()):
    """A worker process; with keys, a remote one (--store, credentials in env)."""
    log = open(os.path.join(srv.base, f"worker-{name}.log"), "ab")
    cmd = [srv.real_bin, "worker", srv.data_dir, "--lease-seconds", str(LEASE),
           "--worker-id", name]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "NO_PROXY": "*", "no_proxy": "*"}
    if keys:
        cmd += ["--store", store or srv.endpoint, "--scratch",
                os.path.join(srv.base, f"scratch-{name}")] + list(extra)
        env.update(AWS_ACCESS_KEY_ID=keys[0], AWS_SECRET_ACCESS_KEY=keys[1],
                   AWS_REGION=srv.region)
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env,
                         start_new_session=True)
    srv.workers.append(p)
    return p


def stop_worker(p, sig=signal.SIGTERM):
    if p.poll() is None:
        os.killpg(p.pid, sig)
        p.wait(timeout=30)


def worker_log(srv, name):
    with open(os.path.join(srv.base, f"worker-{name}.log"), errors="replace") as f:
        return f.read()


def wait_handed_back(srv, name, timeout=60):
    """The worker's log once it has given a job back (or after timeout)."""
    deadline = time.monotonic() + timeout
    while "handed back" not in worker_log(srv, name) and time.monotonic() < deadline:
        time.sleep(0.2)
    return worker_log(srv, name)


def settings(src_key, prefix, src_bucket=SRC):
    mp4 = {"Name": "File Group",
           "OutputGroupSettings": {"Type": "FILE_GROUP_SETTINGS", "FileGroupSettings": {
               "Destination": f"s3://{DST}/{prefix}/"}},
           "Outputs": [{"NameModifier": " sd",
                        "ContainerSettings": {"Container": "MP4"},
                        "VideoDescription": {"Width": 320, "Height": 180, "CodecSettings": {
                            "Codec": "H_264", "H264Settings": {
                                "RateControlMode": "QVBR", "MaxBitrate": 400000}}},
                        "AudioDescriptions": [{"CodecSettings": {
                            "Codec": "AAC", "AacSettings": {
                                "Bitrate": 64000, "CodingMode": "CODING_MODE_2_0",
                                "SampleRate": 48000}}}]}]}
    hls = {"Name": "Apple HLS",
           "OutputGroupSettings": {"Type": "HLS_GROUP_SETTINGS", "HlsGroupSettings": {
               "Destination": f"s3://{DST}/{prefix}/hls é/", "SegmentLength": 1,
               "MinSegmentLength": 0}},
           "Outputs": [{"NameModifier": "_180p", "ContainerSettings": {"Container": "M3U8"},
                        "VideoDescription": {"Width": 320, "Height": 180, "CodecSettings": {
                            "Codec": "H_264", "H264Settings": {
                                "RateControlMode": "QVBR", "MaxBitrate": 300000}}},
                        "AudioDescriptions": [{"CodecSettings": {
                            "Codec": "AAC", "AacSettings": {
                                "Bitrate": 64000, "CodingMode": "CODING_MODE_2_0",
                                "SampleRate": 48000}}}]}]}
    return {"Inputs": [{"FileInput": f"s3://{src_bucket}/{src_key}",
                        "AudioSelectors": {"Audio Selector 1": {"DefaultSelection": "DEFAULT"}}}],
            "OutputGroups": [mp4, hls]}


def create(srv, src_key, prefix, **kw):
    mc = srv.client("mediaconvert")
    return mc.create_job(Role="arn:aws:iam::000000000000:role/MediaConvert_Default_Role",
                         Settings=settings(src_key, prefix, **kw))["Job"]["Id"]


def wait_status(srv, job_id, statuses, timeout=180, min_percent=None):
    mc = srv.client("mediaconvert")
    deadline = time.monotonic() + timeout
    job = None
    while time.monotonic() < deadline:
        job = mc.get_job(Id=job_id)["Job"]
        if job["Status"] in statuses and (min_percent is None or
                                          job.get("JobPercentComplete", 0) >= min_percent):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} never reached {statuses}: {job}")


def listing(srv, prefix):
    r = srv.client("s3").list_objects_v2(Bucket=DST, Prefix=prefix + "/")
    return {o["Key"][len(prefix) + 1:]: o["Size"] for o in r.get("Contents", [])}


def details(job, prefix):
    text = json.dumps(job.get("OutputGroupDetails"), sort_keys=True, ensure_ascii=False)
    return json.loads(text.replace(f"s3://{DST}/{prefix}/", f"s3://{DST}/P/"))


@pytest.fixture(scope="module")
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture(scope="module")
def local_and_remote(rserver, receiver):
    """The same job through a local worker, then through a remote one (whose
    outputs' S3 events go to a webhook)."""
    srv = rserver
    hook = make_webhook(srv, "remote-outputs", receiver.url + "/ok")
    notify_bucket(srv, DST, hook["arn"], "remote/")
    w = start_worker(srv, "local")
    local = wait_status(srv, create(srv, CLIP, "local"), ("COMPLETE", "ERROR"))
    stop_worker(w)
    assert local["Status"] == "COMPLETE", local
    # 20 kB threshold: the MP4 goes up with multipart, the playlists with one PUT
    w = start_worker(srv, "remote", keys=srv.keys["worker"],
                     extra=["--multipart-threshold", "20000"])
    remote = wait_status(srv, create(srv, CLIP, "remote"), ("COMPLETE", "ERROR"))
    stop_worker(w)
    assert remote["Status"] == "COMPLETE", (remote, worker_log(srv, "remote")[-3000:])
    return local, remote


def test_remote_outputs_match_local(rserver, local_and_remote):
    local, remote = local_and_remote
    lk, rk = listing(rserver, "local"), listing(rserver, "remote")
    assert sorted(rk) == sorted(lk), (sorted(lk), sorted(rk))
    assert rk == lk  # same sizes: x264 and the muxers are deterministic
    assert f"{BASE} sd.mp4" in rk and f"hls é/{BASE}.m3u8" in rk, sorted(rk)
    assert f"hls é/{BASE}_180p_00001.ts" in rk, sorted(rk)
    assert details(remote, "remote") == details(local, "local")
    # nothing left in the worker's scratch directory
    assert os.listdir(os.path.join(rserver.base, "scratch-remote")) == []


def test_remote_outputs_fire_s3_events(rserver, local_and_remote, receiver):
    keys = listing(rserver, "remote")
    want = {urllib.parse.quote_plus("remote/" + k, safe="/") for k in keys}
    hits = receiver.wait(lambda h: h["path"] == "/ok", count=len(want))
    records = [r for h in hits for r in json.loads(h["body"])["Records"]]
    got = {r["s3"]["object"]["key"]: r for r in records}
    assert set(got) == want, (sorted(got), sorted(want))
    mp4 = got[urllib.parse.quote_plus(f"remote/{BASE} sd.mp4", safe="/")]
    assert mp4["eventName"] == "ObjectCreated:CompleteMultipartUpload", mp4
    assert mp4["s3"]["object"]["size"] == keys[f"{BASE} sd.mp4"]
    # the worker's identity, not the service's
    assert mp4["userIdentity"]["principalId"] == rserver.keys["worker"][0], mp4


def test_remote_outputs_probe(rserver, local_and_remote, tmp_path):
    s3 = rserver.client("s3")
    for key in (f"remote/{BASE} sd.mp4", f"remote/hls é/{BASE}_180p_00001.ts"):
        path = tmp_path / os.path.basename(key)
        s3.download_file(DST, key, str(path))
        info = media.probe(path)
        v = media.stream(info, "video")
        assert (v["codec_name"], v["width"], v["height"]) == ("h264", 320, 180), v
        assert media.stream(info, "audio")["codec_name"] == "aac"
    head = s3.head_object(Bucket=DST, Key=f"remote/{BASE} sd.mp4")
    assert head["ContentLength"] > 20000
    assert head["ETag"].endswith('-1"'), head["ETag"]       # multipart, one part
    assert head["ContentType"] == "video/mp4"
    pl = s3.head_object(Bucket=DST, Key=f"remote/hls é/{BASE}_180p.m3u8")
    assert pl["ContentLength"] < 20000 and "-" not in pl["ETag"], pl  # single PUT


def test_put_denied_is_job_error(rserver):
    srv = rserver
    w = start_worker(srv, "reader", keys=srv.keys["reader"])
    job = wait_status(srv, create(srv, CLIP, "denied"), ("COMPLETE", "ERROR"))
    assert job["Status"] == "ERROR", job
    assert job["ErrorCode"] == 1432, job
    msg = job["ErrorMessage"]
    assert f"s3://{DST}/denied/" in msg and "s3:PutObject" in msg and "AccessDenied" in msg, msg
    assert listing(srv, "denied") == {}
    # and reading an input the user may not read: 1401
    job = wait_status(srv, create(srv, f"remote/{BASE} sd.mp4", "denied2", src_bucket=DST),
                      ("COMPLETE", "ERROR"))
    assert job["Status"] == "ERROR" and job["ErrorCode"] == 1401, job
    msg = job["ErrorMessage"]
    assert f"s3://{DST}/remote/{BASE} sd.mp4" in msg and "s3:GetObject" in msg, msg
    stop_worker(w)


def test_sigterm_mid_job_hands_back(rserver):
    srv = rserver
    a = start_worker(srv, "termA", keys=srv.keys["worker"])
    jid = create(srv, LONG, "term")
    wait_status(srv, jid, ("PROGRESSING",), min_percent=1)
    t0 = time.monotonic()
    stop_worker(a, signal.SIGTERM)
    assert time.monotonic() - t0 < 10, "worker did not stop promptly on SIGTERM"
    log = worker_log(srv, "termA")
    assert a.returncode == 0, log[-2000:]
    # handed back at once (lease ended), not left to expire
    assert f"job {jid} handed back" in log and "lease will expire" not in log, log[-2000:]
    b = start_worker(srv, "termB", keys=srv.keys["worker"])
    job = wait_status(srv, jid, ("COMPLETE", "ERROR"))
    assert job["Status"] == "COMPLETE", (job, worker_log(srv, "termB")[-3000:])
    assert job["RetryCount"] >= 1, job
    keys = listing(srv, "term")
    assert "long sd.mp4" in keys and "hls é/long.m3u8" in keys, sorted(keys)
    stop_worker(b)


def test_unreachable_store_hands_back(rserver):
    srv = rserver
    from conftest import free_port
    dead = f"http://127.0.0.1:{free_port()}"
    a = start_worker(srv, "dead", keys=srv.keys["worker"], store=dead)
    jid = create(srv, CLIP, "retry")
    log = wait_handed_back(srv, "dead")
    assert "retrying" in log and "handed back" in log, log[-3000:]
    assert srv.get_job(jid)["Status"] in ("PROGRESSING", "SUBMITTED")
    stop_worker(a)
    b = start_worker(srv, "alive", keys=srv.keys["worker"])
    job = wait_status(srv, jid, ("COMPLETE", "ERROR"))
    assert job["Status"] == "COMPLETE" and job["RetryCount"] >= 1, job
    stop_worker(b)


def test_https_store_needs_the_private_ca(rserver, tmp_path):
    srv = rserver
    ca, cert, key = make_test_ca(str(tmp_path))
    front = TlsFront(srv.port, cert, key)
    try:
        a = start_worker(srv, "untrusted", keys=srv.keys["worker"], store=front.url)
        jid = create(srv, CLIP, "private-ca")
        log = wait_handed_back(srv, "untrusted")
        assert "SSL certificate problem" in log and "handed back" in log, log[-3000:]
        assert a.poll() is None and srv.get_job(jid)["Status"] in ("PROGRESSING", "SUBMITTED")
        stop_worker(a)
        b = start_worker(srv, "trusted", keys=srv.keys["worker"], store=front.url,
                         extra=("--ca-bundle", ca))
        job = wait_status(srv, jid, ("COMPLETE", "ERROR"))
        assert job["Status"] == "COMPLETE", (job, worker_log(srv, "trusted")[-3000:])
        path = tmp_path / "out.mp4"
        srv.client("s3").download_file(DST, f"private-ca/{BASE} sd.mp4", str(path))
        assert media.stream(media.probe(path), "video")["codec_name"] == "h264"
        stop_worker(b)
    finally:
        front.stop()


def test_store_needs_credentials(rserver):
    p = subprocess.run([rserver.real_bin, "worker", rserver.data_dir, "--store",
                        rserver.endpoint], capture_output=True, text=True, timeout=30,
                       env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
    assert p.returncode == 2, p
    assert "AWS_ACCESS_KEY_ID" in p.stderr and "--access-key" in p.stderr, p.stderr
    p = subprocess.run([rserver.real_bin, "worker", rserver.data_dir, "--store", "s3://bucket"],
                       capture_output=True, text=True, timeout=30,
                       env={"AWS_ACCESS_KEY_ID": "AKIAX", "AWS_SECRET_ACCESS_KEY": "x"})
    assert p.returncode == 2 and "http:// or https://" in p.stderr, p
    for bad, why in bad_ca_files(rserver.base):
        p = subprocess.run([rserver.real_bin, "worker", rserver.data_dir, "--store",
                            rserver.endpoint, "--ca-bundle", bad], capture_output=True, text=True,
                           timeout=30, env={"AWS_ACCESS_KEY_ID": "AKIAX", "AWS_SECRET_ACCESS_KEY": "x"})
        assert p.returncode == 2 and f"--ca-bundle {bad}: {why}" in p.stderr, p
    help_text = subprocess.run([rserver.real_bin, "worker", "--help"], capture_output=True,
                               text=True, timeout=30).stdout
    for word in ("--store URL", "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "--multipart-threshold",
                 "--ca-bundle PEM"):
        assert word in help_text, help_text


def test_remote_joined_inputs(rserver, tmp_path):
    """Several inputs through a remote worker: each is downloaded into its own
    scratch subdirectory and the outputs join them (2 s + 1 s clipped)."""
    srv = rserver
    s = settings(CLIP, "joined")
    s["Inputs"].append({"FileInput": f"s3://{SRC}/{LONG}", "TimecodeSource": "ZEROBASED",
                        "InputClippings": [{"StartTimecode": "00:00:03:00",
                                            "EndTimecode": "00:00:03:23"}]})
    s["OutputGroups"] = s["OutputGroups"][:1]
    mc = srv.client("mediaconvert")
    job_id = mc.create_job(Role="arn:aws:iam::000000000000:role/MediaConvert_Default_Role",
                           Settings=s)["Job"]["Id"]
    w = start_worker(srv, "joined", keys=srv.keys["worker"])
    job = wait_status(srv, job_id, ("COMPLETE", "ERROR"))
    stop_worker(w)
    assert job["Status"] == "COMPLETE", (job, worker_log(srv, "joined")[-3000:])
    keys = [k for k in listing(srv, "joined")]
    assert len(keys) == 1, keys
    out = tmp_path / "joined.mp4"
    srv.client("s3").download_file(DST, "joined/" + keys[0], str(out))
    info = media.probe(out)
    assert abs(float(info["format"]["duration"]) - 3.0) < 0.15, info["format"]
