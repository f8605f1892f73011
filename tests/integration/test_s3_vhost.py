"""Virtual-hosted-style addressing with `cattube serve --domain s3.localhost`:
Host bucket.s3.localhost[:port] names the bucket and the path is the key;
path-style keeps working on the same server. Driven by boto3
(addressing_style='virtual'), curl (--resolve, --aws-sigv4) and the aws CLI.
*.s3.localhost does not resolve here, so the test process patches
socket.getaddrinfo and the aws CLI gets the same patch through a
sitecustomize on its PYTHONPATH; curl uses --resolve."""

import json
import os
import socket
import subprocess

import boto3
import pytest
from botocore.config import Config

from conftest import Server

DOMAIN = "s3.localhost"
BUCKET = "vh-bucket"

_real_getaddrinfo = socket.getaddrinfo


def _loopback_getaddrinfo(host, *args, **kw):
    if isinstance(host, str) and (host == DOMAIN or host.endswith("." + DOMAIN)):
        host = "127.0.0.1"
    return _real_getaddrinfo(host, *args, **kw)


SITECUSTOMIZE = f"""
import socket
_real = socket.getaddrinfo
def _gai(host, *a, **k):
    if isinstance(host, str) and (host == {DOMAIN!r} or host.endswith({"." + DOMAIN!r})):
        host = "127.0.0.1"
    return _real(host, *a, **k)
socket.getaddrinfo = _gai
"""


@pytest.fixture(scope="module")
def vserver(tmp_path_factory):
    socket.getaddrinfo = _loopback_getaddrinfo
    srv = Server(str(tmp_path_factory.mktemp("vhost")))
    srv.extra_args = ["--domain", DOMAIN]
    srv.start()
    yield srv
    socket.getaddrinfo = _real_getaddrinfo
    problems = srv.stop()
    assert not problems, problems


def vclient(srv, style="virtual"):
    cfg = Config(retries={"max_attempts": 1}, s3={"addressing_style": style}, proxies={},
                 signature_version="s3v4")
    return boto3.session.Session().client(
        "s3", endpoint_url=f"http://{DOMAIN}:{srv.port}", region_name=srv.region,
        aws_access_key_id=srv.access_key, aws_secret_access_key=srv.secret_key, config=cfg)


def test_boto3_virtual_round_trip(vserver):
    s3 = vclient(vserver)
    s3.create_bucket(Bucket=BUCKET)
    keys = ["plain.txt", "dir/sub/a b+c%.txt", "ünï/çødé", "2017-08-29/looks-like-mc"]
    for k in keys:
        s3.put_object(Bucket=BUCKET, Key=k, Body=k.encode(), ContentType="text/plain")
    for k in keys:
        r = s3.get_object(Bucket=BUCKET, Key=k)
        assert r["Body"].read() == k.encode()
        assert r["ContentType"] == "text/plain"
    assert s3.head_object(Bucket=BUCKET, Key="plain.txt")["ContentLength"] == 9
    listed = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"])
    assert listed == sorted(keys)
    r = s3.list_objects_v2(Bucket=BUCKET, Prefix="dir/", Delimiter="/")
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["dir/sub/"]
    # the same objects through path style, on the same server
    p = vclient(vserver, "path")
    assert p.get_object(Bucket=BUCKET, Key="dir/sub/a b+c%.txt")["Body"].read() == \
        b"dir/sub/a b+c%.txt"
    plain = vserver.client("s3")
    assert plain.get_object(Bucket=BUCKET, Key="ünï/çødé")["Body"].read() == "ünï/çødé".encode()
    s3.delete_object(Bucket=BUCKET, Key="2017-08-29/looks-like-mc")
    assert "2017-08-29/looks-like-mc" not in [
        o["Key"] for o in plain.list_objects_v2(Bucket=BUCKET)["Contents"]]


def test_boto3_virtual_multipart_and_presigned(vserver, tmp_path):
    from boto3.s3.transfer import TransferConfig
    s3 = vclient(vserver)
    data = os.urandom(11 * 1024 * 1024)
    src = tmp_path / "big.bin"
    src.write_bytes(data)
    s3.upload_file(str(src), BUCKET, "mp/big.bin",
                   Config=TransferConfig(multipart_threshold=5 << 20, multipart_chunksize=5 << 20))
    assert s3.head_object(Bucket=BUCKET, Key="mp/big.bin")["ETag"].endswith('-3"')
    url = s3.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": "mp/big.bin"},
                                    ExpiresIn=300)
    assert url.startswith(f"http://{BUCKET}.{DOMAIN}:{vserver.port}/mp/big.bin?")
    r = vserver.curl(url)
    assert r.status == 200 and r.body == data, r.body[:500]
    put = s3.generate_presigned_url("put_object", Params={"Bucket": BUCKET, "Key": "pre put"},
                                    ExpiresIn=300)
    r = vserver.curl(put, "-X", "PUT", "--data-binary", "presigned body")
    assert r.status == 200, r.body
    assert s3.get_object(Bucket=BUCKET, Key="pre put")["Body"].read() == b"presigned body"


def test_curl_sigv4_and_anonymous(vserver):
    s3 = vclient(vserver)
    s3.put_object(Bucket=BUCKET, Key="curl/obj.txt", Body=b"via curl")
    base = f"http://{BUCKET}.{DOMAIN}:{vserver.port}"
    sig = ["--aws-sigv4", f"aws:amz:{vserver.region}:s3",
           "--user", f"{vserver.access_key}:{vserver.secret_key}",
           "-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD"]
    r = vserver.curl(base + "/curl/obj.txt", *sig)
    assert r.status == 200 and r.body == b"via curl"
    # (curl 7.88 does not canonicalize query values: keep them plain)
    r = vserver.curl(base + "/?list-type=2&prefix=curl", *sig)
    assert r.status == 200 and b"<Key>curl/obj.txt</Key>" in r.body, r.body
    # unsigned: no bucket policy grants anything yet
    r = vserver.curl(base + "/curl/obj.txt")
    assert r.status == 403 and b"AccessDenied" in r.body
    s3.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
            "Resource": f"arn:aws:s3:::{BUCKET}/curl/*"}]}))
    try:
        r = vserver.curl(base + "/curl/obj.txt")
        assert r.status == 200 and r.body == b"via curl"
        # a path that would be an admin/MediaConvert route is a key here
        r = vserver.curl(base + "/cattube/health")
        assert r.status == 403 and b"<Code>AccessDenied</Code>" in r.body
    finally:
        s3.delete_bucket_policy(Bucket=BUCKET)
    # a Host naming a missing bucket
    r = vserver.curl(f"http://nope-bucket.{DOMAIN}:{vserver.port}/k", *sig)
    assert r.status == 404 and b"NoSuchBucket" in r.body


def test_aws_cli_virtual(vserver, tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
    with open(vserver.aws_config, "w") as f:
        f.write("[default]\ns3 =\n    addressing_style = virtual\n")
    env = vserver.aws_env()
    env["PYTHONPATH"] = str(site)
    src = tmp_path / "cli.txt"
    src.write_bytes(b"from the aws cli\n" * 1000)

    def aws(*args):
        cmd = ["/usr/bin/aws", "--endpoint-url", f"http://{DOMAIN}:{vserver.port}", "--debug"]
        p = subprocess.run(cmd + list(args), capture_output=True, text=True, env=env,
                           timeout=120, stdin=subprocess.DEVNULL)
        assert p.returncode == 0, p.stderr[-3000:]
        return p

    p = aws("s3", "cp", str(src), f"s3://{BUCKET}/cli/c.txt")
    assert f"{BUCKET}.{DOMAIN}" in p.stderr  # really virtual-hosted
    aws("s3", "cp", f"s3://{BUCKET}/cli/c.txt", str(tmp_path / "back.txt"))
    assert (tmp_path / "back.txt").read_bytes() == src.read_bytes()
    out = aws("s3api", "list-objects-v2", "--bucket", BUCKET, "--prefix", "cli/").stdout
    assert [o["Key"] for o in json.loads(out)["Contents"]] == ["cli/c.txt"]


def test_post_object_virtual_hosted(vserver):
    import requests
    s3 = vclient(vserver)
    p = s3.generate_presigned_post(BUCKET, "form/${filename}",
                                   Fields={"success_action_status": "201"},
                                   Conditions=[["starts-with", "$key", "form/"],
                                               {"success_action_status": "201"}])
    assert p["url"] == f"http://{BUCKET}.{DOMAIN}:{vserver.port}/"
    r = requests.post(p["url"], data=p["fields"], files={"file": ("v.txt", b"virtual form")},
                      timeout=30, proxies={"http": None})
    assert r.status_code == 201, r.text
    assert f"<Location>http://{BUCKET}.{DOMAIN}:{vserver.port}/form/v.txt</Location>" in r.text
    assert s3.get_object(Bucket=BUCKET, Key="form/v.txt")["Body"].read() == b"virtual form"
