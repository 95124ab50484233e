"""The inaudible watermark on every speech output, and its detector: Resemble's PerTh (MIT, weights inside its wheel).

PerTh's implicit watermarker (``resemble-perth``) reshapes the magnitude spectrum below 2 kHz at
32 kHz so that its decoder, which looks at the whole spectrogram at three time scales, reads a
confidence near 1 on marked speech and near 0 on anything else.  It imports three torchaudio
transforms; :mod:`emodub.torchaudio_standin` provides them where torchaudio does not load.

emodub marks each finished line (after its length fit and loudness, which would otherwise blur
the mark) and never the music bed; :func:`detect` reads a file in windows, so a few marked lines
in a long mix are found even where music or silence fills the rest.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import threading
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from emodub import media
from emodub.audio import Audio
from emodub.errors import InputError

PACKAGE = "resemble-perth==1.0.1"
METHOD = "PerTh implicit watermark (resemble-perth 1.0.1, MIT)"
LICENCE = "MIT (code and weights; the weights ship inside the resemble-perth wheel)"
FOUND_AT = 0.5  # confidence at or above which a window carries the mark (the decoder reads ≈1 marked, ≈0 unmarked)
MIN_DETECT_S = 1.0  # shorter audio cannot carry a mark the decoder can read
WINDOW_S = 4.0  # detection window; long files are read in windows so music between lines does not dilute the mark
HOP_S = 2.0
DETECT_RATE_HZ = 32000  # PerTh's own rate: files are decoded straight to it
MIN_WINDOW_RMS_DBFS = -50.0  # windows quieter than this (silence) are not read
_LOCK = threading.Lock()


def missing_reason() -> str | None:
    """Why the watermark cannot be applied here (None when it can), naming the package to install."""
    spec = importlib.util.find_spec("perth")
    if spec is None or not spec.submodule_search_locations:
        return f"the watermark's package is not installed: pip install {PACKAGE}"
    weights = [p for folder in spec.submodule_search_locations
               for p in Path(folder).glob("perth_net/pretrained/implicit/*.pth.tar")]
    return None if weights else f"the watermark's weights are missing from the perth package: pip install --force-reinstall {PACKAGE}"


def require() -> None:
    """Refuse up front (before any model loads) when outputs would have to go out unmarked."""
    reason = missing_reason()
    if reason is not None:
        raise InputError(f"{reason}; or pass --no-watermark to write unmarked outputs (the report and metadata say so)")


@lru_cache(maxsize=1)
def load_watermarker():
    """PerTh's implicit watermarker on the CPU, loaded once per process (its load message kept off stdout)."""
    from emodub.torchaudio_standin import ensure_torchaudio  # heavy (torch): loaded only when used

    require()
    ensure_torchaudio()
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")  # perth imports pkg_resources, which warns that it is deprecated
        from perth.perth_net.perth_net_implicit.perth_watermarker import PerthImplicitWatermarker

        marker = PerthImplicitWatermarker(device="cpu")
    marker.perth_net.eval()
    return marker


def _fitted(samples: np.ndarray, original: np.ndarray) -> np.ndarray:
    """The marked samples at the original's length (the inverse STFT drops the last part-frame: the original's tail fills it)."""
    if len(samples) >= len(original):
        return samples[: len(original)]
    return np.concatenate([samples, original[len(samples):]])


def mark(audio: Audio) -> Audio:
    """``audio`` with the watermark, same length and rate; audio too short to carry it comes back unchanged."""
    if audio.duration_s < 0.1 or audio.peak == 0.0:
        return audio
    import torch

    marker = load_watermarker()
    with _LOCK, torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        marked = np.asarray(marker.apply_watermark(audio.samples, sample_rate=audio.sample_rate_hz), dtype=np.float32)
    return Audio(np.clip(_fitted(marked, audio.samples), -1.0, 1.0), audio.sample_rate_hz)


def confidence(audio: Audio) -> float:
    """The decoder's confidence (0..1) that this stretch of audio is marked, read over the whole of it."""
    import torch

    marker = load_watermarker()
    with _LOCK, torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(np.clip(marker.get_watermark(audio.samples, sample_rate=audio.sample_rate_hz, round=False), 0.0, 1.0))


@dataclass(frozen=True)
class Detection:
    """What :func:`detect` found: the best window's confidence, where it starts, and how many windows carry the mark."""

    found: bool
    confidence: float
    at_s: float
    marked_windows: int
    windows: int

    def to_dict(self) -> dict:
        return {"found": self.found, "confidence": round(self.confidence, 4), "at_s": round(self.at_s, 2),
                "marked_windows": self.marked_windows, "windows": self.windows}


def windows(duration_s: float) -> list[float]:
    """Start times of the detection windows: one for audio up to a window long, else every HOP_S (the last one flush with the end)."""
    if duration_s <= WINDOW_S:
        return [0.0]
    starts = list(np.arange(0.0, duration_s - WINDOW_S, HOP_S))
    return [float(s) for s in starts] + [duration_s - WINDOW_S]


def detect(audio: Audio) -> Detection:
    """Whether ``audio`` carries the watermark: the decoder over the whole, and over each window that is not silent."""
    if audio.duration_s < MIN_DETECT_S:
        raise InputError(f"audio of {audio.duration_s:.2f} s is too short to carry a watermark; at least {MIN_DETECT_S:g} s is needed")
    rate = audio.sample_rate_hz
    scores = [(confidence(audio), 0.0)] if audio.duration_s > WINDOW_S else []
    for start in windows(audio.duration_s):
        piece = Audio(audio.samples[int(start * rate): int((start + WINDOW_S) * rate)], rate)
        if piece.rms_dbfs > MIN_WINDOW_RMS_DBFS:
            scores.append((confidence(piece), start))
    if not scores:
        return Detection(False, 0.0, 0.0, 0, 0)
    best, at_s = max(scores)
    window_scores = scores[1:] if audio.duration_s > WINDOW_S else scores
    marked = sum(score >= FOUND_AT for score, _ in window_scores)
    return Detection(best >= FOUND_AT, best, at_s, marked, len(window_scores))


@dataclass(frozen=True)
class FileDetection:
    """One file's answer for ``emodub detect``: the watermark reading and the emodub tags its container holds."""

    path: str
    duration_s: float
    detection: Detection
    tags: dict[str, str]

    @property
    def tagged(self) -> bool:
        return "emodub" in self.tags.get("software", "") or "SYNTHETIC SPEECH" in self.tags.get("comment", "")

    def to_dict(self) -> dict:
        return {"file": self.path, "duration_s": round(self.duration_s, 3), **self.detection.to_dict(),
                "emodub_tags": self.tags if self.tagged else {}}


TAG_KEYS = ("title", "software", "encoder", "comment", "date", "artist", "copyright")


def check_detectable(path: str | Path):
    """Probe ``path`` (InputError for a missing, non-media, empty, soundless or too short file); returns its media info."""
    info = media.probe(path)
    if not info.has_audio:
        raise InputError(f"file {str(path)!r} has no audio stream; there is no watermark to look for")
    if info.duration_s < MIN_DETECT_S:
        raise InputError(f"file {str(path)!r} lasts {info.duration_s:.2f} s, too short to carry a watermark; "
                         f"at least {MIN_DETECT_S:g} s is needed")
    return info


def detect_file(info) -> FileDetection:
    """Decode a probed file's first audio track (mono, PerTh's rate) and look for the mark; its emodub tags beside."""
    audio = media.extract_audio(info, DETECT_RATE_HZ)
    tags = {k: v for k, v in info.tags.items() if k in TAG_KEYS}
    return FileDetection(str(info.path), info.duration_s, detect(audio), tags)


__all__ = ["FOUND_AT", "LICENCE", "METHOD", "MIN_DETECT_S", "PACKAGE", "Detection", "FileDetection", "check_detectable", "confidence",
           "detect", "detect_file", "load_watermarker", "mark", "missing_reason", "require", "windows"]
