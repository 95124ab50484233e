"""Run the same lines through every available engine and compare them with the independent judge.

    .venv/bin/python bench/compare_engines.py

Prints, per engine: mean |length error| (ms), speaker similarity, emotion agreement (arousal
sign, and the dominant emotion the acoustic judge hears), WER (English) and real-time factor.
``indextts2`` runs when ``EMODUB_INDEXTTS_DIR`` points to its checkpoints (and
``EMODUB_INDEXTTS_VERSION`` is 2 or 2.5); otherwise it is listed with the reason.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("EMODUB_CACHE_DIR", tempfile.mkdtemp(prefix="emodub-bench-"))

from emodub.audio import load_audio  # noqa: E402
from emodub.emotion.space import EmotionVector  # noqa: E402
from emodub.engines.base import SynthesisRequest, get_engine  # noqa: E402
from emodub.errors import EmodubError  # noqa: E402
from emodub.timing import DurationPlan  # noqa: E402
from emodub.verify import verify  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
VOICE = ROOT / "examples" / "voice_samples" / "character_A.wav"
LINES = [
    ("Get out of my house and never come back!", "angry", 2.6),
    ("I miss her so much, everything feels empty now.", "sad", 3.4),
    ("What a wonderful surprise, I love it!", "happy", 2.4),
    ("The meeting starts at ten, in the usual room.", "calm", 2.8),
    ("你怎么敢这样对我，我一直都相信你。", "angry", 3.0),
]


def engines() -> list[tuple[str, dict, str | None]]:
    found: list[tuple[str, dict, str | None]] = [("builtin", {}, None)]
    folder = os.environ.get("EMODUB_INDEXTTS_DIR")
    if folder:
        found.append(("indextts2", {"model_dir": folder, "version": os.environ.get("EMODUB_INDEXTTS_VERSION", "2")}, None))
    else:
        found.append(("indextts2", {}, "not run: EMODUB_INDEXTTS_DIR is not set (needs the official package, checkpoints and a GPU)"))
    return found


def main() -> None:
    reference = load_audio(VOICE)
    print("| engine | lines | mean abs length error ms | speaker similarity | arousal agreement | dominant heard = asked | WER (en) | RTF |")
    print("|---|---|---|---|---|---|---|---|")
    for name, options, reason in engines():
        if reason is not None:
            print(f"| {name} | — | — | — | — | — | — | {reason} |")
            continue
        try:
            engine = get_engine(name, **options)
        except EmodubError as error:
            print(f"| {name} | — | — | — | — | — | — | not available: {error} |")
            continue
        for language_line in ("Warm up.", "预热。"):  # builds the voice profiles: a one-time cost, not per line
            engine.synthesize(SynthesisRequest(text=language_line, speaker_reference=reference))
        errors, similarities, arousal, dominant, wers, rtfs = [], [], [], [], [], []
        for text, emotion, seconds in LINES:
            request = SynthesisRequest(text=text, speaker_reference=reference, emotion=EmotionVector.preset(emotion, 0.8),
                                       duration=DurationPlan("controlled", target_duration_s=seconds))
            started = time.perf_counter()
            synthesis = engine.synthesize(request)
            rtfs.append((time.perf_counter() - started) / synthesis.audio.duration_s)
            checks = {c.name: c for c in verify(synthesis, request).checks}
            errors.append(checks["length_error_ms"].value)
            similarities.append(checks["speaker_similarity"].value)
            arousal.append(bool(checks["emotion_arousal"].passed))
            dominant.append(checks["emotion_dominant"].value == emotion)
            if isinstance(checks["intelligibility"].value, float):
                wers.append(checks["intelligibility"].value)
        print(f"| {name} | {len(LINES)} | {np.mean(errors):.3f} | {np.mean(similarities):.3f} | {sum(arousal)}/{len(arousal)} | "
              f"{sum(dominant)}/{len(dominant)} | {np.mean(wers):.3f} | {np.mean(rtfs):.3f} |")


if __name__ == "__main__":
    main()
