"""Laying the new lines into the original track: loudness matched to the original, channels kept, the old dialogue ducked."""

from __future__ import annotations

import numpy as np

from emodub import layout, media
from emodub.audio import Audio
from emodub.dub.options import DubOptions
from emodub.progress import Progress

MIN_LOUDNESS_S = 0.45  # BS.1770 gating needs at least one 400-ms block


def loudness_lufs(audio: Audio) -> float | None:
    if audio.duration_s < MIN_LOUDNESS_S:
        return None
    value = audio.loudness_lufs()
    return value if np.isfinite(value) else None


def channel_balance(tracks: layout.Tracks, start_s: float, end_s: float) -> dict[int, float]:
    """Each dialogue channel's level under the cue relative to the dialogue channels' mean (1.0 each when silent)."""
    rate = tracks.sample_rate_hz
    piece = tracks.samples[int(start_s * rate):int(end_s * rate), tracks.dialogue].astype(np.float64)
    rms = np.sqrt(np.mean(piece ** 2, axis=0)) if len(piece) else np.zeros(len(tracks.dialogue))
    if not np.all(np.isfinite(rms)) or rms.mean() < 1e-5:
        return {c: 1.0 for c in tracks.dialogue}
    return {c: float(r / rms.mean()) for c, r in zip(tracks.dialogue, rms)}


def mix_lines(tracks: layout.Tracks, lines: list[tuple[float, Audio]], gains_db: list[float], balances: list[dict[int, float]],
         options: DubOptions, notify: Progress) -> layout.Tracks:
    """The new lines laid into the dialogue channels (ducking only those); every other channel untouched."""
    replaced = {}
    for number, channel in enumerate(tracks.dialogue):
        original = tracks.channel(channel)
        background = None
        if options.separator is not None:
            notify("separate", number, len(tracks.dialogue))
            background = media.separate_background(original, options.separator)
        channel_gains = [gain + 20 * np.log10(max(balance[channel], 1e-3)) for gain, balance in zip(gains_db, balances)]
        replaced[channel] = media.place_lines(original, lines, duck_db=options.duck_db, gains_db=channel_gains, background=background).samples
    return tracks.with_channels(replaced)
