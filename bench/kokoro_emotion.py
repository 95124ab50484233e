"""Emotional lines on Kokoro: the WORLD pass (before) against Kokoro's own F0 track reshaped before its decoder (now).

    .venv/bin/python bench/kokoro_emotion.py

Three real voices (bench/human_references.py), two new English lines at ratio 1.1, neutral and four
presets at 0.8.  Two judges (DistillMOS, DNSMOS OVRL), the ear's WER, and the median F0 of the
output (WORLD's analysis) to show that the emotion still moves the pitch.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

os.environ.setdefault("EMODUB_CACHE_DIR", tempfile.mkdtemp(prefix="emodub-bench-kokoro-emotion-"))

from emodub.ear import default_ear, error_rate  # noqa: E402
from emodub.emotion.space import EmotionVector  # noqa: E402
from emodub.engines.base import SynthesisRequest  # noqa: E402
from emodub.engines.builtin import neural_prosody, world  # noqa: E402
from emodub.engines.builtin.engine import BuiltinEngine  # noqa: E402
from emodub.naturalness import DNSMOS, default_judge  # noqa: E402
from emodub.timing import DurationPlan  # noqa: E402
from human_references import human_references  # noqa: E402  (bench/human_references.py)
from tables import table  # noqa: E402  (bench/tables.py)

LINES = ("Please leave the parcel at the door, I will collect it tonight.", "We walked along the river until the sun went down.")
EMOTIONS = (None, ("angry", 0.8), ("sad", 0.8), ("happy", 0.8), ("surprised", 0.8))


def median_f0(audio) -> float:
    f0 = world.analyze(audio).f0_hz
    return float(np.median(f0[f0 > 0])) if np.any(f0 > 0) else 0.0


def main() -> None:
    references = human_references(Path(os.environ["EMODUB_CACHE_DIR"]))
    judges, ear, engine = [default_judge(), DNSMOS()], default_ear(), BuiltinEngine()
    own_f0_track = neural_prosody.needs_no_vocoder
    rows = []
    for name, reference in references.items():
        for path in ("WORLD pass", "Kokoro's F0 track"):
            neural_prosody.needs_no_vocoder = own_f0_track if path != "WORLD pass" else (lambda choice: False)
            for emotion in EMOTIONS:
                clips = [engine.synthesize(SynthesisRequest(text=text, speaker_reference=reference, language="en",
                                                            emotion=None if emotion is None else EmotionVector.preset(*emotion),
                                                            duration=DurationPlan("controlled", ratio=1.1))).audio for text in LINES]
                wer = float(np.mean([error_rate(t, ear.transcribe(c, "en"), "en") for c, t in zip(clips, LINES)]))
                rows.append([name, path, "neutral" if emotion is None else f"{emotion[0]} {emotion[1]}",
                             *(float(np.mean(j.score_many(clips))) for j in judges), wer, float(np.mean([median_f0(c) for c in clips]))])
    neural_prosody.needs_no_vocoder = own_f0_track
    table("Emotional Kokoro lines: WORLD pass against Kokoro's own F0 track", ["reference", "path", "emotion", "distillmos",
                                                                              "dnsmos-ovrl", "WER", "median F0 Hz"], rows)


if __name__ == "__main__":
    main()
