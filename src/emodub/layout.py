"""The source's sound layout: every channel of the audio track, which of them carry the dialogue, and the codec to write.

Stereo stays stereo and 5.1 stays 5.1 (any layout ffmpeg names): the track is decoded with its
channels, the new lines go where the dialogue is — the centre channel when there is one beside
others (5.1, 7.1, 3.0 …), both front channels at the original dialogue's balance for stereo,
the only channel for mono — and every other channel is passed through untouched.  The output
codec follows the source where the container holds it (lossy codecs at the source bit rate or
higher; PCM stays the same PCM, so untouched channels decode bit-identical).
"""

from __future__ import annotations

import functools
import subprocess
from dataclasses import dataclass

import numpy as np

from emodub.audio import Audio
from emodub.errors import InputError
from emodub.media import decode_pcm

# what each container holds (ffmpeg encoder names); the first lossy and lossless entries are the fallbacks
CONTAINER_CODECS = {
    ".mp4": ("aac", "alac", "ac3", "eac3", "mp3", "opus", "flac"),
    ".m4v": ("aac", "alac", "ac3", "eac3", "mp3"),
    ".mov": ("aac", "alac", "ac3", "pcm_s16le", "pcm_s24le", "pcm_s32le", "pcm_f32le", "pcm_s16be", "pcm_s24be"),
    ".mkv": ("aac", "flac", "ac3", "eac3", "mp3", "opus", "vorbis", "alac", "pcm_s16le", "pcm_s24le", "pcm_s32le", "pcm_f32le"),
}
LOSSLESS = ("flac", "alac")
ENCODER_FOR = {"vorbis": "libvorbis", "opus": "libopus", "mp3": "libmp3lame"}
MIN_KBPS_PER_CHANNEL = {"aac": 96, "ac3": 96, "eac3": 96, "mp3": 96, "opus": 64, "vorbis": 80}


@functools.lru_cache(maxsize=1)
def _layouts() -> dict[str, list[str]]:
    """ffmpeg's standard layouts, name ► channel names (``ffmpeg -layouts``)."""
    proc = subprocess.run(["ffmpeg", "-hide_banner", "-layouts"], capture_output=True, text=True)
    table, started = {}, False
    for line in proc.stdout.splitlines():
        if line.startswith("Standard channel layouts"):
            started = True
            continue
        fields = line.split()
        if started and len(fields) == 2 and fields[0] != "NAME":
            table[fields[0]] = fields[1].split("+")
    return table


def channel_names(layout: str | None, channels: int) -> list[str]:
    """Channel names of ``layout`` in ffmpeg's order; positional names when the layout is unknown."""
    names = _layouts().get(layout or "")
    if names is None or len(names) != channels:
        default = {1: "mono", 2: "stereo", 6: "5.1", 8: "7.1"}.get(channels)
        names = _layouts().get(default or "", [f"c{i}" for i in range(channels)])
    return list(names)


def dialogue_channels(names: list[str]) -> list[int]:
    """Indexes of the channels that carry the dialogue: FC beside others; else FL+FR; else all."""
    if len(names) > 1 and "FC" in names:
        return [names.index("FC")]
    if "FL" in names and "FR" in names:
        return [names.index("FL"), names.index("FR")]
    return list(range(len(names)))


@dataclass(frozen=True)
class Tracks:
    """All channels of an audio track: samples (n, channels) float32, with the layout's name and channel names."""

    samples: np.ndarray
    sample_rate_hz: int
    layout: str
    names: list[str]

    @property
    def dialogue(self) -> list[int]:
        return dialogue_channels(self.names)

    def channel(self, index: int) -> Audio:
        return Audio(np.ascontiguousarray(self.samples[:, index]), self.sample_rate_hz)

    def dialogue_mix(self) -> Audio:
        """The dialogue channels averaged: what the original performance is read from."""
        return Audio(self.samples[:, self.dialogue].mean(axis=1), self.sample_rate_hz)

    def with_channels(self, replaced: dict[int, np.ndarray]) -> Tracks:
        samples = self.samples.copy()
        for index, values in replaced.items():
            samples[:, index] = values
        return Tracks(samples, self.sample_rate_hz, self.layout, self.names)


def extract_tracks(info) -> Tracks:
    """Every channel of the first audio track at its own rate, in ffmpeg's channel order."""
    channels = info.audio_channels or 1
    rate = info.audio_rate_hz or 48000
    samples = decode_pcm(info, channels=channels, sample_rate_hz=rate)
    names = channel_names(info.audio_layout, channels)
    layout = info.audio_layout or {1: "mono", 2: "stereo"}.get(channels, f"{channels} channels")
    return Tracks(samples, rate, layout, names)


@functools.lru_cache(maxsize=1)
def _encoders() -> frozenset[str]:
    """The encoders this ffmpeg has (``ffmpeg -encoders``), read once."""
    proc = subprocess.run(["ffmpeg", "-hide_banner", "-encoders"], capture_output=True, text=True)
    return frozenset(line.split()[1] for line in proc.stdout.splitlines() if len(line.split()) > 1)


@dataclass(frozen=True)
class AudioCodec:
    """The codec the output track is written with, and why."""

    name: str
    bit_rate: int | None  # bits per second; None for PCM and lossless
    reason: str

    def ffmpeg_args(self) -> list[str]:
        args = ["-c:a", ENCODER_FOR.get(self.name, self.name)]
        return args + (["-b:a", str(self.bit_rate)] if self.bit_rate else [])


def _bit_rate(codec: str, info, channels: int) -> int | None:
    if codec in LOSSLESS or codec.startswith("pcm_"):
        return None
    floor = MIN_KBPS_PER_CHANNEL.get(codec, 96) * 1000 * max(2, channels)  # never below 192 kb/s for mono or stereo
    return max(floor, info.audio_bit_rate or 0)


def choose_codec(info, suffix: str, requested: str | None = None) -> AudioCodec:
    """The source's codec when ``suffix``'s container holds it, else AAC (lossy source) or ALAC/FLAC (lossless)."""
    allowed = CONTAINER_CODECS.get(suffix.lower())
    if allowed is None:
        raise InputError(f"output container {suffix!r} is not supported; allowed: {', '.join(CONTAINER_CODECS)}")
    channels = info.audio_channels or 1
    if requested is not None:
        if requested not in allowed:
            raise InputError(f"audio codec {requested!r} cannot go in a {suffix} file; allowed: {', '.join(allowed)}")
        return AudioCodec(requested, _bit_rate(requested, info, channels), "asked for")
    source = info.audio_codec or ""
    if source in allowed and ENCODER_FOR.get(source, source) in _encoders():
        return AudioCodec(source, _bit_rate(source, info, channels), f"same as the source ({source})")
    lossless_source = source.startswith("pcm_") or source in LOSSLESS or source in ("truehd", "mlp", "wavpack", "tta")
    fallback = next(c for c in allowed if c in LOSSLESS) if lossless_source else "aac"
    return AudioCodec(fallback, _bit_rate(fallback, info, channels),
                      f"the source's {source or 'codec'} cannot go in {suffix}; {fallback} keeps it {'lossless' if lossless_source else 'close'}")
