"""Small objects stored inline in their metadata row (serve --inline-max,
default 64 KiB; meta.h, s3_put.c): a PUT of one costs one durable commit
and no blob file. Every reader must serve them: GET/HEAD with Range and
checksums, presigned GET, CopyObject in every direction (inline <-> blob),
UploadPartCopy, POST Object, the edge's local origin and a MediaConvert job
whose input is inline. Overwrites in either direction leave no orphan blob
file in DATA/blobs; --inline-max 0 keeps blobs; kill -9 right after a 200
loses nothing. Also on PostgreSQL."""

import base64
import hashlib
import os
import signal
import subprocess
import urllib.request
import uuid

import pytest
import requests
from botocore.exceptions import ClientError

import media
from conftest import Server
from test_edge_signed import admin
from test_postgres import pg_url  # noqa: F401 (fixture)
from test_s3_checksums import HeaderClient, b64, put_with_trailer

T = 65536  # the default --inline-max
ROLE = "arn:aws:iam::000000000000:role/MediaConvert_Default_Role"


def blob_files(srv):
    root = os.path.join(srv.data_dir, "blobs")
    return sorted(os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs)


def v4_client(server):
    """Debian's boto3 presigns with Signature Version 2 unless told otherwise."""
    import boto3
    from botocore.config import Config
    return boto3.session.Session().client(
        "s3", endpoint_url=server.endpoint, region_name=server.region,
        aws_access_key_id=server.access_key, aws_secret_access_key=server.secret_key,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}, proxies={}))


def body_of(n, seed=0):
    return bytes((i * 7 + seed) & 0xFF for i in range(n))


@pytest.fixture(scope="module")
def s3(server):
    return server.client("s3")


@pytest.fixture(scope="module")
def bucket(s3):
    name = "inline-" + uuid.uuid4().hex[:8]
    s3.create_bucket(Bucket=name)
    return name


@pytest.mark.parametrize("n", [0, 1, 4096, T - 1, T, T + 1, 200000])
def test_round_trip_sizes(server, s3, bucket, n):
    body = body_of(n, n)
    before = blob_files(server)
    r = s3.put_object(Bucket=bucket, Key=f"size/{n}", Body=body, ChecksumAlgorithm="SHA256")
    assert r["ETag"] == '"%s"' % hashlib.md5(body).hexdigest()
    assert len(blob_files(server)) == len(before) + (1 if n > T else 0)
    g = s3.get_object(Bucket=bucket, Key=f"size/{n}", ChecksumMode="ENABLED")
    assert g["Body"].read() == body
    assert g["ETag"] == r["ETag"] and g["ContentLength"] == n
    assert g["ChecksumSHA256"] == base64.b64encode(hashlib.sha256(body).digest()).decode()
    h = s3.head_object(Bucket=bucket, Key=f"size/{n}")
    assert h["ContentLength"] == n and h["ETag"] == r["ETag"]
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="size/")["Contents"]]
    assert f"size/{n}" in keys


def test_aws_cli_and_content_md5(server, s3, bucket, tmp_path):
    p = tmp_path / "small.txt"
    body = b"hello from the aws cli\n" * 50
    p.write_bytes(body)
    server.aws("s3", "cp", str(p), f"s3://{bucket}/cli/small.txt")
    md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
    server.aws("s3api", "put-object", "--bucket", bucket, "--key", "cli/api.txt",
               "--body", str(p), "--content-md5", md5)
    out = tmp_path / "back.txt"
    for key in ("cli/small.txt", "cli/api.txt"):
        server.aws("s3", "cp", f"s3://{bucket}/{key}", str(out))
        assert out.read_bytes() == body
    with pytest.raises(ClientError) as e:  # a bad Content-MD5 stores nothing
        s3.put_object(Bucket=bucket, Key="cli/bad", Body=body,
                      ContentMD5=base64.b64encode(b"x" * 16).decode())
    assert e.value.response["Error"]["Code"] == "BadDigest"
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="cli/bad")


def test_trailer_checksum_inline(server, s3, bucket):
    body = b"trailer " * 100
    st, h, text = put_with_trailer(server, bucket, "trail/ok", body, "crc32", b64("crc32", body))
    assert st == 200, text
    assert s3.get_object(Bucket=bucket, Key="trail/ok")["Body"].read() == body
    st, _, text = put_with_trailer(server, bucket, "trail/ok", b"other", "crc32",
                                   b64("crc32", b"nope"))
    assert st == 400 and b"BadDigest" in text
    assert s3.get_object(Bucket=bucket, Key="trail/ok")["Body"].read() == body


def raw_put(server, bucket, key, body, headers, chunks=None):
    """A SigV4 (UNSIGNED-PAYLOAD or as headers say) PUT; chunks: send the
    body with Transfer-Encoding: chunked (no Content-Length)."""
    import http.client
    import urllib.parse
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    url = "%s/%s/%s" % (server.endpoint, bucket, key)
    h = {"x-amz-content-sha256": "UNSIGNED-PAYLOAD", **headers}
    req = AWSRequest(method="PUT", url=url, data=b"", headers=h)
    SigV4Auth(Credentials(server.access_key, server.secret_key), "s3", server.region).add_auth(req)
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    try:
        hdrs = dict(req.headers.items())
        if chunks is not None:
            conn.request("PUT", u.path, body=iter(chunks), headers=hdrs, encode_chunked=True)
        else:
            conn.request("PUT", u.path, body=body, headers=hdrs)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def test_lying_or_unknown_length_uses_a_blob(server, s3, bucket):
    # aws-chunked declaring 10 decoded bytes but carrying T + 100: the buffer
    # spills into a writer at the threshold, then the length check refuses it
    body = body_of(T + 100, 8)
    wire = b""
    for i in range(0, len(body), 8000):
        wire += b"%x\r\n" % len(body[i:i + 8000]) + body[i:i + 8000] + b"\r\n"
    wire += b"0\r\nx-amz-checksum-crc32:%s\r\n\r\n" % b64("crc32", body).encode()
    before = blob_files(server)
    st, text = raw_put(server, bucket, "lie", wire, {
        "x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
        "Content-Encoding": "aws-chunked", "x-amz-trailer": "x-amz-checksum-crc32",
        "x-amz-decoded-content-length": "10", "Content-Length": str(len(wire))})
    assert st == 400 and b"IncompleteBody" in text, text
    assert blob_files(server) == before
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="lie")
    # no declared length at all (Transfer-Encoding: chunked): stored as a blob
    st, text = raw_put(server, bucket, "unknown", None, {}, chunks=[b"ab", b"cd"])
    assert st == 200, text
    assert len(blob_files(server)) == len(before) + 1
    assert s3.get_object(Bucket=bucket, Key="unknown")["Body"].read() == b"abcd"


def test_ranges_and_conditionals(server, s3, bucket):
    body = body_of(5000, 3)
    etag = s3.put_object(Bucket=bucket, Key="range", Body=body)["ETag"]
    for rng, want in (("bytes=10-19", body[10:20]), ("bytes=-7", body[-7:]),
                      ("bytes=4990-", body[4990:]), ("bytes=0-99999", body)):
        g = s3.get_object(Bucket=bucket, Key="range", Range=rng)
        assert g["Body"].read() == want, rng
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="range", Range="bytes=6000-7000")
    assert e.value.response["Error"]["Code"] == "InvalidRange"
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="range", IfNoneMatch=etag)
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 304
    hc = HeaderClient(server)  # this botocore has no IfNoneMatch on PutObject
    with hc.headers(If_None_Match="*") as c:  # the row exists though it has no blob
        with pytest.raises(ClientError) as e:
            c.put_object(Bucket=bucket, Key="range", Body=b"x")
        assert e.value.response["Error"]["Code"] == "PreconditionFailed"
        c.put_object(Bucket=bucket, Key="range-new", Body=b"x")
    with hc.headers(If_Match=etag) as c:
        c.put_object(Bucket=bucket, Key="range", Body=b"y")
    assert s3.get_object(Bucket=bucket, Key="range")["Body"].read() == b"y"


def test_presigned_get(server, s3, bucket):
    body = b"presigned inline body"
    s3.put_object(Bucket=bucket, Key="pre/obj", Body=body)
    url = v4_client(server).generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "pre/obj"},
                                    ExpiresIn=300)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=30) as r:
        assert r.read() == body


def test_copy_every_direction(server, s3, bucket):
    small, big = body_of(3000, 1), body_of(T + 500, 2)
    s3.put_object(Bucket=bucket, Key="cp/small", Body=small)
    s3.put_object(Bucket=bucket, Key="cp/big", Body=big)
    base = len(blob_files(server))
    src = {"Bucket": bucket, "Key": "cp/small"}
    s3.copy_object(Bucket=bucket, Key="cp/small2", CopySource=src)  # inline -> inline
    assert len(blob_files(server)) == base
    s3.copy_object(Bucket=bucket, Key="cp/big2", CopySource={"Bucket": bucket, "Key": "cp/big"})
    assert len(blob_files(server)) == base + 1  # blob -> blob
    s3.copy_object(Bucket=bucket, Key="cp/big2", CopySource=src)  # inline over a blob
    assert len(blob_files(server)) == base
    s3.copy_object(Bucket=bucket, Key="cp/small2", CopySource={"Bucket": bucket, "Key": "cp/big"})
    assert len(blob_files(server)) == base + 1  # blob over an inline object
    s3.copy_object(Bucket=bucket, Key="cp/small", CopySource=src, MetadataDirective="REPLACE",
                   Metadata={"k": "v"}, ContentType="text/plain")  # onto itself
    assert s3.get_object(Bucket=bucket, Key="cp/big2")["Body"].read() == small
    assert s3.get_object(Bucket=bucket, Key="cp/small2")["Body"].read() == big
    g = s3.get_object(Bucket=bucket, Key="cp/small")
    assert g["Body"].read() == small and g["Metadata"] == {"k": "v"}
    assert g["ETag"] == '"%s"' % hashlib.md5(small).hexdigest()


def test_upload_part_copy_from_inline(s3, bucket):
    small = body_of(10000, 5)
    s3.put_object(Bucket=bucket, Key="upc/src", Body=small)
    src = {"Bucket": bucket, "Key": "upc/src"}
    big = os.urandom(5 << 20)
    up = s3.create_multipart_upload(Bucket=bucket, Key="upc/a")["UploadId"]
    p1 = s3.upload_part(Bucket=bucket, Key="upc/a", UploadId=up, PartNumber=1, Body=big)
    p2 = s3.upload_part_copy(Bucket=bucket, Key="upc/a", UploadId=up, PartNumber=2,
                             CopySource=src, CopySourceRange="bytes=100-199")["CopyPartResult"]
    assert p2["ETag"] == '"%s"' % hashlib.md5(small[100:200]).hexdigest()
    s3.complete_multipart_upload(Bucket=bucket, Key="upc/a", UploadId=up, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": p1["ETag"]}, {"PartNumber": 2, "ETag": p2["ETag"]}]})
    assert s3.get_object(Bucket=bucket, Key="upc/a")["Body"].read() == big + small[100:200]
    up = s3.create_multipart_upload(Bucket=bucket, Key="upc/b")["UploadId"]
    p1 = s3.upload_part_copy(Bucket=bucket, Key="upc/b", UploadId=up, PartNumber=1,
                             CopySource=src)["CopyPartResult"]
    assert p1["ETag"] == '"%s"' % hashlib.md5(small).hexdigest()
    s3.complete_multipart_upload(Bucket=bucket, Key="upc/b", UploadId=up, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": p1["ETag"]}]})
    assert s3.get_object(Bucket=bucket, Key="upc/b")["Body"].read() == small


def test_overwrites_leave_no_orphan_blobs(server, s3, bucket):
    base = blob_files(server)
    small, big = b"s" * 100, body_of(T + 1, 9)
    s3.put_object(Bucket=bucket, Key="ow", Body=big)
    assert len(blob_files(server)) == len(base) + 1
    s3.put_object(Bucket=bucket, Key="ow", Body=small)  # blob -> inline
    assert blob_files(server) == base
    s3.put_object(Bucket=bucket, Key="ow", Body=big)  # inline -> blob
    assert len(blob_files(server)) == len(base) + 1
    s3.put_object(Bucket=bucket, Key="ow", Body=small)
    s3.delete_object(Bucket=bucket, Key="ow")  # deleting an inline object
    assert blob_files(server) == base
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="ow")
    s3.put_object(Bucket=bucket, Key="ow2", Body=small)
    r = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "ow2"}]})
    assert [d["Key"] for d in r["Deleted"]] == ["ow2"]
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix="ow")


def test_post_object_inline_and_spilled(server, s3, bucket):
    for key, body in (("post/small", b"form body " * 10), ("post/big", body_of(T + 4000, 4))):
        p = v4_client(server).generate_presigned_post(bucket, key, ExpiresIn=300)
        r = requests.post(p["url"], data=p["fields"], files={"file": ("f.bin", body)},
                          proxies={"http": None, "https": None}, timeout=30)
        assert r.status_code == 204, r.text
        g = s3.get_object(Bucket=bucket, Key=key)
        assert g["Body"].read() == body
        assert g["ETag"] == '"%s"' % hashlib.md5(body).hexdigest()


def test_edge_serves_inline_object(server, s3, bucket):
    ebucket = "inline-edge-" + uuid.uuid4().hex[:6]
    s3.create_bucket(Bucket=ebucket)
    body = b"#EXTM3U\n" + b"#EXT-X-VERSION:3\n" * 200
    s3.put_object(Bucket=ebucket, Key="a.m3u8", Body=body,
                  ContentType="application/vnd.apple.mpegurl")
    st, d = admin(server, "POST", "/cattube/admin/distributions", {"originBucket": ebucket})
    assert st == 201, d
    u = d["url"] + "/a.m3u8"
    for _ in range(2):  # a miss, then a hit from the row cache
        r = server.curl(u)
        assert r.status == 200 and r.body == body
    r = server.curl(u, "-H", "Range: bytes=2-9")
    assert r.status == 206 and r.body == body[2:10]
    r = server.curl(u, "-H", "Range: bytes=0-1,4-5")
    assert r.status == 206 and body[0:2] in r.body and body[4:6] in r.body
    r = server.curl(u, "-H", "Accept-Encoding: gzip", "--compressed")
    assert r.status == 200 and r.body == body
    r = server.curl(u, "-I")
    assert r.status == 200 and r.headers.get("content-length") == str(len(body))
    # an overwrite is seen at once, as for blobs (whose removal the edge notices):
    # a cached inline row is checked against meta's version on each hit
    s3.put_object(Bucket=ebucket, Key="a.m3u8", Body=b"changed")
    r = server.curl(u)
    assert r.status == 200 and r.body == b"changed"
    s3.delete_object(Bucket=ebucket, Key="a.m3u8")
    assert server.curl(u).status in (403, 404)


def test_job_with_inline_input(server, s3, bucket, tmp_path):
    clip = str(tmp_path / "tiny.mp4")
    media.run_ffmpeg("-f", "lavfi", "-i", "testsrc=d=0.4:s=64x64:r=10", "-c:v", "libx264",
                     "-preset", "ultrafast", "-pix_fmt", "yuv420p", clip)
    assert os.path.getsize(clip) <= T
    s3.upload_file(clip, bucket, "job/tiny.mp4")
    out_bucket = bucket
    settings = {"Inputs": [{"FileInput": f"s3://{bucket}/job/tiny.mp4"}],
                "OutputGroups": [{"Name": "File Group", "OutputGroupSettings": {
                    "Type": "FILE_GROUP_SETTINGS",
                    "FileGroupSettings": {"Destination": f"s3://{out_bucket}/jobout/"}},
                    "Outputs": [{"NameModifier": "-o", "ContainerSettings": {"Container": "MP4"},
                                 "VideoDescription": {"CodecSettings": {
                                     "Codec": "H_264", "H264Settings": {
                                         "RateControlMode": "QVBR", "MaxBitrate": 200000}}}}]}]}
    mc = server.client("mediaconvert")
    job = mc.create_job(Role=ROLE, Settings=settings)["Job"]
    final, history = server.wait_job(job["Id"], timeout=300)
    assert final["Status"] == "COMPLETE", (history, final.get("ErrorMessage"))
    out = str(tmp_path / "out.mp4")
    s3.download_file(out_bucket, "jobout/tiny-o.mp4", out)
    v = media.stream(media.probe(out), "video")
    assert v is not None and (v["width"], v["height"]) == (64, 64)


@pytest.fixture
def own_server(tmp_path):
    srv = Server(str(tmp_path))
    srv.start()
    yield srv
    srv.stop()


def test_kill9_after_inline_put_then_inline_max_0(own_server, tmp_path):
    srv = own_server
    s3 = srv.client("s3")
    s3.create_bucket(Bucket="kill9-inline")
    body = body_of(4096, 7)
    etag = s3.put_object(Bucket="kill9-inline", Key="obj", Body=body)["ETag"]
    os.killpg(srv.proc.pid, signal.SIGKILL)
    srv.proc.wait()
    srv._clients.clear()
    srv.extra_args = ["--inline-max", "0"]
    srv.start()
    s3 = srv.client("s3")
    g = s3.get_object(Bucket="kill9-inline", Key="obj")
    assert g["Body"].read() == body and g["ETag"] == etag
    assert blob_files(srv) == []
    s3.put_object(Bucket="kill9-inline", Key="tiny", Body=b"t")  # inline disabled: a blob
    assert len(blob_files(srv)) == 1
    s3.copy_object(Bucket="kill9-inline", Key="copy", CopySource={"Bucket": "kill9-inline", "Key": "obj"})
    assert len(blob_files(srv)) == 2  # inline source, blob copy
    assert s3.get_object(Bucket="kill9-inline", Key="copy")["Body"].read() == body
    s3.put_object(Bucket="kill9-inline", Key="obj", Body=b"now a blob")  # inline -> blob overwrite
    assert len(blob_files(srv)) == 3
    assert s3.get_object(Bucket="kill9-inline", Key="obj")["Body"].read() == b"now a blob"
    r = subprocess.run([srv.bin, "serve", "--inline-max", "2000000"], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode != 0 and "--inline-max" in r.stderr


def test_inline_on_postgres(pg_url, tmp_path):  # noqa: F811 (fixture)
    """The same through PostgreSQL: bytea sent and read in hex text form,
    every byte value, an empty object, inline <-> blob overwrites."""
    srv = Server(str(tmp_path))
    srv.extra_args = ["--db", pg_url, "--workers", "0"]
    srv.start()
    try:
        s3 = srv.client("s3")
        s3.create_bucket(Bucket="pg-inline")
        body = bytes(range(256)) * 40  # every byte value, 10 KiB
        etag = s3.put_object(Bucket="pg-inline", Key="a", Body=body)["ETag"]
        assert etag == '"%s"' % hashlib.md5(body).hexdigest()
        assert blob_files(srv) == []
        assert s3.get_object(Bucket="pg-inline", Key="a")["Body"].read() == body
        g = s3.get_object(Bucket="pg-inline", Key="a", Range="bytes=255-256")
        assert g["Body"].read() == b"\xff\x00"
        s3.put_object(Bucket="pg-inline", Key="empty", Body=b"")
        assert s3.get_object(Bucket="pg-inline", Key="empty")["Body"].read() == b""
        s3.copy_object(Bucket="pg-inline", Key="b", CopySource={"Bucket": "pg-inline", "Key": "a"})
        assert s3.get_object(Bucket="pg-inline", Key="b")["Body"].read() == body
        s3.put_object(Bucket="pg-inline", Key="a", Body=body_of(T + 1))
        assert len(blob_files(srv)) == 1
        s3.put_object(Bucket="pg-inline", Key="a", Body=b"small again")
        assert blob_files(srv) == []
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket="pg-inline")["Contents"]]
        assert keys == ["a", "b", "empty"]
    finally:
        srv.stop()


def test_sigbus_is_explained_and_map_can_be_off(own_server, tmp_path):
    """Pooled readers map the database (meta_read.c): a disk read error under
    the map is SIGBUS, which stops the server with a note naming the cause
    and the switch; CATTUBE_SQLITE_MMAP=0 serves the same objects without
    the map."""
    srv = own_server
    s3 = srv.client("s3")
    s3.create_bucket(Bucket="mapped")
    body = body_of(4096, 11)
    s3.put_object(Bucket="mapped", Key="obj", Body=body)
    assert s3.get_object(Bucket="mapped", Key="obj")["Body"].read() == body  # readers exist
    os.kill(srv.proc.pid, signal.SIGBUS)
    assert srv.proc.wait(20) == -signal.SIGBUS  # still the signal's death (core, status)
    assert "SIGBUS" in srv.log_text() and "CATTUBE_SQLITE_MMAP=0" in srv.log_text()
    srv._clients.clear()
    env = srv.server_env
    srv.server_env = lambda: dict(env(), CATTUBE_SQLITE_MMAP="0")
    srv.start()
    assert srv.client("s3").get_object(Bucket="mapped", Key="obj")["Body"].read() == body
