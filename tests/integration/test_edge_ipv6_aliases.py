"""Two CloudFront details on the edge: a signed URL's or signed cookie's
IpAddress condition with an IPv6 client (a standalone edge listening on
[::1]; policies signed with openssl, since @aws-sdk/cloudfront-signer takes
IPv4 ranges only), and wildcard Aliases
(*.example.com) with CloudFront's precedence for overlapping names (the more
specific one wins), on distributions made with the aws CLI."""
import base64
import json
import os
import subprocess
import time
import uuid

import pytest

from conftest import free_port
from test_edge_range_gzip import public_read
from test_edge_remote import Edge, wait_for


class Edge6(Edge):
    """The standalone edge with its HTTPS listener on [::1]."""

    def __init__(self, server, base, *extra):
        port = free_port()
        super().__init__(server, base, *extra, "--listen", f"[::1]:{port}")
        self.https_port = port

    def get(self, server, dist_id, path, *args):
        host = f"{dist_id.lower()}.cattube.localhost"
        return server.curl(self.url(dist_id, path), "--connect-to",
                           f"{host}:{self.https_port}:[::1]:{self.https_port}", *args)


@pytest.fixture(scope="module")
def v6(server, tmp_path_factory):
    from test_edge_signed import admin, keypair
    d = str(tmp_path_factory.mktemp("v6"))
    bucket = "v6-" + uuid.uuid4().hex[:8]
    server.client("s3").create_bucket(Bucket=bucket)
    server.client("s3").put_object(Bucket=bucket, Key="v.txt", Body=b"over ipv6")
    priv, pub = keypair(d, "k")
    st, k = admin(server, "POST", "/cattube/admin/public-keys",
                  {"name": "v6-" + uuid.uuid4().hex[:6], "encodedKey": pub})
    assert st == 201, k
    st, g = admin(server, "POST", "/cattube/admin/key-groups",
                  {"name": "v6-" + uuid.uuid4().hex[:6], "items": [k["id"]]})
    assert st == 201, g
    st, dist = admin(server, "POST", "/cattube/admin/distributions",
                     {"originBucket": bucket, "trustedKeyGroups": [g["id"]]})
    assert st == 201, dist
    edge = Edge6(server, d, "--api", server.endpoint)
    try:
        wait_for(lambda: b"Key-Pair-Id" in edge.get(server, dist["id"], "/v.txt").body,
                 "the IPv6 edge to serve the signed distribution")
        yield {"edge": edge, "id": dist["id"], "priv": priv, "kid": k["id"]}
    finally:
        edge.stop()


def cf_b64(data):
    """CloudFront's URL-safe base64."""
    return (base64.b64encode(data).decode()
            .replace("+", "-").replace("=", "_").replace("/", "~"))


def sign(server, v6, mode, ip):
    """A custom policy with an IpAddress condition, signed RSA-SHA1 by openssl:
    @aws-sdk/cloudfront-signer refuses IPv6 ranges ("four octets"), so the
    policy is built by hand in CloudFront's documented format."""
    url = v6["edge"].url(v6["id"], "/v.txt")
    policy = json.dumps({"Statement": [{"Resource": url, "Condition": {
        "DateLessThan": {"AWS:EpochTime": int(time.time()) + 300},
        "IpAddress": {"AWS:SourceIp": ip}}}]}, separators=(",", ":")).encode()
    sig = subprocess.run(["openssl", "dgst", "-sha1", "-sign", v6["priv"]], input=policy,
                         capture_output=True, check=True).stdout
    params = {"Policy": cf_b64(policy), "Signature": cf_b64(sig), "Key-Pair-Id": v6["kid"]}
    if mode == "url":
        return {"url": url + "?" + "&".join(f"{k}={v}" for k, v in params.items())}
    return {"cookies": {f"CloudFront-{k}": v for k, v in params.items()}}


@pytest.mark.parametrize("ip,ok", [("::1/128", True), ("::/64", True), ("::1", True),
                                   ("2001:db8::/32", False), ("127.0.0.1/32", False)])
def test_signed_url_ipv6_condition(server, v6, ip, ok):
    signed = sign(server, v6, "url", ip)["url"]
    path = signed.split(str(v6["edge"].https_port), 1)[1]
    r = v6["edge"].get(server, v6["id"], path)
    assert r.status == (200 if ok else 403), (ip, r)
    if ok:
        assert r.body == b"over ipv6"


@pytest.mark.parametrize("ip,ok", [("::1/128", True), ("fe80::/10", False)])
def test_signed_cookie_ipv6_condition(server, v6, ip, ok):
    cookies = sign(server, v6, "cookies", ip)["cookies"]
    jar = "; ".join(f"{k}={v}" for k, v in cookies.items())
    r = v6["edge"].get(server, v6["id"], "/v.txt", "-H", f"Cookie: {jar}")
    assert r.status == (200 if ok else 403), (ip, r)


def cf_dist(server, bucket, aliases):
    cfg = {
        "CallerReference": uuid.uuid4().hex, "Comment": "aliases", "Enabled": True,
        "Aliases": {"Quantity": len(aliases), "Items": aliases},
        "Origins": {"Quantity": 1, "Items": [{
            "Id": "o1", "DomainName": f"{bucket}.s3.amazonaws.com",
            "S3OriginConfig": {"OriginAccessIdentity": ""}}]},
        "DefaultCacheBehavior": {
            "TargetOriginId": "o1", "ViewerProtocolPolicy": "allow-all", "MinTTL": 0,
            "ForwardedValues": {"QueryString": False, "Cookies": {"Forward": "none"}}},
    }
    path = os.path.join(server.work, f"al-{uuid.uuid4().hex}.json")
    with open(path, "w") as f:
        json.dump(cfg, f)
    return server.aws("cloudfront", "create-distribution", "--distribution-config",
                      "file://" + path)["Distribution"]


def test_wildcard_aliases_and_precedence(server):
    s3 = server.client("s3")
    zone = f"w{uuid.uuid4().hex[:8]}.localhost"
    names = {}
    # the exact name first, the wildcards after it: newer, yet less specific
    for tag, aliases in (("exact", [f"www.{zone}"]), ("wild", [f"*.{zone}"]),
                         ("deep", [f"*.deep.{zone}"]), ("fallback", [])):
        b = f"al-{tag}-{uuid.uuid4().hex[:6]}"
        s3.create_bucket(Bucket=b)
        public_read(server, b)
        s3.put_object(Bucket=b, Key="who.txt", Body=tag.encode())
        d = cf_dist(server, b, aliases)
        names[tag] = d["Id"]
        assert d["DistributionConfig"]["Aliases"].get("Items", []) == aliases

    def who(host):
        r = server.curl(f"https://{host}:{server.edge_https_port}/who.txt")
        assert r.status == 200, (host, r)
        return r.body.decode()

    assert who(f"a.{zone}") == "wild"
    assert who(f"a.b.{zone}") == "wild"            # any number of leading labels
    assert who(f"WWW.{zone.upper()}") == "exact"   # host names are case-insensitive
    assert who(f"www.{zone}") == "exact"           # more specific than *.zone
    assert who(f"x.deep.{zone}") == "deep"         # *.deep.zone is more specific
    assert who(f"deep.{zone}") == "wild"
    assert who(zone) != "wild"                     # *.zone never names zone itself
    # an identical alias on a second distribution is refused
    b = "al-dup-" + uuid.uuid4().hex[:6]
    s3.create_bucket(Bucket=b)
    cfg_err = None
    try:
        cf_dist(server, b, [f"*.{zone}"])
    except Exception as e:  # AwsError carries the CLI's stderr
        cfg_err = str(e) + getattr(e, "stderr", "")
    assert cfg_err and "CNAMEAlreadyExists" in cfg_err
