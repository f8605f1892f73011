"""The edge's Range answers with several ranges (multipart/byteranges, RFC
9110 §14.6), gzip for manifests and text (CloudFront's Compress), and
CacheBehaviors by path pattern, with curl against distributions made through
the CloudFront API (aws CLI)."""
import gzip
import json
import os
import re
import uuid

import pytest

BODY = bytes((i * 7 + i // 256) % 256 for i in range(4096))
M3U8 = ("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:6\n" +
        "".join(f"#EXTINF:6.000,\nseg_{i:05d}.ts\n" for i in range(200)) +
        "#EXT-X-ENDLIST\n").encode()


def make_dist(server, bucket, compress, oac=None, behaviors=(), raw=False, errors=None):
    cfg = {
        "CallerReference": uuid.uuid4().hex, "Comment": "range/gzip", "Enabled": True,
        "Origins": {"Quantity": 1, "Items": [{
            "Id": "o1", "DomainName": f"{bucket}.s3.amazonaws.com",
            "S3OriginConfig": {"OriginAccessIdentity": ""},
            "OriginAccessControlId": oac or ""}]},
        "DefaultCacheBehavior": {
            "TargetOriginId": "o1", "ViewerProtocolPolicy": "redirect-to-https",
            "Compress": compress, "MinTTL": 0, "DefaultTTL": 60, "MaxTTL": 3600,
            "ForwardedValues": {"QueryString": False, "Cookies": {"Forward": "none"}}},
    }
    if errors is not None:
        cfg["CustomErrorResponses"] = {"Quantity": len(errors), "Items": errors}
    if behaviors:
        cfg["CacheBehaviors"] = {"Quantity": len(behaviors), "Items": [dict(
            {"TargetOriginId": "o1", "ViewerProtocolPolicy": "redirect-to-https", "MinTTL": 0,
             "ForwardedValues": {"QueryString": False, "Cookies": {"Forward": "none"}}},
            **b) for b in behaviors]}
    path = os.path.join(server.work, f"cfg-{uuid.uuid4().hex}.json")
    with open(path, "w") as f:
        json.dump(cfg, f)
    out = server.aws("cloudfront", "create-distribution", "--distribution-config",
                     "file://" + path)
    d = out["Distribution"]
    if raw:
        return d
    return f"https://{d['DomainName']}:{server.edge_https_port}"


def public_read(server, bucket):
    policy = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{bucket}/*"}]}
    server.client("s3").put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))


@pytest.fixture(scope="module")
def site(server):
    bucket = "rg-" + uuid.uuid4().hex[:10]
    s3 = server.client("s3")
    s3.create_bucket(Bucket=bucket)
    public_read(server, bucket)
    s3.put_object(Bucket=bucket, Key="blob.bin", Body=BODY, ContentType="video/mp4")
    s3.put_object(Bucket=bucket, Key="index.m3u8", Body=M3U8)
    s3.put_object(Bucket=bucket, Key="small.vtt", Body=b"WEBVTT\n\n", ContentType="text/vtt")
    s3.put_object(Bucket=bucket, Key="pre.json", Body=gzip.compress(b"{}" * 1000),
                  ContentType="application/json", ContentEncoding="gzip")
    s3.put_object(Bucket=bucket, Key="manifest.mpd", Body=b"<MPD>" + b" " * 2000 + b"</MPD>")
    return {"bucket": bucket, "on": make_dist(server, bucket, True),
            "off": make_dist(server, bucket, False)}


def parts(r):
    """(content-range, bytes) of each part of a multipart/byteranges body."""
    m = re.match(r"multipart/byteranges; boundary=(\S+)$", r.headers["content-type"])
    assert m, r.headers
    delim = b"--" + m.group(1).encode()
    body = r.body
    assert body.startswith(delim + b"\r\n"), body[:80]
    assert body.endswith(b"\r\n" + delim + b"--\r\n"), body[-80:]
    out = []
    for chunk in body[:-len(delim) - 6].split(b"\r\n" + delim + b"\r\n"):
        chunk = chunk[len(delim) + 2:] if chunk.startswith(delim) else chunk
        head, data = chunk.split(b"\r\n\r\n", 1)
        hdrs = dict(line.split(": ", 1) for line in head.decode().split("\r\n"))
        assert hdrs["Content-Type"] == "video/mp4", hdrs
        out.append((hdrs["Content-Range"], data))
    return out


def test_two_ranges_are_multipart(server, site):
    r = server.curl(site["on"] + "/blob.bin", "-H", "Range: bytes=0-9, 100-199")
    assert r.status == 206, r
    assert "content-range" not in r.headers
    assert int(r.headers["content-length"]) == len(r.body)
    assert parts(r) == [("bytes 0-9/4096", BODY[0:10]), ("bytes 100-199/4096", BODY[100:200])]


def test_curl_range_option_and_suffix(server, site):
    r = server.curl(site["on"] + "/blob.bin", "--range", "4000-,-10,7-7")
    assert r.status == 206, r
    assert parts(r) == [("bytes 4000-4095/4096", BODY[4000:]), ("bytes 4086-4095/4096", BODY[-10:]),
                        ("bytes 7-7/4096", BODY[7:8])]


def test_head_has_the_multipart_length(server, site):
    g = server.curl(site["on"] + "/blob.bin", "-H", "Range: bytes=0-9,20-29")
    h = server.curl(site["on"] + "/blob.bin", "-I", "-H", "Range: bytes=0-9,20-29")
    assert h.status == 206  # (curl -I writes the headers to the body file)
    assert h.headers["content-length"] == str(len(g.body))
    assert h.headers["content-type"].startswith("multipart/byteranges; boundary=")


def test_unsatisfiable_parts_are_dropped(server, site):
    r = server.curl(site["on"] + "/blob.bin", "-H", "Range: bytes=5000-6000, 10-19")
    assert r.status == 206 and r.headers["content-range"] == "bytes 10-19/4096", r
    assert r.body == BODY[10:20]
    r = server.curl(site["on"] + "/blob.bin", "-H", "Range: bytes=5000-6000, 9000-")
    assert r.status == 416 and r.headers["content-range"] == "bytes */4096", r


def test_overlaps_too_many_and_bad_syntax_get_the_whole_object(server, site):
    u = site["on"] + "/blob.bin"
    for rng in ("bytes=0-4095,0-1",                                   # more than the object
                ",".join(f"{i}-{i}" for i in range(17)).join(["bytes=", ""]),  # 17 ranges
                "bytes=0-9,abc",                                      # syntax
                "lines=0-9,20-29"):                                   # unit
        r = server.curl(u, "-H", f"Range: {rng}")
        assert r.status == 200 and r.body == BODY, (rng, r)
    r = server.curl(u, "-H", "Range: " + ",".join(f"{i}-{i}" for i in range(16)).join(["bytes=", ""]))
    assert r.status == 206 and len(parts(r)) == 16


def test_if_range_mismatch_gets_200(server, site):
    r = server.curl(site["on"] + "/blob.bin", "-H", "Range: bytes=0-9,20-29",
                    "-H", 'If-Range: "nope"')
    assert r.status == 200 and r.body == BODY


def test_gzip_manifest(server, site):
    u = site["on"] + "/index.m3u8"
    plain = server.curl(u)
    assert plain.status == 200 and plain.body == M3U8
    assert plain.headers["vary"] == "Accept-Encoding, Origin"
    assert "content-encoding" not in plain.headers
    strong = plain.headers["etag"]
    assert strong.startswith('"')
    z = server.curl(u, "-H", "Accept-Encoding: br, gzip")
    assert z.status == 200 and z.headers["content-encoding"] == "gzip", z
    assert z.headers["vary"] == "Accept-Encoding, Origin"
    assert z.headers["etag"] == "W/" + strong
    assert z.headers["content-type"] == "application/vnd.apple.mpegurl"
    assert int(z.headers["content-length"]) == len(z.body) < len(M3U8) // 3
    assert gzip.decompress(z.body) == M3U8
    # curl's own --compressed decodes it
    c = server.curl(u, "--compressed")
    assert c.body == M3U8 and c.headers["content-encoding"] == "gzip"
    # HEAD: the compressed length, no body
    h = server.curl(u, "-I", "-H", "Accept-Encoding: gzip")
    assert h.headers["content-length"] == str(len(z.body))
    # revalidation works with either validator (weak comparison)
    for tag in (strong, "W/" + strong):
        r = server.curl(u, "-H", "Accept-Encoding: gzip", "-H", f"If-None-Match: {tag}")
        assert r.status == 304 and r.headers["etag"] == "W/" + strong, r
    # the compressed body is kept; a changed object is compressed again
    z2 = server.curl(u, "-H", "Accept-Encoding: gzip")
    assert z2.body == z.body and z2.headers["etag"] == z.headers["etag"]
    m3u8_v2 = M3U8.replace(b"seg_", b"v2_seg_")
    server.client("s3").put_object(Bucket=site["bucket"], Key="index.m3u8", Body=m3u8_v2)
    z3 = server.curl(u, "-H", "Accept-Encoding: gzip")
    assert gzip.decompress(z3.body) == m3u8_v2 and z3.headers["etag"] != z.headers["etag"]
    server.client("s3").put_object(Bucket=site["bucket"], Key="index.m3u8", Body=M3U8)
    # DASH manifests too
    m = server.curl(site["on"] + "/manifest.mpd", "-H", "Accept-Encoding: gzip")
    assert m.headers.get("content-encoding") == "gzip"
    assert gzip.decompress(m.body).startswith(b"<MPD>")


def test_no_gzip_when_cloudfront_would_not(server, site):
    on, off = site["on"], site["off"]
    ae = ("-H", "Accept-Encoding: gzip")
    r = server.curl(on + "/index.m3u8", *ae, "-H", "Range: bytes=0-99")     # a range
    assert r.status == 206 and "content-encoding" not in r.headers and r.body == M3U8[:100]
    r = server.curl(on + "/small.vtt", *ae)                                 # under 1,000 bytes
    assert "content-encoding" not in r.headers and r.headers["vary"] == "Accept-Encoding, Origin"
    r = server.curl(on + "/blob.bin", *ae)                                  # video
    assert "content-encoding" not in r.headers and r.headers["vary"] == "Origin"
    r = server.curl(on + "/index.m3u8", "-H", "Accept-Encoding: gzip;q=0, br")  # refused
    assert "content-encoding" not in r.headers and r.body == M3U8
    r = server.curl(off + "/index.m3u8", *ae)                               # Compress=false
    assert "content-encoding" not in r.headers and r.headers["vary"] == "Origin"
    assert r.body == M3U8
    r = server.curl(on + "/pre.json", *ae)                                  # already encoded
    assert r.headers["content-encoding"] == "gzip"
    assert gzip.decompress(r.body) == b"{}" * 1000 and r.headers["vary"] == "Origin"


def test_compress_round_trips_through_the_api(server, site):
    out = server.aws("cloudfront", "list-distributions")
    items = out["DistributionList"]["Items"]
    flags = {i["DomainName"]: i["DefaultCacheBehavior"]["Compress"] for i in items}
    assert flags[site["on"].split("//")[1].split(":")[0]] is True
    assert flags[site["off"].split("//")[1].split(":")[0]] is False


def test_cache_behaviors_by_path(server, site):
    """CacheBehaviors: the first PathPattern that matches sets Compress and the viewer
    protocol policy; other paths get the default behavior."""
    d = make_dist(server, site["bucket"], False, raw=True, behaviors=[
        {"PathPattern": "*.m3u8", "Compress": True, "ViewerProtocolPolicy": "allow-all"},
        {"PathPattern": "/secure/*", "ViewerProtocolPolicy": "https-only"}])
    items = d["DistributionConfig"]["CacheBehaviors"]["Items"]
    assert [(i["PathPattern"], i["Compress"], i["ViewerProtocolPolicy"]) for i in items] == [
        ("*.m3u8", True, "allow-all"), ("/secure/*", False, "https-only")]
    conf = server.aws("cloudfront", "get-distribution-config", "--id", d["Id"])
    assert conf["DistributionConfig"]["CacheBehaviors"]["Quantity"] == 2
    https = f"https://{d['DomainName']}:{server.edge_https_port}"
    http = f"http://{d['DomainName']}:{server.edge_http_port}"
    ae = ("-H", "Accept-Encoding: gzip")
    r = server.curl(https + "/index.m3u8", *ae)
    assert r.headers.get("content-encoding") == "gzip" and gzip.decompress(r.body) == M3U8
    r = server.curl(https + "/manifest.mpd", *ae)  # default behavior: Compress false
    assert "content-encoding" not in r.headers and r.status == 200
    assert server.curl(http + "/index.m3u8").status == 200           # allow-all
    assert server.curl(http + "/blob.bin").status == 301              # default: redirect
    r = server.curl(http + "/secure/x.bin")                           # https-only
    assert r.status == 403 and b"only accepts HTTPS" in r.body
    # too many behaviors, and a behavior naming another origin, are refused
    err = server.aws_fail("cloudfront", "create-distribution", "--distribution-config",
                          _bad_cfg(server, site["bucket"], [{"PathPattern": f"/p{i}/*"}
                                                            for i in range(9)]))
    assert "TooManyCacheBehaviors" in err.stderr
    err = server.aws_fail("cloudfront", "create-distribution", "--distribution-config",
                          _bad_cfg(server, site["bucket"], [{"PathPattern": "/x/*",
                                                             "TargetOriginId": "nope"}]))
    assert "NoSuchOrigin" in err.stderr
    err = server.aws_fail("cloudfront", "create-distribution", "--distribution-config",
                          _bad_cfg(server, site["bucket"], [{"PathPattern": "/up/*", "AllowedMethods": {
                              "Quantity": 7, "Items": ["GET", "HEAD", "OPTIONS", "PUT", "POST",
                                                       "PATCH", "DELETE"],
                              "CachedMethods": {"Quantity": 2, "Items": ["GET", "HEAD"]}}}]))
    assert "InvalidArgument" in err.stderr and "AllowedMethods PUT" in err.stderr


def _bad_cfg(server, bucket, behaviors):
    base = {"TargetOriginId": "o1", "ViewerProtocolPolicy": "allow-all", "MinTTL": 0,
            "ForwardedValues": {"QueryString": False, "Cookies": {"Forward": "none"}}}
    cfg = {
        "CallerReference": uuid.uuid4().hex, "Comment": "", "Enabled": True,
        "Origins": {"Quantity": 1, "Items": [{
            "Id": "o1", "DomainName": f"{bucket}.s3.amazonaws.com",
            "S3OriginConfig": {"OriginAccessIdentity": ""}}]},
        "DefaultCacheBehavior": dict(base),
        "CacheBehaviors": {"Quantity": len(behaviors),
                           "Items": [dict(base, **b) for b in behaviors]}}
    path = os.path.join(server.work, f"bad-{uuid.uuid4().hex}.json")
    with open(path, "w") as f:
        json.dump(cfg, f)
    return "file://" + path


def test_custom_error_responses(server, site):
    """CustomErrorResponses: the origin's 403 (a missing key without s3:ListBucket)
    answered with a page from the origin and the configured ResponseCode."""
    s3 = server.client("s3")
    s3.put_object(Bucket=site["bucket"], Key="errors/oops.html", Body=b"<h1>oops</h1>",
                  ContentType="text/html")
    d = make_dist(server, site["bucket"], False, raw=True, errors=[
        {"ErrorCode": 403, "ResponsePagePath": "/errors/oops.html", "ResponseCode": "200",
         "ErrorCachingMinTTL": 5}])
    got = d["DistributionConfig"]["CustomErrorResponses"]["Items"]
    assert got == [{"ErrorCode": 403, "ResponsePagePath": "/errors/oops.html",
                    "ResponseCode": "200", "ErrorCachingMinTTL": 5}]
    https = f"https://{d['DomainName']}:{server.edge_https_port}"
    r = server.curl(https + "/no/such/thing.mp4")
    assert r.status == 200 and r.body == b"<h1>oops</h1>", r
    assert r.headers["content-type"] == "text/html"
    r = server.curl(https + "/blob.bin", "-H", "Range: bytes=0-9")  # objects unaffected
    assert r.status == 206 and r.body == BODY[:10]
    # a page that cannot be read leaves the original error
    d2 = make_dist(server, site["bucket"], False, raw=True, errors=[
        {"ErrorCode": 403, "ResponsePagePath": "/errors/missing.html", "ResponseCode": "404"}])
    r = server.curl(f"https://{d2['DomainName']}:{server.edge_https_port}/nope")
    assert r.status == 403 and b"AccessDenied" in r.body, r
    for bad, code in (([{"ErrorCode": 302}], "InvalidErrorCode"),
                      ([{"ErrorCode": 404, "ResponseCode": "200"}], "InvalidResponseCode")):
        cfg_path = os.path.join(server.work, f"e-{uuid.uuid4().hex}.json")
        with open(cfg_path, "w") as f:
            json.dump({
                "CallerReference": uuid.uuid4().hex, "Comment": "", "Enabled": True,
                "Origins": {"Quantity": 1, "Items": [{
                    "Id": "o1", "DomainName": f"{site['bucket']}.s3.amazonaws.com",
                    "S3OriginConfig": {"OriginAccessIdentity": ""}}]},
                "DefaultCacheBehavior": {"TargetOriginId": "o1", "ViewerProtocolPolicy": "allow-all",
                                         "MinTTL": 0, "ForwardedValues": {
                                             "QueryString": False, "Cookies": {"Forward": "none"}}},
                "CustomErrorResponses": {"Quantity": len(bad), "Items": bad}}, f)
        err = server.aws_fail("cloudfront", "create-distribution", "--distribution-config",
                              "file://" + cfg_path)
        assert code in err.stderr, err.stderr


def test_cors_credentials_only_for_the_distributions_own_site(server, site):
    """Any origin reads without credentials ('*'); a page on the distribution's
    own site gets its Origin echoed with credentials (signed cookies); errors
    carry CORS too, so a player sees a 403 as a 403."""
    url = site["on"] + "/blob.bin"
    host = url.split("//", 1)[1].split(":", 1)[0]            # <id>.cattube.localhost
    parent = host.split(".", 1)[1]
    own = f"https://player.{parent}"
    r = server.curl(url, "-H", f"Origin: {own}")
    assert r.status == 200
    assert r.headers["access-control-allow-origin"] == own
    assert r.headers["access-control-allow-credentials"] == "true"
    assert r.headers["vary"] == "Origin"
    for foreign in ("https://evil.example", f"https://{parent}.evil.example",
                    "https://localhost", "null"):
        r = server.curl(url, "-H", f"Origin: {foreign}")
        assert r.headers["access-control-allow-origin"] == "*", foreign
        assert "access-control-allow-credentials" not in r.headers, foreign
    r = server.curl(site["on"] + "/missing.bin", "-H", f"Origin: {own}")
    assert r.status in (403, 404)
    assert r.headers["access-control-allow-origin"] == own
