"""CloudFront API subset (/2020-05-31/) driven by the real aws CLI."""
import json
import os
import re
import uuid

import pytest

OAC = {}  # the module's origin access control, made by the bucket fixture


def _oac_cfg(server, name, behavior="always", **kw):
    cfg = {"Name": name, "Description": kw.get("description", ""), "SigningProtocol": "sigv4",
           "SigningBehavior": behavior, "OriginAccessControlOriginType": kw.get("type", "s3")}
    path = os.path.join(server.work, f"oac-{uuid.uuid4().hex}.json")
    with open(path, "w") as f:
        json.dump(cfg, f)
    return "file://" + path


def _copy_policy(bucket, dist_arn):
    """The statement the CloudFront console's "Copy policy" button gives."""
    return json.dumps({
        "Version": "2008-10-17", "Id": "PolicyForCloudFrontPrivateContent",
        "Statement": [{
            "Sid": "AllowCloudFrontServicePrincipal", "Effect": "Allow",
            "Principal": {"Service": "cloudfront.amazonaws.com"},
            "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*",
            "Condition": {"StringEquals": {"AWS:SourceArn": dist_arn}}}]})


def _cfg(server, bucket, ref, **kw):
    cfg = {
        "CallerReference": ref,
        "Comment": kw.get("comment", "test"),
        "Enabled": kw.get("enabled", True),
        "DefaultRootObject": kw.get("root", ""),
        "Aliases": {"Quantity": len(kw.get("aliases", [])), "Items": kw.get("aliases", [])},
        "Origins": {"Quantity": 1, "Items": [{
            "Id": "o1", "DomainName": kw.get("domain", f"{bucket}.s3.amazonaws.com"),
            "OriginPath": kw.get("origin_path", ""),
            "S3OriginConfig": {"OriginAccessIdentity": ""},
            "OriginAccessControlId": kw.get("oac", OAC["id"])}]},
        "DefaultCacheBehavior": {
            "TargetOriginId": "o1", "ViewerProtocolPolicy": kw.get("vpp", "redirect-to-https"),
            "MinTTL": 0, "DefaultTTL": 60, "MaxTTL": 3600,
            "ForwardedValues": {"QueryString": False, "Cookies": {"Forward": "none"}}},
    }
    cfg.update(kw.get("extra", {}))
    path = os.path.join(server.work, f"cfg-{uuid.uuid4().hex}.json")
    with open(path, "w") as f:
        json.dump(cfg, f)
    return "file://" + path


@pytest.fixture(scope="module")
def bucket(server):
    name = "cf-" + uuid.uuid4().hex[:10]
    server.aws("s3api", "create-bucket", "--bucket", name)
    body = os.path.join(server.work, "body.txt")
    with open(body, "w") as f:
        f.write("hello from the edge\n")
    server.aws("s3api", "put-object", "--bucket", name, "--key", "index.html", "--body", body)
    server.aws("s3api", "put-object", "--bucket", name, "--key", "site/index.html",
               "--body", body, "--content-type", "text/html")
    out = server.aws("cloudfront", "create-origin-access-control",
                     "--origin-access-control-config", _oac_cfg(server, "oac-" + name))
    OAC["id"] = out["OriginAccessControl"]["Id"]
    # every distribution of this module reads the bucket through the OAC
    server.aws("s3api", "put-bucket-policy", "--bucket", name, "--policy", json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "cloudfront.amazonaws.com"},
            "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{name}/*",
            "Condition": {"StringLike": {"AWS:SourceArn": "arn:aws:cloudfront::*:distribution/*"}}}]}))
    return name


def _edge_get(server, dist, path, host=None):
    host = host or dist["DomainName"]
    return server.curl(f"https://{host}:{server.edge_https_port}{path}")


def test_lifecycle(server, bucket):
    ref = uuid.uuid4().hex
    out = server.aws("cloudfront", "create-distribution", "--distribution-config",
                     _cfg(server, bucket, ref, root="index.html"))
    d = out["Distribution"]
    assert out["ETag"] and out["Location"].endswith("/distribution/" + d["Id"])
    assert d["DistributionConfig"]["CallerReference"] == ref
    assert d["DistributionConfig"]["Origins"]["Items"][0]["DomainName"] == \
        f"{bucket}.s3.amazonaws.com"
    assert d["DistributionConfig"]["DefaultCacheBehavior"]["DefaultTTL"] == 60
    assert d["DistributionConfig"]["Origins"]["Items"][0]["OriginAccessControlId"] == OAC["id"]
    # serves objects, and the root object for "/"
    r = _edge_get(server, d, "/index.html")
    assert r.status == 200 and r.body == b"hello from the edge\n"
    r = _edge_get(server, d, "/")
    assert r.status == 200 and r.body == b"hello from the edge\n"

    # idempotent create; a different config under the same reference conflicts
    again = server.aws("cloudfront", "create-distribution", "--distribution-config",
                       _cfg(server, bucket, ref, root="index.html"))
    assert again["Distribution"]["Id"] == d["Id"]
    err = server.aws_fail("cloudfront", "create-distribution", "--distribution-config",
                          _cfg(server, bucket, ref, comment="other"))
    assert "DistributionAlreadyExists" in err.stderr

    got = server.aws("cloudfront", "get-distribution", "--id", d["Id"])
    assert got["ETag"] == out["ETag"] and got["Distribution"]["Id"] == d["Id"]
    conf = server.aws("cloudfront", "get-distribution-config", "--id", d["Id"])
    assert conf["ETag"] == out["ETag"]
    lst = server.aws("cloudfront", "list-distributions")
    assert d["Id"] in [x["Id"] for x in lst["DistributionList"]["Items"]]

    # update: If-Match required and checked
    cfg = conf["DistributionConfig"]
    cfg["Enabled"] = False
    cfg["Comment"] = "disabled now"
    path = os.path.join(server.work, "upd.json")
    with open(path, "w") as f:
        json.dump(cfg, f)
    err = server.aws_fail("cloudfront", "update-distribution", "--id", d["Id"],
                          "--distribution-config", "file://" + path, "--if-match", "EBOGUS")
    assert "PreconditionFailed" in err.stderr
    # delete while enabled -> DistributionNotDisabled
    err = server.aws_fail("cloudfront", "delete-distribution", "--id", d["Id"],
                          "--if-match", out["ETag"])
    assert "DistributionNotDisabled" in err.stderr
    upd = server.aws("cloudfront", "update-distribution", "--id", d["Id"],
                     "--distribution-config", "file://" + path, "--if-match", out["ETag"])
    assert upd["ETag"] != out["ETag"]
    assert upd["Distribution"]["DistributionConfig"]["Enabled"] is False
    assert _edge_get(server, d, "/index.html").status == 403
    err = server.aws_fail("cloudfront", "delete-distribution", "--id", d["Id"],
                          "--if-match", out["ETag"])
    assert "PreconditionFailed" in err.stderr
    server.aws("cloudfront", "delete-distribution", "--id", d["Id"], "--if-match", upd["ETag"])
    err = server.aws_fail("cloudfront", "get-distribution", "--id", d["Id"])
    assert "NoSuchDistribution" in err.stderr


def test_update_without_if_match(server, bucket):
    c = server.client("cloudfront")
    import botocore.exceptions
    out = server.aws("cloudfront", "create-distribution", "--distribution-config",
                     _cfg(server, bucket, uuid.uuid4().hex))
    conf = server.aws("cloudfront", "get-distribution-config", "--id", out["Distribution"]["Id"])
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        c.update_distribution(Id=out["Distribution"]["Id"], IfMatch="",
                              DistributionConfig=conf["DistributionConfig"])
    assert ei.value.response["Error"]["Code"] == "InvalidIfMatchVersion"
    assert ei.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_origin_path_alias_and_s3_region_domain(server, bucket):
    alias = "videos-" + uuid.uuid4().hex[:6] + ".example.localhost"
    out = server.aws("cloudfront", "create-distribution", "--distribution-config",
                     _cfg(server, bucket, uuid.uuid4().hex, origin_path="/site",
                          aliases=[alias], domain=f"{bucket}.s3.us-east-1.amazonaws.com"))
    d = out["Distribution"]
    assert d["DistributionConfig"]["Aliases"]["Items"] == [alias]
    r = _edge_get(server, d, "/index.html")
    assert r.status == 200 and r.headers["content-type"] == "text/html"
    r = _edge_get(server, d, "/index.html", host=alias)
    assert r.status == 200 and r.headers["content-type"] == "text/html"
    err = server.aws_fail("cloudfront", "create-distribution", "--distribution-config",
                          _cfg(server, bucket, uuid.uuid4().hex, aliases=[alias]))
    assert "CNAMEAlreadyExists" in err.stderr
    # regression: an invalidation reaches entries cached under OriginPath + path
    assert _edge_get(server, d, "/index.html").headers["x-cache"] == "Hit from cattube"
    server.aws("cloudfront", "create-invalidation", "--distribution-id", d["Id"],
               "--paths", "/index.html")
    assert _edge_get(server, d, "/index.html").headers["x-cache"] == "Miss from cattube"


def test_invalid_requests(server, bucket):
    # a plain name that is no bucket here (NAME.s3.amazonaws.com would be an
    # external S3 origin: test_edge_external_origin.py)
    err = server.aws_fail("cloudfront", "create-distribution", "--distribution-config",
                          _cfg(server, "x", uuid.uuid4().hex, domain="no-such-bucket-xyz"))
    assert "InvalidOrigin" in err.stderr
    err = server.aws_fail("cloudfront", "create-distribution", "--distribution-config",
                          _cfg(server, bucket, uuid.uuid4().hex,
                               extra={"WebACLId": "arn:aws:wafv2:x"}))
    assert "InvalidArgument" in err.stderr and "WebACLId" in err.stderr
    err = server.aws_fail("cloudfront", "get-distribution", "--id", "E0000000000000")
    assert "NoSuchDistribution" in err.stderr
    r = server.curl(server.endpoint + "/2020-05-31/distribution")
    assert r.status in (400, 403)


def test_invalidations(server, bucket):
    out = server.aws("cloudfront", "create-distribution", "--distribution-config",
                     _cfg(server, bucket, uuid.uuid4().hex))
    did = out["Distribution"]["Id"]
    inv = server.aws("cloudfront", "create-invalidation", "--distribution-id", did,
                     "--paths", "/index.html", "/site/*")
    iid = inv["Invalidation"]["Id"]
    assert inv["Invalidation"]["Status"] == "Completed"
    assert inv["Invalidation"]["InvalidationBatch"]["Paths"]["Items"] == ["/index.html", "/site/*"]
    got = server.aws("cloudfront", "get-invalidation", "--distribution-id", did, "--id", iid)
    assert got["Invalidation"]["Id"] == iid
    lst = server.aws("cloudfront", "list-invalidations", "--distribution-id", did)
    assert [x["Id"] for x in lst["InvalidationList"]["Items"]] == [iid]
    # the ETag of the distribution does not change
    assert server.aws("cloudfront", "get-distribution", "--id", did)["ETag"] == out["ETag"]


def test_origin_access_control_api(server, bucket):
    name = "oac-api-" + uuid.uuid4().hex[:8]
    out = server.aws("cloudfront", "create-origin-access-control",
                     "--origin-access-control-config",
                     _oac_cfg(server, name, "no-override", description="first"))
    oac = out["OriginAccessControl"]
    oid, etag = oac["Id"], out["ETag"]
    assert re.match(r"^E[A-Z0-9]{13}$", oid) and etag
    assert out["Location"].endswith("/origin-access-control/" + oid)
    assert oac["OriginAccessControlConfig"] == {
        "Name": name, "Description": "first", "SigningProtocol": "sigv4",
        "SigningBehavior": "no-override", "OriginAccessControlOriginType": "s3"}
    got = server.aws("cloudfront", "get-origin-access-control", "--id", oid)
    assert got["ETag"] == etag and got["OriginAccessControl"] == oac
    conf = server.aws("cloudfront", "get-origin-access-control-config", "--id", oid)
    assert conf["OriginAccessControlConfig"] == oac["OriginAccessControlConfig"]
    lst = server.aws("cloudfront", "list-origin-access-controls")["OriginAccessControlList"]
    mine = [x for x in lst["Items"] if x["Id"] == oid]
    assert mine and mine[0]["Name"] == name and mine[0]["SigningBehavior"] == "no-override"

    # names are unique; enums and sizes are checked
    err = server.aws_fail("cloudfront", "create-origin-access-control",
                          "--origin-access-control-config", _oac_cfg(server, name))
    assert "OriginAccessControlAlreadyExists" in err.stderr
    err = server.aws_fail("cloudfront", "create-origin-access-control",
                          "--origin-access-control-config",
                          _oac_cfg(server, "x" + name, type="mediastore"))
    assert "InvalidArgument" in err.stderr and "OriginAccessControlOriginType" in err.stderr
    err = server.aws_fail("cloudfront", "create-origin-access-control",
                          "--origin-access-control-config", _oac_cfg(server, "n" * 65))
    assert "InvalidArgument" in err.stderr and "Name" in err.stderr

    # update with If-Match
    err = server.aws_fail("cloudfront", "update-origin-access-control", "--id", oid,
                          "--origin-access-control-config", _oac_cfg(server, name, "never"),
                          "--if-match", "EBOGUS")
    assert "PreconditionFailed" in err.stderr
    upd = server.aws("cloudfront", "update-origin-access-control", "--id", oid,
                     "--origin-access-control-config", _oac_cfg(server, name, "never"),
                     "--if-match", etag)
    assert upd["ETag"] != etag
    assert upd["OriginAccessControl"]["OriginAccessControlConfig"]["SigningBehavior"] == "never"

    # a distribution must name an existing OAC; one in use cannot be deleted
    err = server.aws_fail("cloudfront", "create-distribution", "--distribution-config",
                          _cfg(server, bucket, uuid.uuid4().hex, oac="E0000000000000"))
    assert "InvalidOriginAccessControl" in err.stderr
    d = server.aws("cloudfront", "create-distribution", "--distribution-config",
                   _cfg(server, bucket, uuid.uuid4().hex, oac=oid))["Distribution"]
    err = server.aws_fail("cloudfront", "delete-origin-access-control", "--id", oid,
                          "--if-match", upd["ETag"])
    assert "OriginAccessControlInUse" in err.stderr
    conf = server.aws("cloudfront", "get-distribution-config", "--id", d["Id"])
    cfg = conf["DistributionConfig"]
    cfg["Origins"]["Items"][0]["OriginAccessControlId"] = ""
    path = os.path.join(server.work, "no-oac.json")
    with open(path, "w") as f:
        json.dump(cfg, f)
    server.aws("cloudfront", "update-distribution", "--id", d["Id"], "--distribution-config",
               "file://" + path, "--if-match", conf["ETag"])
    server.aws("cloudfront", "delete-origin-access-control", "--id", oid, "--if-match",
               upd["ETag"])
    err = server.aws_fail("cloudfront", "get-origin-access-control", "--id", oid)
    assert "NoSuchOriginAccessControl" in err.stderr


def test_origin_access_control_enforced(server):
    """The seed's step 5: a distribution with an OAC reads a private bucket only once the
    console's copy-policy statement is on it; nothing else reads the bucket."""
    b = "oac-" + uuid.uuid4().hex[:10]
    s3 = server.client("s3")
    s3.create_bucket(Bucket=b)
    s3.put_object(Bucket=b, Key="cat video-hd.mp4", Body=b"\0" * 5000, ContentType="video/mp4")
    oid = server.aws("cloudfront", "create-origin-access-control",
                     "--origin-access-control-config",
                     _oac_cfg(server, b + ".s3.us-east-1.amazonaws.com"))["OriginAccessControl"]["Id"]
    d = server.aws("cloudfront", "create-distribution", "--distribution-config",
                   _cfg(server, b, uuid.uuid4().hex, oac=oid))["Distribution"]
    plain = server.aws("cloudfront", "create-distribution", "--distribution-config",
                       _cfg(server, b, uuid.uuid4().hex, oac=""))["Distribution"]
    path = "/cat%20video-hd.mp4"

    def code(r):
        return re.search(rb"<Code>(\w+)</Code>", r.body).group(1).decode()

    r = _edge_get(server, d, path)  # no bucket policy yet
    assert r.status == 403 and code(r) == "AccessDenied", r
    # a statement for another distribution does not help
    other = d["ARN"].rsplit("/", 1)[0] + "/E0THERD1ST000"
    server.aws("s3api", "put-bucket-policy", "--bucket", b, "--policy", _copy_policy(b, other))
    r = _edge_get(server, d, path)
    assert r.status == 403 and code(r) == "AccessDenied", r
    # the console's statement, as written
    server.aws("s3api", "put-bucket-policy", "--bucket", b, "--policy", _copy_policy(b, d["ARN"]))
    r = _edge_get(server, d, path)
    assert r.status == 200 and r.body == b"\0" * 5000, r
    # a missing key is 403 too (the statement grants no s3:ListBucket), like S3 behind CloudFront
    r = _edge_get(server, d, "/nope.mp4")
    assert r.status == 403 and code(r) == "AccessDenied", r
    # an origin without OAC reads anonymously: the private bucket says no
    r = _edge_get(server, plain, path)
    assert r.status == 403 and code(r) == "AccessDenied", r
    # and the bucket itself stays private on the S3 port
    r = server.curl(f"{server.endpoint}/{b}{path}")
    assert r.status == 403 and code(r) == "AccessDenied", r
    # a public bucket is readable without OAC; ListBucket makes missing keys 404
    s3.put_bucket_policy(Bucket=b, Policy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": ["s3:GetObject", "s3:ListBucket"],
         "Resource": [f"arn:aws:s3:::{b}/*", f"arn:aws:s3:::{b}"]}]}))
    r = _edge_get(server, plain, path)
    assert r.status == 200, r
    r = _edge_get(server, plain, "/nope.mp4")
    assert r.status == 404 and code(r) == "NoSuchKey", r
