"""CloudFront API public keys and key groups (CreatePublicKey, CreateKeyGroup
and friends under /2020-05-31/) driven by the real aws CLI, and a URL signed
with a key registered that way served by the edge."""
import base64
import json
import os
import subprocess
import time
import uuid

from test_cloudfront_api import _cfg, bucket  # noqa: F401  (bucket is a fixture)


def keypair(server, name):
    priv = os.path.join(server.work, f"{name}.pem")
    pub = os.path.join(server.work, f"{name}.pub.pem")
    subprocess.run(["openssl", "genrsa", "-out", priv, "2048"], check=True, capture_output=True)
    subprocess.run(["openssl", "rsa", "-in", priv, "-pubout", "-out", pub], check=True,
                   capture_output=True)
    with open(pub) as f:
        return priv, f.read()


def as_file(server, doc):
    path = os.path.join(server.work, f"cfg-{uuid.uuid4().hex}.json")
    with open(path, "w") as f:
        json.dump(doc, f)
    return "file://" + path


def key_cfg(server, name, pem, ref=None, comment=""):
    return as_file(server, {"CallerReference": ref or uuid.uuid4().hex, "Name": name,
                            "EncodedKey": pem, "Comment": comment})


def group_cfg(server, name, ids, comment=""):
    return as_file(server, {"Name": name, "Items": ids, "Comment": comment})


def canned_url(url, key_id, priv, expires):
    """A CloudFront canned-policy signed URL (RSA-SHA1), signed with openssl."""
    policy = json.dumps({"Statement": [{"Resource": url, "Condition": {
        "DateLessThan": {"AWS:EpochTime": expires}}}]}, separators=(",", ":"))
    sig = subprocess.run(["openssl", "dgst", "-sha1", "-sign", priv], input=policy.encode(),
                         check=True, capture_output=True).stdout
    b64 = base64.b64encode(sig).decode().replace("+", "-").replace("=", "_").replace("/", "~")
    return f"{url}?Expires={expires}&Signature={b64}&Key-Pair-Id={key_id}"


def test_public_key_api(server):
    priv, pem = keypair(server, "api-key")
    out = server.aws("cloudfront", "create-public-key", "--public-key-config",
                     key_cfg(server, "api-key", pem, ref="ref-1", comment="first"))
    k = out["PublicKey"]
    assert k["Id"].startswith("K") and out["ETag"] and out["Location"].endswith(k["Id"])
    assert k["PublicKeyConfig"]["Name"] == "api-key"
    assert k["PublicKeyConfig"]["EncodedKey"].strip() == pem.strip()
    assert k["PublicKeyConfig"]["CallerReference"] == "ref-1"
    got = server.aws("cloudfront", "get-public-key", "--id", k["Id"])
    assert got["ETag"] == out["ETag"] and got["PublicKey"]["Id"] == k["Id"]
    conf = server.aws("cloudfront", "get-public-key-config", "--id", k["Id"])
    assert conf["PublicKeyConfig"]["Comment"] == "first"
    lst = server.aws("cloudfront", "list-public-keys")["PublicKeyList"]
    assert k["Id"] in [x["Id"] for x in lst["Items"]]
    # the name is taken; a key that is not a key is refused naming the field
    err = server.aws_fail("cloudfront", "create-public-key", "--public-key-config",
                          key_cfg(server, "api-key", pem))
    assert "PublicKeyAlreadyExists" in err.stderr
    err = server.aws_fail("cloudfront", "create-public-key", "--public-key-config",
                          key_cfg(server, "bad-key", "-----BEGIN PUBLIC KEY-----\nAAAA\n"))
    assert "InvalidArgument" in err.stderr and "EncodedKey" in err.stderr
    # only the comment can change, and only with the current ETag
    c = conf["PublicKeyConfig"]
    c["Comment"] = "second"
    err = server.aws_fail("cloudfront", "update-public-key", "--id", k["Id"], "--if-match",
                          "EWRONG", "--public-key-config", as_file(server, c))
    assert "PreconditionFailed" in err.stderr
    upd = server.aws("cloudfront", "update-public-key", "--id", k["Id"], "--if-match",
                     conf["ETag"], "--public-key-config", as_file(server, c))
    assert upd["PublicKey"]["PublicKeyConfig"]["Comment"] == "second"
    assert upd["ETag"] != conf["ETag"]
    c["Name"] = "renamed"
    err = server.aws_fail("cloudfront", "update-public-key", "--id", k["Id"], "--if-match",
                          upd["ETag"], "--public-key-config", as_file(server, c))
    assert "CannotChangeImmutablePublicKeyFields" in err.stderr
    # delete needs If-Match; then it is gone
    err = server.aws_fail("cloudfront", "delete-public-key", "--id", k["Id"])
    assert "InvalidIfMatchVersion" in err.stderr
    server.aws("cloudfront", "delete-public-key", "--id", k["Id"], "--if-match", upd["ETag"])
    err = server.aws_fail("cloudfront", "get-public-key", "--id", k["Id"])
    assert "NoSuchPublicKey" in err.stderr


def test_key_group_signs_for_a_distribution(server, bucket):  # noqa: F811
    priv, pem = keypair(server, "signer")
    other_priv, other_pem = keypair(server, "other")
    key = server.aws("cloudfront", "create-public-key", "--public-key-config",
                     key_cfg(server, "signer", pem))["PublicKey"]
    other = server.aws("cloudfront", "create-public-key", "--public-key-config",
                       key_cfg(server, "other", other_pem))["PublicKey"]
    out = server.aws("cloudfront", "create-key-group", "--key-group-config",
                     group_cfg(server, "players", [key["Id"]], "for players"))
    g = out["KeyGroup"]
    assert g["KeyGroupConfig"]["Items"] == [key["Id"]] and out["ETag"]
    err = server.aws_fail("cloudfront", "create-key-group", "--key-group-config",
                          group_cfg(server, "players", [key["Id"]]))
    assert "KeyGroupAlreadyExists" in err.stderr
    err = server.aws_fail("cloudfront", "create-key-group", "--key-group-config",
                          group_cfg(server, "ghosts", ["KNOSUCHKEY0000"]))
    assert "InvalidArgument" in err.stderr and "KNOSUCHKEY0000" in err.stderr
    lst = server.aws("cloudfront", "list-key-groups")["KeyGroupList"]
    assert g["Id"] in [x["KeyGroup"]["Id"] for x in lst["Items"]]
    assert server.aws("cloudfront", "get-key-group-config", "--id",
                      g["Id"])["KeyGroupConfig"]["Comment"] == "for players"

    cfg = _cfg(server, bucket, uuid.uuid4().hex, vpp="allow-all")
    with open(cfg[len("file://"):]) as f:
        doc = json.load(f)
    doc["DefaultCacheBehavior"]["TrustedKeyGroups"] = {
        "Enabled": True, "Quantity": 1, "Items": [g["Id"]]}
    d = server.aws("cloudfront", "create-distribution", "--distribution-config",
                   as_file(server, doc))["Distribution"]
    base = f"https://{d['DomainName']}:{server.edge_https_port}/index.html"
    exp = int(time.time()) + 600
    assert server.curl(base).status == 403  # unsigned
    r = server.curl(canned_url(base, key["Id"], priv, exp))
    assert r.status == 200 and r.body == b"hello from the edge\n"
    # a key outside the group does not sign for it ...
    assert server.curl(canned_url(base, other["Id"], other_priv, exp)).status == 403
    # ... until UpdateKeyGroup adds it
    cur = server.aws("cloudfront", "get-key-group", "--id", g["Id"])
    upd = server.aws("cloudfront", "update-key-group", "--id", g["Id"], "--if-match",
                     cur["ETag"], "--key-group-config",
                     group_cfg(server, "players", [key["Id"], other["Id"]]))
    assert upd["KeyGroup"]["KeyGroupConfig"]["Items"] == [key["Id"], other["Id"]]
    assert server.curl(canned_url(base, other["Id"], other_priv, exp)).status == 200
    # in use: the key by the group, the group by the distribution
    etag = server.aws("cloudfront", "get-public-key", "--id", key["Id"])["ETag"]
    err = server.aws_fail("cloudfront", "delete-public-key", "--id", key["Id"], "--if-match",
                          etag)
    assert "PublicKeyInUse" in err.stderr
    err = server.aws_fail("cloudfront", "delete-key-group", "--id", g["Id"], "--if-match",
                          upd["ETag"])
    assert "ResourceInUse" in err.stderr


def test_admin_api_keys_are_listed(server):
    """A key made by `cattube` admin API shows in list-public-keys with an ETag."""
    _, pem = keypair(server, "admin-made")
    from test_edge_signed import admin
    st, body = admin(server, "POST", "/cattube/admin/public-keys",
                     {"name": "admin-made", "encodedKey": pem})
    assert st == 201, body
    kid = body["id"]
    lst = server.aws("cloudfront", "list-public-keys")["PublicKeyList"]
    assert kid in [x["Id"] for x in lst["Items"]]
    got = server.aws("cloudfront", "get-public-key", "--id", kid)
    assert got["ETag"].startswith("E")
    assert got["PublicKey"]["PublicKeyConfig"]["CallerReference"] == kid


def test_per_action_iam(server, bucket, tmp_path):  # noqa: F811
    """CloudFront API calls need their own action on the distribution's ARN."""
    d1 = server.aws("cloudfront", "create-distribution", "--distribution-config",
                    _cfg(server, bucket, uuid.uuid4().hex))["Distribution"]
    d2 = server.aws("cloudfront", "create-distribution", "--distribution-config",
                    _cfg(server, bucket, uuid.uuid4().hex))["Distribution"]
    p = server.cattube("admin", "user", "create", "cf-viewer", "--endpoint", server.endpoint)
    key = json.loads(p.stdout)["accessKey"]
    ak, sk = key["accessKeyId"], key["secretAccessKey"]
    pol = tmp_path / "cf-viewer.json"
    pol.write_text(json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["cloudfront:List*", "cloudfront:GetDistribution*"],
         "Resource": "*"},
        {"Effect": "Deny", "Action": "cloudfront:Get*", "Resource": d2["ARN"]}]}))
    server.cattube("admin", "user", "attach-policy", "cf-viewer", "--policy-document",
                   f"file://{pol}", "--policy-name", "inline", "--endpoint", server.endpoint)
    kw = {"access_key": ak, "secret_key": sk}
    ids = [x["Id"] for x in server.aws("cloudfront", "list-distributions",
                                       **kw)["DistributionList"]["Items"]]
    assert d1["Id"] in ids and d2["Id"] in ids
    assert server.aws("cloudfront", "get-distribution-config", "--id", d1["Id"],
                      **kw)["DistributionConfig"]
    err = server.aws_fail("cloudfront", "get-distribution", "--id", d2["Id"], **kw)
    assert "AccessDenied" in err.stderr and "cloudfront:GetDistribution" in err.stderr
    err = server.aws_fail("cloudfront", "create-distribution", "--distribution-config",
                          _cfg(server, bucket, uuid.uuid4().hex), **kw)
    assert "AccessDenied" in err.stderr
    err = server.aws_fail("cloudfront", "create-public-key", "--public-key-config",
                          key_cfg(server, "nope", keypair(server, "nope")[1]), **kw)
    assert "AccessDenied" in err.stderr
