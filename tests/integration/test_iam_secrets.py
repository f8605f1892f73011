"""IAM users' secret keys are sealed at rest (AES-256-GCM under the master key).

A copy of meta.db alone must not give away credentials; the same data dir
keeps working across restarts (DIR/master.key), and a different master key
(CATTUBE_MASTER_KEY) cannot open them: the user's requests are refused, the
server keeps running.
"""
import json
import os
import sqlite3
import stat

import pytest
from botocore.exceptions import ClientError

from conftest import Server


@pytest.fixture
def srv(tmp_path):
    s = Server(str(tmp_path))
    s.start()
    yield s
    problems = s.stop()
    assert not problems, problems


def stored_secret(srv, access_key):
    db = sqlite3.connect(f"file:{os.path.join(srv.data_dir, 'meta.db')}?mode=ro", uri=True)
    try:
        row = db.execute("SELECT secret FROM iam_keys WHERE access_key=?", (access_key,)).fetchone()
    finally:
        db.close()
    return row[0]


def test_secret_sealed_and_survives_restart(srv):
    out = json.loads(srv.cattube("admin", "user", "create", "sealed-user",
                                 "--endpoint", srv.endpoint).stdout)
    ak, sk = out["accessKey"]["accessKeyId"], out["accessKey"]["secretAccessKey"]
    stored = stored_secret(srv, ak)
    assert stored.startswith("ct1:") and sk not in stored
    key_path = os.path.join(srv.data_dir, "master.key")
    assert stat.S_IMODE(os.stat(key_path).st_mode) == 0o600

    srv.client("s3").create_bucket(Bucket="sealed")
    user = srv.client("s3", access_key=ak, secret_key=sk)
    with pytest.raises(ClientError) as e:  # authenticated, but no policy
        user.list_objects_v2(Bucket="sealed")
    assert e.value.response["Error"]["Code"] == "AccessDenied"

    srv.stop()
    srv.start()
    srv._clients.clear()
    user = srv.client("s3", access_key=ak, secret_key=sk)
    with pytest.raises(ClientError) as e:
        user.list_objects_v2(Bucket="sealed")
    assert e.value.response["Error"]["Code"] == "AccessDenied"  # still known, still signed


def test_other_master_key_cannot_open(srv):
    out = json.loads(srv.cattube("admin", "user", "create", "moved-user",
                                 "--endpoint", srv.endpoint).stdout)
    ak, sk = out["accessKey"]["accessKeyId"], out["accessKey"]["secretAccessKey"]
    srv.stop()
    base_env = srv.server_env
    srv.server_env = lambda: {**base_env(), "CATTUBE_MASTER_KEY": "ab" * 32}
    srv.start()
    srv._clients.clear()
    user = srv.client("s3", access_key=ak, secret_key=sk)
    with pytest.raises(ClientError) as e:
        user.list_buckets()
    assert e.value.response["Error"]["Code"] in ("InvalidAccessKeyId", "AccessDenied")
    assert srv.client("s3").list_buckets()["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert "does not open with this master key" in srv.log_text()


def test_bad_master_key_refused_at_start(tmp_path):
    s = Server(str(tmp_path))
    base_env = s.server_env
    s.server_env = lambda: {**base_env(), "CATTUBE_MASTER_KEY": "not-hex"}
    with pytest.raises(RuntimeError) as e:
        s.start()
    assert "CATTUBE_MASTER_KEY" in str(e.value)
    s.stop()
