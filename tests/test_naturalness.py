"""The naturalness judge (DistillMOS) and the torchaudio stand-in it imports through."""

from __future__ import annotations

import importlib
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from emodub.audio import Audio, load_audio
from emodub.torchaudio_standin import InverseSpectrogram, Spectrogram, TimeStretch, ensure_torchaudio

ALSA = Path("/usr/share/sounds/alsa")  # Debian alsa-utils: one person reading the channel names (scripts/setup.sh installs it)


@pytest.mark.parametrize("n_fft,hop", [(512, 128), (1024, 256), (400, 160)])
def test_standin_spectrogram_round_trip(n_fft: int, hop: int) -> None:
    rng = np.random.default_rng(n_fft)
    wave = torch.from_numpy(rng.standard_normal((2, 8000)).astype(np.float32))
    spec = Spectrogram(n_fft=n_fft, hop_length=hop, power=None)(wave)
    assert spec.shape[:2] == (2, n_fft // 2 + 1) and spec.is_complex()
    back = InverseSpectrogram(n_fft=n_fft, hop_length=hop)(spec, length=wave.shape[-1])
    assert torch.allclose(back, wave, atol=1e-4)
    power = Spectrogram(n_fft=n_fft, hop_length=hop)(wave)
    assert torch.allclose(power, spec.abs() ** 2, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("rate", [0.5, 0.9, 1.1, 2.0])
def test_standin_time_stretch_changes_the_frame_count_by_the_rate(rate: float) -> None:
    spec = Spectrogram(n_fft=512, hop_length=128, power=None)(torch.sin(torch.arange(16000) * 0.05))
    stretched = TimeStretch(hop_length=128, n_freq=257)(spec, rate)
    assert stretched.shape[0] == 257 and abs(stretched.shape[-1] - np.ceil(spec.shape[-1] / rate)) <= 1
    assert TimeStretch(hop_length=128, n_freq=257).phase_advance.shape == (257, 1)


def test_ensure_torchaudio_makes_the_import_work() -> None:
    which = ensure_torchaudio()
    assert which in ("real", "stand-in")
    transforms = importlib.import_module("torchaudio.transforms")
    assert hasattr(transforms, "Spectrogram") and hasattr(transforms, "InverseSpectrogram") and hasattr(transforms, "TimeStretch")
    assert ensure_torchaudio() == which  # idempotent


@pytest.fixture(scope="module")
def judge():
    from emodub.naturalness import default_judge

    found = default_judge()
    assert found is not None, "the set-up installs distillmos; the judge must load"
    return found


@pytest.fixture(scope="module")
def human() -> Audio:
    clips = [load_audio(ALSA / f"{side}_{where}.wav") for side in ("Front", "Rear") for where in ("Left", "Center", "Right")]
    rate = clips[0].sample_rate_hz
    gap = np.zeros(int(0.25 * rate), np.float32)
    return Audio(np.concatenate([p for c in clips for p in (c.samples, gap)]), rate)


def _espeak(tmp_path: Path, text: str) -> Audio:
    out = tmp_path / "espeak.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(out), text], check=True)
    return load_audio(out)


def test_a_person_scores_above_espeak(judge, human, tmp_path) -> None:
    robot = _espeak(tmp_path, "Front left. Front centre. Front right. Rear left. Rear centre. Rear right.")
    person, formant = judge.score_many([human, robot])
    assert 1.0 <= formant < person <= 5.0
    assert person - formant > 0.8


@pytest.mark.parametrize("damage", ["clipped", "buzz", "noise"])
def test_damage_lowers_the_score(judge, human, damage: str) -> None:
    samples = human.samples / max(human.peak, 1e-9)
    t = np.arange(len(samples)) / human.sample_rate_hz
    if damage == "clipped":
        damaged = np.clip(samples * 12.0, -0.3, 0.3)
    elif damage == "buzz":
        damaged = samples + 0.3 * np.sign(np.sin(2 * np.pi * 100 * t))
    else:
        damaged = samples + 0.2 * np.random.default_rng(0).standard_normal(len(samples))
    clean, worse = judge.score_many([Audio(samples.astype(np.float32), human.sample_rate_hz),
                                     Audio(damaged.astype(np.float32), human.sample_rate_hz)])
    assert worse < clean - 0.3


def test_short_or_silent_clips_are_not_scored(judge) -> None:
    short = Audio(np.random.default_rng(1).standard_normal(1600).astype(np.float32) * 0.1, 16000)
    silent = Audio(np.zeros(32000, np.float32), 16000)
    assert all(np.isnan(s) for s in judge.score_many([short, silent]))


def test_scores_do_not_depend_on_the_sample_rate_much(judge, human) -> None:
    native, resampled = judge.score_many([human, human.resampled(22050)])
    assert abs(native - resampled) < 0.15


@pytest.mark.parametrize("margin", [-0.1, 4.5, float("nan")])
def test_a_bad_naturalness_margin_is_refused_before_any_model_loads(margin: float) -> None:
    from emodub.engines.base import SynthesisRequest
    from emodub.errors import InputError

    with pytest.raises(InputError, match="naturalness_margin"):
        SynthesisRequest("hello", Audio(np.zeros(16000, np.float32), 16000), naturalness_margin=margin)


def test_the_naturalness_margin_is_a_builtin_setting() -> None:
    from pydantic import ValidationError

    from emodub.job import EngineConfig

    assert EngineConfig(naturalness_margin=0.5).naturalness_margin == 0.5
    with pytest.raises(ValidationError, match="naturalness_margin"):
        EngineConfig(name="indextts2", naturalness_margin=0.5)
    with pytest.raises(ValidationError):
        EngineConfig(naturalness_margin=5)


def test_cli_refuses_a_bad_margin_in_one_line(tmp_path) -> None:
    import sys

    voice = tmp_path / "v.wav"
    subprocess.run(["flite", "-voice", "slt", "-t", "A short reference for the test of a bad margin.", "-o", str(voice)], check=True)
    proc = subprocess.run([sys.executable, "-m", "emodub", "say", "Hello there.", "--voice", str(voice), "--naturalness-margin", "7",
                           "-o", str(tmp_path / "out.wav")], capture_output=True, text=True)
    assert proc.returncode == 2 and "naturalness_margin" in proc.stderr and not (tmp_path / "out.wav").exists()
    assert len([line for line in proc.stderr.splitlines() if line.startswith("error:")]) == 1


def test_verify_scores_every_output_and_applies_a_pass_mark_only_when_set(human) -> None:
    from emodub.engines.base import Synthesis, SynthesisRequest
    from emodub.verify import Thresholds, verify

    synthesis = Synthesis(human, "recording", human.duration_s, human.duration_s)
    request = SynthesisRequest("Front left. Front centre. Front right. Rear left. Rear centre. Rear right.", human, language="en")
    reported = next(c for c in verify(synthesis, request).checks if c.name == "naturalness")
    assert isinstance(reported.value, float) and 3.0 < reported.value <= 5.0 and reported.passed is None
    strict = next(c for c in verify(synthesis, request, Thresholds(min_naturalness=4.9)).checks if c.name == "naturalness")
    assert strict.passed is False and strict.threshold == 4.9


@pytest.mark.parametrize("value", [0.5, 5.5])
def test_a_naturalness_pass_mark_is_a_mos(value: float) -> None:
    from emodub.errors import InputError
    from emodub.verify import Thresholds

    with pytest.raises(InputError, match="min_naturalness"):
        Thresholds(min_naturalness=value)


def test_a_dub_takes_the_margin_and_refuses_a_bad_one() -> None:
    from emodub.dub import DubOptions
    from emodub.errors import InputError
    from emodub.job import DubSettings

    assert DubSettings(engine={"naturalness_margin": 0.5}, consent="test voices").dub_options().naturalness_margin == 0.5
    with pytest.raises(InputError, match="naturalness margin"):
        DubOptions(naturalness_margin=4.5)
