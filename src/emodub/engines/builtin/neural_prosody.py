"""Emotion and prosody on Kokoro's own F0 track, before its decoder voices it: no vocoder pass.

Kokoro predicts an F0 track and an energy track and then decodes them to speech
(:data:`kokoro.F0_OUTPUT`).  Everything the builtin chain does to pitch (the speaker's F0 mapping,
the emotion's level, range, declination, final rise and tremor, the original performance's contour
in a dub) is applied to that track here, with the same functions the WORLD path uses, and the
decoder renders the result in its own voice quality.  Loudness changes over time (the energy
drift, tremor's amplitude, the reference's energy contour) come back as a gain contour, and the
spectral tilt as a fixed equaliser, both linear filters on the decoded line.  WORLD analysis and
resynthesis, which cost Kokoro's emotional lines 0.4–0.9 DistillMOS (the stage table in docs/benchmarks.md), is
left to choices that reshape the spectral envelope.  Breathiness is not rendered on this path.
"""

from __future__ import annotations

import numpy as np

from emodub.audio import Audio
from emodub.engines.builtin import kokoro, render, timbre, transfer, voice_profile, world

# Frames above this F0 are reshaped; below it Kokoro's track falls towards 0 in unvoiced stretches and is left as it is.
# (Its sine source voices frames from 10 Hz up, but stretching those low values too roughened wide-range emotions:
# surprised 0.8 on two real voices, DistillMOS 3.97/3.94 at 10 Hz, 4.11/3.96 at 50 Hz; DNSMOS 2.89/3.22, 3.03/3.25.)
VOICED_HZ = 50.0


def needs_no_vocoder(choice: voice_profile.VoiceChoice) -> bool:
    """Whether ``choice`` leaves Kokoro's spectral envelope alone (its F0 mapping, if any, goes on the F0 track)."""
    return not timbre.reshapes_envelope(choice)


def f0_edit(choice: voice_profile.VoiceChoice, profile: voice_profile.VoiceProfile, shape: render.ProsodyShape,
            template: transfer.ProsodyTemplate | None = None, alpha: float = 1.0, *, tonal: bool = False) -> kokoro.F0Edit:
    """The edit :func:`kokoro.synthesize_phonemes` applies to each chunk's F0 track: new track and gain contour (dB)."""

    def edit(f0_hz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        voiced = f0_hz > VOICED_HZ
        n = len(f0_hz)
        track = world.WorldFeatures(np.where(voiced, f0_hz, 0.0), np.ones((n, 1)), np.zeros((n, 1)), kokoro.SAMPLE_RATE_HZ,
                                    kokoro.F0_FRAME_SAMPLES * 1000 / kokoro.SAMPLE_RATE_HZ)
        if choice.f0_match:
            track = timbre.map_f0(track, profile)
        track = render.apply_contours(render.apply_static(track, shape), shape)
        if template is not None:
            track = transfer.impose_contours(track, template, alpha, tonal=tonal)
        new = np.zeros(n) if shape.whisper >= 0.5 else np.where(voiced, track.f0_hz, f0_hz)  # unvoiced frames keep their values
        return new, 10 * np.log10(np.maximum(track.sp[:, 0], 1e-12))  # a one-bin "envelope" carries the energy contours

    return edit


def tilted(audio: Audio, tilt_db_per_octave: float) -> Audio:
    """``audio`` with its spectrum tilted above 1 kHz by ``tilt_db_per_octave`` (a zero-phase equaliser), as WORLD's tilt."""
    if tilt_db_per_octave == 0 or len(audio.samples) < 2:
        return audio
    spectrum = np.fft.rfft(audio.samples.astype(np.float64))
    freqs = np.fft.rfftfreq(len(audio.samples), 1 / audio.sample_rate_hz)
    gain = 10 ** (tilt_db_per_octave * np.log2(np.maximum(freqs, 1000.0) / 1000.0) / 20)
    return Audio(np.fft.irfft(spectrum * gain, n=len(audio.samples)).astype(np.float32), audio.sample_rate_hz)


__all__ = ["VOICED_HZ", "f0_edit", "needs_no_vocoder", "tilted"]
