"""Job retention (issue 5: "Jobs are kept until an operator's retention limit").

Jobs are made old by moving their finish (and creation) time back 100 days
in the server's SQLite database, as test set-up; the retention itself is the
real default (90 days), so nothing here depends on how fast the machine is.

  - serve's housekeeping (it runs at start, then periodically) deletes the
    expired CANCELED and ERROR jobs: GetJob answers 404 NotFoundException
    (aws CLI and boto3), ListJobs no longer lists them, and their
    ClientRequestToken is free again; a recently finished job and an old
    SUBMITTED job (in a paused queue) stay;
  - `cattube admin jobs purge --older-than-days 90 --data DIR` does the same
    by hand while serve runs and prints how many it deleted (0 the second
    time);
  - the periodic pass on its own: with the test-only --job-retention-seconds 2
    a canceled job disappears while a SUBMITTED one stays (waited for with a
    deadline, not timed);
  - PostgreSQL: two serve nodes on one database purge at the same time;
    every expired job is deleted once, the SUBMITTED one stays."""

import json
import os
import shutil
import sqlite3
import subprocess
import tempfile
import time

import pytest

from conftest import REPO, Server

HELD = "ret-held"            # a paused queue: its SUBMITTED jobs stay SUBMITTED
SRC = "ret-source"           # holds no objects: jobs reading from it fail (ERROR)
OLD_MS = 100 * 86400 * 1000  # how far back "old" jobs are moved
SEED_JOB = os.path.join(REPO, "examples", "seed", "job.json")
PG_DIR = os.path.join(REPO, "tests", "pg")


def job_body(queue="Default", key="missing.mov"):
    with open(SEED_JOB) as f:
        job = json.load(f)
    s = job["Settings"]
    s["Inputs"][0]["FileInput"] = f"s3://{SRC}/{key}"
    grp = s["OutputGroups"][0]
    grp["OutputGroupSettings"]["FileGroupSettings"]["Destination"] = f"s3://{SRC}/out/"
    return {"Role": job["Role"], "Settings": s, "Queue": queue}


def create(srv, queue=HELD, **kw):
    return srv.client("mediaconvert").create_job(**job_body(queue), **kw)["Job"]["Id"]


def create_canceled(srv, **kw):
    jid = create(srv, **kw)
    srv.client("mediaconvert").cancel_job(Id=jid)
    assert srv.get_job(jid)["Status"] == "CANCELED"
    return jid


def db(srv):
    c = sqlite3.connect(os.path.join(srv.data_dir, "meta.db"), timeout=30)
    c.isolation_level = None
    return c


def wait_events_dispatched(srv, timeout=60):
    """Until the server's dispatcher has taken every job event (a job whose
    events are not yet dispatched is never purged)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with db(srv) as c:
            if c.execute("SELECT count(*) FROM job_events WHERE done=0").fetchone()[0] == 0:
                return
        time.sleep(0.1)
    raise AssertionError("job events were not dispatched")


def make_old(srv, ids):
    c = db(srv)
    c.executemany("UPDATE jobs SET finish_ms=CASE WHEN finish_ms>0 THEN finish_ms-? ELSE 0 END,"
                  " created_ms=created_ms-? WHERE id=?", [(OLD_MS, OLD_MS, i) for i in ids])
    c.close()


def all_job_ids(srv):
    mc = srv.client("mediaconvert")
    ids, token = {}, None
    while True:
        kw = {"MaxResults": 20}
        if token:
            kw["NextToken"] = token
        r = mc.list_jobs(**kw)
        ids.update({j["Id"]: j["Status"] for j in r.get("Jobs", [])})
        token = r.get("NextToken")
        if not token:
            return ids


def gone(srv, jid):
    """GetJob answers 404 NotFoundException, through boto3 and the aws CLI."""
    mc = srv.client("mediaconvert")
    try:
        mc.get_job(Id=jid)
        return False
    except mc.exceptions.NotFoundException as e:
        assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    err = srv.aws_fail("mediaconvert", "get-job", "--id", jid)
    assert "NotFoundException" in err.stderr, err
    return True


def wait_gone(srv, jid, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if gone(srv, jid):
            return
        time.sleep(0.3)
    raise AssertionError(f"job {jid} was not deleted\n{srv.log_text()[-4000:]}")


def restart(srv):
    """Starts srv again (new ports: its cached clients go)."""
    srv._clients = {}
    srv.start()


def setup_server(srv):
    srv.client("s3").create_bucket(Bucket=SRC)
    srv.aws("mediaconvert", "create-queue", "--name", HELD)
    srv.aws("mediaconvert", "update-queue", "--name", HELD, "--status", "PAUSED")


@pytest.fixture(scope="module")
def rserver(tmp_path_factory):
    srv = Server(str(tmp_path_factory.mktemp("retention")))
    srv.extra_args = ["--workers", "1"]  # default retention: 90 days
    srv.start()
    setup_server(srv)
    yield srv
    problems = srv.stop()
    assert not problems, problems


def test_serve_deletes_expired_jobs_and_keeps_the_rest(rserver):
    srv = rserver
    old_canceled = create_canceled(srv)
    old_token = create_canceled(srv, ClientRequestToken="retention-token-1")
    old_error = create(srv, queue="Default")  # its input does not exist
    job, _ = srv.wait_job(old_error, timeout=120)
    assert job["Status"] == "ERROR", job
    old_held = create(srv)                    # SUBMITTED: never deleted
    recent = create_canceled(srv)             # finished now: kept
    wait_events_dispatched(srv)
    problems = srv.stop()
    assert not problems, problems
    make_old(srv, [old_canceled, old_token, old_error, old_held])
    restart(srv)  # the housekeeping pass runs at start

    for jid in (old_canceled, old_token, old_error):
        wait_gone(srv, jid)
    listed = all_job_ids(srv)
    assert not {old_canceled, old_token, old_error} & set(listed), listed
    assert listed.get(recent) == "CANCELED" and listed.get(old_held) == "SUBMITTED", listed
    assert srv.get_job(old_held)["Status"] == "SUBMITTED"
    assert "job retention: deleted 3 job(s)" in srv.log_text()
    # the token pointed to a deleted job: it makes a new one now
    again = create(srv, ClientRequestToken="retention-token-1")
    assert again != old_token


def test_admin_purge_by_hand(rserver):
    srv = rserver
    old = create_canceled(srv)
    recent = create_canceled(srv)
    wait_events_dispatched(srv)
    make_old(srv, [old])
    p = srv.cattube("admin", "jobs", "purge", "--older-than-days", "90", "--data", srv.data_dir)
    assert json.loads(p.stdout) == {"deleted": 1}, p.stdout
    assert gone(srv, old)
    assert srv.get_job(recent)["Status"] == "CANCELED"
    assert old not in all_job_ids(srv)
    p = srv.cattube("admin", "jobs", "purge", "--older-than-days", "90", "--data", srv.data_dir)
    assert json.loads(p.stdout) == {"deleted": 0}, p.stdout
    # bad input: a clear message, nothing created
    p = srv.cattube("admin", "jobs", "purge", "--older-than-days", "0", check=False)
    assert p.returncode == 2 and "--older-than-days N (1..100000)" in p.stderr, p.stderr
    nowhere = os.path.join(srv.base, "nowhere")
    p = srv.cattube("admin", "jobs", "purge", "--older-than-days", "9", "--data", nowhere,
                    check=False)
    assert p.returncode == 1 and "no database at" in p.stderr, p.stderr
    assert not os.path.exists(nowhere)


def test_serve_option_errors(tmp_path):
    srv = Server(str(tmp_path))
    for args in (["--job-retention-days", "-1"], ["--job-retention-days", "x"],
                 ["--job-retention-days", "1", "--job-retention-seconds", "5"]):
        p = subprocess.run([srv.bin, "serve", "--data", str(tmp_path / "d")] + args,
                           capture_output=True, text=True, timeout=30)
        assert p.returncode == 2 and "--job-retention-days N" in p.stderr, (args, p.stderr)


def test_periodic_pass_with_short_retention(tmp_path_factory):
    srv = Server(str(tmp_path_factory.mktemp("retention-short")))
    srv.extra_args = ["--workers", "0", "--job-retention-seconds", "2"]  # test-only option
    srv.start()
    try:
        setup_server(srv)
        canceled = create_canceled(srv)
        submitted = create(srv, queue="Default")  # no workers: stays SUBMITTED
        wait_gone(srv, canceled)
        assert all_job_ids(srv).get(submitted) == "SUBMITTED"
    finally:
        problems = srv.stop()
    assert not problems, problems


# ---------------------------------------------------------------- PostgreSQL

@pytest.fixture(scope="module")
def pg_url():
    d = tempfile.mkdtemp(prefix="cattube-pg-")  # not basetemp: `postgres` must enter it
    try:
        out = subprocess.run([os.path.join(PG_DIR, "start_pg.sh"), d], capture_output=True,
                             text=True, timeout=120,
                             env=dict(os.environ, CT_PG_OWNER_PID=str(os.getpid())))
        assert out.returncode == 0, f"start_pg.sh failed:\n{out.stderr}"
        base = out.stdout.strip().splitlines()[-1]
        subprocess.run(["psql", base + "/postgres", "-qc", "CREATE DATABASE cattube"],
                       check=True, capture_output=True, timeout=60)
        yield base + "/cattube"
    finally:
        subprocess.run([os.path.join(PG_DIR, "stop_pg.sh"), d], capture_output=True, timeout=120)
        shutil.rmtree(d, ignore_errors=True)


def psql(url, sql):
    out = subprocess.run(["psql", url, "-AtXqc", sql], capture_output=True, text=True,
                         timeout=60, check=True)
    return [line.split("|") for line in out.stdout.splitlines() if line]


def test_two_postgres_nodes_purge_together(pg_url, tmp_path_factory):
    base = str(tmp_path_factory.mktemp("retention-pg"))
    nodes = []
    try:
        for name in ("a", "b"):
            srv = Server(os.path.join(base, name))
            srv.data_dir = os.path.join(base, "shared")
            srv.extra_args = ["--workers", "0", "--db", pg_url]
            srv.start()
            nodes.append(srv)
        a, b = nodes
        setup_server(a)
        ids = [create_canceled(nodes[i % 2]) for i in range(24)]
        held = create(b)
        deadline = time.monotonic() + 60
        while psql(pg_url, "SELECT count(*) FROM job_events WHERE done=0") != [["0"]]:
            assert time.monotonic() < deadline, "job events were not dispatched"
            time.sleep(0.1)
        for srv in nodes:  # restart both: each purges at start, at the same time
            problems = srv.stop()
            assert not problems, problems
        psql(pg_url, f"UPDATE jobs SET finish_ms=finish_ms-{OLD_MS}, created_ms=created_ms-"
                     f"{OLD_MS}")
        for srv in nodes:
            srv.extra_args = ["--workers", "0", "--db", pg_url, "--job-retention-days", "30"]
        for srv in nodes:
            restart(srv)
        deadline = time.monotonic() + 60
        while psql(pg_url, "SELECT count(*) FROM jobs WHERE status='CANCELED'") != [["0"]]:
            assert time.monotonic() < deadline, "expired jobs were not deleted"
            time.sleep(0.2)
        assert gone(a, ids[0]) and gone(b, ids[1])
        assert all_job_ids(a) == {held: "SUBMITTED"}
        deleted = 0
        for srv in nodes:
            for line in srv.log_text().splitlines():
                if "job retention: deleted" in line:
                    deleted += int(line.split("deleted ")[1].split()[0])
        assert deleted == len(ids), deleted  # each job deleted once between the two
    finally:
        for srv in nodes:
            srv.stop()
