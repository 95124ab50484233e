"""WORLD vocoder analysis/synthesis (pyworld): F0, spectral envelope, aperiodicity per 5-ms frame.

DIO + StoneMask for F0 (Harvest is ~17× slower, kept off the hot path), CheapTrick for the
envelope, D4C for aperiodicity.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace

import numpy as np

with warnings.catch_warnings():  # pyworld imports the deprecated pkg_resources
    warnings.simplefilter("ignore")
    import pyworld

from emodub.audio import Audio
from emodub.timing import find_pauses, land_exactly, plan_time_map

FRAME_PERIOD_MS = 5.0
ANALYSIS_RATE_HZ = 22050
F0_FLOOR_HZ, F0_CEIL_HZ = 60.0, 700.0


@dataclass(frozen=True)
class WorldFeatures:
    """Per-frame WORLD parameters; ``sp`` and ``ap`` are (frames, fft_size // 2 + 1)."""

    f0_hz: np.ndarray
    sp: np.ndarray
    ap: np.ndarray
    sample_rate_hz: int
    frame_period_ms: float = FRAME_PERIOD_MS

    @property
    def n_frames(self) -> int:
        return len(self.f0_hz)

    @property
    def voiced(self) -> np.ndarray:
        return self.f0_hz > 0

    @property
    def frequencies_hz(self) -> np.ndarray:
        return np.linspace(0, self.sample_rate_hz / 2, self.sp.shape[1])

    def frame_energy_db(self) -> np.ndarray:
        return 10 * np.log10(np.sum(self.sp, axis=1) + 1e-12)

    def with_(self, **changes) -> WorldFeatures:
        return replace(self, **changes)

    def resampled_in_time(self, positions: np.ndarray) -> WorldFeatures:
        """Features read at fractional frame ``positions`` (linear in log-sp; F0 nearest-voicing)."""
        index = np.arange(self.n_frames)
        lo = np.floor(positions).astype(int).clip(0, self.n_frames - 1)
        hi = (lo + 1).clip(0, self.n_frames - 1)
        w = (positions - lo)[:, None]
        log_sp = np.log(self.sp + 1e-16)
        sp = np.exp((1 - w) * log_sp[lo] + w * log_sp[hi])
        ap = (1 - w) * self.ap[lo] + w * self.ap[hi]
        nearest = np.rint(positions).astype(int).clip(0, self.n_frames - 1)
        voiced = self.voiced[nearest]
        log_f0 = np.log(np.where(self.voiced, self.f0_hz, 1.0))
        f0 = np.where(voiced, np.exp(np.interp(positions, index[self.voiced], log_f0[self.voiced])) if self.voiced.any() else 0.0, 0.0)
        return WorldFeatures(f0, sp, ap, self.sample_rate_hz, self.frame_period_ms)


def analyze(audio: Audio, frame_stride: int = 1, dio_speed: int = 1) -> WorldFeatures:
    """WORLD analysis of ``audio`` (resampled to 22.05 kHz).

    For statistics over a recording (a reference voice), not for synthesis: ``frame_stride`` > 1
    keeps every n-th 5-ms frame (F0 is still tracked on the 5-ms grid), and the envelope and
    aperiodicity, WORLD's costly passes, are measured only there; ``dio_speed`` > 1 tracks F0 on
    a downsampled signal (2: about 2× faster, log-F0 mean and spread within 0.002 on real voices and flite;
    3 moved a flite voice's spread by 20 %).
    """
    audio = audio.resampled(ANALYSIS_RATE_HZ)
    x = audio.samples.astype(np.float64)
    fs = audio.sample_rate_hz
    f0, t = pyworld.dio(x, fs, f0_floor=F0_FLOOR_HZ, f0_ceil=F0_CEIL_HZ, frame_period=FRAME_PERIOD_MS,
                       speed=dio_speed)
    f0 = np.ascontiguousarray(pyworld.stonemask(x, f0, t, fs)[::frame_stride])
    t = np.ascontiguousarray(t[::frame_stride])
    sp = pyworld.cheaptrick(x, f0, t, fs)
    ap = pyworld.d4c(x, f0, t, fs)
    return WorldFeatures(f0, sp, ap, fs, FRAME_PERIOD_MS * frame_stride)


def synthesize(features: WorldFeatures) -> Audio:
    """WORLD synthesis back to a waveform."""
    y = pyworld.synthesize(
        np.ascontiguousarray(features.f0_hz, dtype=np.float64),
        np.ascontiguousarray(features.sp, dtype=np.float64),
        np.ascontiguousarray(np.clip(features.ap, 0.0, 1.0), dtype=np.float64),
        features.sample_rate_hz,
        features.frame_period_ms,
    )
    return Audio(y.astype(np.float32), features.sample_rate_hz)


def at_rate(features: WorldFeatures, sample_rate_hz: int, fft_size: int) -> WorldFeatures:
    """The same frames described for synthesis at a lower ``sample_rate_hz`` with ``fft_size``.

    Envelope and aperiodicity are read (linearly) at the new grid's frequencies; what lies above
    the new Nyquist frequency is dropped.  A render for GE2E, which hears 16 kHz, costs half as
    much this way as at 22.05 kHz and resampled.
    """
    source_hz = features.frequencies_hz
    target_hz = np.linspace(0, sample_rate_hz / 2, fft_size // 2 + 1)
    position = np.interp(target_hz, source_hz, np.arange(len(source_hz)))
    lo = np.floor(position).astype(int)
    hi = np.minimum(lo + 1, len(source_hz) - 1)
    w = position - lo
    return features.with_(sp=features.sp[:, lo] * (1 - w) + features.sp[:, hi] * w,
                          ap=features.ap[:, lo] * (1 - w) + features.ap[:, hi] * w, sample_rate_hz=sample_rate_hz)


def encode_envelope(features: WorldFeatures, dims: int) -> np.ndarray:
    """WORLD's coded spectral envelope: (frames, dims) mel-cepstrum-like coefficients."""
    return pyworld.code_spectral_envelope(np.ascontiguousarray(features.sp), features.sample_rate_hz, dims)


def decode_envelope(features: WorldFeatures, coded: np.ndarray) -> WorldFeatures:
    """``features`` with its envelope replaced by the decoded ``coded`` envelope."""
    fft_size = (features.sp.shape[1] - 1) * 2
    sp = pyworld.decode_spectral_envelope(np.ascontiguousarray(coded, dtype=np.float64), features.sample_rate_hz, fft_size)
    return features.with_(sp=sp)


def log_f0_stats(features: WorldFeatures) -> tuple[float, float]:
    """Mean and standard deviation of log-F0 over voiced frames (0, 0 when unvoiced)."""
    voiced = features.f0_hz[features.voiced]
    if len(voiced) < 5:
        return 0.0, 0.0
    log_f0 = np.log(voiced)
    return float(np.mean(log_f0)), float(np.std(log_f0))


def fit_length(audio: Audio, target_s: float, smoothness: float = 0.5) -> Audio:
    """``audio`` stretched to ``target_s`` exactly: WORLD time map (pauses first), then sample-exact landing.

    For engines that cannot land a length themselves (IndexTTS2): the same length fit the
    builtin engine uses, applied to finished audio.
    """
    features = analyze(audio)
    frame_s = features.frame_period_ms / 1000
    spans = find_pauses(features.frame_energy_db())
    positions = plan_time_map(spans, target_s / frame_s, smoothness=smoothness)
    stretched = synthesize(features.resampled_in_time(positions))
    gain = audio.rms_dbfs - stretched.rms_dbfs if np.isfinite(audio.rms_dbfs) and np.isfinite(stretched.rms_dbfs) else 0.0
    samples = stretched.samples * 10 ** (gain / 20)
    return Audio(land_exactly(samples.astype(np.float32), int(round(target_s * stretched.sample_rate_hz))), stretched.sample_rate_hz)
