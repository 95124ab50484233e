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
from emodub.subtitles import read_script

CHUNK_BYTES = 1 << 20
SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,120}$")
SAFE_FOLDER = re.compile(r"^(v[0-9]{1,6}|original)$")
VIDEO_KINDS = "video such as MP4, MKV, MOV or WebM"
AUDIO_KINDS = "audio such as WAV, FLAC, MP3 or M4A (or a video with the voice in it)"


class UploadRefused(Exception):
    """An upload the studio does not take: the HTTP status and one line that says why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def field_label(field: str, filename: str | None) -> str:
    """An upload named as the user knows it: the form's field and their own file name, e.g. "the voice for everyone ('ana.m4a')"."""
    if field == "video":
        what = "the video"
    elif field == "script":
        what = "the script"
    elif field == "voice":
        what = "the voice for everyone"
    elif field.startswith("voice:"):
        what = f"{field.removeprefix('voice:').strip()}'s voice"
    else:
        what = f"the {field}"
    return f"{what} ({filename!r})" if filename else what


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
                raise UploadRefused(413, f"{_first_up(what)} is larger than the limit of {max_bytes // (1 << 20)} MB "
                                         "(the studio's --max-upload-mb)")
            out.write(chunk)
    if written == 0:
        os.unlink(name)
        raise UploadRefused(422, f"{_first_up(what)} is empty (0 bytes); choose the file again")
    return Path(name)


def accept_video(temp: Path, folder: Path, what: str = "the video") -> tuple[Path, media.MediaInfo]:
    """The upload as ``video.<ext>`` if ffprobe reads a video with sound in it; the extension follows the container."""
    info = _probe(temp, what, VIDEO_KINDS)
    if not info.has_video or not info.has_audio:
        temp.unlink()
        missing = ("no picture: upload a video (MP4, MKV, MOV, WebM); to hear a voice alone use 'Try a line'" if not info.has_video
                   else "no sound: there is no original performance to dub over")
        raise UploadRefused(422, f"{_first_up(what)} has {missing}")
    suffix = ".mp4" if "mp4" in (info.container or "") else ".mkv"
    final = folder / f"video{suffix}"
    temp.rename(final)
    return final, media.probe(final)


def accept_voice(temp: Path, folder: Path, what: str) -> Path:
    """A voice reference as 16-bit WAV (decoded from whatever audio ffprobe reads); ``what`` names it in refusals."""
    info = _probe(temp, what, AUDIO_KINDS)
    if not info.has_audio:
        temp.unlink()
        raise UploadRefused(422, f"{_first_up(what)} has no sound; a voice is 3–10 s of one person speaking")
    try:
        audio = load_audio(temp, what=what)
    finally:
        temp.unlink()
    try:
        check_reference(audio, what=what)  # too short or silent: refused now, as the CLI and /api/say do
    except InputError as error:
        raise UploadRefused(422, str(error)) from None
    final = folder / f"voice-{len(list(folder.glob('voice-*.wav'))) + 1}.wav"
    save_audio(audio, final)
    return final


def accept_script(temp: Path, folder: Path, info: media.MediaInfo, what: str = "the script") -> Path:
    """A script the subtitle reader reads against this video (any encoding, SRT/WebVTT/ASS/SSA)."""
    final = folder / "script.sub"
    temp.rename(final)
    try:
        read_script(final, media_duration_s=info.duration_s, fps=info.fps)
    except EmodubError as error:
        final.unlink()
        raise UploadRefused(422, _first_up(str(error).replace(repr(str(final)), what).replace(str(final), what))) from None
    return final


def _probe(temp: Path, what: str, allowed: str) -> media.MediaInfo:
    try:
        return media.probe(temp)
    except EmodubError:
        temp.unlink()
        raise UploadRefused(415, f"{_first_up(what)} is not a file that can be played; allowed: {allowed}") from None


def _first_up(text: str) -> str:
    return text[:1].upper() + text[1:]


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
