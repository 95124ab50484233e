"""Encoders trained with a gradient reversal layer: the GRL itself, corpus reading, training, reload."""

import json
import shutil

import numpy as np
import pytest
import torch

from emodub.audio import Audio, save_audio
from emodub.errors import InputError
from emodub.synthetic import make_emotion_corpus
from emodub.train import Encoders, GradientReversal, ganin_schedule, read_corpus
from test_cli import emodub

REPORT_KEYS = {"emotion_accuracy", "speaker_accuracy", "emotion_leakage", "speaker_leakage", "emotion_chance", "speaker_chance"}


@pytest.mark.parametrize("strength", [0.0, 0.5, 1.0, 3.0])
def test_grl_is_identity_forward_and_negates_scaled_gradient_backward(strength):
    x = torch.randn(4, 3, requires_grad=True)
    weights = torch.randn(4, 3)
    y = GradientReversal(strength)(x)
    assert torch.equal(y, x)
    (y * weights).sum().backward()
    assert torch.allclose(x.grad, -strength * weights)


def test_ganin_schedule_ramps_from_zero_to_the_final_strength():
    assert ganin_schedule(0.0, 2.0) == 0.0
    assert ganin_schedule(1.0, 2.0) == pytest.approx(2.0, rel=1e-4)
    assert ganin_schedule(0.3, 1.0) < ganin_schedule(0.6, 1.0)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_emotion_corpus(tmp_path_factory.mktemp("corpus"), lines=("Open the door now.", "Where were you last night?",
                                                                         "I told you already.", "Give it back to me."))


def test_corpus_layouts(tmp_path, corpus):
    clips = read_corpus(corpus)
    assert len(clips) == 36 and {c.speaker for c in clips} == {"flite-slt", "flite-awb", "flite-rms"}
    tone = Audio(np.zeros(1600, np.float32), 16000)
    for name in ("03-01-05-01-01-01-12.wav", "1001_DFA_SAD_XX.wav"):
        save_audio(tone, tmp_path / name)
    labels = sorted((c.speaker, c.emotion) for c in read_corpus(tmp_path))
    assert labels == [("crema-1001", "sad"), ("ravdess-12", "angry")]


def test_train_encoders_reports_both_runs_and_the_model_reloads(tmp_path, corpus):
    out, report = tmp_path / "enc", tmp_path / "report.json"
    proc = emodub("train-encoders", corpus, "--out", out, "--report", report, "--epochs", "30")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(report.read_text())
    for key in ("with_grl", "without_grl"):
        assert REPORT_KEYS <= set(data[key])
        assert data[key]["speaker_accuracy"] > data[key]["speaker_chance"]  # the speaker head learns
    model = Encoders.load(out)
    vector, confidence = model.emotion_vector(Audio(np.random.default_rng(0).normal(0, 0.1, 16000).astype(np.float32), 16000))
    assert vector.total == pytest.approx(1.0, abs=1e-4) and 0 < confidence <= 1
    wav = sorted(corpus.rglob("*.wav"))[0]
    assert emodub("analyze", wav, "--emotion-encoder", out).returncode == 0


def test_train_encoders_bad_input(tmp_path, corpus):
    one_speaker = tmp_path / "one"
    shutil.copytree(corpus / "flite-slt", one_speaker / "flite-slt")
    proc = emodub("train-encoders", one_speaker, "--out", tmp_path / "o")
    assert proc.returncode == 2 and "at least 2 of each" in proc.stderr
    proc = emodub("train-encoders", tmp_path / "missing", "--out", tmp_path / "o")
    assert proc.returncode == 2 and "does not exist" in proc.stderr
    assert emodub("train-encoders", corpus, "--out", tmp_path / "o", "--epochs", "0").returncode == 2
    with pytest.raises(InputError, match="not an emodub encoder folder"):
        Encoders.load(tmp_path)
