"""The studio's web app: the JSON API, progress as server-sent events, downloads, and the page (``emodub serve``).

Every endpoint calls the same pipeline as the CLI (through the worker pool); nothing here re-implements a step.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import secrets
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import asynccontextmanager, contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import ValidationError
from sse_starlette.sse import EventSourceResponse

from emodub import __version__
from emodub.consent import require_consent
from emodub.emotion.describe import describe_en, describe_zh
from emodub.emotion.text import text_to_emotion
from emodub.errors import EmodubError, InputError
from emodub.job import DubSettings, errors_line
from emodub.service import files
from emodub.service.advice import advise
from emodub.service.edits import parse_edit, parse_take
from emodub.service.guard import BodyTooLarge, Guard, served_names
from emodub.service.runner import Dispatcher
from emodub.service.store import JobStore
from emodub.service.worker import detect_file, init_worker, say_line
from emodub.textnorm import check_line_length

EVENT_POLL_S = 0.3
VENDOR = "vendor/node_modules"
OUTPUTS = {"video": "dubbed.{ext}", "audio": "dubbed.wav", "script": "dubbed.srt", "report": "dubbed.json", "plot": "emotions.png"}


def static_dir() -> Path:
    return Path(str(resources.files("emodub.service") / "static"))


def create_app(data_dir: str | Path, *, workers: int = 1, token: str | None = None, max_upload_mb: int = 2048,
               run_workers: bool = True, host: str = "127.0.0.1", allowed_hosts: tuple[str, ...] = ()) -> FastAPI:
    """The studio over ``data_dir``; ``run_workers=False`` queues jobs without running them (API tests).

    ``host``: the address it is bound to; with ``allowed_hosts`` (a reverse proxy's public names),
    the only ``Host`` names it answers (:mod:`emodub.service.guard`).
    """
    data_dir = Path(data_dir)
    (data_dir / "jobs").mkdir(parents=True, exist_ok=True)
    for staging in (data_dir / "jobs").glob(".*"):  # uploads cut short by a crash: never a job
        files.remove_tree(staging)
    store = JobStore(data_dir)
    max_bytes = max_upload_mb << 20
    dispatcher = Dispatcher(store, workers) if run_workers else None
    say_pool: list[ProcessPoolExecutor | None] = [None]  # one line at a time, in its own process, started on first use

    def line_worker() -> ProcessPoolExecutor:
        """The process that makes /api/say's lines and reads /api/detect's files (its models loaded once)."""
        if say_pool[0] is None:
            say_pool[0] = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"), initializer=init_worker)
        return say_pool[0]

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        if dispatcher is not None:
            dispatcher.start()
        else:
            store.recover()
        yield
        if dispatcher is not None:
            dispatcher.stop()
        if say_pool[0] is not None:
            say_pool[0].shutdown(wait=False, cancel_futures=True)

    app = FastAPI(title="emodub studio", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Dub a video with the emotion of its original performance, review and regenerate line by line.")
    app.state.store = store
    app.add_middleware(Guard, names=served_names(host, allowed_hosts), upload_limit_mb=max_upload_mb, proxy_names=allowed_hosts)

    def authorised(request: Request) -> None:
        """With --token: ``Authorization: Bearer TOKEN`` (or ``?token=`` where a browser cannot set headers: media, SSE)."""
        if token is None:
            return
        given = request.headers.get("authorization", "")
        given = given.removeprefix("Bearer ").strip() if given.startswith("Bearer ") else request.query_params.get("token", "")
        if not secrets.compare_digest(given.encode(), token.encode()):
            raise HTTPException(401, "a token is needed: send 'Authorization: Bearer TOKEN' (the one given to emodub serve --token)",
                                headers={"WWW-Authenticate": "Bearer"})

    api = [Depends(authorised)]

    @app.exception_handler(HTTPException)
    async def one_line(_: Request, error: HTTPException) -> JSONResponse:
        return JSONResponse({"error": error.detail}, status_code=error.status_code, headers=error.headers)

    @app.exception_handler(BodyTooLarge)
    async def too_large(_: Request, error: BodyTooLarge) -> JSONResponse:  # raised while the body streams in: reading stops there
        return JSONResponse({"error": str(error)}, status_code=413, headers={"Connection": "close"})

    # -- the page and the docs (served from here: no CDN, the studio works offline) --------------------
    app.mount("/static", StaticFiles(directory=static_dir()), name="static")

    @app.get("/", include_in_schema=False)
    def page() -> HTMLResponse:
        return HTMLResponse((static_dir() / "index.html").read_text(encoding="utf-8"))

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title="emodub studio API",
                                   swagger_js_url=f"/static/{VENDOR}/swagger-ui-dist/swagger-ui-bundle.js",
                                   swagger_css_url=f"/static/{VENDOR}/swagger-ui-dist/swagger-ui.css",
                                   swagger_favicon_url=f"/static/{VENDOR}/swagger-ui-dist/favicon-32x32.png")

    # -- jobs ------------------------------------------------------------------------------------------
    @app.post("/api/jobs", status_code=201, dependencies=api)
    async def create_job(request: Request) -> dict[str, Any]:
        """Multipart: ``video``; optional ``script``; ``voice`` (everyone) or ``voice:NAME`` fields; ``options`` JSON."""
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > max_bytes + (1 << 20):
            raise HTTPException(413, f"upload is larger than the limit of {max_upload_mb} MB (--max-upload-mb)")
        form = await request.form(max_files=32, max_fields=64)
        return await asyncio.to_thread(_new_job, store, form, max_bytes)

    @app.get("/api/jobs", dependencies=api)
    def list_jobs() -> list[dict[str, Any]]:
        return [_with_outputs(job, store, report=False) for job in store.jobs()]

    @app.get("/api/jobs/{job_id}", dependencies=api)
    def get_job(job_id: str) -> dict[str, Any]:
        return _with_outputs(_job_or_404(store, job_id), store, report=True)

    @app.delete("/api/jobs/{job_id}", status_code=204, dependencies=api)
    def delete_job(job_id: str) -> Response:
        job = _job_or_404(store, job_id)
        if job["status"] == "running":
            raise HTTPException(409, f"job {job_id} is running; delete it when it is done or failed")
        store.delete_job(job_id)
        files.remove_tree(store.job_folder(job_id))
        return Response(status_code=204)

    @app.get("/api/jobs/{job_id}/events", dependencies=api)
    async def events(job_id: str, request: Request, after: int = 0) -> EventSourceResponse:
        """Progress and status as server-sent events; the stream ends once the job has nothing queued or running."""
        _job_or_404(store, job_id)
        given = request.headers.get("last-event-id") or str(after)
        if not given.strip().isdigit():
            raise HTTPException(400, f"Last-Event-ID {given!r} is not an event number (a whole number ≥ 0)")
        last = int(given)

        async def stream():
            nonlocal last
            while not await request.is_disconnected():
                batch = await asyncio.to_thread(store.events_after, job_id, last)
                for event in batch:
                    last = event["id"]
                    yield {"id": str(event["id"]), "event": event["kind"], "data": json.dumps(event)}
                if not batch and not await asyncio.to_thread(store.busy, job_id):
                    yield {"event": "end", "data": json.dumps({"id": job_id})}
                    return
                await asyncio.sleep(EVENT_POLL_S)

        return EventSourceResponse(stream(), ping=10)

    @app.get("/api/jobs/{job_id}/files/{folder}/{name}", dependencies=api)
    def download(job_id: str, folder: str, name: str) -> FileResponse:
        """A file of one version (``v1``, ``v2`` …) or of the original (``original``); nothing outside the job's folder."""
        _job_or_404(store, job_id)
        path = files.resolve_download(store.job_folder(job_id), folder, name)
        if path is None:
            raise HTTPException(404, f"no file {folder}/{name} in job {job_id}")
        return FileResponse(path, filename=f"{job_id}-{folder}-{name}" if folder != "original" else None)

    @app.post("/api/jobs/{job_id}/cues/{cue}", status_code=202, dependencies=api)
    async def regenerate(job_id: str, cue: int, request: Request) -> dict[str, Any]:
        """Regenerate one cue with any of ``text``, ``emotion``, ``intensity``, ``emotion_text``, ``speaker``."""
        job = _job_or_404(store, job_id)
        if job["summary"] is None:
            raise HTTPException(409, f"job {job_id} is {job['status']}; a cue can be regenerated once the job is done")
        try:
            body = await request.json()
        except ValueError:
            raise HTTPException(422, "the body is not JSON; send e.g. {\"text\": \"…\", \"emotion\": \"angry\", \"intensity\": 0.7}") from None
        if not isinstance(body, dict):
            raise HTTPException(422, "the body must be a JSON object of the fields to change")
        try:
            payload = parse_edit(body, job["summary"], cue)
        except InputError as error:
            raise HTTPException(422, str(error)) from None
        task = store.add_cue_task(job_id, payload)
        return {"id": job_id, "cue": cue, "task": task, "status": "queued"}

    @app.post("/api/jobs/{job_id}/cues/{cue}/takes/{take}", status_code=202, dependencies=api)
    def choose(job_id: str, cue: int, take: int) -> dict[str, Any]:
        """Put take ``take`` of the cue in the mix: a new version with that take's audio (nothing is synthesised)."""
        job = _job_or_404(store, job_id)
        if job["summary"] is None:
            raise HTTPException(409, f"job {job_id} is {job['status']}; a take can be chosen once the job is done")
        try:
            payload = parse_take(job["summary"], cue, take)
        except InputError as error:
            raise HTTPException(422, str(error)) from None
        task = store.add_cue_task(job_id, payload, kind="take")
        return {"id": job_id, "cue": cue, "take": take, "task": task, "status": "queued"}

    @app.get("/api/voices", dependencies=api)
    def voices() -> list[dict[str, Any]]:
        """The voices of finished jobs (uploaded, or cloned from their videos), to try a line in before dubbing."""
        return [voice for job in store.jobs() for voice in _job_voices(job, store)]

    # -- one line and the text-to-emotion reading -----------------------------------------------------
    @app.post("/api/say", dependencies=api)
    async def say(request: Request) -> dict[str, Any]:
        """Multipart: ``text``, ``voice`` (a file) or ``voice_id`` (one of ``GET /api/voices``), ``consent``;
        optional ``emotion`` (NAME[:INTENSITY]), ``emotion_text``, ``ratio``."""
        form = await request.form(max_files=2, max_fields=16)
        folder, spec = await asyncio.to_thread(_say_request, store, form, max_bytes)
        try:
            report = await asyncio.get_running_loop().run_in_executor(line_worker(), say_line, str(folder), spec)
        except InputError as error:
            files.remove_tree(folder)
            raise HTTPException(422, str(error)) from None
        except EmodubError as error:  # the engine could not make it: one line, and its voice file is not kept
            files.remove_tree(folder)
            raise HTTPException(500, f"the line could not be made: {error}") from None
        return {"id": folder.name, "audio": f"/api/say/{folder.name}/line.wav", "report": report}

    @app.post("/api/detect", dependencies=api)
    async def detect(request: Request) -> dict[str, Any]:
        """Multipart ``file`` (audio or video): whether it carries emodub's watermark, its confidence, its emodub tags."""
        form = await request.form(max_files=1, max_fields=1)
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise HTTPException(422, "file is missing: send the audio or video to check in a 'file' field")
        folder = Path(tempfile.mkdtemp(prefix=".detect-", dir=data_dir))
        try:
            temp = await asyncio.to_thread(files.copy_limited, upload.file, folder, max_bytes=max_bytes,
                                           what=files.field_label("file", upload.filename))
            found = await asyncio.get_running_loop().run_in_executor(line_worker(), detect_file, str(temp))
        except files.UploadRefused as refused:
            raise HTTPException(refused.status, refused.message) from None
        except InputError as error:
            raise HTTPException(422, str(error).replace(repr(str(temp)), repr(upload.filename or "file"))) from None
        finally:
            files.remove_tree(folder)
        return {**found, "file": upload.filename}

    @app.get("/api/say/{line_id}/{name}", dependencies=api)
    def say_file(line_id: str, name: str) -> FileResponse:
        if not files.SAFE_NAME.match(line_id) or name not in ("line.wav", "line.json"):
            raise HTTPException(404, "no such line")
        path = data_dir / "say" / line_id / name
        if not path.is_file():
            raise HTTPException(404, "no such line")
        return FileResponse(path)

    @app.get("/api/emotion", dependencies=api)
    def emotion(text: str) -> dict[str, Any]:
        """What T2E reads in a description (EN or ZH): the 8 weights, the voice qualities, a description back."""
        if not text.strip():
            raise HTTPException(422, "text '' is empty; describe an emotion, e.g. 'angrily, voice shaking' or '悲伤地低语'")
        parsed = text_to_emotion(text)
        return {"text": text, "vector": parsed.vector.to_dict(), "names_emotion": parsed.names_emotion,
                "qualities": {k: v for k, v in vars(parsed.qualities).items() if v}, "warnings": list(parsed.warnings),
                "description": {"en": describe_en(parsed.vector), "zh": describe_zh(parsed.vector)}}

    return app


def _job_or_404(store: JobStore, job_id: str) -> dict[str, Any]:
    job = store.job(job_id) if files.SAFE_NAME.match(job_id) else None
    if job is None:
        raise HTTPException(404, f"no job {job_id!r}")
    return job


def _with_outputs(job: dict[str, Any], store: JobStore, *, report: bool) -> dict[str, Any]:
    """The job with URL paths of every version's outputs; the latest version's report when asked."""
    base = f"/api/jobs/{job['id']}/files"
    ext = job["inputs"].get("output_ext", "mp4")
    versions = [{"version": v, "outputs": {key: f"{base}/v{v}/{name.format(ext=ext)}" for key, name in OUTPUTS.items()},
                 "cue_audio": f"{base}/v{v}/cue-{{index:03d}}.wav"} for v in range(1, job["version"] + 1)]
    latest = versions[-1] if versions else {"outputs": {}, "cue_audio": None}
    job = {**job, "outputs": dict(latest["outputs"]), "cue_audio": latest["cue_audio"], "versions": versions,
           "original": {"track": f"{base}/original/track.wav", "cue_audio": f"{base}/original/cue-{{index:03d}}.wav"} if versions else None}
    job["name"] = (job["inputs"].get("names") or {}).get("video") or job["inputs"]["video"]
    if report and versions:
        path = store.job_folder(job["id"]) / f"v{job['version']}" / "dubbed.json"
        job["report"] = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
        if job["report"] is not None:
            _add_takes_and_advice(job, base)
    return job


def _add_takes_and_advice(job: dict[str, Any], base: str) -> None:
    """Each cue of the report with its takes (audio URL, chosen) and its status in an editor's words (:mod:`emodub.service.advice`)."""
    cues, summary = job["report"]["cues"], job["summary"] or {}
    listed = summary.get("takes", {})
    for number, cue in enumerate(cues):
        clip = f"cue-{cue['index']:03d}.wav"
        has_audio = cue["status"] not in ("not-dubbed", "kept-original")
        speakers = [name for name in cue.get("speakers", []) if name]
        takes = listed.get(str(cue["index"])) or [{"take": 1, "text": cue["text"], "start_s": cue["start_s"], "end_s": cue["end_s"],
                                                    "emotion": _applied(cue), "emotion_text": None, "directed": False,
                                                    "speaker": speakers[0] if speakers else None, "status": cue["status"],
                                                    "chosen": True, "version": 1}]
        cue["takes"] = [{**take, "audio": f"{base}/v{take['version']}/{clip}" if take["status"] not in ("not-dubbed", "kept-original")
                         and (take["version"] > 1 or has_audio or len(takes) > 1) else None} for take in takes]
        cue["applied"] = _applied(cue)
        previous_end = cues[number - 1]["end_s"] if number else 0.0
        next_start = cues[number + 1]["start_s"] if number + 1 < len(cues) else summary.get("duration_s", cue["end_s"])
        cue["advice"] = advise(cue, previous_end_s=previous_end, next_start_s=next_start, fps=summary.get("fps"))


def _applied(cue: dict[str, Any]) -> dict[str, Any] | None:
    """The emotion the cue's line was spoken with: its strongest emotion and that emotion's intensity."""
    vector = cue.get("emotion_vector") or {}
    if not vector or max(vector.values()) <= 0:
        return None
    name = max(vector, key=vector.get)
    return {"name": name, "intensity": round(vector[name], 3)}


def _job_voices(job: dict[str, Any], store: JobStore) -> list[dict[str, Any]]:
    """The voice files a job used, each with the id ``POST /api/say`` takes (``JOB:NAME``); only for jobs with a finished version."""
    if not job["version"]:
        return []
    path = store.job_folder(job["id"]) / f"v{job['version']}" / "dubbed.json"
    report = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    video = (job["inputs"].get("names") or {}).get("video") or job["inputs"]["video"]
    found = []
    for name, file in (report.get("voices") or {}).items():
        label = "everyone" if name == "*" else name.removeprefix("cast:")
        found.append({"id": f"{job['id']}:{name}", "job": job["id"], "name": label,
                      "label": f"{label} — {video}" + (" (cloned from the video)" if name.startswith("cast:") else ""),
                      "path": Path(file).name})
    return found


def _voice_of_job(store: JobStore, voice_id: str) -> Path:
    """The file behind a ``GET /api/voices`` id, only inside that job's folder; 422 names what is wrong."""
    job_id, _, name = voice_id.partition(":")
    job = store.job(job_id) if files.SAFE_NAME.match(job_id) else None
    voice = next((v for v in _job_voices(job, store) if v["id"] == voice_id), None) if job else None
    if voice is None:
        raise HTTPException(422, f"voice_id {voice_id!r} is not a voice of a finished job; choose one of GET /api/voices")
    report = json.loads((store.job_folder(job_id) / f"v{job['version']}" / "dubbed.json").read_text(encoding="utf-8"))
    path = _settled(Path(report["voices"][name]))
    if not path.is_file() or not path.is_relative_to(store.job_folder(job_id).resolve()):
        raise HTTPException(422, f"the file of voice {voice['label']!r} is gone; upload the voice instead")
    return path


def _settled(path: Path) -> Path:
    """``path`` as it is once its version is published: a file written under ``vN.partial/`` lives in ``vN/``."""
    return Path(*(part.removesuffix(".partial") if part.startswith("v") and part.endswith(".partial") else part
                  for part in path.parts)).resolve()


def _options(form) -> dict[str, Any]:
    raw = form.get("options") or "{}"
    try:
        options = json.loads(raw if isinstance(raw, str) else raw.file.read())
    except (ValueError, UnicodeDecodeError):
        raise HTTPException(422, "options is not JSON; e.g. {\"consent\": \"…\", \"sync\": \"fit\"}") from None
    if not isinstance(options, dict):
        raise HTTPException(422, "options must be a JSON object")
    if form.get("consent") and "consent" not in options:
        options["consent"] = str(form.get("consent"))
    try:
        settings = DubSettings.model_validate(options)
    except ValidationError as error:
        raise HTTPException(422, errors_line(error).replace("job file", "options")) from None
    _require_consent(settings.consent)
    return settings.model_dump(mode="json", exclude_defaults=True)


def _require_consent(consent: object) -> None:
    """The one consent rule (:data:`emodub.consent.CONSENT_REQUIRED`), as a 422."""
    try:
        require_consent(consent if isinstance(consent, str) else None)
    except InputError as error:
        raise HTTPException(422, str(error)) from None


def _new_job(store: JobStore, form, max_bytes: int) -> dict[str, Any]:
    """Check every upload by its content, then create the job; on any refusal nothing is kept."""
    video_upload = form.get("video")
    if video_upload is None or isinstance(video_upload, str):
        raise HTTPException(422, "video is missing: send the video file in a 'video' field")
    unknown = [key for key in form if key not in ("video", "script", "voice", "options", "consent") and not key.startswith("voice:")]
    if unknown:
        raise HTTPException(422, f"unknown field {unknown[0]!r}; allowed: video, script, voice, voice:NAME, options, consent")
    options = _options(form)
    job_id = uuid.uuid4().hex[:12]
    staging = Path(tempfile.mkdtemp(prefix=f".{job_id}-", dir=store.data_dir / "jobs"))
    with _removed_unless_accepted(staging):
        what = files.field_label("video", video_upload.filename)
        video, info = files.accept_video(files.copy_limited(video_upload.file, staging, max_bytes=max_bytes, what=what), staging, what)
        inputs: dict[str, Any] = {"video": video.name, "output_ext": "mp4" if video.suffix == ".mp4" else "mkv", "voices": {},
                                  "names": {"video": video_upload.filename}}
        script_upload = form.get("script")
        if script_upload is not None and not isinstance(script_upload, str):
            what = files.field_label("script", script_upload.filename)
            temp = files.copy_limited(script_upload.file, staging, max_bytes=max_bytes, what=what)
            inputs["script"] = files.accept_script(temp, staging, info, what).name
        for key, upload in form.multi_items():
            if not key.startswith("voice") or isinstance(upload, str):
                continue
            name = "*" if key == "voice" else key.removeprefix("voice:").strip()
            if not name or name in inputs["voices"]:
                raise files.UploadRefused(422, f"voice field {key!r} needs a speaker name once (voice:NAME), or 'voice' for everyone")
            what = files.field_label(key, upload.filename)
            temp = files.copy_limited(upload.file, staging, max_bytes=max_bytes, what=what)
            inputs["voices"][name] = files.accept_voice(temp, staging, what).name
    shutil.move(staging, store.job_folder(job_id))
    store.create_job(job_id, inputs, options)
    return {"id": job_id, "status": "queued"}


SAY_FIELDS = ("text", "voice", "voice_id", "consent", "emotion", "emotion_text", "ratio")


def _say_request(store: JobStore, form, max_bytes: int) -> tuple[Path, dict[str, Any]]:
    """Check ``POST /api/say``'s fields and keep its voice; the line itself is made in a worker process."""
    text, voice, voice_id, consent = form.get("text"), form.get("voice"), form.get("voice_id"), form.get("consent")
    if not isinstance(text, str) or not text.strip():
        raise HTTPException(422, "text is missing or empty: send the line to say in a 'text' field")
    try:
        check_line_length(text)
    except InputError as error:
        raise HTTPException(422, str(error)) from None
    uploaded = voice is not None and not isinstance(voice, str)
    if not uploaded and not (isinstance(voice_id, str) and voice_id.strip()):
        raise HTTPException(422, "voice is missing: send a voice reference (3–10 s of speech) in a 'voice' field, "
                                 "or the voice_id of a finished job's voice (GET /api/voices)")
    if uploaded and voice_id:
        raise HTTPException(422, "give one voice: either a 'voice' file or a 'voice_id', not both")
    _require_consent(consent)
    unknown = [key for key in form if key not in SAY_FIELDS]
    if unknown:
        raise HTTPException(422, f"unknown field {unknown[0]!r}; allowed: {', '.join(SAY_FIELDS)}")
    known = None if uploaded else _voice_of_job(store, str(voice_id).strip())
    folder = store.data_dir / "say" / uuid.uuid4().hex[:12]
    folder.mkdir(parents=True)
    with _removed_unless_accepted(folder):
        if known is not None:
            reference = folder / "voice-1.wav"
            shutil.copyfile(known, reference)
        else:
            what = files.field_label("voice", voice.filename)
            reference = files.accept_voice(files.copy_limited(voice.file, folder, max_bytes=max_bytes, what=what), folder, what)
        sources: list[dict[str, Any]] = []
        if form.get("emotion"):
            name, _, level = str(form.get("emotion")).partition(":")
            sources.append({"method": "preset", "preset": name, **({"intensity": _number(level, "emotion intensity")} if level else {})})
        if form.get("emotion_text"):
            sources.append({"method": "text", "description": str(form.get("emotion_text"))})
        spec: dict[str, Any] = {"text": text, "speaker_reference": reference.name, "consent": consent}
        if sources:
            spec["emotion_control"] = sources[0] if len(sources) == 1 else {"method": "mix", "sources": sources}
        if form.get("ratio"):
            spec["duration_control"] = {"mode": "controlled", "ratio": _number(str(form.get("ratio")), "ratio")}
    return folder, spec


@contextmanager
def _removed_unless_accepted(folder: Path) -> Iterator[None]:
    """Uploads land in ``folder``; on any failure it goes, and a refusal becomes its HTTP status and one line."""
    try:
        yield
    except files.UploadRefused as refused:
        files.remove_tree(folder)
        raise HTTPException(refused.status, refused.message) from None
    except BaseException:
        files.remove_tree(folder)
        raise


def _number(text: str, what: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise HTTPException(422, f"{what} {text!r} is not a number") from None
