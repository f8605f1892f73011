"""The standalone edge across restarts: its disk cache (DATA/edge-cache) is
reused, rows included, so the first GET after a restart is a hit that reads
nothing from the origin; invalidations made on the API node while the edge
was down are applied at its first poll (all of the distribution's cache when
more were made than the API node keeps); expired entries are not reused."""
import json
import os
import re
import time
import uuid

import pytest

from test_edge_remote import Edge, wait_for


def counters(server, edge):
    r = server.curl(f"http://127.0.0.1:{edge.http_port}/metrics")
    assert r.status == 200, r
    return {m.group(1): int(float(m.group(2)))
            for m in re.finditer(r"^(cattube_edge_\w+) ([0-9.e+]+)$", r.body.decode(), re.M)}


def restart(server, base, edge):
    edge.stop()
    new = Edge(server, base, "--api", server.endpoint)
    wait_for(lambda: server.curl(f"http://127.0.0.1:{new.http_port}/metrics").status == 200,
             "the restarted edge")
    return new


@pytest.fixture(scope="module")
def site(server, tmp_path_factory):
    bucket = "restart-" + uuid.uuid4().hex[:8]
    s3 = server.client("s3")
    s3.create_bucket(Bucket=bucket)
    p = server.cattube("distribution", "create", "--endpoint", server.endpoint,
                       "--origin-bucket", bucket)
    dist = json.loads(p.stdout)
    base = str(tmp_path_factory.mktemp("edge-restart"))
    s = {"bucket": bucket, "id": dist["id"], "base": base, "s3": s3,
         "edge": Edge(server, base, "--api", server.endpoint)}
    s3.put_object(Bucket=bucket, Key="probe.txt", Body=b"up")
    wait_for(lambda: server.curl(s["edge"].url(dist["id"], "/probe.txt")).status == 200,
             "the standalone edge to serve the distribution")
    try:
        yield s
    finally:
        s["edge"].stop()


def fill(server, site, key, body, hit=True, **kw):
    site["s3"].put_object(Bucket=site["bucket"], Key=key, Body=body, **kw)
    u = site["edge"].url(site["id"], "/" + key)
    assert server.curl(u).body == body
    r = server.curl(u)
    assert r.body == body and (not hit or r.headers["x-cache"] == "Hit from cattube"), r
    return u


def test_restart_reuses_the_disk_cache(server, site):
    body = os.urandom(200_000)
    fill(server, site, "keep/seg.ts", body, ContentType="video/mp2t")
    # overwritten at the origin while the edge is down, with no invalidation:
    # only a cached copy can still answer the old bytes
    site["s3"].put_object(Bucket=site["bucket"], Key="keep/seg.ts", Body=b"new" * 100)
    site["edge"] = edge = restart(server, site["base"], site["edge"])
    before = counters(server, edge)
    r = server.curl(edge.url(site["id"], "/keep/seg.ts"))
    assert r.status == 200 and r.body == body, r
    assert r.headers["x-cache"] == "Hit from cattube"
    assert r.headers["content-type"] == "video/mp2t"
    r = server.curl(edge.url(site["id"], "/keep/seg.ts"), "-H", "Range: bytes=10-19")
    assert r.status == 206 and r.body == body[10:20]
    after = counters(server, edge)
    assert after["cattube_edge_disk_misses_total"] == before["cattube_edge_disk_misses_total"]
    assert after["cattube_edge_cache_misses_total"] == before["cattube_edge_cache_misses_total"]
    assert (after["cattube_edge_origin_latency_seconds_count"]
            == before["cattube_edge_origin_latency_seconds_count"])
    assert after["cattube_edge_disk_hits_total"] >= before["cattube_edge_disk_hits_total"] + 2
    assert after["cattube_edge_disk_bytes"] >= len(body)


def test_invalidation_made_while_down_applies_at_restart(server, site):
    ua = fill(server, site, "down/a.txt", b"a1" * 50)
    ub = fill(server, site, "down/b.txt", b"b1" * 50)
    site["edge"].stop()
    site["s3"].put_object(Bucket=site["bucket"], Key="down/a.txt", Body=b"a2" * 50)
    site["s3"].put_object(Bucket=site["bucket"], Key="down/b.txt", Body=b"b2" * 50)
    server.aws("cloudfront", "create-invalidation", "--distribution-id", site["id"],
               "--paths", "/down/a.txt")
    site["edge"] = edge = restart(server, site["base"], site["edge"])
    ua, ub = edge.url(site["id"], "/down/a.txt"), edge.url(site["id"], "/down/b.txt")
    wait_for(lambda: server.curl(ua).body == b"a2" * 50, "the invalidation made while down")
    r = server.curl(ub)  # not invalidated: still the cached copy
    assert r.body == b"b1" * 50 and r.headers["x-cache"] == "Hit from cattube", r


def test_more_invalidations_than_kept_drop_the_distribution(server, site):
    fill(server, site, "many/x.txt", b"x1" * 50)
    site["edge"].stop()
    site["s3"].put_object(Bucket=site["bucket"], Key="many/x.txt", Body=b"x2" * 50)
    cf = server.client("cloudfront")
    for i in range(101):  # the API node keeps the newest 100
        cf.create_invalidation(DistributionId=site["id"], InvalidationBatch={
            "Paths": {"Quantity": 1, "Items": [f"/other/{i}"]},
            "CallerReference": uuid.uuid4().hex})
    site["edge"] = edge = restart(server, site["base"], site["edge"])
    u = edge.url(site["id"], "/many/x.txt")
    wait_for(lambda: server.curl(u).body == b"x2" * 50, "the whole distribution dropped")


def test_expired_entries_are_not_reused(server, site):
    fill(server, site, "short/s.txt", b"s1" * 50, hit=False, CacheControl="max-age=1")
    site["s3"].put_object(Bucket=site["bucket"], Key="short/s.txt", Body=b"s2" * 50)
    site["edge"].stop()
    time.sleep(1.5)  # past the entry's TTL
    site["edge"] = edge = restart(server, site["base"], site["edge"])
    r = server.curl(edge.url(site["id"], "/short/s.txt"))
    assert r.body == b"s2" * 50 and r.headers["x-cache"] == "Miss from cattube", r
