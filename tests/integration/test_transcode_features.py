"""Engine features through real jobs: AudioSelectors (Tracks, Pids,
LanguageCode, DefaultSelection) picking the audio stream each output plays,
deinterlacing of an input flagged interlaced, and variable-frame-rate input
to constant-frame-rate output with sound in sync. Inputs are made with
ffmpeg; every output is checked with ffprobe (and ffmpeg's idet, and the
tone's frequency counted from the decoded samples)."""

import array
import json
import subprocess

import botocore.exceptions
import pytest

import media
import playback

SRC, DST = "feat-source", "feat-destination"
ROLE = "arn:aws:iam::000000000000:role/MediaConvert_Default_Role"
AAC = {"Codec": "AAC", "AacSettings": {"Bitrate": 96000, "CodingMode": "CODING_MODE_2_0",
                                       "SampleRate": 48000}}


@pytest.fixture(scope="module")
def s3(server):
    c = server.client("s3")
    for b in (SRC, DST):
        c.create_bucket(Bucket=b)
    return c


def h264(width=160, extra=None):
    s = {"RateControlMode": "QVBR", "MaxBitrate": 600000, "QvbrSettings": {"QvbrQualityLevel": 7}}
    d = {"Width": width, "CodecSettings": {"Codec": "H_264", "H264Settings": s}}
    d.update(extra or {})
    return d


def mp4_output(mod, source=None, video=None, audio=True):
    o = {"NameModifier": mod, "ContainerSettings": {"Container": "MP4"},
         "VideoDescription": video or h264()}
    if audio:
        ad = {"CodecSettings": AAC}
        if source:
            ad["AudioSourceName"] = source
        o["AudioDescriptions"] = [ad]
    return o


def settings(key, name, outputs, selectors=None):
    inp = {"FileInput": f"s3://{SRC}/{key}"}
    if selectors is not None:
        inp["AudioSelectors"] = selectors
    return {"Inputs": [inp], "OutputGroups": [{
        "Name": "File Group", "OutputGroupSettings": {
            "Type": "FILE_GROUP_SETTINGS",
            "FileGroupSettings": {"Destination": f"s3://{DST}/{name}/"}},
        "Outputs": outputs}]}


def run_job(server, s, timeout=300):
    job = server.client("mediaconvert").create_job(Role=ROLE, Settings=s)["Job"]
    final, history = server.wait_job(job["Id"], timeout=timeout)
    return final, history


def fetch(s3, key, tmp_path):
    local = str(tmp_path / key.replace("/", "_"))
    s3.download_file(DST, key, local)
    return local


def tone_hz(path, seconds=1.0):
    """The frequency of the (sine) tone of the first audio stream: zero
    crossings of 1 s of mono 48 kHz samples, from the middle of the clip."""
    pcm = subprocess.run([media.FFMPEG, "-nostdin", "-v", "error", "-ss", "0.5", "-i", str(path),
                          "-map", "0:a:0", "-t", str(seconds), "-ac", "1", "-ar", "48000",
                          "-f", "s16le", "-"], check=True, capture_output=True, timeout=120).stdout
    s = array.array("h")
    s.frombytes(pcm[:len(pcm) // 2 * 2])
    crossings = sum(1 for a, b in zip(s, s[1:]) if (a < 0) != (b < 0))
    return crossings / 2 / (len(s) / 48000.0)


def make_two_tones(path, fmt=None, pids=False):
    """320x240 H.264 plus two AAC tracks: track 1 a 440 Hz tone tagged
    English, track 2 a 1000 Hz tone tagged Spanish (MPEG-TS: PIDs 0x100,
    0x101, 0x102 for video and the two tracks)."""
    extra = ["-streamid", "0:256", "-streamid", "1:257", "-streamid", "2:258"] if pids else []
    media.run_ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x240:rate=24:duration=2",
                     "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=2",
                     "-f", "lavfi", "-i", "sine=frequency=1000:sample_rate=48000:duration=2",
                     "-map", "0:v", "-map", "1:a", "-map", "2:a", "-c:v", "libx264", "-preset",
                     "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "96k",
                     "-metadata:s:a:0", "language=eng", "-metadata:s:a:1", "language=spa",
                     *extra, *(["-f", fmt] if fmt else []), "-t", "2", path)
    return path


def check_av_output(path, in_dur):
    info = media.probe(path)
    v, a = media.stream(info, "video"), media.stream(info, "audio")
    assert v and v["codec_name"] == "h264" and a and a["codec_name"] == "aac", info["streams"]
    assert abs(media.duration(info) - in_dur) <= 0.15, (media.duration(info), in_dur)
    return info


def test_audio_selectors_pick_the_named_track(server, s3, tmp_path):
    src = make_two_tones(str(tmp_path / "tones.mp4"))
    s3.upload_file(src, SRC, "tones/tones.mp4")
    selectors = {"Audio Selector 1": {"DefaultSelection": "DEFAULT"},
                 "Second": {"SelectorType": "TRACK", "Tracks": [2]},
                 "First": {"Tracks": [1]},
                 "Spanish": {"SelectorType": "LANGUAGE_CODE", "LanguageCode": "SPA"}}
    outs = [mp4_output("-default"), mp4_output("-second", "Second"),
            mp4_output("-first", "First"), mp4_output("-spanish", "Spanish")]
    final, history = run_job(server, settings("tones/tones.mp4", "tones", outs, selectors))
    assert final["Status"] == "COMPLETE", (history, final.get("ErrorMessage"))
    want = {"-default": 440, "-second": 1000, "-first": 440, "-spanish": 1000}
    got = {}
    for mod, hz in want.items():
        out = fetch(s3, f"tones/tones{mod}.mp4", tmp_path)
        check_av_output(out, 2.0)
        got[mod] = tone_hz(out)
    for mod, hz in want.items():
        assert abs(got[mod] - hz) < hz * 0.03, f"{mod}: tone {got[mod]:.0f} Hz, want {hz} Hz ({got})"


def test_hls_audio_renditions_from_two_tracks(server, s3, tmp_path):
    """An HLS group with one video rendition and one audio rendition per
    track (English = track 1, 440 Hz; Spanish = track 2, 1000 Hz): the
    master lists both with LANGUAGE and NAME, each plays its own track, and
    hls.js plays the master. LANGUAGE: LanguageCodeControl USE_CONFIGURED
    takes the configured code (DEU); the default FOLLOW_INPUT takes the
    track's tag (spa) over the configured FRA."""
    src = make_two_tones(str(tmp_path / "tones.mp4"))
    s3.upload_file(src, SRC, "langs/tones.mp4")
    selectors = {"English": {"Tracks": [1]}, "Spanish": {"Tracks": [2]}}

    def audio(mod, source, lang, name, **extra):
        return {"NameModifier": mod, "ContainerSettings": {"Container": "M3U8"},
                "AudioDescriptions": [{"AudioSourceName": source, "LanguageCode": lang,
                                       "StreamName": name, "CodecSettings": AAC, **extra}]}
    outs = [{"NameModifier": "_v", "ContainerSettings": {"Container": "M3U8"}, "VideoDescription": h264(320)},
            audio("_en", "English", "DEU", "English", LanguageCodeControl="USE_CONFIGURED"),
            audio("_es", "Spanish", "FRA", "Espanol")]
    s = {"Inputs": [{"FileInput": f"s3://{SRC}/langs/tones.mp4", "AudioSelectors": selectors}],
         "OutputGroups": [{"OutputGroupSettings": {"Type": "HLS_GROUP_SETTINGS", "HlsGroupSettings": {
             "Destination": f"s3://{DST}/langs/", "SegmentLength": 2}}, "Outputs": outs}]}
    final, history = run_job(server, s)
    assert final["Status"] == "COMPLETE", (history, final.get("ErrorMessage"))
    site = tmp_path / "site"
    site.mkdir()
    for obj in s3.list_objects_v2(Bucket=DST, Prefix="langs/")["Contents"]:
        s3.download_file(DST, obj["Key"], str(site / obj["Key"].split("/", 1)[1]))
    master = (site / "tones.m3u8").read_text()
    media_lines = [l for l in master.splitlines() if l.startswith("#EXT-X-MEDIA:")]
    assert len(media_lines) == 2, master
    assert 'NAME="English",LANGUAGE="deu"' in media_lines[0] and 'URI="tones_en.m3u8"' in media_lines[0], master
    assert 'NAME="Espanol",LANGUAGE="spa"' in media_lines[1] and 'URI="tones_es.m3u8"' in media_lines[1], master
    for mod, hz in (("_en", 440), ("_es", 1000)):
        seg = str(site / f"tones{mod}_00001.ts")
        a = media.stream(media.probe(seg), "audio")
        assert a and a["codec_name"] == "aac", a
        got = tone_hz(seg)
        assert abs(got - hz) < hz * 0.03, f"{mod}: {got:.0f} Hz, want {hz}"
    node = playback.node_or_skip()
    r = playback.play(node, site, "tones.m3u8", 1.5)
    assert r["ok"] and r["player"] == "hls.js", r


def test_dash_audio_sets_per_track(server, s3, tmp_path):
    """DASH ISO with one audio output per track: two audio AdaptationSets
    (another track is not another bitrate of the same sound), each with its
    lang and Label; dash.js plays the MPD."""
    src = make_two_tones(str(tmp_path / "tones.mp4"))
    s3.upload_file(src, SRC, "dashlang/tones.mp4")
    selectors = {"English": {"Tracks": [1]}, "Spanish": {"Tracks": [2]}}

    def audio(mod, source, lang, name):
        return {"NameModifier": mod, "ContainerSettings": {"Container": "MPD"},
                "AudioDescriptions": [{"AudioSourceName": source, "LanguageCode": lang,
                                       "StreamName": name, "CodecSettings": AAC}]}
    outs = [{"NameModifier": "_v", "ContainerSettings": {"Container": "MPD"}, "VideoDescription": h264(320)},
            audio("_en", "English", "ENG", "English"), audio("_es", "Spanish", "SPA", "Espanol")]
    s = {"Inputs": [{"FileInput": f"s3://{SRC}/dashlang/tones.mp4", "AudioSelectors": selectors}],
         "OutputGroups": [{"OutputGroupSettings": {"Type": "DASH_ISO_GROUP_SETTINGS", "DashIsoGroupSettings": {
             "Destination": f"s3://{DST}/dashlang/", "SegmentLength": 2}}, "Outputs": outs}]}
    final, history = run_job(server, s)
    assert final["Status"] == "COMPLETE", (history, final.get("ErrorMessage"))
    site = tmp_path / "site"
    site.mkdir()
    for obj in s3.list_objects_v2(Bucket=DST, Prefix="dashlang/")["Contents"]:
        s3.download_file(DST, obj["Key"], str(site / obj["Key"].split("/", 1)[1]))
    mpd = (site / "tones.mpd").read_text()
    sets = mpd.split("<AdaptationSet")[1:]
    audio_sets = [x for x in sets if 'contentType="audio"' in x]
    assert len(sets) == 3 and len(audio_sets) == 2, mpd
    assert 'lang="eng"' in audio_sets[0] and "<Label>English</Label>" in audio_sets[0], mpd
    assert 'lang="spa"' in audio_sets[1] and "<Label>Espanol</Label>" in audio_sets[1], mpd
    for mod, hz in (("_en", 440), ("_es", 1000)):
        joined = tmp_path / f"{mod}.mp4"
        joined.write_bytes((site / f"tones{mod}init.mp4").read_bytes() +
                           (site / f"tones{mod}_000000001.mp4").read_bytes())
        got = tone_hz(str(joined))
        assert abs(got - hz) < hz * 0.03, f"{mod}: {got:.0f} Hz, want {hz}"
    node = playback.node_or_skip()
    r = playback.play(node, site, "tones.mpd", 1.5)
    assert r["ok"] and r["player"] == "dash.js", r


def test_audio_selector_pids_in_mpeg_ts(server, s3, tmp_path):
    src = make_two_tones(str(tmp_path / "tones.ts"), fmt="mpegts", pids=True)
    s3.upload_file(src, SRC, "tspid/tones.ts")
    selectors = {"Audio Selector 1": {"SelectorType": "PID", "Pids": [258]}}
    final, history = run_job(server, settings("tspid/tones.ts", "tspid", [mp4_output("-pid")],
                                              selectors))
    assert final["Status"] == "COMPLETE", (history, final.get("ErrorMessage"))
    out = fetch(s3, "tspid/tones-pid.mp4", tmp_path)
    check_av_output(out, 2.0)
    hz = tone_hz(out)
    assert abs(hz - 1000) < 30, f"PID 258 is the 1000 Hz track; the output plays {hz:.0f} Hz"


def test_audio_selector_track_missing_fails_the_job(server, s3, tmp_path):
    src = make_two_tones(str(tmp_path / "tones.mp4"))
    s3.upload_file(src, SRC, "missing/tones.mp4")
    selectors = {"Audio Selector 1": {"Tracks": [3]}}
    final, _ = run_job(server, settings("missing/tones.mp4", "missing", [mp4_output("-x")], selectors))
    assert final["Status"] == "ERROR", final
    assert final["ErrorCode"] == 1021 and "track 3" in final["ErrorMessage"], final
    assert "2 audio tracks" in final["ErrorMessage"], final
    assert server.alive()


@pytest.mark.parametrize("selector,path_part,text", [
    ({"Tracks": [1, 2]}, 'audioSelectors["Audio Selector 1"].tracks', "at most one"),
    ({"SelectorType": "TRACK"}, 'audioSelectors["Audio Selector 1"].tracks', "required"),
    ({"SelectorType": "PID", "Tracks": [1]}, 'audioSelectors["Audio Selector 1"].pids', "required"),
    ({"Tracks": [1], "Offset": 200}, 'audioSelectors["Audio Selector 1"].offset', "supported: 0"),
    ({"SelectorType": "HLS_RENDITION_GROUP"}, 'audioSelectors["Audio Selector 1"].selectorType',
     "TRACK|PID|LANGUAGE_CODE"),
])
def test_audio_selector_bad_values_name_the_field(server, selector, path_part, text):
    s = settings("any/in.mp4", "bad", [mp4_output("-x")], {"Audio Selector 1": selector})
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        server.client("mediaconvert").create_job(Role=ROLE, Settings=s)
    msg = ei.value.response["Error"]["Message"]
    assert ei.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400, msg
    assert f"settings.inputs[0].{path_part}" in msg and text in msg, msg


def test_more_audio_sources_than_supported_is_refused(server):
    sel = {f"S{i}": {"Tracks": [1]} for i in range(5)}
    outs = [mp4_output(f"-{i}", f"S{i}") for i in range(5)]
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        server.client("mediaconvert").create_job(Role=ROLE, Settings=settings("any/in.mp4", "bad",
                                                                               outs, sel))
    msg = ei.value.response["Error"]["Message"]
    assert "outputs[4].audioDescriptions[0].audioSourceName" in msg and "at most 4" in msg, msg


def test_interlaced_input_comes_out_progressive(server, s3, tmp_path):
    """MPEG-2 in TS, real interlaced pictures (50 fps weaved into 25 fps
    top-field-first frames), flagged interlaced: the output is deinterlaced
    without any Deinterlacer setting (idet finds no combing; ffprobe says
    progressive) and keeps 25 fps."""
    src = str(tmp_path / "inter.ts")
    media.make_media(src, rate=50, sample_rate=48000, vf="tinterlace=mode=interleave_top,setfield=tff",
                     video=("mpeg2video", "-flags", "+ilme+ildct", "-top", "1", "-b:v", "2M"),
                     audio=("ac3",))
    vin = media.stream(media.probe(src), "video")
    assert vin.get("field_order") in ("tt", "tb"), vin
    tff, bff, _ = media.idet(src)
    assert tff + bff > 0, "the input is not interlaced"
    s3.upload_file(src, SRC, "inter/inter.ts")
    final, history = run_job(server, settings("inter/inter.ts", "inter",
                                              [mp4_output("-p", video=h264(320))]))
    assert final["Status"] == "COMPLETE", (history, final.get("ErrorMessage"))
    out = fetch(s3, "inter/inter-p.mp4", tmp_path)
    info = check_av_output(out, 2.0)
    v = media.stream(info, "video")
    assert v.get("field_order", "progressive") == "progressive", v
    assert v["avg_frame_rate"] == "25/1", v
    # (idet: the input is all TFF; ffmpeg's own bwdif leaves 5 of 50 "TFF")
    tff, bff, prog = media.idet(out)
    assert prog > 4 * (tff + bff), (tff, bff, prog)


def test_deinterlacer_setting_through_the_api(server, s3, tmp_path):
    """An explicit VideoPreprocessors.Deinterlacer passes the API's model
    check (regression: the model refused videoPreprocessors outright) and
    gives a progressive output; a bad member answers 400 naming it."""
    src = str(tmp_path / "inter2.ts")
    media.make_media(src, rate=50, sample_rate=48000, vf="tinterlace=mode=interleave_top,setfield=tff",
                     video=("mpeg2video", "-flags", "+ilme+ildct", "-top", "1", "-b:v", "2M"),
                     audio=("ac3",))
    s3.upload_file(src, SRC, "inter2/inter2.ts")
    vd = h264(320)
    vd["VideoPreprocessors"] = {"Deinterlacer": {"Algorithm": "BLEND", "Mode": "DEINTERLACE",
                                                 "Control": "FORCE_ALL_FRAMES"}}
    final, history = run_job(server, settings("inter2/inter2.ts", "inter2",
                                              [mp4_output("-b", video=vd)]))
    assert final["Status"] == "COMPLETE", (history, final.get("ErrorMessage"))
    out = fetch(s3, "inter2/inter2-b.mp4", tmp_path)
    v = media.stream(check_av_output(out, 2.0), "video")
    assert v.get("field_order", "progressive") == "progressive", v
    bad = h264(320)
    bad["VideoPreprocessors"] = {"Deinterlacer": {"Algorithm": "NOPE"}}
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        server.client("mediaconvert").create_job(
            Role=ROLE, Settings=settings("inter2/inter2.ts", "inter2", [mp4_output("-x", video=bad)]))
    msg = ei.value.response["Error"]["Message"]
    assert "algorithm" in msg.lower() and "NOPE" in msg, msg


def make_vfr(path):
    """2 s at 30 fps then 2 s at 10 fps in one MP4 (variable frame rate,
    timestamps kept), with 4 s of sound."""
    media.run_ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30:duration=2",
                     "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=10:duration=2",
                     "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=4",
                     "-filter_complex", "[0:v][1:v]concat=n=2:v=1:a=0[v]",
                     "-map", "[v]", "-map", "2:a", "-fps_mode", "vfr", "-c:v", "libx264",
                     "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", path)
    return path


def video_frames_and_duration(path):
    out = subprocess.run([media.FFPROBE, "-v", "error", "-count_frames", "-show_entries",
                          "stream=codec_type,nb_read_frames,duration,avg_frame_rate,r_frame_rate",
                          "-of", "json", str(path)], check=True, capture_output=True,
                         timeout=120).stdout
    streams = json.loads(out)["streams"]
    v = next(s for s in streams if s["codec_type"] == "video")
    a = next((s for s in streams if s["codec_type"] == "audio"), None)
    return v, a


@pytest.mark.parametrize("mod,rate", [("-source", None), ("-25fps", (25, 1))])
def test_variable_frame_rate_to_constant(server, s3, tmp_path, mod, rate):
    """Output at the input's nominal rate (INITIALIZE_FROM_SOURCE) or the
    SPECIFIED one: every frame lasts the same, frames = duration x rate,
    picture and sound each last as long as the input's (its video ends at
    3.9 s: the last frame has no duration, and like the ffmpeg CLI the
    engine ends the picture there)."""
    src = make_vfr(str(tmp_path / "vfr.mp4"))
    vin, ain = video_frames_and_duration(src)
    assert len(set(media.frame_durations(src))) > 1, "the input is not variable-frame-rate"
    key = f"vfr{mod}/vfr.mp4"
    s3.upload_file(src, SRC, key)
    extra = {}
    if rate:
        extra = {"FramerateControl": "SPECIFIED", "FramerateNumerator": rate[0],
                 "FramerateDenominator": rate[1], "FramerateConversionAlgorithm": "DUPLICATE_DROP"}
    vd = h264(320)
    vd["CodecSettings"]["H264Settings"].update(extra)
    final, history = run_job(server, settings(key, f"vfr{mod}", [mp4_output(mod, video=vd)]))
    assert final["Status"] == "COMPLETE", (history, final.get("ErrorMessage"))
    out = fetch(s3, f"vfr{mod}/vfr{mod}.mp4", tmp_path)
    check_av_output(out, 4.0)
    v, a = video_frames_and_duration(out)
    want = f"{rate[0]}/{rate[1]}" if rate else vin["r_frame_rate"]
    assert v["avg_frame_rate"] == want, (v, vin)
    assert len(set(media.frame_durations(out))) == 1, sorted(set(media.frame_durations(out)))
    num, den = (int(x) for x in want.split("/"))
    fps = num / den
    frames, vdur = int(v["nb_read_frames"]), float(v["duration"])
    assert abs(frames - vdur * fps) <= 1, (frames, vdur * fps, v)
    assert abs(vdur - float(vin["duration"])) <= 0.1, (v, vin)
    assert abs(float(a["duration"]) - float(ain["duration"])) <= 0.1, ("sound out of sync", a, ain)


def make_vfr_flash(path):
    """Black video, 2 s at 30 fps then 2 s at 10 fps (VFR), white from 3.0 to
    3.2 s; silence with a 1 kHz beep from 3.0 to 3.2 s."""
    media.run_ffmpeg("-f", "lavfi", "-i", "color=black:size=160x120:rate=30:duration=2",
                     "-f", "lavfi", "-i", "color=black:size=160x120:rate=10:duration=2",
                     "-f", "lavfi", "-i", "sine=frequency=1000:sample_rate=48000:duration=4",
                     "-filter_complex",
                     "[0:v][1:v]concat=n=2:v=1:a=0,lutyuv=y=235:enable='between(t,3,3.19)'[v];"
                     "[2:a]volume=0:enable='not(between(t,3,3.2))'[a]",
                     "-map", "[v]", "-map", "[a]", "-fps_mode", "vfr", "-c:v", "libx264",
                     "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "128k", path)
    return path


def flash_time(path):
    out = subprocess.run([media.FFPROBE, "-v", "error", "-f", "lavfi", "-i", f"movie={path},signalstats",
                          "-show_entries", "frame=pts_time:frame_tags=lavfi.signalstats.YAVG",
                          "-of", "csv=p=0"], check=True, capture_output=True, text=True,
                         timeout=120).stdout
    for line in out.splitlines():
        t, y = line.split(",")[:2]
        if float(y) > 128:
            return float(t)
    raise AssertionError(f"no white frame in {path}")


def beep_time(path):
    info = media.probe(path)
    start = float(media.stream(info, "audio").get("start_time", 0))
    pcm = subprocess.run([media.FFMPEG, "-nostdin", "-v", "error", "-i", str(path), "-map", "0:a:0",
                          "-ac", "1", "-ar", "48000", "-f", "s16le", "-"], check=True,
                         capture_output=True, timeout=120).stdout
    s = array.array("h")
    s.frombytes(pcm[:len(pcm) // 2 * 2])
    return start + next(i for i, x in enumerate(s) if abs(x) > 1000) / 48000.0


def test_variable_frame_rate_keeps_picture_and_sound_in_sync(server, s3, tmp_path):
    """A flash and a beep at 3.0 s, in the 10 fps part of a VFR input: in
    the constant-rate output they are still together (within a frame)."""
    src = make_vfr_flash(str(tmp_path / "flash.mp4"))
    assert abs(flash_time(src) - beep_time(src)) < 0.03, (flash_time(src), beep_time(src))
    s3.upload_file(src, SRC, "flash/flash.mp4")
    final, history = run_job(server, settings("flash/flash.mp4", "flash", [mp4_output("-cfr")]))
    assert final["Status"] == "COMPLETE", (history, final.get("ErrorMessage"))
    out = fetch(s3, "flash/flash-cfr.mp4", tmp_path)
    check_av_output(out, 4.0)
    assert len(set(media.frame_durations(out))) == 1, sorted(set(media.frame_durations(out)))
    f, b = flash_time(out), beep_time(out)
    assert abs(f - 3.0) < 0.05 and abs(b - 3.0) < 0.05 and abs(f - b) <= 1 / 30 + 0.01, (f, b)
