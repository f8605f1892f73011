"""S3 flexible checksums (x-amz-checksum-crc32|crc32c|crc64nvme|sha1|sha256)
through boto3 (Debian's botocore: its ChecksumAlgorithm parameter, plus raw
headers for what it does not know, such as CRC64NVME and checksum types) and
a hand-made aws-chunked upload with a checksum trailer: good and bad values
per algorithm, nothing stored on a mismatch, GET/HEAD with ChecksumMode,
multipart part checksums and the COMPOSITE / FULL_OBJECT object checksums."""

import base64
import contextlib
import hashlib
import http.client
import struct
import urllib.parse
import zlib

import pytest
from botocore.exceptions import ClientError

MiB = 1 << 20
ALGOS = ["crc32", "crc32c", "crc64nvme", "sha1", "sha256"]


# ---- reference checksums ----

def _crc_table(poly):
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ (poly if c & 1 else 0)
        table.append(c)
    return table


_T32C = _crc_table(0x82F63B78)
_T64 = _crc_table(0x9A6C9329AC4BC9B5)


def _crc_reflected(table, mask, data):
    crc = mask
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ mask


def crc32c(data):
    try:
        from awscrt import checksums
        return checksums.crc32c(data)
    except ImportError:
        return _crc_reflected(_T32C, 0xFFFFFFFF, data)


def crc64nvme(data):
    return _crc_reflected(_T64, 0xFFFFFFFFFFFFFFFF, data)


def raw_digest(algo, data):
    if algo == "crc32":
        return struct.pack(">I", zlib.crc32(data))
    if algo == "crc32c":
        return struct.pack(">I", crc32c(data))
    if algo == "crc64nvme":
        return struct.pack(">Q", crc64nvme(data))
    return hashlib.new(algo, data).digest()


def b64(algo, data):
    return base64.b64encode(raw_digest(algo, data)).decode()


def composite(algo, parts):
    joined = b"".join(raw_digest(algo, p) for p in parts)
    return "%s-%d" % (b64(algo, joined), len(parts))


def test_reference_checksums():
    assert zlib.crc32(b"123456789") == 0xCBF43926
    assert crc32c(b"123456789") == 0xE3069283
    assert crc64nvme(b"123456789") == 0xAE8B14860A799888


# ---- fixtures and helpers ----

def code_of(exc):
    return exc.value.response["Error"]["Code"]


def message_of(exc):
    return exc.value.response["Error"].get("Message", "")


@pytest.fixture(scope="module")
def s3(server):
    return server.client("s3")


@pytest.fixture(scope="module")
def bucket(s3):
    s3.create_bucket(Bucket="checksum-tests")
    return "checksum-tests"


class HeaderClient:
    """A boto3 client of its own whose requests carry extra (signed) headers."""

    def __init__(self, server):
        import boto3
        from botocore.config import Config
        self.extra = {}
        cfg = Config(retries={"max_attempts": 1, "mode": "standard"},
                     s3={"addressing_style": "path"}, proxies={})
        self.client = boto3.session.Session().client(
            "s3", endpoint_url=server.endpoint, region_name=server.region,
            aws_access_key_id=server.access_key, aws_secret_access_key=server.secret_key,
            config=cfg)
        self.client.meta.events.register("before-sign.s3.*", self._add)

    def _add(self, request, **kwargs):
        for k, v in self.extra.items():
            request.headers[k] = v

    @contextlib.contextmanager
    def headers(self, **h):
        self.extra = {k.replace("_", "-"): v for k, v in h.items()}
        try:
            yield self.client
        finally:
            self.extra = {}


@pytest.fixture(scope="module")
def hc(server):
    return HeaderClient(server)


def checksum_headers(resp):
    h = resp["ResponseMetadata"]["HTTPHeaders"]
    return {k: v for k, v in h.items() if k.startswith("x-amz-checksum-")}


def assert_absent(s3, bucket, key):
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key=key)
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


# ---- PutObject ----

@pytest.mark.parametrize("algo", ["crc32", "crc32c", "sha1", "sha256"])
def test_put_with_checksum_algorithm(s3, bucket, algo):
    body = b"flexible checksums " * 1000 + algo.encode()
    key = "param/" + algo
    r = s3.put_object(Bucket=bucket, Key=key, Body=body, ChecksumAlgorithm=algo.upper())
    member = "Checksum" + algo.upper()
    assert r[member] == b64(algo, body)
    h = s3.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    assert h[member] == b64(algo, body)
    assert checksum_headers(h)["x-amz-checksum-type"] == "FULL_OBJECT"
    g = s3.get_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    assert g["Body"].read() == body
    assert g[member] == b64(algo, body)
    # Without ChecksumMode the stored checksum is not echoed.
    assert checksum_headers(s3.head_object(Bucket=bucket, Key=key)) == {}
    assert checksum_headers(s3.get_object(Bucket=bucket, Key=key)) == {}


@pytest.mark.parametrize("algo", ALGOS)
def test_put_raw_header_good_and_bad(s3, hc, bucket, algo):
    body = b"raw header " * 333 + algo.encode()
    key = "raw/" + algo
    name = "x-amz-checksum-" + algo
    with hc.headers(**{name: b64(algo, body), "x-amz-sdk-checksum-algorithm": algo.upper()}) as c:
        r = c.put_object(Bucket=bucket, Key=key, Body=body)
    assert checksum_headers(r)[name] == b64(algo, body)
    # A wrong value: BadDigest, and the stored object is left alone.
    with hc.headers(**{name: b64(algo, body + b"x")}) as c, pytest.raises(ClientError) as e:
        c.put_object(Bucket=bucket, Key=key, Body=b"replacement " + body)
    assert code_of(e) == "BadDigest"
    assert message_of(e) == ("The %s you specified did not match the calculated checksum."
                             % algo.upper())
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == body
    with hc.headers(**{name: b64(algo, b"other")}) as c, pytest.raises(ClientError) as e:
        c.put_object(Bucket=bucket, Key=key + ".new", Body=body)
    assert code_of(e) == "BadDigest"
    assert_absent(s3, bucket, key + ".new")
    h = s3.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    assert checksum_headers(h)[name] == b64(algo, body)


def test_put_checksum_request_errors(s3, hc, bucket):
    body = b"some bytes"
    cases = [
        # malformed value
        ({"x-amz-checksum-crc32": "not-base64!"}, "Value for x-amz-checksum-crc32 header is invalid."),
        ({"x-amz-checksum-sha256": b64("crc32", body)}, "Value for x-amz-checksum-sha256 header is invalid."),
        # two algorithms
        ({"x-amz-checksum-crc32": b64("crc32", body), "x-amz-checksum-sha1": b64("sha1", body)},
         "Expecting a single x-amz-checksum- header"),
        # the SDK header names another algorithm, or an unknown one
        ({"x-amz-checksum-crc32": b64("crc32", body), "x-amz-sdk-checksum-algorithm": "SHA256"},
         "x-amz-sdk-checksum-algorithm specified"),
        ({"x-amz-sdk-checksum-algorithm": "CRC32"}, "x-amz-sdk-checksum-algorithm specified"),
        ({"x-amz-sdk-checksum-algorithm": "MD5"}, "Checksum algorithm provided is unsupported"),
    ]
    for i, (headers, msg) in enumerate(cases):
        with hc.headers(**headers) as c, pytest.raises(ClientError) as e:
            c.put_object(Bucket=bucket, Key="bad/%d" % i, Body=body)
        assert code_of(e) == "InvalidRequest", headers
        assert msg in message_of(e), (headers, message_of(e))
        assert_absent(s3, bucket, "bad/%d" % i)


def test_default_crc64nvme_and_ranges(s3, bucket):
    body = bytes(range(256)) * 40
    r = s3.put_object(Bucket=bucket, Key="default", Body=body)
    assert checksum_headers(r) == {"x-amz-checksum-crc64nvme": b64("crc64nvme", body),
                                   "x-amz-checksum-type": "FULL_OBJECT"}
    h = s3.head_object(Bucket=bucket, Key="default", ChecksumMode="ENABLED")
    assert checksum_headers(h)["x-amz-checksum-crc64nvme"] == b64("crc64nvme", body)
    # A range gets no checksum: it would not describe the bytes sent.
    g = s3.get_object(Bucket=bucket, Key="default", Range="bytes=0-99", ChecksumMode="ENABLED")
    assert g["Body"].read() == body[:100]
    assert checksum_headers(g) == {}
    # CopyObject keeps the (identical) bytes' checksum.
    s3.copy_object(Bucket=bucket, Key="default-copy", CopySource=f"{bucket}/default")
    h = s3.head_object(Bucket=bucket, Key="default-copy", ChecksumMode="ENABLED")
    assert checksum_headers(h)["x-amz-checksum-crc64nvme"] == b64("crc64nvme", body)


# ---- aws-chunked with a checksum trailer (STREAMING-UNSIGNED-PAYLOAD-TRAILER) ----

def put_with_trailer(server, bucket, key, body, algo, value):
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    name = "x-amz-checksum-" + algo
    chunked = b""
    for i in range(0, len(body), 4000):
        piece = body[i:i + 4000]
        chunked += b"%x\r\n" % len(piece) + piece + b"\r\n"
    chunked += b"0\r\n" + ("%s:%s\r\n\r\n" % (name, value)).encode()
    url = "%s/%s/%s" % (server.endpoint, bucket, urllib.parse.quote(key))
    headers = {"x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
               "Content-Encoding": "aws-chunked", "x-amz-trailer": name,
               "x-amz-decoded-content-length": str(len(body)),
               "x-amz-sdk-checksum-algorithm": algo.upper(),
               "Content-Length": str(len(chunked))}
    req = AWSRequest(method="PUT", url=url, data=chunked, headers=headers)
    SigV4Auth(Credentials(server.access_key, server.secret_key), "s3", server.region).add_auth(req)
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    try:
        conn.request("PUT", u.path, body=chunked, headers=dict(req.headers.items()))
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


@pytest.mark.parametrize("algo", ALGOS)
def test_trailer_checksum(server, s3, bucket, algo):
    body = b"trailer body " * 1000
    st, h, text = put_with_trailer(server, bucket, "trailer/" + algo, body, algo, b64(algo, body))
    assert st == 200, text
    assert h["x-amz-checksum-" + algo] == b64(algo, body)
    head = s3.head_object(Bucket=bucket, Key="trailer/" + algo, ChecksumMode="ENABLED")
    assert checksum_headers(head)["x-amz-checksum-" + algo] == b64(algo, body)
    st, h, text = put_with_trailer(server, bucket, "trailer/bad-" + algo, body, algo,
                                   b64(algo, b"nope"))
    assert st == 400
    assert b"<Code>BadDigest</Code>" in text
    assert ("The %s you specified did not match" % algo.upper()).encode() in text
    assert_absent(s3, bucket, "trailer/bad-" + algo)


# ---- multipart ----

def upload_parts(s3, bucket, key, parts, algo=None, **create):
    kw = {"ChecksumAlgorithm": algo.upper()} if algo else {}
    up = s3.create_multipart_upload(Bucket=bucket, Key=key, **kw, **create)
    done = []
    for i, p in enumerate(parts, 1):
        r = s3.upload_part(Bucket=bucket, Key=key, UploadId=up["UploadId"], PartNumber=i,
                           Body=p, **kw)
        done.append({"PartNumber": i, "ETag": r["ETag"]})
        if algo:
            assert r["Checksum" + algo.upper()] == b64(algo, p)
            done[-1]["Checksum" + algo.upper()] = r["Checksum" + algo.upper()]
    return up, done


@pytest.mark.parametrize("algo", ["crc32", "sha256"])
def test_multipart_composite(s3, bucket, algo):
    parts = [b"a" * (5 * MiB), b"b" * 1234]
    key = "mpu/composite-" + algo
    up, done = upload_parts(s3, bucket, key, parts, algo)
    assert up["ChecksumAlgorithm"] == algo.upper()
    member = "Checksum" + algo.upper()
    # A part checksum that is not the part's: InvalidPart, the upload stays.
    bad = [dict(d) for d in done]
    bad[1][member] = b64(algo, b"wrong")
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=up["UploadId"],
                                     MultipartUpload={"Parts": bad})
    assert code_of(e) == "InvalidPart"
    assert_absent(s3, bucket, key)
    r = s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=up["UploadId"],
                                     MultipartUpload={"Parts": done})
    want = composite(algo, parts)
    assert r[member] == want
    h = s3.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    assert checksum_headers(h) == {"x-amz-checksum-" + algo: want,
                                   "x-amz-checksum-type": "COMPOSITE"}
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"".join(parts)


def test_multipart_full_object_crc(s3, hc, bucket):
    parts = [b"c" * (5 * MiB), b"d" * 777]
    key = "mpu/full-crc32"
    with hc.headers(**{"x-amz-checksum-type": "FULL_OBJECT"}) as c:
        up, done = upload_parts(c, bucket, key, parts, "crc32")
        assert checksum_headers(up)["x-amz-checksum-type"] == "FULL_OBJECT"
    whole = b"".join(parts)
    with hc.headers(**{"x-amz-checksum-crc32": b64("crc32", b"x")}) as c, \
            pytest.raises(ClientError) as e:
        c.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=up["UploadId"],
                                    MultipartUpload={"Parts": done})
    assert code_of(e) == "BadDigest"
    with hc.headers(**{"x-amz-checksum-crc32": b64("crc32", whole)}) as c:
        r = c.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=up["UploadId"],
                                        MultipartUpload={"Parts": done})
    assert r["ChecksumCRC32"] == b64("crc32", whole)
    h = s3.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    assert checksum_headers(h) == {"x-amz-checksum-crc32": b64("crc32", whole),
                                   "x-amz-checksum-type": "FULL_OBJECT"}


def test_multipart_without_algorithm_and_errors(s3, hc, bucket):
    parts = [b"e" * (5 * MiB), b"f" * 10]
    key = "mpu/plain"
    up, done = upload_parts(s3, bucket, key, parts)
    # A part with a checksum but no algorithm on the upload: verified, returned.
    r = s3.upload_part(Bucket=bucket, Key=key, UploadId=up["UploadId"], PartNumber=2,
                       Body=parts[1], ChecksumAlgorithm="SHA1")
    assert r["ChecksumSHA1"] == b64("sha1", parts[1])
    s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=up["UploadId"],
                                 MultipartUpload={"Parts": done})
    whole = b"".join(parts)
    h = s3.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    assert checksum_headers(h) == {"x-amz-checksum-crc64nvme": b64("crc64nvme", whole),
                                   "x-amz-checksum-type": "FULL_OBJECT"}
    # A part's algorithm must be the upload's; bad create arguments are refused.
    up = s3.create_multipart_upload(Bucket=bucket, Key="mpu/x", ChecksumAlgorithm="CRC32")
    with pytest.raises(ClientError) as e:
        s3.upload_part(Bucket=bucket, Key="mpu/x", UploadId=up["UploadId"], PartNumber=1,
                       Body=b"x", ChecksumAlgorithm="SHA256")
    assert code_of(e) == "InvalidRequest"
    assert "Checksum Type mismatch" in message_of(e)
    s3.abort_multipart_upload(Bucket=bucket, Key="mpu/x", UploadId=up["UploadId"])
    for headers in ({"x-amz-checksum-algorithm": "MD5"},
                    {"x-amz-checksum-algorithm": "SHA256", "x-amz-checksum-type": "FULL_OBJECT"},
                    {"x-amz-checksum-algorithm": "CRC64NVME", "x-amz-checksum-type": "COMPOSITE"},
                    {"x-amz-checksum-type": "FULL_OBJECT"}):
        with hc.headers(**headers) as c, pytest.raises(ClientError) as e:
            c.create_multipart_upload(Bucket=bucket, Key="mpu/y")
        assert code_of(e) == "InvalidRequest", headers
