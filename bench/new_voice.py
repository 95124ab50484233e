"""How long a new voice takes to be ready (the whole choice: WORLD search, Kokoro search, the judge), and a cached one.

    EMODUB_THREADS=2 .venv/bin/python bench/new_voice.py      (threads per pool; 2 = both cores of this machine)

Per-machine material (base voices' probes, Kokoro's packs, the base voices' own scores) is made
first, untimed: it is made once per machine, not per voice.  Each real reference then gets a cold
profile cache.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

from emodub.engines.builtin import voice_profile, voice_search
from emodub.threads import limit_threads, thread_count
from human_references import human_references  # noqa: E402  (bench/human_references.py)
from tables import table  # noqa: E402  (bench/tables.py)


def main() -> None:
    limit_threads()
    references = human_references(Path(tempfile.gettempdir()) / "emodub-human-references")
    if not references:
        sys.exit("no real reference could be fetched (alsa-utils, pyannote.audio wheel)")
    os.environ["EMODUB_CACHE_DIR"] = tempfile.mkdtemp(prefix="emodub-bench-warmup-")
    voice_search.load_or_build_profile(next(iter(references.values())), "en")  # per-machine material, untimed
    rows = []
    for name, reference in references.items():
        os.environ["EMODUB_CACHE_DIR"] = tempfile.mkdtemp(prefix="emodub-bench-new-voice-")
        started = time.perf_counter()
        profile = voice_search.load_or_build_profile(reference, "en")
        cold = time.perf_counter() - started
        started = time.perf_counter()
        voice_search.load_or_build_profile(reference, "en")
        cached = time.perf_counter() - started
        choice = profile.choices[voice_profile.choice_key("en", None, None)]
        rows.append([name, thread_count(), cold, cached, choice.base_voice, choice.similarity, choice.naturalness])
    table("A new English voice: the whole choice, cold and cached", ["reference", "threads", "cold s", "cached s", "voice", "GE2E probes",
                                                                     "DistillMOS probes"], rows)
    real_time_factors(list(references.values())[-1])  # the profile cache in use holds the last voice


def real_time_factors(reference) -> None:
    """Processing s / audio s of lines in a cached voice: free length, a controlled ratio, and an emotion."""
    from emodub.emotion.space import EmotionVector
    from emodub.engines.base import SynthesisRequest
    from emodub.engines.builtin.engine import BuiltinEngine
    from emodub.timing import DurationPlan

    engine = BuiltinEngine()
    lines = ("Please leave the parcel at the door, I will collect it tonight.", "The museum opens at nine, but the queue starts much earlier.",
             "Could you tell me where the nearest pharmacy is?", "We walked along the river until the sun went down.")
    rows = []
    for label, extra in (("free", {}), ("controlled, ratio 1.1", {"duration": DurationPlan("controlled", ratio=1.1)}),
                         ("angry 0.8, free", {"emotion": EmotionVector.preset("angry", 0.8)})):
        spent = spoken = 0.0
        for text in lines:
            started = time.perf_counter()
            audio = engine.synthesize(SynthesisRequest(text, reference, language="en", **extra)).audio
            spent, spoken = spent + time.perf_counter() - started, spoken + audio.duration_s
        rows.append([label, thread_count(), spent / spoken])
    table("Real-time factor of a cached voice (processing s / audio s, four lines)", ["lines", "threads", "RTF"], rows)


if __name__ == "__main__":
    main()
