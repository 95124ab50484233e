"""Measure the dubbing pipeline: end-to-end time per stage, sync errors, video stream integrity.

    .venv/bin/python bench/dubbing.py [e2e] [analyze] [batch] [drift] [cast] [diarize]

- e2e: a generated 60-s, 25-fps video with 10 cues (drawn faces, builtin speech) dubbed with
  one worker pinned to one core, then with one worker per core, each in a fresh process: a new
  voice, then the voice cached; time per stage, real-time factor, peak memory, per-cue
  start/length error, naturalness and words, and whether the video stream is bit-identical.
- analyze: ``emodub analyze`` of the e2e video in a fresh process (faces, voices, speakers).
- batch: ``emodub dub FOLDER`` of 4 flite clips with 1 and 2 workers (fresh processes, voice cached): throughput.
- drift: a 20-minute track with a click laid at the last cue's start; where the click lands.
- cast: scenes of two and three real people (the pyannote sample's two speakers, the alsa-utils
  voice; see bench/human_references.py) taking turns, dubbed without any --voice: diarisation
  error (with the number of speakers found, and given), the time of the cast step, and the share
  of new lines closer (GE2E) to their own speaker's real voice than to every other speaker's.
- diarize: the pyannote sample as recorded (overlapping speech) against its RTTM.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("EMODUB_CACHE_DIR", tempfile.mkdtemp(prefix="emodub-bench-"))

from emodub import media  # noqa: E402
from emodub.audio import Audio, load_audio  # noqa: E402
from emodub.dub import DubOptions, dub_video  # noqa: E402
from emodub.emotion.space import EmotionVector  # noqa: E402
from emodub.engines.base import SynthesisRequest, get_engine  # noqa: E402
from emodub.subtitles import write_srt  # noqa: E402
from emodub.synthetic import expression_face, write_clip  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
VOICE = ROOT / "examples" / "voice_samples" / "character_A.wav"
RATE = 48000
FPS = 25
ORIGINAL = [("happy", "Well, that went better than anyone expected."), ("sad", "I never got the chance to say goodbye."),
            ("surprised", "Wait, you did all of this for me?"), ("calm", "Let us go over the plan once more."),
            ("angry", "Stop lying to me, I know what you did.")]
NEW = ["That was a lot better than we all hoped.", "I did not get to say goodbye to her.", "Hold on, all of this is for me?",
       "We should read the plan one more time.", "Do not lie to me, I saw what you did."]


def build_video(folder: Path) -> tuple[Path, Path]:
    engine, actor = get_engine("builtin"), load_audio(VOICE)
    track, faces, cues, t = [], [], [], 0.0
    number = 0
    while t < 57.0:
        emotion, text = ORIGINAL[number % len(ORIGINAL)]
        speech = engine.synthesize(SynthesisRequest(text=text, speaker_reference=actor, base_voice="flite-awb",
                                                    emotion=EmotionVector.preset(emotion))).audio.resampled(RATE)
        lead, gap = 0.8, 2.6
        track += [np.zeros(int(lead * RATE), np.float32), speech.samples, np.zeros(int(gap * RATE), np.float32)]
        cues.append((t + lead, t + lead + speech.duration_s, NEW[number % len(NEW)]))
        shot = lead + speech.duration_s + gap
        faces.append((shot, expression_face(emotion)))
        t += shot
        number += 1
    audio = Audio(np.concatenate(track)[:60 * RATE], RATE)
    video = write_clip(folder / "sixty.mp4", faces, audio, fps=FPS, size=(640, 360))
    script = folder / "sixty.srt"
    write_srt([c for c in cues if c[1] < 60.0][:10], script)
    return video, script


class TreeMemory:
    """Samples the resident memory of this process and all its descendants (the workers) every 0.2 s; keeps the peak."""

    def __init__(self) -> None:
        import threading

        self.peak_mib = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @staticmethod
    def now_mib() -> float:
        parents: dict[int, int] = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                except (OSError, IndexError, ValueError):
                    continue
        tree, grown = {os.getpid()}, True
        while grown:
            more = {pid for pid, parent in parents.items() if parent in tree} - tree
            tree |= more
            grown = bool(more)
        total_kib = 0
        for pid in tree:
            try:
                line = next(x for x in Path(f"/proc/{pid}/status").read_text().splitlines() if x.startswith("VmRSS:"))
                total_kib += int(line.split()[1])
            except (OSError, StopIteration):
                continue
        return total_kib / 1024

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            self.peak_mib = max(self.peak_mib, self.now_mib())


def e2e_run(folder: Path, workers: int) -> None:
    """One configuration in this fresh process: a new voice (its profile searched), then the same dub with it cached."""
    video, script = folder / "sixty.mp4", folder / "sixty.srt"
    memory = TreeMemory()
    for voice in ("new voice", "cached voice"):
        started = time.perf_counter()
        report = dub_video(video, script, {"*": VOICE}, folder / f"dubbed-{workers}.mp4", options=DubOptions(workers=workers, consent="bench"))
        total = time.perf_counter() - started
        stages = ", ".join(f"{k} {v:.1f}" for k, v in report.timings_s.items() if k != "total")
        print(f"ROW|{voice}|{total:.1f}|{total / media.probe(video).duration_s:.2f}|{memory.peak_mib:.0f}|{stages}", flush=True)
    statuses = {s: sum(c.status == s for c in report.cues) for s in sorted({c.status for c in report.cues})}
    starts = [abs(c.start_error_ms) for c in report.cues if c.start_error_ms is not None]
    lengths = [abs(c.duration_error_ms) for c in report.cues if c.duration_error_ms is not None]
    scored = [c.naturalness for c in report.cues if c.naturalness is not None]
    heard = [c.intelligibility.get("wer", c.intelligibility.get("cer")) for c in report.cues if c.intelligibility]
    print(f"CUES|{statuses}|{max(starts):.4f}|{max(lengths):.4f}|{np.mean(scored):.2f}|{np.mean(heard) * 100:.1f}", flush=True)


def bench_e2e(folder: Path) -> None:
    import subprocess

    video, script = build_video(folder)
    info = media.probe(video)
    cores = len(os.sched_getaffinity(0))
    print(f"\n## End to end: {info.duration_s:.1f}-s {info.fps:g}-fps {info.width}×{info.height} video, 10 cues\n")
    print("Each run is a fresh process with an empty profile cache, threads as the CLI sizes them (its own process every core it\n"
          "may use, each of N workers cores // N): first a new voice, then the same dub with the voice cached.\n")
    print("| run | voice | total s | × real time | peak RSS MiB (process tree) | stages (s) |\n|---|---|---|---|---|---|")
    summaries = []
    for label, workers, pinned in (("1 worker, 1 core", 1, True), (f"{cores} workers, {cores} cores", cores, False)):
        env = dict(os.environ, EMODUB_CACHE_DIR=tempfile.mkdtemp(prefix="emodub-bench-"))
        for name in ("EMODUB_THREADS", "EMODUB_THREADS_FROM_CORES", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            env.pop(name, None)
        command = [sys.executable, __file__, "e2e-run", str(folder), str(workers), *(["--pin"] if pinned else [])]
        out = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            if line.startswith("ROW|"):
                _, voice, total, rtf, rss, stages = line.split("|")
                print(f"| {label} | {voice} | {total} | {rtf} | {rss} | {stages} |")
            elif line.startswith("CUES|"):
                summaries.append((label, *line.split("|")[1:]))
    frame_ms = 1000 / (info.fps or FPS)
    print("\n| run | cue statuses (cached run) | start error max ms | length error max ms | mean DistillMOS | mean WER % |")
    print("|---|---|---|---|---|---|")
    for label, statuses, start, length, mos, wer in summaries:
        print(f"| {label} | {statuses} | {start} | {length} | {mos} | {wer} |")
    print(f"\n(one video frame = {frame_ms:.0f} ms; targets ≤ 1 frame and ≤ 1 ms)")
    same = media.video_stream_md5(video) == media.video_stream_md5(folder / f"dubbed-{cores}.mp4")
    print(f"video stream bit-identical after muxing: {same}")


def bench_analyze(folder: Path) -> None:
    """``emodub analyze`` of the e2e video, as a user runs it: a fresh process, every model loaded by it."""
    import subprocess

    video, _ = build_video(folder)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "emodub", "analyze", str(video), "--json", str(folder / "analysis.json")], check=True,
                   capture_output=True)
    seconds = time.perf_counter() - started
    print(f"\n## analyze: {media.probe(video).duration_s:.1f}-s 25-fps 640×360 video, fresh process\n")
    print(f"{seconds:.1f} s ({seconds / media.probe(video).duration_s * 60:.1f} s per minute of video; target ≤ 10)")


BATCH_LINES = [("I finally found the letter you wrote me.", "Look, the letter you sent me is right here.", "happy"),
               ("Nobody else was there when I came home.", "There was no one at home when I got back.", "sad"),
               ("Wait, you did all of this for me?", "Hold on, all of this is for me?", "surprised"),
               ("Let us go over the plan once more.", "We should read the plan one more time.", "calm")]


def bench_batch(folder: Path) -> None:
    """``emodub dub FOLDER`` of 4 clips (4 cues each) with 1 and with 2 workers, each a fresh process, the voice's profile cached."""
    import shutil
    import subprocess

    from emodub.synthetic import flite_scene

    clips = folder / "clips"
    clips.mkdir()
    for number in range(4):
        video, script = flite_scene(clips, BATCH_LINES[number:] + BATCH_LINES[:number], name=f"episode{number + 1}")
        for path in clips.glob(f"episode{number + 1}*"):
            if path not in (video, script):
                path.unlink()
    env = dict(os.environ, EMODUB_CACHE_DIR=tempfile.mkdtemp(prefix="emodub-bench-"))
    for name in ("EMODUB_THREADS", "EMODUB_THREADS_FROM_CORES", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env.pop(name, None)

    def run(workers: int, out: Path) -> float:
        out.mkdir()
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "emodub", "dub", str(clips), "--voice", str(VOICE), "--workers", str(workers),
                        "--consent", "bench", "-o", str(out)], env=env, check=True, capture_output=True)
        return time.perf_counter() - started

    run(1, folder / "warm-up")  # the voice's profile searched once, not timed
    shutil.rmtree(folder / "warm-up")
    seconds = {workers: run(workers, folder / f"out-{workers}") for workers in (1, 2)}
    print("\n## A batch of 4 clips (4 cues each), `emodub dub FOLDER`, fresh process, voice cached\n")
    print("| workers | wall s | clips per minute | throughput vs 1 worker |\n|---|---|---|---|")
    for workers, wall in seconds.items():
        print(f"| {workers} | {wall:.1f} | {4 / wall * 60:.1f} | {seconds[1] / wall:.2f}× |")


def bench_drift() -> None:
    duration_s = 20 * 60
    track = Audio(np.zeros(duration_s * RATE, np.float32), RATE)
    click = np.zeros(RATE // 10, np.float32)
    click[0] = 1.0
    start_s = duration_s - 7.654321
    mixed = media.place_lines(track, [(start_s, Audio(click, RATE))]).samples
    landed = int(np.argmax(mixed)) / RATE
    print("\n## Drift: last cue of a 20-minute track\n")
    print(f"cue start {start_s:.6f} s, landed at {landed:.6f} s: error {(landed - start_s) * 1000:+.4f} ms "
          f"(half a sample at {RATE} Hz is {500 / RATE:.4f} ms; target ≤ 1 ms)")


LINES = ["Yes.", "Fine, go ahead.", "I really do not think so.", "We could try that again tomorrow.",
         "I told you already, the meeting starts at nine.", "Nobody has called back about the order since Monday.",
         "If the train is late again we will miss the whole first half of the show.",
         "I think we should write it all down before anyone forgets what was actually said here today."]


def _line_for(span_s: float) -> str:
    """The line whose natural length (about 14 characters a second) is nearest the span."""
    return min(LINES, key=lambda line: abs(len(line) / 14.0 - span_s))


def _scene(folder: Path, name: str, voices: dict[str, list[Audio]], order: list[str]) -> tuple[Path, Path, dict, dict[str, Audio]]:
    """A video of real people taking turns (each turn one real solo piece), its script of new lines, the truth and each voice."""
    track, cues, truth, t, used = [np.zeros(RATE // 2, np.float32)], [], {}, 0.5, {v: 0 for v in voices}
    for speaker in order:
        piece = voices[speaker][used[speaker] % len(voices[speaker])].resampled(RATE)
        used[speaker] += 1
        track += [piece.samples, np.zeros(int(0.5 * RATE), np.float32)]
        cues.append((t, t + piece.duration_s, _line_for(piece.duration_s)))
        truth.setdefault(speaker, []).append((t, t + piece.duration_s))
        t += piece.duration_s + 0.5
    audio = Audio(np.concatenate(track), RATE)
    video = write_clip(folder / f"{name}.mp4", [(audio.duration_s, expression_face("calm"))], audio, fps=FPS)
    script = folder / f"{name}.srt"
    write_srt(cues, script)
    whole = {v: Audio(np.concatenate([p.resampled(16000).samples for p in pieces]), 16000) for v, pieces in voices.items()}
    return video, script, truth, whole


def _solo_pieces(cache: Path) -> dict[str, list[Audio]]:
    """Solo turns of 1.5–4 s of each real person: the pyannote sample's two, and the alsa-utils voice (two names a piece)."""
    from human_references import alsa_speaker, pyannote_sample, solo_turns

    recording, turns = pyannote_sample(cache)
    rate = recording.sample_rate_hz
    pieces: dict[str, list[Audio]] = {}
    for speaker, solo in solo_turns(turns).items():
        for start, end in solo:
            if end - start >= 1.5:
                pieces.setdefault(f"pyannote {speaker}", []).append(Audio(recording.samples[int(start * rate):int(min(end, start + 4) * rate)], rate))
    alsa = alsa_speaker(cache)
    half = len(alsa.samples) // 4
    pieces["alsa-utils"] = [Audio(alsa.samples[i * half:(i + 1) * half], alsa.sample_rate_hz) for i in range(4)]
    return pieces


def bench_cast(folder: Path) -> None:
    sys.path.insert(0, str(Path(__file__).parent))
    from diarization import diarization_error
    from emodub.cast import diarize
    from emodub.voice import speaker_similarity

    cache = Path(os.environ.get("EMODUB_BENCH_CACHE", Path.home() / ".cache" / "emodub-bench"))
    pieces = _solo_pieces(cache)
    a, b = sorted(k for k in pieces if k.startswith("pyannote"))
    scenes = {"two people": [a, b, a, b, a, b], "three people": [a, b, "alsa-utils", a, b, "alsa-utils"]}
    print("\n## Casts: real people taking turns, dubbed without --voice\n")
    print("| scene | speakers found | DER (found) | DER (count given) | cast step s | lines closer to own speaker | dub s |")
    print("|---|---|---|---|---|---|---|")
    for name, order in scenes.items():
        video, script, truth, voices = _scene(folder, name.replace(" ", "-"), pieces, order)
        info = media.probe(video)
        track = media.extract_audio(info)
        started = time.perf_counter()
        found = diarize(track)
        cast_s = time.perf_counter() - started
        given = diarize(track, n_speakers=len(truth))
        der_found = diarization_error(truth, {s.label: s.turns for s in found.speakers}, info.duration_s)["der"]
        der_given = diarization_error(truth, {s.label: s.turns for s in given.speakers}, info.duration_s)["der"]
        started = time.perf_counter()
        report = dub_video(video, script, {}, folder / f"{name.replace(' ', '-')}.dubbed.mp4",
                           options=DubOptions(workers=os.cpu_count() or 1, speakers=len(truth), consent="bench: public sample recordings"))
        dub_s = time.perf_counter() - started
        dubbed = load_audio(folder / f"{name.replace(' ', '-')}.dubbed.wav")
        closer, counted = 0, 0
        for cue, speaker in zip(report.cues, order):
            if cue.status not in ("dubbed", "short-of-shot", "ran-into-silence"):
                continue
            rate = dubbed.sample_rate_hz
            line = Audio(dubbed.samples[int(cue.start_s * rate):int((cue.start_s + cue.measured_duration_s) * rate)], rate)
            own = speaker_similarity(line, voices[speaker])
            others = max(speaker_similarity(line, voice) for other, voice in voices.items() if other != speaker and other in order)
            closer += own > others
            counted += 1
        print(f"| {name} ({len(truth)}) | {len(found.speakers)} | {der_found:.3f} | {der_given:.3f} | {cast_s:.1f} | "
              f"{closer}/{counted} | {dub_s:.0f} |")


def bench_diarize() -> None:
    """DER on the pyannote sample as recorded (30 s, two people, overlaps), against its own RTTM."""
    sys.path.insert(0, str(Path(__file__).parent))
    from diarization import diarization_error
    from emodub.cast import diarize
    from human_references import pyannote_sample

    cache = Path(os.environ.get("EMODUB_BENCH_CACHE", Path.home() / ".cache" / "emodub-bench"))
    recording, turns = pyannote_sample(cache)
    truth: dict[str, list[tuple[float, float]]] = {}
    for speaker, start, end in turns:
        truth.setdefault(speaker, []).append((start, end))
    print("\n## Diarisation of the pyannote sample as recorded (two people, with overlaps)\n")
    print("| speakers | found | DER | missed | false alarm | confusion | s |\n|---|---|---|---|---|---|---|")
    for given in (None, 2):
        started = time.perf_counter()
        found = diarize(recording, n_speakers=given)
        seconds = time.perf_counter() - started
        error = diarization_error(truth, {s.label: s.turns for s in found.speakers}, recording.duration_s)
        print(f"| {'given 2' if given else 'found'} | {len(found.speakers)} | {error['der']:.3f} | {error['missed']:.3f} | "
              f"{error['false_alarm']:.3f} | {error['confusion']:.3f} | {seconds:.1f} |")


def main() -> None:
    if sys.argv[1:2] == ["e2e-run"]:  # one e2e configuration, in the fresh process bench_e2e starts
        from emodub.threads import use_all_cores

        if "--pin" in sys.argv:
            os.sched_setaffinity(0, {0})
        use_all_cores()
        e2e_run(Path(sys.argv[2]), int(sys.argv[3]))
        return
    parts = set(sys.argv[1:]) or {"e2e", "analyze", "batch", "drift", "cast", "diarize"}
    with tempfile.TemporaryDirectory() as name:
        if "drift" in parts:
            bench_drift()
        if "e2e" in parts:
            bench_e2e(Path(name))
        if "analyze" in parts:
            bench_analyze(Path(name))
        if "batch" in parts:
            bench_batch(Path(name))
        if "diarize" in parts:
            bench_diarize()
        if "cast" in parts:
            bench_cast(Path(name))


if __name__ == "__main__":
    main()
