"""The edge's origin-metadata cache: X-Cache Hit/Miss, TTLs from the
object's Cache-Control and the distribution's TTLs, invalidations, errors
never cached, signing parameters outside the cache key, and many
concurrent misses coalesced."""

import concurrent.futures
import time

import pytest

from test_edge_signed import admin

BUCKET = "edge-cache-origin"


@pytest.fixture(scope="module")
def dist(server):
    s3 = server.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="a.txt", Body=b"version 1", ContentType="text/plain")
    s3.put_object(Bucket=BUCKET, Key="dir/x.txt", Body=b"x", ContentType="text/plain")
    s3.put_object(Bucket=BUCKET, Key="dir/y.txt", Body=b"y", ContentType="text/plain")
    s3.put_object(Bucket=BUCKET, Key="nocache.txt", Body=b"n", CacheControl="no-cache")
    s3.put_object(Bucket=BUCKET, Key="short.txt", Body=b"s", CacheControl="max-age=1")
    st, d = admin(server, "POST", "/cattube/admin/distributions", {"originBucket": BUCKET})
    assert st == 201, d
    assert (d["defaultTTL"], d["minTTL"], d["maxTTL"]) == (86400, 0, 31536000)
    return d


def xc(r):
    return r.headers.get("x-cache", "")


def test_miss_then_hit_and_ranges(server, dist):
    u = dist["url"] + "/a.txt"
    r = server.curl(u)
    assert r.status == 200 and xc(r) == "Miss from cattube", r
    r = server.curl(u)
    assert r.status == 200 and xc(r) == "Hit from cattube" and r.body == b"version 1"
    r = server.curl(u, "-H", "Range: bytes=2-4")
    assert r.status == 206 and r.body == b"rsi" and xc(r) == "Hit from cattube"
    # The query string (e.g. signing parameters) is not part of the key.
    r = server.curl(u + "?Expires=1&foo=bar")
    assert xc(r) == "Hit from cattube"


def test_overwrite_is_seen(server, dist):
    u = dist["url"] + "/dir/x.txt"
    server.curl(u)
    assert xc(server.curl(u)) == "Hit from cattube"
    server.client("s3").put_object(Bucket=BUCKET, Key="dir/x.txt", Body=b"x2")
    # the cached row's blob is gone: the edge reads the origin again
    r = server.curl(u)
    assert r.status == 200 and r.body == b"x2", r


def test_invalidation(server, dist):
    ux, uy = dist["url"] + "/dir/x.txt", dist["url"] + "/dir/y.txt"
    ua = dist["url"] + "/a.txt"
    for u in (ux, uy, ua):
        server.curl(u)
        assert xc(server.curl(u)) == "Hit from cattube"
    st, inv = admin(server, "POST", f"/cattube/admin/distributions/{dist['id']}/invalidations",
                    {"paths": ["/dir/*"]})
    assert st == 201 and inv["status"] == "Completed", inv
    assert xc(server.curl(ux)) == "Miss from cattube"
    assert xc(server.curl(uy)) == "Miss from cattube"
    assert xc(server.curl(ua)) == "Hit from cattube"
    st, _ = admin(server, "POST", f"/cattube/admin/distributions/{dist['id']}/invalidations",
                  {"paths": ["/a.txt"]})
    assert st == 201
    assert xc(server.curl(ua)) == "Miss from cattube"
    st, _ = admin(server, "POST", f"/cattube/admin/distributions/{dist['id']}/invalidations",
                  {"paths": ["no-slash"]})
    assert st == 400


def test_ttls(server, dist):
    un = dist["url"] + "/nocache.txt"
    server.curl(un)
    assert xc(server.curl(un)) == "Miss from cattube"
    us = dist["url"] + "/short.txt"
    server.curl(us)
    assert xc(server.curl(us)) == "Hit from cattube"
    time.sleep(1.2)
    assert xc(server.curl(us)) == "Miss from cattube"
    # MaxTTL 0 on the distribution: nothing is cached.
    st, upd = admin(server, "PATCH", f"/cattube/admin/distributions/{dist['id']}",
                    {"maxTTL": 0})
    assert st == 200 and upd["maxTTL"] == 0
    ua = dist["url"] + "/a.txt"
    server.curl(ua)
    assert xc(server.curl(ua)) == "Miss from cattube"
    st, _ = admin(server, "PATCH", f"/cattube/admin/distributions/{dist['id']}",
                  {"maxTTL": 31536000})
    assert st == 200
    st, _ = admin(server, "PATCH", f"/cattube/admin/distributions/{dist['id']}",
                  {"minTTL": -1})
    assert st == 400


def test_errors_not_cached(server, dist):
    u = dist["url"] + "/late.txt"
    r = server.curl(u)
    # a missing key is AccessDenied through the OAC policy (GetObject only), like S3
    assert r.status == 403 and "no-store" in r.headers.get("cache-control", "")
    server.client("s3").put_object(Bucket=BUCKET, Key="late.txt", Body=b"now")
    r = server.curl(u)
    assert r.status == 200 and r.body == b"now"


def test_concurrent_misses(server, dist):
    for i in range(3):
        server.client("s3").put_object(Bucket=BUCKET, Key=f"hot{i}.txt", Body=b"hot")
    urls = [dist["url"] + f"/hot{i % 3}.txt" for i in range(24)]
    with concurrent.futures.ThreadPoolExecutor(12) as ex:
        rs = list(ex.map(server.curl, urls))
    assert all(r.status == 200 and r.body == b"hot" for r in rs)
    misses = sum(1 for r in rs if xc(r) == "Miss from cattube")
    assert 3 <= misses <= 24
