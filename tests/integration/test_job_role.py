"""A job's Role is enforced (src/iam/iam_roles.c, src/worker/worker.c).

Roles are made with `cattube admin role ...`; jobs are driven with boto3.
Each check runs four ways: on SQLite and on PostgreSQL (a real server,
tests/pg/start_pg.sh), each with the server's own workers (local job I/O)
and with a `cattube worker --store` process (S3 job I/O, signed with the
root keys, which S3 always allows: only the role check confines the job).

  - MediaConvert_Default_Role is built in (full store access) and cannot be
    deleted;
  - CreateJob naming a role that does not exist, or no role ARN, is 400
    BadRequestException naming it;
  - a role allowing only a prefix: reading outside it is ERROR 1401,
    writing outside it ERROR 1432 (no output written), each message naming
    the action, the object and the role; inside it the job COMPLETEs and
    the output passes ffprobe;
  - bucket policies on the role's ARN: an Allow is enough for a role with
    no policies, a Deny wins over the role's Allow."""

import json
import os
import signal
import subprocess
import uuid

import pytest
from botocore.exceptions import ClientError

import media
from conftest import Server
from test_postgres import pg_url  # noqa: F401 (fixture)

SRC, DST = "role-src", "role-dst"
BP_SRC, BP_DST = "role-bp-src", "role-bp-dst"
LEASE = 3


def admin(srv, *args, check=True):
    p = srv.cattube("admin", *args, "--endpoint", srv.endpoint, check=check)
    return json.loads(p.stdout) if check and p.stdout.strip() else p


def make_role(srv, name, statements):
    arn = admin(srv, "role", "create", name)["role"]["arn"]
    if statements:
        doc = os.path.join(srv.base, f"{name}.json")
        with open(doc, "w") as f:
            json.dump({"Version": "2012-10-17", "Statement": statements}, f)
        admin(srv, "role", "attach-policy", name, "--policy-document", f"file://{doc}")
    return arn


def allow(action, *resources):
    return {"Effect": "Allow", "Action": action,
            "Resource": [f"arn:aws:s3:::{r}" for r in resources]}


@pytest.fixture(scope="module", params=["sqlite-local", "sqlite-remote", "postgres-local",
                                        "postgres-remote"])
def env(request, tmp_path_factory):
    engine, io = request.param.split("-")
    base = str(tmp_path_factory.mktemp(request.param))
    srv = Server(base)
    srv.extra_args = ["--lease-seconds", str(LEASE)]
    db = None
    if engine == "postgres":
        url = request.getfixturevalue("pg_url")
        name = "role_" + uuid.uuid4().hex[:8]
        subprocess.run(["psql", url, "-qc", f"CREATE DATABASE {name}"], check=True,
                       capture_output=True, timeout=60)
        db = url.rsplit("/", 1)[0] + "/" + name
        srv.extra_args += ["--db", db]
    if io == "remote":
        srv.extra_args += ["--workers", "0"]
    srv.start()
    worker = None
    try:
        if io == "remote":
            cmd = [srv.bin, "worker", "--lease-seconds", str(LEASE), "--store", srv.endpoint,
                   "--scratch", os.path.join(base, "scratch")]
            cmd += ["--db", db] if db else [srv.data_dir]
            env_vars = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "NO_PROXY": "*",
                        "AWS_ACCESS_KEY_ID": srv.access_key,
                        "AWS_SECRET_ACCESS_KEY": srv.secret_key, "AWS_REGION": srv.region}
            log = open(os.path.join(base, "worker.log"), "ab")
            worker = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                      env=env_vars, start_new_session=True)
        s3 = srv.client("s3")
        for b in (SRC, DST, BP_SRC, BP_DST):
            s3.create_bucket(Bucket=b)
        clip = media.make_clip(os.path.join(base, "clip.mov"), duration=1.0, size="160x120")
        for b, k in ((SRC, "in/clip.mov"), (SRC, "other/clip.mov"), (BP_SRC, "clip.mov")):
            s3.upload_file(clip, b, k)
        srv.io = io
        yield srv
    finally:
        if worker and worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(timeout=30)
        problems = srv.stop()
        assert not problems, problems


def settings(src, dst):
    return {"Inputs": [{"FileInput": f"s3://{src}",
                        "AudioSelectors": {"Audio Selector 1": {"DefaultSelection": "DEFAULT"}}}],
            "OutputGroups": [{"Name": "File Group", "OutputGroupSettings": {
                "Type": "FILE_GROUP_SETTINGS",
                "FileGroupSettings": {"Destination": f"s3://{dst}"}},
                "Outputs": [{"NameModifier": "-out", "ContainerSettings": {"Container": "MP4"},
                             "VideoDescription": {"CodecSettings": {
                                 "Codec": "H_264", "H264Settings": {
                                     "RateControlMode": "QVBR", "MaxBitrate": 500000}}},
                             "AudioDescriptions": [{"AudioSourceName": "Audio Selector 1",
                                                    "CodecSettings": {"Codec": "AAC",
                                                                      "AacSettings": {
                                                                          "Bitrate": 64000,
                                                                          "CodingMode": "CODING_MODE_2_0",
                                                                          "SampleRate": 48000}}}]}]}]}


def run_job(srv, role, src, dst):
    job = srv.client("mediaconvert").create_job(Role=role, Settings=settings(src, dst))["Job"]
    done, _ = srv.wait_job(job["Id"])
    return done


def keys(srv, bucket, prefix):
    out = srv.client("s3").list_objects_v2(Bucket=bucket, Prefix=prefix)
    return [o["Key"] for o in out.get("Contents", [])]


def check_output(srv, bucket, key, tmp_path):
    local = str(tmp_path / os.path.basename(key))
    srv.client("s3").download_file(bucket, key, local)
    info = media.probe(local)
    assert media.stream(info, "video")["codec_name"] == "h264", info
    assert media.stream(info, "audio")["codec_name"] == "aac", info


def create_error(srv, role):
    with pytest.raises(ClientError) as ei:
        srv.client("mediaconvert").create_job(Role=role, Settings=settings(f"{SRC}/in/clip.mov",
                                                                           f"{DST}/x/"))
    r = ei.value.response
    return r["ResponseMetadata"]["HTTPStatusCode"], r["Error"]["Code"], r["Error"]["Message"]


def test_default_role_is_built_in(env):
    roles = {r["roleName"]: r for r in admin(env, "role", "list")["roles"]}
    assert "MediaConvert_Default_Role" in roles, roles
    pol = admin(env, "role", "list-policies", "MediaConvert_Default_Role")["policies"]
    assert pol and pol[0]["policyDocument"]["Statement"][0]["Action"] == "s3:*", pol
    p = admin(env, "role", "delete", "MediaConvert_Default_Role", check=False)
    assert p.returncode == 1 and "cannot be deleted" in p.stderr, p.stderr
    name = f"Twice-{env.io}"
    admin(env, "role", "create", name)
    p = admin(env, "role", "create", name, check=False)
    assert p.returncode == 1 and "HTTP 409" in p.stderr, p.stderr
    p = admin(env, "role", "attach-policy", name, "--policy-document",
              '{"Statement": {"Effect": "Allow", "Action": "s3:GetObject"}}', check=False)
    assert p.returncode == 1 and "HTTP 400" in p.stderr and "Resource" in p.stderr, p.stderr
    p = admin(env, "role", "attach-policy", "NoSuchRole", "--policy-document",
              '{"Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}}',
              check=False)
    assert p.returncode == 1 and "HTTP 404" in p.stderr, p.stderr
    admin(env, "role", "delete", name)
    assert name not in {r["roleName"] for r in admin(env, "role", "list")["roles"]}
    # The seed's placeholder account names this account's role.
    done = run_job(env, "arn:aws:iam::account_id:role/MediaConvert_Default_Role",
                   f"{SRC}/in/clip.mov", f"{DST}/default/")
    assert done["Status"] == "COMPLETE", done


def test_unknown_role_is_400(env):
    status, code, msg = create_error(env, "arn:aws:iam::123456789012:role/NoSuchRole")
    assert (status, code) == (400, "BadRequestException"), (status, code, msg)
    assert "NoSuchRole" in msg and "does not exist" in msg, msg
    status, code, msg = create_error(env, "my-role")
    assert (status, code) == (400, "BadRequestException"), (status, code, msg)
    assert "my-role" in msg and "not an IAM role ARN" in msg, msg


def test_role_limited_to_a_prefix(env, tmp_path):
    name = f"Narrow-{env.io}"
    arn = make_role(env, name, [allow("s3:GetObject", f"{SRC}/in/*"),
                                allow("s3:PutObject", f"{DST}/ok/*")])
    bad_in = run_job(env, arn, f"{SRC}/other/clip.mov", f"{DST}/ok/")
    assert (bad_in["Status"], bad_in.get("ErrorCode")) == ("ERROR", 1401), bad_in
    m = bad_in["ErrorMessage"]
    assert f"s3://{SRC}/other/clip.mov" in m and "s3:GetObject" in m and f"role/{name}" in m, m

    bad_out = run_job(env, arn, f"{SRC}/in/clip.mov", f"{DST}/no/")
    assert (bad_out["Status"], bad_out.get("ErrorCode")) == ("ERROR", 1432), bad_out
    m = bad_out["ErrorMessage"]
    assert f"s3://{DST}/no/clip-out.mp4" in m and "s3:PutObject" in m and f"role/{name}" in m, m
    assert keys(env, DST, "no/") == []

    good = run_job(env, arn, f"{SRC}/in/clip.mov", f"{DST}/ok/")
    assert good["Status"] == "COMPLETE", good
    assert keys(env, DST, "ok/") == ["ok/clip-out.mp4"]
    check_output(env, DST, "ok/clip-out.mp4", tmp_path)


def test_bucket_policy_on_the_role_arn(env, tmp_path):
    name = f"Bare-{env.io}"
    arn = make_role(env, name, [])
    s3 = env.client("s3")
    s3.put_bucket_policy(Bucket=BP_SRC, Policy=json.dumps({"Statement": [
        {"Effect": "Allow", "Principal": {"AWS": arn}, "Action": "s3:GetObject",
         "Resource": f"arn:aws:s3:::{BP_SRC}/*"}]}))
    s3.put_bucket_policy(Bucket=BP_DST, Policy=json.dumps({"Statement": [
        {"Effect": "Allow", "Principal": {"AWS": arn}, "Action": "s3:PutObject",
         "Resource": f"arn:aws:s3:::{BP_DST}/*"},
        {"Effect": "Deny", "Principal": {"AWS": arn}, "Action": "s3:PutObject",
         "Resource": f"arn:aws:s3:::{BP_DST}/deny/*"}]}))
    ok = run_job(env, arn, f"{BP_SRC}/clip.mov", f"{BP_DST}/ok/")
    assert ok["Status"] == "COMPLETE", ok
    check_output(env, BP_DST, "ok/clip-out.mp4", tmp_path)
    denied = run_job(env, arn, f"{BP_SRC}/clip.mov", f"{BP_DST}/deny/")
    assert (denied["Status"], denied.get("ErrorCode")) == ("ERROR", 1432), denied
    assert "bucket policy" in denied["ErrorMessage"], denied["ErrorMessage"]
    # A Deny on the role ARN wins over the role's own Allow.
    wide = make_role(env, f"Wide-{env.io}", [allow("s3:*", "*")])
    s3.put_bucket_policy(Bucket=BP_SRC, Policy=json.dumps({"Statement": [
        {"Effect": "Deny", "Principal": {"AWS": wide}, "Action": "s3:GetObject",
         "Resource": f"arn:aws:s3:::{BP_SRC}/*"}]}))
    denied = run_job(env, wide, f"{BP_SRC}/clip.mov", f"{BP_DST}/ok2/")
    assert (denied["Status"], denied.get("ErrorCode")) == ("ERROR", 1401), denied
    assert keys(env, BP_DST, "ok2/") == []
