"""What a studio worker process does with one task: a job's first dub, or one regenerated cue.

Each task writes a new version of the job's outputs into ``vN.partial/`` and renames it to ``vN/``
when complete, so a version folder is always whole; older versions stay.  The worker calls the same
pipeline functions as the CLI (:func:`emodub.dub.dub_video`, :func:`emodub.dub.redub_cue`).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shutil
import signal
import time
import traceback
from pathlib import Path
from typing import Any

from emodub import layout, media, watermark
from emodub.audio import Audio, atomic_output, save_audio
from emodub.dub import DubSession, choose_take, dub_video, redub_cue, write_template
from emodub.errors import EmodubError
from emodub.job import DubSettings, parse_job
from emodub.pipeline import synthesize_job, write_outputs
from emodub.progress import step_words
from emodub.service.store import JobStore, Task
from emodub.threads import limit_threads

# where each pipeline step sits in a task's progress (0..1); steps not listed keep the last value
STAGE_SPANS = {"starting": (0.0, 0.02), "transcribe": (0.02, 0.12), "cast": (0.12, 0.2), "read faces": (0.2, 0.3), "read voices": (0.3, 0.35),
               "voice profile": (0.35, 0.55), "synthesise": (0.55, 0.93), "separate": (0.93, 0.95), "done": (0.95, 0.97)}
# without a script the lines are found first (emodub.dub.write_template): that is the first TEMPLATE_SHARE of the job
TEMPLATE_SPANS = {"cast": (0.0, 0.3), "read faces": (0.3, 0.6), "transcribe": (0.6, 1.0)}
TEMPLATE_SHARE = 0.3
PROGRESS_EVERY_S = 0.25  # at most four progress events a second per job
CUE_CLIP_RATE_HZ = 24000
NICENESS = 5  # workers yield the CPU to the server, so the page stays responsive


class ClaimLost(Exception):
    """The task was taken from this worker (the server restarted and queued it again): stop quietly."""


def init_worker() -> None:
    """Per worker process: die with the server, one thread per pool, a lower priority than the server."""
    with contextlib.suppress(OSError, AttributeError):  # not Linux: the claim check still stops an orphan from writing
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: no orphan runs on after a crash
    os.nice(NICENESS)

    limit_threads()


def run_task(data_dir: str, task_id: int) -> None:
    """Run one claimed task to its end and record the result (a new version, or the reason it failed)."""
    store = JobStore(data_dir)
    task = store.task(task_id)
    if task is None or not store.holds(task):
        return
    folder = store.job_folder(task.job_id)
    job = store.job(task.job_id)
    if job is None:  # deleted while its task was being claimed
        return
    version = job["version"] + 1
    partial = folder / f"v{version}.partial"
    shutil.rmtree(partial, ignore_errors=True)  # what a crashed attempt left
    partial.mkdir(parents=True)
    progress = JobProgress(store, task)
    try:
        if task.kind == "dub":
            summary = _first_dub(folder, partial, job, progress)
        else:
            summary = _redub(folder, partial, job, task, progress, version)
    except ClaimLost:
        return
    except EmodubError as error:
        shutil.rmtree(partial, ignore_errors=True)
        store.finish(task, error=str(error))
        return
    except Exception as error:  # a bug: the job says so, the traceback goes to the job's log, the server goes on
        shutil.rmtree(partial, ignore_errors=True)
        (folder / "errors.log").open("a", encoding="utf-8").write(f"task {task.id}:\n{traceback.format_exc()}\n")
        store.finish(task, error=f"internal error ({type(error).__name__}: {error}); details in the job's errors.log")
        return
    final = folder / f"v{version}"
    if not store.holds(task):
        shutil.rmtree(partial, ignore_errors=True)
        return
    shutil.rmtree(final, ignore_errors=True)  # an orphan of a run whose claim was lost after its rename
    partial.rename(final)
    store.finish(task, version=version, summary=summary)


class JobProgress:
    """One monotone fraction per task, fed by the pipeline's ``hook(step, done, total)`` calls; the stage in words (as the CLI's bars)."""

    def __init__(self, store: JobStore, task: Task) -> None:
        self.store, self.task = store, task
        self.fraction, self.last_event = 0.0, 0.0

    def hook(self, spans: dict[str, tuple[float, float]] = STAGE_SPANS, within: tuple[float, float] = (0.0, 1.0), prefix: str = ""):
        """A hook whose steps fill ``within`` of the task (each step its share in ``spans``); the fraction never goes back."""
        def hook(step: str, done: int, total: int) -> None:
            span = spans.get(step)
            if span is not None:
                local = span[0] + (span[1] - span[0]) * (min(done, total) / total if total else 1.0)
                self.fraction = max(self.fraction, within[0] + (within[1] - within[0]) * local)
            now = time.monotonic()
            if now - self.last_event < PROGRESS_EVERY_S and done < total:
                return
            self.last_event = now
            if not self.store.progress(self.task, prefix + step_words(step, done, total), self.fraction):
                raise ClaimLost

        return hook


def _first_dub(folder: Path, out: Path, job: dict[str, Any], progress: JobProgress) -> dict[str, Any]:
    inputs = job["inputs"]
    video = folder / inputs["video"]
    options = DubSettings.model_validate(job["options"]).dub_options()
    script = folder / inputs["script"] if inputs.get("script") else None
    hook = progress.hook()
    if script is None:  # no script: the words said in the original, per speaker, become the lines (then edit them here)
        script = folder / "template.srt"
        if not script.exists():
            write_template(video, script, speakers=options.speakers,
                           hook=progress.hook(TEMPLATE_SPANS, (0.0, TEMPLATE_SHARE), prefix="Finding the lines: "))
        hook = progress.hook(within=(TEMPLATE_SHARE, 1.0))
    voices = {name: folder / path for name, path in inputs.get("voices", {}).items()}
    dub_video(video, script, voices, out / "dubbed.mp4", options=options, hook=hook, session_path=out / "session.pkl")
    session = DubSession.load(out / "session.pkl")
    _write_originals(folder, session)
    return _publish_version(out, session, {}, 1)


def _redub(folder: Path, out: Path, job: dict[str, Any], task: Task, progress: JobProgress, version: int) -> dict[str, Any]:
    """A cue redone as a new take (kind ``cue``), or one of its takes chosen again (kind ``take``): the next version."""
    from emodub.service.edits import cue_edit  # here, not at the top: that module imports this one

    session = DubSession.load(folder / f"v{job['version']}" / "session.pkl")
    if task.kind == "take":
        choose_take(session, task.payload["cue"], task.payload["take"], out / "dubbed.mp4", hook=progress.hook())
    else:
        redub_cue(session, task.payload["cue"], cue_edit(task.payload, session), out / "dubbed.mp4", hook=progress.hook())
    session.save(out / "session.pkl")
    return _publish_version(out, session, job["summary"] or {}, version)


def _write_originals(folder: Path, session) -> None:
    """The original dialogue (for the page's waveform) and each cue's original audio, once per job."""
    originals = folder / "original"
    if (originals / "track.wav").exists():
        return
    originals.mkdir(exist_ok=True)
    dialogue = layout.extract_tracks(media.probe(session.video)).dialogue_mix().resampled(CUE_CLIP_RATE_HZ)
    for cue in session.cues:
        piece = dialogue.samples[int(cue.start_s * CUE_CLIP_RATE_HZ):int(cue.end_s * CUE_CLIP_RATE_HZ)]
        save_audio(Audio(piece, CUE_CLIP_RATE_HZ), originals / f"cue-{cue.index:03d}.wav")
    save_audio(dialogue, originals / "track.wav")


def _publish_version(out: Path, session, previous: dict[str, Any], version: int) -> dict[str, Any]:
    """Each new line as its own clip, the emotion plot, and the summary the API validates edits against.

    The summary lists every take of a redone cue with the version whose ``cue-NNN.wav`` holds its audio:
    a cue's first take is in version 1 (the dub), a new take in the version that made it.
    """
    from emodub.service.plot import plot_emotions  # here, not at the top: that module imports this one

    report = _report(out)
    for number, cue in enumerate(session.cues):
        synth = session.results.get(number)
        if synth is not None and synth.audio is not None:  # the line as marked when it was made; the dub's tags
            save_audio(synth.audio.resampled(CUE_CLIP_RATE_HZ), out / f"cue-{cue.index:03d}.wav", tags=report["provenance"])
    with atomic_output(out / "emotions.png") as tmp:
        plot_emotions(report, tmp)
    known = {(index, take["take"]): take["version"] for index, takes in previous.get("takes", {}).items() for take in takes}
    takes = {str(index): [{**take, "version": known.get((str(index), take["take"]), 1 if take["take"] == 1 else version)}
                          for take in records] for index, records in session.take_records().items()}
    return {"cues": len(session.cues), "speakers": session.speaker_choices(), "indices": [cue.index for cue in session.cues],
            "spans": [[cue.start_s, cue.end_s] for cue in session.cues], "duration_s": session.media_duration_s, "fps": session.fps,
            "takes": takes}


def _report(out: Path) -> dict[str, Any]:
    return json.loads((out / "dubbed.json").read_text(encoding="utf-8"))




def detect_file(path: str) -> dict[str, Any]:
    """``POST /api/detect`` in a worker process: the upload checked, then read for the watermark."""
    info = watermark.check_detectable(path)
    watermark.require()
    return watermark.detect_file(info).to_dict()


def say_line(folder: str, spec: dict[str, Any]) -> dict[str, Any]:
    """``POST /api/say`` in a worker process: the job validated as ``emodub run`` validates it, the line and its report written."""
    job = parse_job(spec, base_dir=Path(folder))
    synthesis, report = synthesize_job(job)
    write_outputs(synthesis, report, Path(folder) / "line.wav", Path(folder) / "line.json")
    return json.loads((Path(folder) / "line.json").read_text(encoding="utf-8"))
