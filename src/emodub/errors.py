"""Exception hierarchy: every message names the bad value and what is allowed."""

from __future__ import annotations


class EmodubError(Exception):
    """Base class of every error emodub raises on purpose."""


class InputError(EmodubError, ValueError):
    """Bad user input: the message names the value and the allowed range or choices."""


class EngineError(EmodubError, RuntimeError):
    """A synthesis engine could not be loaded or failed while running."""


class MediaError(EmodubError, RuntimeError):
    """A media file could not be read, decoded or written (ffmpeg's own message included)."""
