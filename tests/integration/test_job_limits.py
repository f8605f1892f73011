"""Operator caps on inputs (issue 4: "a probe-first check of dimensions,
duration and stream counts against configurable caps"): `serve
--max-input-size WxH --max-input-duration S --max-input-streams N` refuses
larger or longer inputs, or inputs with more streams,
with a MediaConvert-style error naming the input and the limit, before any
decoding, and keeps running jobs that fit (either orientation)."""

import subprocess

import pytest

import media
from conftest import Server

SRC, DST = "caps-src", "caps-dst"


def job_body(key):
    video = {"Width": 160, "Height": 90, "CodecSettings": {
        "Codec": "H_264", "H264Settings": {"RateControlMode": "QVBR", "MaxBitrate": 200000}}}
    out = {"NameModifier": "-c", "ContainerSettings": {"Container": "MP4", "Mp4Settings": {}},
           "VideoDescription": video}
    settings = {
        "Inputs": [{"FileInput": f"s3://{SRC}/{key}", "VideoSelector": {}}],
        "OutputGroups": [{"Name": "File Group", "Outputs": [out], "OutputGroupSettings": {
            "Type": "FILE_GROUP_SETTINGS",
            "FileGroupSettings": {"Destination": f"s3://{DST}/{key}/"}}}]}
    return {"Role": "arn:aws:iam::111122223333:role/MediaConvert_Default_Role",
            "Settings": settings}


@pytest.fixture(scope="module")
def capped(tmp_path_factory):
    srv = Server(str(tmp_path_factory.mktemp("caps")))
    srv.extra_args = ["--workers", "1", "--max-input-size", "320x240",
                      "--max-input-duration", "3", "--max-input-streams", "3"]
    srv.start()
    s3 = srv.client("s3")
    s3.create_bucket(Bucket=SRC)
    s3.create_bucket(Bucket=DST)
    d = tmp_path_factory.mktemp("clips")
    for name, kw in {"fits.mov": {"size": "320x240"}, "portrait.mov": {"size": "240x320"},
                     "wide.mov": {"size": "640x360"}, "long.mov": {"duration": 5.0,
                                                                   "size": "160x90"}}.items():
        path = str(d / name)
        media.make_clip(path, **{"duration": 1.0, **kw})
        s3.upload_file(path, SRC, name)
    # 1 video + 4 audio streams in one MKV: over the 3-stream cap
    many = str(d / "many.mkv")
    src = str(d / "fits.mov")
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", src, "-map", "0:v", "-map", "0:a",
                    "-map", "0:a", "-map", "0:a", "-map", "0:a", "-c", "copy", many],
                   check=True, timeout=60)
    s3.upload_file(many, SRC, "many.mkv")
    yield srv
    srv.stop()


def run(srv, key):
    jid = srv.client("mediaconvert").create_job(**job_body(key))["Job"]["Id"]
    job, _ = srv.wait_job(jid, timeout=120)
    return job


@pytest.mark.parametrize("key", ["fits.mov", "portrait.mov"])
def test_inputs_within_the_caps_complete(capped, key):
    job = run(capped, key)
    assert job["Status"] == "COMPLETE", job
    objs = capped.client("s3").list_objects_v2(Bucket=DST, Prefix=f"{key}/")["Contents"]
    assert len(objs) == 1


def test_too_large_input_is_refused(capped):
    job = run(capped, "wide.mov")
    assert job["Status"] == "ERROR", job
    msg = job.get("ErrorMessage", "")
    assert "640x360" in msg and "320x240" in msg and "wide.mov" in msg, msg
    assert job["ErrorCode"] == 1040
    assert "Contents" not in capped.client("s3").list_objects_v2(Bucket=DST,
                                                                 Prefix="wide.mov/")


def test_too_long_input_is_refused(capped):
    job = run(capped, "long.mov")
    assert job["Status"] == "ERROR", job
    msg = job.get("ErrorMessage", "")
    assert "exceeds the limit 3.0 s" in msg and "long.mov" in msg, msg


def test_too_many_streams_is_refused(capped):
    job = run(capped, "many.mkv")
    assert job["Status"] == "ERROR", job
    msg = job.get("ErrorMessage", "")
    assert job["ErrorCode"] == 1040 and "more than 3 streams" in msg and "many.mkv" in msg, job


@pytest.mark.parametrize("args,word", [
    (["--max-input-streams", "0"], "--max-input-streams"),
    (["--max-input-size", "320"], "--max-input-size"),
    (["--max-input-size", "0x240"], "--max-input-size"),
    (["--max-input-duration", "-1"], "--max-input-duration"),
    (["--job-memory-mb", "1"], "--job-memory-mb"),
    (["--job-wall-seconds", "x"], "--job-wall-seconds"),
])
def test_bad_limit_options(tmp_path, args, word):
    from conftest import cattube_bin
    for cmd in (["serve", "--data", str(tmp_path / "d")], ["worker", str(tmp_path / "d")]):
        p = subprocess.run([cattube_bin()] + cmd + args, capture_output=True, text=True,
                           timeout=30, stdin=subprocess.DEVNULL)
        assert p.returncode != 0 and word in p.stderr, (cmd, p.stderr)
