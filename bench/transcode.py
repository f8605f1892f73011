#!/usr/bin/python3
"""bench/transcode (helper): CatTube's media engine against the ffmpeg CLI.

Three jobs on one 1080p30 testsrc2 + sine clip (H.264/AAC):
  seed  the seed job (/work/shared/seed/job.json): HEVC at input size capped
        at 5 Mb/s and AV1 256x144 capped at 100 kb/s, AAC 96k each, two MP4s;
  hls   a MediaConvert HLS_GROUP_SETTINGS job: five H.264 renditions
        1080p/720p/480p/360p/240p, each with AAC 96k muxed in, TS segments
        of 2 s, master playlist;
  cmaf  a CMAF_GROUP_SETTINGS job: three AV1 renditions 1080p/720p/480p and
        one AAC 96k track, fMP4 segments of 2 s, HLS + DASH manifests.
For each job and QvbrQualityLevel (5, 7, 9), in the same session and
alternately:
  cattube  `cattube transcode` (the production sandboxed child: seccomp,
           rlimits, fd-only I/O) fed the job's plan on stdin, the way the
           worker runs it (same plan, same environment: SVT_LOG=1,
           MALLOC_ARENA_MAX=2), so no S3 or queue time is counted;
  ffmpeg   one ffmpeg CLI run producing the same outputs (split filter,
           one encoder per output, the engine's encoder settings: QVBR
           level -> CRF table, VBV cap = MaxBitrate / 2 x MaxBitrate,
           presets, GOP = segment, forced IDR keyframes at segment starts;
           the hls muxer with var_stream_map, the dash muxer with HLS
           playlists for CMAF).
Both are timed with wait4(): wall, CPU (user+sys) and peak RSS of the
process. Quality: every video rendition is re-assembled (init + segments),
compared with the source scaled (bicubic) to its size by ffmpeg's ssim and
psnr filters, and its video bitrate is the sum of its packet sizes over its
duration (ffprobe).

Usage: bench/transcode [--quick] [--no-docs] [--levels 5,7,9] [--jobs seed,hls,cmaf] [--repeat N]
                       [--keep] [--ffmpeg-as-root] [--concurrent] [--check-plan] [--from-json RESULTS]
Env:   CATTUBE_BIN, SECONDS_LEN (default 10; --quick: 3), SIZE (1920x1080)
"""

import argparse
import concurrent.futures
import glob
import json
import os
import re
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FPS = 30

# Engine mapping (src/transcode/tc_output.c): QVBR level -> CRF, presets.
CRF = {"h264": [38, 35, 32, 30, 28, 26, 23, 21, 19, 17],
       "h265": [42, 39, 36, 33, 31, 28, 26, 24, 22, 20],
       "av1": [55, 51, 47, 44, 41, 38, 35, 32, 29, 26]}
PLAN_VCODEC = {"h264": 1, "h265": 2, "av1": 3}
PLAN_CONTAINER = {"mp4": 0, "hls_ts": 1, "cmaf": 5}
SEG = 2  # seconds per segment in the HLS and CMAF groups

# (modifier, width, height, MaxBitrate)
HLS_LADDER = [("_1080p", 1920, 1080, 6000000), ("_720p", 1280, 720, 3500000),
              ("_480p", 854, 480, 1500000), ("_360p", 640, 360, 800000),
              ("_240p", 426, 240, 400000)]
AV1_LADDER = [("_1080p", 1920, 1080, 3000000), ("_720p", 1280, 720, 1800000),
              ("_480p", 854, 480, 800000)]


# ------------------------------------------------------------------ jobs

def rendition(name, codec, w, h, cap, container, seg=0, audio=True, video=True):
    return {"name": name, "codec": codec if video else None, "w": w, "h": h, "cap": cap,
            "container": container, "seg": seg, "audio": audio}


def jobs(size):
    w, h = size
    return {
        "seed": [rendition("in_hd", "h265", w, h, 5000000, "mp4"),
                 rendition("in_sd", "av1", 256, 144, 100000, "mp4")],
        "hls": [rendition("in" + m, "h264", rw, rh, cap, "hls_ts", SEG) for m, rw, rh, cap in HLS_LADDER],
        "cmaf": [rendition("in" + m, "av1", rw, rh, cap, "cmaf", SEG, audio=False)
                 for m, rw, rh, cap in AV1_LADDER]
                + [rendition("in_audio", None, 0, 0, 0, "cmaf", SEG, video=False)],
    }


def job_settings(job, level):
    """The MediaConvert job settings the plan stands for (documentation)."""
    def vdesc(r):
        key = {"h264": "H264Settings", "h265": "H265Settings", "av1": "Av1Settings"}[r["codec"]]
        return {"Width": r["w"], "Height": r["h"], "CodecSettings": {
            "Codec": {"h264": "H_264", "h265": "H_265", "av1": "AV1"}[r["codec"]],
            key: {"RateControlMode": "QVBR", "MaxBitrate": r["cap"],
                  "QvbrSettings": {"QvbrQualityLevel": level}}}}
    aac = [{"CodecSettings": {"Codec": "AAC", "AacSettings": {
        "Bitrate": 96000, "CodingMode": "CODING_MODE_2_0", "SampleRate": 48000}}}]
    outs = []
    for r in job:
        o = {"NameModifier": r["name"][2:]}
        if r["codec"]:
            o["VideoDescription"] = vdesc(r)
        if r["audio"]:
            o["AudioDescriptions"] = aac
        o["ContainerSettings"] = {"Container": {"mp4": "MP4", "hls_ts": "M3U8", "cmaf": "CMFC"}[r["container"]]}
        outs.append(o)
    kind = job[0]["container"]
    ogs = {"mp4": {"Type": "FILE_GROUP_SETTINGS", "FileGroupSettings": {"Destination": "s3://cattube-out/"}},
           "hls_ts": {"Type": "HLS_GROUP_SETTINGS", "HlsGroupSettings": {
               "Destination": "s3://cattube-out/", "SegmentLength": SEG, "MinSegmentLength": 0}},
           "cmaf": {"Type": "CMAF_GROUP_SETTINGS", "CmafGroupSettings": {
               "Destination": "s3://cattube-out/", "SegmentLength": SEG}}}[kind]
    return {"Inputs": [{"FileInput": "s3://cattube-in/in.mp4"}],
            "OutputGroups": [{"OutputGroupSettings": ogs, "Outputs": outs}]}


PLAN_EXE = []  # bench/transcode_plan.c built against the build's libct_mc (build_plan_exe)


def build_plan_exe(work):
    """Compiles bench/transcode_plan.c against the build's libct_mc: the
    plans the bench feeds the child are ct_mc_job_plan's own, so they follow
    every change of the plan format."""
    exe, build = os.path.join(work, "plan"), os.path.join(ROOT, "build", "src")
    subprocess.run(["cc", "-std=c17", "-I", os.path.join(ROOT, "src"), "-I", build,
                    os.path.join(ROOT, "bench", "transcode_plan.c"), os.path.join(build, "libct_mc.a"),
                    os.path.join(build, "libct_core.a"), "-ljansson", "-lm", "-o", exe], check=True)
    PLAN_EXE[:] = [exe]


def camel(o):
    if isinstance(o, dict):
        return {k[0].lower() + k[1:]: camel(v) for k, v in o.items()}
    return [camel(v) for v in o] if isinstance(o, list) else o


def plan(job, level, inp, outdir):
    """The ct_plan that mc_plan.c makes of job_settings(), with local paths
    (as the worker sets them: input file, one path per output)."""
    out = subprocess.run(PLAN_EXE, input=json.dumps({"settings": camel(job_settings(job, level))}),
                         capture_output=True, text=True, check=True).stdout
    p = json.loads(out)
    p["input_path"] = inp
    for o, r in zip(p["outputs"], job):
        multi = r["container"] != "mp4"
        o["path"] = os.path.join(outdir, r["name"] + ("" if multi else ".mp4"))
    return p


def ffmpeg_cmd(job, level, inp, outdir):
    """One ffmpeg CLI run writing the same outputs with the engine's settings."""
    vids = [r for r in job if r["codec"]]
    chains = [f"[0:v]split={len(vids)}" + "".join(f"[s{i}]" for i in range(len(vids)))]
    for i, r in enumerate(vids):
        chains.append(f"[s{i}]scale={r['w']}:{r['h']}:flags=bicubic,setsar=1,format=yuv420p[v{i}]")
    cmd = ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", inp, "-filter_complex", ";".join(chains)]
    aac = ["-c:a", "aac", "-b:a", "96k", "-ac", "2", "-ar", "48000"]

    def venc(i, r):
        s = ":v" if job[0]["container"] == "mp4" else f":v:{i}"  # mp4: options per output file
        crf = CRF[r["codec"]][level - 1]
        cap, buf = r["cap"], 2 * r["cap"]
        a = []
        if r["codec"] == "h265":
            a += [f"-c{s}", "libx265", f"-preset{s}", "fast", f"-crf{s}", str(crf), f"-x265-params{s}",
                  f"log-level=error:vbv-maxrate={cap // 1000}:vbv-bufsize={buf // 1000}"
                  + (f":open-gop=0" if r["seg"] else ""), f"-tag{s}", "hvc1"]
        elif r["codec"] == "h264":
            a += [f"-c{s}", "libx264", f"-preset{s}", "fast", f"-crf{s}", str(crf)]
        else:
            a += [f"-c{s}", "libsvtav1", f"-preset{s}", "8", f"-crf{s}", str(crf)]
        a += [f"-maxrate{s}", str(cap), f"-bufsize{s}", str(buf)]
        if r["seg"]:
            a += [f"-g{s}", str(r["seg"] * FPS), f"-force_key_frames{s}", f"expr:gte(t,n_forced*{r['seg']})"]
            if r["codec"] in ("h264", "h265"):
                a += [f"-forced-idr{s}", "1"]
        return a

    kind = job[0]["container"]
    if kind == "mp4":
        for i, r in enumerate(vids):
            cmd += ["-map", f"[v{i}]", "-map", "0:a"] + venc(i, r) + aac + \
                   ["-movflags", "+faststart", os.path.join(outdir, r["name"] + ".mp4")]
        return cmd
    for i, r in enumerate(vids):
        cmd += ["-map", f"[v{i}]"] + venc(i, r)
    if kind == "hls_ts":
        cmd += sum((["-map", "0:a"] for _ in vids), []) + aac
        vsm = " ".join(f"v:{i},a:{i},name:{r['name'][3:]}" for i, r in enumerate(vids))
        cmd += ["-f", "hls", "-hls_time", str(SEG), "-hls_list_size", "0", "-hls_playlist_type", "vod",
                "-start_number", "1", "-hls_segment_type", "mpegts", "-hls_flags", "independent_segments",
                "-hls_segment_filename", os.path.join(outdir, "in_%v_%05d.ts"),
                "-master_pl_name", "in.m3u8", "-var_stream_map", vsm, os.path.join(outdir, "in_%v.m3u8")]
        return cmd
    # CMAF: the dash muxer writes one set of fMP4 segments with an MPD and HLS
    # playlists; one adaptation set per rendition (it refuses 854x480 next
    # to 16:9 sizes in one set), which changes nothing in the encoding
    sets = " ".join(f"id={i},streams={i}" for i in range(len(vids))) + f" id={len(vids)},streams=a"
    cmd += ["-map", "0:a"] + aac
    cmd += ["-f", "dash", "-seg_duration", str(SEG), "-use_template", "1", "-use_timeline", "1",
            "-hls_playlist", "1", "-adaptation_sets", sets,
            "-init_seg_name", "in_$RepresentationID$_init.mp4",
            "-media_seg_name", "in_$RepresentationID$_$Number%09d$.mp4", os.path.join(outdir, "in.mpd")]
    return cmd


def check_plans(work, size):
    """Prints the plan ct_mc_job_plan makes of every job and level (the
    plans the runs use) and checks the outputs match the bench's jobs."""
    for name, job in jobs(size).items():
        for level in (5, 7, 9):
            p = plan(job, level, "in.mp4", "out")
            got = [(o["container"], o["video"]["codec"], o["video"]["width"], o["video"]["height"])
                   for o in p["outputs"]]
            want = [(PLAN_CONTAINER[r["container"]], PLAN_VCODEC.get(r["codec"], 0), r["w"], r["h"])
                    for r in job]
            if got != want:
                sys.exit(f"plan of {name} at level {level}: outputs {got}, expected {want}")
    print("plans: ct_mc_job_plan's, outputs as the jobs say, for every job and level")


# ------------------------------------------------------------- running

def timed(argv, stdin=None, pass_fds=(), env=None, stdout=subprocess.DEVNULL):
    """Runs argv; returns (returncode, wall s, cpu s, peak RSS KiB, stderr tail)."""
    err = tempfile.TemporaryFile()
    t0 = time.monotonic()
    p = subprocess.Popen(argv, stdin=stdin, stdout=stdout, stderr=err, pass_fds=pass_fds, env=env)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.monotonic() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    err.seek(0)
    tail = err.read().decode(errors="replace")[-2000:]
    return p.returncode, wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss, tail


def unbundle(path, outdir):
    """Unpacks a CTB1 bundle (src/core/plan.h) into outdir; later records win."""
    os.makedirs(outdir, exist_ok=True)
    with open(path, "rb") as f:
        data = f.read()
    off = 0
    while off < len(data):
        magic, nl, dl = struct.unpack_from("<4sIQ", data, off)
        assert magic == b"CTB1", f"bad bundle record at {off} in {path}"
        off += 16
        name = data[off:off + nl].decode()
        off += nl
        with open(os.path.join(outdir, name), "wb") as o:
            o.write(data[off:off + dl])
        off += dl


def run_cattube(binary, job, level, inp, work):
    outdir = os.path.join(work, "ct")
    shutil.rmtree(outdir, ignore_errors=True)
    os.makedirs(outdir)
    p = plan(job, level, inp, outdir)
    fds, files = [os.open(inp, os.O_RDONLY)], []
    for o in p["outputs"]:
        target = o["path"] if o["container"] == 0 else o["path"] + ".bundle"
        files.append(target)
        fds.append(os.open(target, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644))
    # the child expects input on fd 3, outputs on 4.. (sandbox_parent.c)
    mapped = []
    for k, fd in enumerate(fds):
        os.dup2(fd, 100 + k)
        mapped.append(100 + k)
    plan_path = os.path.join(work, "plan.json")
    with open(plan_path, "w") as f:
        json.dump(p, f)
    shell = "exec " + " ".join(f"{3 + k}<&{fd} {fd}<&-" for k, fd in enumerate(mapped)) + " \"$0\" transcode"
    report = os.path.join(work, "ct-report")
    with open(plan_path) as pin, open(report, "w") as rep:
        rc, wall, cpu, rss, err = timed(["bash", "-c", shell, binary], stdin=pin, pass_fds=mapped,
                                        env={"SVT_LOG": "1", "MALLOC_ARENA_MAX": "2",
                                             "PATH": os.environ.get("PATH", "")}, stdout=rep)
    for fd in fds + mapped:
        os.close(fd)
    res = [ln for ln in open(report) if ln.startswith("result ")]
    if rc != 0 or not res or not res[-1].startswith('result {"error_code":0'):
        sys.exit(f"cattube failed (exit {rc}): {res[-1] if res else ''}{err}")
    for o, f in zip(p["outputs"], files):
        if o["container"] != 0:
            unbundle(f, outdir)
            os.unlink(f)
    return wall, cpu, rss, outdir


# The CatTube child runs in a user namespace without a uid map, i.e. not as
# root. SVT-AV1 1.4 gives all of its threads SCHED_FIFO priority 99 when
# geteuid() == 0, so an ffmpeg run as root would have real-time AV1 threads
# that push every other process off the CPUs (3x faster on a loaded
# machine, and a hazard). Same credentials for both: ffmpeg runs under
# `unshare --user` too (--ffmpeg-as-root turns that off).
FFMPEG_PREFIX = []


def run_ffmpeg(job, level, inp, work):
    outdir = os.path.join(work, "ff")
    shutil.rmtree(outdir, ignore_errors=True)
    os.makedirs(outdir)
    rc, wall, cpu, rss, err = timed(FFMPEG_PREFIX + ffmpeg_cmd(job, level, inp, outdir),
                                    env=dict(os.environ, SVT_LOG="1", MALLOC_ARENA_MAX="2"))
    if rc != 0:
        sys.exit(f"ffmpeg failed (exit {rc}): {err}")
    return wall, cpu, rss, outdir


# ------------------------------------------------------------- quality

def assemble(engine, r, idx, outdir, dest):
    """One playable file of rendition r (index idx among the job's video outputs)."""
    c = r["container"]
    if c == "mp4":
        return os.path.join(outdir, r["name"] + ".mp4")
    if c == "hls_ts":
        parts = sorted(glob.glob(os.path.join(outdir, r["name"] + "_[0-9]*.ts")))
    elif engine == "cattube":
        parts = [os.path.join(outdir, r["name"] + "init.cmfv")] + \
                sorted(glob.glob(os.path.join(outdir, r["name"] + "_[0-9]*.cmfv")))
    else:
        parts = [os.path.join(outdir, f"in_{idx}_init.mp4")] + \
                sorted(glob.glob(os.path.join(outdir, f"in_{idx}_[0-9]*.mp4")))
    if len(parts) < 2 and c != "hls_ts":
        sys.exit(f"{engine}: no segments for {r['name']} in {outdir}: {sorted(os.listdir(outdir))}")
    with open(dest, "wb") as o:
        for p in parts:
            with open(p, "rb") as f:
                shutil.copyfileobj(f, o)
    return dest


def video_kbps(path):
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                          "packet=size:stream=codec_name,width,height", "-of", "json", path],
                         capture_output=True, text=True, check=True).stdout
    j = json.loads(out)
    sizes = [int(p["size"]) for p in j.get("packets", [])]
    st = j["streams"][0]
    return sum(sizes) * 8 / (len(sizes) / FPS) / 1000 if sizes else 0, len(sizes), st


def ssim_psnr(path, src, w, h):
    lavfi = (f"[0:v]setpts=PTS-STARTPTS,setsar=1,format=yuv420p,split[d1][d2];"
             f"[1:v]setpts=PTS-STARTPTS,scale={w}:{h}:flags=bicubic,setsar=1,format=yuv420p,split[r1][r2];"
             f"[d1][r1]ssim;[d2][r2]psnr")
    err = subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-i", path, "-i", src,
                          "-lavfi", lavfi, "-f", "null", "-"],
                         capture_output=True, text=True).stderr
    ssim = re.search(r"SSIM .*All:([0-9.]+)", err)
    psnr = re.search(r"PSNR .*average:([0-9.inf]+)", err)
    if not ssim or not psnr:
        sys.exit(f"ssim/psnr failed on {path}: {err[-800:]}")
    return float(ssim.group(1)), float(psnr.group(1))


def quality(engine, job, outdir, src, work):
    rows = []
    vids = [r for r in job if r["codec"]]
    for i, r in enumerate(vids):
        f = assemble(engine, r, i, outdir, os.path.join(work, f"q-{engine}-{i}.{ 'ts' if r['container'] == 'hls_ts' else 'mp4'}"))
        kbps, frames, st = video_kbps(f)
        if (st["width"], st["height"]) != (r["w"], r["h"]):
            sys.exit(f"{engine} {r['name']}: {st['width']}x{st['height']}, expected {r['w']}x{r['h']}")
        s, p = ssim_psnr(f, src, r["w"], r["h"])
        rows.append({"name": r["name"][3:], "codec": st["codec_name"], "size": f"{r['w']}x{r['h']}",
                     "kbps": kbps, "frames": frames, "ssim": s, "psnr": p})
    return rows


# ------------------------------------------------------------- main

def pick_bin():
    for b in (os.environ.get("CATTUBE_BIN"), os.path.join(ROOT, "build", "cattube")):
        if b and os.access(b, os.X_OK):
            r = subprocess.run([b, "transcode"], stdin=subprocess.DEVNULL, capture_output=True, text=True)
            if "bad plan" in r.stdout + r.stderr:
                return b
    sys.exit("no cattube binary with a 'transcode' subcommand found (set CATTUBE_BIN)")


def loadavg():
    return open("/proc/loadavg").read().split()[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="3 s clip (SECONDS_LEN overrides)")
    ap.add_argument("--no-docs", action="store_true")
    ap.add_argument("--levels", default="5,7,9")
    ap.add_argument("--jobs", default="seed,hls,cmaf")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--repeat", type=int, default=1, help="timed runs per job and level (median reported)")
    ap.add_argument("--concurrent", action="store_true",
                    help="run cattube and ffmpeg at the same time (same load on a shared machine)")
    ap.add_argument("--ffmpeg-as-root", action="store_true",
                    help="run the ffmpeg CLI with the caller's credentials (root: real-time SVT-AV1 threads)")
    ap.add_argument("--from-json", metavar="RESULTS",
                    help="no runs: print (and record) the results.json of an earlier --keep run")
    ap.add_argument("--check-plan", action="store_true",
                    help="only check the plans against mc's (needs the build's static libraries)")
    a = ap.parse_args()
    if a.from_json:
        results = json.load(open(a.from_json))
        results["runs"] = [r for r in results["runs"] if "cattube" in r and "ffmpeg" in r]
        text = report(results)
        print(text)
        if not a.no_docs:
            write_docs(results, text, a)
        return
    if os.geteuid() == 0 and not a.ffmpeg_as_root:
        FFMPEG_PREFIX[:] = ["unshare", "--user"]
    length = int(os.environ.get("SECONDS_LEN", "3" if a.quick else "10"))
    size = tuple(int(x) for x in os.environ.get("SIZE", "1920x1080").split("x"))
    levels = [int(x) for x in a.levels.split(",")]
    names = a.jobs.split(",")
    binary = pick_bin()
    work = tempfile.mkdtemp(prefix="ct-bench-transcode.")
    try:
        build_plan_exe(work)
        if a.check_plan:
            check_plans(work, size)
            return
        src = os.path.join(work, "in.mp4")
        print(f"generating {length}s {size[0]}x{size[1]}@{FPS} input...", flush=True)
        subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i",
                        f"testsrc2=size={size[0]}x{size[1]}:rate={FPS}:duration={length}", "-f", "lavfi",
                        "-i", f"sine=frequency=440:sample_rate=48000:duration={length}", "-c:v", "libx264",
                        "-preset", "veryfast", "-crf", "18", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a",
                        "128k", src], check=True)
        all_jobs = jobs(size)
        results = {"length": length, "size": size, "bin": binary, "loads": [loadavg()], "runs": [],
                   "ffmpeg_as_root": a.ffmpeg_as_root, "concurrent": a.concurrent}
        for level in levels:
            for name in names:
                job = all_jobs[name]
                run = {"job": name, "level": level}
                for rep in range(a.repeat):
                    for engine, (wall, cpu, rss, outdir) in timed_pair(a, rep, binary, job, level, src, work, name):
                        print(f"level {level} {name} #{rep + 1}: {engine}: {wall:.1f} s wall, {cpu:.1f} s CPU, "
                              f"{rss // 1024} MiB; load {loadavg()}", flush=True)
                        e = run.setdefault(engine, {"walls": [], "cpus": [], "rsss": []})
                        e["walls"].append(wall)
                        e["cpus"].append(cpu)
                        e["rsss"].append(rss)
                        if rep == 0:
                            e["quality"] = quality(engine, job, outdir, src, work)
                        results["loads"].append(loadavg())
                for e in (run["cattube"], run["ffmpeg"]):
                    e["wall"], e["cpu"], e["rss"] = (statistics.median(e[k]) for k in ("walls", "cpus", "rsss"))
                results["runs"].append(run)
                with open(os.path.join(work, "results.json"), "w") as f:  # progress, for --keep
                    json.dump(results, f, indent=1)
        text = report(results)
        print()
        print(text)
        if not a.no_docs:
            write_docs(results, text, a)
    finally:
        if a.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def timed_pair(a, rep, binary, job, level, src, work, name):
    """One cattube run and one ffmpeg run: one after the other, alternating
    who goes first, or (--concurrent) both at once, so that both see the
    same load on a shared machine."""
    def one(engine):
        return (run_cattube(binary, job, level, src, work) if engine == "cattube"
                else run_ffmpeg(job, level, src, work))
    if not a.concurrent:
        order = ("cattube", "ffmpeg") if rep % 2 == 0 else ("ffmpeg", "cattube")
        return [(e, one(e)) for e in order]
    with concurrent.futures.ThreadPoolExecutor(2) as ex:
        futs = {e: ex.submit(one, e) for e in ("cattube", "ffmpeg")}
        return [(e, f.result()) for e, f in futs.items()]


def pair_ratios(r):
    """cattube / ffmpeg wall of each pair (run next to each other in time)."""
    return [c / f for c, f in zip(r["cattube"]["walls"], r["ffmpeg"]["walls"])]


def report(res):
    frames = res["length"] * FPS
    how = "concurrent (both engines at once)" if res.get("concurrent") else "alternating"
    out = [f"Speed, median of {len(res['runs'][0]['cattube']['walls'])} {how} run(s) each (frames = input "
           "frames; ratio = cattube / ffmpeg, < 1 is faster):", "",
           "| job | QVBR | cattube wall s | ffmpeg wall s | wall ratio | cattube fps | ffmpeg fps "
           "| cattube CPU s | ffmpeg CPU s | CPU ratio | cattube RSS MiB | ffmpeg RSS MiB | RSS ratio |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in res["runs"]:
        c, f = r["cattube"], r["ffmpeg"]
        out.append(f"| {r['job']} | {r['level']} | {c['wall']:.2f} | {f['wall']:.2f} | {c['wall'] / f['wall']:.2f} "
                   f"| {frames / c['wall']:.1f} | {frames / f['wall']:.1f} | {c['cpu']:.1f} | {f['cpu']:.1f} "
                   f"| {c['cpu'] / f['cpu']:.2f} "
                   f"| {int(c['rss'] // 1024)} | {int(f['rss'] // 1024)} | {c['rss'] / f['rss']:.2f} |")
    if len(res["runs"][0]["cattube"]["walls"]) > 1:
        out += ["", "Wall ratio of each pair (cattube / ffmpeg run next to each other"
                + (", at the same time" if res.get("concurrent") else "") + "): median, min-max, per pair:", ""]
        for r in res["runs"]:
            pr = pair_ratios(r)
            out.append(f"- {r['job']} QVBR {r['level']}: median {statistics.median(pr):.2f}, "
                       f"{min(pr):.2f}-{max(pr):.2f} ({', '.join(f'{x:.2f}' for x in pr)})")
    out += ["", "Quality per rendition (video kb/s from packet sizes; SSIM All and PSNR average against the "
            "source scaled to the rendition's size):", "",
            "| job | QVBR | rendition | cattube kb/s | ffmpeg kb/s | kb/s ratio | cattube SSIM | ffmpeg SSIM "
            "| cattube PSNR dB | ffmpeg PSNR dB | PSNR diff dB |",
            "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in res["runs"]:
        for c, f in zip(r["cattube"]["quality"], r["ffmpeg"]["quality"]):
            out.append(f"| {r['job']} | {r['level']} | {c['name']} {c['codec']} {c['size']} | {c['kbps']:.0f} "
                       f"| {f['kbps']:.0f} | {c['kbps'] / f['kbps']:.2f} | {c['ssim']:.4f} | {f['ssim']:.4f} "
                       f"| {c['psnr']:.2f} | {f['psnr']:.2f} | {c['psnr'] - f['psnr']:+.2f} |")
    return "\n".join(out)


def write_docs(res, text, a):
    doc = os.path.join(ROOT, "docs", "benchmarks.md")
    cpu = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name")), "?")
    lav = subprocess.run(["pkg-config", "--modversion", "libavcodec"], capture_output=True, text=True).stdout.strip()
    if a.from_json:  # what the recorded runs were (a --keep run may have been stopped early)
        levels = ",".join(dict.fromkeys(str(r["level"]) for r in res["runs"]))
        names = ",".join(dict.fromkeys(r["job"] for r in res["runs"]))
        reps = len(res["runs"][0]["cattube"]["walls"])
        args = (f"{'--quick ' if res['length'] == 3 else ''}--levels {levels} --jobs {names} --repeat {reps}"
                f"{' --ffmpeg-as-root' if res.get('ffmpeg_as_root') else ''}"
                f"{' --concurrent' if res.get('concurrent') else ''}")
    else:
        args = " ".join(x for x in ("--quick" if a.quick else "", f"--levels {a.levels}", f"--jobs {a.jobs}",
                                    f"--repeat {a.repeat}", "--ffmpeg-as-root" if a.ffmpeg_as_root else "",
                                    "--concurrent" if a.concurrent else "") if x)
    w, h = res["size"]
    head = (f"Measured by `bench/transcode {args}` on {time.strftime('%Y-%m-%d', time.gmtime())} — "
            f"{os.cpu_count()} cores, {cpu}, {os.uname().release}, libavcodec {lav or '?'}; "
            f"load average (1 min) before and after each run: {', '.join(res['loads'])}. "
            f"Input: {res['length']} s {w}x{h} {FPS} fps testsrc2 + 440 Hz sine (H.264 CRF 18 / AAC). "
            f"Binary: `{os.path.basename(res['bin'])}`.")
    section = "## Transcode\n\n<!-- bench/transcode writes from here to the next heading -->\n" + head + "\n\n" + text + "\n"
    body = open(doc).read() if os.path.exists(doc) else "# Benchmarks\n\n"
    m = re.search(r"^## Transcode\n.*?(?=^### |^## |\Z)", body, flags=re.S | re.M)
    if m:
        body = body[:m.start()] + section + "\n" + body[m.end():]
    else:
        body = body.rstrip() + "\n\n" + section
    with open(doc, "w") as f:
        f.write(body)
    print(f"wrote {doc}")


if __name__ == "__main__":
    main()
