"""The one consent rule, for the CLI, job files, batches and the studio: cloning a voice needs its owner's consent, stated.

Every emodub line clones a voice (a reference file, or a speaker's own voice taken from the video),
so every line needs a consent statement; the owner's own voice included (they state it themselves).
The statement is kept in the report and the files' tags with the SHA-256 of each voice it is for.
"""

from __future__ import annotations

from emodub.errors import InputError

CONSENT_EXAMPLE = "Ana Silva agreed on 2026-11-02 to this use of her voice"
CONSENT_REQUIRED = ("consent is required: cloning a voice needs its owner's consent; state it (CLI --consent, job file 'consent:', "
                    f"the studio's consent field), e.g. {CONSENT_EXAMPLE!r}; your own voice too: 'my own voice'")


def require_consent(consent: str | None) -> str:
    """``consent`` stripped; InputError (one line, with an example) when it is missing or blank."""
    if consent is None or not str(consent).strip():
        raise InputError(CONSENT_REQUIRED)
    return str(consent).strip()
