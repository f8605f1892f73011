"""CustomErrorResponses' ErrorCachingMinTTL on the edge: an origin's 404 or
403 is cached for that many seconds when the distribution has a
CustomErrorResponse for the code (through the ResponsePagePath /
ResponseCode mapping too); without one, or with 0, errors are not cached;
an invalidation drops a cached error; a signature failure is never cached.
Distributions are made with the aws CLI; objects with boto3."""
import json
import os
import subprocess
import time
import uuid

import pytest

from test_edge_range_gzip import make_dist

PAGE = b"<h1>not here</h1>"


def policy(server, bucket, list_bucket):
    st = [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
           "Resource": f"arn:aws:s3:::{bucket}/*"}]
    if list_bucket:  # a missing key is then a 404, else a 403 (as on S3)
        st.append({"Effect": "Allow", "Principal": "*", "Action": "s3:ListBucket",
                   "Resource": f"arn:aws:s3:::{bucket}"})
    server.client("s3").put_bucket_policy(
        Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": st}))


@pytest.fixture(scope="module")
def buckets(server):
    s3 = server.client("s3")
    out = {}
    for kind, lb in (("listable", True), ("private", False)):
        b = f"errc-{kind[:4]}-{uuid.uuid4().hex[:8]}"
        s3.create_bucket(Bucket=b)
        policy(server, b, lb)
        s3.put_object(Bucket=b, Key="errors/404.html", Body=PAGE, ContentType="text/html")
        out[kind] = b
    return out


def wait_for(fn, what, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def invalidate(server, url, path):
    did = url.split("//", 1)[1].split(".", 1)[0].upper()
    server.aws("cloudfront", "create-invalidation", "--distribution-id", did, "--paths", path)


def test_errors_not_cached_without_a_custom_error_response(server, buckets):
    b = buckets["listable"]
    base = make_dist(server, b, False, errors=[
        {"ErrorCode": 403, "ResponsePagePath": "", "ErrorCachingMinTTL": 300}])  # not 404
    key = "plain-" + uuid.uuid4().hex
    r = server.curl(f"{base}/{key}")
    assert r.status == 404 and b"NoSuchKey" in r.body, r
    server.client("s3").put_object(Bucket=b, Key=key, Body=b"now here")
    r = server.curl(f"{base}/{key}")
    assert r.status == 200 and r.body == b"now here", r


def test_404_cached_for_error_caching_min_ttl(server, buckets):
    b = buckets["listable"]
    base = make_dist(server, b, False, errors=[{"ErrorCode": 404, "ErrorCachingMinTTL": 300}])
    key = "cached-" + uuid.uuid4().hex
    r = server.curl(f"{base}/{key}")
    assert r.status == 404 and b"NoSuchKey" in r.body, r
    server.client("s3").put_object(Bucket=b, Key=key, Body=b"arrived")
    for _ in range(3):  # the 404 is kept; HEAD too
        assert server.curl(f"{base}/{key}").status == 404
    assert server.curl(f"{base}/{key}", "-I").status == 404
    invalidate(server, base, f"/{key}")
    r = server.curl(f"{base}/{key}")
    assert r.status == 200 and r.body == b"arrived", r


def test_short_error_ttl_expires(server, buckets):
    b = buckets["listable"]
    base = make_dist(server, b, False, errors=[{"ErrorCode": 404, "ErrorCachingMinTTL": 1}])
    key = "short-" + uuid.uuid4().hex
    assert server.curl(f"{base}/{key}").status == 404
    server.client("s3").put_object(Bucket=b, Key=key, Body=b"later")
    wait_for(lambda: server.curl(f"{base}/{key}").status == 200, "the cached 404 to expire")


def test_zero_error_ttl_with_a_page(server, buckets):
    """ErrorCachingMinTTL 0: the page mapping applies, nothing is cached."""
    b = buckets["listable"]
    base = make_dist(server, b, False, errors=[
        {"ErrorCode": 404, "ResponsePagePath": "/errors/404.html", "ResponseCode": "404",
         "ErrorCachingMinTTL": 0}])
    key = "zero-" + uuid.uuid4().hex
    r = server.curl(f"{base}/{key}")
    assert r.status == 404 and r.body == PAGE and r.headers["content-type"] == "text/html", r
    server.client("s3").put_object(Bucket=b, Key=key, Body=b"zero")
    assert server.curl(f"{base}/{key}").body == b"zero"


def test_cached_403_with_page_and_response_code(server, buckets):
    """A private bucket answers a missing key with 403: with a 403 page (as 200)
    and ErrorCachingMinTTL, the page keeps answering after the object appears,
    until an invalidation."""
    b = buckets["private"]
    d = make_dist(server, b, False, raw=True, errors=[
        {"ErrorCode": 403, "ResponsePagePath": "/errors/404.html", "ResponseCode": "200",
         "ErrorCachingMinTTL": 300}])
    got = d["DistributionConfig"]["CustomErrorResponses"]["Items"][0]
    assert got["ErrorCachingMinTTL"] == 300
    base = f"https://{d['DomainName']}:{server.edge_https_port}"
    key = "p403-" + uuid.uuid4().hex
    r = server.curl(f"{base}/{key}")
    assert r.status == 200 and r.body == PAGE, r
    server.client("s3").put_object(Bucket=b, Key=key, Body=b"private object")
    r = server.curl(f"{base}/{key}")
    assert r.status == 200 and r.body == PAGE, r
    invalidate(server, base, f"/{key}")
    r = server.curl(f"{base}/{key}")
    assert r.status == 200 and r.body == b"private object", r


def test_signature_failures_are_never_cached(server, buckets, tmp_path):
    """A trusted-key-group distribution with a cached 403: a request with a bad
    signature is refused before the cache, so the valid URL right after works."""
    from test_edge_signed import JS, _node_ready, admin, keypair
    node = _node_ready()
    b = buckets["listable"]
    server.client("s3").put_object(Bucket=b, Key="signed.txt", Body=b"signed body")
    priv, pub = keypair(str(tmp_path), "k")
    st, k = admin(server, "POST", "/cattube/admin/public-keys",
                  {"name": "errc-" + uuid.uuid4().hex[:6], "encodedKey": pub})
    assert st == 201, k
    st, g = admin(server, "POST", "/cattube/admin/key-groups",
                  {"name": "errc-" + uuid.uuid4().hex[:6], "items": [k["id"]]})
    assert st == 201, g
    cfg = {
        "CallerReference": uuid.uuid4().hex, "Comment": "", "Enabled": True,
        "Origins": {"Quantity": 1, "Items": [{
            "Id": "o1", "DomainName": f"{b}.s3.amazonaws.com",
            "S3OriginConfig": {"OriginAccessIdentity": ""}}]},
        "DefaultCacheBehavior": {
            "TargetOriginId": "o1", "ViewerProtocolPolicy": "redirect-to-https", "MinTTL": 0,
            "TrustedKeyGroups": {"Enabled": True, "Quantity": 1, "Items": [g["id"]]},
            "ForwardedValues": {"QueryString": False, "Cookies": {"Forward": "none"}}},
        "CustomErrorResponses": {"Quantity": 1, "Items": [
            {"ErrorCode": 403, "ErrorCachingMinTTL": 300}]},
    }
    path = tmp_path / "d.json"
    path.write_text(json.dumps(cfg))
    d = server.aws("cloudfront", "create-distribution", "--distribution-config",
                   "file://" + str(path))["Distribution"]
    url = f"https://{d['DomainName']}:{server.edge_https_port}/signed.txt"
    p = subprocess.run([node, os.path.join(JS, "sign.mjs"), json.dumps({
        "mode": "url", "url": url, "keyPairId": k["id"], "privateKeyFile": priv,
        "dateLessThan": int(time.time()) + 300})], cwd=JS, capture_output=True, text=True,
        timeout=60)
    assert p.returncode == 0, p.stderr
    good = json.loads(p.stdout)["url"]
    for bad in (url, good.replace("Signature=", "Signature=AA")):
        assert server.curl(bad).status == 403
    r = server.curl(good)
    assert r.status == 200 and r.body == b"signed body", r
