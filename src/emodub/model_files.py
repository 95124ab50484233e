"""Where model files that emodub assembles or converts live, and how they are checked.

Weights never live in the repository: they come from registry packages and are assembled
(Whisper base) or converted (the Mandarin voice) into ``$EMODUB_MODEL_DIR`` (default
``~/.cache/emodub/models``), a folder separate from the voice-profile cache so that tests
with a private profile cache still find them.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def models_dir() -> Path:
    """The folder for assembled and converted model files (created on demand by its users)."""
    configured = os.environ.get("EMODUB_MODEL_DIR")
    if configured:
        return Path(configured)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "emodub" / "models"


def sha256_of(path: Path, chunk_bytes: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()
