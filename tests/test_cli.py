"""The CLI contract: exit codes, one-line errors, reports, provenance, no partial outputs."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from emodub.audio import read_tags

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "examples" / "seed_job.yaml"
CONSENT = "test voices made with flite (public domain)"
REPORT_KEYS = {"duration_s", "target_duration_s", "duration_error_ms", "emotion_vector", "speaker_similarity",
               "engine", "real_time_factor", "warnings"}


def emodub(*args, cwd=None):
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "emodub", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env=env)


def test_emotion_command_prints_json():
    result = emodub("emotion", "悲伤地低语")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    weights = data["emotion_vector"]
    assert max(weights, key=weights.get) in {"sad", "melancholic"}
    assert data["qualities"]["whisper"] > 0


def test_emotion_command_warns_without_cue():
    result = emodub("emotion", "read the next line")
    assert result.returncode == 0
    assert json.loads(result.stdout)["emotion_vector"] is None
    assert "no emotion cue" in result.stderr


def test_seed_job_runs_and_reports(tmp_path):
    out, report = tmp_path / "out.wav", tmp_path / "r.json"
    result = emodub("run", SEED, "-o", out, "--report", report)
    assert result.returncode == 0, result.stderr
    data = json.loads(report.read_text())
    assert set(data) >= REPORT_KEYS
    assert abs(data["duration_error_ms"]) <= 1.0
    assert data["emotion_vector"]["angry"] == max(data["emotion_vector"].values())
    assert data["qualities"]["tremble"] > 0
    assert data["consent"] and not any("consent" in w for w in data["warnings"])  # the seed job states its consent
    tags = read_tags(out)
    assert "SYNTHETIC" in tags["comment"] and "emodub" in tags["software"]


def test_say_with_consent_and_exact_duration(tmp_path, reference_path):
    out, report = tmp_path / "say.wav", tmp_path / "say.json"
    result = emodub("say", "Give me one good reason.", "--voice", reference_path, "--emotion", "angry:0.8",
                    "--emotion-text", "voice shaking", "--duration", "2.2", "--consent", "I, Sam, consent.",
                    "-o", out, "--report", report)
    assert result.returncode == 0, result.stderr
    data = json.loads(report.read_text())
    assert data["consent"] == "I, Sam, consent."
    assert abs(data["duration_s"] - 2.2) * 1000 <= 1.0
    assert [s["method"] for s in data["emotion_sources"]] == ["preset", "text"]
    assert not any("consent" in w for w in data["warnings"])
    # the delivery-only description adds its tremble and leaves the asked anger whole (it was halved to 0.40)
    assert data["emotion_sources"][1]["weight"] == 0.0 and data["qualities"]["tremble"] > 0
    first = data["verification"]["rounds"][0]
    assert first["emotion"]["angry"] == pytest.approx(0.8)
    kept = next(r for r in data["verification"]["rounds"] if r["kept"])
    assert kept["round"] == 1 or f"kept round {kept['round']}" in result.stdout  # a weakened request is never silent
    assert os.stat(out).st_mode & 0o777 == 0o666 & ~_umask()  # usual permissions, not mkstemp's 0600


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_strict_exits_3_when_verification_misses_and_keeps_the_best_round(tmp_path, reference_path):
    job = tmp_path / "job.yaml"
    job.write_text(f"text: Hello there, how are you.\nspeaker_reference: {reference_path}\nconsent: {CONSENT}\n"
                   "engine: {base_voice: flite-slt}\nverify: {max_rounds: 1, min_speaker_similarity: 0.999}\n")
    out = tmp_path / "o.wav"
    strict = emodub("run", job, "-o", out, "--strict")
    assert strict.returncode == 3, strict.stderr
    assert "verification missed (speaker_similarity)" in strict.stderr and out.exists()
    out.unlink()
    assert emodub("run", job, "-o", out).returncode == 0  # without --strict a miss is a warning


def _bad_reference(write_wav, kind):
    rate = 16000
    if kind == "short":
        return write_wav("short.wav", 0.3 * np.sin(np.arange(rate // 2) * 0.05), rate)
    return write_wav("silent.wav", np.zeros(3 * rate), rate)


@pytest.mark.parametrize("args,match", [
    (["--ratio", "1.3"], "ratio 1.3 is outside the allowed range 0.75–1.25"),
    (["--emotion", "furious2"], "unknown emotion 'furious2'"),
    (["--emotion-vector", "1,2,3"], "8 are needed"),
    (["--mode", "fast"], "--mode 'fast'"),
    (["--emotion-audio", "nope.wav"], "nope.wav' does not exist"),
    (["--frame-match", "1.5"], "engine.frame_match"),
])
def test_say_bad_input_exits_2_with_one_line(tmp_path, reference_path, args, match):
    out = tmp_path / "bad.wav"
    result = emodub("say", "hello there", "--voice", reference_path, "-o", out, *args, "--consent", CONSENT)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert __import__("re").search(match, lines[0]), lines[0]
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("kind,match", [("short", "0.50 s long; at least 1 s"), ("silent", "is silent"),
                                        ("text", "is not readable audio"), ("empty", "is not readable audio")])
def test_bad_reference_exits_2(tmp_path, write_wav, kind, match):
    if kind in ("text", "empty"):
        reference = tmp_path / "voice.wav"
        reference.write_text("this is not audio" if kind == "text" else "")
    else:
        reference = _bad_reference(write_wav, kind)
    out = tmp_path / "out.wav"
    result = emodub("say", "hello there", "--voice", reference, "-o", out, "--consent", CONSENT)
    assert result.returncode == 2
    assert match in result.stderr
    assert not out.exists()


@pytest.mark.parametrize("yaml_text,match", [
    ("text: hi\nspeaker_reference: r.wav\nvolume: 11\n", "unknown key 'volume'"),
    ("text: ''\nspeaker_reference: r.wav\n", "is empty"),
    ("text: hi\nspeaker_reference: missing.wav\nconsent: mine\n", "missing.wav' does not exist"),
    ("text: hi\nspeaker_reference: r.wav\n", "consent is required"),
    ("text: hi\nspeaker_reference: r.wav\nconsent: '  '\n", "consent is required"),
    ("text: hi\nspeaker_reference: r.wav\nduration_control: {mode: controlled, ratio: 0.5}\n", "ratio 0.5"),
    ("text: [unclosed\n", "not valid YAML"),
])
def test_run_bad_job_exits_2(tmp_path, reference_path, yaml_text, match):
    (tmp_path / "r.wav").write_bytes(reference_path.read_bytes())
    job = tmp_path / "job.yaml"
    job.write_text(yaml_text)
    result = emodub("run", job, "-o", tmp_path / "out.wav")
    assert result.returncode == 2, result.stderr
    assert match in result.stderr
    assert not (tmp_path / "out.wav").exists()


def test_a_job_reports_every_invalid_value_at_once(tmp_path, reference_path):
    job = tmp_path / "job.yaml"
    job.write_text(f"text: hi\nspeaker_reference: {reference_path}\nseed: x\nlanguage: fr\n"
                   "duration_control: {mode: controlled, ratio: 2}\n")
    result = emodub("run", job, "-o", tmp_path / "out.wav")
    assert result.returncode == 2
    line = result.stderr.strip()
    assert line.count("\n") == 0 and line.startswith("error: 3 problems")
    for name in ("seed", "language", "ratio 2"):
        assert name in line


def test_a_missing_output_folder_is_refused_before_any_work(tmp_path, reference_path):
    result = emodub("say", "hello there", "--voice", reference_path, "-o", tmp_path / "nowhere" / "out.wav", "--consent", CONSENT)
    assert result.returncode == 2 and "folder" in result.stderr and "nowhere" in result.stderr
    assert "voice profile" not in result.stderr


def test_output_never_overwrites_an_input(tmp_path, reference_path):
    copy = tmp_path / "ref.wav"
    copy.write_bytes(reference_path.read_bytes())
    before = copy.read_bytes()
    result = emodub("say", "hello there", "--voice", copy, "-o", copy, "--consent", CONSENT)
    assert result.returncode == 2 and "never overwrites its inputs" in result.stderr
    assert copy.read_bytes() == before


def test_eight_khz_and_clipped_references_warn(tmp_path, reference_path):
    from emodub.audio import Audio, check_reference, load_audio

    reference = load_audio(reference_path)
    narrow = reference.resampled(8000)
    assert any("8000 Hz" in w for w in check_reference(narrow).warnings)
    clipped = Audio(np.clip(reference.samples * 20, -1, 1), reference.sample_rate_hz)
    assert any("clipped" in w for w in check_reference(clipped).warnings)


def test_help_explains_commands():
    result = emodub("--help")
    assert result.returncode == 0
    for command in ("say", "run", "emotion", "demo"):
        assert command in result.stdout


def test_doctor_reports_what_is_usable_and_how_to_fix_what_is_not():
    here = emodub("doctor")
    assert here.returncode == 0, here.stderr
    assert "ok       ffmpeg" in here.stdout and "ok       the ear (Whisper base)" in here.stdout
    bare = subprocess.run([sys.executable, "-m", "emodub", "doctor"], capture_output=True, text=True,
                          env={**os.environ, "PATH": "/nonexistent"})  # no ffmpeg, flite or espeak-ng on PATH
    assert bare.returncode == 1
    assert "MISSING  ffmpeg: not on PATH" in bare.stdout and "► sudo apt-get install ffmpeg" in bare.stdout
    assert "► sudo apt-get install flite" in bare.stdout
    assert bare.stderr.startswith("error: ") and len(bare.stderr.strip().splitlines()) == 1


def test_every_data_file_of_the_package_ships_in_the_wheel():
    """Nothing is read from the source tree at run time: each non-Python file under src/emodub is package data
    (npm's own files under node_modules excepted: tests/test_install.py checks the wheel carries what the page loads)."""
    import fnmatch
    import tomllib

    root = Path(__file__).resolve().parents[1]
    declared = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]

    def shipped(path: Path) -> bool:
        package = path.parent
        while not (package / "__init__.py").exists():
            package = package.parent
        name = str(package.relative_to(root / "src")).replace("/", ".")
        return any(fnmatch.fnmatch(str(path.relative_to(package)), pattern) for pattern in declared.get(name, []))

    data = [p for p in (root / "src" / "emodub").rglob("*")
            if p.is_file() and p.suffix not in (".py", ".pyc") and not {"__pycache__", "node_modules"} & set(p.parts)]
    assert [p for p in data if not shipped(p)] == []
    assert any(p.name == "seed_job.yaml" for p in data) and any(p.name == "app.js" for p in data)




@pytest.mark.parametrize("consent", [None, "", "   "])
def test_say_without_consent_exits_2_before_any_work(tmp_path, reference_path, consent):
    out = tmp_path / "out.wav"
    result = emodub("say", "hello there", "--voice", reference_path, "-o", out, *([] if consent is None else ["--consent", consent]))
    assert result.returncode == 2 and result.stderr.startswith("error: consent is required") and "my own voice" in result.stderr
    assert result.stderr.count("\n") == 1 and "voice profile" not in result.stderr and not out.exists()
