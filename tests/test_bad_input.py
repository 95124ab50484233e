"""Bad input gets one clear line (exit 2, 4xx, InputError) before any model loads, and leaves nothing behind."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from emodub.engines.base import SynthesisRequest
from emodub.errors import InputError
from emodub.service import create_app
from emodub.service.store import JobStore
from emodub.subtitles import read_script
from emodub.subtitles.markup import strip_markup
from emodub.textnorm import MAX_LINE_CHARS
from test_cli import emodub

VOICE = Path(__file__).resolve().parents[1] / "examples" / "voice_samples" / "character_A.wav"


@pytest.mark.parametrize("folder", ["/sys", "/proc"])
def test_an_output_folder_that_cannot_be_written_is_refused_before_any_work(folder):
    result = emodub("say", "Hello there.", "--voice", VOICE, "--consent", "test voice made with flite", "-o", f"{folder}/line.wav")
    assert result.returncode == 2 and f"output folder '{folder}' cannot be written" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("length", [MAX_LINE_CHARS + 1, 1 << 20])
def test_a_line_too_long_is_refused_in_one_line(length):
    with pytest.raises(InputError, match=f"has {length} characters; one line may have at most {MAX_LINE_CHARS}"):
        SynthesisRequest(text="a" * length, speaker_reference=None)  # refused before the reference is even looked at


def test_a_cue_too_long_is_refused_when_the_script_is_read(tmp_path):
    script = tmp_path / "long.srt"
    script.write_text(f"1\n00:00:01,000 --> 00:00:03,000\n{'word ' * 400}\n", encoding="utf-8")
    with pytest.raises(InputError, match="cue 1 has 1999 characters"):
        read_script(script, media_duration_s=10.0)


@pytest.mark.parametrize(("raw", "spoken"), [("&lt;b&gt;line one&lt;/b&gt;", ["line one"]), ("<i>plain</i> &amp; more", ["plain & more"]),
                                             ("{\\i1}styled{\\i0} text", ["styled text"])])
def test_escaped_markup_is_markup_not_words(raw, spoken):
    assert strip_markup(raw)[0] == spoken


@pytest.fixture
def client(tmp_path):
    with TestClient(create_app(tmp_path / "data", run_workers=False), base_url="http://127.0.0.1") as test_client:
        yield test_client


@pytest.mark.parametrize("event_id", ["abc", "-1", "1.5", " "])
def test_a_bad_last_event_id_is_a_400(client, tmp_path, event_id):
    JobStore(tmp_path / "data").create_job("j1", {}, {"consent": "test"})
    answer = client.get("/api/jobs/j1/events", headers={"Last-Event-ID": event_id})
    assert answer.status_code == 400 and "is not an event number" in answer.json()["error"]


def test_a_long_line_to_say_is_a_422_and_leaves_nothing(client, tmp_path):
    answer = client.post("/api/say", data={"text": "a" * (MAX_LINE_CHARS + 1), "consent": "mine"},
                         files={"voice": ("v.wav", VOICE.read_bytes(), "audio/wav")})
    assert answer.status_code == 422 and "at most" in answer.json()["error"]
    assert not list((tmp_path / "data").glob("say/*"))


def test_a_damaged_job_database_is_named_and_left_alone(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    damaged = data / "jobs.sqlite3"
    damaged.write_bytes(b"this is not a database" * 100)
    before = damaged.read_bytes()
    with pytest.raises(InputError, match="job database .* is damaged"):
        JobStore(data)
    assert damaged.read_bytes() == before
    result = emodub("serve", "--data-dir", data)
    assert result.returncode == 2 and "is damaged" in result.stderr and "Traceback" not in result.stderr


def test_ctrl_c_with_workers_prints_one_line_and_keeps_nothing(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    from emodub.synthetic import flite_scene

    video, script = flite_scene(tmp_path, [("I finally found the letter you wrote me.", "Look, the letter is right here.", "happy"),
                                           ("Nobody else was there when I came home.", "There was no one at home.", "sad")])
    out = tmp_path / "out"
    out.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "emodub", "dub", str(video), "--script", str(script), "--voice", str(VOICE),
                             "--workers", "2", "--consent", "test", "-o", str(out / "dubbed.mp4")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    time.sleep(6)  # the inputs are checked and the workers are loading their models
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C reaches the whole process group, as in a terminal
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "interrupted" in stderr
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr
    assert not list(out.iterdir())  # no output, no temp file


@pytest.mark.parametrize(("seconds", "level", "match"), [(0.3, 0.1, "is 0.30 s long; at least"), (3.0, 0.0, "is silent")])
def test_a_voice_that_cannot_be_cloned_is_refused_at_upload(client, tmp_path, seconds, level, match):
    import numpy as np

    from emodub.audio import Audio, save_audio
    from emodub.synthetic import flite_scene

    (tmp_path / "clip").mkdir()
    video, _ = flite_scene(tmp_path / "clip", [("Nobody else was there when I came home.", "There was no one at home.", "calm")])
    voice = save_audio(Audio((level * np.random.default_rng(1).standard_normal(int(seconds * 16000))).astype(np.float32), 16000),
                       tmp_path / "voice.wav")
    answer = client.post("/api/jobs", data={"options": '{"consent": "test"}'},
                         files={"video": ("v.mp4", video.read_bytes(), "video/mp4"), "voice": ("voice.wav", voice.read_bytes(), "audio/wav")})
    assert answer.status_code == 422 and match in answer.json()["error"]
    assert client.get("/api/jobs").json() == [] and not list((tmp_path / "data" / "jobs").iterdir())


def test_a_truncated_video_is_refused_before_any_model_loads(tmp_path):
    import subprocess

    from emodub.dub import DubOptions, dub_video

    whole = tmp_path / "whole.mp4"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=25", "-f", "lavfi", "-i",
                    "sine=frequency=300:sample_rate=48000", "-t", "10", "-c:v", "libx264", "-c:a", "aac", "-movflags", "+faststart",
                    str(whole)], check=True)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])  # the index (at the front) still says 10 s
    script = tmp_path / "lines.srt"
    script.write_text("1\n00:00:01,000 --> 00:00:02,500\nHello there.\n\n2\n00:00:07,000 --> 00:00:08,500\nSee you later.\n")
    with pytest.raises(InputError, match=r"is cut short: its header says 10\.00 s but its sound ends at"):
        dub_video(cut, script, {"*": VOICE}, tmp_path / "out.mp4", options=DubOptions(consent="test"))
    assert not (tmp_path / "out.mp4").exists()


@pytest.mark.parametrize("field", ["text", "emotion_text"])
def test_a_cue_edit_too_long_is_refused_before_it_is_queued(field):
    from emodub.service.edits import parse_edit

    with pytest.raises(InputError, match=f"{field} has {1 << 20} characters"):
        parse_edit({field: "a" * (1 << 20)}, {"indices": [1, 2], "speakers": []}, 1)
