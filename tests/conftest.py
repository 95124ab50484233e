"""Shared fixtures: inputs the tests make themselves (flite/espeak-ng speech, tones, silence)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from emodub.audio import Audio, load_audio

REFERENCE_TEXT = "Hello, my name is Sam. I am reading a few sentences so that my voice can be cloned for this test."


@pytest.fixture(scope="session", autouse=True)
def _private_profile_cache(tmp_path_factory):
    """Voice profiles go to a per-session folder, never the user's cache."""
    import os

    path = tmp_path_factory.mktemp("emodub-cache")
    old = os.environ.get("EMODUB_CACHE_DIR")
    os.environ["EMODUB_CACHE_DIR"] = str(path)
    yield path
    if old is None:
        os.environ.pop("EMODUB_CACHE_DIR", None)
    else:
        os.environ["EMODUB_CACHE_DIR"] = old


def flite_wav(path: Path, text: str, voice: str = "awb") -> Path:
    subprocess.run(["flite", "-voice", voice, "-t", text, "-o", str(path)], check=True)
    return path


@pytest.fixture(scope="session")
def reference_path(tmp_path_factory) -> Path:
    """About 6 s of flite's 'kal16' voice: a speaker the engine must adapt to."""
    return flite_wav(tmp_path_factory.mktemp("ref") / "reference.wav", REFERENCE_TEXT, "kal16")


@pytest.fixture(scope="session")
def reference(reference_path) -> Audio:
    return load_audio(reference_path)


@pytest.fixture
def write_wav(tmp_path):
    def write(name: str, samples: np.ndarray, rate: int) -> Path:
        path = tmp_path / name
        sf.write(path, samples.astype(np.float32), rate)
        return path

    return write


@pytest.fixture(scope="session")
def emotion_corpus(tmp_path_factory) -> Path:
    """The GRL bench's corpus: 4 flite voices × 4 emotions × 12 lines, rendered with the engine's rules."""
    from emodub.synthetic import GRL_CORPUS_EMOTIONS, GRL_CORPUS_VOICES, make_emotion_corpus

    return make_emotion_corpus(tmp_path_factory.mktemp("corpus"), voices=GRL_CORPUS_VOICES, emotions=GRL_CORPUS_EMOTIONS)


@pytest.fixture(scope="session")
def trained_encoders(tmp_path_factory, emotion_corpus) -> tuple[dict, Path]:
    """The bench's seed-0 run (150 epochs, λ 1): its report, and the folder of the saved GRL encoders."""
    from emodub.train import read_corpus, train_and_report

    folder = tmp_path_factory.mktemp("encoders")
    return train_and_report(read_corpus(emotion_corpus), folder, epochs=150, seed=0), folder
