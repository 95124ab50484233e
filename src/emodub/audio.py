"""Audio: float32 mono samples with their rate; load, save (atomic, with provenance), resample, loudness."""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

from emodub.errors import InputError, MediaError

MIN_REFERENCE_S = 1.0
RECOMMENDED_REFERENCE_S = 3.0
MIN_REFERENCE_RATE_HZ = 16000
SILENCE_RMS_DBFS = -60.0


@dataclass(frozen=True)
class Audio:
    """Mono float32 samples in −1..1 and their sample rate in Hz."""

    samples: np.ndarray
    sample_rate_hz: int

    def __post_init__(self) -> None:
        samples = np.asarray(self.samples, dtype=np.float32)
        if samples.ndim != 1:
            raise InputError(f"audio must be mono (1-D); got shape {samples.shape}")
        if self.sample_rate_hz <= 0:
            raise InputError(f"sample rate {self.sample_rate_hz!r} Hz must be > 0")
        object.__setattr__(self, "samples", samples)

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate_hz

    @property
    def rms_dbfs(self) -> float:
        rms = float(np.sqrt(np.mean(np.square(self.samples, dtype=np.float64)))) if len(self.samples) else 0.0
        return 20 * np.log10(max(rms, 1e-12))

    @property
    def peak(self) -> float:
        return float(np.max(np.abs(self.samples))) if len(self.samples) else 0.0

    def resampled(self, sample_rate_hz: int) -> Audio:
        """Polyphase resampling (scipy) to ``sample_rate_hz``."""
        if sample_rate_hz == self.sample_rate_hz:
            return self
        g = np.gcd(int(sample_rate_hz), int(self.sample_rate_hz))
        out = resample_poly(self.samples.astype(np.float64), sample_rate_hz // g, self.sample_rate_hz // g)
        return Audio(out.astype(np.float32), int(sample_rate_hz))

    def loudness_lufs(self) -> float:
        """Integrated loudness (ITU-R BS.1770, pyloudnorm); −inf for silence or too-short audio."""
        import pyloudnorm

        if self.duration_s < 0.45:  # BS.1770 gating blocks are 400 ms
            return float("-inf")
        return float(pyloudnorm.Meter(self.sample_rate_hz).integrated_loudness(self.samples.astype(np.float64)))

    def normalized_loudness(self, target_lufs: float = -20.0, *, peak_ceiling: float = 0.97) -> Audio:
        """Gain to ``target_lufs`` (BS.1770), then a peak ceiling so nothing clips."""
        loudness = self.loudness_lufs()
        gain = 1.0 if not np.isfinite(loudness) else 10 ** ((target_lufs - loudness) / 20)
        out = self.samples * gain
        peak = float(np.max(np.abs(out))) if len(out) else 0.0
        if peak > peak_ceiling:
            out = out * (peak_ceiling / peak)
        return Audio(out.astype(np.float32), self.sample_rate_hz)


def load_audio(path: str | os.PathLike, *, what: str = "audio file") -> Audio:
    """Read any soundfile-readable file (WAV/FLAC/OGG…), else decode with ffmpeg; mixes to mono."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{what} {str(path)!r} does not exist")
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except sf.LibsndfileError:
        return _decode_with_ffmpeg(path, what)
    if len(data) == 0:
        raise InputError(f"{what} {str(path)!r} holds no samples")
    mono = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    return Audio(mono, int(rate))


def _decode_with_ffmpeg(path: Path, what: str = "audio file") -> Audio:
    """Decode any container ffmpeg knows to mono float32 at the stream's own rate.

    A file that holds no decodable audio is bad input (the user named it), not a tool failure.
    """
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "a:0", "-show_entries", "stream=sample_rate",
         "-of", "csv=p=0", str(path)], capture_output=True, text=True,
    )
    if probe.returncode != 0 or not probe.stdout.strip():
        raise InputError(f"{what} {str(path)!r} is not readable audio (WAV, FLAC, OGG, MP3 or anything ffmpeg decodes): "
                         f"{probe.stderr.strip().splitlines()[-1] if probe.stderr.strip() else 'no audio stream'}")
    rate = int(probe.stdout.strip().splitlines()[0])
    proc = subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-map", "0:a:0", "-ac", "1", "-f", "f32le", "-"],
        capture_output=True,
    )
    if proc.returncode != 0:
        raise MediaError(f"ffmpeg could not decode {str(path)!r}: {proc.stderr.decode(errors='replace').strip()}")
    return Audio(np.frombuffer(proc.stdout, dtype=np.float32).copy(), rate)


def check_writable_folder(folder: Path, what: str = "output") -> None:
    """Refuse a folder this process cannot create files in, before any work (a probe file is made and removed)."""
    try:
        fd, probe = tempfile.mkstemp(prefix=".emodub-write-check.", dir=folder)
    except OSError as error:
        raise InputError(f"{what} folder {str(folder)!r} cannot be written ({error.strerror}); choose another folder") from None
    os.close(fd)
    os.unlink(probe)


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temp path beside ``path``; rename onto ``path`` only if the block succeeds."""
    path = Path(path)
    if path.parent and not path.parent.exists():
        raise InputError(f"output folder {str(path.parent)!r} does not exist")
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix or ".tmp", dir=path.parent or ".")
    except OSError as error:
        raise InputError(f"output folder {str(path.parent)!r} cannot be written ({error.strerror}); choose another -o") from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; an output gets the usual permissions
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@dataclass(frozen=True)
class Provenance:
    """What every emodub output says about itself: synthetic speech, who made it, with what, whether it is watermarked."""

    engine: str
    version: str
    created_utc: str = ""
    watermark: str = ""  # the watermark's method, or why there is none
    licences: str = ""  # the models that made the output, each with its licence
    consent: str = ""  # the voice owner's consent statement and the voice reference's SHA-256

    def comment(self) -> str:
        parts = [f"SYNTHETIC SPEECH generated by emodub {self.version} (engine: {self.engine}) on {self.created_utc or utc_now()}.",
                 f"Watermark: {self.watermark}." if self.watermark else "",
                 f"Consent: {self.consent}." if self.consent else "",
                 "Voice cloning requires the voice owner's consent."]
        return " ".join(p for p in parts if p)

    def tags(self) -> dict[str, str]:
        """Container tags (WAV INFO / MP4 metadata); only keys that both WAV INFO and MP4 carry."""
        tags = {
            "title": "emodub synthetic speech",
            "software": f"emodub {self.version}",
            "comment": self.comment(),
            "date": self.created_utc or utc_now(),
            "artist": f"emodub ({self.engine} engine) — synthetic",
        }
        if self.licences:
            tags["copyright"] = f"Made with these models and licences: {self.licences}"  # WAV INFO has no licence field
        return tags


def utc_now() -> str:
    return _dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat()


def save_audio(audio: Audio, path: str | os.PathLike, *, tags: dict[str, str] | None = None) -> Path:
    """Write 16-bit PCM WAV (or any soundfile format by suffix) atomically, with provenance ``tags`` (:meth:`Provenance.tags`)."""
    return save_channels(audio.samples[:, None], audio.sample_rate_hz, path, tags=tags)


def save_channels(samples: np.ndarray, sample_rate_hz: int, path: str | os.PathLike, *, tags: dict[str, str] | None = None,
                  bits: int = 16) -> Path:
    """Write (n, channels) samples as ``bits``-bit PCM WAV/FLAC (OGG: Vorbis) atomically, with provenance tags."""
    path = Path(path)
    if path.suffix.lower() not in {".wav", ".flac", ".ogg"}:
        raise InputError(f"output {str(path)!r} must end in .wav, .flac or .ogg")
    samples = np.clip(samples, -1.0, 1.0)
    with atomic_output(path) as tmp:
        subtype = f"PCM_{bits}" if path.suffix.lower() in {".wav", ".flac"} else None
        with sf.SoundFile(str(tmp), "w", samplerate=sample_rate_hz, channels=samples.shape[1], subtype=subtype,
                          format=path.suffix.lstrip(".").upper()) as handle:
            for key, value in (tags or {}).items():
                setattr(handle, key, value)
            handle.write(samples)
    return path


def read_tags(path: str | os.PathLike) -> dict[str, str]:
    """The string metadata soundfile reads back (WAV INFO chunk)."""
    with sf.SoundFile(str(path)) as handle:
        return {k: v for k, v in handle.copy_metadata().items() if v}


@dataclass(frozen=True)
class ReferenceCheck:
    """Problems found in a voice/emotion reference: errors refuse it, warnings are reported."""

    warnings: tuple[str, ...]


def check_reference(audio: Audio, *, what: str = "speaker reference") -> ReferenceCheck:
    """Refuse a reference that is too short or silent; warn when it is clipped or narrow-band."""
    if audio.duration_s < MIN_REFERENCE_S:
        raise InputError(
            f"{what} is {audio.duration_s:.2f} s long; at least {MIN_REFERENCE_S:.0f} s is needed "
            f"({RECOMMENDED_REFERENCE_S:.0f}–10 s recommended)"
        )
    if audio.rms_dbfs < SILENCE_RMS_DBFS:
        raise InputError(f"{what} is silent (level {audio.rms_dbfs:.0f} dBFS, below {SILENCE_RMS_DBFS:.0f} dBFS)")
    warnings = []
    if audio.duration_s < RECOMMENDED_REFERENCE_S:
        warnings.append(f"{what} is only {audio.duration_s:.1f} s; {RECOMMENDED_REFERENCE_S:.0f}–10 s clones better")
    clipped = float(np.mean(np.abs(audio.samples) >= 0.999))
    if clipped > 0.001:
        warnings.append(f"{what} is clipped ({clipped:.1%} of samples at full scale); timbre estimates may be off")
    if audio.sample_rate_hz < MIN_REFERENCE_RATE_HZ:
        warnings.append(
            f"{what} is sampled at {audio.sample_rate_hz} Hz (narrow band); "
            f"{MIN_REFERENCE_RATE_HZ} Hz or more gives a better timbre match"
        )
    return ReferenceCheck(tuple(warnings))
