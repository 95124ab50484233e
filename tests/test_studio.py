"""emodub serve: every API endpoint and refusal (FastAPI's test client), a job run by the real worker, a crash of the
server mid-job, and the page driven end to end in Debian's chromium (Playwright, no ``playwright install``).

Servers bind to 127.0.0.1 only.  One voice reference is used throughout, so its profile is searched once.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from emodub import media
from emodub.audio import Audio
from emodub.service import create_app
from emodub.service.store import JobStore
from emodub.service.worker import run_task
from emodub.synthetic import flite_scene
from test_cli import emodub

STUDIO_URL = "http://127.0.0.1"  # the studio answers only to its own address (emodub.service.guard)
TOKEN = "a-test-token-of-24-chars"
CONSENT = "test voices made with flite (public domain)"
OPTIONS = json.dumps({"consent": CONSENT})
ORIGINAL = ("I finally found the letter you wrote me.", "Nobody else was there when I came home.")
NEW = ("Look, the letter you sent me is right here.", "There was no one at home when I got back.")
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"]


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> tuple[Path, Path]:
    """Two shots (happy, sad faces), each with a line of flite speech, and a script of two new lines over them."""
    return flite_scene(tmp_path_factory.mktemp("studio-clip"), [(ORIGINAL[0], NEW[0], "happy"), (ORIGINAL[1], NEW[1], "sad")])


def _files(clip, reference_path, **extra):
    video, script = clip
    files = {"video": ("scene.mp4", video.read_bytes(), "video/mp4"), "script": ("scene.srt", script.read_bytes(), "text/plain"),
             "voice": ("voice.wav", reference_path.read_bytes(), "audio/wav")}
    files.update(extra)
    return {k: v for k, v in files.items() if v is not None}


@pytest.fixture
def client(tmp_path):
    """The app without workers: jobs are queued, never run (for the refusals)."""
    with TestClient(create_app(tmp_path / "data", run_workers=False, max_upload_mb=1), base_url=STUDIO_URL) as test_client:
        yield test_client


# -- uploads and their refusals -----------------------------------------------------------------------------
def test_a_job_is_created_queued_with_fixed_file_names(client, clip, reference_path, tmp_path):
    response = client.post("/api/jobs", files=_files(clip, reference_path, video=("../../evil.mp4", clip[0].read_bytes(), "video/mp4")),
                           data={"options": OPTIONS})
    assert response.status_code == 201, response.text
    job = response.json()
    assert job["status"] == "queued"
    folder = tmp_path / "data" / "jobs" / job["id"]
    assert sorted(p.name for p in folder.iterdir()) == ["script.sub", "video.mp4", "voice-1.wav"]  # the client's names are not paths
    assert not (tmp_path / "evil.mp4").exists()
    shown = client.get(f"/api/jobs/{job['id']}").json()
    assert shown["status"] == "queued" and shown["progress"] == 0 and shown["outputs"] == {} and shown["options"]["consent"] == CONSENT
    assert [j["id"] for j in client.get("/api/jobs").json()] == [job["id"]]


@pytest.mark.parametrize(("files", "data", "status", "match"), [
    ({"video": ("a.mp4", b"this is not a video at all", "video/mp4")}, {"options": OPTIONS}, 415,
     r"The video \('a.mp4'\) is not a file that can be played; allowed: video such as MP4"),
    ({"video": None}, {"options": OPTIONS}, 422, "video is missing"),
    ({}, {}, 422, "consent is required"),
    ({}, {"options": "{not json"}, 422, "options is not JSON"),
    ({}, {"options": json.dumps({"consent": "x", "sync": "loose"})}, 422, "sync"),
    ({}, {"options": json.dumps({"consent": "x", "colour": "red"})}, 422, "unknown key 'colour' in the options"),
    ({}, {"options": json.dumps({"consent": "x", "engine": {"name": "indextts2"}})}, 422, "dubbing runs the builtin engine"),
    ({"script": ("s.srt", b"1\n00:00:01,000 --> 00:09:00,000\nFar too long.\n", "text/plain")}, {"options": OPTIONS}, 422,
     "after the video ends"),
    ({"voice": ("v.wav", b"RIFF....WAVEfmt garbage", "audio/wav")}, {"options": OPTIONS}, 415,
     r"The voice for everyone \('v.wav'\) is not a file that can be played; allowed: audio such as WAV"),
    ({}, {"options": OPTIONS, "speed": "2"}, 422, "unknown field 'speed'"),
])
def test_bad_uploads_are_refused_with_one_line_and_leave_nothing(client, clip, reference_path, tmp_path, files, data, status, match):
    response = client.post("/api/jobs", files=_files(clip, reference_path, **files), data=data)
    assert response.status_code == status
    assert list(response.json()) == ["error"] and "\n" not in response.json()["error"]
    assert __import__("re").search(match, response.json()["error"]), response.json()
    assert list((tmp_path / "data" / "jobs").iterdir()) == [] and client.get("/api/jobs").json() == []


def test_an_audio_file_is_not_a_video(client, clip, reference_path):
    response = client.post("/api/jobs", files={"video": ("x.mp4", reference_path.read_bytes(), "video/mp4")}, data={"options": OPTIONS})
    assert response.status_code == 422 and response.json()["error"].startswith("The video ('x.mp4') has no picture: upload a video")


def test_an_upload_over_the_limit_is_413(client, clip, reference_path):
    big = ("big.mp4", b"\0" * (3 << 20), "video/mp4")
    response = client.post("/api/jobs", files={"video": big}, data={"options": OPTIONS})
    assert response.status_code == 413 and "larger than the limit of 1 MB" in response.json()["error"]


# -- downloads stay inside the job's folder ------------------------------------------------------------------
@pytest.fixture
def queued(client, clip, reference_path, tmp_path):
    job_id = client.post("/api/jobs", files=_files(clip, reference_path), data={"options": OPTIONS}).json()["id"]
    return job_id, tmp_path / "data" / "jobs" / job_id


@pytest.mark.parametrize("path", ["v1/..%2F..%2Fjobs.sqlite3", "..%2F..%2Fjobs.sqlite3/x", "original/%2Fetc%2Fpasswd", "v1/.hidden",
                                  "original/secret.txt", "v1/link.wav", "etc/passwd"])
def test_downloads_resolve_only_inside_the_job_folder(client, queued, tmp_path, path):
    job_id, folder = queued
    (folder / "v1").mkdir()
    (tmp_path / "secret.txt").write_text("not yours")
    (folder / "v1" / "link.wav").symlink_to(tmp_path / "secret.txt")
    (folder / "original").symlink_to(tmp_path)
    response = client.get(f"/api/jobs/{job_id}/files/{path}")
    assert response.status_code == 404 and "not yours" not in response.text


def test_unknown_jobs_are_404_and_a_queued_job_cannot_be_edited(client, queued):
    job_id, _ = queued
    assert client.get("/api/jobs/nope").status_code == 404
    assert client.get("/api/jobs/..%2F..").status_code == 404
    response = client.post(f"/api/jobs/{job_id}/cues/1", json={"text": "Hello."})
    assert response.status_code == 409 and "once the job is done" in response.json()["error"]


def test_delete_removes_the_job_and_its_files(client, queued):
    job_id, folder = queued
    assert client.delete(f"/api/jobs/{job_id}").status_code == 204
    assert not folder.exists() and client.get(f"/api/jobs/{job_id}").status_code == 404


# -- the token --------------------------------------------------------------------------------------------
def test_with_a_token_every_api_call_needs_it(tmp_path):
    with TestClient(create_app(tmp_path / "data", run_workers=False, token=TOKEN), base_url=STUDIO_URL) as client:
        assert client.get("/api/jobs").status_code == 401
        assert client.get("/api/jobs", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert client.get("/api/jobs", headers={"Authorization": "Bearer " + TOKEN}).json() == []
        assert client.get(f"/api/jobs?token={TOKEN}").status_code == 200  # media elements and SSE cannot send headers
        assert client.get("/api/emotion?text=angry").status_code == 401
        assert client.post("/api/say").status_code == 401
        assert client.get("/").status_code == 200  # the page itself asks for the token


@pytest.mark.parametrize(("args", "match"), [(["--host", "0.0.0.0"], "not a loopback address; binding to it without --token is refused"),
                                             (["--host", "example.org"], "is not an IP address"),
                                             (["--port", "0"], "--port")])
def test_serve_refuses_a_public_address_without_a_token(tmp_path, args, match):
    result = emodub("serve", "--data-dir", tmp_path / "data", *args)
    assert result.returncode == 2 and match in result.stderr


# -- the page, its docs, the emotion reading -----------------------------------------------------------------
def test_page_and_docs_are_served_without_a_cdn(client):
    page = client.get("/")
    assert page.status_code == 200 and "upload-form" in page.text
    docs = client.get("/docs").text
    assert "/static/vendor/node_modules/swagger-ui-dist/swagger-ui-bundle.js" in docs and "cdn" not in docs.lower()
    for asset in ("vendor/node_modules/swagger-ui-dist/swagger-ui-bundle.js", "vendor/node_modules/wavesurfer.js/dist/wavesurfer.esm.js",
                  "vendor/node_modules/wavesurfer.js/dist/plugins/regions.esm.js", "app.js", "style.css"):
        assert client.get(f"/static/{asset}").status_code == 200, asset
    schema = client.get("/openapi.json").json()
    assert {"/api/jobs", "/api/jobs/{job_id}", "/api/jobs/{job_id}/events", "/api/jobs/{job_id}/cues/{cue}", "/api/say",
            "/api/emotion", "/api/detect"} <= set(schema["paths"])


@pytest.mark.parametrize(("text", "dominant", "quality"), [("angrily, voice shaking", "angry", "tremble"), ("悲伤地低语", "sad", "whisper")])
def test_emotion_endpoint_reads_a_description(client, text, dominant, quality):
    data = client.get("/api/emotion", params={"text": text}).json()
    assert max(data["vector"], key=data["vector"].get) == dominant and data["qualities"][quality] > 0
    assert data["description"]["en"] and data["description"]["zh"]


def test_emotion_endpoint_refuses_empty_text(client):
    assert client.get("/api/emotion", params={"text": " "}).status_code == 422
    assert client.get("/api/emotion").status_code == 422


@pytest.mark.parametrize(("data", "voice", "match"), [({"consent": CONSENT}, True, "text is missing"),
                                                      ({"text": "Hi.", "consent": CONSENT}, False, "voice is missing"),
                                                      ({"text": "Hi."}, True, "consent is required"),
                                                      ({"text": "Hi.", "consent": CONSENT, "ratio": "2"}, True, "ratio 2.0 is outside"),
                                                      ({"text": "Hi.", "consent": CONSENT, "emotion": "smug"}, True, "unknown emotion 'smug'"),
                                                      ({"text": "Hi.", "consent": CONSENT, "voice_id": "0123456789ab:*"}, True,
                                                       "give one voice"),
                                                      ({"text": "Hi.", "consent": CONSENT, "voice_id": "nope"}, False,
                                                       "voice_id 'nope' is not a voice of a finished job")])
def test_say_refusals(client, reference_path, data, voice, match):
    files = {"voice": ("v.wav", reference_path.read_bytes(), "audio/wav")} if voice else None
    response = client.post("/api/say", data=data, files=files)
    assert response.status_code == 422 and match in response.json()["error"]


def test_say_makes_one_line_in_the_cloned_voice(client, reference_path):
    response = client.post("/api/say", data={"text": "The weather is lovely today.", "consent": CONSENT, "emotion": "happy:0.6"},
                           files={"voice": ("v.wav", reference_path.read_bytes(), "audio/wav")})
    assert response.status_code == 200, response.text
    line = response.json()
    asked = line["report"]["emotion_sources"][0]
    assert asked["preset"] == "happy" and asked["intensity"] == pytest.approx(0.6) and line["report"]["consent"] == CONSENT
    rendered = line["report"]["emotion_vector"]  # the kept round's: verification may have eased it (its rounds say why)
    assert max(rendered, key=rendered.get) == "happy" and 0 < rendered["happy"] <= 0.6
    assert isinstance(line["report"]["naturalness"], float)
    audio = client.get(line["audio"])
    assert audio.status_code == 200 and audio.content[:4] == b"RIFF"
    assert line["report"]["watermark"]["applied"] is True and line["report"]["watermark"]["confidence"] >= 0.5
    found = client.post("/api/detect", files={"file": ("line.wav", audio.content, "audio/wav")})
    assert found.status_code == 200 and found.json()["found"] is True and found.json()["file"] == "line.wav"
    assert "SYNTHETIC" in found.json()["emodub_tags"]["comment"]
    person = client.post("/api/detect", files={"file": ("person.wav", reference_path.read_bytes(), "audio/wav")}).json()
    assert person["found"] is False and person["emodub_tags"] == {}


@pytest.mark.parametrize(("content", "match"), [(b"not audio at all", "cannot be read"), (b"", "The file ('x.wav') is empty (0 bytes)")])
def test_detect_refuses_what_it_cannot_read(client, content, match):
    response = client.post("/api/detect", files={"file": ("x.wav", content, "audio/wav")})
    assert response.status_code == 422 and match in response.json()["error"], response.text
    assert "'x.wav'" in response.json()["error"]  # the user's name, not the server's temp path


# -- a job run by the real worker: outputs, events, one cue regenerated ---------------------------------------
@pytest.fixture(scope="module")
def finished(tmp_path_factory, clip, reference_path):
    """A job dubbed by :func:`run_task` (the worker's own function, in this process), then cue 1 regenerated."""
    data = tmp_path_factory.mktemp("studio-data")
    with TestClient(create_app(data, run_workers=False), base_url=STUDIO_URL) as client:
        job_id = client.post("/api/jobs", files=_files(clip, reference_path), data={"options": OPTIONS}).json()["id"]
        store = JobStore(data)
        run_task(str(data), store.claim_next().id)
        first = client.get(f"/api/jobs/{job_id}").json()
        edit = client.post(f"/api/jobs/{job_id}/cues/1", json={"text": "Here it is, the letter you sent!", "emotion": "angry",
                                                               "intensity": 0.7})
        assert edit.status_code == 202, edit.text
        run_task(str(data), store.claim_next().id)
        second = client.get(f"/api/jobs/{job_id}").json()
        yield client, job_id, first, second


@pytest.fixture(scope="module")
def edited(finished):
    """Then cue 2 moved 0.2 s later on the timeline (version 3), and cue 1's first take put back in the mix (version 4)."""
    client, job_id, first, second = finished
    store = client.app.state.store
    cue2 = second["report"]["cues"][1]
    moved = client.post(f"/api/jobs/{job_id}/cues/2", json={"start_s": cue2["start_s"] + 0.2})
    assert moved.status_code == 202, moved.text
    run_task(str(store.data_dir), store.claim_next().id)
    third = client.get(f"/api/jobs/{job_id}").json()
    chosen = client.post(f"/api/jobs/{job_id}/cues/1/takes/1")
    assert chosen.status_code == 202, chosen.text
    run_task(str(store.data_dir), store.claim_next().id)
    fourth = client.get(f"/api/jobs/{job_id}").json()
    return client, job_id, first, second, third, fourth


def test_the_worker_dubs_the_job_and_every_output_downloads(finished):
    client, job_id, first, _ = finished
    assert first["status"] == "done" and first["version"] == 1 and first["progress"] == 1
    assert [c["status"] for c in first["report"]["cues"]] == ["dubbed", "dubbed"]
    assert first["report"]["consent"] == CONSENT and "synthetic" in first["report"]["provenance"]["title"]
    for key, url in first["versions"][0]["outputs"].items():
        response = client.get(url)
        assert response.status_code == 200, (key, url)
    assert client.get(first["outputs"]["plot"]).content[:4] == b"\x89PNG"
    ranged = client.get(first["outputs"]["video"], headers={"Range": "bytes=0-99"})
    assert ranged.status_code == 206 and len(ranged.content) == 100  # the page's <video> seeks
    for index in (1, 2):
        assert client.get(first["original"]["cue_audio"].format(index=index)).status_code == 200
        assert client.get(first["cue_audio"].format(index=index)).status_code == 200


def test_events_tell_the_whole_story_and_end(finished):
    client, job_id, _, _ = finished
    with client.stream("GET", f"/api/jobs/{job_id}/events") as stream:
        body = "".join(stream.iter_text())
    events = [json.loads(line.removeprefix("data: ")) for line in body.splitlines() if line.startswith("data: ")]
    kinds = [e.get("kind") for e in events]
    assert kinds[0] == "status" and "progress" in kinds and "end" in body.split("event: ")[-1]
    progress = [e["progress"] for e in events if e.get("kind") == "progress"]
    assert progress == sorted(progress[: progress.index(max(progress)) + 1]) + progress[progress.index(max(progress)) + 1:]
    assert [e["version"] for e in events if e.get("kind") == "status" and e.get("status") == "done"] == [1, 2]
    later = client.get(f"/api/jobs/{job_id}/events", params={"after": events[-2]["id"]}).text
    assert later.count("data:") <= 2  # resumes after the given event


def test_regenerating_cue_1_changes_only_cue_1_and_keeps_version_1(finished):
    client, job_id, first, second = finished
    assert second["version"] == 2 and second["edits"][0]["status"] == "done"
    cue1, cue2 = second["report"]["cues"]
    assert cue1["text"] == "Here it is, the letter you sent!" and cue1["emotion_vector"]["angry"] == pytest.approx(0.7)
    assert cue2 == first["report"]["cues"][1]
    old = _wav(client.get(first["versions"][0]["outputs"]["audio"]).content)
    new = _wav(client.get(second["outputs"]["audio"]).content)
    split = int((cue1["end_s"] + cue2["start_s"]) / 2 * old.sample_rate_hz)
    assert np.array_equal(old.samples[split:], new.samples[split:]) and not np.array_equal(old.samples[:split], new.samples[:split])


@pytest.mark.parametrize(("cue", "body", "match"), [(3, {"text": "Hi."}, "cue 3 is not in this job; it has cues 1–2"),
                                                    (1, {"speaker": "BOB"}, "speaker 'BOB' has no voice in this job"),
                                                    (1, {"emotion": "smug"}, "unknown emotion 'smug'"),
                                                    (1, {"intensity": 1.5}, "intensity 1.5"),
                                                    (1, {"text": "  "}, "text '  ' is empty"),
                                                    (1, {}, "nothing to change in cue 1"),
                                                    (1, {"volume": 3}, "unknown field 'volume'"),
                                                    (1, ["text"], "must be a JSON object")])
def test_bad_cue_edits_are_refused_and_queue_nothing(finished, cue, body, match):
    client, job_id, _, second = finished
    response = client.post(f"/api/jobs/{job_id}/cues/{cue}", json=body)
    assert response.status_code == 422 and match in response.json()["error"]
    assert len(client.get(f"/api/jobs/{job_id}").json()["edits"]) == len(second["edits"])


def test_a_moved_cue_is_redone_at_its_new_time_and_the_others_stay(edited):
    client, job_id, _, second, third, _ = edited
    before, after = second["report"]["cues"][1], third["report"]["cues"][1]
    fps = third["summary"]["fps"]
    assert third["version"] == 3 and after["start_s"] == pytest.approx(round((before["start_s"] + 0.2) * fps) / fps, abs=1e-6)
    assert after["end_s"] == before["end_s"] and after["text"] == before["text"]
    assert third["report"]["cues"][0] == second["report"]["cues"][0]
    srt = client.get(third["outputs"]["script"]).text
    assert _srt_time(after["start_s"]) in srt and _srt_time(before["start_s"]) not in srt
    assert [take["start_s"] for take in after["takes"]] == [before["start_s"], after["start_s"]] and after["takes"][1]["chosen"]


def test_choosing_the_first_take_puts_its_audio_back_in_the_mix(edited):
    client, job_id, first, second, _, fourth = edited
    cue1 = fourth["report"]["cues"][0]
    assert fourth["version"] == 4 and cue1["text"] == NEW[0] and cue1["text"] == first["report"]["cues"][0]["text"]
    assert [(take["take"], take["chosen"]) for take in cue1["takes"]] == [(1, True), (2, False)]
    assert cue1["takes"][1]["text"] == "Here it is, the letter you sent!" and cue1["takes"][1]["emotion"]["name"] == "angry"
    takes = [_wav(client.get(take["audio"]).content).samples for take in cue1["takes"]]
    now = _wav(client.get(fourth["cue_audio"].format(index=1)).content).samples
    assert np.array_equal(now, takes[0]) and not np.array_equal(now, takes[1])
    assert np.array_equal(now, _wav(client.get(first["cue_audio"].format(index=1)).content).samples)  # take 1 is version 1's line
    for version in fourth["versions"]:  # nothing is lost: every version still downloads
        assert client.get(version["outputs"]["video"]).status_code == 200


def test_each_cue_says_its_status_in_words_with_badges(edited):
    cues = edited[-1]["report"]["cues"]
    for cue in cues:
        advice = cue["advice"]
        assert advice["summary"]["en"] and advice["summary"]["zh"] and advice["level"] in ("ok", "warn", "bad")
        assert [badge["name"] for badge in advice["badges"]] == ["words", "naturalness", "similarity"]
        assert advice["needs_attention"] == (advice["level"] != "ok" or any(b["ok"] is False for b in advice["badges"]))
        assert cue["applied"] is None or cue["applied"]["name"] in cue["emotion_vector"]


@pytest.mark.parametrize(("cue", "edit", "match"), [(1, {"start_s": -1.0}, "before the video starts"),
                                                    (2, {"end_s": 9999.0}, "after the video ends"),
                                                    (1, {"end_s": "late"}, "end_s 'late'"),
                                                    (2, {"start_s": 0.0}, "inside the previous cue"),
                                                    (1, {"end_s": 0.1, "start_s": 0.0}, "a cue lasts at least 0.3 s")])
def test_bad_moves_are_refused_and_queue_nothing(edited, cue, edit, match):
    client, job_id, *_, fourth = edited
    response = client.post(f"/api/jobs/{job_id}/cues/{cue}", json=edit)
    assert response.status_code == 422 and match in response.json()["error"], response.text
    assert len(client.get(f"/api/jobs/{job_id}").json()["edits"]) == len(fourth["edits"])


@pytest.mark.parametrize(("cue", "take", "match"), [(1, 3, "cue 1 has no take 3; it has takes 1–2"), (3, 1, "cue 3 is not in this job"),
                                                    (1, 0, "cue 1 has no take 0")])
def test_bad_takes_are_refused(edited, cue, take, match):
    client, job_id, *_ = edited
    response = client.post(f"/api/jobs/{job_id}/cues/{cue}/takes/{take}")
    assert response.status_code == 422 and match in response.json()["error"], response.text


def test_a_line_can_be_tried_in_a_voice_of_a_finished_job(edited):
    client, job_id, *_ = edited
    voices = client.get("/api/voices").json()
    assert [voice["id"] for voice in voices] == [f"{job_id}:*"] and "scene.mp4" in voices[0]["label"]
    response = client.post("/api/say", data={"text": "Hello again.", "voice_id": voices[0]["id"], "consent": CONSENT})
    assert response.status_code == 200, response.text
    assert _wav(client.get(response.json()["audio"]).content).duration_s > 0.4
    refused = client.post("/api/say", data={"text": "Hello again.", "voice_id": "0123456789ab:*", "consent": CONSENT})
    assert refused.status_code == 422 and "is not a voice of a finished job" in refused.json()["error"]


def test_a_cue_that_fails_in_the_worker_leaves_the_job_at_its_version(edited, tmp_path):
    """Accepted by the API, refused by the pipeline (only a sound annotation): the job stays done at its version."""
    client, job_id, *_, fourth = edited
    assert client.post(f"/api/jobs/{job_id}/cues/2", json={"text": "[DOOR SLAMS]"}).status_code == 202
    store = JobStore(client.app.state.store.data_dir)
    run_task(str(store.data_dir), store.claim_next().id)
    job = client.get(f"/api/jobs/{job_id}").json()
    assert job["status"] == "done" and job["version"] == 4 and job["report"] == fourth["report"]
    assert job["edits"][-1]["status"] == "failed" and "has nothing to say" in job["edits"][-1]["error"]
    assert not (store.job_folder(job_id) / "v5").exists() and not (store.job_folder(job_id) / "v5.partial").exists()


def _srt_time(seconds: float) -> str:
    millis = round(seconds * 1000)
    return f"{millis // 3_600_000:02d}:{millis // 60_000 % 60:02d}:{millis // 1000 % 60:02d},{millis % 1000:03d}"


def _wav(data: bytes) -> Audio:
    import io

    import soundfile as sf

    samples, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    return Audio(samples.mean(axis=1), rate)


# -- the real server: a crash mid-job, and the page in a real browser --------------------------------------------
def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """``emodub serve`` in its own process on 127.0.0.1."""

    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        self.port = port or _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = (data_dir.parent / f"server-{self.port}.log").open("a")
        self.process = subprocess.Popen([sys.executable, "-m", "emodub", "serve", "--data-dir", str(data_dir), "--port", str(self.port)],
                                        stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/api/jobs", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.2)
        raise RuntimeError(f"emodub serve did not start; see {self.log.name}")

    def workers(self) -> list[int]:
        """The server's worker processes (children of any of its threads that run multiprocessing's spawn_main)."""
        pids = [int(pid) for children in Path(f"/proc/{self.process.pid}/task").glob("*/children") for pid in children.read_text().split()]
        return [pid for pid in pids if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()]

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()


def _wait_for(url: str, done, timeout_s: float = 600) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = httpx.get(url, timeout=10).json()
        if done(job):
            return job
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting on {url}: {job}")


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "State:\tZ" not in status


def test_a_job_survives_a_crash_of_the_server(tmp_path, clip, reference_path):
    data = tmp_path / "data"
    server = Server(data)
    try:
        job_id = httpx.post(f"{server.url}/api/jobs", files=_files(clip, reference_path), data={"options": OPTIONS}, timeout=60).json()["id"]
        _wait_for(f"{server.url}/api/jobs/{job_id}", lambda job: job["status"] == "running" and job["progress"] >= 0.12)
        workers = server.workers()
        assert workers, "the job runs in a worker process"
        server.kill()
        deadline = time.monotonic() + 10
        while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(_alive(pid) for pid in workers), "the worker dies with the server"
        assert JobStore(data).job(job_id)["status"] == "running"  # as the crash left it
        server = Server(data, port=server.port)
        job = _wait_for(f"{server.url}/api/jobs/{job_id}", lambda job: job["status"] in ("done", "failed"))
        assert job["status"] == "done" and job["version"] == 1, job
        stages = [e.get("stage") for e in JobStore(data).events_after(job_id, 0)]
        assert "queued again after a restart" in stages
        assert not (data / "jobs" / job_id / "v1.partial").exists() and (data / "jobs" / job_id / "v1" / "dubbed.mp4").exists()
    finally:
        server.stop()


def _wait_in_page(page, expression: str, timeout_s: float = 60.0) -> None:
    """Poll a JavaScript expression until it is true; `page.evaluate` is not bound by the page's CSP, while
    `wait_for_function`'s polling evaluates strings inside the page, which the studio's CSP (no unsafe-eval) refuses."""
    deadline = time.monotonic() + timeout_s
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"still false after {timeout_s:.0f} s: {expression}"
        time.sleep(0.1)


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed (make setup installs it)")
def test_the_page_as_an_editor_uses_it(tmp_path, clip, reference_path):
    """Try a line, dub, follow the list's progress, read the status, regenerate (a second take), choose the first take back,
    resize a cue on the timeline and find its new time in the next version's SRT, download; no sideways scroll at 1024 px."""
    import pysubs2
    from playwright.sync_api import sync_playwright

    video, script = clip
    server = Server(tmp_path / "data")
    problems: list[str] = []
    longer = "Here it is, the letter you sent me last winter from the old house by the sea, do you still remember writing it?"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
            page.on("pageerror", lambda error: problems.append(str(error)))
            page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
            page.goto(server.url)

            # try a line before any video: it plays
            page.fill("#try-form textarea[name=text]", "The museum opens at nine.")
            page.set_input_files("#try-form input[name=voice]", str(reference_path))
            page.select_option("#try-form select[name=emotion]", "happy")
            page.fill("#try-form input[name=consent]", CONSENT)
            page.click("#try-form button[type=submit]")
            page.wait_for_selector("#try-audio:not([hidden])", timeout=300_000)
            heard = page.evaluate("""async () => { const a = document.querySelector('#try-audio'); a.muted = true;
                await a.play(); await new Promise(r => setTimeout(r, 500)); a.pause(); return [a.currentTime, a.duration]; }""")
            assert heard[0] > 0.1 and heard[1] > 0.8

            # dub; the job list's progress moves with the job, named by the video's file
            page.evaluate("""() => { window.seen = []; setInterval(() => { const p = document.querySelector('#job-list tbody tr progress');
                if (p) window.seen.push(p.value); }, 150); }""")
            page.set_input_files("#upload-form input[name=video]", str(video))
            page.set_input_files("#upload-form input[name=script]", str(script))
            page.set_input_files("#upload-form input[name=voice]", str(reference_path))
            page.fill("#upload-form input[name=consent]", CONSENT)
            page.click("#upload-form button[type=submit]")
            page.wait_for_selector("#job-status[data-status=done]", timeout=600_000)
            page.wait_for_selector("#cue-2")
            job_id = page.inner_text("#job-id")
            assert page.evaluate("document.querySelector('#upload-form input[name=video]').files.length") == 0  # the form is cleared
            row = f"#job-list tr[data-id='{job_id}']"
            _wait_in_page(page, f"document.querySelector(\"{row} .percent\").textContent === '100 %'")
            assert page.inner_text(f"{row} .name") == video.name and page.inner_text("#job-name") == video.name
            seen = page.evaluate("window.seen")
            assert any(0 < value < 1 for value in seen) and seen == sorted(seen), seen

            played = page.evaluate("""async () => { const v = document.querySelector('#dubbed-video'); v.muted = true;
                await v.play(); await new Promise(r => setTimeout(r, 700)); v.pause(); return v.currentTime; }""")
            assert played > 0.2
            assert page.evaluate("document.querySelector('#emotion-plot').naturalWidth") > 0
            assert page.inner_text("#cue-1 .detected b") in ("happy", "高兴", "surprised", "calm", "angry", "sad")
            assert page.locator("#cue-1 .badges .badge").count() == 3 and page.inner_text("#cue-1 .advice")
            provenance = page.inner_text("#provenance")  # consent beside the voice's hash, the watermark, the licences
            assert CONSENT in provenance and "PerTh" in provenance and "Apache-2.0" in provenance and "…" in provenance

            page.set_viewport_size({"width": 1024, "height": 900})
            assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

            # a much longer line with another emotion: a second take, the controls keep what was applied, the fix is one click
            page.fill("#cue-1 textarea.text", longer)
            page.select_option("#cue-1 select.emotion", "angry")
            page.eval_on_selector("#cue-1 input.intensity", "el => { el.value = '0.6'; el.dispatchEvent(new Event('input')); }")
            page.click("#cue-1 button.regenerate")
            page.wait_for_selector("#job-status[data-version='2'][data-status=done]", timeout=600_000)
            page.wait_for_selector("#cue-1 .take[data-take='2'].chosen")
            assert page.input_value("#cue-1 textarea.text") == longer and page.input_value("#cue-1 select.emotion") == "angry"
            assert page.inner_text("#cue-1 .range output") == "0.60"
            _wait_in_page(page, "document.querySelector('#dubbed-video').readyState >= 2")  # a frame, not black
            assert "longer than the shot" in page.inner_text("#cue-1 .advice")
            assert page.get_attribute("#cue-1", "class").count("attention") == 1
            page.click("#cue-1 .fixes button.edit-text")
            assert page.evaluate("document.activeElement === document.querySelector('#cue-1 textarea.text')")

            # the first take back in the mix
            page.click("#cue-1 .take[data-take='1'] button.use-take")
            page.wait_for_selector("#job-status[data-version='3'][data-status=done]", timeout=600_000)
            page.wait_for_selector("#cue-1 .take[data-take='1'].chosen")
            assert page.input_value("#cue-1 textarea.text") == NEW[0]

            # cue 2's start dragged 0.3 s later on the timeline
            handle = page.locator("#waveform [part~='cue-2'] [part~='region-handle-left']")
            handle.wait_for()
            handle.scroll_into_view_if_needed()
            box = handle.bounding_box()
            px_per_s = page.evaluate("document.querySelector('#waveform').clientWidth / document.querySelector('#dubbed-video').duration")
            page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
            page.mouse.down()
            page.mouse.move(box["x"] + box["width"] / 2 + 0.3 * px_per_s, box["y"] + box["height"] / 2, steps=8)
            page.mouse.up()
            page.wait_for_selector("#job-status[data-version='4'][data-status=done]", timeout=600_000)
            page.screenshot(path=str(tmp_path / "studio.png"), full_page=True)

            with page.expect_download() as download:
                page.click("#downloads li[data-version='4'] a.video")
            saved = tmp_path / "downloaded.mp4"
            download.value.save_as(saved)
            browser.close()
        info = media.probe(saved)
        assert info.has_video and info.has_audio
        job = httpx.get(f"{server.url}/api/jobs/{job_id}").json()
        before, after = (pysubs2.SSAFile.from_string(httpx.get(server.url + job["versions"][n]["outputs"]["script"]).text) for n in (2, 3))
        assert after[0].start == before[0].start and after[0].text == before[0].text
        assert abs(after[1].start - before[1].start - 300) <= 60, (before[1], after[1])  # 0.3 s, to a frame and a pixel
        was = httpx.get(server.url + job["versions"][2]["outputs"]["report"]).json()["cues"][1]
        assert job["report"]["cues"][1]["end_s"] == was["end_s"]  # only the dragged edge moved
        assert job["report"]["cues"][0]["emotion_source"] != "job: cue" and job["report"]["cues"][0]["text"] == NEW[0]
        assert problems == []
        print(f"screenshot: {tmp_path / 'studio.png'}")
        if os.environ.get("EMODUB_STUDIO_SCREENSHOT"):
            shutil.copy(tmp_path / "studio.png", os.environ["EMODUB_STUDIO_SCREENSHOT"])
    finally:
        server.stop()
