"""Access control for the S3 API: users, identity policies, bucket policies,
anonymous access, explicit deny, MalformedPolicy, GetBucketPolicyStatus."""

import json
import subprocess
import urllib.error
import urllib.request

import pytest
from botocore.exceptions import ClientError

OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def make_user(server, name):
    p = server.cattube("admin", "user", "create", name, "--endpoint", server.endpoint)
    out = json.loads(p.stdout)
    ak = out["accessKey"]["accessKeyId"]
    sk = out["accessKey"]["secretAccessKey"]
    assert ak.startswith("AKIA") and len(ak) == 20 and ak.isalnum() and ak.isupper()
    assert len(sk) == 40
    return server.client("s3", access_key=ak, secret_key=sk)


def attach(server, user, doc, tmp_path, name="inline"):
    f = tmp_path / f"{user}-{name}.json"
    f.write_text(json.dumps(doc))
    server.cattube("admin", "user", "attach-policy", user, "--policy-document", f"file://{f}",
                   "--policy-name", name, "--endpoint", server.endpoint)


def code(exc_info):
    return exc_info.value.response["Error"]["Code"]


def anon_get(server, bucket, key):
    try:
        with OPENER.open(f"{server.endpoint}/{bucket}/{key}", timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


@pytest.fixture(scope="module")
def buckets(server):
    s3 = server.client("s3")
    for b in ("acc-one", "acc-two"):
        s3.create_bucket(Bucket=b)
        s3.put_object(Bucket=b, Key="k.txt", Body=b"hello " + b.encode())
    return s3


def test_user_without_policy_denied(server, buckets):
    u = make_user(server, "nopolicy")
    with pytest.raises(ClientError) as e:
        u.get_object(Bucket="acc-one", Key="k.txt")
    assert code(e) == "AccessDenied"
    with pytest.raises(ClientError) as e:
        u.list_buckets()
    assert code(e) == "AccessDenied"


def test_identity_policy_scopes_reads(server, buckets, tmp_path):
    u = make_user(server, "reader")
    attach(server, "reader", {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::acc-one/*"}]},
        tmp_path)
    assert u.get_object(Bucket="acc-one", Key="k.txt")["Body"].read() == b"hello acc-one"
    u.head_object(Bucket="acc-one", Key="k.txt")
    for call in (lambda: u.get_object(Bucket="acc-two", Key="k.txt"),
                 lambda: u.put_object(Bucket="acc-one", Key="new", Body=b"x"),
                 lambda: u.delete_object(Bucket="acc-one", Key="k.txt"),
                 lambda: u.list_objects_v2(Bucket="acc-one")):
        with pytest.raises(ClientError) as e:
            call()
        assert code(e) == "AccessDenied"
    # the copy source needs s3:GetObject too
    attach(server, "reader", {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::acc-two/*"}]},
        tmp_path, name="put")
    u.copy_object(Bucket="acc-two", Key="copied", CopySource="acc-one/k.txt")
    with pytest.raises(ClientError) as e:
        u.copy_object(Bucket="acc-two", Key="copied2", CopySource="acc-two/k.txt")
    assert code(e) == "AccessDenied"
    u.put_object(Bucket="acc-two", Key="streamed", Body=b"y" * 70000)


def test_user_delete_revokes_key(server, buckets, tmp_path):
    u = make_user(server, "shortlived")
    attach(server, "shortlived", {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}, tmp_path)
    u.list_buckets()
    listing = json.loads(server.cattube("admin", "user", "list", "--endpoint",
                                        server.endpoint).stdout)
    assert "shortlived" in [x["userName"] for x in listing["users"]]
    server.cattube("admin", "user", "delete", "shortlived", "--endpoint", server.endpoint)
    with pytest.raises(ClientError) as e:
        u.list_buckets()
    assert code(e) == "InvalidAccessKeyId"


def test_anonymous_via_bucket_policy(server, buckets):
    s3 = buckets
    assert anon_get(server, "acc-one", "k.txt")[0] == 403
    with pytest.raises(ClientError) as e:
        s3.get_bucket_policy(Bucket="acc-one")
    assert code(e) == "NoSuchBucketPolicy"
    pol = {"Version": "2012-10-17", "Statement": [{
        "Sid": "Public", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
        "Resource": "arn:aws:s3:::acc-one/*"}]}
    s3.put_bucket_policy(Bucket="acc-one", Policy=json.dumps(pol))
    assert json.loads(s3.get_bucket_policy(Bucket="acc-one")["Policy"]) == pol
    assert s3.get_bucket_policy_status(Bucket="acc-one")["PolicyStatus"]["IsPublic"] is True
    status, body = anon_get(server, "acc-one", "k.txt")
    assert (status, body) == (200, b"hello acc-one")
    assert anon_get(server, "acc-two", "k.txt")[0] == 403
    req = urllib.request.Request(f"{server.endpoint}/acc-one/evil", data=b"x", method="PUT")
    with pytest.raises(urllib.error.HTTPError) as he:
        OPENER.open(req, timeout=30)
    assert he.value.code == 403
    s3.delete_bucket_policy(Bucket="acc-one")
    assert anon_get(server, "acc-one", "k.txt")[0] == 403


def test_policy_status_not_public(server, buckets):
    s3 = buckets
    pol = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "cloudfront.amazonaws.com"},
        "Action": "s3:GetObject", "Resource": "arn:aws:s3:::acc-two/*",
        "Condition": {"StringEquals": {
            "AWS:SourceArn": "arn:aws:cloudfront::000000000000:distribution/EABCDEFGHIJKLM"}}}]}
    s3.put_bucket_policy(Bucket="acc-two", Policy=json.dumps(pol))
    assert s3.get_bucket_policy_status(Bucket="acc-two")["PolicyStatus"]["IsPublic"] is False
    assert anon_get(server, "acc-two", "k.txt")[0] == 403
    s3.delete_bucket_policy(Bucket="acc-two")


def test_explicit_deny_wins(server, buckets, tmp_path):
    s3 = buckets
    u = make_user(server, "denied")
    attach(server, "denied", {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}, tmp_path)
    assert u.get_object(Bucket="acc-one", Key="k.txt")["Body"].read() == b"hello acc-one"
    user = json.loads(server.cattube("admin", "user", "get", "denied", "--endpoint",
                                     server.endpoint).stdout)["user"]
    arn = user["arn"]
    s3.put_bucket_policy(Bucket="acc-one", Policy=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Deny", "Principal": {"AWS": arn}, "Action": ["s3:Get*"],
            "Resource": "arn:aws:s3:::acc-one/*"}]}))
    with pytest.raises(ClientError) as e:
        u.get_object(Bucket="acc-one", Key="k.txt")
    assert code(e) == "AccessDenied"
    u.list_objects_v2(Bucket="acc-one")  # not covered by the Deny
    # root is never locked out
    assert s3.get_object(Bucket="acc-one", Key="k.txt")["Body"].read() == b"hello acc-one"
    s3.delete_bucket_policy(Bucket="acc-one")
    # identity policy Deny with NotAction
    attach(server, "denied", {"Version": "2012-10-17", "Statement": [{
        "Effect": "Deny", "NotAction": "s3:GetObject", "Resource": "*"}]}, tmp_path,
        name="deny")
    u.get_object(Bucket="acc-one", Key="k.txt")
    with pytest.raises(ClientError) as e:
        u.list_objects_v2(Bucket="acc-one")
    assert code(e) == "AccessDenied"


def test_bucket_policy_grants_user(server, buckets):
    s3 = buckets
    u = make_user(server, "grantee")
    user = json.loads(server.cattube("admin", "user", "get", "grantee", "--endpoint",
                                     server.endpoint).stdout)["user"]
    s3.put_bucket_policy(Bucket="acc-two", Policy=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": [user["arn"]]},
            "Action": ["s3:ListBucket", "s3:GetObject"],
            "Resource": ["arn:aws:s3:::acc-two", "arn:aws:s3:::acc-two/*"],
            "Condition": {"IpAddress": {"aws:SourceIp": "127.0.0.0/8"}}}]}))
    keys = [o["Key"] for o in u.list_objects_v2(Bucket="acc-two").get("Contents", [])]
    assert "k.txt" in keys
    with pytest.raises(ClientError) as e:
        u.get_object(Bucket="acc-one", Key="k.txt")
    assert code(e) == "AccessDenied"
    s3.put_bucket_policy(Bucket="acc-two", Policy=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": user["arn"]}, "Action": "s3:GetObject",
            "Resource": "arn:aws:s3:::acc-two/*",
            "Condition": {"Bool": {"aws:SecureTransport": "true"}}}]}))
    with pytest.raises(ClientError) as e:  # plain HTTP here
        u.get_object(Bucket="acc-two", Key="k.txt")
    assert code(e) == "AccessDenied"
    s3.delete_bucket_policy(Bucket="acc-two")


@pytest.mark.parametrize("doc", [
    "not json",
    "[]",
    json.dumps({"Version": "2012-10-17", "Statement": []}),
    json.dumps({"Statement": [{"Effect": "Maybe", "Principal": "*", "Action": "s3:GetObject",
                               "Resource": "arn:aws:s3:::acc-one/*"}]}),
    json.dumps({"Statement": [{"Effect": "Allow", "Action": "s3:GetObject",
                               "Resource": "arn:aws:s3:::acc-one/*"}]}),
    json.dumps({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                               "Resource": "arn:aws:s3:::other-bucket/*"}]}),
    json.dumps({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                               "Resource": "arn:aws:s3:::acc-one/*",
                               "Condition": {"StringSorta": {"aws:SourceArn": "x"}}}]}),
    json.dumps({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                               "Resource": "arn:aws:s3:::acc-one/*", "Bogus": 1}]}),
    "{" + " " * 20500 + "}",
])
def test_malformed_policy(server, buckets, doc):
    s3 = buckets
    with pytest.raises(ClientError) as e:
        s3.put_bucket_policy(Bucket="acc-one", Policy=doc)
    assert code(e) == "MalformedPolicy"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_admin_cli_and_api(server, buckets, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"Statement": [{"Effect": "Allow", "Action": "s3:GetObject"}]}))
    p = server.cattube("admin", "user", "create", "cli-user", "--endpoint", server.endpoint)
    p = server.cattube("admin", "user", "attach-policy", "cli-user", "--policy-document",
                       f"file://{bad}", "--endpoint", server.endpoint, check=False)
    assert p.returncode == 1 and "Resource" in p.stderr
    p = server.cattube("admin", "user", "create", "cli-user", "--endpoint", server.endpoint,
                       check=False)
    assert p.returncode == 1
    p = server.cattube("admin", "policy", "validate", "--policy-document", f"file://{bad}",
                       check=False)
    assert p.returncode == 1 and "MalformedPolicy" in p.stderr
    # users may not use the admin API
    created = json.loads(server.cattube("admin", "user", "create", "not-admin", "--endpoint",
                                        server.endpoint).stdout)["accessKey"]
    env_p = subprocess.run(
        [server.bin, "admin", "user", "list", "--endpoint", server.endpoint],
        capture_output=True, text=True,
        env={"CATTUBE_ROOT_ACCESS_KEY": created["accessKeyId"],
             "CATTUBE_ROOT_SECRET_KEY": created["secretAccessKey"], "NO_PROXY": "*"})
    assert env_p.returncode == 1 and "403" in env_p.stderr
    server.cattube("admin", "user", "detach-policy", "cli-user", "--policy-name", "inline",
                   "--endpoint", server.endpoint, check=False)
    server.cattube("admin", "user", "delete", "cli-user", "--endpoint", server.endpoint)
    p = server.cattube("admin", "user", "get", "cli-user", "--endpoint", server.endpoint,
                       check=False)
    assert p.returncode == 1 and "404" in p.stderr


def test_other_apis_need_permission(server, tmp_path):
    """A user without a MediaConvert policy is refused by the job API and the
    admin API; attaching mediaconvert:* opens the job API only."""
    p = server.cattube("admin", "user", "create", "mc-user", "--endpoint", server.endpoint)
    key = json.loads(p.stdout)["accessKey"]
    ak, sk = key["accessKeyId"], key["secretAccessKey"]
    mc = server.client("mediaconvert", access_key=ak, secret_key=sk)
    with pytest.raises(ClientError) as e:
        mc.list_queues()
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    attach(server, "mc-user", {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "mediaconvert:*", "Resource": "*"}]}, tmp_path)
    assert any(q["Name"] == "Default" for q in mc.list_queues()["Queues"])
    env = server.server_env()
    env["CATTUBE_ROOT_ACCESS_KEY"], env["CATTUBE_ROOT_SECRET_KEY"] = ak, sk
    r = subprocess.run([server.bin, "distribution", "list", "--endpoint", server.endpoint],
                       env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode != 0, r.stdout
