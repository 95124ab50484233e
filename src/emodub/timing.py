"""Duration planning and exact length fit.

``free`` keeps the natural length; ``controlled`` takes a ratio (0.75–1.25 of the free length),
a target in seconds, or a target token count.  Token counts use IndexTTS2's semantic-token
rate: its s2mel stage turns ``n`` tokens into ``n × 1.72`` mel frames at 22050/256 Hz, i.e.
50.08 tokens per second (``TOKEN_RATE_HZ``).  ``smoothness`` (0..1) puts the change into
pauses first, then phones, instead of a uniform stretch.  The final length is landed to the
sample, so |error| ≤ 0.5 sample (≈0.02 ms at 22.05 kHz).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from emodub.errors import InputError

RATIO_MIN, RATIO_MAX = 0.75, 1.25
# A target in seconds may imply a wider ratio than --ratio accepts (dubbing needs it); past
# this hard range the voice breaks up, so it is refused.
IMPLIED_RATIO_MIN, IMPLIED_RATIO_MAX = 0.5, 2.0
TOKEN_RATE_HZ = 22050 / 256 / 1.72
# How far pauses may stretch or shrink before phones take the rest of the change.
PAUSE_MAX_GROWTH = 3.0
PAUSE_MIN_KEEP = 0.25


@dataclass(frozen=True)
class DurationPlan:
    """What length the user asked for; validated on construction, never silently altered."""

    mode: Literal["free", "controlled"] = "free"
    ratio: float | None = None
    target_duration_s: float | None = None
    target_token_count: int | None = None
    smoothness: float = 0.5

    def __post_init__(self) -> None:
        if self.mode not in ("free", "controlled"):
            raise InputError(f"duration mode {self.mode!r} is not allowed; use 'free' or 'controlled'")
        given = [k for k in ("ratio", "target_duration_s", "target_token_count") if getattr(self, k) is not None]
        if self.mode == "free" and given:
            raise InputError(f"{given[0]}={getattr(self, given[0])!r} needs mode 'controlled' (mode is 'free')")
        if self.mode == "controlled" and len(given) != 1:
            raise InputError(
                "controlled mode needs exactly one of ratio, target_duration_s, target_token_count; "
                f"got {', '.join(given) or 'none'}"
            )
        if self.ratio is not None and (_nan(self.ratio) or not RATIO_MIN <= self.ratio <= RATIO_MAX):
            raise InputError(f"ratio {self.ratio!r} is outside the allowed range {RATIO_MIN}–{RATIO_MAX}")
        if self.target_duration_s is not None and (_nan(self.target_duration_s) or self.target_duration_s <= 0):
            raise InputError(f"target_duration_s {self.target_duration_s!r} must be > 0 seconds")
        if self.target_token_count is not None and (
            isinstance(self.target_token_count, bool)
            or not isinstance(self.target_token_count, int)
            or self.target_token_count <= 0
        ):
            raise InputError(f"target_token_count {self.target_token_count!r} must be a whole number > 0")
        if _nan(self.smoothness) or not 0.0 <= self.smoothness <= 1.0:
            raise InputError(f"smoothness {self.smoothness!r} is outside the allowed range 0..1")

    def target_length_s(self, free_duration_s: float) -> float:
        """The length to land, given the natural (free) length of the utterance."""
        if self.mode == "free":
            return free_duration_s
        if self.ratio is not None:
            return free_duration_s * self.ratio
        target = self.target_duration_s if self.target_duration_s is not None else self.target_token_count / TOKEN_RATE_HZ
        implied = target / free_duration_s
        if not IMPLIED_RATIO_MIN <= implied <= IMPLIED_RATIO_MAX:
            asked = (f"target_duration_s {self.target_duration_s!r}" if self.target_duration_s is not None
                     else f"target_token_count {self.target_token_count!r} ({target:.2f} s)")
            raise InputError(
                f"{asked} is {implied:.2f}× the natural length {free_duration_s:.2f} s; "
                f"allowed {IMPLIED_RATIO_MIN}–{IMPLIED_RATIO_MAX}× (shorten or lengthen the text)"
            )
        return target


def _nan(value: float | None) -> bool:
    return value is not None and isinstance(value, float) and math.isnan(value)


@dataclass(frozen=True)
class Span:
    """A stretch of the input timeline, in frames, marked as pause or speech."""

    start: int
    end: int
    is_pause: bool

    @property
    def length(self) -> int:
        return self.end - self.start


def spans_from_phones(phones: list[tuple[str, float]], n_frames: int, frame_s: float, *, pause_label: str = "pau",
                      min_pause_frames: int = 6) -> list[Span]:
    """Speech/pause spans from the base synthesiser's own phone timings ((label, end_s) in order).

    More exact than :func:`find_pauses`: a pause is where the synthesiser put one, not where the
    energy happens to dip (a stop closure or a quiet fricative).
    """
    spans: list[Span] = []
    start = 0
    for label, end_s in phones:
        end = min(n_frames, int(round(end_s / frame_s)))
        if end <= start:
            continue
        is_pause = label == pause_label and end - start >= min_pause_frames
        if spans and spans[-1].is_pause == is_pause:
            spans[-1] = Span(spans[-1].start, end, is_pause)
        else:
            spans.append(Span(start, end, is_pause))
        start = end
    if start < n_frames:  # audio after the last phone (the synthesiser's tail): a pause
        if spans and spans[-1].is_pause:
            spans[-1] = Span(spans[-1].start, n_frames, True)
        else:
            spans.append(Span(start, n_frames, True))
    return spans


def find_pauses(frame_energy_db: np.ndarray, *, threshold_db: float = -35.0, min_pause_frames: int = 12) -> list[Span]:
    """Split frames into speech and pause spans; quiet runs shorter than ``min_pause_frames`` are speech."""
    n = len(frame_energy_db)
    if n == 0:
        return []
    quiet = frame_energy_db < (np.max(frame_energy_db) + threshold_db)
    spans: list[Span] = []
    start = 0
    for i in range(1, n + 1):
        if i == n or quiet[i] != quiet[start]:
            spans.append(Span(start, i, bool(quiet[start])))
            start = i
    merged: list[Span] = []
    for span in spans:
        is_pause = span.is_pause and span.length >= min_pause_frames
        if merged and merged[-1].is_pause == is_pause:
            merged[-1] = Span(merged[-1].start, span.end, is_pause)
        else:
            merged.append(Span(span.start, span.end, is_pause))
    return merged


def plan_time_map(spans: list[Span], target_frames: float, *, smoothness: float,
                  natural_lengths: list[float] | None = None) -> np.ndarray:
    """Output-frame ► input-frame positions (monotone) that turn ``spans`` into ``target_frames``.

    ``natural_lengths`` are the spans' free lengths in output frames (defaults to their input
    lengths; the engine passes lengths already scaled by the emotion's rate and pauses).
    Pauses take ``smoothness`` of the remaining change (within their stretch limits); the rest
    is spread uniformly over every span.  Returns one fractional input frame index per output
    frame (``round(target_frames)`` of them).
    """
    lengths = np.array(natural_lengths if natural_lengths is not None else [s.length for s in spans], dtype=float)
    is_pause = np.array([s.is_pause for s in spans])
    total = float(lengths.sum())
    n_out = int(round(target_frames))
    if total <= 0 or n_out <= 0:
        raise InputError(f"cannot fit {total:.0f} frames into {target_frames!r} output frames")
    delta = target_frames - total
    pause_total = float(lengths[is_pause].sum())
    capacity = pause_total * (PAUSE_MAX_GROWTH - 1) if delta > 0 else -pause_total * (1 - PAUSE_MIN_KEEP)
    pause_delta = smoothness * (min(delta, capacity) if delta > 0 else max(delta, capacity))
    staged = np.where(is_pause, lengths * ((pause_total + pause_delta) / pause_total if pause_total else 1.0), lengths)
    out_lengths = staged * (target_frames / staged.sum())
    # Piecewise-linear map: cumulative output boundaries ► input boundaries.
    out_edges = np.concatenate([[0.0], np.cumsum(out_lengths)])
    in_edges = np.array([spans[0].start] + [s.end for s in spans], dtype=float)
    out_positions = (np.arange(n_out) + 0.5) * (out_edges[-1] / n_out)
    return np.clip(np.interp(out_positions, out_edges, in_edges) - 0.5, 0, in_edges[-1] - 1)


def land_exactly(samples: np.ndarray, n_samples: int) -> np.ndarray:
    """Make ``samples`` exactly ``n_samples`` long: pad/trim a quiet tail, else resample by the tiny rest."""
    diff = n_samples - len(samples)
    if diff == 0:
        return samples
    tail = samples[-max(1, min(len(samples), abs(diff) + 64)):]
    if np.max(np.abs(tail)) < 1e-3:
        return np.pad(samples, (0, diff)) if diff > 0 else samples[:n_samples]
    positions = np.linspace(0, len(samples) - 1, n_samples)
    return np.interp(positions, np.arange(len(samples)), samples).astype(samples.dtype)


def duration_error_ms(actual_s: float, target_s: float) -> float:
    return (actual_s - target_s) * 1000.0
