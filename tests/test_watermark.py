"""The watermark on every output (PerTh, through the torchaudio stand-in) and ``emodub detect``.

Marked lines are found after the usual trips (MP3, AAC in MP4, 16 kHz, ±10 % speed, a music bed);
a person's recording, unmarked speech and music are never reported as marked.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from conftest import flite_wav
from emodub import watermark
from emodub.audio import Audio, load_audio, read_tags, save_audio
from emodub.errors import InputError
from emodub.synthetic import music_bed
from test_cli import emodub

ALSA = Path("/usr/share/sounds/alsa")  # Debian alsa-utils: one person reading the channel names
TRIPS = {  # ffmpeg arguments and the suffix of the copy
    "MP3 128 kb/s": (["-c:a", "libmp3lame", "-b:a", "128k"], ".mp3"),
    "AAC 128 kb/s in MP4": (["-c:a", "aac", "-b:a", "128k"], ".m4a"),
    "resampled to 16 kHz": (["-ar", "16000"], ".wav"),
    "10 % faster": (["-af", "atempo=1.1"], ".wav"),
    "10 % slower": (["-af", "atempo=0.9"], ".wav"),
}


@pytest.fixture(scope="module")
def line(tmp_path_factory) -> Audio:
    """About 4 s of flite speech at 48 kHz: an unmarked line."""
    folder = tmp_path_factory.mktemp("wm")
    return load_audio(flite_wav(folder / "line.wav", "Please leave the parcel at the door, I will collect it tonight.", "slt")
                      ).resampled(48000)


@pytest.fixture(scope="module")
def marked_file(tmp_path_factory, line) -> Path:
    return save_audio(watermark.mark(line), tmp_path_factory.mktemp("wm-marked") / "marked.wav")


def _person() -> Audio:
    clips = [load_audio(ALSA / f"{side}_{where}.wav") for side in ("Front", "Rear", "Side") for where in ("Left", "Center", "Right")
             if (ALSA / f"{side}_{where}.wav").exists()]
    return Audio(np.concatenate([c.samples for c in clips]), clips[0].sample_rate_hz)


@pytest.mark.parametrize("rate_hz", [16000, 22050, 44100, 48000])
def test_a_marked_line_keeps_its_length_and_rate_and_carries_the_mark(line, rate_hz):
    plain = line.resampled(rate_hz)
    marked = watermark.mark(plain)
    assert marked.sample_rate_hz == rate_hz and len(marked.samples) == len(plain.samples)
    assert watermark.detect(marked).found and watermark.detect(marked).confidence >= 0.9
    assert not watermark.detect(plain).found
    change_db = 10 * np.log10(np.sum(plain.samples**2) / np.sum((plain.samples - marked.samples) ** 2))
    assert change_db > 10  # a small change to the line (the bench measures what the ear and the judge make of it)


@pytest.mark.parametrize("trip", list(TRIPS))
def test_the_mark_survives_the_usual_trips(tmp_path, marked_file, trip):
    arguments, suffix = TRIPS[trip]
    copy = tmp_path / f"copy{suffix}"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(marked_file), *arguments, str(copy)], check=True)
    found = watermark.detect_file(watermark.check_detectable(copy)).detection
    assert found.found, (trip, found)


def test_a_marked_line_is_found_under_a_music_bed_in_a_long_mix(line):
    """A dub's mix: music all through, ducked 20 dB under the new line (emodub's --duck-db default); the line 17 s in."""
    rate = line.sample_rate_hz
    bed = music_bed(30.0, rate).samples
    speech_rms = float(np.sqrt(np.mean(line.samples[np.abs(line.samples) > 0.01] ** 2)))
    mix = bed * (speech_rms / np.sqrt(np.mean(bed**2)))  # music as loud as the speech between the lines
    at = int(17.0 * rate)
    mix[at:at + len(line.samples)] *= 10 ** (-20 / 20)
    mix[at:at + len(line.samples)] += watermark.mark(line).samples
    found = watermark.detect(Audio(mix.astype(np.float32), rate))
    assert found.found and 13.0 <= found.at_s <= 17.0 + line.duration_s, found
    plain = mix.copy()
    plain[at:at + len(line.samples)] += line.samples - watermark.mark(line).samples  # the same mix with the unmarked line
    assert not watermark.detect(Audio(plain.astype(np.float32), rate)).found


@pytest.mark.parametrize("what", ["a person (alsa-utils)", "unmarked flite speech", "music", "noise"])
def test_nothing_unmarked_is_reported_as_marked(line, what):
    rng = np.random.default_rng(0)
    audio = {"a person (alsa-utils)": _person, "unmarked flite speech": lambda: line, "music": lambda: music_bed(12.0, 48000),
             "noise": lambda: Audio((0.05 * rng.standard_normal(48000 * 6)).astype(np.float32), 48000)}[what]()
    found = watermark.detect(audio)
    assert not found.found and found.confidence < watermark.FOUND_AT, (what, found)


def test_detect_command_exit_codes_and_json(tmp_path, marked_file, line):
    plain = save_audio(line, tmp_path / "plain.wav")
    proc = emodub("detect", marked_file)
    assert proc.returncode == 0 and "watermark found" in proc.stdout, proc.stderr
    proc = emodub("detect", marked_file, plain, "--json")
    assert proc.returncode == 1  # one file is not marked
    answers = json.loads(proc.stdout)
    assert [a["found"] for a in answers] == [True, False] and answers[0]["confidence"] >= 0.9
    assert set(answers[0]) >= {"file", "found", "confidence", "at_s", "marked_windows", "windows", "emodub_tags"}


@pytest.mark.parametrize(("make", "match"), [
    (lambda p: p.write_text("not audio"), "cannot be read"),
    (lambda p: p.write_bytes(b""), "cannot be read"),
    (lambda p: save_audio(Audio(np.zeros(24000, np.float32), 48000), p), "too short to carry a watermark"),
    (lambda p: None, "does not exist"),
])
def test_detect_refuses_what_it_cannot_check_in_one_line(tmp_path, marked_file, make, match):
    bad = tmp_path / "bad.wav"
    make(bad)
    proc = emodub("detect", marked_file, bad)
    assert proc.returncode == 2 and match in proc.stderr and proc.stdout == "", proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_missing_weights_refuse_marked_outputs_up_front(monkeypatch, reference_path):
    from emodub.dub import DubOptions
    from emodub.job import parse_job

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "perth" else real(name, *a))
    assert "pip install resemble-perth==1.0.1" in watermark.missing_reason()
    job = {"text": "Hello there.", "speaker_reference": str(reference_path), "consent": "test voice made with flite"}
    with pytest.raises(InputError, match="resemble-perth==1.0.1.*no-watermark"):
        parse_job(job, base_dir=Path.cwd())
    with pytest.raises(InputError, match="resemble-perth==1.0.1"):
        DubOptions(consent="test voices made with flite")
    assert parse_job({**job, "watermark": False}, base_dir=Path.cwd()).watermark is False  # asked for: allowed, and said
    assert DubOptions(watermark=False, consent="test voices made with flite").watermark is False


def test_say_without_the_watermark_says_so_everywhere(tmp_path, reference_path):
    out, report = tmp_path / "plain.wav", tmp_path / "plain.json"
    proc = emodub("say", "The museum opens at nine.", "--voice", reference_path, "--base-voice", "flite-slt", "--no-verify",
                  "--no-watermark", "--consent", "test voice made with flite", "-o", out, "--report", report)
    assert proc.returncode == 0, proc.stderr
    assert "NOT watermarked (--no-watermark)" in proc.stderr
    data = json.loads(report.read_text())
    assert data["watermark"] == {"applied": False, "reason": "none: --no-watermark was given"}
    assert "perth" not in {m["key"] for m in data["models"]} and "Watermark: none" in read_tags(out)["comment"]
    assert emodub("detect", out).returncode == 1


# -- licences and --commercial ---------------------------------------------------------------------------------
def test_commercial_refuses_a_base_voice_whose_terms_do_not_allow_it_before_any_work(tmp_path, reference_path):
    out = tmp_path / "x.wav"
    for voice in ("joe", "zh-baker"):
        proc = emodub("say", "Hello there.", "--voice", reference_path, "--base-voice", voice, "--commercial", "-o", out)
        assert proc.returncode == 2 and f"base voice {voice!r} is not cleared for commercial use" in proc.stderr, proc.stderr
        assert "kokoro" in proc.stderr and not out.exists()
    proc = emodub("say", "Hello there.", "--voice", reference_path, "--engine", "indextts2", "--commercial", "-o", out)
    assert proc.returncode == 2 and "licence is not known to emodub" in proc.stderr


def test_commercial_mandarin_speaks_in_kokoro_and_says_what_it_left_out(tmp_path, reference_path):
    out, report = tmp_path / "zh.wav", tmp_path / "zh.json"
    proc = emodub("say", "我们明天早上九点见。", "--voice", reference_path, "--commercial", "--no-verify", "--consent", "flite voice",
                  "-o", out, "--report", report)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(report.read_text())
    assert data["applied"]["base_voice"] == "kokoro"
    assert all(m["commercial"] for m in data["models"]) and {m["key"] for m in data["excluded_for_commercial_use"]} == {"joe", "zh-baker"}
    assert "--commercial: left out joe, zh-baker" in proc.stderr
    assert "Kokoro-82M" in read_tags(out)["copyright"] and "not for commercial use" not in read_tags(out)["copyright"]
