"""What emodub knows about a reference voice (:class:`VoiceProfile`) and the base voice chosen for it per language
(:class:`VoiceChoice`): measured once, saved as JSON under the reference's hash, shared by every worker.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from emodub.audio import Audio
from emodub.engines.builtin import world
from emodub.engines.builtin.timbre import ap_bands_of, band_limited, cepstrum_stats, voiced_coded

PROFILE_VERSION = 13
DEFAULT_FRAME_MATCH = 0.0  # 0 = statistics only; 1 = wholly from the reference frames.  On real references 0.25–0.5 cost


# words (alsa-utils voice: WER 0 % at 0, 13.5 % at 0.25 and 0.5) for +0.01–0.08 GE2E: bench/intelligibility.py shares
FRAME_STRIDE = 2  # the reference is described on every 2nd 5-ms frame (neighbours are alike): half of WORLD's costly passes
REFERENCE_DIO_SPEED = 2  # F0 of the reference tracked on a downsampled signal: only its statistics are used


@dataclass
class VoiceChoice:
    """The base voice and warp chosen for one language, with the similarities measured."""

    base_voice: str
    warp: float
    cepstrum_mean: list[float]  # of the warped base voice, measured on the probe sentences
    cepstrum_std: list[float]
    ap_shift: list[float]
    similarity: float
    base_similarity: float
    frame_match: float = DEFAULT_FRAME_MATCH
    probe_error: float | None = None  # share of the ear's probe words lost in the adapted voice (None: no ear for the language)
    base_probe_error: float | None = None  # the clearest candidate base voice's own share
    error_limit: float | None = None
    ear: str | None = None
    hearings: int = 0  # candidates the ear heard in the search, this one included (≈ 1.5 s each on one core)
    envelope_match: float = 1.0  # share of the cepstral mean-variance mapping applied (0: the base voice's own envelope)
    f0_match: bool = True  # F0 mapped onto the reference's log-F0 mean and spread (False: the base voice's own)
    style: dict | None = None  # Kokoro's style (kokoro.KokoroStyle.to_dict()) when base_voice is "kokoro"
    speed: float = 1.0  # Kokoro's speed for this speaker's rate of speech (kokoro_search.matched_speed)
    naturalness: float | None = None  # the judge's mean MOS of the candidate's probe renders (None: no judge)
    naturalness_floor: float | None = None  # the most natural base voice's own MOS for the language
    naturalness_limit: float | None = None  # floor − margin: a candidate under it is not acceptable
    judge: str | None = None
    notes: list[str] = field(default_factory=list)  # what the choice gave up, in words (the report's warnings)


@dataclass
class VoiceProfile:
    """What emodub learned about a reference voice.  Saved as JSON; keyed by content hash."""

    reference_hash: str
    log_f0_mean: float
    log_f0_std: float
    cepstrum_mean: list[float]
    cepstrum_std: list[float]
    ap_bands: list[float]
    nyquist_hz: float
    voiced_frames: list[list[float]]  # coded envelopes of the reference's voiced frames, for frame matching
    choices: dict[str, VoiceChoice] = field(default_factory=dict)
    version: int = PROFILE_VERSION

    @functools.cached_property
    def voiced_frames_array(self) -> np.ndarray:
        return np.asarray(self.voiced_frames, dtype=float)

    def save(self, path: str | os.PathLike) -> None:
        """Written whole, then renamed: workers that searched the same new voice at once each replace it with a full file."""
        tmp = writing_path(Path(path))
        tmp.write_text(json.dumps(asdict(self)))
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> VoiceProfile:
        data = json.loads(Path(path).read_text())
        data["choices"] = {k: VoiceChoice(**v) for k, v in data["choices"].items()}
        return cls(**data)


def writing_path(path: Path) -> Path:
    """Where ``path`` is written before it is renamed into place: one name per process and thread, so writers never collide."""
    return path.with_name(f"{path.stem}.{os.getpid()}.{threading.get_ident()}.tmp{path.suffix}")


def reference_hash(audio: Audio) -> str:
    digest = hashlib.sha256(audio.samples.tobytes())
    digest.update(str(audio.sample_rate_hz).encode())
    return digest.hexdigest()[:24]


def cache_dir() -> Path:
    root = Path(os.environ.get("EMODUB_CACHE_DIR") or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "emodub")
    path = root / "profiles"
    path.mkdir(parents=True, exist_ok=True)
    return path


def describe_reference(reference: Audio) -> VoiceProfile:
    """Measure the reference: F0 statistics, cepstral statistics, band aperiodicity."""
    features = world.analyze(reference, frame_stride=FRAME_STRIDE, dio_speed=REFERENCE_DIO_SPEED)
    mean, std = world.log_f0_stats(features)
    coded = voiced_coded(band_limited(features, reference.sample_rate_hz / 2))  # encoded once: statistics and frames
    cep_mean, cep_std = cepstrum_stats(coded)
    return VoiceProfile(
        reference_hash=reference_hash(reference),
        log_f0_mean=mean,
        log_f0_std=std,
        cepstrum_mean=cep_mean.round(5).tolist(),
        cepstrum_std=cep_std.round(5).tolist(),
        ap_bands=ap_bands_of(features).round(4).tolist(),
        nyquist_hz=reference.sample_rate_hz / 2,
        voiced_frames=coded.round(4).tolist(),
    )


def choice_key(language: str, base_voice: str | None, frame_match: float | None, naturalness_margin: float | None = None,
               commercial: bool = False) -> str:
    """Where a profile keeps the choice for this language, base voice (or auto), frame-match share, naturalness margin (None:
    defaults) and whether only base voices cleared for commercial use were searched."""
    key = f"{language}:{base_voice or 'auto'}:{DEFAULT_FRAME_MATCH if frame_match is None else frame_match:g}"
    key = key if naturalness_margin is None else f"{key}:margin {naturalness_margin:g}"
    return f"{key}:commercial" if commercial else key
