#!/usr/bin/env python3
"""Generates sigv4_botocore.json: requests signed by Debian's botocore, as they
would go on the wire, for tests/unit/test_sigv4.c. Run once:
    python3 tests/unit/data/gen_sigv4_vectors.py > tests/unit/data/sigv4_botocore.json
The HTTP layer is short-circuited with a before-send hook, so nothing is sent."""
import hashlib
import json
import sys
from urllib.parse import urlsplit

import botocore.session
from botocore.awsrequest import AWSResponse
from botocore.config import Config

AK, SK, REGION = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "us-east-1"
captured = []


class _Raw:
    def stream(self, *a, **k):
        return iter([b""])


def before_send(request, **kwargs):
    captured.append(request)
    return AWSResponse(request.url, 599, {}, _Raw())


def client(service, **cfg):
    s = botocore.session.get_session()
    c = s.create_client(service, region_name=REGION, endpoint_url="http://localhost:9000",
                        aws_access_key_id=AK, aws_secret_access_key=SK,
                        config=Config(retries={"max_attempts": 1}, **cfg))
    c.meta.events.register("before-send", before_send)
    return c


def record(service, name, req, presigned=False):
    u = urlsplit(req.url)
    target = u.path + ("?" + u.query if u.query else "")
    headers = {k.lower(): (v.decode() if isinstance(v, bytes) else v) for k, v in req.headers.items()}
    headers["host"] = u.netloc
    body = req.body or b""
    if hasattr(body, "read"):
        body = body.read()
    if isinstance(body, str):
        body = body.encode()
    return {"name": name, "service": service, "presigned": presigned, "method": req.method,
            "target": target, "headers": headers,
            "payload_hash": headers.get("x-amz-content-sha256") or hashlib.sha256(body).hexdigest()}


def call(c, service, name, op, **params):
    captured.clear()
    try:
        getattr(c, op)(**params)
    except Exception:
        pass
    return record(service, name, captured[-1])


def main():
    out = []
    s3 = client("s3", s3={"addressing_style": "path"})
    keys = ["plain.mp4", "a b", "a+b", "a&b=c;d", "100%", "\u00fcber/\u00f1and\u00fa.mp4", "~tilde",
            "../x", "x/./y//z", "q?x=1", "star*(paren)!'", "tab\tkey", "emoji\U0001F431.mp4",
            "dir/", "%2F"]
    for i, k in enumerate(keys):
        out.append(call(s3, "s3", "s3-get-%d" % i, "get_object", Bucket="bkt", Key=k))
        out.append(call(s3, "s3", "s3-put-%d" % i, "put_object", Bucket="bkt", Key=k,
                        Body=b"hello " + k.encode()))
    out.append(call(s3, "s3", "s3-list", "list_objects_v2", Bucket="bkt", Prefix="a b+c&d=e/\u00fc~",
                    Delimiter="/", StartAfter="x%y", MaxKeys=5))
    out.append(call(s3, "s3", "s3-list-empty-prefix", "list_objects_v2", Bucket="bkt", Prefix=""))
    out.append(call(s3, "s3", "s3-acl", "get_object_acl", Bucket="bkt", Key="k k"))
    out.append(call(s3, "s3", "s3-uploads", "create_multipart_upload", Bucket="bkt", Key="m+ulti"))
    out.append(call(s3, "s3", "s3-range", "get_object", Bucket="bkt", Key="r", Range="bytes=0-9",
                    ResponseContentDisposition='attachment; filename="a b.mp4"'))
    out.append(call(s3, "s3", "s3-meta", "put_object", Bucket="bkt", Key="meta", Body=b"x",
                    Metadata={"spaced": "  a   b  ", "plus": "1+1"}, ContentType="video/mp4"))
    s3p = client("s3", s3={"addressing_style": "path"}, signature_version="s3v4")
    for i, k in enumerate(keys):
        url = s3p.generate_presigned_url("get_object", Params={"Bucket": "bkt", "Key": k,
                                         "ResponseContentType": "video/mp4; x=a b"}, ExpiresIn=3600)
        out.append(presigned("s3", "s3-presign-%d" % i, "GET", url))
    url = s3p.generate_presigned_url("put_object", Params={"Bucket": "bkt", "Key": "up load+.mp4"},
                                     ExpiresIn=604800)
    out.append(presigned("s3", "s3-presign-put", "PUT", url))

    mc = client("mediaconvert")
    out.append(call(mc, "mediaconvert", "mc-get-job", "get_job", Id="1234 abc+/../x~y"))
    out.append(call(mc, "mediaconvert", "mc-list-jobs", "list_jobs", Queue="q u+e", MaxResults=5,
                    Status="COMPLETE", Order="ASCENDING"))
    out.append(call(mc, "mediaconvert", "mc-create-job", "create_job", Role="arn:aws:iam::1:role/r",
                    Settings={"Inputs": [{"FileInput": "s3://bkt/a b.mp4"}]}))
    out.append(call(mc, "mediaconvert", "mc-get-queue", "get_queue", Name="Default"))
    out.append(call(mc, "mediaconvert", "mc-get-preset", "get_preset", Name="my preset/%41"))
    json.dump(out, sys.stdout, indent=1, ensure_ascii=True)
    sys.stdout.write("\n")


def presigned(service, name, method, url):
    u = urlsplit(url)
    return {"name": name, "service": service, "presigned": True, "method": method,
            "target": u.path + "?" + u.query, "headers": {"host": u.netloc},
            "payload_hash": "UNSIGNED-PAYLOAD"}


if __name__ == "__main__":
    main()
