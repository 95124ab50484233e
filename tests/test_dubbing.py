"""emodub dub end to end on a generated two-shot video, plus the mixing, script and sync-policy rules."""

import json
import os
import pickle
import shutil
from dataclasses import replace

import numpy as np
import pysubs2
import pytest

from emodub import media
from emodub.audio import Audio, load_audio
from emodub.dub import CueEdit, DubOptions, DubSession, dub_video, redub_cue
from emodub.emotion.space import EmotionVector
from emodub.engines.base import SynthesisRequest, get_engine
from emodub.errors import InputError
from emodub.subtitles import read_script, template_cues, write_srt
from emodub.synthetic import expression_face, write_clip
from test_cli import emodub

RATE = 48000
LEAD_S, GAP_S = 0.5, 1.0
ORIGINAL = {"happy": "We won, we actually won the whole thing!", "sad": "I waited for you all night, and you never came."}
NEW = {"happy": "This is the best day of my life, my friend!",
       "sad": "You left me alone out there in the dark again, all night long."}
OPTIONS = DubOptions(base_voice="flite-slt", workers=1, consent="test voices from flite")


@pytest.fixture(scope="session")
def shots(tmp_path_factory, reference):
    """A video: a happy face speaking, then a sad face speaking; and an SRT whose cues cover the speech."""
    folder = tmp_path_factory.mktemp("dub")
    engine = get_engine("builtin")
    track, faces, cues, t = [np.zeros(int(LEAD_S * RATE), np.float32)], [], [], LEAD_S
    for emotion, text in ORIGINAL.items():
        speech = engine.synthesize(SynthesisRequest(text=text, speaker_reference=reference, base_voice="flite-awb",
                                                    emotion=EmotionVector.preset(emotion))).audio.resampled(RATE)
        cues.append((t, t + speech.duration_s, NEW[emotion]))
        track += [speech.samples, np.zeros(int(GAP_S * RATE), np.float32)]
        shot_s = speech.duration_s + GAP_S + (LEAD_S if emotion == "happy" else 0.0)
        faces.append((shot_s, expression_face(emotion)))
        t += speech.duration_s + GAP_S
    video = write_clip(folder / "shots.mp4", faces, Audio(np.concatenate(track), RATE))
    script = folder / "shots.srt"
    write_srt(cues, script)
    return video, script, cues


@pytest.fixture(scope="session")
def dubbed(tmp_path_factory, shots, reference_path):
    video, script, _ = shots
    output = tmp_path_factory.mktemp("out") / "dubbed.mp4"
    report = dub_video(video, script, reference_path, output, options=OPTIONS, session_path=output.with_suffix(".session"))
    return output, report


# -- the end-to-end run ----------------------------------------------------------------------------
def test_dubbed_video_has_the_original_picture_and_a_new_track(shots, dubbed):
    video, _, _ = shots
    output, report = dubbed
    before, after = media.probe(video), media.probe(output)
    assert (after.has_video, after.has_audio, after.n_streams) == (True, True, 2)
    assert (after.video_codec, after.audio_codec) == ("h264", "aac")
    assert after.duration_s == pytest.approx(before.duration_s, abs=0.05)
    assert media.video_stream_md5(output) == media.video_stream_md5(video)
    assert all(output.with_suffix(s).exists() for s in (".wav", ".srt", ".json"))
    assert [c.status for c in report.cues] == ["dubbed", "dubbed"]


def test_cues_land_exactly_and_detect_the_original_emotion(dubbed):
    _, report = dubbed
    for cue, expected in zip(report.cues, ("happy", "sad")):
        assert abs(cue.duration_error_ms) <= 1.0 and abs(cue.start_error_ms) <= 1000 / RATE
        assert cue.detected["face"]["dominant"] == expected
        assert cue.emotion_source == "detected" and cue.emotion_vector is not None
        assert cue.speaker_similarity is not None and cue.description["en"] and cue.description["zh"]
        assert cue.intelligibility["recogniser"].startswith("whisper") and cue.verification_rounds >= 1  # every cue is heard


def test_track_outside_the_cues_is_unchanged_and_inside_is_new(shots, dubbed):
    video, _, cues = shots
    output, _ = dubbed
    original = media.extract_audio(video, sample_rate_hz=RATE).samples
    new = load_audio(output.with_suffix(".wav")).samples
    assert len(new) == len(original)
    outside = np.ones(len(original), bool)
    for start, end, _ in cues:
        lo, hi = int((start - 0.06) * RATE), int((end + 0.06) * RATE)
        outside[lo:hi] = False
        span_old, span_new = original[lo:hi], new[lo:hi]
        assert np.sqrt(np.mean(span_new**2)) > 0.01  # speech is there
        assert abs(np.corrcoef(span_old, span_new)[0, 1]) < 0.5  # and it is not the old speech
    assert np.max(np.abs(new[outside] - original[outside])) < 2e-4  # 16-bit rounding only


def test_report_and_provenance(dubbed):
    output, _ = dubbed
    data = json.loads(output.with_suffix(".json").read_text())
    assert data["consent"] == "test voices from flite" and "SYNTHETIC" in data["provenance"]["comment"]
    assert {"recognise", "synthesise", "mix", "total"} <= set(data["timings_s"])
    assert data["watermark"]["applied"] is True and "PerTh" in data["watermark"]["method"]
    assert {"flite", "world", "ge2e", "whisper-base", "distillmos", "fer", "perth"} <= {m["key"] for m in data["models"]}
    assert all(m["licence"] and isinstance(m["commercial"], bool) for m in data["models"])
    assert list(data["voice_sha256"]) == ["*"] and len(data["voice_sha256"]["*"]) == 64
    tags = media.probe(output).tags  # the video's container carries the same disclosure
    assert "Watermark: PerTh" in tags["comment"] and "test voices from flite" in tags["comment"]
    assert data["voice_sha256"]["*"][:16] in tags["comment"] and "FER2013" in tags["copyright"]


def test_every_new_line_carries_the_watermark_and_the_untouched_track_does_not(shots, dubbed):
    from emodub import watermark

    video, _, cues = shots
    output, _ = dubbed
    for path in (output, output.with_suffix(".wav")):  # the AAC video and the 24-bit WAV
        found = watermark.detect_file(watermark.check_detectable(path)).detection
        assert found.found and found.confidence >= 0.9, (path, found)
    assert not watermark.detect_file(watermark.check_detectable(video)).detection.found  # the original is not marked


def test_redubbing_one_cue_changes_only_that_cue(tmp_path, shots, dubbed):
    """The studio's regenerate: cue 1 gets new words and anger; cue 2's samples stay exactly as they were."""
    _, _, cues = shots
    output, before = dubbed
    session = DubSession.load(output.with_suffix(".session"))
    edited = tmp_path / "v2.mp4"
    report = redub_cue(session, 1, CueEdit(text="We did it, nobody can stop us now!", emotion=EmotionVector.preset("angry", 0.8)),
                       edited)
    old, new = load_audio(output.with_suffix(".wav")), load_audio(edited.with_suffix(".wav"))
    assert len(old.samples) == len(new.samples)
    split = int((cues[0][1] + cues[1][0]) / 2 * RATE)  # between the two cues
    assert np.array_equal(old.samples[split:], new.samples[split:])
    assert np.abs(old.samples[:split] - new.samples[:split]).max() > 0.01
    cue = report.cues[0]
    assert cue.text == "We did it, nobody can stop us now!" and cue.emotion_source == "job: cue"
    assert cue.emotion_vector["angry"] == pytest.approx(0.8) and cue.status == "dubbed" and abs(cue.duration_error_ms) <= 1.0
    assert report.cues[1] == before.cues[1]
    assert media.video_stream_md5(edited) == media.video_stream_md5(output)


def test_a_session_kept_before_the_dub_package_still_loads_and_redubs(tmp_path, dubbed):
    """A studio job kept by emodub.dubbing (the old module) stays editable: its classes map to dub/'s."""
    output, before = dubbed
    kept = pickle.dumps(DubSession.load(output.with_suffix(".session")), protocol=2)  # protocol 2 names classes as text
    for module, name, old in (("emodub.dub.session", "DubSession", "DubSession"), ("emodub.dub.options", "DubOptions", "DubOptions"),
                              ("emodub.dub.render", "RenderedCue", "_Synth")):
        new_ref = f"c{module}\n{name}\n".encode()
        assert new_ref in kept
        kept = kept.replace(new_ref, f"cemodub.dubbing\n{old}\n".encode())
    old_path = tmp_path / "old.session"
    old_path.write_bytes(kept)
    session = DubSession.load(old_path)
    assert isinstance(session.options, DubOptions) and sorted(session.results) == [0, 1]
    report = redub_cue(session, 2, CueEdit(text="Nobody told me."), tmp_path / "v2.mp4")
    assert report.cues[0] == before.cues[0] and report.cues[1].text == "Nobody told me."


@pytest.mark.parametrize(("cue", "edit", "match"), [
    (9, {"text": "Hello there."}, "cue 9 is not in this dub; it has cues 1–2"),
    (1, {"speaker": "BOB"}, "speaker 'BOB' has no voice in this dub; it has one voice for everyone"),
    (1, {"text": "[DOOR SLAMS]"}, "has nothing to say"),
])
def test_redub_bad_edits_are_refused(dubbed, cue, edit, match):
    output, _ = dubbed
    with pytest.raises(InputError, match=match):
        redub_cue(DubSession.load(output.with_suffix(".session")), cue, CueEdit(**edit), output.with_name("never.mp4"))
    assert not output.with_name("never.mp4").exists()


@pytest.mark.parametrize(("edit", "match"), [({}, "nothing to change"), ({"text": "  "}, "text '' is empty"),
                                             ({"emotion_text": ""}, "emotion_text '' is empty")])
def test_an_empty_edit_is_refused(edit, match):
    with pytest.raises(InputError, match=match):
        CueEdit(**edit)


def test_parallel_synthesis_gives_the_same_track(tmp_path, shots, dubbed, reference_path):
    video, script, _ = shots
    output, _ = dubbed
    parallel = tmp_path / "parallel.mp4"
    dub_video(video, script, reference_path, parallel, options=replace(OPTIONS, workers=2))
    assert np.array_equal(load_audio(parallel.with_suffix(".wav")).samples, load_audio(output.with_suffix(".wav")).samples)


def test_an_emotion_encoder_reads_the_original_voice_and_the_workers_still_run(tmp_path, shots, trained_encoders,
                                                                                       reference_path):
    video, script, _ = shots
    options = replace(OPTIONS, workers=2, emotion_encoder=trained_encoders[1])
    report = dub_video(video, script, reference_path, tmp_path / "encoder.mp4", options=options)
    happy, sad = (cue.detected["voice"] for cue in report.cues)
    assert happy["model"] == sad["model"] == "emotion-encoder"
    assert all(cue.status == "dubbed" for cue in report.cues)


# -- sync policy -----------------------------------------------------------------------------------
def test_a_line_too_long_for_its_shot_is_not_dubbed_and_says_why(tmp_path, shots, reference_path):
    video, _, cues = shots
    script = tmp_path / "long.srt"
    (start, _, _), (start2, end2, text2) = cues
    too_long = "This line is far too long to be said in just over half a second, by anyone, even in a hurry. " * 2
    write_srt([(start, start + 0.6, too_long.strip()),
               (start2, end2, text2)], script)
    report = dub_video(video, script, reference_path, tmp_path / "long.mp4", options=OPTIONS)
    first = report.cues[0]
    assert first.status == "not-dubbed" and "rewrite" in first.warnings[-1] and first.ratio_needed < 0.75
    assert report.cues[1].status == "dubbed"  # one bad cue does not lose the others
    original = media.extract_audio(video, sample_rate_hz=RATE).samples
    new = load_audio(tmp_path / "long.wav").samples
    span = slice(int(start * RATE), int((start + 0.6) * RATE))
    assert np.max(np.abs(new[span] - original[span])) < 2e-4


# -- mixing --------------------------------------------------------------------------------------
def test_lines_start_on_their_sample_and_duck_the_original():
    rate = 16000
    background = Audio(np.full(rate * 3, 0.1, np.float32), rate)
    click = np.zeros(800, np.float32)
    click[0] = 0.5
    start_s = 1.23456
    mixed = media.place_lines(background, [(start_s, Audio(click, rate))], duck_db=-20.0, fade_s=0.05).samples
    assert int(np.argmax(mixed)) == round(start_s * rate)
    assert mixed[round(start_s * rate) + 100] == pytest.approx(0.01, rel=1e-3)  # ducked by 20 dB
    assert mixed[: round((start_s - 0.06) * rate)] == pytest.approx(0.1)
    assert mixed[round((start_s + 0.05 + 0.06) * rate):] == pytest.approx(0.1)


def test_a_separated_background_replaces_the_old_dialogue_under_a_line():
    rate = 16000
    original = Audio(np.full(rate * 2, 0.3, np.float32), rate)
    background = Audio(np.full(rate * 2, 0.05, np.float32), rate)
    line = Audio(np.zeros(rate // 2, np.float32), rate)
    mixed = media.place_lines(original, [(0.5, line)], background=background, fade_s=0.05).samples
    assert mixed[int(0.7 * rate)] == pytest.approx(0.05)  # only the background under the line
    assert mixed[int(0.3 * rate)] == pytest.approx(0.3) and mixed[int(1.5 * rate)] == pytest.approx(0.3)


def test_a_line_outside_the_track_is_refused():
    with pytest.raises(InputError, match="outside the track"):
        media.place_lines(Audio(np.zeros(1600, np.float32), 16000), [(0.5, Audio(np.zeros(10, np.float32), 16000))])


# -- script ----------------------------------------------------------------------------------------
def test_template_cues_never_straddle_a_cut():
    spans = template_cues([(0.5, 3.0), (4.0, 6.0)], cuts_s=[2.0, 5.9])
    assert spans == [(0.5, 2.0), (2.0, 3.0), (4.0, 5.9)]


# -- CLI -------------------------------------------------------------------------------------------
def test_cli_writes_a_template_then_skips_and_forces(tmp_path, shots, reference_path):
    video, script, _ = shots
    template = tmp_path / "template.srt"
    proc = emodub("dub", video, "-o", template.with_suffix(".mp4"))
    assert proc.returncode == 0, proc.stderr
    cues = pysubs2.load(str(template))
    assert len(cues) >= 2 and not template.with_suffix(".mp4").exists()
    words = read_script(template, media_duration_s=media.probe(video).duration_s).cues  # the words said, ready to edit
    assert "won" in " ".join(cue.text for cue in words).lower()

    output = tmp_path / "run.mp4"
    consent = ["--consent", OPTIONS.consent]
    first = emodub("dub", video, "--script", script, "--voice", reference_path, "-o", output, "--base-voice", "flite-slt", "--workers", "1",
                   *consent)
    assert first.returncode == 0, first.stderr
    again = emodub("dub", video, "--script", script, "--voice", reference_path, "-o", output, *consent).stdout
    assert "skipped" in again and "changed after" not in again
    os.utime(script)  # the script edited since: the skip says so
    edited = emodub("dub", video, "--script", script, "--voice", reference_path, "-o", output, *consent).stdout
    assert "skipped" in edited and f"{script} changed after it was made" in edited


@pytest.mark.parametrize("case, match", [
    ("no-audio", "has no audio stream"),
    ("late-cue", "after the video ends"),
    ("overwrite", "is an input file"),
    ("corrupt", "cannot be read"),
    ("weight", "emotion weight"),
    ("suffix", "must end in"),
    ("separator", "separator"),
    ("frame-match", "frame match 1.2 is outside the allowed range 0..1"),
    ("encoder", "is not an emodub encoder folder"),
    ("no-consent", "consent is required"),
])
def test_cli_bad_input_exits_2_and_leaves_nothing(tmp_path, shots, reference_path, case, match):
    video, script, _ = shots
    output = tmp_path / "out.mp4"
    args = ["dub", video, "--script", script, "--voice", reference_path, "--consent", OPTIONS.consent, "-o", output]
    if case == "no-consent":
        args[6:8] = []
    elif case == "no-audio":
        args[1] = write_clip(tmp_path / "mute.mp4", [(1.0, expression_face("calm"))], None)
    elif case == "late-cue":
        late = tmp_path / "late.srt"
        write_srt([(1.0, 99.0, "Too late.")], late)
        args[3] = late
    elif case == "overwrite":
        copy = tmp_path / "copy.mp4"
        shutil.copy(video, copy)
        args[1] = copy
        args[-1] = copy
        args.append("--force")
    elif case == "corrupt":
        bad = tmp_path / "bad.mp4"
        bad.write_bytes(b"\x00" * 100)
        args[1] = bad
    elif case == "weight":
        args += ["--emotion", "angry", "--emotion-weight", "1.5"]
    elif case == "suffix":
        args[-1] = tmp_path / "out.avi.txt"
    elif case == "separator":
        args += ["--separator", "spleeter"]
    elif case == "frame-match":
        args += ["--frame-match", "1.2"]
    elif case == "encoder":
        args += ["--emotion-encoder", tmp_path]
    proc = emodub(*args)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().startswith("error:") and match in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert not any(p.stem in ("out", "copy") and p.suffix in (".wav", ".srt", ".json") or p.name == "out.mp4" for p in tmp_path.iterdir())


def test_batch_keeps_going_after_a_failure(tmp_path, shots, reference_path):
    video, script, _ = shots
    inputs, outputs = tmp_path / "in", tmp_path / "out"
    inputs.mkdir()
    outputs.mkdir()
    shutil.copy(video, inputs / "a.mp4")
    shutil.copy(script, inputs / "a.srt")
    shutil.copy(video, inputs / "b.mp4")  # no b.srt
    proc = emodub("dub", inputs, "--voice", reference_path, "-o", outputs, "--base-voice", "flite-slt", "--workers", "1",
                  "--consent", OPTIONS.consent)
    assert proc.returncode == 1
    assert "b.mp4" in proc.stderr and (outputs / "a.dubbed.mp4").exists() and not (outputs / "b.dubbed.mp4").exists()
