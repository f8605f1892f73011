"""S3 object keys that are hard for a filesystem-backed server, S3 errors and
authentication failures, through the real aws CLI (boto3 only where the HTTP
status code must be checked)."""

import hashlib
import os
import xml.etree.ElementTree as ET

import botocore.exceptions
import pytest

BUCKET = "cattube-keys"
KEYS = [
    "a",
    "a/b",                 # both "a" and "a/b" exist: no file/directory clash
    "../x",
    "x/../../y",
    "%2e%2e%2fz",
    "sp ace",
    "plus+sign",
    "amp&er",
    "percent%25",
    "unicodé/ключ/鍵",
    "k" * 1024,            # 1024 bytes: the longest key S3 allows
    "é" * 512,             # 1024 bytes in UTF-8 (512 characters)
]
TOO_LONG = ["k" * 1025, "k" + "é" * 512]   # 1025 bytes each
WRONG_SECRET = "WrongSecretKey0123456789abcdefghijklmnop"


def key_id(k):
    return k if len(k) < 40 else f"{k[:4]}...({len(k.encode())}B)"


def body_of(key):
    return f"object {key!r}\n".encode() * 3


def status_of(exc):
    return exc.response["ResponseMetadata"]["HTTPStatusCode"]


def code_of(exc):
    return exc.response.get("Error", {}).get("Code")


@pytest.fixture(scope="module")
def bucket(server, tmp_path_factory):
    server.aws("s3api", "create-bucket", "--bucket", BUCKET)
    d = tmp_path_factory.mktemp("keys")
    return d


@pytest.mark.parametrize("key", KEYS, ids=key_id)
def test_put_head_get(server, bucket, key):
    src = bucket / "in.bin"
    data = body_of(key)
    src.write_bytes(data)
    r = server.aws("s3api", "put-object", "--bucket", BUCKET, "--key", key, "--body", str(src))
    assert r["ETag"] == '"%s"' % hashlib.md5(data).hexdigest(), r
    h = server.aws("s3api", "head-object", "--bucket", BUCKET, "--key", key)
    assert h["ContentLength"] == len(data), h
    assert h["ETag"] == r["ETag"], h
    out = bucket / "out.bin"
    g = server.aws("s3api", "get-object", "--bucket", BUCKET, "--key", key, str(out))
    assert g["ContentLength"] == len(data), g
    assert out.read_bytes() == data


def test_list_returns_exactly_the_keys(server, bucket):
    r = server.aws("s3api", "list-objects-v2", "--bucket", BUCKET)
    got = [o["Key"] for o in r.get("Contents", [])]
    assert sorted(got) == sorted(KEYS), (set(got) ^ set(KEYS))
    # S3 lists in UTF-8 byte order.
    assert got == sorted(KEYS, key=lambda k: k.encode()), got
    for o in r["Contents"]:
        assert o["Size"] == len(body_of(o["Key"])), o

    r = server.aws("s3api", "list-objects-v2", "--bucket", BUCKET, "--prefix", "a")
    assert sorted(o["Key"] for o in r.get("Contents", [])) == ["a", "a/b", "amp&er"], r
    r = server.aws("s3api", "list-objects-v2", "--bucket", BUCKET, "--prefix", "a/")
    assert [o["Key"] for o in r.get("Contents", [])] == ["a/b"], r
    r = server.aws("s3api", "list-objects-v2", "--bucket", BUCKET, "--prefix", "unicodé/ключ/")
    assert [o["Key"] for o in r.get("Contents", [])] == ["unicodé/ключ/鍵"], r

    r = server.aws("s3api", "list-objects-v2", "--bucket", BUCKET, "--delimiter", "/")
    prefixes = sorted(p["Prefix"] for p in r.get("CommonPrefixes", []))
    assert prefixes == sorted(["../", "a/", "x/", "unicodé/"], key=lambda k: k.encode()), r
    top = sorted(o["Key"] for o in r.get("Contents", []))
    assert top == sorted(k for k in KEYS if "/" not in k), top

    # Pagination: two at a time through boto3, the CLI paginates on its own.
    s3 = server.client("s3")
    seen, token = [], None
    while True:
        kw = {"Bucket": BUCKET, "MaxKeys": 2}
        if token:
            kw["ContinuationToken"] = token
        page = s3.list_objects_v2(**kw)
        assert page["KeyCount"] <= 2
        seen += [o["Key"] for o in page.get("Contents", [])]
        if not page.get("IsTruncated"):
            break
        token = page["NextContinuationToken"]
    assert seen == got, seen


def test_nothing_written_outside_data_dir(server, bucket):
    data = os.path.realpath(server.data_dir)
    # The data dir's parent holds only what the fixture put there.
    allowed = {"data", "server.log", "work", "home", "aws-config", "aws-credentials"}
    extra = set(os.listdir(server.base)) - allowed
    assert not extra, f"unexpected files beside the data dir: {extra}"
    for key in KEYS:
        for root in (data, os.path.join(data, BUCKET), os.path.join(data, "objects", BUCKET),
                     os.path.join(data, "blobs")):
            p = os.path.normpath(os.path.join(root, key))
            if not (p == data or p.startswith(data + os.sep)):
                assert not os.path.lexists(p), f"key {key!r} escaped the data dir: {p}"
    # Keys never name files: no path component equals a key's last segment.
    names = {k.rsplit("/", 1)[-1] for k in KEYS} - {"a", "b"}
    for dirpath, dirnames, filenames in os.walk(data):
        hit = names & set(dirnames + filenames)
        assert not hit, f"key-named file(s) {hit} in {dirpath}"


@pytest.mark.parametrize("key", TOO_LONG, ids=key_id)
def test_key_too_long(server, bucket, key):
    src = bucket / "small.bin"
    src.write_bytes(b"x")
    err = server.aws_fail("s3api", "put-object", "--bucket", BUCKET, "--key", key,
                          "--body", str(src))
    assert "KeyTooLongError" in err.stderr, err.stderr
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        server.client("s3").put_object(Bucket=BUCKET, Key=key, Body=b"x")
    assert status_of(ei.value) == 400 and code_of(ei.value) == "KeyTooLongError", \
        ei.value.response


def test_no_such_key(server, bucket):
    err = server.aws_fail("s3api", "get-object", "--bucket", BUCKET, "--key", "missing/key",
                          str(bucket / "never"))
    assert "NoSuchKey" in err.stderr, err.stderr
    assert not (bucket / "never").exists()
    err = server.aws_fail("s3api", "head-object", "--bucket", BUCKET, "--key", "missing/key")
    assert "404" in err.stderr, err.stderr
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        server.client("s3").get_object(Bucket=BUCKET, Key="missing/key")
    assert status_of(ei.value) == 404 and code_of(ei.value) == "NoSuchKey", ei.value.response


def test_no_such_bucket(server, bucket):
    err = server.aws_fail("s3api", "list-objects-v2", "--bucket", "cattube-no-such-bucket")
    assert "NoSuchBucket" in err.stderr, err.stderr
    err = server.aws_fail("s3", "cp", str(bucket / "in.bin"), "s3://cattube-no-such-bucket/k")
    assert "NoSuchBucket" in err.stderr, err.stderr
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        server.client("s3").get_object(Bucket="cattube-no-such-bucket", Key="k")
    assert status_of(ei.value) == 404 and code_of(ei.value) == "NoSuchBucket", ei.value.response


def test_wrong_secret_is_signature_does_not_match(server, bucket):
    err = server.aws_fail("s3api", "list-buckets", secret_key=WRONG_SECRET)
    assert "SignatureDoesNotMatch" in err.stderr, err.stderr
    src = bucket / "in.bin"
    src.write_bytes(b"must not be stored")
    err = server.aws_fail("s3api", "put-object", "--bucket", BUCKET, "--key", "forged",
                          "--body", str(src), secret_key=WRONG_SECRET)
    assert "SignatureDoesNotMatch" in err.stderr, err.stderr
    err = server.aws_fail("s3api", "head-object", "--bucket", BUCKET, "--key", "forged")
    assert "404" in err.stderr, err.stderr
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        server.client("s3", secret_key=WRONG_SECRET).list_buckets()
    assert status_of(ei.value) == 403 and code_of(ei.value) == "SignatureDoesNotMatch", \
        ei.value.response
    # MediaConvert checks signatures too.
    server.aws_fail("mediaconvert", "list-queues", secret_key=WRONG_SECRET)
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        server.client("mediaconvert", secret_key=WRONG_SECRET).list_queues()
    assert status_of(ei.value) == 403, ei.value.response


def test_unknown_access_key(server, bucket):
    err = server.aws_fail("s3api", "list-buckets", access_key="AKIAUNKNOWNKEY000000")
    assert "InvalidAccessKeyId" in err.stderr, err.stderr


def test_anonymous_is_denied(server, bucket):
    for url in (f"{server.endpoint}/{BUCKET}", f"{server.endpoint}/{BUCKET}/a",
                f"{server.endpoint}/"):
        r = server.curl(url)
        assert r.status == 403, (url, r)
        assert ET.fromstring(r.body).findtext("Code") == "AccessDenied", (url, r.body)
    r = server.curl(f"{server.endpoint}/{BUCKET}/anon", "-X", "PUT", "--data-binary", "x")
    assert r.status == 403, r
    err = server.aws_fail("s3api", "head-object", "--bucket", BUCKET, "--key", "anon")
    assert "404" in err.stderr


@pytest.mark.parametrize("key", KEYS, ids=key_id)
def test_delete(server, bucket, key):
    server.aws("s3api", "delete-object", "--bucket", BUCKET, "--key", key)
    err = server.aws_fail("s3api", "head-object", "--bucket", BUCKET, "--key", key)
    assert "404" in err.stderr, err.stderr


def test_bucket_empty_after_deletes(server, bucket):
    r = server.aws("s3api", "list-objects-v2", "--bucket", BUCKET)
    assert not (r or {}).get("Contents"), r
    # Deleting a missing key is still 204 in S3.
    server.aws("s3api", "delete-object", "--bucket", BUCKET, "--key", "a")
    server.aws("s3api", "delete-bucket", "--bucket", BUCKET)
    err = server.aws_fail("s3api", "head-bucket", "--bucket", BUCKET)
    assert "404" in err.stderr, err.stderr
    assert server.alive() and server.health() == 200


@pytest.mark.parametrize("raw", ["bad%FFkey", "over%C0%AFlong", "sur%ED%A0%80rogate"])
def test_key_not_utf8_is_400(server, bucket, raw):
    """S3 keys are UTF-8: a path that decodes to malformed UTF-8 answers 400
    InvalidURI up front (PostgreSQL would refuse it deep inside a write)."""
    r = server.curl(f"{server.endpoint}/{BUCKET}/{raw}", "-X", "PUT", "--data-binary", "x")
    assert r.status == 400 and b"<Code>InvalidURI</Code>" in r.body, (r.status, r.body)
    r.body.decode("utf-8")  # the error document itself stays UTF-8 (raw path echoed)
    assert server.alive()
