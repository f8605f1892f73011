"""Media helpers for the integration tests: tiny clips generated with the
ffmpeg CLI's lavfi sources, ffprobe as JSON, and a top-level MP4 box walker.

Everything here runs local processes only; nothing touches the network."""

import json
import os
import shutil
import struct
import subprocess

FFMPEG = shutil.which("ffmpeg") or "/usr/bin/ffmpeg"
FFPROBE = shutil.which("ffprobe") or "/usr/bin/ffprobe"


def make_clip(path, duration=2.0, size="320x240", rate=24, audio=True, sample_rate=44100,
              channels=1, vcodec="libx264", sar=None, container="mov"):
    """Writes a small test clip (testsrc2 video + a 440 Hz sine) to path.

    Defaults are deliberately *unlike* the outputs the seed job asks for
    (mono 44.1 kHz audio, H.264 video) so the transcode has to resample,
    upmix and re-encode. sar="4:3" makes an anamorphic clip (display size
    differs from the coded size)."""
    vf = []
    if sar:
        vf.append("setsar=" + sar.replace(":", "/"))
    cmd = [FFMPEG, "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
           "-f", "lavfi", "-i", f"testsrc2=size={size}:rate={rate}:duration={duration}"]
    if audio:
        cmd += ["-f", "lavfi", "-i",
                f"sine=frequency=440:sample_rate={sample_rate}:duration={duration}"]
    if vf:
        cmd += ["-vf", ",".join(vf)]
    cmd += ["-c:v", vcodec]
    if vcodec == "libx264":
        cmd += ["-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    if audio:
        cmd += ["-c:a", "aac", "-b:a", "64k", "-ac", str(channels)]
    cmd += ["-t", str(duration), "-f", container, str(path)]
    subprocess.run(cmd, check=True, timeout=120)
    return str(path)


def make_junk(path, size=64 * 1024, seed=1):
    """Random bytes that no demuxer will accept (deterministic per seed)."""
    import random
    rnd = random.Random(seed)
    data = bytes(rnd.getrandbits(8) for _ in range(size))
    # Make sure it does not start with anything that looks like a real format.
    data = b"JUNK" + data[4:]
    with open(path, "wb") as f:
        f.write(data)
    return str(path)


def probe(path):
    """ffprobe -show_format -show_streams as a dict."""
    out = subprocess.run([FFPROBE, "-v", "error", "-print_format", "json", "-show_format",
                          "-show_streams", str(path)],
                         check=True, capture_output=True, timeout=60).stdout
    return json.loads(out)


def stream(info, codec_type):
    """First stream of codec_type ('video'/'audio') in a probe() result, or None."""
    for s in info.get("streams", []):
        if s.get("codec_type") == codec_type:
            return s
    return None


def display_size(video_stream):
    """Display width/height of a probed video stream (applies the SAR)."""
    w, h = int(video_stream["width"]), int(video_stream["height"])
    sar = video_stream.get("sample_aspect_ratio", "1:1")
    try:
        n, d = (int(x) for x in sar.split(":"))
    except ValueError:
        n, d = 1, 1
    if n > 0 and d > 0 and n != d:
        w = int(round(w * n / d))
        w += w % 2
    return w, h


def duration(info):
    return float(info["format"]["duration"])


def mp4_top_level_boxes(path):
    """[(type, offset, size)] of the top-level boxes of an ISO BMFF file.
    Raises ValueError when the structure is broken (a box past EOF, bad size)."""
    boxes = []
    size_total = os.path.getsize(path)
    with open(path, "rb") as f:
        off = 0
        while off < size_total:
            f.seek(off)
            hdr = f.read(8)
            if len(hdr) < 8:
                raise ValueError(f"truncated box header at {off}")
            size, typ = struct.unpack(">I4s", hdr)
            typ = typ.decode("latin-1")
            if size == 1:
                ext = f.read(8)
                if len(ext) < 8:
                    raise ValueError(f"truncated largesize at {off}")
                size = struct.unpack(">Q", ext)[0]
            elif size == 0:
                size = size_total - off
            if size < 8 or off + size > size_total:
                raise ValueError(f"bad box {typ!r} size {size} at {off} (file {size_total})")
            boxes.append((typ, off, size))
            off += size
    return boxes


def moov_before_mdat(path):
    types = [b[0] for b in mp4_top_level_boxes(path)]
    return "moov" in types and "mdat" in types and types.index("moov") < types.index("mdat")
