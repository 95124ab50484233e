"""Exact length for a neural base voice without a vocoder pass: the model's own speed, then the pauses.

WORLD analysis and resynthesis alone cost Kokoro about 0.3 MOS (the alsa-utils voice: 4.20 raw,
3.93 resynthesised), so a line that needs no F0 or envelope change keeps the model's own samples:
it is rendered at the speed whose predicted length (:func:`kokoro.speed_for_length`, the duration
predictor alone) is nearest the target, rendered once more only if it missed by more than
``SPEED_TOLERANCE``, and the few milliseconds left are taken from, or given to, its pauses
(leading and trailing silence included).  Only when the pauses cannot take
the rest is the waveform resampled by that tiny rest (:func:`emodub.timing.land_exactly`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from emodub.audio import Audio
from emodub.timing import land_exactly

SPEED_RANGE = (0.5, 2.0)  # what Kokoro's duration predictor is trained to be scaled by
SPEED_TOLERANCE = 0.03  # a render within 3 % of the target is not rendered again: its pauses take the rest
PAUSE_FRAME_S = 0.01
PAUSE_DB = 40.0  # a frame this far under the line's loudest is a pause
MIN_PAUSE_S = 0.05
KEEP_PAUSE_S = 0.03  # a pause is never shortened below this


def rendered_near(render: Callable[[float], Audio], speed: float, target_s: float) -> tuple[Audio, float, int]:
    """``render(speed)``, and once more at the corrected speed if it missed ``target_s`` by more than ``SPEED_TOLERANCE``.

    Returns the render, its speed and how many renders it took (1 or 2).
    """
    audio = render(speed)
    if abs(audio.duration_s - target_s) <= SPEED_TOLERANCE * target_s:
        return audio, speed, 1
    speed = float(np.clip(speed * audio.duration_s / target_s, *SPEED_RANGE))
    return render(speed), speed, 2


def pause_runs(samples: np.ndarray, sample_rate_hz: int) -> list[tuple[int, int]]:
    """(start, end) sample ranges of the pauses: runs of quiet 10-ms frames at least ``MIN_PAUSE_S`` long."""
    frame = max(1, int(PAUSE_FRAME_S * sample_rate_hz))
    n = len(samples) // frame
    if n == 0:
        return []
    level = 20 * np.log10(np.sqrt(np.mean(samples[: n * frame].reshape(n, frame) ** 2, axis=1)) + 1e-9)
    quiet = level < level.max() - PAUSE_DB
    runs, start = [], None
    for i, q in enumerate([*quiet, False]):
        if q and start is None:
            start = i
        elif not q and start is not None:
            if (i - start) * frame >= MIN_PAUSE_S * sample_rate_hz:
                runs.append((start * frame, min(len(samples), i * frame)))
            start = None
    return runs


def fit_pauses(samples: np.ndarray, n_samples: int, sample_rate_hz: int) -> tuple[np.ndarray, str]:
    """``samples`` made exactly ``n_samples`` long by lengthening or shortening pauses; says how."""
    diff = n_samples - len(samples)
    if diff == 0:
        return samples, "as rendered"
    runs = pause_runs(samples, sample_rate_hz)
    keep = int(KEEP_PAUSE_S * sample_rate_hz)
    room = [end - start - keep for start, end in runs] if diff < 0 else [end - start for start, end in runs]
    total_room = sum(max(0, r) for r in room)
    if total_room <= 0 or (diff < 0 and -diff > total_room):
        return land_exactly(samples, n_samples), "resampled by the rest (no pause could take it)"
    changes = np.floor(np.array([max(0, r) for r in room]) / total_room * abs(diff)).astype(int)
    changes[int(np.argmax(room))] += abs(diff) - int(changes.sum())
    pieces, cursor = [], 0
    for (start, end), change in zip(runs, changes):
        middle = (start + end) // 2
        pieces.append(samples[cursor:middle])
        if diff > 0:
            pieces.append(np.zeros(change, samples.dtype))
            cursor = middle
        else:
            cursor = middle + change
    pieces.append(samples[cursor:])
    return np.concatenate(pieces), f"pauses {'lengthened' if diff > 0 else 'shortened'} by {abs(diff) / sample_rate_hz * 1000:.1f} ms"


__all__ = ["fit_pauses", "pause_runs", "rendered_near"]
