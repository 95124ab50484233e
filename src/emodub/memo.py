"""Results kept by the content of the audio they were computed from.

A dub asks the same questions of the same recordings many times (the speaker reference's
embedding and baseline once per cue and verification round, an emotion reference once to plan a
line's length and again to render it); these keep the last few answers, keyed by the samples'
digest, so each is computed once.  Thread-safe; values are shared, so callers must not mutate them.
"""

from __future__ import annotations

import functools
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, TypeVar

from emodub.audio import Audio

T = TypeVar("T")


def content_key(audio: Audio) -> str:
    """A digest of the samples and their rate: equal for equal recordings, whichever object holds them."""
    digest = hashlib.sha1(audio.samples.tobytes())
    digest.update(str(audio.sample_rate_hz).encode())
    return digest.hexdigest()


def by_content(maxsize: int = 8) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Keep the last ``maxsize`` results of a function whose first argument is an :class:`Audio` (the others hashable)."""

    def wrap(function: Callable[..., T]) -> Callable[..., T]:
        recent: OrderedDict[tuple, Any] = OrderedDict()
        lock = threading.Lock()

        @functools.wraps(function)
        def cached(audio: Audio, *args: Any, **kwargs: Any) -> T:
            key = (content_key(audio), args, tuple(sorted(kwargs.items())))
            with lock:
                if key in recent:
                    recent.move_to_end(key)
                    return recent[key]
            value = function(audio, *args, **kwargs)
            with lock:
                recent[key] = value
                while len(recent) > maxsize:
                    recent.popitem(last=False)
            return value

        cached.cache_clear = recent.clear  # type: ignore[attr-defined]
        return cached

    return wrap


__all__ = ["by_content", "content_key"]
