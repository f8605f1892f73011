"""The MediaConvert API's shapes and errors, through the real aws CLI and boto3.

No transcoding is needed here: jobs that must stay put go to a PAUSED queue;
jobs in Default may be picked up by the worker and fail (their inputs do not
exist), which these tests tolerate."""

import json
import os

import botocore.exceptions
import pytest

from conftest import REPO

SHARED_SEED_JOB = os.path.join(os.path.dirname(REPO), "shared", "seed", "job.json")
EXAMPLE_SEED_JOB = os.path.join(REPO, "examples", "seed", "job.json")
PAUSED = "mc-paused"
# CreateJob needs an existing role: the built-in one (any account part names this account).
ROLE = "arn:aws:iam::000000000000:role/MediaConvert_Default_Role"


def seed_path():
    for p in (SHARED_SEED_JOB, EXAMPLE_SEED_JOB):
        if os.path.isfile(p):
            return p
    pytest.skip("seed job.json not found")


def seed_job():
    with open(seed_path()) as f:
        return json.load(f)


def client_error(fn, **kw):
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        fn(**kw)
    r = ei.value.response
    return r["ResponseMetadata"]["HTTPStatusCode"], r["Error"]["Code"], r["Error"]["Message"]


@pytest.fixture(scope="module")
def mc(server):
    return server.client("mediaconvert")


@pytest.fixture(scope="module")
def paused(server, mc):
    try:
        mc.create_queue(Name=PAUSED, Status="PAUSED", Description="held jobs")
    except botocore.exceptions.ClientError as e:
        assert e.response["Error"]["Code"] == "ConflictException"
    return PAUSED


def test_describe_endpoints(server):
    r = server.aws("mediaconvert", "describe-endpoints")
    assert r["Endpoints"] and r["Endpoints"][0]["Url"].startswith("http"), r


def test_seed_job_unchanged(server):
    """The seed file as-is: PascalCase, placeholder queue ARN and role."""
    job = server.aws("mediaconvert", "create-job", "--cli-input-json",
                     "file://" + seed_path())["Job"]
    assert job["Queue"].endswith(":queues/Default"), job["Queue"]
    assert job["Arn"].endswith(":jobs/" + job["Id"]), job
    assert len(job["Id"]) == 20 and job["Id"][13] == "-", job["Id"]
    assert job["Status"] in ("SUBMITTED", "PROGRESSING", "ERROR"), job["Status"]
    assert job["Role"] == "arn:aws:iam::account_id:role/MediaConvert_Default_Role"
    s = job["Settings"]
    assert s["Inputs"][0]["FileInput"] == "s3://source_bucket/object.mp4"
    assert s["Inputs"][0]["AudioSelectors"]["Audio Selector 1"]["DefaultSelection"] == "DEFAULT"
    outs = s["OutputGroups"][0]["Outputs"]
    assert outs[0]["VideoDescription"]["CodecSettings"]["H265Settings"]["MaxBitrate"] == 5000000
    assert outs[1]["VideoDescription"]["Width"] == 256
    assert job["AccelerationSettings"]["Mode"] == "DISABLED"
    assert job["StatusUpdateInterval"] == "SECONDS_60"
    assert "SubmitTime" in job["Timing"] and job["CreatedAt"][:2] == "20", job["CreatedAt"]
    got = server.aws("mediaconvert", "get-job", "--id", job["Id"])["Job"]
    assert got["Id"] == job["Id"] and got["Settings"]["Inputs"] == s["Inputs"]
    b = server.client("mediaconvert").get_job(Id=job["Id"])["Job"]
    assert b["CreatedAt"].year >= 2024 and b["Timing"]["SubmitTime"] == b["CreatedAt"]


def test_queues(server, mc, paused):
    q = mc.get_queue(Name=paused)["Queue"]
    assert q["Status"] == "PAUSED" and q["Type"] == "CUSTOM" and q["PricingPlan"] == "ON_DEMAND"
    assert q["Description"] == "held jobs"
    names = [x["Name"] for x in server.aws("mediaconvert", "list-queues")["Queues"]]
    assert "Default" in names and paused in names
    status, code, _ = client_error(mc.get_queue, Name="no-such-queue")
    assert (status, code) == (404, "NotFoundException")
    status, code, _ = client_error(mc.delete_queue, Name="Default")
    assert (status, code) == (400, "BadRequestException")
    mc.create_queue(Name="mc-temp")
    u = mc.update_queue(Name="mc-temp", Status="PAUSED")["Queue"]
    assert u["Status"] == "PAUSED"
    mc.delete_queue(Name="mc-temp")
    status, code, _ = client_error(mc.get_queue, Name="mc-temp")
    assert status == 404


def test_job_lifecycle_in_paused_queue(server, mc, paused):
    job = seed_job()
    job["Queue"] = paused
    job["UserMetadata"] = {"Owner": "tests", "café": "ü"}
    job["Settings"]["Inputs"][0]["FileInput"] = "s3://source_bucket/dir/cat vidéo+1 ü.mov"
    kw = {k: v for k, v in job.items() if k != "Priority"}
    created = mc.create_job(Priority=5, ClientRequestToken="tok-lifecycle", **kw)["Job"]
    again = mc.create_job(Priority=5, ClientRequestToken="tok-lifecycle", **kw)["Job"]
    assert again["Id"] == created["Id"]
    assert created["Status"] == "SUBMITTED" and created["Priority"] == 5
    assert created["UserMetadata"] == {"Owner": "tests", "café": "ü"}
    assert created["Settings"]["Inputs"][0]["FileInput"] == \
        "s3://source_bucket/dir/cat vidéo+1 ü.mov"
    q = mc.get_queue(Name=paused)["Queue"]
    assert q["SubmittedJobsCount"] >= 1
    status, code, msg = client_error(mc.delete_queue, Name=paused)
    assert (status, code) == (409, "ConflictException"), msg
    listed = mc.list_jobs(Queue=paused, Status="SUBMITTED", MaxResults=20)["Jobs"]
    assert created["Id"] in [j["Id"] for j in listed]
    server.aws("mediaconvert", "cancel-job", "--id", created["Id"])
    got = mc.get_job(Id=created["Id"])["Job"]
    assert got["Status"] == "CANCELED" and "FinishTime" in got["Timing"], got
    status, code, _ = client_error(mc.cancel_job, Id=created["Id"])
    assert (status, code) == (409, "ConflictException")
    status, code, _ = client_error(mc.get_job, Id="0000000000000-nojob")
    assert (status, code) == (404, "NotFoundException")


def test_list_jobs_paging(server, mc, paused):
    kw = {k: v for k, v in seed_job().items() if k in ("Role", "Settings")}
    ids = [mc.create_job(Queue=paused, **kw)["Job"]["Id"] for _ in range(3)]
    page = mc.list_jobs(Queue=paused, MaxResults=2, Order="DESCENDING")
    assert len(page["Jobs"]) == 2 and page.get("NextToken")
    assert page["Jobs"][0]["Id"] == ids[-1]
    rest = mc.list_jobs(Queue=paused, MaxResults=20, Order="DESCENDING",
                        NextToken=page["NextToken"])["Jobs"]
    seen = [j["Id"] for j in page["Jobs"] + rest]
    assert all(i in seen for i in ids) and len(seen) == len(set(seen))
    for i in ids:
        mc.cancel_job(Id=i)


def test_bad_settings_name_the_path(server, mc, tmp_path):
    job = seed_job()
    vd = job["Settings"]["OutputGroups"][0]["Outputs"][1]["VideoDescription"]
    vd["Widht"] = 640
    p = tmp_path / "bad.json"
    p.write_text(json.dumps(job))
    # botocore refuses unknown members client-side (the server's "unknown field"
    # check is covered by the unit tests); enums are the server's business.
    err = server.aws_fail("mediaconvert", "create-job", "--cli-input-json", f"file://{p}")
    assert "Widht" in err.stderr or "widht" in err.stderr, err.stderr
    del vd["Widht"]
    vd["CodecSettings"]["Codec"] = "MPEG2"
    p.write_text(json.dumps(job))
    err = server.aws_fail("mediaconvert", "create-job", "--cli-input-json", f"file://{p}")
    assert "BadRequestException" in err.stderr, err.stderr
    assert ("settings.outputGroups[0].outputs[1].videoDescription.codecSettings.codec: "
            "unsupported value \"MPEG2\" (supported: H_264, H_265, AV1, VP9, VP8, FRAME_CAPTURE)") in err.stderr
    del job["Settings"]["Inputs"][0]["FileInput"]
    status, code, msg = client_error(mc.create_job, Role="r", Settings=job["Settings"])
    assert (status, code) == (400, "BadRequestException")
    assert msg == "settings.inputs[0].fileInput: required", msg


def test_templates_and_presets(server, mc, paused, tmp_path):
    seed = seed_job()
    hd = seed["Settings"]["OutputGroups"][0]["Outputs"][0]
    preset = mc.create_preset(Name="mc-hd", Category="web", Settings={
        "ContainerSettings": hd["ContainerSettings"], "VideoDescription": hd["VideoDescription"],
        "AudioDescriptions": [{"CodecSettings": {"Codec": "AAC"}}]})["Preset"]
    assert preset["Arn"].endswith(":presets/mc-hd") and preset["Type"] == "CUSTOM"
    settings = json.loads(json.dumps(seed["Settings"]))
    for inp in settings["Inputs"]:
        inp.pop("FileInput")
    settings["OutputGroups"][0]["Outputs"][0] = {"Preset": "mc-hd", "NameModifier": "-hd"}
    (tmp_path / "settings.json").write_text(json.dumps(settings))
    t = server.aws("mediaconvert", "create-job-template", "--name", "mc-tmpl", "--queue", paused,
                   "--priority", "4", "--settings", f"file://{tmp_path / 'settings.json'}")
    t = t["JobTemplate"]
    assert t["Arn"].endswith(":jobTemplates/mc-tmpl") and t["Queue"].endswith(":queues/" + PAUSED)
    assert t["Settings"]["OutputGroups"][0]["Outputs"][0]["Preset"] == "mc-hd"
    names = [x["Name"] for x in mc.list_job_templates()["JobTemplates"]]
    assert "mc-tmpl" in names
    job = mc.create_job(JobTemplate=t["Arn"], Role=ROLE, Settings={
        "Inputs": [{"FileInput": "s3://source_bucket/in.mov"}]})["Job"]
    assert job["Queue"].endswith(":queues/" + PAUSED) and job["Priority"] == 4
    out0 = job["Settings"]["OutputGroups"][0]["Outputs"][0]
    assert out0["VideoDescription"]["CodecSettings"]["Codec"] == "H_265", out0
    assert job["Settings"]["Inputs"][0]["AudioSelectors"]["Audio Selector 1"]
    assert job["JobTemplate"] == t["Arn"]
    mc.cancel_job(Id=job["Id"])
    u = mc.update_job_template(Name="mc-tmpl", Description="v2")["JobTemplate"]
    assert u["Description"] == "v2" and u["Priority"] == 4
    status, code, _ = client_error(mc.create_job, JobTemplate="mc-nope", Role="r",
                                   Settings={"Inputs": [{"FileInput": "s3://b/k.mp4"}]})
    assert (status, code) == (404, "NotFoundException")
    mc.delete_job_template(Name="mc-tmpl")
    mc.delete_preset(Name="mc-hd")
    status, _, _ = client_error(mc.get_preset, Name="mc-hd")
    assert status == 404


def test_cli_every_operation(server, tmp_path):
    """Every MediaConvert operation of issue 5 that Debian's aws CLI (2.9.19)
    has, with the parameters the issue names. (SearchJobs and Probe are not in
    that CLI; test_mc_js covers them with the JavaScript SDK.)"""
    aws = server.aws
    seed = seed_job()

    def fail(*args):
        return server.aws_fail("mediaconvert", *args).stderr

    def write(name, obj):
        p = tmp_path / name
        p.write_text(json.dumps(obj))
        return f"file://{p}"

    # ---- queues ----
    q = aws("mediaconvert", "create-queue", "--name", "cli-q", "--status", "PAUSED",
            "--description", "cli held")["Queue"]
    assert (q["Name"], q["Status"], q["Description"]) == ("cli-q", "PAUSED", "cli held")
    assert "ConflictException" in fail("create-queue", "--name", "cli-q")
    assert aws("mediaconvert", "get-queue", "--name", "cli-q")["Queue"]["Arn"] == q["Arn"]
    page = aws("mediaconvert", "list-queues", "--max-results", "1", "--no-paginate",
               "--list-by", "NAME", "--order", "ASCENDING")
    assert len(page["Queues"]) == 1 and page["NextToken"], page
    names = [x["Name"] for x in aws("mediaconvert", "list-queues", "--page-size", "1",
                                    "--list-by", "NAME")["Queues"]]
    assert names == sorted(names) and {"Default", "cli-q"} <= set(names), names
    assert aws("mediaconvert", "update-queue", "--name", "cli-q", "--status", "ACTIVE")[
        "Queue"]["Status"] == "ACTIVE"
    assert aws("mediaconvert", "update-queue", "--name", "cli-q", "--status", "PAUSED",
               "--description", "again")["Queue"]["Description"] == "again"
    assert "NotFoundException" in fail("get-queue", "--name", "cli-no-such-queue")

    # ---- presets ----
    hd = seed["Settings"]["OutputGroups"][0]["Outputs"][0]
    p = aws("mediaconvert", "create-preset", "--name", "cli-preset", "--category", "cli-cat",
            "--settings", write("preset.json", {
                "ContainerSettings": hd["ContainerSettings"],
                "VideoDescription": hd["VideoDescription"],
                "AudioDescriptions": [{"CodecSettings": hd["AudioDescriptions"][0][
                    "CodecSettings"]}]}))["Preset"]
    assert p["Arn"].endswith(":presets/cli-preset") and p["Category"] == "cli-cat"
    assert aws("mediaconvert", "get-preset", "--name", "cli-preset")["Preset"]["Name"] == \
        "cli-preset"
    assert [x["Name"] for x in aws("mediaconvert", "list-presets", "--category",
                                   "cli-cat")["Presets"]] == ["cli-preset"]
    assert aws("mediaconvert", "update-preset", "--name", "cli-preset", "--description",
               "v2")["Preset"]["Description"] == "v2"

    # ---- job templates ----
    ts = json.loads(json.dumps(seed["Settings"]))
    del ts["Inputs"][0]["FileInput"]
    ts["OutputGroups"][0]["Outputs"][0] = {"Preset": "cli-preset", "NameModifier": "-hd"}
    t = aws("mediaconvert", "create-job-template", "--name", "cli-tmpl", "--category",
            "cli-cat", "--queue", q["Arn"], "--priority", "3", "--status-update-interval",
            "SECONDS_10", "--settings", write("tmpl.json", ts))["JobTemplate"]
    assert (t["Priority"], t["StatusUpdateInterval"], t["Category"]) == (3, "SECONDS_10",
                                                                        "cli-cat")
    assert t["Queue"] == q["Arn"]
    assert aws("mediaconvert", "get-job-template", "--name", "cli-tmpl")["JobTemplate"][
        "Arn"] == t["Arn"]
    listed = aws("mediaconvert", "list-job-templates", "--category", "cli-cat", "--list-by",
                 "NAME", "--order", "ASCENDING")["JobTemplates"]
    assert [x["Name"] for x in listed] == ["cli-tmpl"]
    assert aws("mediaconvert", "update-job-template", "--name", "cli-tmpl", "--priority",
               "6")["JobTemplate"]["Priority"] == 6

    # ---- jobs ----
    over = write("over.json", {
        "Inputs": [{"FileInput": "s3://cli-src/in put.mov"}],
        "OutputGroups": [{"OutputGroupSettings": {"Type": "FILE_GROUP_SETTINGS",
                                                  "FileGroupSettings": {
                                                      "Destination": "s3://cli-dst/o/"}}}]})
    args = ("mediaconvert", "create-job", "--job-template", "cli-tmpl", "--role",
            ROLE, "--settings", over, "--user-metadata",
            "owner=cli,n=1", "--client-request-token", "cli-token-1")
    j = aws(*args)["Job"]
    assert aws(*args)["Job"]["Id"] == j["Id"]  # same token: same job
    assert j["Status"] == "SUBMITTED" and j["Queue"] == q["Arn"] and j["Priority"] == 6
    assert j["StatusUpdateInterval"] == "SECONDS_10" and j["JobTemplate"] == "cli-tmpl"
    assert j["UserMetadata"] == {"owner": "cli", "n": "1"}
    assert j["Role"] == ROLE
    g = j["Settings"]["OutputGroups"][0]
    assert g["OutputGroupSettings"]["FileGroupSettings"]["Destination"] == "s3://cli-dst/o/"
    assert g["Outputs"][0]["VideoDescription"]["CodecSettings"]["Codec"] == "H_265"
    assert j["Settings"]["Inputs"][0]["FileInput"] == "s3://cli-src/in put.mov"
    j2 = aws("mediaconvert", "create-job", "--queue", q["Arn"], "--role", ROLE, "--priority",
             "-50", "--status-update-interval", "SECONDS_15", "--settings",
             write("s.json", seed["Settings"]))["Job"]
    assert (j2["Priority"], j2["StatusUpdateInterval"], j2["Queue"]) == (-50, "SECONDS_15",
                                                                          q["Arn"])
    err = fail("create-job", "--queue", "cli-q", "--role", "r", "--priority", "51",
               "--settings", write("s.json", seed["Settings"]))
    assert "BadRequestException" in err and "priority" in err, err
    assert aws("mediaconvert", "get-job", "--id", j["Id"])["Job"]["Id"] == j["Id"]
    first = aws("mediaconvert", "list-jobs", "--queue", "cli-q", "--status", "SUBMITTED",
                "--order", "ASCENDING", "--max-results", "1", "--no-paginate")
    assert [x["Id"] for x in first["Jobs"]] == [j["Id"]] and first["NextToken"], first
    rest = aws("mediaconvert", "list-jobs", "--queue", "cli-q", "--status", "SUBMITTED",
               "--order", "ASCENDING", "--max-results", "20", "--no-paginate",
               "--next-token", first["NextToken"])
    assert [x["Id"] for x in rest["Jobs"]] == [j2["Id"]] and "NextToken" not in rest
    every = aws("mediaconvert", "list-jobs", "--queue", q["Arn"], "--order", "DESCENDING",
                "--page-size", "1")["Jobs"]
    assert [x["Id"] for x in every] == [j2["Id"], j["Id"]]
    assert "BadRequestException" in fail("list-jobs", "--max-results", "21", "--no-paginate")
    assert "ConflictException" in fail("delete-queue", "--name", "cli-q")
    for x in (j, j2):
        aws("mediaconvert", "cancel-job", "--id", x["Id"])
    assert aws("mediaconvert", "get-job", "--id", j["Id"])["Job"]["Status"] == "CANCELED"
    assert "ConflictException" in fail("cancel-job", "--id", j["Id"])

    # ---- deletes ----
    aws("mediaconvert", "delete-queue", "--name", "cli-q")
    aws("mediaconvert", "delete-job-template", "--name", "cli-tmpl")
    aws("mediaconvert", "delete-preset", "--name", "cli-preset")
    for cmd in ("get-queue", "get-job-template", "get-preset"):
        name = {"get-queue": "cli-q", "get-job-template": "cli-tmpl",
                "get-preset": "cli-preset"}[cmd]
        assert "NotFoundException" in fail(cmd, "--name", name)
