"""Per-queue concurrency through the real aws CLI, boto3 and raw signed requests.

A queue's limit is reservationPlanSettings.reservedSlots on a RESERVED queue
(what Debian's aws CLI / botocore 1.29 can set) or concurrentJobs on an
ON_DEMAND queue (newer MediaConvert models; sent here as a raw SigV4 request
since this botocore does not know the member). A server with 3 workers runs
3 slow jobs of a reservedSlots=1 queue one at a time while another queue's
job runs beside them; every output is checked with ffprobe. The same runs on
a real PostgreSQL (test_postgres.py's server and cluster) with two worker
processes claiming concurrently."""

import json
import os
import signal
import time
import urllib.error
import urllib.request

import botocore.exceptions
import pytest

import media
from conftest import Server
from test_postgres import Cluster, pg_url  # noqa: F401 (pg_url is a fixture)

SRC, DST = "qc-source", "qc-destination"
ROLE = "arn:aws:iam::000000000000:role/MediaConvert_Default_Role"
RESERVED = "qc-reserved"
PLAN = "Commitment=ONE_YEAR,RenewalType=EXPIRE,ReservedSlots=1"
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def mc_raw(srv, method, path, body=None):
    """SigV4-signed MediaConvert call -> (status, json): for members this
    botocore does not have (concurrentJobs)."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    data = json.dumps(body).encode() if body is not None else b""
    url = srv.endpoint + "/2017-08-29" + path
    req = AWSRequest(method=method, url=url, data=data,
                     headers={"Content-Type": "application/json"})
    SigV4Auth(Credentials(srv.access_key, srv.secret_key), "mediaconvert",
              srv.region).add_auth(req)
    r = urllib.request.Request(url, data=data if data else None, method=method,
                               headers=dict(req.headers.items()))
    try:
        with _OPENER.open(r, timeout=30) as resp:
            raw = resp.read()
            return resp.status, (json.loads(raw) if raw else None)
    except urllib.error.HTTPError as e:
        raw = e.read()
        return e.code, (json.loads(raw) if raw else None)


def client_error(fn, **kw):
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        fn(**kw)
    r = ei.value.response
    return r["ResponseMetadata"]["HTTPStatusCode"], r["Error"]["Message"]


def slow_job(modifier, queue):
    """HEVC 1280x720 of a 4 s clip: PROGRESSING for seconds (as in test_postgres.py)."""
    out = {"NameModifier": "-t", "ContainerSettings": {"Container": "MP4", "Mp4Settings": {}},
           "VideoDescription": {"Width": 1280, "Height": 720, "CodecSettings": {
               "Codec": "H_265",
               "H265Settings": {"RateControlMode": "QVBR", "MaxBitrate": 2000000}}}}
    settings = {
        "Inputs": [{"FileInput": f"s3://{SRC}/long.mov", "VideoSelector": {},
                    "AudioSelectors": {"Audio Selector 1": {"DefaultSelection": "DEFAULT"}}}],
        "OutputGroups": [{"Name": "File Group", "Outputs": [out], "OutputGroupSettings": {
            "Type": "FILE_GROUP_SETTINGS",
            "FileGroupSettings": {"Destination": f"s3://{DST}/{modifier}/"}}}]}
    return {"Role": ROLE, "Settings": settings, "Queue": queue}


def upload_media(s):
    s3 = s.client("s3")
    s3.create_bucket(Bucket=SRC)
    s3.create_bucket(Bucket=DST)
    long = media.make_clip(os.path.join(s.base, "long.mov"), duration=4.0, size="480x270")
    s3.upload_file(long, SRC, "long.mov")


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    s = Server(str(tmp_path_factory.mktemp("queueconc")))
    s.extra_args = ["--workers", "3"]
    s.start()
    upload_media(s)
    yield s
    problems = s.stop()
    assert not problems, problems


def test_reserved_queue_shape(srv):
    q = srv.aws("mediaconvert", "create-queue", "--name", RESERVED, "--pricing-plan", "RESERVED",
                "--reservation-plan-settings", PLAN)["Queue"]
    assert q["PricingPlan"] == "RESERVED" and q["Status"] == "ACTIVE", q
    plan = q["ReservationPlan"]
    assert plan["ReservedSlots"] == 1 and plan["Commitment"] == "ONE_YEAR", plan
    assert plan["RenewalType"] == "EXPIRE" and plan["Status"] == "ACTIVE", plan
    assert plan["ExpiresAt"] > plan["PurchasedAt"], plan
    got = srv.client("mediaconvert").get_queue(Name=RESERVED)["Queue"]
    assert got["ReservationPlan"]["ReservedSlots"] == 1, got
    # an update that leaves the plan alone keeps it (and the limit)
    upd = srv.aws("mediaconvert", "update-queue", "--name", RESERVED,
                  "--description", "one at a time")["Queue"]
    assert upd["ReservationPlan"]["ReservedSlots"] == 1 and upd["Description"], upd


def test_queue_limit_errors(srv):
    mc = srv.client("mediaconvert")
    status, msg = client_error(mc.create_queue, Name="qc-bad", PricingPlan="RESERVED")
    assert status == 400 and "reservationPlanSettings" in msg and "required" in msg, msg
    status, msg = client_error(mc.create_queue, Name="qc-bad", PricingPlan="RESERVED",
                               ReservationPlanSettings={"Commitment": "ONE_YEAR",
                                                        "RenewalType": "EXPIRE",
                                                        "ReservedSlots": 0})
    assert status == 400 and "reservationPlanSettings.reservedSlots" in msg, msg
    status, msg = client_error(mc.create_queue, Name="qc-bad",
                               ReservationPlanSettings={"Commitment": "ONE_YEAR",
                                                        "RenewalType": "EXPIRE",
                                                        "ReservedSlots": 2})
    assert status == 400 and "reservationPlanSettings" in msg and "ON_DEMAND" in msg, msg
    for bad in (0, 1001, -3):
        status, body = mc_raw(srv, "POST", "/queues", {"name": "qc-bad", "concurrentJobs": bad})
        assert status == 400 and body["message"].startswith("concurrentJobs:"), body
    status, body = mc_raw(srv, "POST", "/queues", {"name": "qc-bad", "concurrentJobs": "two"})
    assert status == 400 and "concurrentJobs" in body["message"], body
    status, body = mc_raw(srv, "POST", "/queues",
                          {"name": "qc-bad", "pricingPlan": "RESERVED", "concurrentJobs": 2,
                           "reservationPlanSettings": {"commitment": "ONE_YEAR",
                                                       "renewalType": "EXPIRE",
                                                       "reservedSlots": 2}})
    assert status == 400 and body["message"].startswith("concurrentJobs:"), body
    status, body = mc_raw(srv, "PUT", "/queues/" + "qc-none", {"concurrentJobs": 1})
    assert status == 404, body
    assert "qc-bad" not in [q["Name"] for q in mc.list_queues()["Queues"]]
    assert srv.alive()


def test_concurrent_jobs_member(srv):
    status, body = mc_raw(srv, "POST", "/queues", {"name": "qc-ondemand", "concurrentJobs": 2})
    assert status == 201 and body["queue"]["concurrentJobs"] == 2, body
    assert body["queue"]["pricingPlan"] == "ON_DEMAND", body
    status, body = mc_raw(srv, "PUT", "/queues/qc-ondemand", {"concurrentJobs": 1})
    assert status == 200 and body["queue"]["concurrentJobs"] == 1, body
    status, body = mc_raw(srv, "GET", "/queues/qc-ondemand")
    assert status == 200 and body["queue"]["concurrentJobs"] == 1, body
    # RESERVED queues take their limit from the plan only
    status, body = mc_raw(srv, "PUT", "/queues/" + RESERVED, {"concurrentJobs": 3})
    assert status == 400 and "RESERVED" in body["message"], body


def run_one_at_a_time(srv, queue, prefix):
    """3 slow jobs in queue (limit 1) and 1 in Default: at most one of queue's
    PROGRESSING at every poll, the Default job running beside one of them,
    all COMPLETE with probed outputs."""
    mc = srv.client("mediaconvert")
    ids = [mc.create_job(**slow_job(f"{prefix}r{i}", queue))["Job"]["Id"] for i in range(3)]
    other = mc.create_job(**slow_job(f"{prefix}other", "Default"))["Job"]["Id"]
    most, both, polls = 0, 0, 0
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        jobs = {j: mc.get_job(Id=j)["Job"] for j in ids + [other]}
        running = [j for j in ids if jobs[j]["Status"] == "PROGRESSING"]
        most = max(most, len(running))
        assert len(running) <= 1, [(j, jobs[j]["Status"]) for j in ids]
        assert mc.get_queue(Name=queue)["Queue"]["ProgressingJobsCount"] <= 1
        both += bool(running) and jobs[other]["Status"] == "PROGRESSING"
        polls += 1
        if all(jobs[j]["Status"] in ("COMPLETE", "ERROR", "CANCELED") for j in jobs):
            break
        time.sleep(0.2)
    statuses = {j: jobs[j]["Status"] for j in jobs}
    assert set(statuses.values()) == {"COMPLETE"}, (statuses, srv.log_text()[-4000:])
    assert most == 1 and both > 0, (most, both, polls)  # the other queue ran alongside
    # one after another: each job of queue started no earlier than the previous finished
    timing = sorted((jobs[j]["Timing"]["StartTime"], jobs[j]["Timing"]["FinishTime"])
                    for j in ids)
    for (_, fin), (start, _) in zip(timing, timing[1:]):
        assert start >= fin.replace(microsecond=0), timing
    s3 = srv.client("s3")
    for mod in [f"{prefix}r0", f"{prefix}r1", f"{prefix}r2", f"{prefix}other"]:
        path = os.path.join(srv.base, f"{mod}.mp4")
        s3.download_file(DST, f"{mod}/long-t.mp4", path)
        info = media.probe(path)
        v = media.stream(info, "video")
        assert v["codec_name"] == "hevc" and (v["width"], v["height"]) == (1280, 720), v
        assert float(info["format"]["duration"]) > 3.5, info["format"]


def test_reserved_queue_runs_one_job_at_a_time(srv):
    run_one_at_a_time(srv, RESERVED, "")


def test_postgres_two_worker_processes_respect_the_limit(tmp_path_factory, pg_url):
    """The same on PostgreSQL with two `cattube worker --db` processes, which
    claim concurrently (SKIP LOCKED): the queue row lock keeps the limit."""
    c = Cluster(str(tmp_path_factory.mktemp("qcpg")), pg_url)
    node = c.node("node")
    try:
        upload_media(node)
        status, body = mc_raw(node, "POST", "/queues", {"name": "qc-pg", "concurrentJobs": 1})
        assert status == 201 and body["queue"]["concurrentJobs"] == 1, body
        for name in ("w0", "w1"):
            c.start_worker(name)
        run_one_at_a_time(node, "qc-pg", "pg-")
    finally:
        for name in list(c.workers):
            c.stop_worker(name, signal.SIGKILL)
        problems = node.stop()
    assert not problems, problems
