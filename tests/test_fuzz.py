"""Fuzzing, bounded: whatever a script file or the studio's options hold, out comes a result, an InputError or a 4xx, never a crash."""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emodub.errors import InputError
from emodub.job import DubSettings
from emodub.service import create_app
from emodub.subtitles import read_script

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

stamp = st.builds(lambda h, m, s, ms: f"{h:02d}:{m:02d}:{s:02d}{{sep}}{ms:03d}", st.integers(0, 99), st.integers(0, 99),
                  st.integers(0, 99), st.integers(0, 999))
words = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=80)


@st.composite
def subtitle_files(draw) -> tuple[str, str]:
    """(suffix, content): an SRT, WebVTT or ASS file with plausible structure and hostile details, or plain noise."""
    kind = draw(st.sampled_from(["srt", "vtt", "ass", "noise"]))
    cues = draw(st.lists(st.tuples(stamp, stamp, words), max_size=5))
    if kind == "srt":
        body = "\n".join(f"{i}\n{a.format(sep=',')} --> {b.format(sep=',')}\n{t}\n" for i, (a, b, t) in enumerate(cues, 1))
    elif kind == "vtt":
        body = "WEBVTT\n\n" + "\n".join(f"{a.format(sep='.')} --> {b.format(sep='.')}\n{t}\n" for a, b, t in cues)
    elif kind == "ass":
        events = "\n".join(f"Dialogue: 0,{a.format(sep='.')[1:-1]},{b.format(sep='.')[1:-1]},Default,{draw(words)[:10]},0,0,0,,{t}"
                           for a, b, t in cues)
        body = ("[Script Info]\nScriptType: v4.00+\n\n[V4+ Styles]\nFormat: Name, Fontname\nStyle: Default,Arial\n\n"
                f"[Events]\nFormat: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text\n{events}\n")
    else:
        body = draw(st.text(max_size=400))
    return ("srt" if kind == "noise" else kind), body


@FUZZ
@given(subtitle_files(), st.floats(0.5, 400.0))
def test_any_script_gives_cues_or_one_input_error(case, media_duration_s):
    suffix, body = case
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"lines.{suffix}"
        path.write_text(body, encoding="utf-8", errors="surrogatepass")
        try:
            script = read_script(path, media_duration_s=media_duration_s, fps=25.0)
        except InputError as error:
            assert str(error) and "\n" not in str(error).strip()  # one line
            return
        assert script.cues and all(0 <= cue.start_s < cue.end_s <= media_duration_s + 0.5 for cue in script.cues)


json_values = st.recursive(st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=True) | st.text(max_size=20),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner, max_size=3),
                           max_leaves=8)
option_names = st.sampled_from([*DubSettings.model_fields, "workers", "../x", ""])


@pytest.fixture(scope="module")
def small_video(tmp_path_factory) -> bytes:
    path = tmp_path_factory.mktemp("fuzz") / "clip.mp4"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=size=96x64:rate=10", "-f", "lavfi", "-i",
                    "sine=frequency=300:sample_rate=16000", "-t", "1.5", "-c:v", "libx264", "-c:a", "aac", str(path)], check=True)
    return path.read_bytes()


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    with TestClient(create_app(tmp_path_factory.mktemp("fuzz-data"), run_workers=False), base_url="http://127.0.0.1") as client:
        yield client


@FUZZ
@given(st.dictionaries(option_names, json_values, max_size=5) | json_values)
def test_any_options_json_is_a_job_or_one_4xx(studio, small_video, options):
    answer = studio.post("/api/jobs", data={"options": json.dumps(options)}, files={"video": ("clip.mp4", small_video, "video/mp4")})
    assert answer.status_code in (201, 413, 415, 422), answer.text
    if answer.status_code != 201:
        assert answer.json()["error"]
