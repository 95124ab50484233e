"""Timbre adaptation to a ~5 s speaker reference, chosen by measured speaker similarity.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from emodub.audio import Audio
from emodub.engines.builtin import world

if TYPE_CHECKING:
    from emodub.engines.builtin.voice_profile import VoiceChoice, VoiceProfile


CEPSTRUM_DIMS = 40
BAND_EDGE = 0.9
AP_BANDS_HZ = ((0, 1000), (1000, 4000), (4000, 11025))
FRAME_MATCH_NEIGHBOURS = 4
SCORE_FFT_SIZE = {16000: 512}  # the FFT a render at that rate is synthesised with (a 32-ms window: F0 down to 31 Hz)


def voiced_values(features: world.WorldFeatures, values: np.ndarray) -> np.ndarray:
    """Rows of ``values`` at voiced frames (all frames when fewer than 10 are voiced)."""
    return values[features.voiced] if features.voiced.sum() > 10 else values


def voiced_coded(features: world.WorldFeatures) -> np.ndarray:
    """The coded envelope of the voiced frames: what the statistics and the frame matching use."""
    return voiced_values(features, world.encode_envelope(features, CEPSTRUM_DIMS))


def cepstrum_stats(coded: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-coefficient mean and standard deviation of coded envelope rows."""
    return coded.mean(axis=0), coded.std(axis=0)


def ap_bands_of(features: world.WorldFeatures) -> np.ndarray:
    freqs = features.frequencies_hz
    frames = voiced_values(features, features.ap)
    return np.array([float(np.mean(frames[:, (freqs >= lo) & (freqs < hi)])) for lo, hi in AP_BANDS_HZ])


def band_cutoff_hz(nyquist_hz: float) -> float:
    """Top of the band a reference describes: a little under its Nyquist frequency (anti-alias roll-off)."""
    return BAND_EDGE * nyquist_hz


def band_limited(features: world.WorldFeatures, nyquist_hz: float) -> world.WorldFeatures:
    """The envelope above the reference's band replaced by a −12 dB/octave continuation.

    A 16-kHz reference has no energy above 8 kHz; coded as it is, that cliff would dominate the
    cepstral statistics and the matching would paint ripples and hiss into the whole spectrum.
    Base voices are limited the same way, so both sides of the mapping describe the same band.
    """
    cutoff = band_cutoff_hz(nyquist_hz)
    freqs = features.frequencies_hz
    if cutoff >= freqs[-1]:
        return features
    edge = int(np.searchsorted(freqs, cutoff))
    sp = features.sp.copy()
    sp[:, edge:] = sp[:, edge - 1:edge] * (freqs[edge:] / freqs[edge - 1])[None, :] ** -4.0
    return features.with_(sp=sp)


def warp_envelope(sp: np.ndarray, warp: float, first_bin: int = 0) -> np.ndarray:
    """Frequency-warp the envelope: the value at f moves to warp·f (linear in log power).  Bins from ``first_bin`` on."""
    bins = np.arange(first_bin, sp.shape[1])
    if warp == 1.0:
        return sp[:, first_bin:]
    source = np.clip(bins / warp, 0, sp.shape[1] - 1)
    lo = np.floor(source).astype(int)
    hi = np.minimum(lo + 1, sp.shape[1] - 1)
    w = source - lo
    return np.exp((1 - w) * np.log(sp[:, lo] + 1e-16) + w * np.log(sp[:, hi] + 1e-16))


def map_f0(features: world.WorldFeatures, profile: VoiceProfile) -> world.WorldFeatures:
    """Map log-F0 onto the reference's mean and spread (z-score transform)."""
    mean, std = world.log_f0_stats(features)
    if std == 0.0 or profile.log_f0_std == 0.0:
        return features
    f0 = features.f0_hz.copy()
    v = features.voiced
    f0[v] = np.exp(profile.log_f0_mean + (np.log(f0[v]) - mean) * (profile.log_f0_std / std))
    return features.with_(f0_hz=f0)


@dataclass(frozen=True)
class Warped:
    """A base voice's frames and their envelope warped by ``warp`` and coded within the reference's band.

    The part of :func:`adapt` that does not depend on the reference's statistics, computed once
    per frame sequence and warp (or read from the per-machine store, :func:`stored_coded`): the
    search's statistics and its renders share it.  ``features`` keep the unwarped envelope;
    only what lies above the reference's band is ever read warped (:meth:`envelope_from`).
    """

    features: world.WorldFeatures
    warp: float
    coded: np.ndarray  # (frames, CEPSTRUM_DIMS)

    def envelope_from(self, first_bin: int) -> np.ndarray:
        """The warped envelope's bins from ``first_bin`` on."""
        return warp_envelope(self.features.sp, self.warp, first_bin)


def warped(features: world.WorldFeatures, warp: float, nyquist_hz: float) -> Warped:
    coded = world.encode_envelope(band_limited(features.with_(sp=warp_envelope(features.sp, warp)), nyquist_hz), CEPSTRUM_DIMS)
    return Warped(features, warp, coded)


def match_cepstrum(source: Warped, profile: VoiceProfile, choice: VoiceChoice) -> world.WorldFeatures:
    """Move each envelope coefficient of voiced frames from the base voice's mean/spread to the reference's.

    Coefficient 0 (overall level) is kept: loudness is set later, by BS.1770.  Above the
    reference's band the base voice keeps its own envelope shape, joined level-matched at the
    band edge (the reference says nothing about it).
    """
    features, coded = source.features, source.coded
    if choice.envelope_match == 0 and choice.frame_match == 0 and source.warp == 1.0:
        return features  # nothing to impose: the base voice's own envelope, not its 40-coefficient coding
    scale = np.asarray(profile.cepstrum_std) / np.maximum(np.asarray(choice.cepstrum_std), 1e-6)
    mapped = coded.copy()  # unvoiced frames (fricatives, silence) keep their envelope: the statistics are of voiced speech
    v = features.voiced
    mapped[v] = np.asarray(profile.cepstrum_mean) + (coded[v] - np.asarray(choice.cepstrum_mean)) * scale
    if choice.envelope_match < 1.0:
        mapped[v] = coded[v] + choice.envelope_match * (mapped[v] - coded[v])
    share = choice.frame_match
    if share > 0 and profile.voiced_frames and v.any():
        mapped[v] = (1 - share) * mapped[v] + share * nearest_frames_mean(mapped[v], profile.voiced_frames_array)
    mapped[:, 0] = coded[:, 0]
    matched = world.decode_envelope(features, mapped)
    edge = int(np.searchsorted(features.frequencies_hz, band_cutoff_hz(profile.nyquist_hz)))
    if edge >= features.sp.shape[1]:
        return matched
    sp, above = matched.sp.copy(), source.envelope_from(edge - 1)
    sp[:, edge:] = above[:, 1:] * (matched.sp[:, edge - 1] / np.maximum(above[:, 0], 1e-16))[:, None]
    return matched.with_(sp=sp)


def nearest_frames_mean(queries: np.ndarray, frames: np.ndarray, k: int = FRAME_MATCH_NEIGHBOURS) -> np.ndarray:
    """For each query row, the mean of its ``k`` nearest ``frames`` rows (Euclidean over coefficients 1…; c0 is level)."""
    q, f = queries[:, 1:], frames[:, 1:]
    distances = (q ** 2).sum(1)[:, None] + (f ** 2).sum(1)[None, :] - 2 * q @ f.T
    k = min(k, len(frames))
    nearest = np.argpartition(distances, k - 1, axis=1)[:, :k]
    return frames[nearest].mean(axis=1)


def adapt(features: world.WorldFeatures, profile: VoiceProfile, choice: VoiceChoice) -> world.WorldFeatures:
    """Apply F0 mapping, envelope warp, cepstral matching and aperiodicity shift."""
    return adapt_warped(warped(features, choice.warp, profile.nyquist_hz), profile, choice)


def adapt_warped(source: Warped, profile: VoiceProfile, choice: VoiceChoice) -> world.WorldFeatures:
    """:func:`adapt` from frames already warped by ``choice.warp`` (:func:`warped`)."""
    features = match_cepstrum(source, profile, choice)
    features = map_f0(features, profile) if choice.f0_match else features
    ap = features.ap.copy()
    freqs = features.frequencies_hz
    v = features.voiced
    for (lo, hi), shift in zip(AP_BANDS_HZ, choice.ap_shift):
        band = (freqs >= lo) & (freqs < hi)
        ap[np.ix_(v, band)] = np.clip(ap[np.ix_(v, band)] + shift, 0.0, 1.0)
    return features.with_(ap=ap)


def render_choice(source: Warped, profile: VoiceProfile, choice: VoiceChoice, rate_hz: int | None) -> Audio:
    """A candidate's rendering of ``source`` at ``rate_hz`` (None: WORLD's own), for GE2E or the ear (both hear 16 kHz)."""
    adapted = adapt_warped(source, profile, choice)
    if rate_hz is not None:
        adapted = world.at_rate(adapted, rate_hz, SCORE_FFT_SIZE.get(rate_hz, 1024))
    return world.synthesize(adapted)


def reshapes_envelope(choice: VoiceChoice) -> bool:
    """Whether ``choice`` changes the base voice's spectral envelope or aperiodicity (warp, cepstral or frame matching)."""
    return choice.warp != 1.0 or choice.frame_match != 0 or choice.envelope_match != 0 or any(choice.ap_shift)


def imposes_nothing(choice: VoiceChoice) -> bool:
    """Whether ``choice`` leaves the base voice as it is (no F0 mapping, warp, envelope or aperiodicity change)."""
    return not choice.f0_match and not reshapes_envelope(choice)


def render_adapted(features: world.WorldFeatures, profile: VoiceProfile, choice: VoiceChoice, rate_hz: int | None = 16000) -> Audio:
    """``features`` adapted by ``choice`` and synthesised at ``rate_hz``: how the search hears a candidate (GE2E, ear, judge)."""
    return render_choice(warped(features, choice.warp, profile.nyquist_hz), profile, choice, rate_hz)
