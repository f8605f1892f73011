"""Soak test of the durable queue (SQLite engine): many tiny jobs while jobs
are cancelled at random and worker processes are killed with -9 at random
and restarted. Reports lost, duplicated and stuck jobs; all must be 0.

Set-up: `cattube serve --workers 0` with a short lease, three `cattube
worker DIR` processes on its data directory, a webhook receiver on loopback
subscribed to job state events, and one 64x64, 0.3 s clip. Every job has its
own destination prefix j<i>/ and UserMetadata {"i": "<i>"}, and one tiny
H.264 output.

Checked at the end:
  - lost:       a job whose CreateJob succeeded but that ListJobs does not show
  - duplicated: more than one job for one request (each request carries a
                ClientRequestToken and some are sent twice on purpose), or more
                than one terminal state event for a job
  - stuck:      a job not COMPLETE/CANCELED/ERROR when the deadline passes
  - events:     exactly one terminal "MediaConvert Job State Change" per job,
                with the job's final status, on the webhook; on the admin SSE
                stream never two, and one per job unless the stream reported
                skipped frames (it is a live view with a bounded ring)
  - outputs:    exist exactly for COMPLETE jobs (and ffprobe checks each);
                none for CANCELED jobs
  - ERROR:      none, except the documented retry limit: a job whose worker
                was killed under it more than 3 times ends ERROR 1999 "job
                abandoned" with RetryCount 3 (reported as abandoned; rare,
                and then it must have no outputs like any non-COMPLETE job)

Env: CATTUBE_SOAK_JOBS (default 200), CATTUBE_SOAK_SEED (default 20261124;
the seed is printed so a failing run can be repeated), CATTUBE_SOAK_DEADLINE
(seconds to wait for every job to finish after the last submission; 180)."""

import http.client
import http.server
import json
import os
import random
import signal
import subprocess
import threading
import time

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

import media
from conftest import Server

JOBS = int(os.environ.get("CATTUBE_SOAK_JOBS", "200"))
SEED = int(os.environ.get("CATTUBE_SOAK_SEED", "20261124"))
DEADLINE = float(os.environ.get("CATTUBE_SOAK_DEADLINE", "180"))
LEASE = 2
WORKERS = 3
CANCEL_RATE = 0.10       # share of jobs cancelled at a random later moment
CANCEL_RUNNING_RATE = 0.06  # per submission: cancel a job that is PROGRESSING now
RESEND_RATE = 0.08       # share of CreateJob requests sent twice (same token)
SRC, DST, QUEUE = "soak-src", "soak-dst", "soak"
TERMINAL = ("COMPLETE", "CANCELED", "ERROR")


# ---------------------------------------------------------------- receiver

class Receiver:
    """Records every job event POSTed to it (always answers 200)."""

    def __init__(self):
        self.events = []
        self.lock = threading.Lock()
        recv = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.headers.get("x-cattube-event-type") == "mediaconvert":
                    with recv.lock:
                        recv.events.append(json.loads(body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/soak"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def snapshot(self):
        with self.lock:
            return list(self.events)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class SSE:
    """Reads the admin event stream (GET /cattube/admin/events) in a thread:
    the job events, and how many frames the server said this client missed
    (the stream is a live view with a bounded replay ring)."""

    def __init__(self, srv):
        req = AWSRequest(method="GET", url=srv.endpoint + "/cattube/admin/events")
        SigV4Auth(Credentials(srv.access_key, srv.secret_key), "cattube",
                  srv.region).add_auth(req)
        self.conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=120)
        self.conn.request("GET", "/cattube/admin/events", headers=dict(req.headers.items()))
        self.resp = self.conn.getresponse()
        assert self.resp.status == 200
        self.events, self.missed, self.lock = [], 0, threading.Lock()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        ev = {}
        try:
            for raw in self.resp:
                line = raw.decode().rstrip("\n")
                if line.startswith(": missed "):
                    with self.lock:
                        self.missed += int(line.split()[2])
                elif not line:
                    if ev.get("event") == "mediaconvert" and "data" in ev:
                        with self.lock:
                            self.events.append(json.loads(ev["data"]))
                    ev = {}
                elif not line.startswith(":") and ":" in line:
                    k, v = line.split(":", 1)
                    ev[k] = v[1:] if v.startswith(" ") else v
        except Exception:  # noqa: BLE001 - the stream ends when the server stops
            pass

    def snapshot(self):
        with self.lock:
            return list(self.events), self.missed

    def close(self):
        try:
            self.conn.sock.shutdown(2)
        except OSError:
            pass
        self.conn.close()


def admin_post(srv, path, body):
    data = json.dumps(body).encode()
    req = AWSRequest(method="POST", url=srv.endpoint + path, data=data,
                     headers={"Content-Type": "application/json"})
    SigV4Auth(Credentials(srv.access_key, srv.secret_key), "cattube", srv.region).add_auth(req)
    c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
    c.request("POST", path, body=data, headers=dict(req.headers.items()))
    r = c.getresponse()
    out = r.read()
    c.close()
    assert r.status == 201, (r.status, out)
    return json.loads(out)


# ---------------------------------------------------------------- workers

class Workers:
    """WORKERS `cattube worker` processes; kill9() and restart() one by index."""

    def __init__(self, srv):
        self.srv, self.procs, self.kills, self.starts = srv, [None] * WORKERS, 0, 0
        self.lock = threading.Lock()
        for i in range(WORKERS):
            self.start(i)

    def start(self, i):
        self.starts += 1
        log = open(os.path.join(self.srv.base, f"worker-{i}.log"), "ab")
        self.procs[i] = subprocess.Popen(
            [self.srv.real_bin, "worker", "--data", self.srv.data_dir, "--lease-seconds",
             str(LEASE), "--worker-id", f"soak{i}-{self.starts}"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        log.close()

    def kill9(self, i):
        with self.lock:
            p = self.procs[i]
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)  # the transcode child has PDEATHSIG
                self.kills += 1
            p.wait(timeout=30)
            self.start(i)

    def stop(self):
        with self.lock:
            for p in self.procs:
                if p.poll() is None:
                    os.killpg(p.pid, signal.SIGTERM)
            for p in self.procs:
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(p.pid, signal.SIGKILL)
                    p.wait()


class Chaos(threading.Thread):
    """Kills a random worker with -9 every 0.5-2.5 s until stopped."""

    def __init__(self, workers, rng):
        super().__init__(daemon=True)
        self.workers, self.rng, self.halt = workers, rng, threading.Event()

    def run(self):
        while not self.halt.wait(self.rng.uniform(0.5, 2.5)):
            self.workers.kill9(self.rng.randrange(WORKERS))


# ---------------------------------------------------------------- fixture

@pytest.fixture(scope="module")
def soak(tmp_path_factory):
    base = str(tmp_path_factory.mktemp("soak"))
    srv = Server(base)
    srv.extra_args = ["--workers", "0", "--lease-seconds", str(LEASE)]
    srv.real_bin = srv.bin
    srv.start()
    recv = Receiver()
    workers = sse = None
    try:
        admin_post(srv, "/cattube/admin/webhooks",
                   {"name": "soak", "url": recv.url, "jobEvents": {"queues": [QUEUE]}})
        s3 = srv.client("s3")
        s3.create_bucket(Bucket=SRC)
        s3.create_bucket(Bucket=DST)
        clip = media.make_clip(os.path.join(base, "clip.mov"), duration=0.3, size="64x64",
                               audio=False)
        s3.upload_file(clip, SRC, "clip.mov")
        srv.client("mediaconvert").create_queue(Name=QUEUE)
        workers = Workers(srv)
        sse = SSE(srv)
        yield srv, recv, workers, sse
    finally:
        if workers:
            workers.stop()
        if sse:
            sse.close()
        recv.close()
        problems = srv.stop()
        assert not problems, problems


def job_request(i):
    return {
        "Role": "arn:aws:iam::000000000000:role/MediaConvert_Default_Role",
        "Queue": QUEUE,
        "ClientRequestToken": f"soak-{SEED}-{i}",
        "UserMetadata": {"i": str(i)},
        "Settings": {
            "Inputs": [{"FileInput": f"s3://{SRC}/clip.mov", "VideoSelector": {}}],
            "OutputGroups": [{
                "Name": "File Group",
                "OutputGroupSettings": {"Type": "FILE_GROUP_SETTINGS", "FileGroupSettings": {
                    "Destination": f"s3://{DST}/j{i}/"}},
                "Outputs": [{
                    "NameModifier": "-o",
                    "ContainerSettings": {"Container": "MP4", "Mp4Settings": {}},
                    "VideoDescription": {"Width": 64, "Height": 64, "CodecSettings": {
                        "Codec": "H_264", "H264Settings": {
                            "RateControlMode": "QVBR", "MaxBitrate": 200000}}}}],
            }],
        },
    }


def list_jobs(mc):
    jobs, token = [], None
    while True:
        kw = {"Queue": QUEUE, "MaxResults": 20}
        if token:
            kw["NextToken"] = token
        r = mc.list_jobs(**kw)
        jobs += r["Jobs"]
        token = r.get("NextToken")
        if not token:
            return jobs


def list_outputs(s3):
    keys, token = [], None
    while True:
        kw = {"Bucket": DST, "MaxKeys": 1000}
        if token:
            kw["ContinuationToken"] = token
        r = s3.list_objects_v2(**kw)
        keys += [o["Key"] for o in r.get("Contents", [])]
        token = r.get("NextContinuationToken")
        if not token:
            return keys


# ---------------------------------------------------------------- the soak

def submit_all(mc, rng):
    """Submits JOBS jobs, resending some, cancelling some later. Returns
    ({i: id}, {i: create error}, duplicates-by-resend, {status seen just before
    the cancel: count})."""
    ids, create_errors, resend_mismatch = {}, {}, []
    cancel_at = {}          # submission index -> [job indexes to cancel then]
    cancels = {"SUBMITTED": 0, "PROGRESSING": 0, "finished": 0, "accepted": {}}
    for i in range(JOBS):
        req = job_request(i)
        try:
            ids[i] = mc.create_job(**req)["Job"]["Id"]
            if rng.random() < RESEND_RATE:
                again = mc.create_job(**req)["Job"]["Id"]
                if again != ids[i]:
                    resend_mismatch.append((i, ids[i], again))
        except Exception as e:  # noqa: BLE001 - counted and reported
            create_errors[i] = repr(e)
        if rng.random() < CANCEL_RATE:
            cancel_at.setdefault(i + rng.randint(0, 40), []).append(i)
        for c in cancel_at.pop(i, []):
            cancel(mc, ids, c, cancels)
        if rng.random() < CANCEL_RUNNING_RATE:
            cancel_running(mc, rng, cancels)
        time.sleep(rng.uniform(0, 0.08))  # jobs are in every state when cancels land
    for c in sorted(x for v in cancel_at.values() for x in v):
        cancel(mc, ids, c, cancels)
    return ids, create_errors, resend_mismatch, cancels


def cancel(mc, ids, i, cancels):
    if i not in ids:
        return
    before = mc.get_job(Id=ids[i])["Job"]
    try:
        mc.cancel_job(Id=ids[i])
        cancels[before["Status"] if before["Status"] in cancels else "PROGRESSING"] += 1
        cancels["accepted"][ids[i]] = before.get("CurrentPhase", before["Status"])
    except mc.exceptions.ConflictException:
        cancels["finished"] += 1  # already finished: 409 is the right answer


def cancel_running(mc, rng, cancels):
    """Cancels a job that is transcoding right now (if any): the race with
    the worker's finish and output commit is the one worth hammering."""
    running = mc.list_jobs(Queue=QUEUE, Status="PROGRESSING", MaxResults=20)["Jobs"]
    if not running:
        return
    job = rng.choice(running)
    try:
        mc.cancel_job(Id=job["Id"])
        cancels["PROGRESSING"] += 1
        cancels["accepted"][job["Id"]] = job.get("CurrentPhase", "PROGRESSING")
    except mc.exceptions.ConflictException:
        cancels["finished"] += 1


def wait_terminal(mc, ids, deadline):
    jobs = {}
    while time.monotonic() < deadline:
        jobs = {j["Id"]: j for j in list_jobs(mc)}
        if all(jobs.get(x, {}).get("Status") in TERMINAL for x in ids.values()):
            break
        time.sleep(0.5)
    return jobs


def wait_events(recv, sse, ids, deadline):
    want = set(ids.values())

    def terminal(events):
        return {e["detail"]["jobId"] for e in events if e["detail"]["status"] in TERMINAL}

    while time.monotonic() < deadline:
        sse_events, missed = sse.snapshot()
        if want <= terminal(recv.snapshot()) and (missed or want <= terminal(sse_events)):
            break
        time.sleep(0.25)
    time.sleep(2.0)  # let any duplicate delivery arrive before counting
    return recv.snapshot()


def test_soak(soak, capsys, tmp_path):
    srv, recv, workers, sse = soak
    rng = random.Random(SEED)
    mc, s3 = srv.client("mediaconvert"), srv.client("s3")
    t0 = time.monotonic()
    chaos = Chaos(workers, random.Random(SEED + 1))
    chaos.start()
    ids, create_errors, resend_mismatch, cancels = submit_all(mc, rng)
    t_submitted = time.monotonic()
    # Keep killing while most of the work runs, then let the rest finish.
    stop_chaos_at = t_submitted + 20
    while time.monotonic() < stop_chaos_at:
        live = [j for j in list_jobs(mc) if j["Status"] not in TERMINAL]
        if len(live) <= WORKERS:
            break
        time.sleep(0.5)
    chaos.halt.set()
    chaos.join()
    jobs = wait_terminal(mc, ids, time.monotonic() + DEADLINE)
    t_done = time.monotonic()
    events = wait_events(recv, sse, ids, time.monotonic() + 60)

    # ---- jobs: lost, duplicated, stuck ----
    by_index = {}
    for j in jobs.values():
        by_index.setdefault(int(j["UserMetadata"]["i"]), []).append(j)
    lost = sorted(i for i, jid in ids.items() if jid not in jobs)
    dup_jobs = sorted(i for i, js in by_index.items() if len(js) > 1)
    stuck = sorted((i, jobs[jid]["Status"]) for i, jid in ids.items()
                   if jid in jobs and jobs[jid]["Status"] not in TERMINAL)
    status = {i: jobs[jid]["Status"] for i, jid in ids.items() if jid in jobs}
    count = {s: sum(1 for v in status.values() if v == s) for s in TERMINAL}
    errors = {i: (jobs[ids[i]].get("ErrorCode"), jobs[ids[i]].get("ErrorMessage"),
                  jobs[ids[i]].get("RetryCount")) for i, s in status.items() if s == "ERROR"}
    abandoned = sorted(i for i, (code, msg, retries) in errors.items()
                       if code == 1999 and "abandoned" in (msg or "") and retries >= 3)
    for i in abandoned:
        del errors[i]
    retried = sum(1 for i in status if jobs[ids[i]].get("RetryCount", 0) > 0)
    # CancelJob answered 202, yet the job completed (and kept its outputs)
    accepted = cancels.pop("accepted")
    cancel_ignored = sorted((jid, phase, jobs[jid]["Status"]) for jid, phase in accepted.items()
                            if jobs.get(jid, {}).get("Status") != "CANCELED")

    # ---- events: exactly one terminal event per job, with its final status ----
    terminal_events = {}
    for e in events:
        d = e["detail"]
        if d["status"] in TERMINAL:
            terminal_events.setdefault(d["jobId"], []).append(d["status"])
    no_event = sorted(i for i, jid in ids.items() if jid not in terminal_events)
    # the same on the SSE stream: never twice; all of them unless it skipped frames
    sse_events, sse_missed = sse.snapshot()
    sse_terminal = {}
    for e in sse_events:
        if e["detail"]["status"] in TERMINAL:
            sse_terminal.setdefault(e["detail"]["jobId"], []).append(e["detail"]["status"])
    sse_dup = sorted(i for i, jid in ids.items() if len(sse_terminal.get(jid, [])) > 1)
    sse_none = sorted(i for i, jid in ids.items() if jid not in sse_terminal)
    dup_events = sorted(i for i, jid in ids.items() if len(terminal_events.get(jid, [])) > 1)
    wrong_event = sorted(i for i, jid in ids.items() if terminal_events.get(jid)
                         and terminal_events[jid][-1] != status.get(i))
    foreign = sorted(set(terminal_events) - set(ids.values()))

    # ---- outputs exactly for COMPLETE jobs ----
    keys = list_outputs(s3)
    out_by_index = {}
    for k in keys:
        out_by_index.setdefault(int(k.split("/", 1)[0][1:]), []).append(k)
    missing_out = sorted(i for i, s in status.items() if s == "COMPLETE"
                         and out_by_index.get(i) != [f"j{i}/clip-o.mp4"])
    stray_out = sorted(i for i in out_by_index if status.get(i) != "COMPLETE")
    bad_media = []
    for i in sorted(i for i, s in status.items() if s == "COMPLETE" and i not in missing_out):
        path = tmp_path / f"o{i}.mp4"
        s3.download_file(DST, f"j{i}/clip-o.mp4", str(path))
        p = media.probe(str(path))
        v = [st for st in p["streams"] if st["codec_type"] == "video"]
        if not (len(v) == 1 and v[0]["codec_name"] == "h264" and
                (v[0]["width"], v[0]["height"]) == (64, 64) and
                abs(float(p["format"]["duration"]) - 0.3) < 0.1):
            bad_media.append((i, p))
        path.unlink()

    report = (f"soak: seed={SEED} jobs={JOBS} workers={WORKERS} lease={LEASE}s "
              f"kills={workers.kills} cancels={cancels} "
              f"complete={count['COMPLETE']} canceled={count['CANCELED']} "
              f"error={count['ERROR']} (abandoned={len(abandoned)}) retried={retried} | lost={len(lost)} "
              f"duplicated={len(dup_jobs) + len(resend_mismatch) + len(dup_events) + len(sse_dup)} "
              f"stuck={len(stuck)} | create_errors={len(create_errors)} "
              f"jobs_without_terminal_event={len(no_event)} wrong_event={len(wrong_event)} "
              f"sse_without_terminal={len(sse_none)} sse_missed_frames={sse_missed} "
              f"outputs_missing={len(missing_out)} outputs_stray={len(stray_out)} "
              f"bad_media={len(bad_media)} cancel_202_not_canceled={len(cancel_ignored)} | submit={t_submitted - t0:.1f}s "
              f"all_done={t_done - t0:.1f}s")
    with capsys.disabled():
        print("\n" + report)
    detail = {"lost": lost, "dup_jobs": dup_jobs, "resend_mismatch": resend_mismatch,
              "dup_events": dup_events, "stuck": stuck, "create_errors": create_errors,
              "errors": errors, "no_event": no_event, "wrong_event": wrong_event,
              "foreign_events": foreign, "missing_out": missing_out, "sse_dup": sse_dup,
              "sse_none": sse_none[:20], "sse_missed": sse_missed,
              "stray_out": {i: (status.get(i), out_by_index[i]) for i in stray_out},
              "bad_media": bad_media[:3], "cancel_202_not_canceled": cancel_ignored}
    assert not create_errors, detail
    assert (len(lost), len(dup_jobs) + len(resend_mismatch) + len(dup_events) + len(sse_dup),
            len(stuck)) == \
        (0, 0, 0), (report, detail)
    assert not errors, detail
    assert not (no_event or wrong_event or foreign), detail
    assert not sse_dup, detail
    assert sse_missed or not sse_none, detail
    assert not (missing_out or stray_out or bad_media), detail
    assert count["COMPLETE"] + count["CANCELED"] + len(abandoned) == JOBS
    assert not cancel_ignored, detail
