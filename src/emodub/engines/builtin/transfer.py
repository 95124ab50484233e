"""Prosody transfer from an emotion reference recording (DESIGN paths 1 and 2).

Measured on the emotion reference, independently of the timbre reference: F0 level and
range *relative to that speaker's expected neutral* (the population mean of its F0 register,
since a neutral recording of that person is rarely at hand), the time-normalised shapes of
its F0 and energy contours, speaking rate (energy-peak syllable rate) and voice quality
(aperiodicity, spectral tilt).  These become a :class:`ProsodyShape` plus contour templates
that are laid, time-normalised, over the new utterance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.signal import find_peaks

from emodub.audio import Audio
from emodub.engines.builtin import world
from emodub.engines.builtin.render import BOUNDS, ProsodyShape
from emodub.memo import by_content

CONTOUR_POINTS = 100
# Neutral register norms (Hz, semitone spread) for low and high voices (Titze 1994; Traunmüller 1995).
NEUTRAL_LOW = (115.0, 2.2)
NEUTRAL_HIGH = (205.0, 2.4)
NEUTRAL_SYLLABLE_RATE_HZ = 4.5
NEUTRAL_AP_VOICED = 0.25


@dataclass(frozen=True)
class ProsodyTemplate:
    """What the emotion reference carries: a shape and time-normalised contours (z-scores)."""

    shape: ProsodyShape
    f0_contour_z: np.ndarray
    energy_contour_db: np.ndarray
    measured: dict[str, float]


def _interp_unvoiced(values: np.ndarray, voiced: np.ndarray) -> np.ndarray:
    if voiced.sum() < 2:
        return np.zeros_like(values)
    index = np.arange(len(values))
    return np.interp(index, index[voiced], values[voiced])


def time_normalised(values: np.ndarray, points: int = CONTOUR_POINTS) -> np.ndarray:
    return np.interp(np.linspace(0, len(values) - 1, points), np.arange(len(values)), values)


def f0_contour_z(features: world.WorldFeatures) -> np.ndarray:
    """Time-normalised, z-scored log-F0 contour over the voiced stretch (unvoiced gaps bridged)."""
    voiced = features.voiced
    if voiced.sum() < 5:
        return np.zeros(CONTOUR_POINTS)
    first, last = np.flatnonzero(voiced)[[0, -1]]
    log_f0 = _interp_unvoiced(np.log(np.where(voiced, features.f0_hz, 1.0)), voiced)[first:last + 1]
    std = float(np.std(log_f0))
    return time_normalised((log_f0 - np.mean(log_f0)) / (std if std > 0 else 1.0))


@by_content(maxsize=16)
def measure(reference: Audio) -> ProsodyTemplate:
    """Analyse an emotion reference into a prosody template (kept by content: a line's plan and its render share it)."""
    features = world.analyze(reference)
    mean, std = world.log_f0_stats(features)
    median_hz = math.exp(mean) if mean else NEUTRAL_LOW[0]
    norm_hz, norm_spread_st = NEUTRAL_LOW if median_hz < 160 else NEUTRAL_HIGH
    level_st = 12 * math.log2(median_hz / norm_hz)
    spread_st = std * 12 / math.log(2)
    energy_db = features.frame_energy_db()
    active = energy_db > energy_db.max() - 35
    peaks, _ = find_peaks(gaussian_smooth(energy_db), prominence=4, distance=int(0.1 / 0.005))
    active_s = active.sum() * features.frame_period_ms / 1000
    syllable_rate = len(peaks) / active_s if active_s > 0.3 else NEUTRAL_SYLLABLE_RATE_HZ
    ap_voiced = float(np.mean(features.ap[features.voiced])) if features.voiced.any() else NEUTRAL_AP_VOICED
    first, last = (np.flatnonzero(active)[[0, -1]] if active.any() else (0, len(energy_db) - 1))
    # Only the broad energy shape travels: syllable-level detail belongs to the other text.
    energy_contour = gaussian_smooth(time_normalised(energy_db[first:last + 1] - np.mean(energy_db[active])), 8.0)

    def bounded(name: str, value: float) -> float:
        low, high = BOUNDS[name]
        return min(high, max(low, value))

    shape = ProsodyShape(
        f0_shift_st=bounded("f0_shift_st", level_st),
        f0_range_factor=bounded("f0_range_factor", spread_st / norm_spread_st if spread_st else 1.0),
        rate_factor=bounded("rate_factor", syllable_rate / NEUTRAL_SYLLABLE_RATE_HZ),
        breathiness=bounded("breathiness", max(0.0, ap_voiced - NEUTRAL_AP_VOICED)),
    )
    measured = {
        "median_f0_hz": round(median_hz, 1),
        "f0_spread_st": round(spread_st, 2),
        "syllable_rate_hz": round(syllable_rate, 2),
        "aperiodicity_voiced": round(ap_voiced, 3),
    }
    return ProsodyTemplate(shape, f0_contour_z(features), energy_contour, measured)


def gaussian_smooth(values: np.ndarray, sigma_frames: float = 4.0) -> np.ndarray:
    from scipy.ndimage import gaussian_filter1d

    return gaussian_filter1d(values, sigma_frames)


def scaled_shape(shape: ProsodyShape, alpha: float) -> ProsodyShape:
    """The template's shape at strength ``alpha`` (0 = neutral, 1 = as measured)."""
    neutral = ProsodyShape()
    values = {}
    for name, value in shape.to_dict().items():
        base = getattr(neutral, name)
        values[name] = base * (value / base) ** alpha if name.endswith("_factor") else base + alpha * (value - base)
    return ProsodyShape(**values)


def impose_contours(features: world.WorldFeatures, template: ProsodyTemplate, alpha: float, *, tonal: bool = False
                    ) -> world.WorldFeatures:
    """Blend the utterance's own F0 contour shape with the reference's (time-normalised), and its energy contour.

    ``tonal`` (Mandarin): the F0 shape is left alone — its movements are the words' lexical tones, and
    a contour from another utterance erases them (a Mandarin dub cue over an English original: the
    ear's CER 0.43 with the F0 shape transferred, 0.14 with the tones kept).  The energy contour still transfers.
    """
    voiced = features.voiced
    if voiced.sum() < 5 or alpha == 0:
        return features
    if tonal:
        return features.with_(sp=_energy_contour(features, template, alpha))
    first, last = np.flatnonzero(voiced)[[0, -1]]
    span = last - first + 1
    log_f0 = np.log(np.where(voiced, features.f0_hz, 1.0))
    own = _interp_unvoiced(log_f0, voiced)[first:last + 1]
    mean, std = float(np.mean(own)), float(np.std(own)) or 1e-3
    ref = np.interp(np.linspace(0, CONTOUR_POINTS - 1, span), np.arange(CONTOUR_POINTS), template.f0_contour_z)
    blended = (1 - alpha) * (own - mean) / std + alpha * ref
    new_log_f0 = log_f0.copy()
    new_log_f0[first:last + 1] = mean + blended * std
    f0 = np.where(voiced, np.exp(new_log_f0), 0.0)
    return features.with_(f0_hz=f0, sp=_energy_contour(features, template, alpha))


def _energy_contour(features: world.WorldFeatures, template: ProsodyTemplate, alpha: float) -> np.ndarray:
    """The spectral envelope with the reference's time-normalised energy contour blended in by ``alpha``."""
    energy = np.interp(np.linspace(0, CONTOUR_POINTS - 1, features.n_frames), np.arange(CONTOUR_POINTS),
                       template.energy_contour_db)
    return features.sp * (10 ** (alpha * 0.5 * np.clip(energy, -12, 12) / 10))[:, None]
