"""CloudFront API subset (/2020-05-31/) driven by the real aws CLI."""
import json
import os
import uuid

import pytest


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
            "OriginAccessControlId": "E2QWRUHAPOMQZL"}]},
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
    assert d["DistributionConfig"]["Origins"]["Items"][0]["OriginAccessControlId"] == \
        "E2QWRUHAPOMQZL"
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


def test_invalid_requests(server, bucket):
    err = server.aws_fail("cloudfront", "create-distribution", "--distribution-config",
                          _cfg(server, "no-such-bucket-xyz", uuid.uuid4().hex))
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
