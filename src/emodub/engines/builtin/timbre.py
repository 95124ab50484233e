"""Timbre adaptation to a ~5 s speaker reference, chosen by measured speaker similarity.

Estimated from the reference: log-F0 mean and spread, long-term average spectrum (LTAS),
and band aperiodicity.  Applied to the base voice: F0 mapped onto the reference's log-F0
statistics, the spectral envelope warped in frequency by ``warp`` (vocal-tract length:
>1 shortens the tract and raises formants), the LTAS equalised toward the reference, and
aperiodicity moved toward the reference's.  The base voice and warp are chosen by a grid
search maximising GE2E similarity (``emodub.voice``) to the reference; the result is a
:class:`VoiceProfile`, cached on disk under the reference's content hash.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from scipy.ndimage import gaussian_filter1d

from emodub.audio import Audio
from emodub.engines.builtin import world
from emodub.engines.builtin.base_voice import synthesize_base, voices_for
from emodub.errors import EngineError
from emodub.voice import cosine, speaker_embedding

PROFILE_VERSION = 1
WARP_GRID = tuple(round(x, 2) for x in np.arange(0.82, 1.241, 0.04))
EQ_STRENGTH = 0.7
EQ_LIMIT_DB = 10.0
AP_BANDS_HZ = ((0, 1000), (1000, 4000), (4000, 11025))
PROBE_TEXT = {
    "en": "The quick brown fox jumps over the lazy dog, and then it runs away into the quiet forest.",
    "zh": "今天天气很好，我们一起去公园散步，然后回家吃饭。",
}


@dataclass
class VoiceChoice:
    """The base voice and warp chosen for one language, with the similarities measured."""

    base_voice: str
    warp: float
    eq_db: list[float]
    ap_shift: list[float]
    similarity: float
    base_similarity: float


@dataclass
class VoiceProfile:
    """What emodub learned about a reference voice.  Saved as JSON; keyed by content hash."""

    reference_hash: str
    log_f0_mean: float
    log_f0_std: float
    ltas_db: list[float]
    ap_bands: list[float]
    nyquist_hz: float
    choices: dict[str, VoiceChoice] = field(default_factory=dict)
    version: int = PROFILE_VERSION

    def save(self, path: str | os.PathLike) -> None:
        data = asdict(self)
        tmp = Path(f"{path}.tmp")
        tmp.write_text(json.dumps(data))
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> VoiceProfile:
        data = json.loads(Path(path).read_text())
        data["choices"] = {k: VoiceChoice(**v) for k, v in data["choices"].items()}
        return cls(**data)


def reference_hash(audio: Audio) -> str:
    digest = hashlib.sha256(audio.samples.tobytes())
    digest.update(str(audio.sample_rate_hz).encode())
    return digest.hexdigest()[:24]


def cache_dir() -> Path:
    root = Path(os.environ.get("EMODUB_CACHE_DIR") or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "emodub")
    path = root / "profiles"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _ltas_db(features: world.WorldFeatures) -> np.ndarray:
    """Smoothed long-term average log spectrum of voiced frames, in dB."""
    frames = features.sp[features.voiced] if features.voiced.sum() > 10 else features.sp
    return gaussian_filter1d(10 * np.log10(np.mean(frames, axis=0) + 1e-16), sigma=6)


def _ap_bands(features: world.WorldFeatures) -> np.ndarray:
    freqs = features.frequencies_hz
    frames = features.ap[features.voiced] if features.voiced.sum() > 10 else features.ap
    return np.array([float(np.mean(frames[:, (freqs >= lo) & (freqs < hi)])) for lo, hi in AP_BANDS_HZ])


def describe_reference(reference: Audio) -> VoiceProfile:
    """Measure the reference: F0 statistics, LTAS, band aperiodicity."""
    features = world.analyze(reference)
    mean, std = world.log_f0_stats(features)
    return VoiceProfile(
        reference_hash=reference_hash(reference),
        log_f0_mean=mean,
        log_f0_std=std,
        ltas_db=_ltas_db(features).round(3).tolist(),
        ap_bands=_ap_bands(features).round(4).tolist(),
        nyquist_hz=reference.sample_rate_hz / 2,
    )


def warp_envelope(sp: np.ndarray, warp: float) -> np.ndarray:
    """Frequency-warp the envelope: the value at f moves to warp·f (linear in log power)."""
    if warp == 1.0:
        return sp
    bins = np.arange(sp.shape[1])
    source = np.clip(bins / warp, 0, sp.shape[1] - 1)
    lo = np.floor(source).astype(int)
    hi = np.minimum(lo + 1, sp.shape[1] - 1)
    w = source - lo
    log_sp = np.log(sp + 1e-16)
    return np.exp((1 - w) * log_sp[:, lo] + w * log_sp[:, hi])


def map_f0(features: world.WorldFeatures, profile: VoiceProfile) -> world.WorldFeatures:
    """Map log-F0 onto the reference's mean and spread (z-score transform)."""
    mean, std = world.log_f0_stats(features)
    if std == 0.0 or profile.log_f0_std == 0.0:
        return features
    f0 = features.f0_hz.copy()
    v = features.voiced
    f0[v] = np.exp(profile.log_f0_mean + (np.log(f0[v]) - mean) * (profile.log_f0_std / std))
    return features.with_(f0_hz=f0)


def _equalizer(profile: VoiceProfile, warped_ltas_db: np.ndarray, freqs: np.ndarray) -> np.ndarray:
    diff = np.asarray(profile.ltas_db) - warped_ltas_db
    diff = diff - np.median(diff)  # level is set later by loudness; only the shape matters here
    diff[freqs > 0.95 * profile.nyquist_hz] = 0.0  # the reference says nothing above its band
    return np.clip(EQ_STRENGTH * diff, -EQ_LIMIT_DB, EQ_LIMIT_DB)


def adapt(features: world.WorldFeatures, profile: VoiceProfile, choice: VoiceChoice) -> world.WorldFeatures:
    """Apply F0 mapping, envelope warp, LTAS equalisation and aperiodicity shift."""
    features = map_f0(features, profile)
    sp = warp_envelope(features.sp, choice.warp) * (10 ** (np.asarray(choice.eq_db) / 10))[None, :]
    ap = features.ap.copy()
    freqs = features.frequencies_hz
    v = features.voiced
    for (lo, hi), shift in zip(AP_BANDS_HZ, choice.ap_shift):
        band = (freqs >= lo) & (freqs < hi)
        ap[np.ix_(v, band)] = np.clip(ap[np.ix_(v, band)] + shift, 0.0, 1.0)
    return features.with_(sp=sp, ap=ap)


def _choice_for(features: world.WorldFeatures, profile: VoiceProfile, base_voice: str, warp: float) -> VoiceChoice:
    warped = features.with_(sp=warp_envelope(features.sp, warp))
    eq = _equalizer(profile, _ltas_db(warped), features.frequencies_hz)
    ap_shift = 0.5 * (np.asarray(profile.ap_bands) - _ap_bands(features))
    return VoiceChoice(base_voice, warp, eq.round(3).tolist(), ap_shift.round(4).tolist(), 0.0, 0.0)


def choose_voice(reference: Audio, profile: VoiceProfile, language: str, *, candidates: list[str] | None = None,
                 progress=None) -> VoiceChoice:
    """Grid search over base voices × warps; keep the one most similar to the reference."""
    ref_embedding = speaker_embedding(reference)
    candidates = candidates or voices_for(language)
    if not candidates:
        raise EngineError(f"no base voice for language {language!r} is installed (need espeak-ng / flite)")
    best: VoiceChoice | None = None
    base_similarity = -1.0
    for voice in candidates:
        base = synthesize_base(voice, PROBE_TEXT[language])
        base_similarity = max(base_similarity, cosine(speaker_embedding(base), ref_embedding))
        features = world.analyze(base)
        mapped = map_f0(features, profile)
        plain = VoiceChoice(voice, 1.0, [0.0] * features.sp.shape[1], [0.0] * len(AP_BANDS_HZ), 0.0, 0.0)
        for choice in [plain, *(_choice_for(mapped, profile, voice, warp) for warp in WARP_GRID)]:
            rendered = world.synthesize(adapt(features, profile, choice))
            choice.similarity = round(cosine(speaker_embedding(rendered), ref_embedding), 4)
            if best is None or choice.similarity > best.similarity:
                best = choice
            if progress is not None:
                progress()
    assert best is not None  # candidates is never empty: voices_for() raises before
    best.base_similarity = round(base_similarity, 4)
    return best


def search_size(language: str, candidates: list[str] | None = None) -> int:
    return len(candidates or voices_for(language)) * (len(WARP_GRID) + 1)


def load_or_build_profile(reference: Audio, language: str, *, base_voice: str | None = None,
                          progress=None) -> VoiceProfile:
    """The cached profile for this reference, with a choice for ``language`` (searched if missing)."""
    key = reference_hash(reference)
    path = cache_dir() / f"{key}.json"
    profile = None
    if path.exists():
        try:
            profile = VoiceProfile.load(path)
        except (ValueError, TypeError, KeyError):
            profile = None  # an old or damaged cache entry is rebuilt
        if profile is not None and profile.version != PROFILE_VERSION:
            profile = None
    if profile is None:
        profile = describe_reference(reference)
    choice_key = f"{language}:{base_voice or 'auto'}"
    if choice_key not in profile.choices:
        candidates = [base_voice] if base_voice else None
        profile.choices[choice_key] = choose_voice(reference, profile, language, candidates=candidates, progress=progress)
        profile.save(path)
    return profile

