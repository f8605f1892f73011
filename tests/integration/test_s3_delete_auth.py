"""DeleteObjects is authorized per key: each key's s3:DeleteObject is decided
with the identity and bucket policies (explicit deny wins); denied keys come
back as AccessDenied errors while the others are deleted, Quiet mode too."""

import json

import pytest
from botocore.exceptions import ClientError

BUCKET = "delauth-one"


def make_user(server, name, doc, tmp_path):
    p = server.cattube("admin", "user", "create", name, "--endpoint", server.endpoint)
    key = json.loads(p.stdout)["accessKey"]
    f = tmp_path / f"{name}.json"
    f.write_text(json.dumps(doc))
    server.cattube("admin", "user", "attach-policy", name, "--policy-document", f"file://{f}",
                   "--policy-name", "inline", "--endpoint", server.endpoint)
    return server.client("s3", access_key=key["accessKeyId"], secret_key=key["secretAccessKey"])


@pytest.fixture(scope="module")
def deleter(server, tmp_path_factory):
    s3 = server.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    doc = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:DeleteObject", "s3:ListBucket"],
         "Resource": [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"]},
        {"Effect": "Deny", "Action": "s3:DeleteObject",
         "Resource": f"arn:aws:s3:::{BUCKET}/keep/*"}]}
    return make_user(server, "prefix-deleter", doc, tmp_path_factory.mktemp("pol"))


def put_keys(s3, keys):
    for k in keys:
        s3.put_object(Bucket=BUCKET, Key=k, Body=k.encode())


def remaining(s3):
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", []))


def test_denied_prefix_reported_per_key(server, deleter):
    s3 = server.client("s3")
    keys = ["tmp/a", "tmp/b & c", "keep/x", "keep/y <z>"]
    put_keys(s3, keys)
    r = deleter.delete_objects(Bucket=BUCKET, Delete={"Objects": [{"Key": k} for k in keys]})
    assert sorted(d["Key"] for d in r.get("Deleted", [])) == ["tmp/a", "tmp/b & c"]
    errs = {e["Key"]: e for e in r.get("Errors", [])}
    assert sorted(errs) == ["keep/x", "keep/y <z>"]
    assert all(e["Code"] == "AccessDenied" for e in errs.values())
    assert remaining(s3) == ["keep/x", "keep/y <z>"]
    s3.delete_objects(Bucket=BUCKET, Delete={"Objects": [{"Key": k} for k in keys]})


def test_quiet_mode_lists_only_denied(server, deleter):
    s3 = server.client("s3")
    keys = ["q/1", "keep/q2"]
    put_keys(s3, keys)
    r = deleter.delete_objects(Bucket=BUCKET, Delete={"Objects": [{"Key": k} for k in keys],
                                                      "Quiet": True})
    assert "Deleted" not in r
    assert [(e["Key"], e["Code"]) for e in r["Errors"]] == [("keep/q2", "AccessDenied")]
    assert remaining(s3) == ["keep/q2"]
    s3.delete_object(Bucket=BUCKET, Key="keep/q2")


def test_bucket_policy_deny_wins_over_identity_allow(server, deleter):
    s3 = server.client("s3")
    put_keys(s3, ["pol/a", "pol/locked"])
    s3.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Deny", "Principal": "*", "Action": "s3:DeleteObject",
            "Resource": f"arn:aws:s3:::{BUCKET}/pol/locked"}]}))
    try:
        r = deleter.delete_objects(Bucket=BUCKET, Delete={"Objects": [
            {"Key": "pol/a"}, {"Key": "pol/locked"}]})
        assert [d["Key"] for d in r["Deleted"]] == ["pol/a"]
        assert [(e["Key"], e["Code"]) for e in r["Errors"]] == [("pol/locked", "AccessDenied")]
    finally:
        s3.delete_bucket_policy(Bucket=BUCKET)
    s3.delete_object(Bucket=BUCKET, Key="pol/locked")


def test_user_without_delete_gets_errors_only(server, deleter, tmp_path):
    s3 = server.client("s3")
    put_keys(s3, ["none/a"])
    u = make_user(server, "no-delete", {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}, tmp_path)
    r = u.delete_objects(Bucket=BUCKET, Delete={"Objects": [{"Key": "none/a"}]})
    assert [(e["Key"], e["Code"]) for e in r["Errors"]] == [("none/a", "AccessDenied")]
    assert remaining(s3) == ["none/a"]
    with pytest.raises(ClientError) as e:
        u.delete_objects(Bucket="delauth-missing", Delete={"Objects": [{"Key": "a"}]})
    assert e.value.response["Error"]["Code"] == "NoSuchBucket"
    s3.delete_object(Bucket=BUCKET, Key="none/a")
