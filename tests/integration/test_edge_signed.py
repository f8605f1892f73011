"""CloudFront signed URLs and signed cookies on the edge, signed by the real
@aws-sdk/cloudfront-signer (tests/integration/js_cf/sign.mjs): canned and
custom policies (dates, IP, wildcard), SHA1 and SHA256, against a
distribution's trusted key group registered through the admin API."""

import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
JS = os.path.join(HERE, "js_cf")
BUCKET = "edge-signed-origin"
BODY_A = b"signed content A\n"
BODY_B = b"signed content B\n"
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _node_ready():
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node:
        pytest.skip("node is not installed")
    if not os.path.isdir(os.path.join(JS, "node_modules", "@aws-sdk", "cloudfront-signer")):
        if not npm:
            pytest.skip("npm is not installed")
        p = subprocess.run([npm, "install", "--no-audit", "--no-fund"], cwd=JS,
                           capture_output=True, text=True, timeout=300)
        if p.returncode != 0:
            pytest.skip(f"npm install failed: {p.stderr[-500:]}")
    return node


def admin(srv, method, path, body=None):
    """SigV4-signed (service "cattube") admin API call -> (status, json)."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    data = json.dumps(body).encode() if body is not None else b""
    url = srv.endpoint + path
    req = AWSRequest(method=method, url=url, data=data,
                     headers={"Content-Type": "application/json"})
    SigV4Auth(Credentials(srv.access_key, srv.secret_key), "cattube", srv.region).add_auth(req)
    r = urllib.request.Request(url, data=data if data else None, method=method,
                               headers=dict(req.headers.items()))
    try:
        with _OPENER.open(r, timeout=30) as resp:
            raw = resp.read()
            return resp.status, (json.loads(raw) if raw else None)
    except urllib.error.HTTPError as e:
        raw = e.read()
        return e.code, (json.loads(raw) if raw else None)


def keypair(dirpath, name):
    priv, pub = os.path.join(dirpath, name + ".pem"), os.path.join(dirpath, name + ".pub.pem")
    subprocess.run(["openssl", "genrsa", "-out", priv, "2048"], check=True, capture_output=True)
    subprocess.run(["openssl", "rsa", "-in", priv, "-pubout", "-out", pub], check=True,
                   capture_output=True)
    with open(pub) as f:
        return priv, f.read()


class Env:
    pass


@pytest.fixture(scope="module")
def env(server, tmp_path_factory):
    node = _node_ready()
    d = str(tmp_path_factory.mktemp("keys"))
    e = Env()
    e.srv, e.node = server, node
    e.priv, pub = keypair(d, "trusted")
    e.foreign_priv, foreign_pub = keypair(d, "foreign")
    s3 = server.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="video/a.txt", Body=BODY_A, ContentType="text/plain")
    s3.put_object(Bucket=BUCKET, Key="video/b.txt", Body=BODY_B, ContentType="text/plain")
    s3.put_object(Bucket=BUCKET, Key="other/c.txt", Body=b"c", ContentType="text/plain")

    st, k = admin(server, "POST", "/cattube/admin/public-keys",
                  {"name": "trusted", "encodedKey": pub})
    assert st == 201, k
    e.key_id = k["id"]
    st, k2 = admin(server, "POST", "/cattube/admin/public-keys",
                   {"name": "foreign", "encodedKey": foreign_pub})
    assert st == 201, k2
    e.foreign_id = k2["id"]
    st, g = admin(server, "POST", "/cattube/admin/key-groups",
                  {"name": "players", "items": [e.key_id]})
    assert st == 201, g
    e.group_id = g["id"]
    st, dist = admin(server, "POST", "/cattube/admin/distributions",
                     {"originBucket": BUCKET, "trustedKeyGroups": [e.group_id]})
    assert st == 201, dist
    assert dist["trustedKeyGroups"] == [e.group_id]
    e.dist = dist
    e.base = dist["url"]
    return e


def sign(e, **params):
    params.setdefault("keyPairId", e.key_id)
    params.setdefault("privateKeyFile", e.priv)
    params.setdefault("mode", "url")
    p = subprocess.run([e.node, os.path.join(JS, "sign.mjs"), json.dumps(params)], cwd=JS,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def get(e, url, *args):
    return e.srv.curl(url, *args)


def cookie_args(cookies):
    return ["-H", "Cookie: " + "; ".join(f"{k}={v}" for k, v in cookies.items())]


NOW = lambda: int(time.time())  # noqa: E731


def test_unsigned_is_denied(env):
    r = get(env, env.base + "/video/a.txt")
    assert r.status == 403, r
    assert b"Key-Pair-Id" in r.body
    assert "no-store" in r.headers.get("cache-control", "")


def test_canned_policy(env):
    url = sign(env, url=env.base + "/video/a.txt", dateLessThan=NOW() + 300)["url"]
    assert "Expires=" in url and "Signature=" in url and "Key-Pair-Id=" in url
    r = get(env, url)
    assert r.status == 200, r
    assert r.body == BODY_A
    # Range and HEAD work through the signature too.
    r = get(env, url, "-H", "Range: bytes=0-5")
    assert r.status == 206 and r.body == BODY_A[:6]


def test_canned_sha256(env):
    url = sign(env, url=env.base + "/video/a.txt", dateLessThan=NOW() + 300,
               algorithm="SHA256")["url"]
    assert "Hash-Algorithm=SHA256" in url
    assert get(env, url).status == 200
    # The same signature claimed as SHA1 does not verify.
    assert get(env, url.replace("Hash-Algorithm=SHA256", "Hash-Algorithm=SHA1")).status == 403
    assert get(env, url.replace("Hash-Algorithm=SHA256", "Hash-Algorithm=MD5")).status == 403


def test_canned_expired(env):
    url = sign(env, url=env.base + "/video/a.txt", dateLessThan=NOW() - 5)["url"]
    r = get(env, url)
    assert r.status == 403 and b"expired" in r.body


def test_tampered(env):
    url = sign(env, url=env.base + "/video/a.txt", dateLessThan=NOW() + 300)["url"]
    # another object with the same signature
    assert get(env, url.replace("/video/a.txt", "/video/b.txt")).status == 403
    # a later expiry
    u = urllib.parse.urlsplit(url)
    q = urllib.parse.parse_qs(u.query)
    later = url.replace("Expires=" + q["Expires"][0], "Expires=" + str(int(q["Expires"][0]) + 1))
    assert get(env, later).status == 403
    # a flipped signature character
    sig = q["Signature"][0]
    flipped = sig[:10] + ("A" if sig[10] != "A" else "B") + sig[11:]
    assert get(env, url.replace(sig, flipped)).status == 403
    # garbage signature, missing pieces
    assert get(env, url.replace(sig, "%%%")).status == 403
    assert get(env, url.replace("Key-Pair-Id=", "X=")).status == 403
    # an added query parameter changes the resource
    assert get(env, url + "&extra=1").status == 403


def test_query_parameters_are_part_of_the_resource(env):
    url = sign(env, url=env.base + "/video/a.txt?quality=hd", dateLessThan=NOW() + 300)["url"]
    assert get(env, url).status == 200
    assert get(env, url.replace("quality=hd", "quality=sd")).status == 403


def test_foreign_key(env):
    # registered key that is not in the distribution's key group
    url = sign(env, url=env.base + "/video/a.txt", dateLessThan=NOW() + 300,
               keyPairId=env.foreign_id, privateKeyFile=env.foreign_priv)["url"]
    assert get(env, url).status == 403
    # signed with the foreign key but claiming the trusted key's id
    url = sign(env, url=env.base + "/video/a.txt", dateLessThan=NOW() + 300,
               privateKeyFile=env.foreign_priv)["url"]
    assert get(env, url).status == 403
    # unknown key id
    url = sign(env, url=env.base + "/video/a.txt", dateLessThan=NOW() + 300,
               keyPairId="KUNKNOWN000000")["url"]
    assert get(env, url).status == 403


def test_custom_policy_dates(env):
    url = sign(env, url=env.base + "/video/a.txt", dateLessThan=NOW() + 300,
               dateGreaterThan=NOW() - 60)["url"]
    assert "Policy=" in url and "Expires=" not in url
    assert get(env, url).status == 200
    url = sign(env, url=env.base + "/video/a.txt", dateLessThan=NOW() + 600,
               dateGreaterThan=NOW() + 300)["url"]
    r = get(env, url)
    assert r.status == 403 and b"not valid yet" in r.body
    url = sign(env, url=env.base + "/video/a.txt", dateLessThan=NOW() - 1,
               dateGreaterThan=NOW() - 600)["url"]
    assert get(env, url).status == 403


def test_custom_policy_ip(env):
    ok = sign(env, url=env.base + "/video/a.txt", dateLessThan=NOW() + 300,
              ipAddress="127.0.0.0/8")["url"]
    assert get(env, ok).status == 200
    ok32 = sign(env, url=env.base + "/video/a.txt", dateLessThan=NOW() + 300,
                ipAddress="127.0.0.1")["url"]
    assert get(env, ok32).status == 200
    bad = sign(env, url=env.base + "/video/a.txt", dateLessThan=NOW() + 300,
               ipAddress="10.1.2.0/24")["url"]
    r = get(env, bad)
    assert r.status == 403 and b"IP address" in r.body


def custom_policy(resource, less, greater=None, ip=None):
    cond = {"DateLessThan": {"AWS:EpochTime": less}}
    if greater:
        cond["DateGreaterThan"] = {"AWS:EpochTime": greater}
    if ip:
        cond["IpAddress"] = {"AWS:SourceIp": ip}
    return json.dumps({"Statement": [{"Resource": resource, "Condition": cond}]})


def test_custom_policy_wildcard_sha256(env):
    pol = custom_policy(env.base + "/video/*", NOW() + 300)
    signed = sign(env, policy=pol, algorithm="SHA256")["url"]
    query = signed.split("?", 1)[1]
    for path, body in (("/video/a.txt", BODY_A), ("/video/b.txt", BODY_B)):
        r = get(env, env.base + path + "?" + query)
        assert r.status == 200 and r.body == body, r
    assert get(env, env.base + "/other/c.txt?" + query).status == 403


def test_signed_cookies(env):
    c = sign(env, mode="cookies", url=env.base + "/video/a.txt", dateLessThan=NOW() + 300)
    ck = c["cookies"]
    assert set(ck) == {"CloudFront-Expires", "CloudFront-Signature", "CloudFront-Key-Pair-Id"}
    assert get(env, env.base + "/video/a.txt", *cookie_args(ck)).status == 200
    assert get(env, env.base + "/video/b.txt", *cookie_args(ck)).status == 403

    pol = custom_policy(env.base + "/video/*", NOW() + 300, ip="127.0.0.1/32")
    ck = sign(env, mode="cookies", policy=pol, algorithm="SHA256")["cookies"]
    assert "CloudFront-Policy" in ck and ck.get("CloudFront-Hash-Algorithm") == "SHA256"
    r = get(env, env.base + "/video/b.txt", *cookie_args(ck))
    assert r.status == 200 and r.body == BODY_B
    bad = dict(ck, **{"CloudFront-Signature": ck["CloudFront-Signature"][::-1]})
    assert get(env, env.base + "/video/b.txt", *cookie_args(bad)).status == 403
    expired = sign(env, mode="cookies", policy=custom_policy(env.base + "/video/*", NOW() - 1))
    assert get(env, env.base + "/video/b.txt", *cookie_args(expired["cookies"])).status == 403


def test_admin_validation_and_updates(env):
    srv = env.srv
    st, _ = admin(srv, "POST", "/cattube/admin/public-keys", {"name": "x", "encodedKey": "nope"})
    assert st == 400
    st, _ = admin(srv, "POST", "/cattube/admin/key-groups",
                  {"name": "g", "items": ["KNOPE000000000"]})
    assert st == 400
    st, _ = admin(srv, "POST", "/cattube/admin/distributions",
                  {"originBucket": BUCKET, "trustedKeyGroups": ["not-a-group"]})
    assert st == 400
    st, lst = admin(srv, "GET", "/cattube/admin/public-keys")
    assert st == 200 and {k["id"] for k in lst["publicKeys"]} >= {env.key_id, env.foreign_id}
    st, lst = admin(srv, "GET", "/cattube/admin/key-groups")
    assert st == 200 and env.group_id in {g["id"] for g in lst["keyGroups"]}
    # in use -> 409
    st, _ = admin(srv, "DELETE", "/cattube/admin/public-keys/" + env.key_id)
    assert st == 409
    st, _ = admin(srv, "DELETE", "/cattube/admin/key-groups/" + env.group_id)
    assert st == 409

    # A second distribution, open, then protected through an update.
    st, d2 = admin(srv, "POST", "/cattube/admin/distributions", {"originBucket": BUCKET})
    assert st == 201 and d2["trustedKeyGroups"] == []
    assert get(env, d2["url"] + "/video/a.txt").status == 200
    st, upd = admin(srv, "PATCH", "/cattube/admin/distributions/" + d2["id"],
                    {"trustedKeyGroups": [env.group_id]})
    assert st == 200 and upd["trustedKeyGroups"] == [env.group_id], upd
    assert get(env, d2["url"] + "/video/a.txt").status == 403
    url = sign(env, url=d2["url"] + "/video/a.txt", dateLessThan=NOW() + 300)["url"]
    assert get(env, url).status == 200
    # a URL signed for the other distribution's host does not open this one
    other = sign(env, url=env.base + "/video/a.txt", dateLessThan=NOW() + 300)["url"]
    assert get(env, d2["url"] + "/video/a.txt?" + other.split("?", 1)[1]).status == 403
    st, _ = admin(srv, "PATCH", "/cattube/admin/distributions/" + d2["id"],
                  {"originBucket": "elsewhere"})
    assert st == 400
    st, _ = admin(srv, "DELETE", "/cattube/admin/distributions/" + d2["id"])
    assert st == 204


def _signq_hits(env):
    r = get(env, env.srv.edge_http + "/metrics")
    assert r.status == 200, r
    for line in r.body.decode().splitlines():
        if line.startswith("cattube_edge_signed_query_cache_hits_total "):
            return int(line.split()[1])
    raise AssertionError("no signed-query cache metric")


def test_signed_query_cache_reevaluates_per_request(env):
    """A query once verified is decided from the signed-query cache, but the
    resource, the client address and the trust are judged on every request."""
    pol = custom_policy(env.base + "/video/*", NOW() + 300, ip="127.0.0.1/32")
    query = sign(env, policy=pol)["url"].split("?", 1)[1]
    a = env.base + "/video/a.txt?" + query
    assert get(env, a).status == 200  # verified and stored
    h0 = _signq_hits(env)
    r = get(env, env.base + "/video/b.txt?" + query)
    assert r.status == 200 and r.body == BODY_B
    r = get(env, env.base + "/other/c.txt?" + query)
    assert r.status == 403 and b"does not cover" in r.body
    r = get(env, a, "--interface", "127.0.0.2")  # another client address
    assert r.status == 403 and b"IP address" in r.body
    assert get(env, a).status == 200
    assert _signq_hits(env) >= h0 + 4  # all four were decided from the cache

    # a canned URL's query on another path is not covered, after a success too
    url = sign(env, url=env.base + "/video/a.txt", dateLessThan=NOW() + 300)["url"]
    assert get(env, url).status == 200
    assert get(env, url.replace("/video/a.txt", "/video/b.txt")).status == 403


def test_signed_cookie_cache(env):
    """Signed cookies are decided from the same cache as signed queries once
    verified, with the URL, time and client address judged per request; a
    tampered cookie is never allowed, an expired one is refused on time."""
    pol = custom_policy(env.base + "/video/*", NOW() + 300, ip="127.0.0.1/32")
    ck = sign(env, mode="cookies", policy=pol)["cookies"]
    assert get(env, env.base + "/video/a.txt", *cookie_args(ck)).status == 200  # stored
    h0 = _signq_hits(env)
    r = get(env, env.base + "/video/b.txt?quality=hd", *cookie_args(ck))
    assert r.status == 200 and r.body == BODY_B
    r = get(env, env.base + "/other/c.txt", *cookie_args(ck))
    assert r.status == 403 and b"does not cover" in r.body
    r = get(env, env.base + "/video/a.txt", "--interface", "127.0.0.2", *cookie_args(ck))
    assert r.status == 403 and b"IP address" in r.body
    assert _signq_hits(env) >= h0 + 3  # decided from the cache
    for name in ("CloudFront-Signature", "CloudFront-Policy", "CloudFront-Key-Pair-Id"):
        v = ck[name]
        bad = dict(ck, **{name: v[:-2] + ("AA" if v[-2:] != "AA" else "BB")})
        assert get(env, env.base + "/video/a.txt", *cookie_args(bad)).status == 403, name
        assert get(env, env.base + "/video/a.txt", *cookie_args(bad)).status == 403, name
    assert get(env, env.base + "/video/a.txt", *cookie_args(ck)).status == 200

    soon = NOW() + 3
    short = sign(env, mode="cookies", url=env.base + "/video/a.txt", dateLessThan=soon)["cookies"]
    assert get(env, env.base + "/video/a.txt", *cookie_args(short)).status == 200
    assert get(env, env.base + "/video/a.txt", *cookie_args(short)).status == 200  # cached
    assert get(env, env.base + "/video/b.txt", *cookie_args(short)).status == 403  # canned: one URL
    while NOW() < soon + 1:
        time.sleep(0.5)
    r = get(env, env.base + "/video/a.txt", *cookie_args(short))
    assert r.status == 403 and b"expired" in r.body


def test_signed_query_cache_expiry_and_trust(env):
    """A cached query expires on time, and stops working when the behaviour
    no longer trusts its key (a failure is never cached either)."""
    srv = env.srv
    st, grp = admin(srv, "POST", "/cattube/admin/key-groups",
                    {"name": "cachetrust", "items": [env.key_id]})
    assert st == 201, grp
    st, other = admin(srv, "POST", "/cattube/admin/key-groups",
                      {"name": "cacheother", "items": [env.foreign_id]})
    assert st == 201, other
    st, d = admin(srv, "POST", "/cattube/admin/distributions",
                  {"originBucket": BUCKET, "trustedKeyGroups": [grp["id"]]})
    assert st == 201, d
    try:
        soon = NOW() + 3
        short = sign(env, url=d["url"] + "/video/a.txt", dateLessThan=soon)["url"]
        pol = custom_policy(d["url"] + "/video/*", NOW() + 300)
        long = d["url"] + "/video/a.txt?" + sign(env, policy=pol)["url"].split("?", 1)[1]
        assert get(env, short).status == 200
        assert get(env, long).status == 200
        # the same query, tampered: never stored, never allowed
        bad = long.replace("Signature=", "Signature=A")
        assert get(env, bad).status == 403
        assert get(env, bad).status == 403
        while NOW() < soon + 1:
            time.sleep(0.5)
        r = get(env, short)
        assert r.status == 403 and b"expired" in r.body
        assert get(env, long).status == 200
        st, _ = admin(srv, "PATCH", "/cattube/admin/distributions/" + d["id"],
                      {"trustedKeyGroups": [other["id"]]})
        assert st == 200
        r = get(env, long)
        assert r.status == 403 and b"trusted key" in r.body
        st, _ = admin(srv, "PATCH", "/cattube/admin/distributions/" + d["id"],
                      {"trustedKeyGroups": [grp["id"]]})
        assert st == 200
        assert get(env, long).status == 200
    finally:
        admin(srv, "DELETE", "/cattube/admin/distributions/" + d["id"])
