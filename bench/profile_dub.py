"""Where a cold dub's time goes: pyinstrument over the bench's 60-s, 10-cue video, one process, a new voice.

    EMODUB_THREADS=2 .venv/bin/python bench/profile_dub.py [docs/profile-cold-dub.txt]

One worker (the whole dub in this process, so the profile sees every stage), an empty profile
cache (the voice search included).  Writes the call tree, calls under 1 % of the time left out.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

os.environ["EMODUB_CACHE_DIR"] = tempfile.mkdtemp(prefix="emodub-profile-")

from pyinstrument import Profiler  # noqa: E402

from dubbing import VOICE, build_video  # noqa: E402
from emodub.dub import DubOptions, dub_video  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "profile-cold-dub.txt"
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        video, script = build_video(folder)
        profiler = Profiler(interval=0.01)
        profiler.start()
        report = dub_video(video, script, {"*": VOICE}, folder / "dubbed.mp4", options=DubOptions(workers=1, consent="bench"))
        profiler.stop()
    stages = ", ".join(f"{k} {v:.1f} s" for k, v in report.timings_s.items())
    header = (f"# A cold dub of the bench's 60-s, 10-cue video, one process, EMODUB_THREADS={os.environ.get('EMODUB_THREADS', '1')}\n"
              f"# made by: .venv/bin/python bench/profile_dub.py\n# stages: {stages}\n\n")
    target.write_text(header + profiler.output_text(unicode=True, color=False, show_all=False, time="seconds", flat=False,
                                                    processor_options={"filter_threshold": 0.01}), encoding="utf-8")
    print(f"wrote {target} ({stages})")


if __name__ == "__main__":
    main()
