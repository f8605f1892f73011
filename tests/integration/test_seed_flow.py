"""The seed tutorial's flow, end to end, with the real aws CLI and curl.

The steps are separate tests that run in file order and share state (pytest
runs them in order; CTest runs this file with -x so the first broken step
stops the rest and is the one reported)."""

import copy
import hashlib
import json
import os
import re
import time
import types
import urllib.parse
import xml.etree.ElementTree as ET

import pytest

import media
from conftest import REPO, job_file_input

SRC, DST = "cattube-source", "cattube-destination"
QUEUE, TEMPLATE = "catqueue", "cattube-converter"
CLIP = "cat video 1.mov"
CLIP_HD, CLIP_SD = "cat video 1-hd.mp4", "cat video 1-sd.mp4"
UNICODE_CLIP = "cat vidéo+1 ü.mov"
SEED_DIR = os.path.join(REPO, "examples", "seed")
SHARED_SEED_JOB = os.path.join(os.path.dirname(REPO), "shared", "seed", "job.json")

# Output expectations (2 s clips make rate control coarse: allow slack).
AUDIO_BITRATE, AUDIO_TOL = 96000, 0.15
SD_VIDEO_MAX_BITRATE = 100000 * 1.5
DURATION_TOL = 0.1


def seed_job():
    with open(os.path.join(SEED_DIR, "job.json")) as f:
        return json.load(f)


def template_settings(job):
    """The job template's settings: the seed job's Settings without the input
    file, with our destination bucket."""
    s = copy.deepcopy(job["Settings"])
    for inp in s["Inputs"]:
        inp.pop("FileInput", None)
    s["OutputGroups"][0]["OutputGroupSettings"]["FileGroupSettings"]["Destination"] = \
        f"s3://{DST}/"
    return s


def seed_job_for(key, bucket=SRC):
    job = seed_job()
    job["Settings"]["Inputs"][0]["FileInput"] = f"s3://{bucket}/{key}"
    job["Settings"]["OutputGroups"][0]["OutputGroupSettings"]["FileGroupSettings"][
        "Destination"] = f"s3://{DST}/"
    return job


def input_is(job, bucket, key):
    fi = job_file_input(job)
    return fi is not None and urllib.parse.unquote(fi) == f"s3://{bucket}/{key}"


def ls_names(text):
    """Object names from `aws s3 ls s3://bucket/` output."""
    names = []
    for line in text.splitlines():
        parts = line.split(None, 3)
        if len(parts) == 4 and re.match(r"\d{4}-\d\d-\d\d", parts[0]):
            names.append(parts[3])
    return names


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


@pytest.fixture(scope="module")
def flow(server, tmp_path_factory):
    d = tmp_path_factory.mktemp("flow")
    return Flow(srv=server, dir=str(d), template_arn=None, job_id=None, clip_info=None,
                hd=None, sd=None, dist=None)


class Flow(types.SimpleNamespace):
    def __repr__(self):
        return f"<flow dir={self.dir} template={self.template_arn} job={self.job_id}>"


def upload_and_wait(flow, local_name, key=None):
    """aws s3 cp a local file (by relative name, as a user would) to the source
    bucket; waits for exactly one job for it; returns the finished job and the
    (status, percent) history observed. The upload runs in the background
    while boto3 polls, so a fast transcode's PROGRESSING phase is still seen."""
    srv = flow.srv
    key = key or local_name
    up = srv.aws_popen("s3", "cp", local_name, f"s3://{SRC}/", cwd=flow.dir)
    try:
        jobs = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            jobs = [j for j in _jobs(srv) if input_is(j, SRC, key)]
            if jobs:
                break
            if up.poll() not in (None, 0):
                break
            time.sleep(0.05)
        out, err = up.communicate(timeout=120)
    finally:
        if up.poll() is None:
            up.kill()
            up.wait()
    assert up.returncode == 0, f"aws s3 cp {local_name!r} failed: {err}"
    assert "upload:" in out, out
    assert jobs, f"uploading {key!r} to {SRC} started no job in {QUEUE} within 60 s"
    first = (jobs[0]["Status"], jobs[0].get("JobPercentComplete"))
    job, history = srv.wait_job(jobs[0]["Id"], poll=0.05, history=[first])
    # By now a duplicate delivery of the upload's event would have shown up.
    jobs = [j for j in _jobs(srv) if input_is(j, SRC, key)]
    assert len(jobs) == 1, f"expected exactly one job for {key!r}, got {len(jobs)}: " \
                           f"{[j['Id'] for j in jobs]}"
    return job, history


def _jobs(srv):
    from conftest import list_all_jobs
    return list_all_jobs(srv.client("mediaconvert"), QUEUE)


def check_complete_job(srv, job_id, input_info, queue_suffix):
    """`aws mediaconvert get-job` of a finished job: status, timing, outputs."""
    job = srv.aws("mediaconvert", "get-job", "--id", job_id)["Job"]
    assert job["Status"] == "COMPLETE", json.dumps(job, indent=1)[:3000]
    assert job["Id"] == job_id
    assert job["Queue"].endswith(queue_suffix), job["Queue"]
    t = job["Timing"]
    for k in ("SubmitTime", "StartTime", "FinishTime"):
        assert k in t, f"Timing lacks {k}: {t}"
    assert t["SubmitTime"] <= t["StartTime"] <= t["FinishTime"], t
    ogd = job["OutputGroupDetails"]
    assert len(ogd) == 1, ogd
    outs = ogd[0]["OutputDetails"]
    assert len(outs) == 2, outs
    v = media.stream(input_info, "video")
    dw, dh = media.display_size(v)
    expect = [(dw, dh), (256, 144)]
    in_ms = media.duration(input_info) * 1000
    for od, (w, h) in zip(outs, expect):
        assert abs(od["DurationInMs"] - in_ms) <= DURATION_TOL * 1000 + 50, (od, in_ms)
        assert od["VideoDetails"]["WidthInPx"] == w, od
        assert od["VideoDetails"]["HeightInPx"] == h, od
    return job


def check_outputs(hd_path, sd_path, input_info):
    """ffprobe the -hd and -sd outputs against the seed job's settings."""
    v_in = media.stream(input_info, "video")
    in_w, in_h = media.display_size(v_in)
    in_dur = media.duration(input_info)
    for path, vcodec, size in ((hd_path, "hevc", (in_w, in_h)), (sd_path, "av1", (256, 144))):
        name = os.path.basename(path)
        info = media.probe(path)
        assert info["format"]["format_name"].startswith("mov,mp4"), (name, info["format"])
        assert media.moov_before_mdat(path), \
            (name, "moov must precede mdat", media.mp4_top_level_boxes(path))
        v, a = media.stream(info, "video"), media.stream(info, "audio")
        assert v is not None and a is not None, (name, info["streams"])
        assert len(info["streams"]) == 2, (name, info["streams"])
        assert v["codec_name"] == vcodec, (name, v["codec_name"])
        assert (v["width"], v["height"]) == size, (name, v["width"], v["height"], size)
        if vcodec == "hevc":
            assert v["codec_tag_string"] == "hvc1", (name, v["codec_tag_string"])
        else:
            assert int(v["bit_rate"]) <= SD_VIDEO_MAX_BITRATE, \
                (name, "video bitrate", v["bit_rate"])
        assert a["codec_name"] == "aac" and a.get("profile") == "LC", (name, a)
        assert int(a["sample_rate"]) == 48000, (name, a["sample_rate"])
        assert int(a["channels"]) == 2, (name, a["channels"])
        assert abs(int(a["bit_rate"]) - AUDIO_BITRATE) <= AUDIO_BITRATE * AUDIO_TOL, \
            (name, "audio bitrate", a["bit_rate"])
        assert abs(media.duration(info) - in_dur) <= DURATION_TOL, \
            (name, media.duration(info), in_dur)


# --------------------------------------------------------------------------


def test_00_examples_are_the_seed():
    """examples/seed/ is the repo's copy of the seed job and the template
    settings derived from it."""
    job = seed_job()
    if os.path.exists(SHARED_SEED_JOB):
        with open(SHARED_SEED_JOB) as f:
            assert json.load(f) == job, "examples/seed/job.json differs from shared/seed/job.json"
    with open(os.path.join(SEED_DIR, "settings.json")) as f:
        assert json.load(f) == template_settings(job), \
            "examples/seed/settings.json is not job.json's Settings minus FileInput"


def test_01_buckets(flow):
    srv = flow.srv
    assert "make_bucket: cattube-source" in srv.aws("s3", "mb", f"s3://{SRC}")
    assert "make_bucket: cattube-destination" in srv.aws("s3", "mb", f"s3://{DST}")
    # `aws s3 ls` (no bucket) prints "date time name"
    names = [ln.split()[-1] for ln in srv.aws("s3", "ls").splitlines() if ln.strip()]
    assert SRC in names and DST in names, names

    local = os.path.join(flow.dir, "hello world.txt")
    with open(local, "wb") as f:
        f.write(b"hello, cattube\n" * 100)
    out = srv.aws("s3", "cp", "hello world.txt", f"s3://{SRC}/", cwd=flow.dir)
    assert "upload:" in out, out
    assert "hello world.txt" in ls_names(srv.aws("s3", "ls", f"s3://{SRC}/"))
    srv.aws("s3", "cp", f"s3://{SRC}/hello world.txt", "back.txt", cwd=flow.dir)
    assert sha256(os.path.join(flow.dir, "back.txt")) == sha256(local)
    assert "delete:" in srv.aws("s3", "rm", f"s3://{SRC}/hello world.txt")
    assert "hello world.txt" not in ls_names(srv.aws("s3", "ls", f"s3://{SRC}/"))


def test_02_queues(flow):
    srv = flow.srv
    q = srv.aws("mediaconvert", "create-queue", "--name", QUEUE)["Queue"]
    assert q["Name"] == QUEUE and q["Status"] == "ACTIVE", q
    assert q["Arn"].startswith("arn:aws:mediaconvert:us-east-1:") and \
        q["Arn"].endswith(":queues/" + QUEUE), q
    d = srv.aws("mediaconvert", "get-queue", "--name", "Default")["Queue"]
    assert d["Name"] == "Default" and d["Arn"].endswith(":queues/Default"), d
    names = [x["Name"] for x in srv.aws("mediaconvert", "list-queues")["Queues"]]
    assert "Default" in names and QUEUE in names, names


def test_03_job_template(flow):
    srv = flow.srv
    with open(os.path.join(flow.dir, "settings.json"), "w") as f:
        json.dump(template_settings(seed_job()), f, indent=2)
    t = srv.aws("mediaconvert", "create-job-template", "--name", TEMPLATE, "--queue", QUEUE,
                "--settings", "file://settings.json", cwd=flow.dir)["JobTemplate"]
    assert t["Name"] == TEMPLATE, t
    assert t["Arn"].startswith("arn:aws:mediaconvert:us-east-1:") and \
        t["Arn"].endswith(":jobTemplates/" + TEMPLATE), t["Arn"]
    assert t["Queue"].endswith(QUEUE), t["Queue"]
    outs = t["Settings"]["OutputGroups"][0]["Outputs"]
    assert [o["NameModifier"] for o in outs] == ["-hd", "-sd"], outs
    g = srv.aws("mediaconvert", "get-job-template", "--name", TEMPLATE)["JobTemplate"]
    assert g["Arn"] == t["Arn"], (g, t)
    flow.template_arn = t["Arn"]


def test_04_notification(flow):
    srv = flow.srv
    assert flow.template_arn
    conf = {"LambdaFunctionConfigurations": [{
        "Id": "cattube-notifications", "LambdaFunctionArn": flow.template_arn,
        "Events": ["s3:ObjectCreated:*"]}]}
    srv.aws("s3api", "put-bucket-notification-configuration", "--bucket", SRC,
            "--notification-configuration", json.dumps(conf))
    got = srv.aws("s3api", "get-bucket-notification-configuration", "--bucket", SRC)
    lc = got.get("LambdaFunctionConfigurations")
    assert lc and len(lc) == 1, got
    assert lc[0]["Id"] == "cattube-notifications", lc
    assert lc[0]["LambdaFunctionArn"] == flow.template_arn, lc
    assert lc[0]["Events"] == ["s3:ObjectCreated:*"], lc


def test_05_upload_starts_one_job(flow):
    srv = flow.srv
    # Long enough (6 s) that polling sees PROGRESSING even on a fast, idle
    # machine; a 2 s clip sometimes went SUBMITTED -> COMPLETE between polls.
    media.make_clip(os.path.join(flow.dir, CLIP), duration=6.0)
    flow.clip_info = media.probe(os.path.join(flow.dir, CLIP))
    t0 = time.monotonic()
    job, history = upload_and_wait(flow, CLIP)
    took = time.monotonic() - t0
    listed = srv.aws("mediaconvert", "list-jobs", "--queue", QUEUE)["Jobs"]
    assert job["Id"] in [j["Id"] for j in listed], listed
    statuses = [s for s, _ in history]
    order = ["SUBMITTED", "PROGRESSING", "COMPLETE"]
    assert statuses[-1] == "COMPLETE", (history, job.get("ErrorMessage"), job.get("ErrorCode"))
    assert all(s in order for s in statuses), history
    assert [order.index(s) for s in statuses] == sorted(order.index(s) for s in statuses), \
        f"status went backwards: {history}"
    assert "PROGRESSING" in statuses, f"never saw PROGRESSING while polling: {history}"
    assert any(s == "PROGRESSING" and p is not None for s, p in history), \
        f"no JobPercentComplete while PROGRESSING: {history}"
    flow.job_id = job["Id"]
    print(f"job {job['Id']} finished in {took:.1f} s; history {history}")
    full = check_complete_job(srv, job["Id"], flow.clip_info, ":queues/" + QUEUE)
    dest = full["Settings"]["OutputGroups"][0]["OutputGroupSettings"]["FileGroupSettings"]
    assert dest["Destination"] == f"s3://{DST}/", dest


def test_06_create_job_from_seed_json(flow):
    srv = flow.srv
    with open(os.path.join(flow.dir, "job.json"), "w") as f:
        json.dump(seed_job_for(CLIP), f, indent=2)
    job = srv.aws("mediaconvert", "create-job", "--cli-input-json", "file://job.json",
                  cwd=flow.dir)["Job"]
    assert job["Queue"].endswith(":queues/Default"), job["Queue"]
    assert job["Status"] in ("SUBMITTED", "PROGRESSING"), job["Status"]
    assert input_is(job, SRC, CLIP), job["Settings"]["Inputs"]
    done, history = srv.wait_job(job["Id"])
    assert done["Status"] == "COMPLETE", (history, done.get("ErrorCode"),
                                          done.get("ErrorMessage"))
    check_complete_job(srv, job["Id"], flow.clip_info, ":queues/Default")


def test_07_destination_has_outputs(flow):
    names = ls_names(flow.srv.aws("s3", "ls", f"s3://{DST}/"))
    assert CLIP_HD in names and CLIP_SD in names, names


def test_08_outputs_match_settings(flow):
    srv = flow.srv
    for name in (CLIP_HD, CLIP_SD):
        srv.aws("s3", "cp", f"s3://{DST}/{name}", name, cwd=flow.dir)
    flow.hd = os.path.join(flow.dir, CLIP_HD)
    flow.sd = os.path.join(flow.dir, CLIP_SD)
    check_outputs(flow.hd, flow.sd, flow.clip_info)
    head = srv.aws("s3api", "head-object", "--bucket", DST, "--key", CLIP_HD)
    assert head["ContentType"] == "video/mp4", head
    assert head["ContentLength"] == os.path.getsize(flow.hd), head


def test_09_distribution_serves_outputs(flow):
    srv = flow.srv
    p = srv.cattube("distribution", "create", "--endpoint", srv.endpoint, "--origin-bucket", DST,
                    "--viewer-protocol-policy", "redirect-to-https")
    dist = json.loads(p.stdout)
    assert dist.get("id") and dist.get("url"), dist
    url = dist["url"].rstrip("/")
    u = urllib.parse.urlsplit(url)
    assert u.scheme == "https" and u.port == srv.edge_https_port, url
    assert u.hostname == "127.0.0.1" or u.hostname.endswith(".localhost"), url
    flow.dist = dist
    path = "/" + urllib.parse.quote(CLIP_HD)
    assert path == "/cat%20video%201-hd.mp4"

    r = srv.curl(url + path)
    assert r.status == 200, r
    assert r.headers.get("content-type") == "video/mp4", r.headers
    assert hashlib.sha256(r.body).hexdigest() == sha256(flow.hd)

    r = srv.curl(f"http://{u.hostname}:{srv.edge_http_port}{path}")
    assert r.status == 301, r
    loc = urllib.parse.urlsplit(r.headers.get("location", ""))
    assert (loc.scheme, loc.netloc, loc.path) == ("https", u.netloc, path), r.headers

    r = srv.curl(url + path, "-H", "Range: bytes=0-99")
    assert r.status == 206, r
    assert len(r.body) == 100, len(r.body)
    with open(flow.hd, "rb") as f:
        assert r.body == f.read(100)
    assert r.headers.get("content-range") == f"bytes 0-99/{os.path.getsize(flow.hd)}", r.headers

    # The origin bucket is private: only the edge (origin access control) reads it.
    r = srv.curl(f"{srv.endpoint}/{DST}{path}")
    assert r.status == 403, r
    code = ET.fromstring(r.body).findtext("Code")
    assert code == "AccessDenied", r.body


def test_10_junk_input_fails_cleanly(flow):
    srv = flow.srv
    media.make_junk(os.path.join(flow.dir, "junk.mp4"))
    job, history = upload_and_wait(flow, "junk.mp4")
    assert job["Status"] == "ERROR", (history, job)
    assert isinstance(job.get("ErrorCode"), int) and job["ErrorCode"] > 0, job
    assert "junk.mp4" in job.get("ErrorMessage", ""), job.get("ErrorMessage")
    cli = srv.aws("mediaconvert", "get-job", "--id", job["Id"])["Job"]
    assert cli["Status"] == "ERROR" and cli["ErrorCode"] == job["ErrorCode"], cli
    assert srv.alive() and srv.health() == 200
    names = ls_names(srv.aws("s3", "ls", f"s3://{DST}/"))
    assert not any(n.startswith("junk") for n in names), names


def test_11_bad_setting_is_400_naming_the_path(flow):
    srv = flow.srv
    job = seed_job_for(CLIP)
    job["Settings"]["OutputGroups"][0]["Outputs"][0]["VideoDescription"]["CodecSettings"][
        "Codec"] = "H_266"
    with open(os.path.join(flow.dir, "bad.json"), "w") as f:
        json.dump(job, f)
    err = srv.aws_fail("mediaconvert", "create-job", "--cli-input-json", "file://bad.json",
                       cwd=flow.dir)
    path = "settings.outputGroups[0].outputs[0].videoDescription.codecSettings.codec"
    assert path in err.stderr, err.stderr
    assert "BadRequestException" in err.stderr, err.stderr
    import botocore.exceptions
    mc = srv.client("mediaconvert")
    kw = {k: v for k, v in job.items() if k in ("Queue", "Role", "Settings", "UserMetadata")}
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        mc.create_job(**kw)
    assert ei.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400, ei.value.response
    assert path in str(ei.value)


def test_12_unicode_plus_space_key(flow):
    srv = flow.srv
    media.make_clip(os.path.join(flow.dir, UNICODE_CLIP))
    job, history = upload_and_wait(flow, UNICODE_CLIP)
    assert job["Status"] == "COMPLETE", (history, job.get("ErrorMessage"))
    hd, sd = "cat vidéo+1 ü-hd.mp4", "cat vidéo+1 ü-sd.mp4"
    names = ls_names(srv.aws("s3", "ls", f"s3://{DST}/"))
    assert hd in names and sd in names, names
    head = srv.aws("s3api", "head-object", "--bucket", DST, "--key", hd)
    if flow.dist:
        r = srv.curl(flow.dist["url"].rstrip("/") + "/" + urllib.parse.quote(hd))
        assert r.status == 200 and len(r.body) == head["ContentLength"], r


def test_13_server_still_healthy(flow):
    srv = flow.srv
    assert srv.alive() and srv.health() == 200
    assert not re.search(r"AddressSanitizer|runtime error:", srv.log_text())
