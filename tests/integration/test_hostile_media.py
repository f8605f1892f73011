"""Hostile inputs through the whole job path (issue 4): each job ends in
ERROR with a MediaConvert-style code and a message naming the reason, no
connection is opened (a loopback listener named in the playlists must see
none), nothing of /etc/passwd reaches an output, and a normal job submitted
alongside still COMPLETEs on the same running server.

The files are made with ffmpeg and then patched by hand (header fields)."""

import os
import select
import socket
import struct
import subprocess
import time
import uuid

import pytest

import media

ROLE = "arn:aws:iam::111122223333:role/MediaConvert_Default_Role"


def settings(src, key, dst, name):
    out = {"NameModifier": "-h", "ContainerSettings": {"Container": "MP4"},
           "VideoDescription": {"Width": 160, "Height": 90, "CodecSettings": {
               "Codec": "H_264", "H264Settings": {"RateControlMode": "QVBR",
                                                  "MaxBitrate": 300000}}}}
    return {"Inputs": [{"FileInput": f"s3://{src}/{key}", "VideoSelector": {}}],
            "OutputGroups": [{"Name": "File Group", "OutputGroupSettings": {
                "Type": "FILE_GROUP_SETTINGS",
                "FileGroupSettings": {"Destination": f"s3://{dst}/{name}/"}},
                "Outputs": [out]}]}


class Listener:
    """A TCP listener on loopback that must never be connected to."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]

    def connections(self):
        n = 0
        self.sock.setblocking(False)
        while select.select([self.sock], [], [], 0)[0]:
            try:
                c, _ = self.sock.accept()
                c.close()
                n += 1
            except BlockingIOError:
                break
        return n


# ---- hostile files ----

def hls_loopback(path, port):
    with open(path, "w") as f:
        f.write("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n"
                f"#EXTINF:2.0,\nhttp://127.0.0.1:{port}/seg0.ts\n"
                f"#EXTINF:2.0,\nhttp://127.0.0.1:{port}/seg1.ts\n#EXT-X-ENDLIST\n")


def hls_passwd(path, port):
    with open(path, "w") as f:
        f.write("#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:0\n#EXTINF:10.0,\n"
                "concat:http://127.0.0.1:%d/header.y4m|file:///etc/passwd\n"
                "#EXTINF:10.0,\nfile:///etc/passwd\n#EXT-X-ENDLIST\n" % port)


def ffconcat(path, port):
    with open(path, "w") as f:
        f.write(f"ffconcat version 1.0\nfile 'http://127.0.0.1:{port}/a.mp4'\n"
                "file '/etc/passwd'\n")


def _riff_chunk(fourcc, data):
    return fourcc + struct.pack("<I", len(data)) + data + (b"\0" if len(data) % 2 else b"")


def avi_embedded_playlist(path, port, with_video=False):
    """CVE-2017-9993 style: an AVI whose subtitle stream carries a GAB2
    packet holding an HLS playlist (the AVI demuxer probes such packets as
    a nested file), plus a playlist-looking JUNK chunk. Built by hand around
    an ffmpeg-made MJPEG AVI's video."""
    playlist = ("#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:0\n#EXTINF:1.0,\n"
                f"http://127.0.0.1:{port}/x.ts\n#EXTINF:1.0,\nfile:///etc/passwd\n"
                "#EXT-X-ENDLIST\n").encode()
    gab2 = (b"GAB2\0" + struct.pack("<H", 2) + struct.pack("<I", 0) + struct.pack("<H", 4) +
            struct.pack("<I", len(playlist)) + playlist)
    w = h = 64
    avih = struct.pack("<IIIIIIIIII", 40000, 0, 0, 0x10, 1, 0, 2, 0, w, h) + b"\0" * 16
    strh_v = (b"vids" + b"MJPG" + struct.pack("<IHHIIIIIIIIhhhh", 0, 0, 0, 0, 1, 25, 0, 1,
                                              0, 0xFFFFFFFF, 0, 0, 0, w, h))
    strf_v = struct.pack("<IiiHH4sIiiII", 40, w, h, 1, 24, b"MJPG", w * h * 3, 0, 0, 0, 0)
    strh_s = (b"txts" + b"\0\0\0\0" + struct.pack("<IHHIIIIIIIIhhhh", 0, 0, 0, 0, 1, 25, 0,
                                                  1, 0, 0xFFFFFFFF, 0, 0, 0, 0, 0))
    video_strl = _riff_chunk(b"LIST", b"strl" + _riff_chunk(b"strh", strh_v) +
                             _riff_chunk(b"strf", strf_v))
    sub_strl = _riff_chunk(b"LIST", b"strl" + _riff_chunk(b"strh", strh_s) +
                           _riff_chunk(b"strf", b""))
    hdrl = _riff_chunk(b"LIST", b"hdrl" + _riff_chunk(b"avih", avih) +
                       (video_strl + sub_strl if with_video else sub_strl))
    jpg = path + ".jpg"
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    f"testsrc2=size={w}x{h}:rate=25", "-frames:v", "1", "-c:v", "mjpeg",
                    "-f", "image2", jpg], check=True, timeout=60)
    with open(jpg, "rb") as f:
        frame = f.read()
    os.unlink(jpg)
    movi = _riff_chunk(b"LIST", b"movi" + (
        _riff_chunk(b"01tx", gab2) + _riff_chunk(b"00dc", frame) if with_video
        else _riff_chunk(b"00tx", gab2)) + _riff_chunk(b"JUNK", playlist))
    body = b"AVI " + hdrl + movi
    with open(path, "wb") as f:
        f.write(b"RIFF" + struct.pack("<I", len(body)) + body)


def huge_dimensions(path, port):
    """An ffmpeg-made MJPEG AVI whose headers and every frame's SOF claim
    65535x65535."""
    tmp = path + ".src.avi"
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    "testsrc2=size=64x64:rate=10:duration=1", "-c:v", "mjpeg", tmp],
                   check=True, timeout=60)
    data = bytearray(open(tmp, "rb").read())
    os.unlink(tmp)
    i = data.index(b"avih") + 8
    struct.pack_into("<II", data, i + 32, 65535, 65535)
    i = data.index(b"strf") + 8
    struct.pack_into("<ii", data, i + 4, 65535, 65535)
    n, at = 0, 0
    while True:
        at = data.find(b"\xff\xc0\x00\x11\x08", at)
        if at < 0:
            break
        struct.pack_into(">HH", data, at + 5, 65535, 65535)
        n, at = n + 1, at + 9
    assert n >= 5, n
    with open(path, "wb") as f:
        f.write(data)


def claims_100_hours(path, port):
    """A 1 s MKV whose Segment Info Duration says 100 hours."""
    tmp = path + ".src.mkv"
    media.make_clip(tmp, duration=1.0, size="160x90", container="matroska")
    data = bytearray(open(tmp, "rb").read())
    os.unlink(tmp)
    at = data.index(b"\x44\x89\x88")  # Duration, 8-byte float, in TimestampScale (1 ms)
    struct.pack_into(">d", data, at + 3, 100 * 3600 * 1000.0)
    with open(path, "wb") as f:
        f.write(data)


def claims_100_hours_mp4(path, port):
    """A 1 s MP4 whose mvhd, tkhd and mdhd durations say 100 hours (or the
    most a 32-bit field holds at the track's timescale: 93 h at 12800)."""
    tmp = path + ".src.mp4"
    media.make_clip(tmp, duration=1.0, size="160x90", audio=False, container="mp4")
    data = bytearray(open(tmp, "rb").read())
    os.unlink(tmp)
    for box, off_ts, off_dur in ((b"mvhd", 12, 16), (b"mdhd", 12, 16)):
        at = 0
        while (at := data.find(box, at)) >= 0:
            assert data[at + 4] == 0  # version 0: 32-bit fields
            ts = struct.unpack_from(">I", data, at + 4 + off_ts)[0]
            struct.pack_into(">I", data, at + 4 + off_dur, min(ts * 360000, 0xFFFFFFF0))
            at += 4
    at = data.find(b"tkhd")
    struct.pack_into(">I", data, at + 4 + 20, 0xFFFFFFF0)
    with open(path, "wb") as f:
        f.write(data)


HOSTILE = [
    # name, maker, key, accepted error codes, words the message must contain
    ("hls-loopback", hls_loopback, "movie.mp4", (1010,), ("hls",)),
    ("hls-passwd", hls_passwd, "clip.mov", (1010,), ("hls",)),
    ("ffconcat", ffconcat, "list.mp4", (1010,), ("concat",)),
    ("avi-playlist", avi_embedded_playlist, "cve.avi", (1010, 1020, 1030, 1075), ()),
    ("65535x65535", huge_dimensions, "huge.avi", (1010, 1040, 1075), ()),
    ("100-hours-mkv", claims_100_hours, "long.mkv", (1010, 1040, 1075, 1076), ()),
    ("100-hours-mp4", claims_100_hours_mp4, "long.mp4", (1010, 1040, 1075, 1076), ()),
]


@pytest.fixture(scope="module")
def env(server, tmp_path_factory):
    s3 = server.client("s3")
    src, dst = "hm-src-" + uuid.uuid4().hex[:6], "hm-dst-" + uuid.uuid4().hex[:6]
    s3.create_bucket(Bucket=src)
    s3.create_bucket(Bucket=dst)
    d = tmp_path_factory.mktemp("hostile")
    lis = Listener()
    mc = server.client("mediaconvert")
    jobs = {}
    for name, make, key, _, _ in HOSTILE:
        p = str(d / (name + "-" + key))
        make(p, lis.port)
        s3.upload_file(p, src, name + "/" + key)
        jobs[name] = mc.create_job(Role=ROLE, Settings=settings(
            src, name + "/" + key, dst, name))["Job"]["Id"]
    # the same embedded playlist inside an AVI that also has a real frame:
    # a valid one-frame video, and the playlist is never opened
    p = str(d / "cve-video.avi")
    avi_embedded_playlist(p, lis.port, with_video=True)
    s3.upload_file(p, src, "cve-video/cve.avi")
    jobs["cve-video"] = mc.create_job(Role=ROLE, Settings=settings(
        src, "cve-video/cve.avi", dst, "cve-video"))["Job"]["Id"]
    normal = media.make_clip(str(d / "normal.mov"), duration=1.0, size="320x240")
    s3.upload_file(normal, src, "normal.mov")
    jobs["normal"] = mc.create_job(Role=ROLE, Settings=settings(src, "normal.mov", dst,
                                                                "normal"))["Job"]["Id"]
    done = {n: server.wait_job(j)[0] for n, j in jobs.items()}
    time.sleep(0.5)
    yield {"s3": s3, "src": src, "dst": dst, "jobs": done, "listener": lis, "dir": d}
    lis.sock.close()


@pytest.mark.parametrize("name,codes,words", [(h[0], h[3], h[4]) for h in HOSTILE],
                         ids=[h[0] for h in HOSTILE])
def test_hostile_job_errors(server, env, name, codes, words):
    job = env["jobs"][name]
    print(f"\n{name}: {job['Status']} {job.get('ErrorCode')} {job.get('ErrorMessage')}")
    assert job["Status"] == "ERROR", (name, job.get("Status"), job.get("OutputGroupDetails"))
    assert job.get("ErrorCode") in codes, (name, job.get("ErrorCode"), job.get("ErrorMessage"))
    msg = job.get("ErrorMessage") or ""
    assert job["Settings"]["Inputs"][0]["FileInput"] in msg, msg  # names the input
    for w in words:
        assert w in msg, (name, msg)
    outs = env["s3"].list_objects_v2(Bucket=env["dst"], Prefix=name + "/").get("Contents", [])
    assert outs == [], (name, [o["Key"] for o in outs])


def test_no_connection_was_opened(env):
    assert env["listener"].connections() == 0


def test_avi_playlist_beside_a_real_frame_is_never_opened(env):
    job = env["jobs"]["cve-video"]
    print(f"\ncve-video: {job['Status']} {job.get('ErrorCode')} {job.get('ErrorMessage')}")
    assert job["Status"] in ("COMPLETE", "ERROR"), job
    if job["Status"] == "ERROR":
        assert job.get("ErrorCode") in (1010, 1030, 1075), job
    for o in env["s3"].list_objects_v2(Bucket=env["dst"], Prefix="cve-video/").get(
            "Contents", []):
        body = env["s3"].get_object(Bucket=env["dst"], Key=o["Key"])["Body"].read()
        assert b"root:x:0:0" not in body and b"/bin/" not in body
        p = str(env["dir"] / "cve-out.mp4")
        with open(p, "wb") as f:
            f.write(body)
        info = media.probe(p)
        assert media.stream(info, "video")["codec_name"] == "h264"
        assert media.duration(info) < 1.0  # the one real frame, nothing appended


def test_normal_job_alongside_completes(server, env):
    job = env["jobs"]["normal"]
    assert job["Status"] == "COMPLETE", (job.get("ErrorCode"), job.get("ErrorMessage"))
    key = "normal/normal-h.mp4"
    p = str(env["dir"] / "normal-out.mp4")
    env["s3"].download_file(env["dst"], key, p)
    info = media.probe(p)
    v = media.stream(info, "video")
    assert v["codec_name"] == "h264" and (v["width"], v["height"]) == (160, 90)
    assert abs(media.duration(info) - 1.0) < 0.2
    with open(p, "rb") as f:
        assert b"root:x:0:0" not in f.read()
    assert server.alive() and server.health() == 200
