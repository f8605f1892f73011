"""S3 API behaviour through boto3 (Debian's python3-boto3): multipart,
listings, ranges, conditionals, digests, copies, deletes, bucket errors,
presigned URLs and notification configurations."""

import base64
import hashlib
import os
import urllib.error
import urllib.request

import pytest
from botocore.exceptions import ClientError

MiB = 1 << 20


def code_of(exc):
    return exc.value.response["Error"]["Code"]


def status_of(exc):
    return exc.value.response["ResponseMetadata"]["HTTPStatusCode"]


@pytest.fixture(scope="module")
def s3(server):
    return server.client("s3")


@pytest.fixture(scope="module")
def bucket(s3):
    s3.create_bucket(Bucket="api-tests")
    return "api-tests"


def test_bucket_errors(s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.create_bucket(Bucket="Bad_Name")
    assert code_of(e) == "InvalidBucketName"
    with pytest.raises(ClientError) as e:
        s3.create_bucket(Bucket=bucket)
    assert code_of(e) == "BucketAlreadyOwnedByYou"
    with pytest.raises(ClientError) as e:
        s3.head_bucket(Bucket="no-such-bucket-here")
    assert status_of(e) == 404
    s3.put_object(Bucket=bucket, Key="keep", Body=b"x")
    with pytest.raises(ClientError) as e:
        s3.delete_bucket(Bucket=bucket)
    assert code_of(e) == "BucketNotEmpty"
    assert s3.get_bucket_location(Bucket=bucket).get("LocationConstraint") in (None, "")
    names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert bucket in names


def test_put_get_metadata_and_etag(s3, bucket):
    body = b"hello world\n" * 100
    r = s3.put_object(Bucket=bucket, Key="meta/obj.txt", Body=body, ContentType="text/plain",
                      CacheControl="max-age=60", Metadata={"Owner": "cat"},
                      ContentDisposition='attachment; filename="x.txt"')
    assert r["ETag"] == '"%s"' % hashlib.md5(body).hexdigest()
    g = s3.get_object(Bucket=bucket, Key="meta/obj.txt")
    assert g["Body"].read() == body
    assert g["ContentType"] == "text/plain"
    assert g["CacheControl"] == "max-age=60"
    assert g["Metadata"] == {"owner": "cat"}
    assert g["ContentDisposition"] == 'attachment; filename="x.txt"'
    h = s3.head_object(Bucket=bucket, Key="meta/obj.txt")
    assert h["ContentLength"] == len(body)


def test_missing_key_and_bucket(s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="nope")
    assert code_of(e) == "NoSuchKey"
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket="no-such-bucket-here", Key="nope")
    assert code_of(e) == "NoSuchBucket"
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket="no-such-bucket-here", Key="k", Body=b"x")
    assert code_of(e) == "NoSuchBucket"
    # deleting a missing key succeeds, as on S3
    s3.delete_object(Bucket=bucket, Key="nope")


def test_ranges(s3, bucket):
    s3.put_object(Bucket=bucket, Key="r/eleven", Body=b"0123456789A")
    r = s3.get_object(Bucket=bucket, Key="r/eleven", Range="bytes=-7")
    assert r["Body"].read() == b"456789A"
    assert r["ContentRange"] == "bytes 4-10/11"
    r = s3.get_object(Bucket=bucket, Key="r/eleven", Range="bytes=2-4")
    assert r["Body"].read() == b"234"
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="r/eleven", Range="bytes=40-50")
    assert code_of(e) == "InvalidRange"
    assert status_of(e) == 416
    s3.put_object(Bucket=bucket, Key="r/empty", Body=b"")
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="r/empty", Range="bytes=0-0")
    assert status_of(e) == 416


def test_small_body_edge_sizes(s3, bucket):
    """Bodies up to 64 KiB are sent from memory with the header, larger
    ones by sendfile: whole objects, ranges and HEAD on both sides of the
    edge, the empty object, and a range ending exactly at the edge."""
    edge = 64 * 1024
    for size in (0, 1, edge - 1, edge, edge + 1, 3 * edge):
        body = bytes((i * 7 + size) % 251 for i in range(size))
        key = f"edge/{size}"
        s3.put_object(Bucket=bucket, Key=key, Body=body)
        r = s3.get_object(Bucket=bucket, Key=key)
        assert r["ContentLength"] == size and r["Body"].read() == body
        assert s3.head_object(Bucket=bucket, Key=key)["ContentLength"] == size
        if size < 3:
            continue
        for first, last in ((1, size - 2), (size // 2, size - 1), (0, 0)):
            r = s3.get_object(Bucket=bucket, Key=key, Range=f"bytes={first}-{last}")
            assert r["Body"].read() == body[first:last + 1]
            assert r["ContentRange"] == f"bytes {first}-{last}/{size}"
    r = s3.get_object(Bucket=bucket, Key=f"edge/{3 * edge}", Range=f"bytes={edge}-{2 * edge - 1}")
    assert len(r["Body"].read()) == edge


def test_conditionals(s3, bucket):
    etag = s3.put_object(Bucket=bucket, Key="c/obj", Body=b"abc")["ETag"]
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="c/obj", IfNoneMatch=etag)
    assert status_of(e) == 304
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="c/obj", IfMatch='"0000"')
    assert status_of(e) == 412
    assert s3.get_object(Bucket=bucket, Key="c/obj", IfMatch=etag)["Body"].read() == b"abc"


def test_content_md5_checked(s3, bucket):
    wrong = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="md5/obj", Body=b"data", ContentMD5=wrong)
    assert code_of(e) == "BadDigest"
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="md5/obj")  # nothing stored
    good = base64.b64encode(hashlib.md5(b"data").digest()).decode()
    s3.put_object(Bucket=bucket, Key="md5/obj", Body=b"data", ContentMD5=good)


def test_listing_delimiter_and_pagination(s3, bucket):
    keys = ["l/a", "l/b/1", "l/b/2", "l/c", "l/d/1", "l/e"]
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=b"x")
    r = s3.list_objects_v2(Bucket=bucket, Prefix="l/", Delimiter="/")
    assert [c["Key"] for c in r["Contents"]] == ["l/a", "l/c", "l/e"]
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["l/b/", "l/d/"]
    seen, token = [], None
    while True:
        kw = {"Bucket": bucket, "Prefix": "l/", "MaxKeys": 2}
        if token:
            kw["ContinuationToken"] = token
        r = s3.list_objects_v2(**kw)
        seen += [c["Key"] for c in r.get("Contents", [])]
        if not r["IsTruncated"]:
            break
        token = r["NextContinuationToken"]
    assert seen == keys
    paginator = s3.get_paginator("list_objects")
    v1 = [c["Key"] for page in paginator.paginate(Bucket=bucket, Prefix="l/",
                                                  PaginationConfig={"PageSize": 4})
          for c in page.get("Contents", [])]
    assert v1 == keys
    r = s3.list_objects_v2(Bucket=bucket, Prefix="l/", StartAfter="l/c")
    assert [c["Key"] for c in r["Contents"]] == ["l/d/1", "l/e"]


def test_delete_objects_and_copy(s3, bucket):
    for k in ("d/1", "d/2", "d/3"):
        s3.put_object(Bucket=bucket, Key=k, Body=k.encode())
    s3.copy_object(Bucket=bucket, Key="d/copy of 1", CopySource={"Bucket": bucket, "Key": "d/1"})
    assert s3.get_object(Bucket=bucket, Key="d/copy of 1")["Body"].read() == b"d/1"
    r = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "d/1"}, {"Key": "d/2"},
                                                             {"Key": "d/missing"}]})
    assert sorted(d["Key"] for d in r["Deleted"]) == ["d/1", "d/2", "d/missing"]
    left = [c["Key"] for c in s3.list_objects_v2(Bucket=bucket, Prefix="d/")["Contents"]]
    assert left == ["d/3", "d/copy of 1"]
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="d/x", CopySource={"Bucket": bucket, "Key": "d/none"})
    assert code_of(e) == "NoSuchKey"


def test_multipart(s3, bucket):
    parts_data = [os.urandom(5 * MiB), os.urandom(5 * MiB), os.urandom(1234)]
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp/video.mp4", ContentType="video/mp4")
    uid = up["UploadId"]
    etags = []
    for i, data in enumerate(parts_data, 1):
        etags.append(s3.upload_part(Bucket=bucket, Key="mp/video.mp4", UploadId=uid,
                                    PartNumber=i, Body=data)["ETag"])
    listed = s3.list_parts(Bucket=bucket, Key="mp/video.mp4", UploadId=uid)["Parts"]
    assert [p["PartNumber"] for p in listed] == [1, 2, 3]
    uploads = s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    assert any(u["UploadId"] == uid for u in uploads)
    with pytest.raises(ClientError) as e:  # out of order
        s3.complete_multipart_upload(Bucket=bucket, Key="mp/video.mp4", UploadId=uid,
                                     MultipartUpload={"Parts": [
                                         {"PartNumber": 2, "ETag": etags[1]},
                                         {"PartNumber": 1, "ETag": etags[0]}]})
    assert code_of(e) == "InvalidPartOrder"
    with pytest.raises(ClientError) as e:  # wrong etag
        s3.complete_multipart_upload(Bucket=bucket, Key="mp/video.mp4", UploadId=uid,
                                     MultipartUpload={"Parts": [
                                         {"PartNumber": 1, "ETag": '"deadbeef"'}]})
    assert code_of(e) == "InvalidPart"
    r = s3.complete_multipart_upload(
        Bucket=bucket, Key="mp/video.mp4", UploadId=uid,
        MultipartUpload={"Parts": [{"PartNumber": i + 1, "ETag": t} for i, t in enumerate(etags)]})
    md5s = b"".join(hashlib.md5(d).digest() for d in parts_data)
    assert r["ETag"] == '"%s-3"' % hashlib.md5(md5s).hexdigest()
    got = s3.get_object(Bucket=bucket, Key="mp/video.mp4")
    assert got["Body"].read() == b"".join(parts_data)
    assert got["ContentType"] == "video/mp4"
    with pytest.raises(ClientError) as e:
        s3.list_parts(Bucket=bucket, Key="mp/video.mp4", UploadId=uid)
    assert code_of(e) == "NoSuchUpload"


def test_multipart_entity_too_small_and_abort(s3, bucket):
    uid = s3.create_multipart_upload(Bucket=bucket, Key="mp/small")["UploadId"]
    e1 = s3.upload_part(Bucket=bucket, Key="mp/small", UploadId=uid, PartNumber=1,
                        Body=b"a" * 100)["ETag"]
    e2 = s3.upload_part(Bucket=bucket, Key="mp/small", UploadId=uid, PartNumber=2,
                        Body=b"b" * 100)["ETag"]
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="mp/small", UploadId=uid,
                                     MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1},
                                                                {"PartNumber": 2, "ETag": e2}]})
    assert code_of(e) == "EntityTooSmall"
    s3.abort_multipart_upload(Bucket=bucket, Key="mp/small", UploadId=uid)
    with pytest.raises(ClientError) as e:
        s3.upload_part(Bucket=bucket, Key="mp/small", UploadId=uid, PartNumber=3, Body=b"c")
    assert code_of(e) == "NoSuchUpload"
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="mp/small")


def test_bad_signature_and_anonymous(server, bucket):
    bad = server.client("s3", secret_key="WRONG" + server.secret_key[5:])
    with pytest.raises(ClientError) as e:
        bad.list_objects_v2(Bucket=bucket)
    assert code_of(e) == "SignatureDoesNotMatch"
    unknown = server.client("s3", access_key="AKIANOTAREALKEY00000")
    with pytest.raises(ClientError) as e:
        unknown.list_buckets()
    assert code_of(e) == "InvalidAccessKeyId"
    try:
        urllib.request.urlopen(f"{server.endpoint}/{bucket}/keep", timeout=10)
        raise AssertionError("anonymous GET succeeded")
    except urllib.error.HTTPError as err:
        assert err.code == 403
        assert b"<Code>AccessDenied</Code>" in err.read()


def test_presigned_get_and_put(server, s3, bucket):
    import boto3
    from botocore.config import Config
    v2 = s3  # Debian's boto3 presigns with Signature Version 2 unless told otherwise
    url = v2.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "keep"},
                                    ExpiresIn=300)
    if "AWSAccessKeyId=" in url:
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(url, timeout=10)
        assert e.value.code == 400 and b"Signature Version 2" in e.value.read()
    s3 = boto3.session.Session().client(
        "s3", endpoint_url=server.endpoint, region_name="us-east-1",
        aws_access_key_id=server.access_key, aws_secret_access_key=server.secret_key,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))
    url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "p/x y"},
                                    ExpiresIn=300)
    req = urllib.request.Request(url, data=b"presigned body", method="PUT")
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status == 200
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "p/x y"},
                                    ExpiresIn=300)
    with urllib.request.urlopen(url, timeout=10) as r:
        assert r.read() == b"presigned body"
    tampered = url.replace("p/x%20y", "p/other")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(tampered, timeout=10)
    assert e.value.code == 403


def test_notification_configuration(s3, bucket):
    arn = "arn:aws:mediaconvert:us-east-1:123456789012:jobTemplates/x"
    cfg = {"LambdaFunctionConfigurations": [{
        "Id": "one", "LambdaFunctionArn": arn, "Events": ["s3:ObjectCreated:*"],
        "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "in/"},
                                           {"Name": "suffix", "Value": ".mov"}]}}}]}
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=cfg)
    got = s3.get_bucket_notification_configuration(Bucket=bucket)
    conf = got["LambdaFunctionConfigurations"][0]
    assert conf["Id"] == "one" and conf["LambdaFunctionArn"] == arn
    assert conf["Events"] == ["s3:ObjectCreated:*"]
    rules = {r["Name"].lower(): r["Value"] for r in conf["Filter"]["Key"]["FilterRules"]}
    assert rules == {"prefix": "in/", "suffix": ".mov"}
    overlapping = {"LambdaFunctionConfigurations": [
        {"Id": "a", "LambdaFunctionArn": arn, "Events": ["s3:ObjectCreated:*"]},
        {"Id": "b", "LambdaFunctionArn": arn, "Events": ["s3:ObjectCreated:Put"]}]}
    with pytest.raises(ClientError) as e:
        s3.put_bucket_notification_configuration(Bucket=bucket,
                                                 NotificationConfiguration=overlapping)
    assert code_of(e) == "InvalidArgument"
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={})
    assert "LambdaFunctionConfigurations" not in s3.get_bucket_notification_configuration(
        Bucket=bucket)


def test_malformed_xml_keeps_server_up(server, s3, bucket):
    # boto3 cannot send broken XML: raw HTTP, signed by botocore's signer
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    for body in (b"<Delete><Object><Key>a</Key>", b"<!DOCTYPE x [<!ENTITY e SYSTEM "
                 b"'file:///etc/passwd'>]><Delete><Object><Key>&e;</Key></Object></Delete>",
                 b"\x00\xff garbage"):
        req = AWSRequest(method="POST", url=f"{server.endpoint}/{bucket}?delete", data=body,
                         headers={"Content-MD5": base64.b64encode(
                             hashlib.md5(body).digest()).decode()})
        S3SigV4Auth(Credentials(server.access_key, server.secret_key), "s3",
                    "us-east-1").add_auth(req)
        p = req.prepare()
        r = urllib.request.Request(p.url, data=body, method="POST", headers=dict(p.headers))
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(r, timeout=10)
        assert e.value.code == 400
        assert b"MalformedXML" in e.value.read()
    assert server.health()


def put_with_headers(s3, bucket, key, body, headers):
    """PutObject with extra request headers (Debian's boto3 predates the
    IfNoneMatch/IfMatch parameters of PutObject)."""
    def add(request, **kw):
        for k, v in headers.items():
            request.headers[k] = v
    s3.meta.events.register_first("before-sign.s3.PutObject", add, unique_id="cond-hdrs")
    try:
        return s3.put_object(Bucket=bucket, Key=key, Body=body)
    finally:
        s3.meta.events.unregister("before-sign.s3.PutObject", unique_id="cond-hdrs")


def test_conditional_put(s3, bucket):
    put_with_headers(s3, bucket, "cond/new", b"one", {"If-None-Match": "*"})
    with pytest.raises(ClientError) as e:
        put_with_headers(s3, bucket, "cond/new", b"two", {"If-None-Match": "*"})
    assert status_of(e) == 412
    assert s3.get_object(Bucket=bucket, Key="cond/new")["Body"].read() == b"one"
    etag = s3.head_object(Bucket=bucket, Key="cond/new")["ETag"]
    with pytest.raises(ClientError) as e:
        put_with_headers(s3, bucket, "cond/new", b"three", {"If-Match": '"00000000"'})
    assert status_of(e) == 412
    put_with_headers(s3, bucket, "cond/new", b"four", {"If-Match": etag})
    assert s3.get_object(Bucket=bucket, Key="cond/new")["Body"].read() == b"four"
    with pytest.raises(ClientError) as e:
        put_with_headers(s3, bucket, "cond/missing", b"x", {"If-Match": etag})
    assert status_of(e) == 412


def test_complete_twice_returns_same_etag(s3, bucket):
    uid = s3.create_multipart_upload(Bucket=bucket, Key="mp/twice")["UploadId"]
    etag = s3.upload_part(Bucket=bucket, Key="mp/twice", UploadId=uid, PartNumber=1,
                          Body=b"only part")["ETag"]
    parts = {"Parts": [{"PartNumber": 1, "ETag": etag}]}
    first = s3.complete_multipart_upload(Bucket=bucket, Key="mp/twice", UploadId=uid,
                                         MultipartUpload=parts)["ETag"]
    again = s3.complete_multipart_upload(Bucket=bucket, Key="mp/twice", UploadId=uid,
                                         MultipartUpload=parts)["ETag"]
    assert first == again and first.endswith('-1"')


def test_list_object_versions_unversioned(s3, bucket):
    for k in ("v/a", "v/b"):
        s3.put_object(Bucket=bucket, Key=k, Body=b"x")
    r = s3.list_object_versions(Bucket=bucket, Prefix="v/")
    assert [(v["Key"], v["VersionId"], v["IsLatest"]) for v in r["Versions"]] == \
        [("v/a", "null", True), ("v/b", "null", True)]
    r = s3.list_object_versions(Bucket=bucket, Prefix="v/", MaxKeys=1)
    assert r["IsTruncated"] and r["NextKeyMarker"] == "v/a"


def test_copy_metadata_directive(s3, bucket):
    s3.put_object(Bucket=bucket, Key="md/src", Body=b"data", ContentType="text/plain",
                  Metadata={"a": "1"})
    s3.copy_object(Bucket=bucket, Key="md/copy", CopySource={"Bucket": bucket, "Key": "md/src"})
    h = s3.head_object(Bucket=bucket, Key="md/copy")
    assert h["ContentType"] == "text/plain" and h["Metadata"] == {"a": "1"}
    s3.copy_object(Bucket=bucket, Key="md/repl", CopySource={"Bucket": bucket, "Key": "md/src"},
                   MetadataDirective="REPLACE", ContentType="video/mp4", Metadata={"b": "2"})
    h = s3.head_object(Bucket=bucket, Key="md/repl")
    assert h["ContentType"] == "video/mp4" and h["Metadata"] == {"b": "2"}
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="md/src", CopySource={"Bucket": bucket, "Key": "md/src"})
    assert code_of(e) == "InvalidRequest"
    s3.copy_object(Bucket=bucket, Key="md/src", CopySource={"Bucket": bucket, "Key": "md/src"},
                   MetadataDirective="REPLACE", ContentType="text/csv")
    assert s3.head_object(Bucket=bucket, Key="md/src")["ContentType"] == "text/csv"
    assert s3.get_object(Bucket=bucket, Key="md/src")["Body"].read() == b"data"


def test_upload_part_copy(s3, bucket):
    src = os.urandom(6 * MiB)
    s3.put_object(Bucket=bucket, Key="upc/src", Body=src)
    uid = s3.create_multipart_upload(Bucket=bucket, Key="upc/dst")["UploadId"]
    p1 = s3.upload_part_copy(Bucket=bucket, Key="upc/dst", UploadId=uid, PartNumber=1,
                             CopySource={"Bucket": bucket, "Key": "upc/src"},
                             CopySourceRange=f"bytes=0-{5 * MiB - 1}")["CopyPartResult"]["ETag"]
    p2 = s3.upload_part(Bucket=bucket, Key="upc/dst", UploadId=uid, PartNumber=2,
                        Body=b"tail")["ETag"]
    s3.complete_multipart_upload(Bucket=bucket, Key="upc/dst", UploadId=uid,
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": p1},
                                                            {"PartNumber": 2, "ETag": p2}]})
    got = s3.get_object(Bucket=bucket, Key="upc/dst")["Body"].read()
    assert got == src[:5 * MiB] + b"tail"


def test_request_time_too_skewed(server, bucket):
    import datetime
    from unittest import mock

    import botocore.auth

    real = datetime.datetime

    class Skewed(real):
        @classmethod
        def utcnow(cls):
            return real.utcnow() - datetime.timedelta(minutes=20)

    s3 = server.client("s3", access_key=server.access_key, secret_key=server.secret_key + "")
    with mock.patch.object(botocore.auth.datetime, "datetime", Skewed):
        with pytest.raises(ClientError) as e:
            s3.list_objects_v2(Bucket=bucket)
    assert code_of(e) == "RequestTimeTooSkewed"
    assert status_of(e) == 403
