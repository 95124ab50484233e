"""Media files through the ffmpeg CLI: probe, extract the audio track, sample video frames.

The ffmpeg and ffprobe programs (Debian package ``ffmpeg``) do the decoding, so every
container and codec ffmpeg reads works here.  Frames come back as 8-bit grayscale arrays,
which is what face detection and expression recognition need.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from emodub.audio import Audio, load_audio, save_audio
from emodub.errors import InputError, MediaError

VIDEO_SUFFIXES = (".mp4", ".mkv", ".mov", ".webm", ".avi", ".m4v")
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".m4a", ".aac", ".opus")


@dataclass(frozen=True)
class MediaInfo:
    """What ffprobe says about a file: durations, streams and the video's frame geometry."""

    path: Path
    duration_s: float
    has_video: bool
    has_audio: bool
    video_codec: str | None = None
    audio_codec: str | None = None
    fps: float | None = None
    width: int | None = None
    height: int | None = None
    audio_rate_hz: int | None = None
    n_streams: int = 0
    audio_channels: int | None = None
    audio_layout: str | None = None  # ffmpeg's name: mono, stereo, 5.1(side), …
    audio_bit_rate: int | None = None  # bits per second, when the container says
    audio_sample_format: str | None = None  # s16, s32, fltp, …
    container: str | None = None  # ffprobe's format name: "mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm", …
    tags: dict[str, str] = field(default_factory=dict)  # the container's and the first audio stream's metadata, keys lower-case


def tool_path(name: str) -> str:
    """The full path of the command-line tool ``name`` (ffmpeg, ffprobe, flite), or an error naming the package to install."""
    path = shutil.which(name)
    if path is None:
        package = "flite" if name == "flite" else "ffmpeg"
        raise MediaError(f"{name} is not installed (Debian package {package}); emodub needs it to read and write media")
    return path


def check_media_path(path: str | Path) -> Path:
    """The path, if it exists and has a suffix emodub reads; an InputError otherwise."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"media file {str(path)!r} does not exist")
    if path.suffix.lower() not in VIDEO_SUFFIXES + AUDIO_SUFFIXES:
        raise InputError(f"media file {str(path)!r} has an unsupported format {path.suffix or '(none)'!r}; "
                         f"allowed: {', '.join(VIDEO_SUFFIXES + AUDIO_SUFFIXES)}")
    return path


def probe(path: str | Path) -> MediaInfo:
    """Streams and duration of a media file; InputError if it is not a readable media file."""
    path = check_media_path(path)
    proc = subprocess.run([tool_path("ffprobe"), "-v", "error", "-print_format", "json", "-show_format", "-show_streams", str(path)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        reason = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "ffprobe failed"
        raise InputError(f"media file {str(path)!r} cannot be read (damaged or not a media file): {reason}")
    data = json.loads(proc.stdout or "{}")
    streams = data.get("streams", [])
    # cover art is a video stream with one picture; it is not a video
    video = next((s for s in streams if s.get("codec_type") == "video" and not s.get("disposition", {}).get("attached_pic")), None)
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
    duration = float(data.get("format", {}).get("duration") or 0.0)
    if duration <= 0.0:
        raise InputError(f"media file {str(path)!r} cannot be read: it has no duration (empty or damaged)")
    fps = None
    if video is not None and video.get("avg_frame_rate", "0/0") not in ("0/0", ""):
        fps = float(Fraction(video["avg_frame_rate"]))
    return MediaInfo(
        path=path,
        duration_s=duration,
        has_video=video is not None,
        has_audio=audio is not None,
        video_codec=video.get("codec_name") if video else None,
        audio_codec=audio.get("codec_name") if audio else None,
        fps=fps,
        width=int(video["width"]) if video else None,
        height=int(video["height"]) if video else None,
        audio_rate_hz=int(audio["sample_rate"]) if audio and audio.get("sample_rate") else None,
        n_streams=len(streams),
        audio_channels=int(audio["channels"]) if audio and audio.get("channels") else None,
        audio_layout=(audio.get("channel_layout") or None) if audio else None,
        audio_bit_rate=int(audio["bit_rate"]) if audio and str(audio.get("bit_rate", "")).isdigit() else None,
        audio_sample_format=audio.get("sample_fmt") if audio else None,
        container=data.get("format", {}).get("format_name"),
        tags={str(k).lower(): str(v) for k, v in {**(audio or {}).get("tags", {}), **data.get("format", {}).get("tags", {})}.items()},
    )


def _info(source: str | Path | MediaInfo) -> MediaInfo:
    """``source`` probed, unless it already is a probe result (saves a second ffprobe run)."""
    return source if isinstance(source, MediaInfo) else probe(source)


def decode_pcm(source: str | Path | MediaInfo, *, channels: int, sample_rate_hz: int) -> np.ndarray:
    """The first audio track as float32 samples (n, ``channels``) at ``sample_rate_hz`` (ffmpeg mixes or keeps channels)."""
    info = _info(source)
    if not info.has_audio:
        raise InputError(f"media file {str(info.path)!r} has no audio stream")
    proc = subprocess.run([tool_path("ffmpeg"), "-v", "error", "-i", str(info.path), "-map", "0:a:0", "-ac", str(channels),
                           "-ar", str(sample_rate_hz), "-f", "f32le", "-"], capture_output=True)
    if proc.returncode != 0:
        raise MediaError(f"cannot decode the audio of {str(info.path)!r}: {proc.stderr.decode(errors='replace').strip()}")
    return np.frombuffer(proc.stdout, dtype=np.float32).reshape(-1, channels).copy()


def extract_audio(source: str | Path | MediaInfo, sample_rate_hz: int = 16000) -> Audio:
    """The first audio track, downmixed to mono at ``sample_rate_hz``."""
    return Audio(decode_pcm(source, channels=1, sample_rate_hz=sample_rate_hz)[:, 0], sample_rate_hz)


def sample_frames(source: str | Path | MediaInfo, fps: float, max_width: int = 640) -> Iterator[tuple[float, np.ndarray]]:
    """(time_s, grayscale frame) pairs sampled at ``fps``, scaled down to at most ``max_width``."""
    if not fps > 0:
        raise InputError(f"frame rate {fps!r} is not allowed; it must be > 0 frames per second")
    info = _info(source)
    if not info.has_video:
        raise InputError(f"media file {str(info.path)!r} has no video stream")
    assert info.width is not None and info.height is not None  # set whenever has_video
    width = min(max_width, info.width) // 2 * 2
    height = max(2, round(info.height * width / info.width) // 2 * 2)
    command = [tool_path("ffmpeg"), "-v", "error", "-i", str(info.path), "-map", "0:v:0",
               "-vf", f"fps={fps},scale={width}:{height}", "-pix_fmt", "gray", "-f", "rawvideo", "-"]
    frame_bytes = width * height
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        assert proc.stdout is not None
        index = 0
        while chunk := proc.stdout.read(frame_bytes):
            if len(chunk) < frame_bytes:
                break
            yield index / fps, np.frombuffer(chunk, dtype=np.uint8).reshape(height, width)
            index += 1
        proc.stdout.close()
        stderr = proc.stderr.read().decode(errors="replace").strip() if proc.stderr else ""
        if proc.wait() != 0:
            raise MediaError(f"cannot decode the video of {str(info.path)!r}: {stderr}")


def place_lines(original: Audio, lines: list[tuple[float, Audio]], *, duck_db: float = -20.0, fade_s: float = 0.05,
                gains_db: list[float] | None = None, background: Audio | None = None) -> Audio:
    """The original track with each (start_s, speech) laid in at its start, to the sample.

    Under each line the original is ducked by ``duck_db`` (raised-cosine ramps of ``fade_s``
    just outside the line), so the background stays but the old dialogue gives way.  With a
    separated ``background`` (the track without its dialogue), the original crossfades to it
    instead, so the old voice goes entirely.  Line speech is resampled to the track's rate;
    ``gains_db`` scales each line (loudness match).
    """
    if background is not None:
        if background.sample_rate_hz != original.sample_rate_hz or abs(len(background.samples) - len(original.samples)) > 1:
            raise MediaError("the separated background does not match the original track in rate or length")
        duck_db = -np.inf
    rate = original.sample_rate_hz
    track = original.samples.astype(np.float64)
    envelope = np.ones(len(track))
    mixed_in = np.zeros(len(track))
    ramp = max(1, int(round(fade_s * rate)))
    fall = 0.5 * (1 + np.cos(np.linspace(0, np.pi, ramp)))
    duck = 10 ** (duck_db / 20)
    for index, (start_s, speech) in enumerate(lines):
        samples = speech.resampled(rate).samples.astype(np.float64) * 10 ** ((gains_db[index] if gains_db else 0.0) / 20)
        start = int(round(start_s * rate))
        end = min(len(track), start + len(samples))
        if start >= len(track) or start < 0:
            raise InputError(f"line {index + 1} starts at {start_s:.3f} s, outside the track (0–{original.duration_s:.3f} s)")
        mixed_in[start:end] += samples[:end - start]
        envelope[start:end] = np.minimum(envelope[start:end], duck)
        lo = max(0, start - ramp)
        envelope[lo:start] = np.minimum(envelope[lo:start], duck + (1 - duck) * fall[ramp - (start - lo):])
        hi = min(len(track), end + ramp)
        envelope[end:hi] = np.minimum(envelope[end:hi], duck + (1 - duck) * fall[::-1][:hi - end])
    if background is not None:
        rest = np.zeros(len(track))
        rest[:min(len(track), len(background.samples))] = background.samples[:len(track)]
        return Audio((track * envelope + rest * (1 - envelope) + mixed_in).astype(np.float32), rate)
    return Audio((track * envelope + mixed_in).astype(np.float32), rate)


SEPARATORS = ("demucs",)


def check_separator(separator: str) -> None:
    """InputError unless ``separator`` is known and installed here."""
    import importlib.util

    if separator not in SEPARATORS:
        raise InputError(f"separator {separator!r} is not known; allowed: {', '.join(SEPARATORS)}")
    if importlib.util.find_spec("demucs") is None:
        raise InputError("separator 'demucs' is not installed in this environment (pip install demucs, with its "
                         "htdemucs weights in the torch hub cache)")


def separate_background(track: Audio, separator: str) -> Audio:
    """The track without its dialogue, from a source-separation tool the user has installed.

    ``demucs``: ``python -m demucs --two-stems vocals`` (htdemucs; its weights must already be in
    the torch hub cache — emodub does not download them), keeping ``no_vocals``.
    """
    import sys
    import tempfile


    check_separator(separator)
    with tempfile.TemporaryDirectory(prefix="emodub-separate-") as name:
        folder = Path(name)
        source = save_audio(track, folder / "track.wav")
        proc = subprocess.run([sys.executable, "-m", "demucs", "--two-stems", "vocals", "-n", "htdemucs", "-o", str(folder / "out"),
                               str(source)], capture_output=True, text=True)
        stem = folder / "out" / "htdemucs" / "track" / "no_vocals.wav"
        if proc.returncode != 0 or not stem.exists():
            raise MediaError(f"demucs failed: {(proc.stderr.strip().splitlines() or ['no output'])[-1]}")
        background = load_audio(stem)
    mono = background.resampled(track.sample_rate_hz)
    samples = np.zeros(len(track.samples), np.float32)
    samples[:min(len(samples), len(mono.samples))] = mono.samples[:len(samples)]
    return Audio(samples, track.sample_rate_hz)


def mux(video_path: str | Path, tracks, out_path: str | Path, *, codec, layout: str | None = None,
        metadata: dict[str, str] | None = None) -> None:
    """Write ``out_path``: the video stream of ``video_path`` copied bit for bit, ``tracks`` (a
    :class:`emodub.layout.Tracks`) encoded with ``codec`` (an :class:`emodub.layout.AudioCodec`) in the
    source's channel ``layout`` when the source named one."""
    channels = tracks.samples.shape[1]
    command = [tool_path("ffmpeg"), "-v", "error", "-y", "-i", str(video_path),
               "-f", "f32le", "-ar", str(tracks.sample_rate_hz), "-ac", str(channels), "-i", "pipe:0",
               "-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy", *codec.ffmpeg_args()]
    if layout:
        command += ["-af", f"aformat=channel_layouts={layout}"]  # relabels only: same count, same order
    for key, value in (metadata or {}).items():
        command += ["-metadata", f"{key}={value}"]
    out_path = Path(out_path)
    if out_path.suffix.lower() in (".mp4", ".mov", ".m4v"):
        command += ["-movflags", "+use_metadata_tags"]
    proc = subprocess.run([*command, str(out_path)], input=np.ascontiguousarray(tracks.samples, np.float32).tobytes(),
                          capture_output=True)
    if proc.returncode != 0:
        raise MediaError(f"cannot write {str(out_path)!r}: {proc.stderr.decode(errors='replace').strip()}")


def video_stream_md5(path: str | Path) -> str:
    """MD5 of the first video stream's packets, to check a stream was copied untouched."""
    proc = subprocess.run([tool_path("ffmpeg"), "-v", "error", "-i", str(path), "-map", "0:v:0", "-c", "copy", "-f", "md5", "-"],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise MediaError(f"cannot read the video stream of {str(path)!r}: {proc.stderr.strip()}")
    return proc.stdout.strip().removeprefix("MD5=")


def scene_cuts(source: str | Path | MediaInfo, threshold: float = 0.3) -> list[float]:
    """Times (s) of shot cuts: frames whose ffmpeg scene-change score exceeds ``threshold``."""
    info = _info(source)
    if not info.has_video:
        return []
    proc = subprocess.run([tool_path("ffmpeg"), "-v", "info", "-i", str(info.path), "-map", "0:v:0",
                           "-vf", f"select='gt(scene,{threshold})',showinfo", "-f", "null", "-"], capture_output=True, text=True)
    if proc.returncode != 0:
        raise MediaError(f"cannot scan {str(info.path)!r} for cuts: {proc.stderr.strip().splitlines()[-1:]}")
    return [float(m) for m in re.findall(r"showinfo.*?pts_time:\s*([0-9.]+)", proc.stderr)]
