"""Stale multipart uploads are aborted and their parts removed (the server
runs with --stale-upload-seconds 2)."""

import os
import time

import pytest
from botocore.exceptions import ClientError

from conftest import Server


@pytest.fixture(scope="module")
def lserver(tmp_path_factory):
    base = str(tmp_path_factory.mktemp("lifecycle"))
    srv = Server(base)
    srv.extra_args = ["--stale-upload-seconds", "2"]
    srv.start()
    yield srv
    assert not srv.stop()


def blob_files(data_dir):
    n = 0
    for root, _dirs, files in os.walk(os.path.join(data_dir, "blobs")):
        n += len(files)
    return n


def test_stale_upload_is_aborted(lserver):
    s3 = lserver.client("s3")
    s3.create_bucket(Bucket="lifecycle")
    before = blob_files(lserver.data_dir)
    uid = s3.create_multipart_upload(Bucket="lifecycle", Key="stale")["UploadId"]
    s3.upload_part(Bucket="lifecycle", Key="stale", UploadId=uid, PartNumber=1, Body=b"x" * 1000)
    assert blob_files(lserver.data_dir) == before + 1
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            s3.list_parts(Bucket="lifecycle", Key="stale", UploadId=uid)
        except ClientError as e:
            assert e.response["Error"]["Code"] == "NoSuchUpload"
            break
        time.sleep(0.5)
    else:
        raise AssertionError("the stale upload was never aborted")
    assert blob_files(lserver.data_dir) == before
    assert "aborted stale multipart upload" in lserver.log_text()
