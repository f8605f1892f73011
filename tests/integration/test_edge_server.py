"""The edge's own HTTP/1.1 server loop (src/edge/edge_loop.c) on the wire:
keep-alive, pipelining, head limits, bodies, HEAD, the plain listener, and
that a bad head never takes the server down. Raw sockets (TLS via Python's
ssl) so the exact bytes are ours, not a client library's."""
import json
import os
import socket
import ssl
import uuid

import pytest


@pytest.fixture(scope="module")
def dist(server):
    bucket = "srv-" + uuid.uuid4().hex[:10]
    server.aws("s3api", "create-bucket", "--bucket", bucket)
    for key, body in (("small.m3u8", b"#EXTM3U\n" * 10), ("big.ts", os.urandom(300000))):
        p = os.path.join(server.work, "srv-" + key)
        with open(p, "wb") as f:
            f.write(body)
        server.aws("s3api", "put-object", "--bucket", bucket, "--key", key, "--body", p)
    server.client("s3").put_bucket_policy(Bucket=bucket, Policy=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
             "Resource": f"arn:aws:s3:::{bucket}/*"}]}))
    cfg = {"CallerReference": uuid.uuid4().hex, "Comment": "", "Enabled": True,
           "Origins": {"Quantity": 1, "Items": [{"Id": "o", "DomainName": bucket,
                                                 "S3OriginConfig": {"OriginAccessIdentity": ""}}]},
           "DefaultCacheBehavior": {"TargetOriginId": "o",
                                    "ViewerProtocolPolicy": "redirect-to-https"}}
    p = os.path.join(server.work, "srvcfg.json")
    with open(p, "w") as f:
        json.dump(cfg, f)
    d = server.aws("cloudfront", "create-distribution", "--distribution-config",
                   "file://" + p)["Distribution"]
    return {"host": d["DomainName"], "small": b"#EXTM3U\n" * 10,
            "big": open(os.path.join(server.work, "srv-big.ts"), "rb").read()}


def tls(server):
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    s = socket.create_connection(("127.0.0.1", server.edge_https_port), 10)
    return ctx.wrap_socket(s, server_hostname="localhost")


def read_response(s, buf=b"", head=False):
    """(status, headers dict, body, leftover bytes); body per Content-Length."""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            raise EOFError(buf)
        buf += chunk
    head_bytes, rest = buf.split(b"\r\n\r\n", 1)
    lines = head_bytes.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    hdrs = {}
    for line in lines[1:]:
        k, v = line.split(":", 1)
        hdrs[k.strip().lower()] = v.strip()
    n = 0 if head or status == 304 else int(hdrs.get("content-length", "0"))
    while len(rest) < n:
        chunk = s.recv(65536)
        if not chunk:
            raise EOFError(rest)
        rest += chunk
    return status, hdrs, rest[:n], rest[n:]


def closed(s):
    try:
        return s.recv(1) == b""
    except (ConnectionError, ssl.SSLError):
        return True


def test_keepalive_and_pipelining(server, dist):
    s = tls(server)
    h = dist["host"]
    req = (f"GET /small.m3u8 HTTP/1.1\r\nHost: {h}\r\n\r\n"
           f"HEAD /big.ts HTTP/1.1\r\nHost: {h}\r\n\r\n"
           f"GET /big.ts HTTP/1.1\r\nHost: {h}\r\nRange: bytes=10-19\r\n\r\n"
           f"GET /big.ts HTTP/1.1\r\nHost: {h}\r\n\r\n")
    s.sendall(req.encode())
    st, hd, body, rest = read_response(s)
    assert st == 200 and body == dist["small"] and "connection" not in hd
    assert hd["content-type"] == "application/vnd.apple.mpegurl" and hd["date"].endswith("GMT")
    st, hd, body, rest = read_response(s, rest, head=True)
    assert st == 200 and hd["content-length"] == str(len(dist["big"])) and body == b""
    st, hd, body, rest = read_response(s, rest)
    assert st == 206 and body == dist["big"][10:20]
    assert hd["content-range"] == f"bytes 10-19/{len(dist['big'])}"
    st, hd, body, rest = read_response(s, rest)
    assert st == 200 and body == dist["big"] and rest == b""
    # the same connection still serves
    s.sendall(f"GET /nothing-here HTTP/1.1\r\nHost: {h}\r\n\r\n".encode())
    st, hd, body, _ = read_response(s)
    assert st in (403, 404) and b"<Error>" in body
    s.close()


def test_connection_close_and_http10(server, dist):
    s = tls(server)
    s.sendall(f"GET /small.m3u8 HTTP/1.1\r\nHost: {dist['host']}\r\nConnection: close\r\n\r\n"
              .encode())
    st, hd, body, _ = read_response(s)
    assert st == 200 and hd["connection"] == "close" and closed(s)
    s = tls(server)
    s.sendall(f"GET /small.m3u8 HTTP/1.0\r\nHost: {dist['host']}\r\n\r\n".encode())
    st, hd, body, _ = read_response(s)
    assert st == 200 and body == dist["small"] and closed(s)


@pytest.mark.parametrize("head,status", [
    ("GET /{pad} HTTP/1.1\r\nHost: x\r\n\r\n", 431),                      # head over 16 KiB
    ("GET / HTTP/1.1\r\nHost: x\r\n{many}\r\n", 431),                     # 70 header lines
    ("GET / HTTP/1.1\r\nHost: x\r\nX-A: one\r\n  folded\r\n\r\n", 400),   # obs-fold
    ("GET / HTTP/1.1\r\nHo st: x\r\n\r\n", 400),                          # bad field name
    ("CONNECT h:443 HTTP/1.1\r\nHost: h\r\n\r\n", 400),
    ("\x16\x03\x01garbage\r\n\r\n", 400),
])
def test_bad_heads_answered_and_closed(server, dist, head, status):
    head = head.replace("{pad}", "a" * 17000).replace(
        "{many}", "".join(f"H{i}: v\r\n" for i in range(70)))
    s = tls(server)
    s.sendall(head.encode())
    st, hd, body, _ = read_response(s)
    assert st == status and hd["connection"] == "close" and closed(s)
    # the server is fine
    s = tls(server)
    s.sendall(f"GET /small.m3u8 HTTP/1.1\r\nHost: {dist['host']}\r\n\r\n".encode())
    assert read_response(s)[0] == 200


def test_request_body_is_refused_and_connection_closed(server, dist):
    s = tls(server)
    s.sendall(f"POST /small.m3u8 HTTP/1.1\r\nHost: {dist['host']}\r\nContent-Length: 5\r\n\r\n"
              f"helloGET /small.m3u8 HTTP/1.1\r\nHost: {dist['host']}\r\n\r\n".encode())
    st, hd, body, _ = read_response(s)
    assert st == 403 and b"MethodNotAllowed" in body and hd["connection"] == "close"
    assert closed(s)  # the body (and what follows it) is never parsed as a request


def test_plain_listener_redirects_on_the_same_loop(server, dist):
    s = socket.create_connection(("127.0.0.1", server.edge_http_port), 10)
    s.sendall(f"GET /small.m3u8?a=1 HTTP/1.1\r\nHost: {dist['host']}\r\n\r\n"
              f"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    st, hd, body, rest = read_response(s)
    assert st == 301
    assert hd["location"] == (f"https://{dist['host']}:{server.edge_https_port}"
                              "/small.m3u8?a=1")
    st, hd, body, _ = read_response(s, rest)
    assert st == 200 and b"cattube_edge_requests_total" in body
    s.close()


def test_half_open_and_slow_clients_do_not_block_others(server, dist):
    idle = [socket.create_connection(("127.0.0.1", server.edge_https_port), 10)
            for _ in range(20)]  # TCP only, no TLS hello: the handshake waits, nothing blocks
    partial = tls(server)
    partial.sendall(f"GET /small.m3u8 HTTP/1.1\r\nHost: {dist['host']}\r\n".encode())
    s = tls(server)
    s.sendall(f"GET /small.m3u8 HTTP/1.1\r\nHost: {dist['host']}\r\n\r\n".encode())
    assert read_response(s)[0] == 200
    partial.sendall(b"\r\n")  # the rest of its head
    assert read_response(partial)[0] == 200
    for c in idle:
        c.close()


def test_access_log_has_content_length_and_tls(server, dist):
    """Regression: sc-content-len came from a Content-Length header the
    handler never sets (the loop writes it), so it logged 0."""
    import time
    s = tls(server)
    s.sendall(f"GET /small.m3u8?cl=1 HTTP/1.1\r\nHost: {dist['host']}\r\n\r\n".encode())
    assert read_response(s)[0] == 200
    s.close()
    path = os.path.join(server.data_dir, "edge", "access.log")
    deadline = time.time() + 10
    while time.time() < deadline:
        rows = [x.split("\t") for x in open(path).read().splitlines() if "\tcl=1\t" in x]
        if rows:
            break
        time.sleep(0.2)
    row = rows[-1]
    assert row[30] == str(len(dist["small"])) and row[8] == "200"
    assert row[20].startswith("TLSv1") and row[21]  # ssl-protocol, ssl-cipher
