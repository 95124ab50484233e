"""Files in and out of the studio: uploads checked by content (ffprobe, the subtitle reader), downloads kept inside a job's folder.

A client's file name is never used as a path: every upload gets a fixed name chosen here.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import BinaryIO

from emodub import media
from emodub.audio import check_reference, load_audio, save_audio
from emodub.errors import EmodubError, InputError

CHUNK_BYTES = 1 << 20
SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,120}$")
SAFE_FOLDER = re.compile(r"^(v[0-9]{1,6}|original)$")


class UploadRefused(Exception):
    """An upload the studio does not take: the HTTP status and one line that says why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def copy_limited(source: BinaryIO, folder: Path, *, max_bytes: int, what: str) -> Path:
    """Copy an upload into a temp file in ``folder``, refusing (413) once it passes ``max_bytes``."""
    fd, name = tempfile.mkstemp(prefix=".upload-", suffix=".mkv", dir=folder)  # .mkv: a suffix ffprobe's path check takes
    written = 0
    with os.fdopen(fd, "wb") as out:
        while chunk := source.read(CHUNK_BYTES):
            written += len(chunk)
            if written > max_bytes:
                out.close()
                os.unlink(name)
                raise UploadRefused(413, f"{what} is larger than the limit of {max_bytes // (1 << 20)} MB (--max-upload-mb)")
            out.write(chunk)
    if written == 0:
        os.unlink(name)
        raise UploadRefused(422, f"{what} is empty")
    return Path(name)


def accept_video(temp: Path, folder: Path) -> tuple[Path, media.MediaInfo]:
    """The upload as ``video.<ext>`` if ffprobe reads a video with sound in it; the extension follows the container."""
    info = _probe(temp, "video")
    if not info.has_video or not info.has_audio:
        temp.unlink()
        missing = "no video stream" if not info.has_video else "no audio stream (no original performance to dub over)"
        raise UploadRefused(422, f"video has {missing}")
    suffix = ".mp4" if "mp4" in (info.container or "") else ".mkv"
    final = folder / f"video{suffix}"
    temp.rename(final)
    return final, media.probe(final)


def accept_voice(temp: Path, folder: Path, name: str) -> Path:
    """A voice reference as 16-bit WAV (decoded from whatever audio ffprobe reads)."""
    info = _probe(temp, f"voice {name!r}")
    if not info.has_audio:
        temp.unlink()
        raise UploadRefused(422, f"voice {name!r} has no audio stream")
    try:
        audio = load_audio(temp, what=f"voice {name!r}")
    finally:
        temp.unlink()
    try:
        check_reference(audio, what=f"voice {name!r}")  # too short or silent: refused now, as the CLI and /api/say do
    except InputError as error:
        raise UploadRefused(422, str(error)) from None
    final = folder / f"voice-{len(list(folder.glob('voice-*.wav'))) + 1}.wav"
    save_audio(audio, final)
    return final


def accept_script(temp: Path, folder: Path, info: media.MediaInfo) -> Path:
    """A script the subtitle reader reads against this video (any encoding, SRT/WebVTT/ASS/SSA)."""
    from emodub.subtitles import read_script

    final = folder / "script.sub"
    temp.rename(final)
    try:
        read_script(final, media_duration_s=info.duration_s, fps=info.fps)
    except EmodubError as error:
        final.unlink()
        raise UploadRefused(422, str(error).replace(str(final), "script")) from None
    return final


def _probe(temp: Path, what: str) -> media.MediaInfo:
    try:
        return media.probe(temp)
    except EmodubError:
        temp.unlink()
        raise UploadRefused(415, f"{what} is not a media file ffprobe can read") from None


def resolve_download(job_folder: Path, folder: str, name: str) -> Path | None:
    """``job_folder/folder/name`` if both parts are plain names and the file lies inside the job's folder (no links out)."""
    if not SAFE_FOLDER.match(folder) or not SAFE_NAME.match(name) or ".." in name:
        return None
    candidate = job_folder / folder / name
    if candidate.is_symlink() or (job_folder / folder).is_symlink() or not candidate.is_file():
        return None
    resolved, root = candidate.resolve(), job_folder.resolve()
    return resolved if resolved.is_relative_to(root) else None


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
