"""The durable queue with separate worker processes (SQLite engine):
a worker killed with -9 mid-transcode loses its lease and the job completes
on another worker (RetryCount 1); a paused queue holds jobs; priority order;
cancelling a running job; SIGTERM hands a job back.

The server runs with --workers 0 and a 3 s lease; `cattube worker`
processes share its data directory."""

import json
import os
import signal
import subprocess
import time

import pytest

import media
from conftest import Server

LEASE = 3
SRC, DST = "wk-source", "wk-destination"
HERE = os.path.dirname(os.path.abspath(__file__))
SEED_JOB = os.path.join(os.path.dirname(os.path.dirname(HERE)), "examples", "seed", "job.json")


@pytest.fixture(scope="module")
def wserver(tmp_path_factory):
    base = str(tmp_path_factory.mktemp("workers"))
    srv = Server(base)
    srv.extra_args = ["--workers", "0", "--lease-seconds", str(LEASE)]
    srv.real_bin = srv.bin
    srv.start()
    s3 = srv.client("s3")
    s3.create_bucket(Bucket=SRC)
    s3.create_bucket(Bucket=DST)
    clip = media.make_clip(os.path.join(base, "long.mov"), duration=8.0, size="480x270")
    s3.upload_file(clip, SRC, "long.mov")
    short = media.make_clip(os.path.join(base, "short.mov"), duration=1.0)
    s3.upload_file(short, SRC, "short.mov")
    srv.workers = []
    yield srv
    for p in srv.workers:
        if p.poll() is None:
            p.kill()
            p.wait()
    problems = srv.stop()
    assert not problems, problems


def start_worker(srv, name):
    log = open(os.path.join(srv.base, f"worker-{name}.log"), "ab")
    p = subprocess.Popen([srv.real_bin, "worker", "--data", srv.data_dir, "--lease-seconds",
                          str(LEASE), "--worker-id", name], stdin=subprocess.DEVNULL,
                         stdout=log, stderr=log, start_new_session=True)
    srv.workers.append(p)
    return p


def stop_worker(p, sig=signal.SIGTERM):
    if p.poll() is None:
        os.killpg(p.pid, sig)  # the worker and its transcode child
        p.wait(timeout=30)


def job_for(key, modifier, priority=0, queue="Default"):
    with open(SEED_JOB) as f:
        job = json.load(f)
    s = job["Settings"]
    s["Inputs"][0]["FileInput"] = f"s3://{SRC}/{key}"
    grp = s["OutputGroups"][0]
    grp["OutputGroupSettings"]["FileGroupSettings"]["Destination"] = f"s3://{DST}/{modifier}/"
    return {"Role": job["Role"], "Settings": s, "Priority": priority, "Queue": queue}


def create(srv, key, modifier, **kw):
    mc = srv.client("mediaconvert")
    return mc.create_job(**job_for(key, modifier, **kw))["Job"]["Id"]


def wait_status(srv, job_id, statuses, timeout=60, min_percent=None):
    mc = srv.client("mediaconvert")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = mc.get_job(Id=job_id)["Job"]
        if job["Status"] in statuses and (min_percent is None or
                                          job.get("JobPercentComplete", 0) >= min_percent):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} never reached {statuses}: {job}")


def outputs(srv, prefix):
    r = srv.client("s3").list_objects_v2(Bucket=DST, Prefix=prefix + "/")
    return sorted(o["Key"] for o in r.get("Contents", []))


def test_killed_worker_job_completes_elsewhere(wserver):
    a = start_worker(wserver, "wA")
    jid = create(wserver, "long.mov", "kill9")
    wait_status(wserver, jid, ("PROGRESSING",), min_percent=1)
    stop_worker(a, signal.SIGKILL)
    b = start_worker(wserver, "wB")
    job = wait_status(wserver, jid, ("COMPLETE", "ERROR"), timeout=180)
    assert job["Status"] == "COMPLETE", job
    assert job["RetryCount"] == 1, job
    assert outputs(wserver, "kill9") == ["kill9/long-hd.mp4", "kill9/long-sd.mp4"]
    stop_worker(b)


def test_paused_queue_holds_jobs_and_priority_order(wserver):
    mc = wserver.client("mediaconvert")
    mc.create_queue(Name="wkq")
    mc.update_queue(Name="wkq", Status="PAUSED")
    low = create(wserver, "short.mov", "low", priority=-10, queue="wkq")
    high = create(wserver, "short.mov", "high", priority=10, queue="wkq")
    w = start_worker(wserver, "wC")
    time.sleep(2.5)
    assert mc.get_job(Id=low)["Job"]["Status"] == "SUBMITTED"
    assert mc.get_job(Id=high)["Job"]["Status"] == "SUBMITTED"
    mc.update_queue(Name="wkq", Status="ACTIVE")
    jl = wait_status(wserver, low, ("COMPLETE",), timeout=120)
    jh = wait_status(wserver, high, ("COMPLETE",), timeout=120)
    assert jh["Timing"]["StartTime"] <= jl["Timing"]["StartTime"]
    assert jh["Timing"]["FinishTime"] <= jl["Timing"]["StartTime"], (jh["Timing"], jl["Timing"])
    stop_worker(w)


def test_cancel_running_job(wserver):
    w = start_worker(wserver, "wD")
    jid = create(wserver, "long.mov", "cancel")
    wait_status(wserver, jid, ("PROGRESSING",), min_percent=1)
    t0 = time.monotonic()
    wserver.client("mediaconvert").cancel_job(Id=jid)
    job = wait_status(wserver, jid, ("CANCELED",), timeout=10)
    assert time.monotonic() - t0 < 5, "cancel took too long"
    assert job["Status"] == "CANCELED"
    time.sleep(0.5)
    assert outputs(wserver, "cancel") == []
    stop_worker(w)


def test_sigterm_hands_job_back(wserver):
    a = start_worker(wserver, "wE")
    jid = create(wserver, "long.mov", "term")
    wait_status(wserver, jid, ("PROGRESSING",), min_percent=1)
    t0 = time.monotonic()
    stop_worker(a, signal.SIGTERM)
    assert time.monotonic() - t0 < 10, "worker did not stop promptly on SIGTERM"
    b = start_worker(wserver, "wF")
    job = wait_status(wserver, jid, ("COMPLETE", "ERROR"), timeout=180)
    assert job["Status"] == "COMPLETE", job
    assert outputs(wserver, "term") == ["term/long-hd.mp4", "term/long-sd.mp4"]
    stop_worker(b)
