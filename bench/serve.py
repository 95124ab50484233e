"""The studio's throughput and overhead: jobs per hour with 1 and 2 workers, and the time the service adds over the CLI.

Every job is the same kind of scene: two shots of flite speech (drawn faces), a two-line SRT, dubbed in
the alsa-utils voice (a real person's recording).  The voice profile is searched once, by a first CLI
run (reported as "first job in a new voice"); every timed run after it finds the profile in the cache,
as a studio does after its first job in a voice.  The server is ``emodub serve`` on 127.0.0.1.

    .venv/bin/python bench/serve.py [--jobs 4]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
os.environ["EMODUB_CACHE_DIR"] = tempfile.mkdtemp(prefix="emodub-bench-serve-")  # a new voice: its profile is searched here

from emodub.audio import load_audio, save_audio  # noqa: E402
from emodub.synthetic import flite_scene  # noqa: E402
from human_references import alsa_speaker  # noqa: E402
from tables import table  # noqa: E402

LINES = [("I finally found the letter you wrote me.", "Look, the letter you sent me is right here."),
         ("Nobody else was there when I came home.", "There was no one at home when I got back.")]
CONSENT = "bench: flite voices and the alsa-utils recording (GPL-2 package data, used as a test voice)"


def cli_dub(video: Path, script: Path, voice: Path, out: Path) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "emodub", "dub", str(video), "--script", str(script), "--voice", str(voice), "-o", str(out),
                    "--consent", CONSENT, "--force"], check=True, capture_output=True)
    return time.perf_counter() - started


class Server:
    def __init__(self, data: Path, workers: int) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        self.process = subprocess.Popen([sys.executable, "-m", "emodub", "serve", "--data-dir", str(data), "--port", str(port),
                                         "--workers", str(workers)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while True:
            try:
                httpx.get(f"{self.url}/api/jobs", timeout=2)
                return
            except httpx.TransportError:
                time.sleep(0.2)

    def submit(self, video: Path, script: Path, voice: Path) -> str:
        files = {"video": ("scene.mp4", video.read_bytes()), "script": ("scene.srt", script.read_bytes()),
                 "voice": ("voice.wav", voice.read_bytes())}
        response = httpx.post(f"{self.url}/api/jobs", files=files, data={"options": f'{{"consent": "{CONSENT}"}}'}, timeout=60)
        response.raise_for_status()
        return response.json()["id"]

    def wait(self, ids: list[str]) -> None:
        while True:
            states = [httpx.get(f"{self.url}/api/jobs/{job_id}", timeout=10).json()["status"] for job_id in ids]
            if "failed" in states:
                raise RuntimeError(f"a job failed: {states}")
            if all(state == "done" for state in states):
                return
            time.sleep(0.25)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=4, help="jobs submitted at once for the throughput runs")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="emodub-bench-serve-"))
    video, script = flite_scene(folder, [(original, new, face) for (original, new), face in zip(LINES, ("happy", "sad"))])
    voice = save_audio(alsa_speaker(Path(os.environ.get("EMODUB_BENCH_CACHE", Path.home() / ".cache" / "emodub-bench"))),
                       folder / "alsa-voice.wav")
    first_s = cli_dub(video, script, voice, folder / "first.mp4")
    cli_s = min(cli_dub(video, script, voice, folder / f"cli{n}.mp4") for n in range(2))
    rows, single_s = [], None
    for workers in (1, 2):
        server = Server(folder / f"studio-{workers}", workers)
        try:
            if single_s is None:
                started = time.perf_counter()
                server.wait([server.submit(video, script, voice)])
                single_s = time.perf_counter() - started
            started = time.perf_counter()
            server.wait([server.submit(video, script, voice) for _ in range(args.jobs)])
            elapsed = time.perf_counter() - started
        finally:
            server.stop()
        rows.append([workers, args.jobs, round(elapsed, 1), round(args.jobs / elapsed * 3600, 1)])
    base = rows[0][3]
    rows = [row + [f"{row[3] / base / row[0]:.2f}"] for row in rows]
    print(f"machine: {os.cpu_count()} cores; scene: 2 cues, {load_audio(folder / 'scene-line0.wav').duration_s:.1f} s + "
          f"{load_audio(folder / 'scene-line1.wav').duration_s:.1f} s of speech")
    table("studio throughput (warm voice profile)", ["workers", "jobs", "wall s", "jobs per hour", "efficiency per worker"], rows)
    table("service over the CLI, one job", ["first job in a new voice (CLI) s", "CLI s", "studio s (upload ► done)", "added s"],
          [[round(first_s, 1), round(cli_s, 1), round(single_s, 1), round(single_s - cli_s, 1)]])


if __name__ == "__main__":
    main()
