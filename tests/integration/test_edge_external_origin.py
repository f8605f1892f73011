"""External origins inside `cattube serve`: one serve's edge fronts its own
buckets and buckets of another S3-compatible store (here a second `cattube
serve` with its own data and keys), through CloudFront distributions made
with the real aws CLI:
  - a custom origin (CustomOriginConfig, http-only, 127.0.0.1:PORT, the
    bucket as OriginPath's first segment), as people front MinIO;
  - an S3 origin BUCKET.s3.us-east-1.amazonaws.com whose bucket is not on
    the main node, read at --external-s3-endpoint.
Reads with an origin access control are signed with --origin-access-key;
the others are anonymous. Bytes go through the disk cache. The main node
allows 127.0.0.1 (any port) with --origin-allow; test_origin_allow_list
runs its own node to check the allow-list itself."""
import json
import os
import re
import subprocess
import uuid

import pytest

from conftest import Server, bad_ca_files, cattube_bin, free_port, make_user

SEG = os.urandom(300_000)
HELLO = b"hello from the external store\n"


def origin(domain, path="", oac="", custom=None):
    o = {"Id": "ext", "DomainName": domain, "OriginPath": path, "OriginAccessControlId": oac}
    if custom:
        o["CustomOriginConfig"] = custom
    else:
        o["S3OriginConfig"] = {"OriginAccessIdentity": ""}
    return o


def http_only(port):
    return {"HTTPPort": port, "HTTPSPort": 443, "OriginProtocolPolicy": "http-only"}


def dist_config(srv, org):
    cfg = {"CallerReference": uuid.uuid4().hex, "Comment": "external", "Enabled": True,
           "Origins": {"Quantity": 1, "Items": [org]},
           "DefaultCacheBehavior": {"TargetOriginId": org["Id"],
                                    "ViewerProtocolPolicy": "allow-all",
                                    "MinTTL": 0, "DefaultTTL": 600, "MaxTTL": 3600}}
    path = os.path.join(srv.work, f"cfg-{uuid.uuid4().hex}.json")
    with open(path, "w") as f:
        json.dump(cfg, f)
    return "file://" + path


def create(srv, org):
    return srv.aws("cloudfront", "create-distribution", "--distribution-config",
                   dist_config(srv, org))["Distribution"]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    ext = Server(str(tmp_path_factory.mktemp("external")))
    ext.access_key, ext.secret_key = "AKIAEXTERNALSTORE001", "ExternalStoreSecret0123456789abcdefghijk"
    ext.start()
    main = None
    try:
        priv, pub, later = ("ext-" + uuid.uuid4().hex[:8] for _ in range(3))
        s3 = ext.client("s3")
        for b in (priv, pub, later):
            s3.create_bucket(Bucket=b)
        s3.put_object(Bucket=priv, Key="hello.txt", Body=HELLO, ContentType="text/plain")
        s3.put_object(Bucket=priv, Key="media/seg.ts", Body=SEG, ContentType="video/mp2t")
        s3.put_object(Bucket=priv, Key="media/sub/a.txt", Body=b"prefixed\n")
        s3.put_object(Bucket=pub, Key="open.txt", Body=b"public\n")
        s3.put_object(Bucket=later, Key="soon.txt", Body=b"soon\n")
        s3.put_bucket_policy(Bucket=pub, Policy=json.dumps({
            "Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{pub}/*"}]}))
        ak, sk = make_user(ext, "edge-reader", {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{priv}/*"},
            {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{priv}"}]})
        main = Server(str(tmp_path_factory.mktemp("main")))
        # the HTTPS origin below is the external node's edge (self-signed)
        main.extra_args = ["--external-s3-endpoint", ext.endpoint,
                           "--origin-access-key", ak, "--origin-secret-key", sk,
                           "--origin-no-verify-ssl", "--origin-allow", "127.0.0.1"]
        main.start()
        oac = main.aws("cloudfront", "create-origin-access-control",
                       "--origin-access-control-config", json.dumps({
                           "Name": "ext-oac", "SigningProtocol": "sigv4",
                           "SigningBehavior": "always",
                           "OriginAccessControlOriginType": "s3"}))["OriginAccessControl"]["Id"]
        yield {"ext": ext, "main": main, "priv": priv, "pub": pub, "later": later, "oac": oac,
               "reader": (ak, sk)}
    finally:
        problems = (main.stop() if main else []) + ext.stop()
        assert not problems, problems


def get(main, dist, path, *args):
    return main.curl(f"https://{dist['DomainName']}:{main.edge_https_port}{path}", *args)


def disk_metrics(main):
    r = main.curl(f"{main.edge_http}/metrics")
    return {m.group(1): int(m.group(2))
            for m in re.finditer(r"^(cattube_edge_disk_\w+) (\d+)$", r.body.decode(), re.M)}


def test_custom_origin_get_head_range_and_cache(env):
    main, ext = env["main"], env["ext"]
    d = create(main, origin("127.0.0.1", f"/{env['priv']}", env["oac"], http_only(ext.port)))
    before = disk_metrics(main)
    r = get(main, d, "/media/seg.ts")
    assert r.status == 200 and r.body == SEG, r
    assert r.headers["content-type"] == "video/mp2t"
    assert r.headers["x-cache"] == "Miss from cattube"
    r = get(main, d, "/media/seg.ts")
    assert r.status == 200 and r.body == SEG and r.headers["x-cache"] == "Hit from cattube"
    after = disk_metrics(main)
    assert after["cattube_edge_disk_misses_total"] - before["cattube_edge_disk_misses_total"] == 1
    assert after["cattube_edge_disk_hits_total"] - before["cattube_edge_disk_hits_total"] >= 1
    r = get(main, d, "/media/seg.ts", "-I")
    assert r.status == 200 and r.headers["content-length"] == str(len(SEG))
    r = get(main, d, "/media/seg.ts", "-H", "Range: bytes=1000-1999")
    assert r.status == 206 and r.body == SEG[1000:2000]
    assert r.headers["content-range"] == f"bytes 1000-1999/{len(SEG)}"
    r = get(main, d, "/hello.txt")
    assert r.status == 200 and r.body == HELLO
    # a missing key: 404 (the reader may list the bucket), never a 200
    r = get(main, d, "/nope.txt")
    assert r.status == 404 and b"NoSuchKey" in r.body
    # plain HTTP viewer (allow-all) on the same distribution
    r = main.curl(f"http://127.0.0.1:{main.edge_http_port}/hello.txt", "-H",
                  f"Host: {d['DomainName']}")
    assert r.status == 200 and r.body == HELLO


def test_custom_origin_path_prefix(env):
    main, ext = env["main"], env["ext"]
    d = create(main, origin("127.0.0.1", f"/{env['priv']}/media/sub", env["oac"],
                            http_only(ext.port)))
    r = get(main, d, "/a.txt")
    assert r.status == 200 and r.body == b"prefixed\n", r


def test_external_s3_origin(env):
    main = env["main"]
    d = create(main, origin(f"{env['priv']}.s3.us-east-1.amazonaws.com", "", env["oac"]))
    r = get(main, d, "/hello.txt")
    assert r.status == 200 and r.body == HELLO, r
    r = get(main, d, "/media/seg.ts", "-H", "Range: bytes=-100")
    assert r.status == 206 and r.body == SEG[-100:]
    assert get(main, d, "/hello.txt").headers["x-cache"] == "Hit from cattube"
    # the legacy s3.amazonaws.com name (us-east-1) too
    d2 = create(main, origin(f"{env['priv']}.s3.amazonaws.com", "/media", env["oac"]))
    r = get(main, d2, "/seg.ts")
    assert r.status == 200 and r.body == SEG
    conf = main.aws("cloudfront", "get-distribution-config", "--id", d["Id"])
    o = conf["DistributionConfig"]["Origins"]["Items"][0]
    assert o["DomainName"] == f"{env['priv']}.s3.us-east-1.amazonaws.com"
    assert "S3OriginConfig" in o and "CustomOriginConfig" not in o


def test_without_oac_reads_are_anonymous(env):
    main, ext = env["main"], env["ext"]
    # the private bucket refuses the anonymous read: 403 from the store, 403 here
    d = create(main, origin("127.0.0.1", f"/{env['priv']}", "", http_only(ext.port)))
    r = get(main, d, "/hello.txt")
    assert r.status == 403 and b"AccessDenied" in r.body, r
    # a public bucket is readable anonymously
    d = create(main, origin("127.0.0.1", f"/{env['pub']}", "", http_only(ext.port)))
    r = get(main, d, "/open.txt")
    assert r.status == 200 and r.body == b"public\n"


def test_a_403_is_not_cached(env):
    main, ext = env["main"], env["ext"]
    d = create(main, origin("127.0.0.1", f"/{env['later']}", "", http_only(ext.port)))
    assert get(main, d, "/soon.txt").status == 403
    ext.client("s3").put_bucket_policy(Bucket=env["later"], Policy=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
            "Resource": f"arn:aws:s3:::{env['later']}/*"}]}))
    r = get(main, d, "/soon.txt")
    assert r.status == 200 and r.body == b"soon\n", r


def test_unreachable_origin_is_502(env):
    main = env["main"]
    d = create(main, origin("127.0.0.1", f"/{env['priv']}", env["oac"], http_only(free_port())))
    r = get(main, d, "/hello.txt")
    assert r.status == 502, r
    # the server keeps serving
    assert main.health() == 200


def test_bad_custom_origins(env):
    main, ext = env["main"], env["ext"]
    err = main.aws_fail("cloudfront", "create-distribution", "--distribution-config",
                        dist_config(main, origin("127.0.0.1", "", "", http_only(ext.port))))
    assert "InvalidArgument" in err.stderr and "OriginPath" in err.stderr, err.stderr
    bad = dict(http_only(ext.port), OriginProtocolPolicy="sometimes")
    err = main.aws_fail("cloudfront", "create-distribution", "--distribution-config",
                        dist_config(main, origin("127.0.0.1", "/b", "", bad)))
    assert "OriginProtocolPolicy" in err.stderr, err.stderr
    bad = dict(http_only(ext.port), OriginReadTimeout=60)
    err = main.aws_fail("cloudfront", "create-distribution", "--distribution-config",
                        dist_config(main, origin("127.0.0.1", "/b", "", bad)))
    assert "OriginReadTimeout" in err.stderr, err.stderr
    # a plain name that is no bucket here stays InvalidOrigin
    err = main.aws_fail("cloudfront", "create-distribution", "--distribution-config",
                        dist_config(main, origin("no-such-bucket-here", "", "")))
    assert "InvalidOrigin" in err.stderr, err.stderr
    assert main.health() == 200


def test_config_round_trip(env):
    main, ext = env["main"], env["ext"]
    d = create(main, origin("127.0.0.1", f"/{env['priv']}/media", env["oac"],
                            http_only(ext.port)))
    conf = main.aws("cloudfront", "get-distribution-config", "--id", d["Id"])
    coc = conf["DistributionConfig"]["Origins"]["Items"][0]["CustomOriginConfig"]
    assert coc["HTTPPort"] == ext.port and coc["OriginProtocolPolicy"] == "http-only"
    assert conf["DistributionConfig"]["Origins"]["Items"][0]["OriginPath"] == \
        f"/{env['priv']}/media"
    path = os.path.join(main.work, "rt.json")
    with open(path, "w") as f:
        json.dump(conf["DistributionConfig"], f)
    out = main.aws("cloudfront", "update-distribution", "--id", d["Id"], "--if-match",
                   conf["ETag"], "--distribution-config", "file://" + path)
    again = main.aws("cloudfront", "get-distribution-config", "--id", d["Id"])
    assert again["DistributionConfig"] == conf["DistributionConfig"]
    assert out["Distribution"]["DistributionConfig"]["Origins"] == \
        conf["DistributionConfig"]["Origins"]
    r = get(main, d, "/seg.ts")
    assert r.status == 200 and r.body == SEG
    # and a change of protocol policy goes through update too
    cfg = again["DistributionConfig"]
    cfg["Origins"]["Items"][0]["CustomOriginConfig"]["OriginProtocolPolicy"] = "match-viewer"
    with open(path, "w") as f:
        json.dump(cfg, f)
    main.aws("cloudfront", "update-distribution", "--id", d["Id"], "--if-match", again["ETag"],
             "--distribution-config", "file://" + path)
    conf = main.aws("cloudfront", "get-distribution-config", "--id", d["Id"])
    assert conf["DistributionConfig"]["Origins"]["Items"][0]["CustomOriginConfig"][
        "OriginProtocolPolicy"] == "match-viewer"
    # HTTP viewers read the origin over HTTP (its HTTPPort)
    r = main.curl(f"http://127.0.0.1:{main.edge_http_port}/seg.ts", "-H",
                  f"Host: {d['DomainName']}")
    assert r.status == 200 and r.body == SEG


def test_local_bucket_on_the_same_serve(env):
    main = env["main"]
    s3 = main.client("s3")
    b = "local-" + uuid.uuid4().hex[:8]
    s3.create_bucket(Bucket=b)
    s3.put_object(Bucket=b, Key="local.txt", Body=b"local bytes\n", ContentType="text/plain")
    s3.put_bucket_policy(Bucket=b, Policy=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "cloudfront.amazonaws.com"},
            "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{b}/*"}]}))
    d = create(main, origin(f"{b}.s3.us-east-1.amazonaws.com", "", env["oac"]))
    before = disk_metrics(main)
    r = get(main, d, "/local.txt")
    assert r.status == 200 and r.body == b"local bytes\n", r
    r = get(main, d, "/local.txt")
    assert r.status == 200 and r.headers["x-cache"] == "Hit from cattube"
    # served from the store, not through the disk cache
    assert disk_metrics(main) == before
    conf = main.aws("cloudfront", "get-distribution-config", "--id", d["Id"])
    assert "S3OriginConfig" in conf["DistributionConfig"]["Origins"]["Items"][0]


def test_https_and_match_viewer_custom_origins(env):
    """An HTTPS origin: the external node's own edge (any HTTP server that
    answers HEAD/GET with ETag and Content-Length will do), self-signed, so
    main runs with --origin-no-verify-ssl. match-viewer reads it over HTTPS
    for HTTPS viewers and the external S3 API over HTTP for HTTP viewers;
    the two hold different bytes under the two paths, which tells them apart."""
    main, ext = env["main"], env["ext"]
    tb = "tls-" + uuid.uuid4().hex[:8]
    s3 = ext.client("s3")
    s3.create_bucket(Bucket=tb)
    # the external edge routes Host 127.0.0.1 to its newest distribution and
    # reads key "<tb>/x.txt" for /<tb>/x.txt; its S3 API reads key "x.txt"
    s3.put_object(Bucket=tb, Key=f"{tb}/x.txt", Body=b"via https\n", ContentType="text/plain")
    s3.put_object(Bucket=tb, Key="x.txt", Body=b"via http\n", ContentType="text/plain")
    s3.put_bucket_policy(Bucket=tb, Policy=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
            "Resource": f"arn:aws:s3:::{tb}/*"}]}))
    create(ext, origin(f"{tb}.s3.amazonaws.com"))
    tls = {"HTTPPort": ext.port, "HTTPSPort": ext.edge_https_port,
           "OriginProtocolPolicy": "https-only"}
    d = create(main, origin("127.0.0.1", f"/{tb}", "", tls))
    r = get(main, d, "/x.txt")
    assert r.status == 200 and r.body == b"via https\n", r
    d = create(main, origin("127.0.0.1", f"/{tb}", "", dict(tls, OriginProtocolPolicy="match-viewer")))
    r = get(main, d, "/x.txt")
    assert r.status == 200 and r.body == b"via https\n", r
    r = main.curl(f"http://127.0.0.1:{main.edge_http_port}/x.txt", "-H",
                  f"Host: {d['DomainName']}")
    # one cache entry per distribution and key: the HTTPS viewer's bytes
    assert r.status == 200 and r.body == b"via https\n", r
    main.aws("cloudfront", "create-invalidation", "--distribution-id", d["Id"],
             "--paths", "/x.txt")
    r = main.curl(f"http://127.0.0.1:{main.edge_http_port}/x.txt", "-H",
                  f"Host: {d['DomainName']}")
    assert r.status == 200 and r.body == b"via http\n", r


def self_signed_origin(ext):
    """A public bucket read through the external node's edge over HTTPS (its
    generated self-signed certificate), as in
    test_https_and_match_viewer_custom_origins: (bucket, an https-only
    CustomOriginConfig, the certificate's path). /x.txt holds b"trusted\\n"."""
    tb = "ca-" + uuid.uuid4().hex[:8]
    s3 = ext.client("s3")
    s3.create_bucket(Bucket=tb)
    s3.put_object(Bucket=tb, Key=f"{tb}/x.txt", Body=b"trusted\n", ContentType="text/plain")
    s3.put_bucket_policy(Bucket=tb, Policy=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
            "Resource": f"arn:aws:s3:::{tb}/*"}]}))
    create(ext, origin(f"{tb}.s3.amazonaws.com"))  # the newest: Host 127.0.0.1 routes to it
    tls = {"HTTPPort": ext.port, "HTTPSPort": ext.edge_https_port,
           "OriginProtocolPolicy": "https-only"}
    return tb, tls, os.path.join(ext.data_dir, "edge", "cert.pem")


def test_untrusted_https_origin_is_502_until_trusted(env, tmp_path_factory):
    """CloudFront answers 502 when it cannot negotiate SSL/TLS with a custom
    origin, an untrusted certificate included. A node without
    --origin-no-verify-ssl refuses the external edge's self-signed
    certificate: 502 on every request, the reason in its log, nothing
    cached, the server keeps running. Restarted with --origin-ca-file naming
    that certificate (what a private CA's users give) the same object is
    served and verified; with --origin-no-verify-ssl too."""
    tb, tls, ext_cert = self_signed_origin(env["ext"])
    srv = Server(str(tmp_path_factory.mktemp("verify")))
    srv.extra_args = ["--origin-allow", "127.0.0.1"]
    srv.start()
    try:
        d = create(srv, origin("127.0.0.1", f"/{tb}", "", tls))
        for _ in range(2):  # the refusal is not cached: the second request fails the same way
            since = srv.log_size()
            r = get(srv, d, "/x.txt")
            assert r.status == 502, r
            assert "SSL certificate problem" in srv.log_text(since), srv.log_text(since)
        assert srv.health() == 200

        assert not srv.stop()
        srv.extra_args = ["--origin-allow", "127.0.0.1", "--origin-ca-file", ext_cert]
        srv.start()
        r = get(srv, d, "/x.txt")
        assert r.status == 200 and r.body == b"trusted\n", r
        assert r.headers["x-cache"] == "Miss from cattube"  # nothing was kept from the 502s
        assert get(srv, d, "/x.txt").headers["x-cache"] == "Hit from cattube"

        assert not srv.stop()
        srv.extra_args = ["--origin-allow", "127.0.0.1", "--origin-no-verify-ssl"]
        srv.start()
        d2 = create(srv, origin("127.0.0.1", f"/{tb}", "", tls))
        r = get(srv, d2, "/x.txt")
        assert r.status == 200 and r.body == b"trusted\n", r
    finally:
        problems = srv.stop()
    assert not problems, problems


def test_standalone_edge_reads_external_origins(env, tmp_path_factory):
    """`cattube edge --api` copies these distributions and reads each origin
    where it is: custom origins at their own address, external S3 origins at
    its --external-s3-endpoint (signed with its CATTUBE_ORIGIN_* keys)."""
    from test_edge_remote import Edge, wait_for
    main, ext = env["main"], env["ext"]
    dc = create(main, origin("127.0.0.1", f"/{env['priv']}", env["oac"], http_only(ext.port)))
    ds = create(main, origin(f"{env['priv']}.s3.us-east-1.amazonaws.com", "/media", env["oac"]))
    ak, sk = env["reader"]
    edge = Edge(main, str(tmp_path_factory.mktemp("standalone")), "--api", main.endpoint,
                "--external-s3-endpoint", ext.endpoint, "--origin-allow", "127.0.0.1",
                env={"CATTUBE_ORIGIN_ACCESS_KEY": ak, "CATTUBE_ORIGIN_SECRET_KEY": sk})
    try:
        wait_for(lambda: main.curl(edge.url(dc["Id"], "/hello.txt")).status == 200,
                 "the standalone edge to serve the custom origin")
        assert main.curl(edge.url(dc["Id"], "/hello.txt")).body == HELLO
        r = main.curl(edge.url(ds["Id"], "/seg.ts"))
        assert r.status == 200 and r.body == SEG, r
    finally:
        edge.stop()


def test_standalone_edge_origin_ca_file(env, tmp_path_factory):
    """`cattube edge` verifies https custom origins the same way: 502 for the
    self-signed origin, served once --origin-ca-file names its certificate."""
    from test_edge_remote import Edge, wait_for
    main = env["main"]
    tb, tls, ext_cert = self_signed_origin(env["ext"])
    d = create(main, origin("127.0.0.1", f"/{tb}", "", tls))
    for extra, want in (((), 502), (("--origin-ca-file", ext_cert), 200)):
        base = str(tmp_path_factory.mktemp("standalone-ca"))
        edge = Edge(main, base, "--api", main.endpoint, "--origin-allow", "127.0.0.1", *extra)
        def answer():  # 503 until the edge's first poll has loaded the distributions
            r = main.curl(edge.url(d["Id"], "/x.txt"))
            return r if r.status != 503 else None
        try:
            r = wait_for(answer, "the standalone edge's first poll")
            assert r.status == want, r
            if want == 200:
                assert r.body == b"trusted\n"
        finally:
            edge.stop()
        if want == 502:
            with open(os.path.join(base, "edge.log")) as f:
                assert "SSL certificate problem" in f.read()


@pytest.fixture(scope="module")
def s3rver(tmp_path_factory):
    from test_foreign_s3 import S3rver
    srv = S3rver(str(tmp_path_factory.mktemp("s3rver")))
    try:
        yield srv
    finally:
        srv.stop()


def test_custom_origin_on_s3rver(env, s3rver):
    """The same custom origin against an independent S3 implementation (npm
    s3rver, as test_foreign_s3.py). s3rver enforces no policies, so the
    distribution reads it anonymously (no OAC)."""
    main = env["main"]
    c = s3rver.client()
    c.create_bucket(Bucket="cf-origin")
    c.put_object(Bucket="cf-origin", Key="vod/seg 1.ts", Body=SEG, ContentType="video/mp2t")
    d = create(main, origin("127.0.0.1", "/cf-origin/vod", "", http_only(s3rver.port)))
    r = get(main, d, "/seg%201.ts")
    assert r.status == 200 and r.body == SEG, r
    assert r.headers["content-type"] == "video/mp2t"
    r = get(main, d, "/seg%201.ts", "-H", "Range: bytes=10-19")
    assert r.status == 206 and r.body == SEG[10:20]
    assert r.headers["x-cache"] == "Hit from cattube"
    r = get(main, d, "/seg%201.ts", "-H", "Range: bytes=0-9,-10")
    assert r.status == 206 and r.headers["content-type"].startswith("multipart/byteranges")
    assert get(main, d, "/missing.ts").status == 404


def restart(srv, *allow):
    assert not srv.stop()
    srv.extra_args = [a for entry in allow for a in ("--origin-allow", entry)]
    srv.start()


def refused(srv, org, hostport):
    err = srv.aws_fail("cloudfront", "create-distribution", "--distribution-config",
                       dist_config(srv, org))
    assert "InvalidOrigin" in err.stderr and hostport in err.stderr, err.stderr
    assert "--origin-allow" in err.stderr, err.stderr


def test_origin_allow_list(env, tmp_path_factory):
    """--origin-allow: without it external origins are refused at create
    (400 InvalidOrigin naming the host and the option); a host:port entry
    allows that port only; `*` never covers 127.0.0.1; a distribution
    stored under an earlier list answers 502 without its origin being
    contacted; a name that resolves to loopback (localhost) is refused at
    connect time under `*` (502), allowed when the list names it."""
    ext, pub = env["ext"], env["pub"]
    srv = Server(str(tmp_path_factory.mktemp("allow")))
    srv.start()
    try:
        mine = http_only(ext.port)
        refused(srv, origin("127.0.0.1", f"/{pub}", "", mine), f"127.0.0.1:{ext.port}")
        # an amazonaws.com bucket not here, with no --external-s3-endpoint: AWS's endpoint
        refused(srv, origin(f"{pub}.s3.eu-west-1.amazonaws.com"), "s3.eu-west-1.amazonaws.com:443")
        # this node's own buckets need no entry
        srv.client("s3").create_bucket(Bucket="own")
        create(srv, origin("own.s3.amazonaws.com"))

        restart(srv, f"127.0.0.1:{ext.port}")
        d = create(srv, origin("127.0.0.1", f"/{pub}", "", mine))
        r = get(srv, d, "/open.txt")
        assert r.status == 200 and r.body == b"public\n", r
        other = dict(mine, HTTPPort=ext.edge_http_port)
        refused(srv, origin("127.0.0.1", f"/{pub}", "", other), f"127.0.0.1:{ext.edge_http_port}")
        # match-viewer needs both ports
        both = {"HTTPPort": ext.port, "HTTPSPort": ext.edge_https_port,
                "OriginProtocolPolicy": "match-viewer"}
        refused(srv, origin("127.0.0.1", f"/{pub}", "", both), f"127.0.0.1:{ext.edge_https_port}")
        # update-distribution is checked too
        conf = srv.aws("cloudfront", "get-distribution-config", "--id", d["Id"])
        cfg = conf["DistributionConfig"]
        cfg["Origins"]["Items"][0]["CustomOriginConfig"]["HTTPPort"] = ext.edge_http_port
        path = os.path.join(srv.work, "upd.json")
        with open(path, "w") as f:
            json.dump(cfg, f)
        err = srv.aws_fail("cloudfront", "update-distribution", "--id", d["Id"], "--if-match",
                           conf["ETag"], "--distribution-config", "file://" + path)
        assert "InvalidOrigin" in err.stderr and f"127.0.0.1:{ext.edge_http_port}" in err.stderr
        # a name is not its address: localhost needs its own entry
        refused(srv, origin("localhost", f"/{pub}", "", mine), f"localhost:{ext.port}")

        restart(srv, f"localhost:{ext.port}")
        loc = create(srv, origin("localhost", f"/{pub}", "", mine))  # named: loopback allowed
        r = get(srv, loc, "/open.txt")
        assert r.status == 200 and r.body == b"public\n", r

        restart(srv, "*")
        refused(srv, origin("127.0.0.1", f"/{pub}", "", mine), f"127.0.0.1:{ext.port}")
        # stored under the earlier list: 502 even for bytes in the disk cache, and logged
        since = srv.log_size()
        r = get(srv, d, "/open.txt")
        assert r.status == 502, r
        assert f"127.0.0.1:{ext.port} is not in --origin-allow" in srv.log_text(since)
        # `*` matches the name localhost, but its address is loopback: refused at connect
        s3 = ext.client("s3")
        s3.put_object(Bucket=pub, Key="fresh.txt", Body=b"fresh\n")
        since = srv.log_size()
        r = get(srv, loc, "/fresh.txt")
        assert r.status == 502, r
        assert "refused (an address not allowed)" in srv.log_text(since)
        # and one created under `*` now is stored, then refused the same way
        loc2 = create(srv, origin("localhost", f"/{pub}", "", mine))
        assert get(srv, loc2, "/open.txt").status == 502
        assert srv.health() == 200
    finally:
        problems = srv.stop()
    assert not problems, problems


def test_origin_allow_bad_entry_stops_serve(tmp_path):
    for bad, why in (("10.0.0.0/33", "CIDR"), ("a.example.com:0", "port"),
                     ("bad host", "not a host name")):
        p = subprocess.run([cattube_bin(), "serve", "--data",
                            str(tmp_path), "--origin-allow", "ok.example.com," + bad],
                           capture_output=True, text=True, timeout=30)
        assert p.returncode != 0 and f"'{bad}'" in p.stderr and why in p.stderr, p.stderr


def test_origin_ca_file_bad_stops_serve(tmp_path):
    """A --origin-ca-file that is missing, holds no certificate or a broken one stops serve
    at start-up, naming the file, rather than failing every https origin later."""
    for bad, why in bad_ca_files(str(tmp_path)):
        p = subprocess.run([cattube_bin(), "serve", "--data", str(tmp_path / "data"),
                            "--listen", f"127.0.0.1:{free_port()}",
                            "--edge-listen", f"127.0.0.1:{free_port()}",
                            "--edge-http-listen", f"127.0.0.1:{free_port()}",
                            "--origin-ca-file", bad],
                           capture_output=True, text=True, timeout=60)
        assert p.returncode != 0 and f"--origin-ca-file {bad}: {why}" in p.stderr, p.stderr
