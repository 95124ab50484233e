"""Many videos: the local runner and the Ray runner behind one interface (``emodub dub FOLDER [--ray ADDRESS]``).

Both dub each video with :func:`emodub.dub.dub_video`, skip videos whose output exists (so a batch
resumed after a crash goes on where it stopped), keep going when one video fails for its own reasons,
and write ``OUT_DIR/batch.json``: every video with its status, node, time and error.

On Ray, one task per video; a long video's cues go out in groups as tasks of their own, so a single
episode uses the cluster too.  Voice profiles are searched once, on the driver, and reach the tasks
through the object store.  Without shared storage (the default) the driver ships the inputs' bytes
and writes the outputs itself; with ``shared=True`` every node reads and writes the paths directly.
Synthesis is seeded, so where a video ran does not change its tracks.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from emodub import media
from emodub.audio import atomic_output, load_audio
from emodub.dub import DubOptions, changed_since, dub_video, output_paths, run_jobs
from emodub.engines.base import SynthesisRequest, detect_language, get_engine, prepare_voice
from emodub.errors import EmodubError, InputError
from emodub.progress import Progress
from emodub.subtitles import read_script
from emodub.threads import limit_threads
from emodub.workers import start_worker

RAY_ADDRESS = re.compile(r"^(local|auto|(ray://)?[A-Za-z0-9.\-]+:[0-9]{1,5}|(ray://)?\[[0-9A-Fa-f:]+\]:[0-9]{1,5})$")
DEFAULT_CUE_GROUP = 8  # cues per task when a long video is spread over the cluster
DEFAULT_MAX_RETRIES = 3  # a task whose worker or node dies is tried again this many times


@dataclass(frozen=True)
class BatchItem:
    """One video of a batch: its script (None: none found) and where its dub goes."""

    video: Path
    script: Path | None
    output: Path


@dataclass
class ItemResult:
    """How one video went: done, skipped (its output exists) or failed (with the reason)."""

    video: str
    output: str
    status: str
    node: str | None = None
    seconds: float | None = None
    error: str | None = None
    cues: dict[str, int] = field(default_factory=dict)  # cue status ► count


def plan_batch(folder: Path, scripts: Path | None, out_dir: Path, video_suffixes: tuple[str, ...]) -> list[BatchItem]:
    """Every video of ``folder`` with ``<name>.srt`` beside it (or in ``scripts``), dubbed to ``out_dir/<name>.dubbed<ext>``."""
    videos = sorted(p for p in folder.iterdir() if p.suffix.lower() in video_suffixes)
    if not videos:
        raise InputError(f"folder {str(folder)!r} has no videos ({', '.join(video_suffixes)})")
    if not out_dir.is_dir():
        raise InputError(f"for a folder of videos, -o must be an existing folder; got {str(out_dir)!r}")
    items = []
    for video in videos:
        script = (scripts if scripts is not None and scripts.is_dir() else video.parent) / f"{video.stem}.srt"
        items.append(BatchItem(video, script if script.exists() else None, out_dir / f"{video.stem}.dubbed{video.suffix.lower()}"))
    return items


def dub_item(item: BatchItem, voices: dict[str, Path], options: DubOptions, *, hook: Progress | None = None,
             synthesize=None) -> ItemResult:
    """Dub one video; a failure of its own (bad input, damaged file) is the result, not an exception."""
    started = time.perf_counter()
    try:
        _check_script(item)
        report = dub_video(item.video, item.script, voices, item.output, options=options, hook=hook, synthesize=synthesize)
    except EmodubError as error:
        return ItemResult(str(item.video), str(item.output), "failed", seconds=round(time.perf_counter() - started, 2), error=str(error))
    counts: dict[str, int] = {}
    for cue in report.cues:
        counts[cue.status] = counts.get(cue.status, 0) + 1
    return ItemResult(str(item.video), str(item.output), "done", seconds=round(time.perf_counter() - started, 2), cues=counts)


def _check_script(item: BatchItem) -> None:
    if item.script is None:
        raise InputError(f"no script {item.video.stem + '.srt'!r} for {str(item.video)!r}")


class LocalRunner:
    """The videos on this machine: with ``options.workers`` > 1, that many at once, each in its own worker process
    (its cues in that process; the given voices' profiles searched once first), else one after another here."""

    name = "local"

    def __init__(self, hook_for: Callable[[BatchItem], Any] | None = None) -> None:
        self.hook_for = hook_for  # a context manager yielding a progress hook per video (the CLI's progress bar)

    def run(self, items: list[BatchItem], voices: dict[str, Path], options: DubOptions,
            done: Callable[[ItemResult], None]) -> list[ItemResult]:
        if options.workers > 1 and len(items) > 1:
            return self._side_by_side(items, voices, options, done)
        results = []
        for item in items:
            if self.hook_for is None:
                result = dub_item(item, voices, options)
            else:
                with self.hook_for(item) as hook:
                    result = dub_item(item, voices, options, hook=hook)
            result.node = "local"
            results.append(result)
            done(result)
        return results

    @staticmethod
    def _side_by_side(items: list[BatchItem], voices: dict[str, Path], options: DubOptions,
                      done: Callable[[ItemResult], None]) -> list[ItemResult]:
        """Whole videos in parallel: a video's reading, synthesis and mix all overlap the others' (a dub's own stages do not)."""
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed


        voice_profiles(items, voices, options)  # into the file cache the workers read: each voice searched once, not per worker
        count = min(options.workers, len(items))
        single = replace(options, workers=1)
        results: dict[int, ItemResult] = {}
        with ProcessPoolExecutor(max_workers=count, mp_context=multiprocessing.get_context("spawn"), initializer=start_worker,
                                 initargs=(count,)) as pool:  # each: its share of the cores, its models loaded once, Ctrl-C to the parent
            futures = {pool.submit(dub_item, item, voices, single): number for number, item in enumerate(items)}
            for future in as_completed(futures):
                result = future.result()
                result.node = "local"
                results[futures[future]] = result
                done(result)
        return [results[number] for number in range(len(items))]


def run_batch(items: list[BatchItem], voices: dict[str, Path], options: DubOptions, runner, *, force: bool = False,
              done: Callable[[ItemResult], None] | None = None) -> list[ItemResult]:
    """Dub every item not done yet with ``runner``; write ``batch.json`` beside the outputs after each video."""
    notify = done or (lambda result: None)
    results: list[ItemResult] = []
    report_path = items[0].output.parent / "batch.json" if items else None
    started = time.perf_counter()

    order = {str(item.video): number for number, item in enumerate(items)}

    def record(result: ItemResult) -> None:  # as each video ends; the list and batch.json in the folder's order
        results.append(result)
        results.sort(key=lambda r: order[r.video])
        notify(result)
        if report_path is not None:
            with atomic_output(report_path) as tmp:
                tmp.write_text(json.dumps({"runner": runner.name, "seconds": round(time.perf_counter() - started, 2),
                                           "videos": [asdict(r) for r in results]}, indent=2), encoding="utf-8")

    todo = []
    for item in items:
        if not force and item.output.exists():
            changed = changed_since(item.output, [p for p in (item.video, item.script) if p is not None])
            record(ItemResult(str(item.video), str(item.output), "skipped",
                              error=f"{', '.join(map(str, changed))} changed after the output was made; --force redoes it" if changed else None))
        else:
            todo.append(item)
    if todo:
        runner.run(todo, voices, options, record)
    return results


# -- Ray ---------------------------------------------------------------------------------------------------
def check_ray_address(address: str) -> str:
    if not RAY_ADDRESS.match(address):
        raise InputError(f"--ray {address!r} is not a Ray address; allowed: local (start one here), auto, HOST:PORT or ray://HOST:PORT")
    return address


def _import_ray():
    try:
        import ray
    except ImportError:
        raise InputError("--ray needs Ray: pip install 'emodub[ray]'") from None
    return ray


class RayRunner:
    """Each video a Ray task (``max_retries`` when a worker or node dies); a long video's cues in groups of ``cue_group``."""

    name = "ray"

    def __init__(self, address: str, *, num_cpus: int | None = None, cue_group: int = DEFAULT_CUE_GROUP,
                 max_retries: int = DEFAULT_MAX_RETRIES, shared: bool = False) -> None:
        self.address = check_ray_address(address)
        if cue_group < 1:
            raise InputError(f"cue group {cue_group!r} is not allowed; it must be ≥ 1 cues per task")
        self.num_cpus, self.cue_group, self.max_retries, self.shared = num_cpus, cue_group, max_retries, shared
        self.nodes: dict[str, str] = {}  # node id ► address

    def connect(self):
        ray = _import_ray()
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # emodub does not report usage anywhere
        if not ray.is_initialized():
            env = {"env_vars": {"EMODUB_THREADS": "1", "OMP_NUM_THREADS": "1", "RAY_USAGE_STATS_ENABLED": "0"}}
            common = {"runtime_env": env, "log_to_driver": False, "logging_level": "ERROR"}
            try:
                if self.address == "local":
                    ray.init(num_cpus=self.num_cpus, include_dashboard=False, **common)
                else:
                    ray.init(address=self.address, **common)
            except (ConnectionError, RuntimeError, ValueError) as error:
                raise InputError(f"cannot reach the Ray cluster at {self.address!r}: {error}") from None
        self.nodes = {node["NodeID"]: node["NodeManagerAddress"] for node in ray.nodes() if node.get("Alive")}
        return ray

    def run(self, items: list[BatchItem], voices: dict[str, Path], options: DubOptions,
            done: Callable[[ItemResult], None]) -> list[ItemResult]:
        ray = self.connect()
        options = replace(options, workers=1)  # the cluster's CPUs are the parallelism
        profiles = ray.put(voice_profiles(items, voices, options))
        shipped_voices = ray.put({name: (path.name, None if self.shared else path.read_bytes(), str(path)) for name, path in voices.items()})
        task = ray.remote(num_cpus=1, max_retries=self.max_retries)(_dub_on_node)
        pending, results = {}, []
        for item in items:
            try:
                _check_script(item)
            except InputError as error:  # known here: no task for it
                results.append(ItemResult(str(item.video), str(item.output), "failed", node="driver", error=str(error)))
                done(results[-1])
                continue
            inputs = None if self.shared else {"video": item.video.read_bytes(), "script": item.script.read_bytes() if item.script else None}
            pending[task.remote(item, inputs, shipped_voices, profiles, options, self.cue_group)] = item
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            item = pending.pop(ready[0])
            try:
                result, files = ray.get(ready[0])
            except Exception as error:  # retries spent (node lost), or a bug in the task: this video fails, the others go on
                result, files = ItemResult(str(item.video), str(item.output), "failed", error=f"{type(error).__name__}: {error}"), {}
            report_name = output_paths(item.output)[3].name
            for name, data in files.items():  # shipped back: written here, each atomically
                if name == report_name:  # the report names the files here, not the task's temporary copies
                    data = _report_with_paths(data, item, voices)
                with atomic_output(item.output.parent / name) as tmp:
                    tmp.write_bytes(data)
            result.video, result.output = str(item.video), str(item.output)
            if result.node in self.nodes:
                result.node = f"{self.nodes[result.node]} (node {result.node[:8]})"
            results.append(result)
            done(result)
        return results


def _report_with_paths(data: bytes, item: BatchItem, voices: dict[str, Path]) -> bytes:
    report = json.loads(data)
    report.update(video=str(item.video), script=str(item.script), output=str(item.output))
    report["voices"] = {name: str(voices.get(name, path)) for name, path in report.get("voices", {}).items()}
    return json.dumps(report, ensure_ascii=False, indent=2).encode("utf-8")


def voice_profiles(items: list[BatchItem], voices: dict[str, Path], options: DubOptions) -> dict[str, bytes]:
    """Each given voice's profile for every language its scripts use, searched once here: {cache file name: bytes}."""
    from emodub.engines.builtin import voice_profile  # heavy (pyworld): loaded only when used

    references = [load_audio(path) for path in voices.values()]
    if not references:  # every voice comes from its own video's cast
        return {}
    languages: dict[str, str] = {}  # language ► a line in it
    for item in items:
        try:
            cues = read_script(item.script, media_duration_s=media.probe(item.video).duration_s).cues if item.script else []
        except EmodubError:
            continue  # that video fails in its own task, with its own message
        for part in (part for cue in cues for part in cue.parts):
            languages.setdefault(detect_language(part.text), part.text)
    files, engine = {}, get_engine("builtin")
    for reference in references:
        for language, text in sorted(languages.items()):
            prepare_voice(engine, SynthesisRequest(text=text, speaker_reference=reference, language=language, base_voice=options.base_voice,
                                                   frame_match=options.frame_match, naturalness_margin=options.naturalness_margin,
                                                   commercial=options.commercial))
        path = voice_profile.cache_dir() / f"{voice_profile.reference_hash(reference)}.json"
        if path.exists():
            files[path.name] = path.read_bytes()
    return files


def _dub_on_node(item: BatchItem, inputs: dict[str, bytes | None] | None, voices: dict[str, tuple[str, bytes | None, str]],
                 profiles: dict[str, bytes], options: DubOptions, cue_group: int) -> tuple[ItemResult, dict[str, bytes]]:
    """One video on a Ray worker: profiles into the local cache, inputs from bytes (or shared paths), outputs back as bytes."""
    import ray

    from emodub.engines.builtin import voice_profile  # heavy (pyworld): loaded only when used

    limit_threads()
    for name, data in profiles.items():
        target = voice_profile.cache_dir() / name
        if not target.exists():
            with atomic_output(target) as tmp:
                tmp.write_bytes(data)
    node = ray.get_runtime_context().get_node_id()
    synthesize = _cue_groups(cue_group)
    if inputs is None:  # shared storage: every node sees the paths
        result = dub_item(item, {name: Path(path) for name, (_, _, path) in voices.items()}, options, synthesize=synthesize)
        result.node = node
        return result, {}
    with tempfile.TemporaryDirectory(prefix="emodub-ray-") as folder:
        here = Path(folder)
        video = here / f"video{item.video.suffix}"
        video.write_bytes(inputs["video"])
        script = None
        if inputs["script"] is not None:
            script = here / "script.srt"
            script.write_bytes(inputs["script"])
        local_voices = {}
        for number, (name, (file_name, data, _)) in enumerate(voices.items()):
            local_voices[name] = here / f"voice-{number}{Path(file_name).suffix}"
            local_voices[name].write_bytes(data or b"")
        out = here / "out"
        out.mkdir()
        output = out / item.output.name
        result = dub_item(BatchItem(video, script, output), local_voices, options, synthesize=synthesize)
        result.node = node
        if result.error:  # name the driver's files, not this task's copies
            result.error = result.error.replace(str(video), str(item.video)).replace(str(script), str(item.script))
        made = {path.name for path in output_paths(output)} | {p.name for p in out.glob(f"{output.stem}.voice-*")}
        return result, {name: (out / name).read_bytes() for name in sorted(made) if (out / name).is_file()}


def _cue_groups(cue_group: int):
    """A synthesizer for :func:`dub_video` that sends a long video's cues to the cluster in groups of ``cue_group``."""

    def synthesize(jobs, workers: int, notify: Progress):
        import ray


        if len(jobs) <= cue_group:
            return run_jobs(jobs, 1, notify)
        group_task = ray.remote(num_cpus=1)(_synthesize_group)
        groups = [jobs[start:start + cue_group] for start in range(0, len(jobs), cue_group)]
        results, failures, done = {}, {}, 0
        for group_results, group_failures in ray.get([group_task.remote(group) for group in groups]):
            results.update(group_results)
            failures.update(group_failures)
            done += len(group_results) + len(group_failures)
            notify("synthesise", done, len(jobs))
        return results, failures

    return synthesize


def _synthesize_group(jobs):
    limit_threads()
    return run_jobs(jobs, 1, lambda step, done, total: None)
