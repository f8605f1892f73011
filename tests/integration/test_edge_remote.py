"""`cattube edge --origin URL`: the edge alone, as a second process in front of
`cattube serve`'s S3 API, with its distributions polled from the serve's admin
API (and from a --config file), its bytes in the bounded disk cache
(DATA/edge-cache): misses coalesced, LRU eviction, invalidations and
distribution changes made on the API node. The API node behind https with a
private CA: the edge's polls and `cattube admin` / `cattube distribution`
need that CA (--origin-ca-file, --ca-bundle) and say why they fail without it."""
import concurrent.futures
import json
import os
import re
import subprocess
import time
import uuid

import pytest

from conftest import TlsFront, bad_ca_files, free_port, make_test_ca

SEG = os.urandom(300_000)
BIG = [os.urandom(1_500_000) for _ in range(3)]


class Edge:
    def __init__(self, server, base, *extra, env=None, origin=None):
        self.https_port, self.http_port = free_port(), free_port()
        self.data = os.path.join(base, "edge-data")
        self.log = open(os.path.join(base, "edge.log"), "ab")
        e = dict(server.server_env())
        e.update(env or {})
        self.proc = subprocess.Popen(
            [server.bin, "edge", "--origin", origin or server.endpoint, "--data", self.data,
             "--listen", f"127.0.0.1:{self.https_port}",
             "--http-listen", f"127.0.0.1:{self.http_port}", "--poll-seconds", "1", *extra],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log, env=e,
            start_new_session=True)

    def url(self, dist_id, path):
        return f"https://{dist_id.lower()}.cattube.localhost:{self.https_port}{path}"

    def metrics(self, server):
        r = server.curl(f"http://127.0.0.1:{self.http_port}/metrics")
        return {m.group(1): int(m.group(2))
                for m in re.finditer(r"^(cattube_edge_disk_\w+) (\d+)$", r.body.decode(), re.M)}

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def wait_for(fn, what, timeout=30):
    """Polls fn() until truthy (the edge polls its API node every second)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            v = fn()
        except AssertionError:  # curl could not connect yet: the edge is starting
            v = None
        if v:
            return v
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def site(server, tmp_path_factory):
    bucket = "remote-" + uuid.uuid4().hex[:8]
    s3 = server.client("s3")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="seg 1.ts", Body=SEG, ContentType="video/mp2t")
    for i, b in enumerate(BIG):
        s3.put_object(Bucket=bucket, Key=f"big{i}.bin", Body=b)
    p = server.cattube("distribution", "create", "--endpoint", server.endpoint,
                       "--origin-bucket", bucket)
    dist = json.loads(p.stdout)
    edge = Edge(server, str(tmp_path_factory.mktemp("edge")), "--api", server.endpoint,
                "--cache-mib", "4")
    try:
        wait_for(lambda: server.curl(edge.url(dist["id"], "/seg%201.ts")).status == 200,
                 "the standalone edge to serve the distribution")
        yield {"bucket": bucket, "dist": dist, "edge": edge}
    finally:
        edge.stop()


def test_serves_the_origin_through_the_disk_cache(server, site):
    edge, did = site["edge"], site["dist"]["id"]
    u = edge.url(did, "/seg%201.ts")
    r = server.curl(u)
    assert r.status == 200 and r.body == SEG, r
    assert r.headers["content-type"] == "video/mp2t"
    assert r.headers["x-cache"] == "Hit from cattube"
    files = [f for f in os.listdir(os.path.join(edge.data, "edge-cache")) if f[0] == "o"]
    assert [os.path.getsize(os.path.join(edge.data, "edge-cache", f)) for f in files] == [len(SEG)]
    # ranges (single and multipart) come from the cached file
    r = server.curl(u, "-H", "Range: bytes=100-199")
    assert r.status == 206 and r.body == SEG[100:200]
    r = server.curl(u, "-H", "Range: bytes=0-9,-10")
    assert r.status == 206 and r.headers["content-type"].startswith("multipart/byteranges")
    # redirect and private bucket: the serve node still refuses anonymous reads
    assert server.curl(f"{server.endpoint}/{site['bucket']}/seg%201.ts").status == 403


def test_concurrent_misses_make_one_origin_get(server, site):
    edge, did = site["edge"], site["dist"]["id"]
    server.client("s3").put_object(Bucket=site["bucket"], Key="new.ts", Body=SEG[:200_000])
    before = edge.metrics(server)
    with concurrent.futures.ThreadPoolExecutor(16) as ex:
        rs = list(ex.map(lambda _: server.curl(edge.url(did, "/new.ts")), range(16)))
    assert all(r.status == 200 and r.body == SEG[:200_000] for r in rs)
    after = edge.metrics(server)
    assert after["cattube_edge_disk_misses_total"] - before["cattube_edge_disk_misses_total"] == 1
    assert after["cattube_edge_disk_hits_total"] - before["cattube_edge_disk_hits_total"] == 15


def test_bounded_lru(server, site):
    edge, did = site["edge"], site["dist"]["id"]
    for i, b in enumerate(BIG):  # 3 x 1.5 MB through a 4 MiB cache
        r = server.curl(edge.url(did, f"/big{i}.bin"))
        assert r.status == 200 and r.body == b
    d = os.path.join(edge.data, "edge-cache")
    total = sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d) if f[0] == "o")
    assert total <= 4 << 20, total
    m = edge.metrics(server)
    assert m["cattube_edge_disk_evictions_total"] >= 1 and m["cattube_edge_disk_bytes"] == total
    # the newest is still a hit, and an evicted one is fetched again
    assert server.curl(edge.url(did, "/big2.bin")).headers["x-cache"] == "Hit from cattube"


def test_invalidation_on_the_api_node_reaches_the_edge(server, site):
    edge, did = site["edge"], site["dist"]["id"]
    u = edge.url(did, "/seg%201.ts")
    assert server.curl(u).status == 200
    server.client("s3").put_object(Bucket=site["bucket"], Key="seg 1.ts", Body=b"v2" * 600)
    # cached (TTL 1 day): the old bytes until an invalidation
    assert server.curl(u).body == SEG
    server.aws("cloudfront", "create-invalidation", "--distribution-id", did, "--paths", "/seg*")
    wait_for(lambda: server.curl(u).body == b"v2" * 600, "the invalidation to reach the edge")


def test_admin_api_invalidation_reaches_the_edge(server, site):
    """An invalidation made through the admin JSON API is recorded with the
    distribution like a CloudFront one, so the standalone edge applies it too."""
    from test_edge_signed import admin
    edge, did = site["edge"], site["dist"]["id"]
    s3 = server.client("s3")
    s3.put_object(Bucket=site["bucket"], Key="adm/a.ts", Body=b"a1" * 700)
    u = edge.url(did, "/adm/a.ts")
    assert server.curl(u).body == b"a1" * 700
    s3.put_object(Bucket=site["bucket"], Key="adm/a.ts", Body=b"a2" * 700)
    assert server.curl(u).body == b"a1" * 700  # cached
    st, inv = admin(server, "POST", f"/cattube/admin/distributions/{did}/invalidations",
                    {"paths": ["/adm/a.ts"]})
    assert st == 201 and inv["status"] == "Completed" and inv["id"].startswith("I"), inv
    wait_for(lambda: server.curl(u).body == b"a2" * 700, "the admin invalidation on the edge")
    ids = [i["Id"] for i in server.aws("cloudfront", "list-invalidations", "--distribution-id",
                                       did)["InvalidationList"]["Items"]]
    assert inv["id"] in ids


def test_distribution_changes_reach_the_edge(server, site, tmp_path):
    edge = site["edge"]
    b2 = "remote-pub-" + uuid.uuid4().hex[:6]
    s3 = server.client("s3")
    s3.create_bucket(Bucket=b2)
    s3.put_object(Bucket=b2, Key="a.txt", Body=b"public", ContentType="text/plain")
    p = server.cattube("distribution", "create", "--endpoint", server.endpoint,
                       "--origin-bucket", b2, "--no-origin-access-control")
    d2 = json.loads(p.stdout)
    u = edge.url(d2["id"], "/a.txt")
    # no OAC: the edge reads unsigned, and the private bucket says no
    wait_for(lambda: b"<Message>Access Denied</Message>" in server.curl(u).body,
             "the new distribution on the edge")  # (not "No distribution ... for this host")
    s3.put_bucket_policy(Bucket=b2, Policy=json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{b2}/*"}]}))
    r = server.curl(u)
    assert r.status == 200 and r.body == b"public"
    server.cattube("distribution", "delete", d2["id"], "--endpoint", server.endpoint)
    wait_for(lambda: server.curl(u).status != 200, "the deleted distribution to go")


def test_config_file_source(server, site, tmp_path):
    p = server.cattube("distribution", "get", site["dist"]["id"], "--endpoint", server.endpoint)
    cfg = tmp_path / "dists.json"
    cfg.write_text(json.dumps({"distributions": [json.loads(p.stdout)]}))
    edge = Edge(server, str(tmp_path), "--config", str(cfg))
    try:
        u = edge.url(site["dist"]["id"], "/big0.bin")
        r = wait_for(lambda: (lambda r: r if r.status == 200 else None)(server.curl(u)),
                     "the config-file edge")
        assert r.body == BIG[0]
    finally:
        edge.stop()
    err = subprocess.run([server.bin, "edge", "--origin", server.endpoint], capture_output=True,
                         text=True)
    assert err.returncode == 2 and "--api URL and/or --config FILE" in err.stderr


def test_signed_urls_on_the_standalone_edge(server, site, tmp_path):
    """Public keys and key groups are copied from the API node: a distribution with
    TrustedKeyGroups checks signatures on the standalone edge too."""
    from test_edge_signed import _node_ready, admin, keypair, JS
    node = _node_ready()
    priv, pub = keypair(str(tmp_path), "k")
    st, k = admin(server, "POST", "/cattube/admin/public-keys",
                  {"name": "remote-" + uuid.uuid4().hex[:6], "encodedKey": pub})
    assert st == 201, k
    st, g = admin(server, "POST", "/cattube/admin/key-groups",
                  {"name": "remote-" + uuid.uuid4().hex[:6], "items": [k["id"]]})
    assert st == 201, g
    st, d = admin(server, "POST", "/cattube/admin/distributions",
                  {"originBucket": site["bucket"], "trustedKeyGroups": [g["id"]]})
    assert st == 201, d
    edge = site["edge"]
    u = edge.url(d["id"], "/big1.bin")
    wait_for(lambda: b"Key-Pair-Id" in server.curl(u).body, "the signed distribution")
    p = subprocess.run([node, os.path.join(JS, "sign.mjs"), json.dumps({
        "mode": "url", "url": u, "keyPairId": k["id"], "privateKeyFile": priv,
        "dateLessThan": int(time.time()) + 300})], cwd=JS, capture_output=True, text=True,
        timeout=60)
    assert p.returncode == 0, p.stderr
    r = server.curl(json.loads(p.stdout)["url"])
    assert r.status == 200 and r.body == BIG[1], r
    bad = json.loads(p.stdout)["url"].replace("Signature=", "Signature=AA")
    assert server.curl(bad).status == 403


def test_evaluate_bucket_policy(server, site, tmp_path):
    """--evaluate-bucket-policy: in front of a CatTube node (whose root keys read
    everything) the origin bucket's policy decides, as on the API node's own edge: the
    shortcut's copy-policy statement lets its distribution read; a distribution whose
    OAC has no statement gets 403, with or without the object."""
    oac = server.aws("cloudfront", "create-origin-access-control",
                     "--origin-access-control-config", json.dumps({
                         "Name": "remote-eval-" + uuid.uuid4().hex[:6], "SigningProtocol": "sigv4",
                         "SigningBehavior": "always", "OriginAccessControlOriginType": "s3"}))
    cfg = tmp_path / "d.json"
    cfg.write_text(json.dumps({
        "CallerReference": uuid.uuid4().hex, "Comment": "", "Enabled": True,
        "Origins": {"Quantity": 1, "Items": [{
            "Id": "o", "DomainName": f"{site['bucket']}.s3.amazonaws.com",
            "S3OriginConfig": {"OriginAccessIdentity": ""},
            "OriginAccessControlId": oac["OriginAccessControl"]["Id"]}]},
        "DefaultCacheBehavior": {"TargetOriginId": "o", "ViewerProtocolPolicy": "allow-all",
                                 "MinTTL": 0, "ForwardedValues": {
                                     "QueryString": False, "Cookies": {"Forward": "none"}}}}))
    other = server.aws("cloudfront", "create-distribution", "--distribution-config",
                       "file://" + str(cfg))["Distribution"]
    edge = Edge(server, str(tmp_path), "--api", server.endpoint, "--evaluate-bucket-policy")
    try:
        ok = edge.url(site["dist"]["id"], "/big2.bin")
        r = wait_for(lambda: (lambda r: r if r.status == 200 else None)(server.curl(ok)),
                     "the evaluating edge")
        assert r.body == BIG[2]
        for path in ("/big2.bin", "/no-such-key"):
            r = server.curl(edge.url(other["Id"], path))
            assert r.status == 403 and b"<Code>AccessDenied</Code>" in r.body, r
        # the plain edge (no evaluation) reads it with its keys: the origin decides
        r = server.curl(site["edge"].url(other["Id"], "/big2.bin"))
        r = wait_for(lambda: (lambda r: r if r.status == 200 else None)(
            server.curl(site["edge"].url(other["Id"], "/big2.bin"))), "the plain edge")
        assert r.body == BIG[2]
    finally:
        edge.stop()


def test_requests_before_the_first_configuration_get_503(server, site, tmp_path):
    """Until its first poll has applied a configuration the standalone edge answers
    503 (Retry-After), never a wrong 403/404; a failed first poll after a restart
    serves the copy the previous run kept."""
    p = server.cattube("distribution", "get", site["dist"]["id"], "--endpoint", server.endpoint)
    cfg = tmp_path / "later.json"  # not there yet: the first polls fail
    edge = Edge(server, str(tmp_path), "--config", str(cfg))
    try:
        wait_for(lambda: server.curl(f"http://127.0.0.1:{edge.http_port}/metrics").status == 200,
                 "the edge's listeners")
        u = edge.url(site["dist"]["id"], "/big0.bin")
        for url in (u, f"https://127.0.0.1:{edge.https_port}/big0.bin"):
            r = server.curl(url)
            assert r.status == 503, r
            assert r.headers.get("retry-after") == "1"
            assert b"has not loaded its distributions" in r.body
            assert "no-store" in r.headers.get("cache-control", "")
        cfg.write_text(json.dumps({"distributions": [json.loads(p.stdout)]}))
        r = wait_for(lambda: (lambda r: r if r.status != 503 else None)(server.curl(u)),
                     "the configuration to load")
        assert r.status == 200 and r.body == BIG[0], r
    finally:
        edge.stop()
    cfg.unlink()  # the source is gone: the restarted edge serves its kept copy
    edge = Edge(server, str(tmp_path), "--config", str(cfg))
    u = edge.url(site["dist"]["id"], "/big0.bin")
    try:
        r = wait_for(lambda: (lambda r: r if r.status != 503 else None)(server.curl(u)),
                     "the restarted edge")
        assert r.status == 200 and r.body == BIG[0], r
    finally:
        edge.stop()


@pytest.fixture(scope="module")
def https_api(server, tmp_path_factory):
    """The API node's port behind TLS with a private CA's certificate: (URL, CA file)."""
    ca, cert, key = make_test_ca(str(tmp_path_factory.mktemp("private-ca")))
    front = TlsFront(server.port, cert, key)
    yield front.url, ca
    front.stop()


def test_api_over_https_needs_the_private_ca(server, https_api, tmp_path):
    """`cattube edge --api https://...` verifies the API node's certificate:
    without its CA every poll fails with the reason in the log while the edge
    keeps running (503 until configured); --origin-ca-file, which covers the
    API as well as the origins, lets the polls load the distributions."""
    url, ca = https_api
    bucket = "tls-" + uuid.uuid4().hex[:8]  # its own: other tests change site's distribution
    server.client("s3").create_bucket(Bucket=bucket)
    server.client("s3").put_object(Bucket=bucket, Key="seg 1.ts", Body=SEG)
    did = json.loads(server.cattube("distribution", "create", "--endpoint", server.endpoint,
                                    "--origin-bucket", bucket).stdout)["id"]
    for extra in ((), ("--origin-ca-file", ca)):
        base = tmp_path / ("trusted" if extra else "untrusted")
        base.mkdir()
        edge = Edge(server, str(base), "--api", url, *extra)
        u = edge.url(did, "/seg%201.ts")
        try:
            if not extra:
                wait_for(lambda: "SSL certificate problem" in (base / "edge.log").read_text(),
                         "a poll refused for its certificate")
                assert server.curl(u).status == 503
                assert edge.proc.poll() is None
                continue
            r = wait_for(lambda: (lambda r: r if r.status != 503 else None)(server.curl(u)),
                         "the edge's first poll over https")
            assert r.status == 200 and r.body == SEG, r
        finally:
            edge.stop()


def test_admin_cli_over_https_needs_the_private_ca(server, site, https_api, tmp_path):
    """`cattube admin` and `cattube distribution` against an https endpoint:
    refused (exit 1, the TLS reason) until --ca-bundle names the CA; a bad
    --ca-bundle is refused before any request, naming the file and why."""
    url, ca = https_api
    for cmd in (("admin", "user", "list"), ("distribution", "get", site["dist"]["id"])):
        p = server.cattube(*cmd, "--endpoint", url, check=False)
        assert p.returncode == 1 and "SSL certificate problem" in p.stderr, p
        p = server.cattube(*cmd, "--endpoint", url, "--ca-bundle", ca)
        assert json.loads(p.stdout), p
        for bad, why in bad_ca_files(str(tmp_path)):
            p = server.cattube(*cmd, "--endpoint", url, "--ca-bundle", bad, check=False)
            assert p.returncode == 2 and f"--ca-bundle {bad}: {why}" in p.stderr, p
    assert "--ca-bundle PEM" in server.cattube("distribution", "--help").stdout
