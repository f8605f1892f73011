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
    job = mc.create_job(JobTemplate=t["Arn"], Role="r", Settings={
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
