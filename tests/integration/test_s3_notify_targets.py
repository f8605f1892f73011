"""Queue and Topic configurations in PutBucketNotificationConfiguration:
a webhook declared through the admin API is named by arn:aws:sqs:… (Queue)
or arn:aws:sns:… (Topic) and receives the events; an ARN naming no declared
target is InvalidArgument "Unable to validate the following destination
configurations"; overlap is checked across Lambda, Queue and Topic; Get
returns the configuration as put. Driven by the aws CLI and boto3."""

import json
import time

import pytest
from botocore.exceptions import ClientError

from test_webhooks import Receiver, make_webhook

BUCKET = "notify-targets"


@pytest.fixture(scope="module")
def setup(server):
    recv = Receiver()
    server.client("s3").create_bucket(Bucket=BUCKET)
    hook = make_webhook(server, "media-queue", recv.url + "/ok")
    yield recv, hook
    recv.close()


def account(hook):
    return hook["arn"].split(":")[4]


def test_webhook_names_its_queue_and_topic_arns(server, setup):
    _, hook = setup
    acct = account(hook)
    assert hook["queueArn"] == f"arn:aws:sqs:{server.region}:{acct}:media-queue"
    assert hook["topicArn"] == f"arn:aws:sns:{server.region}:{acct}:media-queue"


def test_queue_and_topic_deliver_and_get_as_configured(server, setup, tmp_path):
    recv, hook = setup
    cfg = {
        "QueueConfigurations": [{
            "Id": "q-cfg", "QueueArn": hook["queueArn"], "Events": ["s3:ObjectCreated:*"],
            "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "q/"}]}}}],
        "TopicConfigurations": [{
            "Id": "t-cfg", "TopicArn": hook["topicArn"],
            "Events": ["s3:ObjectCreated:Put", "s3:ObjectRemoved:*"],
            "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "t/"},
                                               {"Name": "suffix", "Value": ".mp4"}]}}}],
        "LambdaFunctionConfigurations": [{
            "Id": "l-cfg", "LambdaFunctionArn": hook["arn"], "Events": ["s3:ObjectCreated:*"],
            "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "l/"}]}}}],
    }
    f = tmp_path / "n.json"
    f.write_text(json.dumps(cfg))
    server.aws("s3api", "put-bucket-notification-configuration", "--bucket", BUCKET,
               "--notification-configuration", f"file://{f}")
    got = server.aws("s3api", "get-bucket-notification-configuration", "--bucket", BUCKET)
    assert got["QueueConfigurations"] == cfg["QueueConfigurations"]
    assert got["LambdaFunctionConfigurations"] == cfg["LambdaFunctionConfigurations"]
    t = got["TopicConfigurations"][0]
    assert t["Id"] == "t-cfg" and t["TopicArn"] == hook["topicArn"]
    assert t["Events"] == ["s3:ObjectCreated:Put", "s3:ObjectRemoved:*"]
    assert {r["Name"]: r["Value"] for r in t["Filter"]["Key"]["FilterRules"]} == \
        {"prefix": "t/", "suffix": ".mp4"}

    s3 = server.client("s3")
    s3.put_object(Bucket=BUCKET, Key="q/one.mov", Body=b"q")
    s3.put_object(Bucket=BUCKET, Key="t/two.mp4", Body=b"tt")
    s3.put_object(Bucket=BUCKET, Key="t/skip.mov", Body=b"no")
    s3.put_object(Bucket=BUCKET, Key="l/three", Body=b"lll")
    s3.delete_object(Bucket=BUCKET, Key="t/two.mp4")

    def records(h):
        return json.loads(h["body"])["Records"]

    hits = recv.wait(lambda h: records(h)[0]["s3"]["bucket"]["name"] == BUCKET, count=4)
    time.sleep(0.5)
    got = sorted((r["s3"]["configurationId"], r["eventName"], r["s3"]["object"]["key"])
                 for h in recv.hits if records(h)[0]["s3"]["bucket"]["name"] == BUCKET
                 for r in records(h))
    assert len(hits) >= 4
    assert got == [("l-cfg", "ObjectCreated:Put", "l/three"),
                   ("q-cfg", "ObjectCreated:Put", "q/one.mov"),
                   ("t-cfg", "ObjectCreated:Put", "t/two.mp4"),
                   ("t-cfg", "ObjectRemoved:Delete", "t/two.mp4")]


def test_undeclared_targets_rejected(server, setup):
    _, hook = setup
    acct = account(hook)
    s3 = server.client("s3")
    bad = [
        {"QueueConfigurations": [{"QueueArn": f"arn:aws:sqs:{server.region}:{acct}:nobody",
                                  "Events": ["s3:ObjectCreated:*"]}]},
        {"TopicConfigurations": [{"TopicArn": f"arn:aws:sns:{server.region}:{acct}:nobody",
                                  "Events": ["s3:ObjectCreated:*"]}]},
        # an SNS ARN where a queue is expected, another account, a Lambda function
        {"QueueConfigurations": [{"QueueArn": hook["topicArn"],
                                  "Events": ["s3:ObjectCreated:*"]}]},
        {"QueueConfigurations": [{"QueueArn": f"arn:aws:sqs:{server.region}:999999999999:"
                                              "media-queue", "Events": ["s3:ObjectCreated:*"]}]},
        {"LambdaFunctionConfigurations": [{
            "LambdaFunctionArn": f"arn:aws:lambda:{server.region}:{acct}:function:f",
            "Events": ["s3:ObjectCreated:*"]}]},
        {"QueueConfigurations": [{"QueueArn": hook["arn"].replace("media-queue", "gone"),
                                  "Events": ["s3:ObjectCreated:*"]}]},
    ]
    for cfg in bad:
        with pytest.raises(ClientError) as e:
            s3.put_bucket_notification_configuration(Bucket=BUCKET,
                                                     NotificationConfiguration=cfg)
        err = e.value.response["Error"]
        assert err["Code"] == "InvalidArgument", cfg
        assert err["Message"] == "Unable to validate the following destination configurations"
    # the aws CLI shows the same error
    p = server.aws_fail("s3api", "put-bucket-notification-configuration", "--bucket", BUCKET,
                        "--notification-configuration", json.dumps(bad[0]))
    assert "InvalidArgument" in p.stderr and "Unable to validate" in p.stderr


def test_overlap_across_kinds(server, setup):
    _, hook = setup
    s3 = server.client("s3")
    before = s3.get_bucket_notification_configuration(Bucket=BUCKET)
    cfg = {"QueueConfigurations": [{"QueueArn": hook["queueArn"],
                                    "Events": ["s3:ObjectCreated:*"],
                                    "Filter": {"Key": {"FilterRules": [
                                        {"Name": "prefix", "Value": "a/"}]}}}],
           "TopicConfigurations": [{"TopicArn": hook["topicArn"],
                                    "Events": ["s3:ObjectCreated:Put"],
                                    "Filter": {"Key": {"FilterRules": [
                                        {"Name": "prefix", "Value": "a/b"}]}}}]}
    with pytest.raises(ClientError) as e:
        s3.put_bucket_notification_configuration(Bucket=BUCKET, NotificationConfiguration=cfg)
    assert e.value.response["Error"]["Code"] == "InvalidArgument"
    assert "overlap" in e.value.response["Error"]["Message"]
    # disjoint prefixes, or different event families, are fine
    cfg["TopicConfigurations"][0]["Filter"]["Key"]["FilterRules"][0]["Value"] = "b/"
    s3.put_bucket_notification_configuration(Bucket=BUCKET, NotificationConfiguration=cfg)
    cfg["TopicConfigurations"][0]["Filter"]["Key"]["FilterRules"][0]["Value"] = "a/"
    cfg["TopicConfigurations"][0]["Events"] = ["s3:ObjectRemoved:*"]
    s3.put_bucket_notification_configuration(Bucket=BUCKET, NotificationConfiguration=cfg)
    s3.put_bucket_notification_configuration(Bucket=BUCKET, NotificationConfiguration={})
    assert "QueueConfigurations" not in s3.get_bucket_notification_configuration(Bucket=BUCKET)
    assert before  # (the earlier test's configuration was replaced)
