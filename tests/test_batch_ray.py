"""Scale-out: a 2-node Ray cluster dubs a folder, loses a node mid-batch, and gives the same tracks as one machine.

The cluster runs inside a network namespace this test makes (``unshare --net``, loopback only), so no
traffic leaves 127.0.0.0/8; the scenario asserts the node addresses before any task runs.  Without Ray
or without the right to make a namespace, the cluster test is skipped with the reason.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from emodub.audio import load_audio
from emodub.batch import LocalRunner, RayRunner, check_ray_address, plan_batch, run_batch
from emodub.dub import DubOptions
from emodub.errors import InputError
from emodub.media import VIDEO_SUFFIXES
from emodub.synthetic import flite_scene
from test_cli import emodub

SCENARIO = Path(__file__).with_name("ray_scenario.py")
OPTIONS = DubOptions(base_voice="flite-slt", max_rounds=1, consent="test voices made with flite", workers=1)


def _namespace_problem() -> str | None:
    if importlib.util.find_spec("ray") is None:
        return "Ray is not installed (pip install 'emodub[ray]')"
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return "unshare or ip (util-linux, iproute2) is missing"
    made = subprocess.run(["unshare", "--net", "sh", "-c", "ip link set lo up"], capture_output=True, text=True)
    return None if made.returncode == 0 else f"cannot make a network namespace here: {made.stderr.strip()}"


@pytest.fixture(scope="module")
def season(tmp_path_factory) -> Path:
    """A folder of two episodes: one line, and two lines (spread over the cluster cue by cue), plus one without a script."""
    folder = tmp_path_factory.mktemp("season")
    flite_scene(folder, [("I told you the boat would leave without us.", "The boat has gone and we are still here.", "sad")], name="ep1")
    flite_scene(folder, [("Wake up, it is already nine!", "Get up now, we are very late!", "surprised"),
                         ("Fine, I am coming, give me a minute.", "All right, I am on my way, wait for me.", "calm")], name="ep2")
    (folder / "ep3.mp4").write_bytes((folder / "ep1.mp4").read_bytes())  # no ep3.srt: fails for its own reason
    return folder


@pytest.fixture(scope="module")
def local(tmp_path_factory, season, reference_path):
    out = tmp_path_factory.mktemp("local-out")
    results = run_batch(plan_batch(season, None, out, VIDEO_SUFFIXES), {"*": reference_path}, OPTIONS, LocalRunner())
    return out, results


def test_the_local_batch_reports_every_video_and_resumes(local, season, reference_path):
    out, results = local
    assert [(Path(r.video).name, r.status) for r in results] == [("ep1.mp4", "done"), ("ep2.mp4", "done"), ("ep3.mp4", "failed")]
    assert "no script 'ep3.srt'" in results[2].error
    report = json.loads((out / "batch.json").read_text())
    assert report["runner"] == "local" and [v["status"] for v in report["videos"]] == ["done", "done", "failed"]
    again = run_batch(plan_batch(season, None, out, VIDEO_SUFFIXES), {"*": reference_path}, OPTIONS, LocalRunner())
    assert [r.status for r in again] == ["skipped", "skipped", "failed"]  # a resumed batch skips finished videos


def test_videos_dubbed_side_by_side_give_the_same_tracks_in_input_order(tmp_path, season, local, reference_path):
    out = tmp_path / "out"
    out.mkdir()
    finished = []
    results = run_batch(plan_batch(season, None, out, VIDEO_SUFFIXES), {"*": reference_path}, replace(OPTIONS, workers=2),
                        LocalRunner(), done=lambda r: finished.append(r.status))
    assert [(Path(r.video).name, r.status) for r in results] == [("ep1.mp4", "done"), ("ep2.mp4", "done"), ("ep3.mp4", "failed")]
    assert sorted(finished) == ["done", "done", "failed"]
    local_out, _ = local
    for name in ("ep1.dubbed.wav", "ep2.dubbed.wav"):
        assert np.array_equal(load_audio(out / name).samples, load_audio(local_out / name).samples), name


@pytest.mark.skipif((problem := _namespace_problem()) is not None, reason=str(problem))
def test_a_two_node_cluster_loses_a_node_and_gives_the_same_tracks(tmp_path, season, local, reference_path):
    out = tmp_path / "ray-out"
    out.mkdir()
    result_path = tmp_path / "outcome.json"
    command = f"ip link set lo up && exec {sys.executable} {SCENARIO} {season} {out} {reference_path} {result_path}"
    proc = subprocess.run(["unshare", "--net", "sh", "-c", command], capture_output=True, text=True, timeout=900)
    outcome = json.loads(result_path.read_text()) if result_path.exists() else {}
    assert proc.returncode == 0, (outcome, proc.stderr[-3000:])
    assert outcome["addresses"] == ["127.0.0.1"]
    # killed mid-batch: no dub had finished (ep3, without a script, fails on the driver at once)
    assert [Path(v).name for v in outcome["finished_before_kill"]] in ([], ["ep3.mp4"]) and outcome["killed_at_s"] < outcome["seconds"]
    statuses = {Path(r["video"]).name: r["status"] for r in outcome["results"]}
    assert statuses == {"ep1.mp4": "done", "ep2.mp4": "done", "ep3.mp4": "failed"}
    assert next(r["error"] for r in outcome["results"] if r["status"] == "failed") == f"no script 'ep3.srt' for '{season / 'ep3.mp4'}'"
    assert all(outcome["head"][:8] in r["node"] for r in outcome["results"] if r["status"] == "done")  # finished on the node left
    local_out, _ = local
    for name in ("ep1.dubbed.wav", "ep2.dubbed.wav"):
        ray_track, local_track = load_audio(out / name), load_audio(local_out / name)
        assert np.array_equal(ray_track.samples, local_track.samples), name  # where it ran does not change the track
    assert [r["status"] for r in outcome["shared"]] == ["done"]
    assert np.array_equal(load_audio(tmp_path / "shared-out" / "ep1.dubbed.wav").samples, load_audio(local_out / "ep1.dubbed.wav").samples)
    report = json.loads((out / "ep2.dubbed.json").read_text())
    assert report["video"] == str(season / "ep2.mp4")  # the report names the files on the driver, not the task's copies
    assert json.loads((out / "batch.json").read_text())["runner"] == "ray"


@pytest.mark.parametrize("address", ["local", "auto", "127.0.0.1:6379", "ray://127.0.0.1:10001", "ray://[::1]:10001"])
def test_ray_addresses_in_every_documented_form_are_taken(address):
    assert check_ray_address(address) == address


@pytest.mark.parametrize("address", ["", "127.0.0.1", "http://host:1", "host:port", "ray://", "local cluster"])
def test_a_bad_ray_address_is_refused(address):
    with pytest.raises(InputError, match="is not a Ray address; allowed: local"):
        RayRunner(address)


def test_cli_ray_bad_input_exits_2(tmp_path, season, reference_path):
    out = tmp_path / "out"
    out.mkdir()
    proc = emodub("dub", season, "--voice", reference_path, "-o", out, "--ray", "nowhere", "--consent", "test voices made with flite")
    assert proc.returncode == 2 and "--ray 'nowhere' is not a Ray address" in proc.stderr
    proc = emodub("dub", season / "ep1.mp4", "--script", season / "ep1.srt", "--voice", reference_path, "-o", out / "x.mp4",
                  "--ray", "local", "--consent", "test voices made with flite")
    assert proc.returncode == 2 and "--ray dubs a folder of videos" in proc.stderr
    assert list(out.iterdir()) == []
