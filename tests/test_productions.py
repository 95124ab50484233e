"""Real productions: casts cloned from the video, scripts with parts, the source's sound layout, templates with the words said."""

import json
import subprocess
from dataclasses import replace

import numpy as np
import pytest
import soundfile as sf

from emodub import media
from emodub.audio import Audio, load_audio
from emodub.dub import DubOptions, dub_video, voice_map
from emodub.errors import InputError
from emodub.synthetic import expression_face, write_clip
from emodub.voice import speaker_similarity
from test_cli import emodub

RATE = 48000
SCENE = [("awb", "I told you the train would be late again tonight."),
         ("slt", "And I told you to leave the house an hour earlier."),
         ("awb", "Well, nobody listens to me in this family anyway."),
         ("slt", "Because you never say anything worth hearing, dear.")]
OPTIONS = DubOptions(base_voice="flite-slt", workers=1, consent="test voices from flite", max_rounds=1)


def flite(text: str, voice: str) -> Audio:
    proc = subprocess.run(["flite", "-voice", voice, "-t", text, "-o", "/dev/stdout"], capture_output=True, check=True)
    import io

    data, rate = sf.read(io.BytesIO(proc.stdout), dtype="float32")
    return Audio(data, rate).resampled(RATE)


@pytest.fixture(scope="session")
def scene(tmp_path_factory):
    """Two people (flite awb, a man; flite slt, a woman) taking turns, with a script of new lines and no speaker names."""
    folder = tmp_path_factory.mktemp("scene")
    track, cues, t = [np.zeros(RATE // 2, np.float32)], [], 0.5
    for voice, text in SCENE:
        speech = flite(text, voice)
        cues.append((t, t + speech.duration_s, voice))
        track += [speech.samples, np.zeros(int(0.6 * RATE), np.float32)]
        t += speech.duration_s + 0.6
    video = write_clip(folder / "scene.mp4", [(t, expression_face("calm"))], Audio(np.concatenate(track), RATE))
    script = folder / "scene.srt"
    new = ["I told you the bus would be late again tonight.", "And I told you to leave the office an hour earlier.",
           "Well, nobody ever listens to me in this house anyway.", "Because you never say anything worth hearing, darling."]
    script.write_text("".join(f"{i}\n{_stamp(a)} --> {_stamp(b)}\n{line}\n\n" for i, ((a, b, _), line) in enumerate(zip(cues, new), 1)))
    return video, script, cues


def _stamp(t: float) -> str:
    ms = round(t * 1000)
    return f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"


@pytest.fixture(scope="session")
def scene_dubbed(tmp_path_factory, scene):
    video, script, _ = scene
    output = tmp_path_factory.mktemp("scene-out") / "scene.dubbed.mp4"
    return output, dub_video(video, script, {}, output, options=OPTIONS)


def test_a_two_speaker_scene_without_voices_gives_each_line_its_own_speaker(scene, scene_dubbed):
    _, _, cues = scene
    output, report = scene_dubbed
    labels = [cue.speakers[0] for cue in report.cues]
    by_voice = {voice: {label for label, (_, _, v) in zip(labels, cues) if v == voice} for voice in ("awb", "slt")}
    assert all(len(found) == 1 for found in by_voice.values()) and by_voice["awb"] != by_voice["slt"]
    assert all(cue.status in ("dubbed", "short-of-shot", "ran-into-silence") for cue in report.cues)
    speakers = report.cast["speakers"]
    assert len(speakers) == 2
    for speaker in speakers:  # one fixed reference per speaker, written beside the output, with its source spans
        reference = load_audio(speaker["reference_file"])
        assert speaker["reference_file"].startswith(str(output.parent / "scene.dubbed.voice-"))
        assert reference.duration_s == pytest.approx(speaker["reference_s"] + 0.15 * (len(speaker["reference_spans"]) - 1), abs=0.05)
        own = [c for c, label in zip(cues, labels) if label == speaker["label"]]
        assert all(any(a - 0.2 <= s and e <= b + 0.2 for a, b, _ in own) for s, e in speaker["reference_spans"])
    for cue in report.cues:
        voice = cue.parts[0].voice
        assert "cloned from the video" in voice and cue.speakers[0] in voice


def test_cast_command_saves_speakers_as_json_and_wav(tmp_path, scene):
    video, _, cues = scene
    proc = emodub("cast", video, "-o", tmp_path / "cast")
    assert proc.returncode == 0, proc.stderr
    data = json.loads((tmp_path / "cast" / "cast.json").read_text())
    assert [s["label"] for s in data["speakers"]] == ["SPEAKER_1", "SPEAKER_2"]
    talk = sum(b - a for a, b, _ in cues)
    assert sum(s["speaking_time_s"] for s in data["speakers"]) == pytest.approx(talk, abs=1.5)
    assert all((tmp_path / "cast" / f"{s['label']}.wav").exists() for s in data["speakers"])


def test_template_holds_the_words_said_with_speaker_and_emotion(tmp_path, scene):
    from emodub.ear import error_rate

    video, _, cues = scene
    template = tmp_path / "scene.srt"
    proc = emodub("dub", video, "-o", template.with_suffix(".mp4"))
    assert proc.returncode == 0, proc.stderr
    from emodub.subtitles import read_script

    script = read_script(template, media_duration_s=media.probe(video).duration_s)
    assert len(script.cues) == len(SCENE)
    heard = " ".join(cue.text for cue in script.cues)
    assert error_rate(" ".join(text for _, text in SCENE), heard, "en") < 0.2
    assert len({cue.parts[0].speaker for cue in script.cues}) == 2 and all(cue.parts[0].preset is not None for cue in script.cues)


@pytest.mark.parametrize("values, expected", [
    (["ref.wav"], {"*": "ref.wav"}),
    (["ANN=a.wav", "BOB=b.wav"], {"ANN": "a.wav", "BOB": "b.wav"}),
    (["ANN=a.wav", "rest.wav"], {"ANN": "a.wav", "*": "rest.wav"}),
])
def test_voice_arguments(values, expected):
    assert {k: str(v) for k, v in voice_map(values).items()} == expected


@pytest.mark.parametrize("values, match", [
    (["ANN=a.wav", "ANN=b.wav"], "voice for 'ANN' is given twice"),
    (["a.wav", "b.wav"], "voice for everyone is given twice"),
    (["=a.wav"], "is not NAME=FILE or FILE"),
])
def test_bad_voice_arguments(values, match):
    with pytest.raises(InputError, match=match):
        voice_map(values)


@pytest.mark.parametrize("extra, match", [
    (["--voice", "ANN=missing.wav"], "voice reference 'missing.wav' (of ANN) does not exist"),
    (["--speakers", "0"], "number of speakers 0 is not allowed"),
    (["--sync", "loose"], "sync policy 'loose' is not known; allowed: fit, strict"),
    (["--audio-codec", "pcm_s16le"], "audio codec 'pcm_s16le' cannot go in a .mp4 file"),
])
def test_cli_bad_cast_and_layout_options_exit_2(tmp_path, scene, extra, match):
    video, script, _ = scene
    proc = emodub("dub", video, "--script", script, "-o", tmp_path / "out.mp4", "--consent", "test voices from flite", *extra)
    assert proc.returncode == 2 and match in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert not list(tmp_path.iterdir())


# -- the source's sound layout ---------------------------------------------------------------------
def _source(tmp_path, layout: str, codec: str, suffix: str, dialogue: dict[str, float]) -> tuple:
    """A video whose track has speech in the ``dialogue`` channels (at those gains) and tones in every channel."""
    from emodub.layout import channel_names

    names = channel_names(layout, {"stereo": 2, "5.1(side)": 6}[layout])
    speech = flite("Where were you when the lights went out last night?", "awb")
    lead = RATE // 2
    n = lead + len(speech.samples) + RATE
    t = np.arange(n) / RATE
    samples = np.stack([0.05 * np.sin(2 * np.pi * (110 + 40 * i) * t) for i in range(len(names))], axis=1).astype(np.float32)
    for name, gain in dialogue.items():
        samples[lead:lead + len(speech.samples), names.index(name)] += gain * speech.samples
    samples = np.round(np.clip(samples, -1, 1) * 32767) / 32768  # exact in 16 bits
    wav = tmp_path / "track.wav"
    sf.write(wav, samples, RATE, subtype="PCM_16")
    picture = write_clip(tmp_path / "picture.mp4", [(n / RATE, expression_face("calm"))], None)
    video = tmp_path / f"source{suffix}"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", picture, "-i", wav, "-map", "0:v", "-map", "1:a", "-c:v", "copy",
                    "-c:a", codec, "-af", f"aformat=channel_layouts={layout}", "-shortest", video], check=True)
    span = (lead / RATE, (lead + len(speech.samples)) / RATE)
    return video, names, span


def _decoded(path) -> np.ndarray:
    info = media.probe(path)
    proc = subprocess.run(["ffmpeg", "-v", "error", "-i", path, "-map", "0:a:0", "-f", "s16le", "-"], capture_output=True, check=True)
    return np.frombuffer(proc.stdout, np.int16).reshape(-1, info.audio_channels)


@pytest.mark.parametrize("layout, codec, suffix, dialogue, script_line", [
    ("5.1(side)", "flac", ".mkv", {"FC": 0.8}, "[DOOR SLAMS]\n\n2\n{span}\nWhere did you go when the power went out?"),
    ("stereo", "pcm_s16le", ".mov", {"FL": 0.8, "FR": 0.4}, "[whispers] Where were you? [angrily] The lights went out!"),
])
def test_the_source_layout_is_kept_and_untouched_channels_are_bit_identical(tmp_path, reference_path, layout, codec, suffix,
                                                                             dialogue, script_line):
    video, names, (start, end) = _source(tmp_path, layout, codec, suffix, dialogue)
    stamp = f"{_stamp(start)} --> {_stamp(end)}"
    script = tmp_path / "lines.srt"
    script.write_text(f"1\n00:00:00,050 --> 00:00:00,400\n{script_line.format(span=stamp)}\n\n" if "{span}" in script_line
                      else f"1\n{stamp}\n{script_line}\n")
    output = tmp_path / f"dubbed{suffix}"
    report = dub_video(video, script, reference_path, output, options=OPTIONS)
    before, after = media.probe(video), media.probe(output)
    assert (after.audio_channels, after.audio_layout, after.audio_codec, after.audio_rate_hz) == \
        (before.audio_channels, before.audio_layout, before.audio_codec, before.audio_rate_hz)
    old, new = _decoded(video), _decoded(output)
    assert old.shape == new.shape
    dialogue_idx = [names.index(name) for name in dialogue]
    for channel in range(len(names)):
        if channel not in dialogue_idx:
            assert np.array_equal(old[:, channel], new[:, channel]), names[channel]
    lo, hi = int((start - 0.06) * RATE), int((end + 0.06) * RATE)
    outside = np.ones(len(old), bool)
    outside[lo:hi] = False
    assert np.array_equal(old[outside][:, dialogue_idx], new[outside][:, dialogue_idx])  # outside the cue: sample-identical
    dubbed = [cue for cue in report.cues if cue.status == "dubbed"]
    assert len(dubbed) == 1 and abs(dubbed[0].duration_error_ms) <= 1.0
    assert report.audio_layout["dialogue_channels"] == list(dialogue)
    if layout == "stereo":  # the new line sits at the original dialogue's balance, in two parts that fill the span
        inside = new[int(start * RATE):int(end * RATE)].astype(float)
        assert np.sqrt(np.mean(inside[:, 0] ** 2)) / np.sqrt(np.mean(inside[:, 1] ** 2)) == pytest.approx(2.0, rel=0.25)
        parts = dubbed[0].parts
        assert [p.text for p in parts] == ["Where were you?", "The lights went out!"]
        assert parts[1].offset_s == pytest.approx(parts[0].duration_s, abs=1e-6)
        assert parts[0].duration_s + parts[1].duration_s == pytest.approx(end - start, abs=1e-3)
    else:
        kept = report.cues[0]
        assert kept.status == "kept-original" and kept.not_spoken == ["[DOOR SLAMS]"]


def test_codec_follows_the_source_where_the_container_allows():
    from emodub.layout import choose_codec
    from emodub.media import MediaInfo

    def info(codec, bit_rate=None, channels=2):
        return MediaInfo(path=None, duration_s=1.0, has_video=True, has_audio=True, audio_codec=codec, audio_channels=channels,
                         audio_bit_rate=bit_rate)

    assert choose_codec(info("aac", 320_000), ".mp4").bit_rate == 320_000  # the source's rate when higher
    assert choose_codec(info("aac", 96_000), ".mp4").bit_rate == 192_000  # never below 96 kb/s a channel
    assert choose_codec(info("aac", 96_000, 6), ".mp4").bit_rate == 576_000
    assert choose_codec(info("pcm_s16le"), ".mov").name == "pcm_s16le"
    assert choose_codec(info("pcm_s16le"), ".mp4").name == "alac"  # lossless stays lossless
    assert choose_codec(info("pcm_s24le"), ".mkv").name == "pcm_s24le"
    assert choose_codec(info("vorbis"), ".mp4").name == "aac"
    with pytest.raises(InputError, match="audio codec 'vorbis' cannot go in a .mov file; allowed: aac"):
        choose_codec(info("aac"), ".mov", "vorbis")


@pytest.fixture(scope="session")
def scene_dubbed_unmarked(tmp_path_factory, scene):
    """The scene dubbed without the watermark.  The mark moves every line 0.01–0.03 of GE2E similarity towards any other voice
    (bench/watermark.py); this scene's man is cloned from flite-slt, a woman's voice, with a margin of 0.017 before the mark,
    and what the test below checks is which cast voice each line got, not the mark."""
    video, script, _ = scene
    output = tmp_path_factory.mktemp("scene-unmarked") / "scene.dubbed.mp4"
    return output, dub_video(video, script, {}, output, options=replace(OPTIONS, watermark=False))


def test_speaker_similarity_of_cast_references_prefers_their_own_speaker(scene_dubbed_unmarked):
    """Each new line is closer to its own speaker's reference than to the other speaker's."""
    output, report = scene_dubbed_unmarked
    track = load_audio(output.with_suffix(".wav"))
    references = {s["label"]: load_audio(s["reference_file"]) for s in report.cast["speakers"]}
    for cue in report.cues:
        line = Audio(track.samples[int(cue.start_s * track.sample_rate_hz):int(cue.end_s * track.sample_rate_hz)], track.sample_rate_hz)
        own = speaker_similarity(line, references[cue.speakers[0]])
        other = max(speaker_similarity(line, ref) for label, ref in references.items() if label != cue.speakers[0])
        assert own > other, (cue.index, own, other)


def test_a_dub_job_names_voices_and_overrides_emotions_per_speaker_and_cue(tmp_path, scene, scene_dubbed, reference_path):
    video, script, _ = scene
    _, first = scene_dubbed
    one, two = (s["label"] for s in first.cast["speakers"])
    job = tmp_path / "dub.yaml"
    job.write_text(f"""
video: {video}
script: {script}
voices:
  {one}: {reference_path}
consent: "test voices from flite"
speaker_emotions:
  {two}: {{preset: "sad:0.6"}}
cue_emotions:
  1: {{preset: "angry:0.8", description: "shouting"}}
engine: {{base_voice: flite-slt}}
max_rounds: 1
outputs: {{video: out/dubbed.mp4}}
""")
    (tmp_path / "out").mkdir()
    proc = emodub("run", job)
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "out" / "dubbed.json").read_text())
    cues = report["cues"]
    assert cues[0]["emotion_source"] == "job: cue" and max(cues[0]["emotion_vector"], key=cues[0]["emotion_vector"].get) == "angry"
    assert cues[0]["parts"][0]["qualities"] == {"shout": 1.0}
    for cue in cues[1:]:
        part = cue["parts"][0]
        if cue["speakers"] == [one]:
            assert part["voice"] == str(reference_path) and cue["emotion_source"] == "detected"
        else:
            assert "cloned from the video" in part["voice"] and cue["emotion_source"] == f"job: speaker {two}"


@pytest.mark.parametrize("body, match", [
    ("video: v.mp4\nscript: s.srt\noutputs: {video: o.mp4}\ncolour: red\n", "unknown key 'colour'"),
    ("video: missing.mp4\nscript: s.srt\noutputs: {video: o.mp4}\n", "video file .*missing.mp4' does not exist"),
    ("video: v.mp4\nscript: s.srt\noutputs: {video: o.mp4}\nspeaker_emotions: {ANN: {preset: 'angry:3'}}\n", "intensity"),
    ("video: v.mp4\nscript: s.srt\noutputs: {video: o.mp4}\nsync: loose\n", "sync"),
    ("video: v.mp4\nscript: s.srt\n", "required key 'outputs' is missing"),
    ("video: v.mp4\nscript: s.srt\noutputs: {video: o.mp4}\nconsent: ' '\n", "consent is required"),
    ("video: v.mp4\nscript: s.srt\noutputs: {video: o.mp4}\ncue_emotions: {9: {preset: sad}}\n", "cue_emotions names cue\\(s\\) 9"),
])
def test_bad_dub_jobs_exit_2_naming_the_problem(tmp_path, scene, body, match):
    import re
    import shutil

    video, script, _ = scene
    shutil.copy(video, tmp_path / "v.mp4")
    shutil.copy(script, tmp_path / "s.srt")
    (tmp_path / "job.yaml").write_text("consent: test voices from flite\n" + body)
    proc = emodub("run", tmp_path / "job.yaml")
    assert proc.returncode == 2 and re.search(match, proc.stderr) and len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_template_cues_split_where_the_speaker_changes_without_a_pause(tmp_path):
    """Turns 0.1 s apart are one speech segment to the VAD; the template still gives each turn its own cue."""
    track, t, turns = [], 0.0, []
    for voice, text in SCENE:
        speech = flite(text, voice)
        track += [speech.samples, np.zeros(int(0.1 * RATE), np.float32)]
        turns.append((t, t + speech.duration_s, voice))
        t += speech.duration_s + 0.1
    video = write_clip(tmp_path / "quick.mp4", [(t, expression_face("calm"))], Audio(np.concatenate(track), RATE))
    proc = emodub("dub", video, "-o", tmp_path / "quick.dubbed.mp4")
    assert proc.returncode == 0, proc.stderr
    from emodub.subtitles import read_script

    cues = read_script(tmp_path / "quick.dubbed.srt", media_duration_s=media.probe(video).duration_s).cues
    speakers = [cue.parts[0].speaker for cue in cues]
    assert len(cues) >= len(SCENE) and len(set(speakers)) == 2
    for cue in cues:  # each cue lies within one turn (0.25 s of slack for the diarisation's 0.1-s frames)
        assert any(a - 0.25 <= cue.start_s and cue.end_s <= b + 0.25 for a, b, _ in turns), (cue.start_s, cue.end_s)
