"""IAM for the MediaConvert API: each request is authorised for its own
action ("mediaconvert:GetQueue") on the resource its path names (the queue's,
job's, template's or preset's ARN), and CreateJob needs iam:PassRole on the
job's role, as in AWS. Clients: boto3 and the aws CLI with an IAM user's keys."""

import json

import pytest
from botocore.exceptions import ClientError


def make_user(server, name):
    p = server.cattube("admin", "user", "create", name, "--endpoint", server.endpoint)
    key = json.loads(p.stdout)["accessKey"]
    return key["accessKeyId"], key["secretAccessKey"]


def put_policy(server, user, statements, tmp_path):
    f = tmp_path / f"{user}.json"
    f.write_text(json.dumps({"Version": "2012-10-17", "Statement": statements}))
    server.cattube("admin", "user", "attach-policy", user, "--policy-document", f"file://{f}",
                   "--policy-name", "inline", "--endpoint", server.endpoint)


def denied(call, **kw):
    with pytest.raises(ClientError) as e:
        call(**kw)
    r = e.value.response
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 403, r
    return r["Error"].get("Message", "")


def account_of(server):
    arn = server.client("mediaconvert").get_queue(Name="Default")["Queue"]["Arn"]
    return arn.split(":")[4]


def job_request(role):
    settings = {
        "Inputs": [{"FileInput": "s3://mc-iam-src/in.mov", "VideoSelector": {}}],
        "OutputGroups": [{"Name": "File Group", "OutputGroupSettings": {
            "Type": "FILE_GROUP_SETTINGS",
            "FileGroupSettings": {"Destination": "s3://mc-iam-dst/out/"}},
            "Outputs": [{"NameModifier": "-t",
                         "ContainerSettings": {"Container": "MP4", "Mp4Settings": {}},
                         "VideoDescription": {"Width": 160, "Height": 90, "CodecSettings": {
                             "Codec": "H_264", "H264Settings": {
                                 "RateControlMode": "QVBR", "MaxBitrate": 200000}}}}]}]}
    return {"Role": role, "Settings": settings}


def test_per_action_and_resource(server, tmp_path):
    ak, sk = make_user(server, "mc-reader")
    mc = server.client("mediaconvert", access_key=ak, secret_key=sk)
    root = server.client("mediaconvert")
    root.create_queue(Name="IamOpen")
    root.create_queue(Name="IamClosed")
    acct = account_of(server)
    put_policy(server, "mc-reader", [
        {"Effect": "Allow", "Action": ["mediaconvert:List*", "mediaconvert:DescribeEndpoints"],
         "Resource": "*"},
        {"Effect": "Allow", "Action": "mediaconvert:GetQueue",
         "Resource": f"arn:aws:mediaconvert:*:{acct}:queues/IamOpen"},
        {"Effect": "Allow", "Action": "mediaconvert:UpdateQueue", "Resource": "*"},
        {"Effect": "Deny", "Action": "mediaconvert:UpdateQueue",
         "Resource": f"arn:aws:mediaconvert:*:{acct}:queues/IamClosed"}], tmp_path)
    names = [q["Name"] for q in mc.list_queues()["Queues"]]
    assert "IamOpen" in names and "IamClosed" in names
    assert mc.get_queue(Name="IamOpen")["Queue"]["Name"] == "IamOpen"
    denied(mc.get_queue, Name="IamClosed")
    msg = denied(mc.create_queue, Name="IamMine")
    assert "mediaconvert:CreateQueue" in msg and "mc-reader" in msg, msg
    denied(mc.delete_queue, Name="IamOpen")
    assert mc.update_queue(Name="IamOpen", Description="by reader")["Queue"]["Description"] \
        == "by reader"
    denied(mc.update_queue, Name="IamClosed", Description="by reader")  # explicit Deny wins
    assert root.get_queue(Name="IamClosed")["Queue"].get("Description", "") == ""
    assert "IamMine" not in [q["Name"] for q in root.list_queues()["Queues"]]
    # The aws CLI sees the same refusal, and is let through where allowed.
    err = server.aws_fail("mediaconvert", "create-queue", "--name", "IamCli",
                          access_key=ak, secret_key=sk)
    assert "AccessDenied" in err.stderr, err.stderr
    out = server.aws("mediaconvert", "get-queue", "--name", "IamOpen",
                     access_key=ak, secret_key=sk)
    assert out["Queue"]["Name"] == "IamOpen"


def test_create_job_needs_pass_role(server, tmp_path):
    ak, sk = make_user(server, "mc-submitter")
    mc = server.client("mediaconvert", access_key=ak, secret_key=sk)
    acct = account_of(server)
    role = f"arn:aws:iam::{acct}:role/MediaConvert_Default_Role"
    put_policy(server, "mc-submitter", [
        {"Effect": "Allow", "Action": "mediaconvert:*", "Resource": "*"}], tmp_path)
    before = len(server.client("mediaconvert").list_jobs(MaxResults=20)["Jobs"])
    msg = denied(mc.create_job, **job_request(role))
    assert "iam:PassRole" in msg and role in msg, msg
    assert len(server.client("mediaconvert").list_jobs(MaxResults=20)["Jobs"]) == before
    # PassRole on another role does not cover this one.
    put_policy(server, "mc-submitter", [
        {"Effect": "Allow", "Action": "mediaconvert:*", "Resource": "*"},
        {"Effect": "Allow", "Action": "iam:PassRole",
         "Resource": f"arn:aws:iam::{acct}:role/SomeOtherRole"}], tmp_path)
    assert "iam:PassRole" in denied(mc.create_job, **job_request(role))
    put_policy(server, "mc-submitter", [
        {"Effect": "Allow", "Action": "mediaconvert:*", "Resource": "*"},
        {"Effect": "Allow", "Action": "iam:PassRole", "Resource": role}], tmp_path)
    job = mc.create_job(**job_request(role))["Job"]
    assert job["Role"] == role and job["Status"] in ("SUBMITTED", "PROGRESSING", "ERROR")
    # The caller may read its job only with GetJob on the job's ARN.
    assert mc.get_job(Id=job["Id"])["Job"]["Id"] == job["Id"]
    put_policy(server, "mc-submitter", [
        {"Effect": "Allow", "Action": "mediaconvert:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "mediaconvert:GetJob", "Resource": job["Arn"]}], tmp_path)
    denied(mc.get_job, Id=job["Id"])


def test_root_needs_nothing(server):
    """The account's root keys pass every action, iam:PassRole included."""
    acct = account_of(server)
    job = server.client("mediaconvert").create_job(
        **job_request(f"arn:aws:iam::{acct}:role/MediaConvert_Default_Role"))["Job"]
    assert job["Id"]
