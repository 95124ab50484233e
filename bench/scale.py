"""Scale-out on Ray: videos per minute with 1, 2 and 4 worker processes on this machine, and the scaling efficiency.

A folder of short episodes (flite speech under drawn faces, one or two lines each) is dubbed in the
alsa-utils voice (a real person's recording) with ``emodub.batch.RayRunner`` on a local Ray started with
N CPUs.  The voice profile is searched once, before the timed runs, as the runner does on its driver.
The bench runs inside a network namespace it makes (``unshare --net``, loopback only): Ray's
traffic never leaves 127.0.0.0/8.

    .venv/bin/python bench/scale.py [--videos 8] [--workers 1 2 4]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
IN_NAMESPACE = "EMODUB_BENCH_NETNS"

LINES = [("I told you the boat would leave without us.", "The boat has gone and we are still here.", "sad"),
         ("Wake up, it is already nine!", "Get up now, we are very late!", "surprised"),
         ("Fine, I am coming, give me a minute.", "All right, I am on my way, wait for me.", "calm"),
         ("We won, we actually won the whole thing!", "This is the best day of my whole life!", "happy")]


def in_namespace() -> None:
    """Run this script again inside a loopback-only network namespace."""
    if shutil.which("unshare") is None:
        sys.exit("bench/scale.py needs unshare (util-linux) and root to make a loopback-only network namespace")
    command = f"ip link set lo up && exec {sys.executable} {' '.join(map(str, sys.argv))}"
    sys.exit(subprocess.run(["unshare", "--net", "sh", "-c", command], env={**os.environ, IN_NAMESPACE: "1"}).returncode)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=8)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    args = parser.parse_args()
    if not os.environ.get(IN_NAMESPACE):
        in_namespace()
    os.environ["EMODUB_CACHE_DIR"] = tempfile.mkdtemp(prefix="emodub-bench-scale-")
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    import ray

    from emodub.audio import save_audio
    from emodub.batch import RayRunner, plan_batch, run_batch, voice_profiles
    from emodub.dub import DubOptions
    from emodub.media import VIDEO_SUFFIXES
    from emodub.synthetic import flite_scene
    from human_references import alsa_speaker
    from tables import table

    folder = Path(tempfile.mkdtemp(prefix="emodub-bench-scale-"))
    season = folder / "season"
    season.mkdir()
    for number in range(args.videos):
        first = LINES[number % len(LINES)]
        lines = [first] if number % 2 == 0 else [first, LINES[(number + 1) % len(LINES)]]
        flite_scene(season, lines, name=f"ep{number + 1:02d}")
    voice = save_audio(alsa_speaker(Path(os.environ.get("EMODUB_BENCH_CACHE", Path.home() / ".cache" / "emodub-bench"))),
                       folder / "alsa-voice.wav")
    options = DubOptions(consent="bench: flite voices and the alsa-utils recording", workers=1)
    started = time.perf_counter()
    voice_profiles(plan_batch(season, None, folder, VIDEO_SUFFIXES), {"*": voice}, options)
    profile_s = time.perf_counter() - started
    rows = []
    for workers in args.workers:
        out = folder / f"out-{workers}"
        out.mkdir()
        runner = RayRunner("local", num_cpus=workers)
        runner.connect()
        addresses = {node["NodeManagerAddress"] for node in ray.nodes()}
        assert all(address.startswith("127.") for address in addresses), addresses
        started = time.perf_counter()
        results = run_batch(plan_batch(season, None, out, VIDEO_SUFFIXES), {"*": voice}, options, runner)
        elapsed = time.perf_counter() - started
        ray.shutdown()
        done = sum(r.status == "done" for r in results)
        if done != args.videos:
            sys.exit(f"{args.videos - done} video(s) failed with {workers} workers: {[r.error for r in results if r.error]}")
        rows.append([workers, done, round(elapsed, 1), round(done / elapsed * 60, 2)])
    base = rows[0][3] / rows[0][0]
    rows = [row + [f"{row[3] / (base * row[0]):.2f}"] for row in rows]
    print(f"machine: {os.cpu_count()} cores; {args.videos} episodes of 1–2 lines; voice profile searched once on the driver in "
          f"{profile_s:.1f} s (not in the times below)")
    table("Ray, local cluster on this machine", ["worker processes", "videos", "wall s", "videos per minute", "scaling efficiency"], rows)


if __name__ == "__main__":
    main()
