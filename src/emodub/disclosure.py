"""What an output says about itself, in one place for say, run, dub and the studio.

Whether it carries the watermark (and if not, that it was asked not to), the models that made it with
their licences, and the voice owner's consent with the SHA-256 of each voice reference, so that the
statement is tied to the recording it was given for.  The report holds it in full; the file's tags
hold the same in a line each (the comment, ``copyright``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emodub import __version__, licences, watermark
from emodub.audio import Provenance, utc_now

NOT_MARKED = "none: --no-watermark was given"
NOT_MARKED_WARNING = ("this output is NOT watermarked (--no-watermark): only its metadata, which any re-encode drops, "
                      "says that the speech is synthetic")


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class Disclosure:
    """The watermark's state, the models (keys of :data:`emodub.licences.MODELS`), the consent and the voices' SHA-256."""

    watermarked: bool
    models: tuple[str, ...]
    consent: str | None
    voices_sha256: dict[str, str] = field(default_factory=dict)  # voice name ("*" for everyone) ► SHA-256 of its reference file
    excluded: tuple[str, ...] = ()  # models --commercial left out

    @classmethod
    def of(cls, *, watermarked: bool, models: list[str], consent: str | None, voices: dict[str, Path], commercial: bool = False,
           would_use: tuple[str, ...] = ("joe", "zh-baker")) -> Disclosure:
        """``would_use``: the models the run would have used without --commercial (the ones it says it left out)."""
        keys = [*models, "perth"] if watermarked else models
        left_out = tuple(m["key"] for m in licences.excluded(list(would_use))) if commercial else ()
        return cls(watermarked, tuple(dict.fromkeys(keys)), consent,
                   {name: file_sha256(path) for name, path in voices.items() if Path(path).is_file()}, left_out)

    def watermark_record(self) -> dict[str, Any]:
        if self.watermarked:
            return {"applied": True, "method": watermark.METHOD, "found_at": watermark.FOUND_AT}
        return {"applied": False, "reason": NOT_MARKED}

    def consent_line(self) -> str:
        hashes = ", ".join(f"{'voice' if name == '*' else name} sha256:{digest[:16]}" for name, digest in self.voices_sha256.items())
        statement = repr(self.consent) if self.consent else "none given"
        return f"{statement}{f' for {hashes}' if hashes else ''}"

    def provenance(self, engine: str, created_utc: str | None = None) -> Provenance:
        return Provenance(engine=engine, version=__version__, created_utc=created_utc or utc_now(),
                          watermark=watermark.METHOD if self.watermarked else NOT_MARKED,
                          licences=licences.tag(list(self.models)), consent=self.consent_line())

    def to_dict(self) -> dict[str, Any]:
        return {"watermark": self.watermark_record(), "models": licences.records(list(self.models)),
                "excluded_for_commercial_use": licences.records(list(self.excluded)),
                "consent": {"statement": self.consent, "voice_sha256": self.voices_sha256}}


__all__ = ["NOT_MARKED", "NOT_MARKED_WARNING", "Disclosure", "file_sha256"]
