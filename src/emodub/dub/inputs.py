"""The dub's inputs as files: the voices given per speaker, and the output files a dub writes (to refuse overwriting an input)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from emodub.audio import Audio, check_reference, load_audio
from emodub.dub.options import EVERYONE
from emodub.errors import InputError

ANALYSIS_RATE_HZ = 16000
TRUNCATION_SLACK_S = 0.5  # sound that ends this much before the container says is a truncated file, not encoder padding


def voice_map(voices: str | Path | dict[str, str | Path] | list[str]) -> dict[str, Path]:
    """``voices`` as speaker ► file: a single file is everyone's; ``NAME=FILE`` strings name a speaker's."""
    if isinstance(voices, (str, Path)) and not (isinstance(voices, str) and "=" in voices and not Path(voices).exists()):
        return {EVERYONE: Path(voices)}
    if isinstance(voices, dict):
        return {str(name): Path(path) for name, path in voices.items()}
    mapping: dict[str, Path] = {}
    for item in [voices] if isinstance(voices, str) else voices:
        name, sep, path = str(item).partition("=")
        if not sep or Path(str(item)).exists():
            name, path = EVERYONE, str(item)
        name = name.strip()
        if not name or not path:
            raise InputError(f"voice {item!r} is not NAME=FILE or FILE")
        if name in mapping:
            raise InputError(f"voice for {'everyone' if name == EVERYONE else repr(name)} is given twice ({str(mapping[name])!r} "
                             f"and {path!r}); give each speaker one voice")
        mapping[name] = Path(path)
    return mapping


def named(mapping: dict[str, Any], name: str | None) -> str | None:
    """The key of ``mapping`` that is ``name`` (exact, else ignoring case)."""
    if name is None:
        return None
    if name in mapping:
        return name
    return next((key for key in mapping if key.casefold() == name.casefold()), None)


def load_voices(voices: dict[str, Path]) -> tuple[dict[str, Audio], list[str]]:
    loaded, warnings = {}, []
    for name, path in voices.items():
        what = "voice reference" if name == EVERYONE else f"voice reference of {name}"
        loaded[name] = load_audio(path, what=what)
        warnings += [f"{what}: {w}" if name != EVERYONE else w for w in check_reference(loaded[name], what=what).warnings]
    return loaded, warnings


def output_paths(output: str | Path) -> list[Path]:
    """Every file one dub writes (MP4/MKV/MOV, WAV, SRT, JSON) — for --force and skip checks."""
    output = Path(output)
    return [output, output.with_suffix(".wav"), output.with_suffix(".srt"), output.with_suffix(".json")]


def changed_since(output: str | Path, inputs: list[Path]) -> list[Path]:
    """The inputs modified after ``output`` was written: a skipped dub that would no longer be the same."""
    made = Path(output).stat().st_mtime
    return [path for path in inputs if path.exists() and path.stat().st_mtime > made]
