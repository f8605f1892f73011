"""Webhooks and the live event stream: S3 events and MediaConvert job events
delivered by signed HTTP POST to a receiver running in this test, retries
with backoff, the deliveries admin API, and the server-sent-events stream."""

import hashlib
import hmac
import http.client
import http.server
import json
import os
import ssl
import subprocess
import threading
import time
import urllib.parse

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

import media
from conftest import REPO, Server, bad_ca_files, cattube_bin, make_test_ca

SRC, DST = "webhook-src", "webhook-dst"


# ---------------------------------------------------------------- receiver

class Receiver:
    """HTTP receiver on 127.0.0.1: records every POST; /flaky answers 500 to
    its first two requests, /ok always 200."""

    def __init__(self, cert=None, key=None):
        self.hits = []
        self.cv = threading.Condition()
        self.flaky_left = 2
        recv = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                status = 200
                with recv.cv:
                    if self.path == "/flaky" and recv.flaky_left > 0:
                        recv.flaky_left -= 1
                        status = 500
                    recv.hits.append({"path": self.path, "status": status, "body": body,
                                      "t": time.monotonic(),
                                      "headers": {k.lower(): v for k, v in self.headers.items()}})
                    recv.cv.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        scheme = "http"
        if cert:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(cert, key)
            self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
            scheme = "https"
        self.url = f"{scheme}://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def wait(self, pred, count=1, timeout=20):
        deadline = time.monotonic() + timeout
        with self.cv:
            while True:
                got = [h for h in self.hits if pred(h)]
                if len(got) >= count:
                    return got
                left = deadline - time.monotonic()
                if left <= 0:
                    return got
                self.cv.wait(left)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def receiver():
    r = Receiver()
    yield r
    r.close()


# ---------------------------------------------------------------- admin API

def signed(server, method, path, body=None):
    url = server.endpoint + path
    data = json.dumps(body).encode() if body is not None else b""
    req = AWSRequest(method=method, url=url, data=data,
                     headers={"Content-Type": "application/json"} if body is not None else {})
    SigV4Auth(Credentials(server.access_key, server.secret_key), "cattube",
              server.region).add_auth(req)
    return url, data, dict(req.headers.items())


def admin(server, method, path, body=None):
    url, data, headers = signed(server, method, path, body)
    u = urllib.parse.urlsplit(url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    c.request(method, u.path + (f"?{u.query}" if u.query else ""), body=data or None,
              headers=headers)
    r = c.getresponse()
    raw = r.read()
    c.close()
    return r.status, (json.loads(raw) if raw else None)


def make_webhook(server, name, url, **extra):
    status, out = admin(server, "POST", "/cattube/admin/webhooks",
                        {"name": name, "url": url, **extra})
    assert status == 201, out
    return out


def verify(hit, secret):
    ts = hit["headers"]["x-cattube-timestamp"]
    want = "sha256=" + hmac.new(secret.encode(), ts.encode() + b"." + hit["body"],
                                hashlib.sha256).hexdigest()
    return hmac.compare_digest(want, hit["headers"]["x-cattube-signature"])


def notify_bucket(server, bucket, arn, prefix):
    s3 = server.client("s3")
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={
        "QueueConfigurations": [{"Id": f"hook-{prefix}", "QueueArn": arn,
                                 "Events": ["s3:ObjectCreated:*"],
                                 "Filter": {"Key": {"FilterRules": [
                                     {"Name": "prefix", "Value": prefix}]}}}]})


@pytest.fixture(scope="module")
def buckets(server):
    s3 = server.client("s3")
    for b in (SRC, DST):
        s3.create_bucket(Bucket=b)
    return s3


# ---------------------------------------------------------------- tests

def test_webhook_admin(server):
    out = make_webhook(server, "adm", "http://127.0.0.1:9/x")
    assert out["arn"] == f"arn:cattube:webhooks:{server.region}:" \
        f"{out['arn'].split(':')[4]}:webhook/adm"
    assert out["secret"].startswith("whsec_") and out["jobEvents"] is False
    status, _ = admin(server, "POST", "/cattube/admin/webhooks",
                      {"name": "adm", "url": "http://127.0.0.1:9/x"})
    assert status == 409
    for bad in ({"name": "x", "url": "file:///etc/passwd"}, {"name": "x", "url": "ftp://h/"},
                {"name": "bad name", "url": "http://h/"}, {"name": "x"},
                {"name": "x", "url": "http://h/", "jobEvents": "yes"}):
        status, _ = admin(server, "POST", "/cattube/admin/webhooks", bad)
        assert status == 400, bad
    status, lst = admin(server, "GET", "/cattube/admin/webhooks")
    assert status == 200
    rec = [w for w in lst["webhooks"] if w["name"] == "adm"]
    assert rec and "secret" not in rec[0]
    assert admin(server, "GET", "/cattube/admin/webhooks/adm")[0] == 200
    assert admin(server, "DELETE", "/cattube/admin/webhooks/adm")[0] == 204
    assert admin(server, "GET", "/cattube/admin/webhooks/adm")[0] == 404
    assert admin(server, "DELETE", "/cattube/admin/webhooks/adm")[0] == 404


def test_s3_event_to_webhook(server, receiver, buckets):
    hook = make_webhook(server, "s3hook", receiver.url + "/ok", secret="s3cr3t")
    notify_bucket(server, SRC, hook["arn"], "red")
    body = b"flower bytes"
    put = buckets.put_object(Bucket=SRC, Key="red flower+1.mp4", Body=body)
    hits = receiver.wait(lambda h: h["path"] == "/ok" and
                         h["headers"].get("x-cattube-event-type") == "s3")
    assert hits, "no S3 event arrived"
    hit = hits[0]
    assert verify(hit, "s3cr3t")
    assert hit["headers"]["content-type"] == "application/json"
    msg = json.loads(hit["body"])
    assert len(msg["Records"]) == 1
    rec = msg["Records"][0]
    assert rec["eventVersion"] == "2.1" and rec["eventSource"] == "aws:s3"
    assert rec["eventName"] == "ObjectCreated:Put"
    assert rec["awsRegion"] == server.region
    assert rec["s3"]["configurationId"] == "hook-red"
    assert rec["s3"]["bucket"]["name"] == SRC
    assert rec["s3"]["bucket"]["arn"] == f"arn:aws:s3:::{SRC}"
    obj = rec["s3"]["object"]
    assert obj["key"] == "red+flower%2B1.mp4"
    assert obj["size"] == len(body)
    assert obj["eTag"] == put["ETag"].strip('"')
    assert obj["sequencer"]
    # Tampering breaks the signature.
    assert not verify(dict(hit, body=hit["body"] + b" "), "s3cr3t")


def test_retry_with_backoff(server, receiver, buckets):
    hook = make_webhook(server, "flaky", receiver.url + "/flaky")
    notify_bucket(server, SRC, hook["arn"], "flaky")
    buckets.put_object(Bucket=SRC, Key="flaky/clip.mp4", Body=b"x")
    hits = receiver.wait(lambda h: h["path"] == "/flaky", count=3, timeout=30)
    assert [h["status"] for h in hits] == [500, 500, 200]
    assert len({h["headers"]["x-cattube-delivery"] for h in hits}) == 1
    assert [h["headers"]["x-cattube-attempt"] for h in hits] == ["1", "2", "3"]
    assert all(verify(h, hook["secret"]) for h in hits)
    assert hits[0]["body"] == hits[2]["body"]
    gap1, gap2 = hits[1]["t"] - hits[0]["t"], hits[2]["t"] - hits[1]["t"]
    assert 0.8 < gap1 < 3 and 1.8 < gap2 < 5, (gap1, gap2)  # backoff 1 s, then 2 s
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        status, out = admin(server, "GET", "/cattube/admin/deliveries?webhook=flaky")
        assert status == 200
        d = out["deliveries"][0]
        if d["status"] == "delivered":
            break
        time.sleep(0.2)
    assert d["status"] == "delivered" and d["attempts"] == 3 and d["httpStatus"] == 200
    assert d["eventType"] == "s3" and d["nextAttemptAt"] is None
    assert d["lastError"] is None
    status, one = admin(server, "GET", f"/cattube/admin/deliveries/{d['id']}")
    assert status == 200 and one["body"]["Records"][0]["s3"]["object"]["key"] == \
        "flaky/clip.mp4"


class SSE:
    """Reads the admin event stream in a thread."""

    def __init__(self, server):
        url, _, headers = signed(server, "GET", "/cattube/admin/events")
        u = urllib.parse.urlsplit(url)
        self.conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
        self.conn.request("GET", u.path, headers=headers)
        self.resp = self.conn.getresponse()
        assert self.resp.status == 200
        assert self.resp.getheader("Content-Type") == "text/event-stream"
        self.events = []
        self.cv = threading.Condition()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        ev = {}
        try:
            for line in self.resp:
                line = line.decode().rstrip("\n")
                if not line:
                    if "data" in ev:
                        with self.cv:
                            self.events.append(ev)
                            self.cv.notify_all()
                    ev = {}
                elif not line.startswith(":") and ":" in line:
                    k, v = line.split(":", 1)
                    ev[k] = v[1:] if v.startswith(" ") else v
        except Exception:
            pass

    def wait(self, pred, timeout=30):
        deadline = time.monotonic() + timeout
        with self.cv:
            while not pred(self.events) and time.monotonic() < deadline:
                self.cv.wait(max(0.01, deadline - time.monotonic()))
            return list(self.events)

    def close(self):
        self.conn.sock.shutdown(2)
        self.conn.close()


def job_statuses(events, job_id):
    return [e["detail"]["status"] for e in events if e["detail"]["jobId"] == job_id]


def test_job_events_webhook_and_stream(server, receiver, buckets, tmp_path):
    hook = make_webhook(server, "jobs", receiver.url + "/ok",
                        jobEvents={"statuses": ["SUBMITTED", "PROGRESSING", "COMPLETE",
                                                "ERROR", "CANCELED"]})
    assert hook["jobEvents"] == {"statuses": ["SUBMITTED", "PROGRESSING", "COMPLETE",
                                              "ERROR", "CANCELED"]}
    sse = SSE(server)
    clip = str(tmp_path / "tiny.mov")
    media.make_clip(clip, duration=1.0, size="160x120")
    buckets.upload_file(clip, SRC, "tiny.mov")
    with open(os.path.join(REPO, "examples", "seed", "job.json")) as f:
        job = json.load(f)
    job["Settings"]["Inputs"][0]["FileInput"] = f"s3://{SRC}/tiny.mov"
    job["Settings"]["OutputGroups"][0]["OutputGroupSettings"]["FileGroupSettings"][
        "Destination"] = f"s3://{DST}/"
    mc = server.client("mediaconvert")
    kw = {k: v for k, v in job.items() if k in ("Role", "Settings")}
    job_id = mc.create_job(UserMetadata={"case": "webhooks"}, **kw)["Job"]["Id"]
    done, _ = server.wait_job(job_id, timeout=120)
    assert done["Status"] == "COMPLETE", done

    def got_all(hits):
        return "COMPLETE" in job_statuses(hits, job_id)

    hits = receiver.wait(lambda h: h["headers"].get("x-cattube-event-type") == "mediaconvert"
                         and json.loads(h["body"])["detail"]["jobId"] == job_id
                         and json.loads(h["body"])["detail"]["status"] == "COMPLETE")
    assert hits, "no COMPLETE job event arrived"
    bodies = [json.loads(h["body"]) for h in receiver.hits
              if h["headers"].get("x-cattube-event-type") == "mediaconvert"]
    assert all(verify(h, hook["secret"]) for h in receiver.hits
               if h["headers"].get("x-cattube-event-type") == "mediaconvert")
    sts = job_statuses(bodies, job_id)
    assert sts[0] == "SUBMITTED" and sts[-1] == "COMPLETE" and "PROGRESSING" in sts, sts
    assert "STATUS_UPDATE" not in sts  # filtered out by the webhook's statuses
    ev = [b for b in bodies if b["detail"]["jobId"] == job_id][-1]
    assert ev["version"] == "0" and ev["source"] == "aws.mediaconvert"
    assert ev["detail-type"] == "MediaConvert Job State Change"
    assert ev["region"] == server.region and len(ev["id"]) == 36
    assert ev["resources"] == [done["Arn"]]
    assert ev["detail"]["queue"] == done["Queue"]
    assert ev["detail"]["accountId"] == ev["account"]
    assert ev["detail"]["userMetadata"] == {"case": "webhooks"}
    assert isinstance(ev["detail"]["timestamp"], int)
    # The job record's outputGroupDetails, as GetJob shows them.
    assert ev["detail"]["outputGroupDetails"] == done["OutputGroupDetails"] or \
        ev["detail"]["outputGroupDetails"]
    outs = [o for g in ev["detail"]["outputGroupDetails"] for o in g["outputDetails"]]
    assert outs and all(o["durationInMs"] > 0 for o in outs)

    events = sse.wait(lambda evs: got_all([json.loads(e["data"]) for e in evs
                                           if e.get("event") == "mediaconvert"]))
    sse.close()
    mc_events = [json.loads(e["data"]) for e in events if e.get("event") == "mediaconvert"]
    sse_sts = job_statuses(mc_events, job_id)
    assert sse_sts[0] == "SUBMITTED" and sse_sts[-1] == "COMPLETE", sse_sts
    assert "PROGRESSING" in sse_sts
    assert all(e.get("id", "").isdigit() for e in events)
    assert any(e.get("event") == "s3" for e in events)  # the upload's ObjectCreated


def test_sse_requires_auth(server):
    c = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    c.request("GET", "/cattube/admin/events")
    r = c.getresponse()
    assert r.status == 403
    c.close()


def test_pending_delivery_survives_restart(tmp_path_factory, receiver):
    """A delivery that keeps failing is retried by the next server process."""
    srv = Server(str(tmp_path_factory.mktemp("webhook-restart")))
    srv.start()
    try:
        with receiver.cv:
            receiver.flaky_left = 1000  # /flaky now fails until told otherwise
        hook = make_webhook(srv, "again", receiver.url + "/flaky")
        s3 = srv.client("s3")
        s3.create_bucket(Bucket="restart-src")
        notify_bucket(srv, "restart-src", hook["arn"], "")
        s3.put_object(Bucket="restart-src", Key="k", Body=b"x")
        first = receiver.wait(lambda h: h["path"] == "/flaky" and
                              json.loads(h["body"])["Records"][0]["s3"]["bucket"]["name"] ==
                              "restart-src")
        assert first and first[0]["status"] == 500
        problems = srv.stop()
        assert not problems, problems
        with receiver.cv:
            receiver.flaky_left = 0
        srv._clients.clear()
        srv.start()
        hits = receiver.wait(lambda h: h["path"] == "/flaky" and h["status"] == 200 and
                             json.loads(h["body"])["Records"][0]["s3"]["bucket"]["name"] ==
                             "restart-src", timeout=30)
        assert hits, "the pending delivery was not resumed after the restart"
        assert hits[0]["headers"]["x-cattube-delivery"] == \
            first[0]["headers"]["x-cattube-delivery"]
        assert verify(hits[0], hook["secret"])
    finally:
        problems = srv.stop()
    assert not problems, problems


def test_https_webhook_ca_file(tmp_path_factory):
    """serve --webhook-ca-file: https webhooks whose certificate chains to the
    file's CAs get their events; one that does not is never sent the event
    (the delivery records curl's certificate error and stays pending)."""
    d = str(tmp_path_factory.mktemp("webhook-tls"))
    ca, good_cert, good_key = make_test_ca(os.path.join(d, "trusted"))
    _, bad_cert, bad_key = make_test_ca(os.path.join(d, "stranger"))
    good, bad = Receiver(good_cert, good_key), Receiver(bad_cert, bad_key)
    srv = Server(os.path.join(d, "data"))
    srv.extra_args = ["--webhook-ca-file", ca]
    srv.start()
    try:
        ok = make_webhook(srv, "tls-ok", good.url + "/ok", secret="tls-secret")
        no = make_webhook(srv, "tls-no", bad.url + "/ok")
        s3 = srv.client("s3")
        s3.create_bucket(Bucket="tls-src")
        s3.put_bucket_notification_configuration(Bucket="tls-src", NotificationConfiguration={
            "QueueConfigurations": [
                {"Id": "good", "QueueArn": ok["arn"], "Events": ["s3:ObjectCreated:*"],
                 "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "good/"}]}}},
                {"Id": "bad", "QueueArn": no["arn"], "Events": ["s3:ObjectCreated:*"],
                 "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "bad/"}]}}}]})
        s3.put_object(Bucket="tls-src", Key="good/a b.mp4", Body=b"x")
        s3.put_object(Bucket="tls-src", Key="bad/c.mp4", Body=b"y")
        hits = good.wait(lambda h: h["path"] == "/ok")
        assert hits, "no event over https to the trusted receiver"
        assert verify(hits[0], "tls-secret")
        rec = json.loads(hits[0]["body"])["Records"][0]
        assert rec["s3"]["object"]["key"] == "good/a+b.mp4"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            status, out = admin(srv, "GET", "/cattube/admin/deliveries?webhook=tls-no")
            assert status == 200
            if out["deliveries"] and out["deliveries"][0]["lastError"]:
                break
            time.sleep(0.2)
        dl = out["deliveries"][0]
        assert dl["status"] == "pending" and dl["attempts"] >= 1, dl
        assert "certificate" in dl["lastError"].lower(), dl
        assert not bad.hits, "an untrusted https webhook was sent the event"
    finally:
        problems = srv.stop()
        good.close()
        bad.close()
    assert not problems, problems


def test_webhook_ca_file_checked_at_start(tmp_path):
    """A --webhook-ca-file that is missing or not PEM stops serve at once,
    naming the path and what is wrong, instead of failing every https
    delivery later."""
    for path, why in bad_ca_files(str(tmp_path)):
        r = subprocess.run([cattube_bin(), "serve", "--data", str(tmp_path / "data"),
                            "--listen", "127.0.0.1:0", "--webhook-ca-file", path],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode != 0
        assert f"--webhook-ca-file {path}: {why}" in r.stderr, r.stderr
