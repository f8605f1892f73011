"""Webhook secrets are sealed at rest (AES-256-GCM under the master key, like
IAM users' secrets): meta.db holds no secret bytes, no admin GET shows the
secret, deliveries still carry valid HMAC signatures, plaintext rows written
before sealing are sealed when the server starts, and a server with another
master key cannot sign (the delivery records why; the server keeps running).
"""
import glob
import os
import sqlite3
import urllib.parse

import pytest

from conftest import Server
from test_webhooks import Receiver, admin, make_webhook, notify_bucket, verify

BUCKET = "sealed-hooks"


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def srv(tmp_path):
    s = Server(str(tmp_path))
    s.start()
    s.client("s3").create_bucket(Bucket=BUCKET)
    yield s
    problems = s.stop()
    assert not problems, problems


def db_bytes(srv):
    """meta.db and its WAL/journal, as bytes: what a copy of the database holds."""
    out = b""
    for p in glob.glob(os.path.join(srv.data_dir, "meta.db*")):
        with open(p, "rb") as f:
            out += f.read()
    return out


def stored(srv, name):
    db = sqlite3.connect(f"file:{os.path.join(srv.data_dir, 'meta.db')}?mode=ro", uri=True)
    try:
        row = db.execute("SELECT secret FROM webhooks WHERE name=?", (name,)).fetchone()
    finally:
        db.close()
    return row[0]


def event_to(srv, receiver, hook, key):
    """Puts an object whose S3 event goes to hook; returns the delivered hits."""
    notify_bucket(srv, BUCKET, hook["arn"], key)
    srv.client("s3").put_object(Bucket=BUCKET, Key=key, Body=b"meow")
    path = urllib.parse.urlsplit(hook["url"]).path
    return receiver.wait(lambda h: h["path"] == path and f'"{key}"'.encode() in h["body"])


def test_secret_sealed_not_listed_and_signs(srv, receiver):
    given = "given-secret-0123456789-abcdefghij"
    hook = make_webhook(srv, "given", receiver.url + "/given", secret=given)
    made = make_webhook(srv, "made", receiver.url + "/made")
    assert hook["secret"] == given and made["secret"].startswith("whsec_")
    for name, secret in (("given", given), ("made", made["secret"])):
        assert stored(srv, name).startswith("ct1:") and secret not in stored(srv, name)
        assert secret.encode() not in db_bytes(srv)
        status, one = admin(srv, "GET", f"/cattube/admin/webhooks/{name}")
        assert status == 200 and "secret" not in one and secret not in str(one)
    status, lst = admin(srv, "GET", "/cattube/admin/webhooks")
    assert status == 200 and len(lst["webhooks"]) == 2
    assert all("secret" not in w for w in lst["webhooks"])
    assert given not in str(lst) and made["secret"] not in str(lst)

    hits = event_to(srv, receiver, hook, "given")
    assert hits and verify(hits[0], given)
    hits = event_to(srv, receiver, made, "made")
    assert hits and verify(hits[0], made["secret"])

    # The same data dir (DIR/master.key) keeps signing after a restart.
    srv.stop()
    srv.start()
    srv._clients.clear()
    hits = event_to(srv, receiver, hook, "again")
    assert hits and verify(hits[0], given)


def test_plaintext_row_sealed_on_start(srv, receiver):
    hook = make_webhook(srv, "old", receiver.url + "/old")
    srv.stop()
    # A row as written before sealing existed.
    db = sqlite3.connect(os.path.join(srv.data_dir, "meta.db"))
    with db:
        db.execute("UPDATE webhooks SET secret='plain-old-secret-42' WHERE name='old'")
    db.close()
    srv.start()
    srv._clients.clear()
    assert stored(srv, "old").startswith("ct1:")
    assert b"plain-old-secret-42" not in db_bytes(srv)
    hits = event_to(srv, receiver, hook, "old")
    assert hits and verify(hits[0], "plain-old-secret-42")


def test_other_master_key_cannot_sign(srv, receiver):
    hook = make_webhook(srv, "moved", receiver.url + "/moved")
    srv.stop()
    base_env = srv.server_env
    srv.server_env = lambda: {**base_env(), "CATTUBE_MASTER_KEY": "cd" * 32}
    srv.start()
    srv._clients.clear()
    notify_bucket(srv, BUCKET, hook["arn"], "moved")
    srv.client("s3").put_object(Bucket=BUCKET, Key="moved", Body=b"meow")
    want = "the webhook's secret does not open with this master key"
    delivery = None
    for _ in range(100):
        status, out = admin(srv, "GET", "/cattube/admin/deliveries?webhook=moved")
        assert status == 200
        delivery = out["deliveries"][0] if out["deliveries"] else None
        if delivery and delivery["lastError"]:
            break
        receiver.wait(lambda h: False, timeout=0.2)
    assert delivery and delivery["lastError"] == want, delivery
    assert not [h for h in receiver.hits if h["path"] == "/moved"]  # nothing unsigned went out
    assert "does not open with this master key" in srv.log_text()
    assert srv.client("s3").list_buckets()["ResponseMetadata"]["HTTPStatusCode"] == 200
