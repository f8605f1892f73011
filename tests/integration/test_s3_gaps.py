"""S3 acceptance items from issue 3 that had no test: aws-chunked uploads
signed chunk by chunk (STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER], signed
here with hmac/hashlib per the SigV4 streaming spec, since botocore sends
only the unsigned-trailer form), conditional GET/HEAD on dates, the error
body and x-amz-request-id, Content-Encoding/Content-Language/Expires
round trips, the ObjectCreated:Copy event, and hostile x-amz-copy-source."""

import base64
import datetime
import email.utils
import hashlib
import hmac
import http.client
import json
import time
import urllib.parse
import uuid
import zlib
import xml.etree.ElementTree as ET

import pytest
from botocore.exceptions import ClientError

EMPTY_SHA = hashlib.sha256(b"").hexdigest()


@pytest.fixture(scope="module")
def bucket(server):
    name = "gaps-" + uuid.uuid4().hex[:10]
    server.client("s3").create_bucket(Bucket=name)
    return name


# ---- SigV4 streaming, by hand ----

def _hmac(key, msg):
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


class Streaming:
    """Builds one aws-chunked PUT per the SigV4 streaming spec."""

    def __init__(self, server, bucket, key, mode, trailer=None, encoding="aws-chunked",
                 query=None):
        self.srv, self.mode, self.trailer, self.encoding = server, mode, trailer, encoding
        self.path = "/" + bucket + "/" + urllib.parse.quote(key)
        self.query = "&".join(f"{urllib.parse.quote(k, safe='-_.~')}="
                              f"{urllib.parse.quote(v, safe='-_.~')}"
                              for k, v in sorted((query or {}).items()))
        self.decoded_len = None  # override x-amz-decoded-content-length
        now = datetime.datetime.now(datetime.timezone.utc)
        self.amz_date = now.strftime("%Y%m%dT%H%M%SZ")
        day = now.strftime("%Y%m%d")
        self.scope = f"{day}/{server.region}/s3/aws4_request"
        k = _hmac(("AWS4" + server.secret_key).encode(), day)
        k = _hmac(k, server.region)
        k = _hmac(k, "s3")
        self.signing_key = _hmac(k, "aws4_request")
        self.seed = "0" * 64  # until headers() signs them

    def _sign(self, sts):
        return hmac.new(self.signing_key, sts.encode(), hashlib.sha256).hexdigest()

    def headers(self, decoded_len, encoded_len):
        host = urllib.parse.urlsplit(self.srv.endpoint).netloc
        h = {"host": host, "x-amz-date": self.amz_date, "x-amz-content-sha256": self.mode,
             "content-encoding": self.encoding,
             "x-amz-decoded-content-length": str(self.decoded_len if self.decoded_len is not None
                                                 else decoded_len),
             "content-length": str(encoded_len)}
        if self.trailer:
            h["x-amz-trailer"] = self.trailer
        names = sorted(h)
        canon = "\n".join(["PUT", self.path, self.query, "".join(f"{n}:{h[n]}\n" for n in names),
                           ";".join(names), self.mode])
        sts = "\n".join(["AWS4-HMAC-SHA256", self.amz_date, self.scope,
                         hashlib.sha256(canon.encode()).hexdigest()])
        self.seed = self._sign(sts)
        h["authorization"] = (f"AWS4-HMAC-SHA256 Credential={self.srv.access_key}/{self.scope}, "
                              f"SignedHeaders={';'.join(names)}, Signature={self.seed}")
        return h

    def chunk_sig(self, prev, data):
        return self._sign("\n".join(["AWS4-HMAC-SHA256-PAYLOAD", self.amz_date, self.scope, prev,
                                     EMPTY_SHA, hashlib.sha256(data).hexdigest()]))

    def body(self, data, chunk=65536, corrupt_chunk=None, trailer_lines=None):
        out, prev = [], self.seed
        pieces = [data[i:i + chunk] for i in range(0, len(data), chunk)] + [b""]
        for i, p in enumerate(pieces):
            sig = self.chunk_sig(prev, p)
            prev = sig
            if i == corrupt_chunk:
                sig = ("0" if sig[0] != "0" else "1") + sig[1:]
            out.append(f"{len(p):x};chunk-signature={sig}\r\n".encode() + p +
                       (b"\r\n" if p else b""))
        if self.trailer:
            text = "".join(f"{n}:{v}\n" for n, v in trailer_lines)
            tsig = self._sign("\n".join(["AWS4-HMAC-SHA256-TRAILER", self.amz_date, self.scope,
                                         prev, hashlib.sha256(text.encode()).hexdigest()]))
            out.append("".join(f"{n}:{v}\r\n" for n, v in trailer_lines).encode())
            out.append(f"x-amz-trailer-signature:{tsig}\r\n\r\n".encode())
        else:
            out.append(b"\r\n")
        return b"".join(out)

    def put(self, data, **kw):
        body = self.body(data, **kw)
        h = self.headers(len(data), len(body))
        # the seed signature is over the headers; body() needs it first
        body = self.body(data, **kw)
        u = urllib.parse.urlsplit(self.srv.endpoint)
        c = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
        c.putrequest("PUT", self.path + ("?" + self.query if self.query else ""), skip_host=True,
                     skip_accept_encoding=True)
        for k, v in h.items():
            c.putheader(k, v)
        c.endheaders()
        c.send(body)
        r = c.getresponse()
        out = (r.status, dict((k.lower(), v) for k, v in r.getheaders()), r.read())
        c.close()
        return out


def _exists(s3, bucket, key):
    try:
        s3.head_object(Bucket=bucket, Key=key)
        return True
    except ClientError as e:
        assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 404
        return False


def test_streaming_signed_payload_round_trip(server, bucket):
    data = bytes(range(256)) * 1000  # 256000 bytes: 4 chunks of 64 KiB
    st, hd, body = Streaming(server, bucket, "stream/ok.bin",
                             "STREAMING-AWS4-HMAC-SHA256-PAYLOAD").put(data)
    assert st == 200, body
    got = server.client("s3").get_object(Bucket=bucket, Key="stream/ok.bin")
    assert got["Body"].read() == data and got["ContentLength"] == len(data)
    assert got["ETag"] == '"' + hashlib.md5(data).hexdigest() + '"'
    # aws-chunked is a transfer coding, not stored as the object's encoding
    assert got.get("ContentEncoding") in (None, "")


@pytest.mark.parametrize("bad", [0, 2, 4])  # first, middle, the final empty chunk
def test_streaming_bad_chunk_signature_stores_nothing(server, bucket, bad):
    key = f"stream/bad-{bad}.bin"
    data = b"x" * 200000
    st, hd, body = Streaming(server, bucket, key, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD").put(
        data, corrupt_chunk=bad)
    assert st == 403, body
    assert ET.fromstring(body).findtext("Code") == "SignatureDoesNotMatch"
    assert not _exists(server.client("s3"), bucket, key)


def test_streaming_bad_chunk_does_not_replace_existing(server, bucket):
    s3 = server.client("s3")
    s3.put_object(Bucket=bucket, Key="stream/keep.bin", Body=b"original")
    st, _, body = Streaming(server, bucket, "stream/keep.bin",
                            "STREAMING-AWS4-HMAC-SHA256-PAYLOAD").put(b"y" * 1000,
                                                                      corrupt_chunk=0)
    assert st == 403
    assert s3.get_object(Bucket=bucket, Key="stream/keep.bin")["Body"].read() == b"original"


def test_streaming_upload_part_and_length_mismatch(server, bucket):
    s3 = server.client("s3")
    up = s3.create_multipart_upload(Bucket=bucket, Key="stream/mp.bin")["UploadId"]
    p1, p2 = b"1" * (5 << 20), b"2" * 1000
    etags = []
    for n, data in ((1, p1), (2, p2)):
        st, hd, body = Streaming(server, bucket, "stream/mp.bin",
                                 "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
                                 query={"partNumber": str(n), "uploadId": up}).put(data)
        assert st == 200, body
        etags.append(hd["etag"])
    s3.complete_multipart_upload(Bucket=bucket, Key="stream/mp.bin", UploadId=up,
                                 MultipartUpload={"Parts": [{"PartNumber": i + 1, "ETag": e}
                                                            for i, e in enumerate(etags)]})
    assert s3.get_object(Bucket=bucket, Key="stream/mp.bin")["Body"].read() == p1 + p2
    # a declared decoded length that the chunks do not add up to
    for claimed in (999, 1001):
        s = Streaming(server, bucket, "stream/len.bin", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
        s.decoded_len = claimed
        st, _, body = s.put(b"l" * 1000)
        assert st in (400, 403), (claimed, st, body)
        assert ET.fromstring(body).findtext("Code"), body
        assert not _exists(s3, bucket, "stream/len.bin")


def _crc32_b64(data):
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


def test_streaming_signed_trailer_round_trip(server, bucket):
    data = b"trailer payload " * 9000
    s = Streaming(server, bucket, "stream/trailer.bin",
                  "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER", trailer="x-amz-checksum-crc32")
    st, hd, body = s.put(data, trailer_lines=[("x-amz-checksum-crc32", _crc32_b64(data))])
    assert st == 200, body
    got = server.client("s3").get_object(Bucket=bucket, Key="stream/trailer.bin",
                                         ChecksumMode="ENABLED")
    assert got["Body"].read() == data
    assert got.get("ChecksumCRC32") == _crc32_b64(data)


def test_streaming_trailer_bad_checksum_stores_nothing(server, bucket):
    data = b"trailer payload " * 9000
    s = Streaming(server, bucket, "stream/trailer-bad.bin",
                  "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER", trailer="x-amz-checksum-crc32")
    st, hd, body = s.put(data, trailer_lines=[("x-amz-checksum-crc32", _crc32_b64(b"other"))])
    assert st == 400, body
    assert ET.fromstring(body).findtext("Code") in ("BadDigest", "InvalidRequest")
    assert not _exists(server.client("s3"), bucket, "stream/trailer-bad.bin")


def test_streaming_trailer_bad_trailer_signature_stores_nothing(server, bucket):
    data = b"z" * 70000
    s = Streaming(server, bucket, "stream/trailer-sig.bin",
                  "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER", trailer="x-amz-checksum-crc32")
    real = s.body

    def tampered(d, **kw):
        b = real(d, **kw)
        i = b.rindex(b"x-amz-trailer-signature:") + len(b"x-amz-trailer-signature:")
        return b[:i] + (b"0" if b[i:i + 1] != b"0" else b"1") + b[i + 1:]
    s.body = tampered
    st, hd, body = s.put(data, trailer_lines=[("x-amz-checksum-crc32", _crc32_b64(data))])
    assert st == 403, body
    assert ET.fromstring(body).findtext("Code") == "SignatureDoesNotMatch"
    assert not _exists(server.client("s3"), bucket, "stream/trailer-sig.bin")


# ---- conditional requests on dates ----

def _http_date(ts):
    return email.utils.formatdate(ts, usegmt=True)


def test_if_modified_since_and_if_unmodified_since(server, bucket):
    s3 = server.client("s3")
    s3.put_object(Bucket=bucket, Key="cond.txt", Body=b"conditional")
    lm = s3.head_object(Bucket=bucket, Key="cond.txt")["LastModified"].timestamp()
    url = f"{server.endpoint}/{bucket}/cond.txt"
    for method in ("GET", "HEAD"):
        def call(hname, ts):
            return _signed(server, method, url, {hname: _http_date(ts)})
        st, hd, _ = call("If-Modified-Since", lm + 3600)
        assert st == 304, method
        assert "x-amz-request-id" in hd and hd.get("etag")
        st, _, body = call("If-Modified-Since", lm - 3600)
        assert st == 200 and (method == "HEAD" or body == b"conditional")
        st, _, body = call("If-Unmodified-Since", lm - 3600)
        assert st == 412, method
        if method == "GET":
            assert ET.fromstring(body).findtext("Code") == "PreconditionFailed"
        st, _, _ = call("If-Unmodified-Since", lm + 3600)
        assert st == 200
    # the boto3 spelling of the same
    with pytest.raises(ClientError) as ei:
        s3.get_object(Bucket=bucket, Key="cond.txt",
                      IfUnmodifiedSince=datetime.datetime.fromtimestamp(lm - 3600,
                                                                        datetime.timezone.utc))
    assert ei.value.response["Error"]["Code"] == "PreconditionFailed"


def _signed(server, method, url, headers=None, body=b""):
    """SigV4-signed request with urllib (no retries, no redirects)."""
    import urllib.error
    import urllib.request
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    req = AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}))
    S3SigV4Auth(Credentials(server.access_key, server.secret_key), "s3",
                server.region).add_auth(req)
    r = urllib.request.Request(url, data=body or None, method=method,
                               headers=dict(req.headers.items()))
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(r, timeout=30) as resp:
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


# ---- error body and request ids ----

def test_error_body_and_request_id_everywhere(server, bucket):
    url = f"{server.endpoint}/{bucket}/no-such-key.txt"
    st, hd, body = _signed(server, "GET", url)
    assert st == 404
    e = ET.fromstring(body)
    assert e.tag == "Error"
    assert e.findtext("Code") == "NoSuchKey" and e.findtext("Message")
    assert e.findtext("Resource") in (f"/{bucket}/no-such-key.txt", "no-such-key.txt")
    rid = e.findtext("RequestId")
    assert rid and hd["x-amz-request-id"] == rid
    # HEAD error, success, other operations, unauthenticated errors
    seen = set()
    for method, u in (("HEAD", url), ("GET", f"{server.endpoint}/{bucket}"),
                      ("PUT", f"{server.endpoint}/{bucket}/rid.txt"),
                      ("HEAD", f"{server.endpoint}/{bucket}/rid.txt"),
                      ("GET", f"{server.endpoint}/{bucket}/rid.txt"),
                      ("GET", f"{server.endpoint}/no-such-bucket-{uuid.uuid4().hex[:6]}"),
                      ("DELETE", f"{server.endpoint}/{bucket}/rid.txt"),
                      ("GET", f"{server.endpoint}/")):
        st, hd, _ = _signed(server, method, u, body=b"x" if method == "PUT" else b"")
        assert hd.get("x-amz-request-id"), (method, u, st)
        seen.add(hd["x-amz-request-id"])
    assert len(seen) == 8  # unique per request
    r = server.curl(f"{server.endpoint}/{bucket}/x")  # anonymous: AccessDenied
    assert r.status == 403 and r.headers.get("x-amz-request-id")
    e = ET.fromstring(r.body)
    assert e.findtext("Code") == "AccessDenied" and e.findtext("RequestId") == \
        r.headers["x-amz-request-id"] and e.findtext("Resource") and e.findtext("Message")
    r = server.curl(f"{server.endpoint}/{bucket}/x", "-I")
    assert r.status == 403 and r.headers.get("x-amz-request-id")


# ---- Content-Encoding, Content-Language, Expires ----

EXPIRES = datetime.datetime(2031, 5, 6, 7, 8, 9, tzinfo=datetime.timezone.utc)
META = {"ContentEncoding": "gzip", "ContentLanguage": "de-CH", "Expires": EXPIRES}


def _check_meta(s3, bucket, key, want):
    for h in (s3.head_object(Bucket=bucket, Key=key), s3.get_object(Bucket=bucket, Key=key)):
        assert h.get("ContentEncoding") == want["ContentEncoding"], h
        assert h.get("ContentLanguage") == want["ContentLanguage"], h
        exp = h.get("Expires") or h.get("ExpiresString")
        if isinstance(exp, str):
            exp = email.utils.parsedate_to_datetime(exp)
        assert exp == want["Expires"], h


def test_content_headers_round_trip(server, bucket):
    s3 = server.client("s3")
    s3.put_object(Bucket=bucket, Key="m/src.txt", Body=b"gz?", **META)
    _check_meta(s3, bucket, "m/src.txt", META)
    # the raw header as well (Expires is an HTTP date)
    st, hd, _ = _signed(server, "HEAD", f"{server.endpoint}/{bucket}/m/src.txt")
    assert hd["expires"] == "Tue, 06 May 2031 07:08:09 GMT"
    assert hd["content-encoding"] == "gzip" and hd["content-language"] == "de-CH"

    s3.copy_object(Bucket=bucket, Key="m/copy.txt", CopySource=f"{bucket}/m/src.txt",
                   MetadataDirective="COPY")
    _check_meta(s3, bucket, "m/copy.txt", META)

    other = {"ContentEncoding": "identity", "ContentLanguage": "fr",
             "Expires": datetime.datetime(2032, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)}
    s3.copy_object(Bucket=bucket, Key="m/replace.txt", CopySource=f"{bucket}/m/src.txt",
                   MetadataDirective="REPLACE", **other)
    _check_meta(s3, bucket, "m/replace.txt", other)

    # REPLACE without them drops them
    s3.copy_object(Bucket=bucket, Key="m/bare.txt", CopySource=f"{bucket}/m/src.txt",
                   MetadataDirective="REPLACE")
    h = s3.head_object(Bucket=bucket, Key="m/bare.txt")
    assert not h.get("ContentEncoding") and not h.get("ContentLanguage")
    assert not h.get("Expires") and not h.get("ExpiresString")

    up = s3.create_multipart_upload(Bucket=bucket, Key="m/mp.txt", **META)
    part = s3.upload_part(Bucket=bucket, Key="m/mp.txt", UploadId=up["UploadId"],
                          PartNumber=1, Body=b"p" * 1000)
    s3.complete_multipart_upload(Bucket=bucket, Key="m/mp.txt", UploadId=up["UploadId"],
                                 MultipartUpload={"Parts": [{"PartNumber": 1,
                                                             "ETag": part["ETag"]}]})
    _check_meta(s3, bucket, "m/mp.txt", META)


def test_content_headers_with_aws_cli(server, bucket, tmp_path):
    f = tmp_path / "c.txt"
    f.write_bytes(b"cli")
    server.aws("s3api", "put-object", "--bucket", bucket, "--key", "m/cli.txt", "--body", str(f),
               "--content-encoding", "br", "--content-language", "en-GB",
               "--expires", "2030-01-01T00:00:00Z")
    h = server.aws("s3api", "head-object", "--bucket", bucket, "--key", "m/cli.txt")
    assert h["ContentEncoding"] == "br" and h["ContentLanguage"] == "en-GB"
    assert "2030" in h["Expires"]


# ---- ObjectCreated:Copy ----

def test_object_created_copy_notification(server, bucket, tmp_path):
    from test_webhooks import Receiver, make_webhook
    recv = Receiver()
    try:
        nb = "gaps-notify-" + uuid.uuid4().hex[:8]
        s3 = server.client("s3")
        s3.create_bucket(Bucket=nb)
        hook = make_webhook(server, "copy-hook-" + uuid.uuid4().hex[:6], recv.url + "/ok")
        s3.put_bucket_notification_configuration(Bucket=nb, NotificationConfiguration={
            "QueueConfigurations": [{"Id": "copies", "QueueArn": hook["queueArn"],
                                     "Events": ["s3:ObjectCreated:Copy"]}]})
        s3.put_object(Bucket=nb, Key="orig.txt", Body=b"copy me")  # Put: not subscribed
        s3.copy_object(Bucket=nb, Key="dup.txt", CopySource=f"{nb}/orig.txt")

        def recs(h):
            return json.loads(h["body"]).get("Records", [])
        hits = recv.wait(lambda h: any(r["s3"]["bucket"]["name"] == nb for r in recs(h)))
        time.sleep(0.5)
        got = [(r["eventName"], r["s3"]["object"]["key"], r["s3"]["object"].get("size"))
               for h in recv.hits for r in recs(h) if r["s3"]["bucket"]["name"] == nb]
        assert hits and got == [("ObjectCreated:Copy", "dup.txt", 7)], got
    finally:
        recv.close()


# ---- hostile x-amz-copy-source ----

@pytest.mark.parametrize("source,codes", [
    ("{b}/../{b}/src.txt", (400, 403, 404)),
    ("{b}/d/../src.txt", (400, 403, 404)),
    ("{b}/%2e%2e/src.txt", (400, 403, 404)),
    ("/{b}/../../etc/passwd", (400, 403, 404)),
    ("/etc/passwd", (400, 403, 404)),
    ("../../../../etc/passwd", (400, 403, 404)),
    ("{b}/", (400,)),
    ("{b}", (400,)),
    ("", (400,)),
    ("/", (400,)),
    ("{b}/%00", (400, 404)),
    ("{b}/src.txt?versionId=../../x", (400,)),  # regression: ignored, copied the object
    ("{b}/src.txt?versionId=3HL4kqtJlcpXroDTDmJ", (400,)),
    ("http://127.0.0.1/{b}/src.txt", (400, 403, 404)),
])
def test_copy_source_traversal(server, bucket, source, codes):
    s3 = server.client("s3")
    s3.put_object(Bucket=bucket, Key="src.txt", Body=b"source")
    s3.put_object(Bucket=bucket, Key="d/x", Body=b"d")
    dest = "cp-dest-" + uuid.uuid4().hex[:8]
    src = source.replace("{b}", bucket)
    st, hd, body = _signed(server, "PUT", f"{server.endpoint}/{bucket}/{dest}",
                           {"x-amz-copy-source": src})
    assert st in codes, (src, st, body)
    e = ET.fromstring(body)
    assert e.findtext("Code") and e.findtext("Message"), body
    assert not _exists(s3, bucket, dest)


def test_copy_source_version_null_and_encodings(server, bucket):
    s3 = server.client("s3")
    s3.put_object(Bucket=bucket, Key="src.txt", Body=b"source")
    st, _, body = _signed(server, "PUT", f"{server.endpoint}/{bucket}/vnull.txt",
                          {"x-amz-copy-source": f"/{bucket}/src.txt?versionId=null"})
    assert st == 200, body
    assert s3.get_object(Bucket=bucket, Key="vnull.txt")["Body"].read() == b"source"
    s3.put_object(Bucket=bucket, Key="sp ace/ü.txt", Body=b"enc")
    st, _, body = _signed(server, "PUT", f"{server.endpoint}/{bucket}/enc.txt",
                          {"x-amz-copy-source": f"{bucket}/sp%20ace/%C3%BC.txt"})
    assert st == 200, body


def test_aws_chunked_is_not_stored_as_content_encoding(server, bucket):
    """Regression: Content-Encoding "aws-chunked" (a transfer coding) was
    stored and served back; S3 strips it and keeps the rest."""
    s3 = server.client("s3")
    st, _, body = Streaming(server, bucket, "stream/enc.bin",
                            "STREAMING-AWS4-HMAC-SHA256-PAYLOAD").put(b"abc" * 100)
    assert st == 200, body
    assert not s3.head_object(Bucket=bucket, Key="stream/enc.bin").get("ContentEncoding")
    for enc in ("gzip,aws-chunked", "aws-chunked, gzip", "AWS-CHUNKED,gzip"):
        st, _, body = Streaming(server, bucket, "stream/gz.bin",
                                "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
                                encoding=enc).put(b"gz" * 100)
        assert st == 200, body
        assert s3.head_object(Bucket=bucket, Key="stream/gz.bin")["ContentEncoding"] == "gzip"


def test_copy_source_other_bucket_without_permission(server, bucket, tmp_path):
    """A user allowed to write here but not to read the other bucket."""
    other = "gaps-private-" + uuid.uuid4().hex[:8]
    s3 = server.client("s3")
    s3.create_bucket(Bucket=other)
    s3.put_object(Bucket=other, Key="secret.txt", Body=b"secret")
    from test_s3_access import attach, make_user
    user = "copier-" + uuid.uuid4().hex[:6]
    cs3 = make_user(server, user)
    attach(server, user, {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"],
        "Resource": f"arn:aws:s3:::{bucket}/*"}]}, tmp_path)
    deadline = time.monotonic() + 10
    while True:  # the key is usable at once; allow a short propagation anyway
        try:
            cs3.put_object(Bucket=bucket, Key="copier-probe.txt", Body=b"ok")
            break
        except ClientError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)
    for src in (f"{other}/secret.txt", f"{bucket}/../{other}/secret.txt"):
        with pytest.raises(ClientError) as ei:
            cs3.copy_object(Bucket=bucket, Key="stolen.txt", CopySource=src)
        assert ei.value.response["ResponseMetadata"]["HTTPStatusCode"] in (403, 404), src
        assert not _exists(s3, bucket, "stolen.txt")
    # with permission on its own bucket the same user copies fine
    cs3.copy_object(Bucket=bucket, Key="allowed-copy.txt", CopySource=f"{bucket}/copier-probe.txt")
    assert s3.get_object(Bucket=bucket, Key="allowed-copy.txt")["Body"].read() == b"ok"
