"""The PostgreSQL engine: one real PostgreSQL (started here by
tests/pg/start_pg.sh), two `cattube serve --db postgres://...` API nodes
sharing one data directory for blobs, and three `cattube worker --db ...`
processes, one of them "on another host": no data directory, only --db
and --store (node B's S3 API).

  - 30 jobs submitted through both nodes all COMPLETE, each claimed and
    finished exactly once, with exactly one COMPLETE event per job at a
    webhook (events are claimed cluster-wide, so the two nodes' dispatchers
    and senders never both deliver one);
  - a worker killed with -9 mid-transcode: the job completes on another
    worker (RetryCount >= 1) with exactly one COMPLETE event;
  - a paused queue holds jobs until resumed (through the other node),
    priority order is observed, and cancelling a running job stops it;
  - S3 uploads through one node with a job template notification make
    exactly one job per object, though both nodes run an event dispatcher;
  - PostgreSQL restarts under the cluster: nodes and workers reconnect.

The nodes run with --workers 0 and a 3 s lease."""

import http.server
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.parse

import pytest

import media
from conftest import REPO, Server

LEASE = 3
SRC, DST = "pg-source", "pg-destination"
PG_DIR = os.path.join(REPO, "tests", "pg")


# ---------------------------------------------------------------- PostgreSQL

PG_STATE = {}


@pytest.fixture(scope="module")
def pg_url():
    # Not under pytest's basetemp: its 0700 root-owned directories would keep
    # the `postgres` user out.
    d = tempfile.mkdtemp(prefix="cattube-pg-")
    PG_STATE["dir"] = d
    try:
        out = subprocess.run([os.path.join(PG_DIR, "start_pg.sh"), d], capture_output=True,
                             text=True, timeout=120,
                             env=dict(os.environ, CT_PG_OWNER_PID=str(os.getpid())))
        assert out.returncode == 0, f"start_pg.sh failed:\n{out.stderr}"
        base = out.stdout.strip().splitlines()[-1]
        subprocess.run(["psql", base + "/postgres", "-qc", "CREATE DATABASE cattube"],
                       check=True, capture_output=True, timeout=60)
        yield base + "/cattube"
    finally:
        subprocess.run([os.path.join(PG_DIR, "stop_pg.sh"), d], capture_output=True, timeout=120)
        shutil.rmtree(d, ignore_errors=True)


def psql(url, sql):
    out = subprocess.run(["psql", url, "-AtXqc", sql], capture_output=True, text=True,
                         timeout=60, check=True)
    return [line.split("|") for line in out.stdout.splitlines() if line]


# ---------------------------------------------------------------- webhook receiver

class Receiver:
    """Records every POSTed job event (200 to all)."""

    def __init__(self):
        self.events = []
        self.lock = threading.Lock()
        recv = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with recv.lock:
                    recv.events.append(json.loads(body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/jobs"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def statuses(self, job_id):
        with self.lock:
            return [e["detail"]["status"] for e in self.events
                    if e.get("detail", {}).get("jobId") == job_id]

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def admin(server, method, path, body=None):
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    import http.client
    url = server.endpoint + path
    data = json.dumps(body).encode() if body is not None else b""
    req = AWSRequest(method=method, url=url, data=data,
                     headers={"Content-Type": "application/json"} if body is not None else {})
    SigV4Auth(Credentials(server.access_key, server.secret_key), "cattube",
              server.region).add_auth(req)
    u = urllib.parse.urlsplit(url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    c.request(method, u.path, body=data or None, headers=dict(req.headers.items()))
    r = c.getresponse()
    raw = r.read()
    c.close()
    return r.status, (json.loads(raw) if raw else None)


# ---------------------------------------------------------------- the cluster

class Cluster:
    def __init__(self, base, url):
        self.base, self.url = base, url
        self.data_dir = os.path.join(base, "shared-data")
        self.nodes = []
        self.workers = {}
        self.real_bin = None

    def node(self, name):
        srv = Server(os.path.join(self.base, name))
        os.makedirs(srv.base, exist_ok=True)
        srv.data_dir = self.data_dir  # both nodes keep blobs in one directory
        srv.extra_args = ["--db", self.url, "--workers", "0", "--lease-seconds", str(LEASE)]
        self.real_bin = srv.bin
        srv.start()
        self.nodes.append(srv)
        return srv

    def start_worker(self, name, remote=False):
        log = open(os.path.join(self.base, f"worker-{name}.log"), "ab")
        cmd = [self.real_bin, "worker", "--db", self.url, "--lease-seconds", str(LEASE),
               "--worker-id", name]
        env = dict(os.environ)
        if remote:  # no data directory: inputs and outputs through node B's S3 API
            node = self.nodes[-1]
            cmd += ["--store", node.endpoint, "--scratch",
                    os.path.join(self.base, f"scratch-{name}")]
            env.update(AWS_ACCESS_KEY_ID=node.access_key, AWS_SECRET_ACCESS_KEY=node.secret_key,
                       AWS_REGION=node.region)
        else:
            cmd += ["--data", self.data_dir]
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env,
                             start_new_session=True)
        self.workers[name] = p
        return p

    def stop_worker(self, name, sig=signal.SIGTERM):
        p = self.workers.pop(name)
        if p.poll() is None:
            os.killpg(p.pid, sig)  # the worker and its transcode child
            p.wait(timeout=30)

    def worker_log(self, name):
        with open(os.path.join(self.base, f"worker-{name}.log"), "rb") as f:
            return f.read().decode("utf-8", "replace")

    def claims(self):
        """{job id: [worker names that claimed it]} from the worker logs."""
        out = {}
        for f in os.listdir(self.base):
            m = re.fullmatch(r"worker-(.+)\.log", f)
            if m:
                for jid in re.findall(r"worker: job (\S+) claimed", self.worker_log(m.group(1))):
                    out.setdefault(jid, []).append(m.group(1))
        return out


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, pg_url):
    c = Cluster(str(tmp_path_factory.mktemp("pgcluster")), pg_url)
    a = c.node("nodeA")
    c.node("nodeB")
    s3 = a.client("s3")
    s3.create_bucket(Bucket=SRC)
    s3.create_bucket(Bucket=DST)
    tiny = media.make_clip(os.path.join(c.base, "tiny.mov"), duration=0.5, size="160x90")
    s3.upload_file(tiny, SRC, "tiny.mov")
    long = media.make_clip(os.path.join(c.base, "long.mov"), duration=8.0, size="480x270")
    s3.upload_file(long, SRC, "long.mov")
    c.receiver = Receiver()
    status, out = admin(a, "POST", "/cattube/admin/webhooks",
                        {"name": "jobs", "url": c.receiver.url,
                         "jobEvents": {"statuses": ["COMPLETE", "ERROR", "CANCELED"]}})
    assert status == 201, out
    for i in range(3):
        c.start_worker(f"w{i}", remote=i == 2)
    yield c
    for name in list(c.workers):
        c.stop_worker(name, signal.SIGKILL)
    c.receiver.close()
    problems = []
    for n in c.nodes:
        problems += n.stop()
    for f in os.listdir(c.base):
        if f.startswith("worker-"):
            with open(os.path.join(c.base, f), "rb") as fh:
                log = fh.read().decode("utf-8", "replace")
            if "Sanitizer" in log or "runtime error:" in log:
                problems.append(f"sanitizer report in {f}")
    assert not problems, problems


def tiny_job(modifier, key="tiny.mov", priority=0, queue="Default", slow=False):
    """slow: HEVC at 1280x720, so that a job on long.mov stays PROGRESSING
    for seconds even on an idle machine (a 160x90 H.264 encode of it can
    finish between two 0.2 s polls, and the kill/cancel tests must catch it
    running)."""
    video = {"Width": 160, "Height": 90, "CodecSettings": {
        "Codec": "H_264", "H264Settings": {"RateControlMode": "QVBR", "MaxBitrate": 200000}}}
    if slow:
        video = {"Width": 1280, "Height": 720, "CodecSettings": {
            "Codec": "H_265", "H265Settings": {"RateControlMode": "QVBR", "MaxBitrate": 2000000}}}
    out = {"NameModifier": "-t", "ContainerSettings": {"Container": "MP4", "Mp4Settings": {}},
           "VideoDescription": video}
    settings = {
        "Inputs": [{"FileInput": f"s3://{SRC}/{key}", "VideoSelector": {},
                    "AudioSelectors": {"Audio Selector 1": {"DefaultSelection": "DEFAULT"}}}],
        "OutputGroups": [{"Name": "File Group", "Outputs": [out], "OutputGroupSettings": {
            "Type": "FILE_GROUP_SETTINGS",
            "FileGroupSettings": {"Destination": f"s3://{DST}/{modifier}/"}}}]}
    return {"Role": "arn:aws:iam::111122223333:role/MediaConvert_Default_Role",
            "Settings": settings, "Priority": priority, "Queue": queue}


def wait_status(srv, job_id, statuses, timeout=120, min_percent=None):
    mc = srv.client("mediaconvert")
    deadline = time.monotonic() + timeout
    job = None
    while time.monotonic() < deadline:
        job = mc.get_job(Id=job_id)["Job"]
        if job["Status"] in statuses and (min_percent is None or
                                          job.get("JobPercentComplete", 0) >= min_percent):
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} never reached {statuses}: {job}")


def wait_events(cluster, job_id, status, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if status in cluster.receiver.statuses(job_id):
            return
        time.sleep(0.2)
    raise AssertionError(f"no {status} event for {job_id}: {cluster.receiver.statuses(job_id)}")


def outputs(srv, prefix):
    r = srv.client("s3").list_objects_v2(Bucket=DST, Prefix=prefix + "/")
    return sorted(o["Key"] for o in r.get("Contents", []))


def test_thirty_jobs_through_two_nodes_each_once(cluster):
    a, b = cluster.nodes
    ids = []
    for i in range(30):
        node = (a, b)[i % 2]
        ids.append(node.client("mediaconvert").create_job(**tiny_job(f"many{i}"))["Job"]["Id"])
    assert len(set(ids)) == 30
    for i, jid in enumerate(ids):
        job = wait_status((b, a)[i % 2], jid, ("COMPLETE", "ERROR", "CANCELED"), timeout=300)
        assert job["Status"] == "COMPLETE", job
        assert job["RetryCount"] == 0, job
    for jid in ids:
        wait_events(cluster, jid, "COMPLETE")
    time.sleep(2)  # a duplicate delivery would arrive by now
    for jid in ids:
        assert cluster.receiver.statuses(jid) == ["COMPLETE"], (jid, cluster.receiver.statuses(jid))
    claims = cluster.claims()
    for jid in ids:
        assert len(claims.get(jid, [])) == 1, (jid, claims.get(jid))
    assert len({w for jid in ids for w in claims[jid]}) >= 2, "one worker took every job"
    for i in range(30):
        assert outputs(a, f"many{i}") == [f"many{i}/tiny-t.mp4"]
    # Both nodes see the same jobs (one database).
    listed = {j["Id"] for j in b.client("mediaconvert").get_paginator("list_jobs")
              .paginate(Status="COMPLETE").build_full_result()["Jobs"]}
    assert set(ids) <= listed
    rows = psql(cluster.url, "SELECT count(*) FROM job_events WHERE status='COMPLETE' AND job_id IN "
                "(%s)" % ",".join("'%s'" % j for j in ids))
    assert rows == [["30"]]


def test_killed_worker_job_completes_on_another(cluster):
    a, b = cluster.nodes
    job = tiny_job("kill9", key="long.mov", slow=True)
    jid = a.client("mediaconvert").create_job(**job)["Job"]["Id"]
    wait_status(b, jid, ("PROGRESSING",), min_percent=1)
    owner = cluster.claims()[jid]
    assert len(owner) == 1, owner
    cluster.stop_worker(owner[0], signal.SIGKILL)
    job = wait_status(a, jid, ("COMPLETE", "ERROR"), timeout=240)
    assert job["Status"] == "COMPLETE", job
    assert job["RetryCount"] >= 1, job
    claims = cluster.claims()[jid]  # not in time order: logs are read one after another
    assert len(claims) == 2 and owner[0] in claims and len(set(claims)) == 2, claims
    assert outputs(a, "kill9") == ["kill9/long-t.mp4"]
    wait_events(cluster, jid, "COMPLETE")
    time.sleep(2)
    assert cluster.receiver.statuses(jid) == ["COMPLETE"]
    cluster.start_worker(owner[0] + "-again")


def test_paused_queue_priority_and_cancel(cluster):
    a, b = cluster.nodes
    # One worker, so that there is a strict order to observe: the remote one
    # (no data directory) when the kill test left it alive.
    keep = "w2" if "w2" in cluster.workers else list(cluster.workers)[0]
    for name in list(cluster.workers):
        if name != keep:
            cluster.stop_worker(name)
    mca, mcb = a.client("mediaconvert"), b.client("mediaconvert")
    mca.create_queue(Name="pgq")
    mca.update_queue(Name="pgq", Status="PAUSED")
    low = mcb.create_job(**tiny_job("low", priority=-10, queue="pgq"))["Job"]["Id"]
    mid = mca.create_job(**tiny_job("mid", priority=0, queue="pgq"))["Job"]["Id"]
    high = mcb.create_job(**tiny_job("high", priority=10, queue="pgq"))["Job"]["Id"]
    time.sleep(2.5)  # several worker polls and wake-ups
    for jid in (low, mid, high):
        assert mca.get_job(Id=jid)["Job"]["Status"] == "SUBMITTED"
    mcb.update_queue(Name="pgq", Status="ACTIVE")
    done = [wait_status(a, jid, ("COMPLETE",)) for jid in (high, mid, low)]
    starts = [j["Timing"]["StartTime"] for j in done]
    finishes = [j["Timing"]["FinishTime"] for j in done]
    assert starts == sorted(starts), starts
    assert finishes[0] <= starts[1] and finishes[1] <= starts[2], (starts, finishes)
    claims = cluster.claims()
    assert all(claims[jid] == [keep] for jid in (high, mid, low)), claims

    # Cancel mid-run, through the node that did not create the job.
    jid = mca.create_job(**tiny_job("cancel", key="long.mov", slow=True))["Job"]["Id"]
    wait_status(b, jid, ("PROGRESSING",), min_percent=1)
    mcb.cancel_job(Id=jid)
    job = wait_status(a, jid, ("CANCELED",), timeout=10)
    assert job["Status"] == "CANCELED"
    wait_events(cluster, jid, "CANCELED")
    time.sleep(0.5)
    assert outputs(a, "cancel") == []


def test_s3_events_make_one_job_each_across_nodes(cluster):
    a, b = cluster.nodes
    for name in ("ev0", "ev1"):
        if name not in cluster.workers:
            cluster.start_worker(name)
    mca = a.client("mediaconvert")
    settings = tiny_job("events")["Settings"]
    settings["Inputs"][0].pop("FileInput")
    arn = mca.create_job_template(Name="pg-events", Settings=settings)["JobTemplate"]["Arn"]
    s3b = b.client("s3")
    s3b.create_bucket(Bucket="pg-events")
    s3b.put_bucket_notification_configuration(Bucket="pg-events", NotificationConfiguration={
        "LambdaFunctionConfigurations": [{"Id": "t", "LambdaFunctionArn": arn,
                                          "Events": ["s3:ObjectCreated:*"]}]})
    tiny = os.path.join(cluster.base, "tiny.mov")
    keys = [f"ev{i}.mov" for i in range(6)]
    for k in keys:
        s3b.upload_file(tiny, "pg-events", k)
    want = {f"s3://pg-events/{k}" for k in keys}
    deadline = time.monotonic() + 180
    while True:
        jobs = [j for j in mca.get_paginator("list_jobs").paginate().build_full_result()["Jobs"]
                if j["Settings"]["Inputs"][0].get("FileInput") in want]
        if len(jobs) >= len(keys) and all(j["Status"] == "COMPLETE" for j in jobs):
            break
        assert time.monotonic() < deadline, [(j["Id"], j["Status"]) for j in jobs]
        time.sleep(0.5)
    time.sleep(2)  # a second dispatch of an event would have made its job by now
    jobs = [j for j in mca.get_paginator("list_jobs").paginate().build_full_result()["Jobs"]
            if j["Settings"]["Inputs"][0].get("FileInput") in want]
    assert sorted(j["Settings"]["Inputs"][0]["FileInput"] for j in jobs) == sorted(want)
    rows = psql(cluster.url, "SELECT count(*) FROM outbox WHERE bucket='pg-events' AND done=0")
    assert rows == [["0"]]


def test_database_restart(cluster):
    a, b = cluster.nodes
    if not cluster.workers:
        cluster.start_worker("after-restart")
    out = subprocess.run([os.path.join(PG_DIR, "restart_pg.sh"), PG_STATE["dir"]],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    # The first statement on each broken connection reconnects and is retried.
    for node in (a, b):
        assert node.client("s3").head_bucket(Bucket=SRC)["ResponseMetadata"]["HTTPStatusCode"] \
            == 200
    jid = b.client("mediaconvert").create_job(**tiny_job("restart"))["Job"]["Id"]
    job = wait_status(a, jid, ("COMPLETE", "ERROR"), timeout=120)
    assert job["Status"] == "COMPLETE", job
    wait_events(cluster, jid, "COMPLETE")
    assert outputs(a, "restart") == ["restart/tiny-t.mp4"]
