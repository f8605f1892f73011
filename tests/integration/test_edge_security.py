"""Edge security with curl over HTTPS (issue 6 evidence): encoded path
traversal never escapes a distribution's OriginPath or its bucket, headers
a cache-poisoning attacker controls never change what the next plain viewer
gets from the cache, and a 403 for a bad signature is never cached.

The buckets outside the OriginPath are readable by any CloudFront
distribution (the policy's SourceArn is a wildcard), so only the edge's path
handling stands between a viewer and them."""
import json
import os
import urllib.parse
import uuid

import pytest

from test_edge_signed import NOW, env, sign  # noqa: F401 (env is a fixture)

INSIDE = b"inside the origin path\n"
SECRET = b"secret outside the origin path\n"
OTHER = b"other bucket, never reachable\n"
M3U8 = ("#EXTM3U\n#EXT-X-TARGETDURATION:6\n" +
        "".join(f"#EXTINF:6.000,\nseg_{i:05d}.ts\n" for i in range(100)) +
        "#EXT-X-ENDLIST\n").encode()


def _cf_policy(bucket):
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "cloudfront.amazonaws.com"},
        "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*",
        "Condition": {"StringLike": {"AWS:SourceArn": "arn:aws:cloudfront::*:distribution/*"}}}]})


def _make_dist(server, bucket, oac, origin_path="", aliases=(), compress=False):
    cfg = {
        "CallerReference": uuid.uuid4().hex, "Comment": "security", "Enabled": True,
        "Aliases": {"Quantity": len(aliases), "Items": list(aliases)},
        "Origins": {"Quantity": 1, "Items": [{
            "Id": "o1", "DomainName": f"{bucket}.s3.amazonaws.com", "OriginPath": origin_path,
            "S3OriginConfig": {"OriginAccessIdentity": ""}, "OriginAccessControlId": oac}]},
        "DefaultCacheBehavior": {
            "TargetOriginId": "o1", "ViewerProtocolPolicy": "redirect-to-https",
            "Compress": compress, "MinTTL": 0, "DefaultTTL": 60, "MaxTTL": 3600,
            "ForwardedValues": {"QueryString": False, "Cookies": {"Forward": "none"}}},
    }
    path = os.path.join(server.work, f"seccfg-{uuid.uuid4().hex}.json")
    with open(path, "w") as f:
        json.dump(cfg, f)
    return server.aws("cloudfront", "create-distribution", "--distribution-config",
                      "file://" + path)["Distribution"]


@pytest.fixture(scope="module")
def site(server):
    s3 = server.client("s3")
    main, other = "sec-" + uuid.uuid4().hex[:10], "sec-other-" + uuid.uuid4().hex[:8]
    for b in (main, other):
        s3.create_bucket(Bucket=b)
        s3.put_bucket_policy(Bucket=b, Policy=_cf_policy(b))
    s3.put_object(Bucket=main, Key="site/index.html", Body=INSIDE, ContentType="text/html")
    s3.put_object(Bucket=main, Key="site/p.txt", Body=b"plain object\n" * 50,
                  ContentType="text/plain")
    s3.put_object(Bucket=main, Key="site/live.m3u8", Body=M3U8,
                  ContentType="application/vnd.apple.mpegurl")
    s3.put_object(Bucket=main, Key="secret.txt", Body=SECRET, ContentType="text/plain")
    s3.put_object(Bucket=other, Key="private.txt", Body=OTHER, ContentType="text/plain")
    s3.put_object(Bucket=other, Key="site/private.txt", Body=OTHER, ContentType="text/plain")
    oac = server.aws("cloudfront", "create-origin-access-control",
                     "--origin-access-control-config", json.dumps({
                         "Name": "sec-" + uuid.uuid4().hex[:8], "Description": "",
                         "SigningProtocol": "sigv4", "SigningBehavior": "always",
                         "OriginAccessControlOriginType": "s3"}))["OriginAccessControl"]["Id"]
    alias = "sec-" + uuid.uuid4().hex[:6] + ".example.localhost"
    d = _make_dist(server, main, oac, origin_path="/site", aliases=[alias], compress=True)
    return {"main": main, "other": other, "dist": d, "alias": alias, "oac": oac,
            "base": f"https://{d['DomainName']}:{server.edge_https_port}"}


TRAVERSALS = [
    "/../secret.txt", "/%2e%2e/secret.txt", "/%2E%2E/secret.txt", "/..%2fsecret.txt",
    "/..%2Fsecret.txt", "/%2e%2e%2fsecret.txt", "/%252e%252e/secret.txt",
    "/%252e%252e%252fsecret.txt", "/..%5csecret.txt", "/..\\secret.txt", "/.%2e/secret.txt",
    "//../secret.txt", "/x/../../secret.txt", "/x/%2e%2e/%2e%2e/secret.txt",
    "/..%00/secret.txt", "/%2e%2e%5c..%5csecret.txt", "/./../secret.txt",
    # out of the bucket too
    "/../../{other}/private.txt", "/%2e%2e/%2e%2e/{other}/private.txt",
    "/..%2f..%2f{other}%2fprivate.txt", "//{other}/private.txt", "/../{other}/site/private.txt",
    "/%2e%2e%2f%2e%2e%2f{other}%2fsite%2fprivate.txt", "/..\\..\\{other}\\private.txt",
    "/http://127.0.0.1/{other}/private.txt",
]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_encoded_traversal_stays_inside_origin_path(server, site, path):
    path = path.replace("{other}", site["other"])
    for base in (site["base"], f"https://{site['alias']}:{server.edge_https_port}"):
        r = server.curl(base + path)
        assert r.status in (400, 403, 404), (path, r)
        assert SECRET not in r.body and OTHER not in r.body, (path, r.body[:200])
    # the edge still serves the legitimate object afterwards
    r = server.curl(site["base"] + "/index.html")
    assert r.status == 200 and r.body == INSIDE


def test_traversal_via_absolute_form_request_target(server, site):
    """An absolute-form request target (a proxy request) names another host
    and a traversal: it must not reach the other bucket."""
    other = site["other"]
    r = server.curl(site["base"] + f"/../{other}/private.txt",
                    "--request-target", f"https://127.0.0.1/../{other}/private.txt")
    assert r.status in (400, 403, 404) and OTHER not in r.body, r


def test_direct_keys_with_dot_segments_are_literal(server, site):
    """A key that really contains ".." inside the OriginPath is served as
    that literal key, not resolved against its parent."""
    s3 = server.client("s3")
    s3.put_object(Bucket=site["main"], Key="site/a/../dots.txt", Body=b"literal dots\n")
    r = server.curl(site["base"] + "/a/../dots.txt")
    assert r.status == 200 and r.body == b"literal dots\n", r
    # ...and "/dots.txt" (what a normaliser would turn it into) is not that object
    r = server.curl(site["base"] + "/dots.txt")
    assert r.status in (403, 404)


# ---- cache poisoning: a poisoned request first, then a clean one ----

COMPARED = ("content-type", "content-length", "etag", "last-modified", "content-encoding",
            "cache-control", "content-range", "location", "vary",
            "access-control-allow-origin")


def _view(r):
    return r.status, r.body, {k: r.headers.get(k) for k in COMPARED}


def _fresh_key(server, site, body=b"poison target\n" * 40, ctype="text/plain", ext="txt"):
    key = f"poison-{uuid.uuid4().hex[:8]}.{ext}"
    server.client("s3").put_object(Bucket=site["main"], Key="site/" + key, Body=body,
                                   ContentType=ctype)
    return "/" + key, body


POISON = [
    ("X-Forwarded-Host", ["-H", "X-Forwarded-Host: evil.example"]),
    ("X-Host", ["-H", "X-Host: evil.example"]),
    ("X-Original-URL", ["-H", "X-Original-URL: /secret.txt"]),
    ("X-Rewrite-URL", ["-H", "X-Rewrite-URL: /../secret.txt"]),
    ("X-Forwarded-Proto", ["-H", "X-Forwarded-Proto: http", "-H", "X-Forwarded-Port: 1"]),
    ("X-HTTP-Method-Override", ["-H", "X-HTTP-Method-Override: DELETE"]),
    ("Origin", ["-H", "Origin: https://evil.example"]),
    ("Range", ["-H", "Range: bytes=0-9"]),
    ("Range-suffix", ["-H", "Range: bytes=-3"]),
    ("Range-multi", ["-H", "Range: bytes=0-1,5-6"]),
    ("Range-bad", ["-H", "Range: bytes=999999-"]),
    ("Accept-Encoding", ["-H", "Accept-Encoding: gzip, deflate, br"]),
    ("If-None-Match", ["-H", "If-None-Match: *"]),
    ("signature-params", ["?Expires=1&Signature=AAAA&Key-Pair-Id=K1"]),
    ("query", ["?response-content-type=text/html&x-id=GetObject"]),
    ("Cookie", ["-H", "Cookie: CloudFront-Policy=x; CloudFront-Signature=y"]),
]


def _poison(server, url, args):
    extra = [a for a in args if not a.startswith("?")]
    q = [a for a in args if a.startswith("?")]
    return server.curl(url + (q[0] if q else ""), *extra)


@pytest.mark.parametrize("name,args", POISON, ids=[p[0] for p in POISON])
@pytest.mark.parametrize("kind", ["txt", "m3u8"])
def test_poisoned_request_does_not_change_the_cached_response(server, site, name, args, kind):
    if kind == "m3u8":
        path, body = _fresh_key(server, site, M3U8, "application/vnd.apple.mpegurl", "m3u8")
    else:
        path, body = _fresh_key(server, site)
    url = site["base"] + path
    # the poisoned request is the first one: it fills the cache
    _poison(server, url, args)
    clean = server.curl(url)
    assert clean.status == 200 and clean.body == body, (name, clean)
    assert clean.headers.get("content-encoding") is None
    assert b"evil" not in clean.body and "evil" not in clean.all_headers
    # compared with what a clean viewer of a never-poisoned object gets
    path2, _ = (_fresh_key(server, site, M3U8, "application/vnd.apple.mpegurl", "m3u8")
                if kind == "m3u8" else _fresh_key(server, site))
    ref = server.curl(site["base"] + path2)
    st, b, h = _view(clean)
    st2, b2, h2 = _view(ref)
    for k in ("etag", "last-modified"):
        h.pop(k), h2.pop(k)
    assert (st, b, h) == (st2, b2, h2), name
    # and the hit afterwards is the same again
    hit = server.curl(url)
    assert hit.headers.get("x-cache") == "Hit from cattube"
    assert _view(hit) == _view(clean)


def test_alias_and_host_variants_share_one_clean_entry(server, site):
    path, body = _fresh_key(server, site)
    port = server.edge_https_port
    variants = [f"https://{site['alias']}:{port}",
                f"https://{site['alias'].upper()}:{port}",
                f"https://{site['dist']['DomainName']}:{port}"]
    first = server.curl(variants[0] + path, "-H", "X-Forwarded-Host: evil.example")
    assert first.status == 200 and first.body == body
    for v in variants:
        r = server.curl(v + path)
        assert r.status == 200 and r.body == body, (v, r)
        assert "evil" not in r.all_headers
    # another distribution (another bucket) with the same path never gets
    # this one's cached entry: the distribution is part of the key
    other = _make_dist(server, site["other"], site["oac"])
    r = server.curl(f"https://{other['DomainName']}:{port}" + path)
    assert r.status in (403, 404) and r.body != body, r
    r = server.curl(variants[0] + path)
    assert r.status == 200 and r.body == body


def test_absolute_uri_host_does_not_poison(server, site):
    """GET https://evil.example/path with Host: the distribution: whatever the
    edge answers, the next plain viewer gets the object."""
    path, body = _fresh_key(server, site)
    server.curl(site["base"] + path, "--request-target", f"https://evil.example{path}")
    r = server.curl(site["base"] + path)
    assert r.status == 200 and r.body == body and "evil" not in r.all_headers


def test_gzip_then_identity_then_gzip(server, site):
    import gzip
    path, body = _fresh_key(server, site, M3U8, "application/vnd.apple.mpegurl", "m3u8")
    url = site["base"] + path
    g = server.curl(url, "-H", "Accept-Encoding: gzip")
    assert g.status == 200 and g.headers.get("content-encoding") == "gzip"
    assert gzip.decompress(g.body) == body
    assert "accept-encoding" in g.headers.get("vary", "").lower()
    plain = server.curl(url)
    assert plain.body == body and plain.headers.get("content-encoding") is None
    assert int(plain.headers["content-length"]) == len(body)
    assert gzip.decompress(server.curl(url, "-H", "Accept-Encoding: gzip").body) == body


def test_range_first_then_full(server, site):
    path, body = _fresh_key(server, site)
    url = site["base"] + path
    r = server.curl(url, "-H", "Range: bytes=5-9")
    assert r.status == 206 and r.body == body[5:10]
    r = server.curl(url)
    assert r.status == 200 and r.body == body and "content-range" not in r.headers


# ---- signed distributions: a 403 is never cached ----

def test_bad_signature_403_is_never_cached(server, env):  # noqa: F811
    base = env.base
    good = sign(env, url=base + "/video/a.txt", dateLessThan=NOW() + 300)["url"]
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(good).query)
    sig = q["Signature"][0]
    bad = good.replace(sig, sig[:20] + ("A" if sig[20] != "A" else "B") + sig[21:])
    # bad first: 403, not stored; good afterwards is a 200 with the body
    r = server.curl(bad)
    assert r.status == 403 and "no-store" in r.headers.get("cache-control", ""), r
    assert b"signed content A" not in r.body
    r = server.curl(good)
    assert r.status == 200 and r.body == b"signed content A\n", r
    # good first filled the cache: a bad or missing signature is still a 403
    for u in (bad, base + "/video/a.txt", base + "/video/a.txt?Key-Pair-Id=" + env.key_id):
        r = server.curl(u)
        assert r.status == 403 and b"signed content A" not in r.body, (u, r)
        assert r.headers.get("x-cache", "").startswith("Error"), r
    # the 403 did not replace the cached object
    r = server.curl(good)
    assert r.status == 200 and r.body == b"signed content A\n"
    # an expired signature on a cached object
    old = sign(env, url=base + "/video/a.txt", dateLessThan=NOW() - 10)["url"]
    assert server.curl(old).status == 403
    assert server.curl(good).status == 200


def test_server_still_healthy(server):
    assert server.alive() and server.health() == 200


# ---- the standalone edge (`cattube edge --origin URL`) builds origin URLs ----

def _public_policy(bucket):
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{bucket}/*"}]})


@pytest.fixture(scope="module")
def remote(server, site, tmp_path_factory):
    """Public-read buckets (no OAC, so no origin signature to break) behind
    a standalone edge: only the origin URL the edge builds keeps a viewer
    inside the OriginPath."""
    from test_edge_remote import Edge, wait_for
    s3 = server.client("s3")
    for b in (site["main"], site["other"]):
        s3.put_bucket_policy(Bucket=b, Policy=_public_policy(b))
    d = _make_dist(server, site["main"], "", origin_path="/site")
    edge = Edge(server, str(tmp_path_factory.mktemp("secedge")), "--api", server.endpoint)
    try:
        wait_for(lambda: server.curl(edge.url(d["Id"], "/index.html")).status == 200,
                 "the standalone edge to serve the distribution")
        yield {"edge": edge, "id": d["Id"]}
    finally:
        edge.stop()
        for b in (site["main"], site["other"]):
            s3.put_bucket_policy(Bucket=b, Policy=_cf_policy(b))


@pytest.mark.parametrize("path", TRAVERSALS)
def test_standalone_edge_traversal_stays_inside_origin_path(server, site, remote, path):
    """Regression: libcurl removed dot segments from the origin URL
    (/bucket/site/../secret.txt became /bucket/secret.txt)."""
    path = path.replace("{other}", site["other"])
    r = server.curl(remote["edge"].url(remote["id"], path))
    assert r.status in (400, 403, 404), (path, r)
    assert SECRET not in r.body and OTHER not in r.body, (path, r.body[:200])


def test_standalone_edge_serves_literal_dot_keys(server, site, remote):
    server.client("s3").put_object(Bucket=site["main"], Key="site/b/../dots2.txt",
                                   Body=b"literal dots 2\n")
    r = server.curl(remote["edge"].url(remote["id"], "/b/../dots2.txt"))
    assert r.status == 200 and r.body == b"literal dots 2\n", r
    assert server.curl(remote["edge"].url(remote["id"], "/dots2.txt")).status in (403, 404)


@pytest.mark.parametrize("name,args", [p for p in POISON if p[0] in (
    "X-Forwarded-Host", "X-Original-URL", "Range", "Range-multi", "Accept-Encoding",
    "signature-params", "If-None-Match")], ids=lambda v: v if isinstance(v, str) else "")
def test_standalone_edge_disk_cache_is_not_poisoned(server, site, remote, name, args):
    path, body = _fresh_key(server, site, M3U8, "application/vnd.apple.mpegurl", "m3u8")
    url = remote["edge"].url(remote["id"], path)
    _poison(server, url, args)  # fills the disk cache
    for _ in range(2):
        r = server.curl(url)
        assert r.status == 200 and r.body == body, (name, r)
        assert r.headers.get("content-encoding") is None and "content-range" not in r.headers
        assert int(r.headers["content-length"]) == len(body)
        assert "evil" not in r.all_headers
