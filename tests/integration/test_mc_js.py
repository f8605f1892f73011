"""@aws-sdk/client-mediaconvert (npm, AWS SDK for JavaScript v3) drives every
MediaConvert operation of issue 5 against the real server: queues CRUD with
PAUSED/ACTIVE and DeleteQueue's Conflict, presets and job templates CRUD with
categories, CreateJob (201, clientRequestToken, template + overriding
settings, priority, userMetadata, statusUpdateInterval, queue by name and by
ARN, role), GetJob, ListJobs (queue, status, order, maxResults, nextToken),
SearchJobs, CancelJob, DescribeEndpoints and Probe.

tests/integration/js_mc/mc_ops.mjs runs the calls and prints each result (or
error) as JSON; every check is made here. `npm install` runs once when
js_mc/node_modules is missing (package-lock.json pins the version); skipped
when node/npm are missing or the registry cannot be reached."""

import json
import os
import subprocess

import pytest

import media

from conftest import node_with_modules

HERE = os.path.dirname(os.path.abspath(__file__))
JS_DIR = os.path.join(HERE, "js_mc")
SEED_JOB = os.path.join(os.path.dirname(os.path.dirname(HERE)), "examples", "seed", "job.json")
P = "js"
PROBE_BUCKET = "js-probe"


@pytest.fixture(scope="module")
def node():
    return node_with_modules(JS_DIR, ("@aws-sdk/client-mediaconvert",))


@pytest.fixture(scope="module")
def r(server, node, tmp_path_factory):
    """Runs mc_ops.mjs once; the results of every step."""
    s3 = server.client("s3")
    s3.create_bucket(Bucket=PROBE_BUCKET)
    clip = media.make_clip(str(tmp_path_factory.mktemp("probe") / "clip.mov"), duration=1.0)
    s3.upload_file(clip, PROBE_BUCKET, "dir/clip 1.mov")
    s3.put_object(Bucket=PROBE_BUCKET, Key="junk.mp4", Body=b"JUNK" + bytes(range(256)) * 64)
    user = json.loads(server.cattube("admin", "user", "create", "js-prober", "--endpoint",
                                     server.endpoint).stdout)["accessKey"]
    policy = tmp_path_factory.mktemp("policy") / "prober.json"
    policy.write_text(json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "mediaconvert:*", "Resource": "*"},
        {"Effect": "Allow", "Action": "s3:GetObject",
         "Resource": f"arn:aws:s3:::{PROBE_BUCKET}/dir/*"}]}))
    server.cattube("admin", "user", "attach-policy", "js-prober", "--policy-document",
                   f"file://{policy}", "--policy-name", "probe", "--endpoint", server.endpoint)
    env = dict(os.environ)
    env.update({
        "CATTUBE_USER_AK": user["accessKeyId"], "CATTUBE_USER_SK": user["secretAccessKey"],
        "CATTUBE_ENDPOINT": server.endpoint, "AWS_ACCESS_KEY_ID": server.access_key,
        "AWS_SECRET_ACCESS_KEY": server.secret_key, "AWS_REGION": server.region,
        "CATTUBE_SEED_JOB": SEED_JOB, "CATTUBE_PREFIX": P,
        "CATTUBE_PROBE_URL": f"s3://{PROBE_BUCKET}/dir/clip 1.mov",
        "CATTUBE_PROBE_JUNK_URL": f"s3://{PROBE_BUCKET}/junk.mp4",
    })
    for v in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL",
              "AWS_ENDPOINT_URL_MEDIACONVERT"):
        env.pop(v, None)
    p = subprocess.run([node, "mc_ops.mjs"], cwd=JS_DIR, env=env, capture_output=True,
                       text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert p.returncode == 0, (f"node mc_ops.mjs -> exit {p.returncode}\nstdout: "
                               f"{p.stdout[-3000:]}\nstderr: {p.stderr[-6000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def ok(r, step):
    assert step in r, f"step {step} did not run"
    res = r[step]
    assert res["ok"], f"{step} failed: {res.get('err')}"
    return res["out"]


def err(r, step, status, name):
    assert step in r, f"step {step} did not run"
    res = r[step]
    assert not res["ok"], f"{step} unexpectedly succeeded: {json.dumps(res['out'])[:2000]}"
    e = res["err"]
    assert (e["status"], e["name"]) == (status, name), e
    return e["message"]


def test_sdk(r):
    print("@aws-sdk/client-mediaconvert", r["sdkVersion"]["out"])
    assert r["sdkHasSearchJobs"]["out"] and r["sdkHasProbe"]["out"]


def test_describe_endpoints(r, server):
    out = ok(r, "describeEndpoints")
    assert out["status"] == 200 and out["Endpoints"][0]["Url"].startswith("http"), out


def test_queues(r):
    q = ok(r, "createQueuePaused")
    assert q["status"] == 201
    q = q["Queue"]
    assert (q["Name"], q["Status"], q["Type"], q["Description"]) == \
        (f"{P}-paused", "PAUSED", "CUSTOM", "held")
    assert q["Arn"].endswith(f":queues/{P}-paused") and q["PricingPlan"] == "ON_DEMAND"
    assert q["SubmittedJobsCount"] == 0 and q["ProgressingJobsCount"] == 0
    assert q["CreatedAt"][:2] == "20" and q["LastUpdated"][:2] == "20", q
    assert ok(r, "createQueue2")["Queue"]["Status"] == "ACTIVE"
    assert "already exists" in err(r, "createQueueDup", 409, "ConflictException")
    assert ok(r, "getQueue")["Queue"]["Name"] == f"{P}-paused"
    err(r, "getQueueMissing", 404, "NotFoundException")
    p1 = ok(r, "listQueuesPage1")
    assert len(p1["Queues"]) == 1 and p1["NextToken"], p1
    p2 = ok(r, "listQueuesPage2")
    names = [x["Name"] for x in p1["Queues"] + p2["Queues"]]
    assert names == sorted(names) and {"Default", f"{P}-paused", f"{P}-q2"} <= set(names)
    assert "NextToken" not in p2
    by_date = [x["Name"] for x in ok(r, "listQueuesByDate")["Queues"]]
    assert by_date[-1] == "Default", by_date
    u = ok(r, "updateQueuePause")["Queue"]
    assert (u["Status"], u["Description"]) == ("PAUSED", "d2")
    assert ok(r, "updateQueueResume")["Queue"]["Status"] == "ACTIVE"
    err(r, "updateQueueBadStatus", 400, "BadRequestException")
    # per-queue concurrency
    q = ok(r, "createQueueLimited")["Queue"]
    assert q["ConcurrentJobs"] == 2 and q["PricingPlan"] == "ON_DEMAND", q
    assert ok(r, "updateQueueLimit")["Queue"]["ConcurrentJobs"] == 1
    msg = err(r, "updateQueueLimitBad", 400, "BadRequestException")
    assert msg.startswith("concurrentJobs: must be between 1 and"), msg
    assert ok(r, "getQueueLimited")["Queue"]["ConcurrentJobs"] == 1
    plan = ok(r, "createQueueReserved")["Queue"]["ReservationPlan"]
    assert (plan["ReservedSlots"], plan["RenewalType"], plan["Status"]) == \
        (3, "AUTO_RENEW", "ACTIVE"), plan
    assert "RESERVED" in err(r, "updateQueueReservedBad", 400, "BadRequestException")
    assert ok(r, "deleteQueueLimited")["status"] == 202
    assert ok(r, "deleteQueueReserved")["status"] == 202
    msg = err(r, "deleteQueueConflict", 409, "ConflictException")
    assert "SUBMITTED or PROGRESSING" in msg
    assert ok(r, "deleteQueue")["status"] == 202
    ok(r, "deleteQueue2")
    err(r, "getQueueDeleted", 404, "NotFoundException")


def test_presets(r):
    p = ok(r, "createPreset")
    assert p["status"] == 201
    p = p["Preset"]
    assert p["Name"] == f"{P}-preset" and p["Category"] == f"{P}-cat" and p["Type"] == "CUSTOM"
    assert p["Settings"]["VideoDescription"]["CodecSettings"]["Codec"] == "H_265"
    assert ok(r, "getPreset")["Preset"]["Description"] == "hd"
    assert [x["Name"] for x in ok(r, "listPresetsCategory")["Presets"]] == [f"{P}-preset"]
    assert ok(r, "listPresetsOtherCategory")["Presets"] == []
    u = ok(r, "updatePreset")["Preset"]
    assert (u["Description"], u["Category"]) == ("hd v2", f"{P}-cat2")
    ok(r, "deletePreset")
    err(r, "getPresetDeleted", 404, "NotFoundException")
    err(r, "deletePresetMissing", 404, "NotFoundException")


def test_job_templates(r):
    t = ok(r, "createJobTemplate")
    assert t["status"] == 201
    t = t["JobTemplate"]
    assert (t["Name"], t["Category"], t["Priority"], t["StatusUpdateInterval"]) == \
        (f"{P}-tmpl", f"{P}-cat", 7, "SECONDS_10")
    assert t["Queue"].endswith(f":queues/{P}-paused") and t["Type"] == "CUSTOM"
    assert t["Settings"]["OutputGroups"][0]["Outputs"][0]["Preset"] == f"{P}-preset"
    assert ok(r, "getJobTemplate")["JobTemplate"]["Arn"] == t["Arn"]
    assert [x["Name"] for x in ok(r, "listJobTemplatesCategory")["JobTemplates"]] == [f"{P}-tmpl"]
    u = ok(r, "updateJobTemplate")["JobTemplate"]
    assert (u["Description"], u["Priority"], u["Category"]) == ("t2", 8, f"{P}-cat")
    ok(r, "deleteJobTemplate")
    err(r, "getJobTemplateDeleted", 404, "NotFoundException")


def test_create_job(r):
    c = ok(r, "createJob")
    assert c["status"] == 201
    j = c["Job"]
    assert j["Status"] == "SUBMITTED" and j["Priority"] == 50
    assert j["Queue"].endswith(f":queues/{P}-paused") and j["Arn"].endswith(":jobs/" + j["Id"])
    assert j["UserMetadata"] == {"owner": "js", "café": "ü"}
    assert j["StatusUpdateInterval"] == "SECONDS_12"
    assert j["Role"] == "arn:aws:iam::account_id:role/MediaConvert_Default_Role"
    assert j["Settings"]["Inputs"][0]["FileInput"] == f"s3://{P}-src/a.mov"
    assert j["Timing"]["SubmitTime"][:2] == "20" and j["CreatedAt"][:2] == "20"
    assert j["RetryCount"] == 0 and j["AccelerationSettings"]["Mode"] == "DISABLED"
    rep = ok(r, "createJobRepeat")
    assert rep["Job"]["Id"] == j["Id"] and rep["status"] == 201
    arn = ok(r, "createJobQueueArn")["Job"]
    assert arn["Queue"] == j["Queue"] and arn["Priority"] == -50
    assert "priority" in err(r, "createJobPriorityTooHigh", 400, "BadRequestException").lower()
    assert "not found" in err(r, "createJobMissingTemplate", 404, "NotFoundException")
    assert "queue" in err(r, "createJobMissingQueue", 404, "NotFoundException")


def test_create_job_from_template(r):
    t = ok(r, "createJobFromTemplate")["Job"]
    assert t["JobTemplate"].endswith(f":jobTemplates/{P}-tmpl")
    # UpdateJobTemplate set the template's priority to 8 before this job
    assert t["Queue"].endswith(f":queues/{P}-paused") and t["Priority"] == 8
    assert t["StatusUpdateInterval"] == "SECONDS_10" and t["UserMetadata"] == {"t": "1"}
    g = t["Settings"]["OutputGroups"][0]
    # the job's destination overrides the template's; the preset is resolved
    assert g["OutputGroupSettings"]["FileGroupSettings"]["Destination"] == f"s3://{P}-dst/over/"
    assert g["Outputs"][0]["VideoDescription"]["CodecSettings"]["Codec"] == "H_265"
    assert g["Outputs"][0]["NameModifier"] == "-hd" and g["Outputs"][1]["NameModifier"] == "-sd"
    assert t["Settings"]["Inputs"][0]["FileInput"] == f"s3://{P}-src/tmpl.mov"
    assert t["Settings"]["Inputs"][0]["AudioSelectors"]["Audio Selector 1"]
    o = ok(r, "createJobTemplatePriorityOverride")["Job"]
    assert o["Priority"] == -3 and o["Queue"].endswith(f":queues/{P}-q2")
    assert o["StatusUpdateInterval"] == "SECONDS_15"


def test_get_and_cancel_job(r):
    j = ok(r, "getJob")["Job"]
    assert j["Id"] == ok(r, "createJob")["Job"]["Id"] and j["Status"] == "SUBMITTED"
    err(r, "getJobMissing", 404, "NotFoundException")
    assert ok(r, "cancelJob")["status"] == 202
    c = ok(r, "getJobCanceled")["Job"]
    assert c["Status"] == "CANCELED" and "FinishTime" in c["Timing"], c
    err(r, "cancelJobAgain", 409, "ConflictException")
    err(r, "cancelJobMissing", 404, "NotFoundException")


def test_list_jobs(r):
    ids = [ok(r, f"createJobPage{i}")["Job"]["Id"] for i in range(3)]
    p1 = ok(r, "listJobsPage1")
    assert len(p1["Jobs"]) == 1 and p1["NextToken"]
    p2 = ok(r, "listJobsPage2")
    seen = [j["Id"] for j in p1["Jobs"] + p2["Jobs"]]
    assert len(seen) == len(set(seen)) and set(ids) <= set(seen)
    assert all(j["Status"] == "SUBMITTED" for j in p1["Jobs"] + p2["Jobs"])
    created = [j["CreatedAt"] for j in p1["Jobs"] + p2["Jobs"]]
    assert created == sorted(created)
    desc = [j["Id"] for j in ok(r, "listJobsDesc")["Jobs"]]
    assert desc[:3] == ids[::-1], (desc, ids)
    assert "maxResults" in err(r, "listJobsMax21", 400, "BadRequestException")
    assert "status" in err(r, "listJobsBadStatus", 400, "BadRequestException")
    assert "nextToken" in err(r, "listJobsBadToken", 400, "BadRequestException")


def test_search_jobs(r):
    page1 = ok(r, "createJobPage1")["Job"]["Id"]
    s = ok(r, "searchInputFile")["Jobs"]
    assert [j["Id"] for j in s] == [page1]
    part = [j["Settings"]["Inputs"][0]["FileInput"] for j in ok(r, "searchInputFilePartial")["Jobs"]]
    assert sorted(part) == [f"s3://{P}-src/page{i}.mov" for i in range(3)], part
    qs = ok(r, "searchQueueStatus")["Jobs"]
    assert len(qs) >= 6 and all(j["Status"] == "SUBMITTED" for j in qs)
    assert all(j["Queue"].endswith(f":queues/{P}-paused") for j in qs)
    created = [j["CreatedAt"] for j in qs]
    assert created == sorted(created)
    s1 = ok(r, "searchPage1")
    assert len(s1["Jobs"]) == 2 and s1["NextToken"]
    s2 = ok(r, "searchPage2")
    ids = [j["Id"] for j in s1["Jobs"] + s2["Jobs"]]
    assert len(ids) == len(set(ids)) and len(ids) >= 6
    assert "maxResults" in err(r, "searchBadMax", 400, "BadRequestException")
    canceled = ok(r, "searchCanceled")["Jobs"]
    assert canceled and all(j["Status"] == "CANCELED" for j in canceled)


def test_probe(r, server):
    out = ok(r, "probe")
    assert out["status"] == 200
    res = out["ProbeResults"]
    assert len(res) == 1, res
    c = res[0]["Container"]
    # media.make_clip: a 1 s QuickTime file, H.264 320x240 at 24 fps, mono 44.1 kHz AAC
    assert c["Format"] == "quicktime" and abs(c["Duration"] - 1.0) < 0.1, c
    assert c["BitRate"] > 0
    tracks = {t["TrackType"]: t for t in c["Tracks"]}
    assert sorted(t["Index"] for t in c["Tracks"]) == [1, 2]
    v = tracks["video"]
    assert v["Codec"] == "AVC" and abs(v["Duration"] - 1.0) < 0.1, v
    vp = v["VideoProperties"]
    assert (vp["Width"], vp["Height"], vp["BitDepth"]) == (320, 240, 8), vp
    assert vp["FrameRate"] == {"Numerator": 24, "Denominator": 1}, vp
    a = tracks["audio"]
    assert a["Codec"] == "AAC"
    ap = a["AudioProperties"]
    assert (ap["SampleRate"], ap["Channels"]) == (44100, 1), ap
    m = res[0]["Metadata"]
    head = server.client("s3").head_object(Bucket=PROBE_BUCKET, Key="dir/clip 1.mov")
    assert m["FileSize"] == head["ContentLength"] and '"' + m["ETag"] + '"' == head["ETag"], m
    assert m["MimeType"] and m["LastModified"][:2] == "20", m
    assert res[0]["TrackMappings"] == [{"VideoTrackIndexes": [v["Index"]],
                                        "AudioTrackIndexes": [a["Index"]],
                                        "DataTrackIndexes": []}], res[0]["TrackMappings"]
    assert len(ok(r, "probeTwo")["ProbeResults"]) == 2


def test_probe_errors_name_the_file(r, server):
    msg = err(r, "probeMissing", 404, "NotFoundException")
    assert "s3://js-nobucket/x.mov" in msg and "NoSuchBucket" in msg, msg
    msg = err(r, "probeNoKey", 404, "NotFoundException")
    assert "none.mov" in msg and "NoSuchKey" in msg, msg
    msg = err(r, "probeJunk", 400, "BadRequestException")
    assert f"s3://{PROBE_BUCKET}/junk.mp4" in msg and "unrecognised format" in msg, msg
    msg = err(r, "probeHttp", 400, "BadRequestException")
    assert "s3://bucket/key" in msg, msg
    assert server.health() == 200


def test_probe_checks_the_callers_s3_permission(r):
    """Probe reads the object for its caller: an IAM user needs s3:GetObject on it."""
    assert ok(r, "probeUserAllowed")["ProbeResults"][0]["Container"]["Format"] == "quicktime"
    msg = err(r, "probeUserDenied", 403, "ForbiddenException")
    assert "junk.mp4" in msg and "s3:GetObject" in msg, msg


def test_real_jobs_read_back(r, server, tmp_path):
    """A job that ran (COMPLETE) and one with a junk input (ERROR), as the SDK sees them."""
    j = ok(r, "getJobComplete")["Job"]
    assert j["Status"] == "COMPLETE", j
    t = j["Timing"]
    assert t["SubmitTime"] <= t["StartTime"] <= t["FinishTime"], t
    assert j["UserMetadata"] == {"real": "1"} and j["RetryCount"] == 0
    d = j["OutputGroupDetails"][0]["OutputDetails"][0]
    assert d["DurationInMs"] > 900 and d["VideoDetails"] == {"WidthInPx": 64, "HeightInPx": 48}, d
    key = "out/clip 1-tiny.mp4"
    path = tmp_path / "tiny.mp4"
    server.client("s3").download_file(PROBE_BUCKET, key, str(path))
    p = media.probe(str(path))
    v = [s for s in p["streams"] if s["codec_type"] == "video"][0]
    assert (v["codec_name"], v["width"], v["height"]) == ("h264", 64, 48)
    assert [s["codec_name"] for s in p["streams"] if s["codec_type"] == "audio"] == ["aac"]
    assert [x["Id"] for x in ok(r, "searchComplete")["Jobs"]] == [j["Id"]]
    e = ok(r, "getJobError")["Job"]
    assert e["Status"] == "ERROR" and e["ErrorCode"] == 1010, e
    assert f"s3://{PROBE_BUCKET}/junk.mp4" in e["ErrorMessage"], e
