"""POST Object (browser form upload): boto3's generate_presigned_post posted
with python3-requests and curl -F; success_action_status 200/201/204 and
success_action_redirect 303; policy conditions (expired, tampered, failed
condition, extra field, content-length-range); anonymous POST through a
bucket policy; malformed bodies; the ObjectCreated:Post event."""

import base64
import hashlib
import json
import os
import threading
import http.server
import time
import urllib.parse
import xml.etree.ElementTree as ET

import pytest
import requests

BUCKET = "post-bucket"


@pytest.fixture(scope="module")
def s3(server):
    c = server.client("s3")
    c.create_bucket(Bucket=BUCKET)
    return c


@pytest.fixture(scope="module")
def signer(server):
    import boto3
    from botocore.config import Config
    return boto3.session.Session().client(
        "s3", endpoint_url=server.endpoint, region_name=server.region,
        aws_access_key_id=server.access_key, aws_secret_access_key=server.secret_key,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))


def presign(s3, key, fields=None, conditions=None, expires=300):
    return SIGNER[0].generate_presigned_post(BUCKET, key, Fields=fields, Conditions=conditions,
                                             ExpiresIn=expires)


SIGNER = []


@pytest.fixture(autouse=True)
def _signer(signer):
    SIGNER[:] = [signer]


def post(p, data, filename="cat.txt", extra_after=None):
    files = [("file", (filename, data, "application/x-whatever"))]
    body = dict(p["fields"])
    if extra_after:
        files += [(k, (None, v)) for k, v in extra_after.items()]
    return requests.post(p["url"], data=body, files=files, allow_redirects=False,
                         timeout=60, proxies={"http": None})


def error_of(r):
    root = ET.fromstring(r.content)
    return root.findtext("Code"), root.findtext("Message")


def test_signed_post_201_with_metadata(server, s3):
    p = presign(s3, "uploads/${filename}",
                fields={"success_action_status": "201", "Content-Type": "image/png",
                        "x-amz-meta-owner": "cat"},
                conditions=[["starts-with", "$key", "uploads/"],
                            {"success_action_status": "201"},
                            ["starts-with", "$Content-Type", "image/"],
                            {"x-amz-meta-owner": "cat"},
                            ["content-length-range", 1, 1 << 20]])
    assert p["url"] == f"{server.endpoint}/{BUCKET}"
    data = os.urandom(300_000)
    r = post(p, data, filename="pic 1.png")
    assert r.status_code == 201, r.text
    root = ET.fromstring(r.content)
    assert root.tag == "PostResponse"
    assert root.findtext("Bucket") == BUCKET and root.findtext("Key") == "uploads/pic 1.png"
    etag = '"' + hashlib.md5(data).hexdigest() + '"'
    assert root.findtext("ETag") == etag and r.headers["ETag"] == etag
    assert root.findtext("Location").endswith(f"/{BUCKET}/uploads/pic%201.png")
    o = s3.get_object(Bucket=BUCKET, Key="uploads/pic 1.png")
    assert o["Body"].read() == data
    assert o["ContentType"] == "image/png" and o["Metadata"] == {"owner": "cat"}


def test_default_204_and_200(server, s3):
    p = presign(s3, "plain.txt")
    r = post(p, b"hello post")
    assert r.status_code == 204 and r.content == b""
    assert s3.get_object(Bucket=BUCKET, Key="plain.txt")["Body"].read() == b"hello post"
    p = presign(s3, "two.txt", fields={"success_action_status": "200"},
                conditions=[{"success_action_status": "200"}])
    r = post(p, b"two")
    assert r.status_code == 200 and r.content == b""


def test_redirect_303(server, s3):
    target = "http://127.0.0.1:9/done?x=1"
    p = presign(s3, "redir.txt", fields={"success_action_redirect": target},
                conditions=[{"success_action_redirect": target}])
    r = post(p, b"go")
    assert r.status_code == 303
    loc = urllib.parse.urlsplit(r.headers["Location"])
    q = urllib.parse.parse_qs(loc.query)
    assert loc.netloc == "127.0.0.1:9" and loc.path == "/done"
    assert q["x"] == ["1"] and q["bucket"] == [BUCKET] and q["key"] == ["redir.txt"]
    assert q["etag"] == ['"' + hashlib.md5(b"go").hexdigest() + '"']


def test_expired_policy(server, s3):
    p = presign(s3, "late.txt", expires=-10)
    r = post(p, b"late")
    assert r.status_code == 403
    assert error_of(r) == ("AccessDenied", "Invalid according to Policy: Policy expired.")
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET, Prefix="late")


def test_tampered_policy_and_fields(server, s3):
    p = presign(s3, "safe/a.txt", conditions=[["content-length-range", 0, 10]])
    # a re-encoded policy with a larger limit: the signature no longer matches
    doc = json.loads(base64.b64decode(p["fields"]["policy"]))
    doc["conditions"] = [c if not (isinstance(c, list) and c[0] == "content-length-range")
                         else ["content-length-range", 0, 1 << 30] for c in doc["conditions"]]
    bad = {"url": p["url"], "fields": dict(p["fields"],
                                           policy=base64.b64encode(json.dumps(doc).encode()))}
    r = post(bad, b"x" * 100)
    assert r.status_code == 403 and error_of(r)[0] == "SignatureDoesNotMatch"
    # a field changed against its condition
    moved = {"url": p["url"], "fields": dict(p["fields"], key="elsewhere/a.txt")}
    r = post(moved, b"x")
    code, msg = error_of(r)
    assert r.status_code == 403 and code == "AccessDenied"
    assert msg.startswith("Invalid according to Policy: Policy Condition failed:") and \
        "$key" in msg
    # a field no condition names
    extra = {"url": p["url"], "fields": dict(p["fields"], acl="public-read")}
    r = post(extra, b"x")
    assert r.status_code == 403
    assert error_of(r) == ("AccessDenied", "Invalid according to Policy: Extra input fields: acl")
    # a wrong signature
    forged = {"url": p["url"], "fields": dict(p["fields"], **{"x-amz-signature": "0" * 64})}
    r = post(forged, b"x")
    assert r.status_code == 403 and error_of(r)[0] == "SignatureDoesNotMatch"
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET, Prefix="safe/")
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET, Prefix="elsewhere/")


def test_content_length_range(server, s3):
    p = presign(s3, "sized.bin", conditions=[["content-length-range", 10, 2000]])
    r = post(p, b"x" * 5000)
    assert r.status_code == 400 and error_of(r)[0] == "EntityTooLarge"
    r = post(p, b"x" * 3)
    assert r.status_code == 400 and error_of(r)[0] == "EntityTooSmall"
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET, Prefix="sized")
    r = post(p, b"x" * 2000)
    assert r.status_code == 204


def test_fields_after_file_ignored_and_missing_parts(server, s3):
    p = presign(s3, "order.txt")
    r = post(p, b"ordered", extra_after={"x-amz-meta-late": "ignored"})
    assert r.status_code == 204
    assert s3.head_object(Bucket=BUCKET, Key="order.txt")["Metadata"] == {}
    # no file part
    r = requests.post(p["url"], files=[(k, (None, v)) for k, v in p["fields"].items()],
                      timeout=30, proxies={"http": None})
    assert r.status_code == 400 and error_of(r)[0] == "InvalidArgument"
    # no key field
    f = dict(p["fields"])
    del f["key"]
    r = post({"url": p["url"], "fields": f}, b"x")
    assert r.status_code == 400 and error_of(r) == ("InvalidArgument", (
        "Bucket POST must contain a field named 'key'.  If it is specified, please check "
        "the order of the fields."))


def test_malformed_bodies(server, s3):
    url = f"{server.endpoint}/{BUCKET}"
    cases = [
        ("multipart/form-data; boundary=XyZ", b"--XyZ\r\nContent-Disposition: form-data; "
         b"name=\"key\"\r\n\r\nunterminated"),
        ("multipart/form-data; boundary=XyZ", b"--XyZ\r\nNo-Disposition: x\r\n\r\nv\r\n--XyZ--"),
        ("multipart/form-data", b"--XyZ--\r\n"),
        ("multipart/form-data; boundary=XyZ", b"--XyZ\r\n" + b"H: " + b"v" * 10000 + b"\r\n\r\n"),
    ]
    for ctype, body in cases:
        r = requests.post(url, data=body, headers={"Content-Type": ctype}, timeout=30,
                          proxies={"http": None})
        assert r.status_code == 400, (body[:60], r.text)
        assert error_of(r)[0] == "MalformedPOSTRequest", r.text
    # fields before the file are bounded (S3's 20 KB pre-data limit)
    r = requests.post(url, data={"key": "k", "x-ignore-pad": "p" * 30000},
                      files={"file": ("a", b"x")}, timeout=30, proxies={"http": None})
    assert r.status_code == 400 and error_of(r)[0] == "MaxPostPreDataLengthExceeded", r.text
    r = requests.post(f"{server.endpoint}/post-missing-bucket", files={"file": b"x"},
                      data={"key": "k"}, timeout=30, proxies={"http": None})
    assert r.status_code == 404 and error_of(r)[0] == "NoSuchBucket"
    assert server.alive()


def test_anonymous_post_needs_bucket_policy(server, s3):
    url = f"{server.endpoint}/{BUCKET}"
    r = requests.post(url, data={"key": "anon/a.txt"}, files={"file": ("a.txt", b"anon")},
                      timeout=30, proxies={"http": None})
    assert r.status_code == 403 and error_of(r)[0] == "AccessDenied"
    s3.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": "*", "Action": "s3:PutObject",
            "Resource": f"arn:aws:s3:::{BUCKET}/anon/*"}]}))
    try:
        r = requests.post(url, data={"key": "anon/a.txt"}, files={"file": ("a.txt", b"anon")},
                          timeout=30, proxies={"http": None})
        assert r.status_code == 204, r.text
        r = requests.post(url, data={"key": "other/a.txt"}, files={"file": ("a.txt", b"x")},
                          timeout=30, proxies={"http": None})
        assert r.status_code == 403
    finally:
        s3.delete_bucket_policy(Bucket=BUCKET)
    assert s3.get_object(Bucket=BUCKET, Key="anon/a.txt")["Body"].read() == b"anon"


def test_curl_form_streams_large_file(server, s3, tmp_path):
    p = presign(s3, "big/${filename}", conditions=[["starts-with", "$key", "big/"]])
    src = tmp_path / "movie.bin"
    with open(src, "wb") as f:
        for i in range(48):
            f.write(hashlib.sha256(str(i).encode()).digest() * 32768)  # 1 MiB each
    args = []
    for k, v in p["fields"].items():
        args += ["--form-string", f"{k}={v}"]
    args += ["-F", f"file=@{src}"]
    r = server.curl(p["url"], *args)
    assert r.status == 204, r.body
    h = s3.head_object(Bucket=BUCKET, Key="big/movie.bin")
    assert h["ContentLength"] == 48 << 20
    assert h["ETag"] == '"' + hashlib.md5(src.read_bytes()).hexdigest() + '"'


class Receiver:
    def __init__(self):
        self.hits, self.cv = [], threading.Condition()
        recv = self

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with recv.cv:
                    recv.hits.append(json.loads(body))
                    recv.cv.notify_all()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


def test_post_event(server, s3):
    from test_webhooks import make_webhook
    recv = Receiver()
    try:
        hook = make_webhook(server, "posthook", recv.url)
        s3.put_bucket_notification_configuration(Bucket=BUCKET, NotificationConfiguration={
            "QueueConfigurations": [{"Id": "posted", "QueueArn": hook["arn"],
                                     "Events": ["s3:ObjectCreated:Post"],
                                     "Filter": {"Key": {"FilterRules": [
                                         {"Name": "prefix", "Value": "ev/"}]}}}]})
        s3.put_object(Bucket=BUCKET, Key="ev/put.txt", Body=b"not a post")
        r = post(presign(s3, "ev/form ${filename}"), b"posted!", filename="x.txt")
        assert r.status_code == 204
        deadline = time.monotonic() + 20
        with recv.cv:
            while not recv.hits and time.monotonic() < deadline:
                recv.cv.wait(1)
        time.sleep(0.5)
        assert len(recv.hits) == 1, recv.hits
        rec = recv.hits[0]["Records"][0]
        assert rec["eventName"] == "ObjectCreated:Post"
        assert rec["s3"]["object"]["key"] == "ev/form+x.txt"
        assert rec["s3"]["object"]["size"] == 7
    finally:
        recv.httpd.shutdown()
        s3.put_bucket_notification_configuration(Bucket=BUCKET,
                                                 NotificationConfiguration={})


def test_iam_user_post_is_authorized_for_its_prefix(server, s3, tmp_path):
    import boto3
    from botocore.config import Config
    p = server.cattube("admin", "user", "create", "poster", "--endpoint", server.endpoint)
    key = json.loads(p.stdout)["accessKey"]
    doc = tmp_path / "poster.json"
    doc.write_text(json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "s3:PutObject",
        "Resource": f"arn:aws:s3:::{BUCKET}/users/poster/*"}]}))
    server.cattube("admin", "user", "attach-policy", "poster", "--policy-document",
                   f"file://{doc}", "--policy-name", "post", "--endpoint", server.endpoint)
    u = boto3.session.Session().client(
        "s3", endpoint_url=server.endpoint, region_name=server.region,
        aws_access_key_id=key["accessKeyId"], aws_secret_access_key=key["secretAccessKey"],
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))
    ok = u.generate_presigned_post(BUCKET, "users/poster/a.txt")
    assert post(ok, b"mine").status_code == 204
    denied = u.generate_presigned_post(BUCKET, "users/other/a.txt")
    r = post(denied, b"not mine")
    assert r.status_code == 403 and error_of(r) == ("AccessDenied", "Access Denied")
    # an unknown access key
    bogus = dict(ok["fields"])
    bogus["x-amz-credential"] = "AKIANOSUCHKEY0000000/" + bogus["x-amz-credential"].split("/", 1)[1]
    r = post({"url": ok["url"], "fields": bogus}, b"x")
    assert r.status_code == 403 and error_of(r)[0] == "InvalidAccessKeyId"
    assert s3.get_object(Bucket=BUCKET, Key="users/poster/a.txt")["Body"].read() == b"mine"
