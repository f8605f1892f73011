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


# ---- the input matrix (tests/integration/test_inputs.py) ----

def run_ffmpeg(*args, timeout=300):
    """The ffmpeg CLI, quiet, overwriting; raises with ffmpeg's stderr on failure."""
    cmd = [FFMPEG, "-nostdin", "-hide_banner", "-loglevel", "error", "-y"] + [str(a) for a in args]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError(f"ffmpeg failed ({p.returncode}): {' '.join(cmd)}\n{p.stderr[-3000:]}")


def make_media(path, video=("libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"),
               audio=("aac",), size="320x240", rate=24, duration=2.0, sample_rate=44100,
               channels=1, vf=None, fmt=None, extra=()):
    """A clip from lavfi sources: testsrc2 video encoded with `-c:v *video`
    (None: no video) and a 440 Hz sine encoded with `-c:a *audio` (None: no
    audio). vf is a -vf filter chain (e.g. "scale=321:241" for odd sizes,
    "setsar=4/3" for anamorphic pixels); fmt forces the container; extra
    goes just before the output path."""
    args = []
    if video:
        args += ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate={rate}:duration={duration}"]
    if audio:
        args += ["-f", "lavfi", "-i",
                 f"sine=frequency=440:sample_rate={sample_rate}:duration={duration}"]
    if video:
        if vf:
            args += ["-vf", vf]
        args += ["-c:v", *video]
    if audio:
        args += ["-c:a", *audio, "-ac", str(channels)]
    args += ["-t", str(duration)]
    if fmt:
        args += ["-f", fmt]
    run_ffmpeg(*args, *extra, path)
    return str(path)


def set_rotation(src, dst, degrees):
    """Stream-copies src to dst (MP4/MOV) with a display matrix that turns the
    picture `degrees` clockwise, as a phone held upright writes it."""
    run_ffmpeg("-i", src, "-map", "0", "-c", "copy", "-metadata:s:v:0", f"rotate={degrees}", dst)
    return str(dst)


def make_two_audio_tracks(path, duration=2.0):
    """H.264 video with two AAC tracks: track 1 silent (mono 44.1 kHz), track 2
    a loud 880 Hz tone (mono 48 kHz), so which one was used shows in the
    output's volume."""
    run_ffmpeg("-f", "lavfi", "-i", f"testsrc2=size=320x240:rate=24:duration={duration}",
               "-f", "lavfi", "-i", "anullsrc=r=44100:cl=mono",
               "-f", "lavfi", "-i", f"sine=frequency=880:sample_rate=48000:duration={duration}",
               "-map", "0:v", "-map", "1:a", "-map", "2:a",
               "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
               "-c:a", "aac", "-b:a", "64k", "-t", str(duration), path)
    return str(path)


def mean_volume_db(path):
    """Mean volume (dB) of the first audio stream, from ffmpeg's volumedetect."""
    p = subprocess.run([FFMPEG, "-nostdin", "-hide_banner", "-i", str(path), "-map", "0:a:0",
                        "-af", "volumedetect", "-f", "null", "-"],
                       capture_output=True, text=True, timeout=120)
    for line in p.stderr.splitlines():
        if "mean_volume:" in line:
            return float(line.split("mean_volume:")[1].split()[0])
    raise RuntimeError(f"volumedetect printed no mean_volume for {path}:\n{p.stderr[-2000:]}")


def count_frames(path):
    """Decoded video frames of the first video stream (ffprobe -count_frames)."""
    out = subprocess.run([FFPROBE, "-v", "error", "-select_streams", "v:0", "-count_frames",
                          "-show_entries", "stream=nb_read_frames", "-of", "json", str(path)],
                         check=True, capture_output=True, timeout=120).stdout
    return int(json.loads(out)["streams"][0]["nb_read_frames"])


def rotation_of(video_stream):
    """The display-matrix rotation ffprobe reports for a video stream (0 if none)."""
    for sd in video_stream.get("side_data_list", []) or []:
        if "rotation" in sd:
            return int(sd["rotation"])
    return int(video_stream.get("tags", {}).get("rotate", 0))


def idet(path):
    """(TFF, BFF, progressive) frame counts from ffmpeg's idet filter (multi-frame
    detection) on the first video stream: combing says interlaced."""
    p = subprocess.run([FFMPEG, "-nostdin", "-hide_banner", "-i", str(path), "-map", "0:v:0",
                        "-vf", "idet", "-f", "null", "-"],
                       capture_output=True, text=True, timeout=120)
    for line in p.stderr.splitlines():
        if "Multi frame detection:" in line:
            f = line.split("Multi frame detection:")[1].split()
            return int(f[1]), int(f[3]), int(f[5])
    raise RuntimeError(f"idet printed nothing for {path}:\n{p.stderr[-2000:]}")


def frame_durations(path):
    """Differences between consecutive presentation timestamps (stream time
    base) of the first video stream."""
    out = subprocess.run([FFPROBE, "-v", "error", "-select_streams", "v:0", "-show_entries",
                          "packet=pts", "-of", "json", str(path)],
                         check=True, capture_output=True, timeout=120).stdout
    pts = sorted(int(p["pts"]) for p in json.loads(out)["packets"] if "pts" in p)
    return [b - a for a, b in zip(pts, pts[1:])]


def psnr(path, ref, seconds=10):
    """Average PSNR (dB) of the first `seconds` of path's video against ref's,
    ref scaled to path's size (the ffmpeg CLI autorotates ref as players do).
    Both start at 0 (outputs are re-timed to a constant rate from 0, so an
    input whose video starts a few ms late must not pair frame k with k-1)."""
    v = stream(probe(path), "video")
    w, h = v["width"], v["height"]
    t = ["-t", str(seconds)]
    p = subprocess.run([FFMPEG, "-nostdin", "-hide_banner", *t, "-i", str(path), *t, "-i", str(ref),
                        "-lavfi", f"[1:v]setpts=PTS-STARTPTS,scale={w}:{h},format=yuv420p[r];"
                                  "[0:v]setpts=PTS-STARTPTS,format=yuv420p[o];[o][r]psnr", "-f", "null", "-"],
                       capture_output=True, text=True, timeout=120)
    for line in p.stderr.splitlines():
        if "PSNR" in line and "average:" in line:
            v = line.split("average:")[1].split()[0]
            return float("inf") if v == "inf" else float(v)
    raise RuntimeError(f"psnr printed nothing for {path}:\n{p.stderr[-2000:]}")


def make_amr(path, wideband=False, duration=2.0, seed=7):
    """An AMR file (RFC 4867 storage format) without an AMR encoder: frames of
    the highest mode (AMR-NB 12.2 kb/s, AMR-WB 23.85 kb/s) whose speech
    parameters are random bits, which decode to noise. 20 ms per frame."""
    import random
    rnd = random.Random(seed)
    magic, mode, payload = (b"#!AMR-WB\n", 8, 60) if wideband else (b"#!AMR\n", 7, 31)
    with open(path, "wb") as f:
        f.write(magic)
        for _ in range(int(duration * 50)):
            f.write(bytes([(mode << 3) | 4]) + bytes(rnd.getrandbits(8) for _ in range(payload)))
    return str(path)


def make_3gp_amr(path, wideband=False, duration=2.0):
    """A phone's 3GP: H.263 176x144 15 fps with AMR-NB, or H.264 320x240 with
    AMR-WB (the AMR track is stream-copied from make_amr)."""
    amr = make_amr(str(path) + (".awb" if wideband else ".amr"), wideband, duration)
    if wideband:
        v = ["testsrc2=size=320x240:rate=15", "-c:v", "libx264", "-preset", "ultrafast",
             "-pix_fmt", "yuv420p"]
    else:
        v = ["testsrc2=size=176x144:rate=15", "-c:v", "h263"]
    run_ffmpeg("-f", "lavfi", "-i", f"{v[0]}:duration={duration}", "-i", amr,
               "-map", "0:v", "-map", "1:a", *v[1:], "-c:a", "copy", "-t", str(duration),
               "-f", "3gp", path)
    os.unlink(amr)
    return str(path)
