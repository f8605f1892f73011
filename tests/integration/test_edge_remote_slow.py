"""The standalone edge in front of a slow origin: a cache miss that waits on the
origin must not stall the other connections of the same server thread. The
origin here is a small S3-shaped HTTP server in this process that holds one
object's answer until the test lets it go; the edge runs one server thread
(CATTUBE_EDGE_THREADS=1), so before the origin pool existed every other
request waited behind that read."""
import hashlib
import json
import threading
import uuid
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from test_edge_remote import Edge, wait_for

OBJECTS = {"fast.txt": b"fast answer\n", "fast2.txt": b"another fast answer\n",
           "slow.bin": bytes(range(256)) * 64}


class Origin(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, bucket):
        super().__init__(("127.0.0.1", 0), OriginHandler)
        self.bucket = bucket
        self.slow_arrived = threading.Event()
        self.release = threading.Event()


class OriginHandler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def _answer(self, body_too):
        srv = self.server
        prefix = f"/{srv.bucket}/"
        key = self.path.split("?", 1)[0][len(prefix):] if self.path.startswith(prefix) else ""
        if key not in OBJECTS:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if key == "slow.bin":
            srv.slow_arrived.set()
            srv.release.wait(120)
        body = OBJECTS[key]
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("ETag", '"%s"' % hashlib.md5(body).hexdigest())
        self.send_header("Last-Modified", formatdate(1700000000, usegmt=True))
        self.send_header("Content-Type", "application/octet-stream")
        self.end_headers()
        if body_too:
            self.wfile.write(body)

    def do_HEAD(self):
        self._answer(False)

    def do_GET(self):
        self._answer(True)


@pytest.fixture
def slow_edge(server, tmp_path):
    bucket = "slow-" + uuid.uuid4().hex[:8]
    server.client("s3").create_bucket(Bucket=bucket)
    p = server.cattube("distribution", "create", "--endpoint", server.endpoint,
                       "--origin-bucket", bucket, "--no-origin-access-control")
    dist = json.loads(p.stdout)
    origin = Origin(bucket)
    threading.Thread(target=origin.serve_forever, daemon=True).start()
    cfg = tmp_path / "dists.json"
    cfg.write_text(json.dumps({"distributions": [dist]}))
    edge = Edge(server, str(tmp_path), "--config", str(cfg), env={"CATTUBE_EDGE_THREADS": "1"},
                origin=f"http://127.0.0.1:{origin.server_address[1]}")
    try:
        yield edge, dist, origin
    finally:
        origin.release.set()
        edge.stop()
        origin.shutdown()
        server.client("s3").delete_bucket(Bucket=bucket)
        server.cattube("distribution", "delete", dist["id"], "--endpoint", server.endpoint)


def test_slow_origin_does_not_stall_the_loop(server, slow_edge):
    edge, dist, origin = slow_edge
    fast = edge.url(dist["id"], "/fast.txt")
    r = wait_for(lambda: (lambda r: r if r.status == 200 else None)(server.curl(fast)),
                 "the edge to serve")
    assert r.body == OBJECTS["fast.txt"]

    slow_result = {}

    def fetch_slow():
        slow_result["r"] = server.curl(edge.url(dist["id"], "/slow.bin"), timeout=120)

    t = threading.Thread(target=fetch_slow)
    t.start()
    try:
        assert origin.slow_arrived.wait(60), "the slow request never reached the origin"
        # While the origin holds slow.bin, the only server thread still answers:
        # a cached object, and a miss on another object.
        r = server.curl(fast, timeout=20)
        assert r.status == 200 and r.body == OBJECTS["fast.txt"]
        assert r.headers["x-cache"] == "Hit from cattube"
        r = server.curl(edge.url(dist["id"], "/fast2.txt"), timeout=20)
        assert r.status == 200 and r.body == OBJECTS["fast2.txt"]
        assert "r" not in slow_result  # still waiting on the origin
    finally:
        origin.release.set()
        t.join(130)
    r = slow_result["r"]
    assert r.status == 200 and r.body == OBJECTS["slow.bin"], r
    # and it was kept: the next read is a hit without the origin
    r = server.curl(edge.url(dist["id"], "/slow.bin"))
    assert r.status == 200 and r.headers["x-cache"] == "Hit from cattube"
