"""Media files through the ffmpeg CLI: probe, extract the audio track, sample video frames.

The ffmpeg and ffprobe programs (Debian package ``ffmpeg``) do the decoding, so every
container and codec ffmpeg reads works here.  Frames come back as 8-bit grayscale arrays,
which is what face detection and expression recognition need.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from emodub.audio import Audio
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


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise MediaError(f"{name} is not installed (Debian package ffmpeg); it is needed to read media files")
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
    proc = subprocess.run([_tool("ffprobe"), "-v", "error", "-print_format", "json", "-show_format", "-show_streams", str(path)],
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
    )


def extract_audio(path: str | Path, sample_rate_hz: int = 16000) -> Audio:
    """The first audio track, downmixed to mono at ``sample_rate_hz``."""
    info = probe(path)
    if not info.has_audio:
        raise InputError(f"media file {str(info.path)!r} has no audio stream")
    proc = subprocess.run([_tool("ffmpeg"), "-v", "error", "-i", str(info.path), "-map", "0:a:0", "-ac", "1",
                           "-ar", str(sample_rate_hz), "-f", "f32le", "-"], capture_output=True)
    if proc.returncode != 0:
        raise MediaError(f"cannot decode the audio of {str(info.path)!r}: {proc.stderr.decode(errors='replace').strip()}")
    return Audio(np.frombuffer(proc.stdout, dtype=np.float32).copy(), sample_rate_hz)


def sample_frames(path: str | Path, fps: float, max_width: int = 640) -> Iterator[tuple[float, np.ndarray]]:
    """(time_s, grayscale frame) pairs sampled at ``fps``, scaled down to at most ``max_width``."""
    if not fps > 0:
        raise InputError(f"frame rate {fps!r} is not allowed; it must be > 0 frames per second")
    info = probe(path)
    if not info.has_video:
        raise InputError(f"media file {str(info.path)!r} has no video stream")
    assert info.width is not None and info.height is not None  # set whenever has_video
    width = min(max_width, info.width) // 2 * 2
    height = max(2, round(info.height * width / info.width) // 2 * 2)
    command = [_tool("ffmpeg"), "-v", "error", "-i", str(info.path), "-map", "0:v:0",
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
