"""Installable anywhere: the wheel, installed outside this repository, runs from its own files only."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHECK = """
import importlib.resources, json, sys
import emodub, emodub.cli, emodub.dub, emodub.batch, emodub.service.app, emodub.emotion.normalise as normalise
from emodub.service.app import VENDOR, static_dir
loaded = [m.__file__ for m in list(sys.modules.values()) if getattr(m, "__file__", None) and m.__name__.startswith("emodub")]
print(json.dumps({"loaded": loaded, "norms": str(normalise.NORMS_FILE), "static": str(static_dir()),
                  "page": (static_dir() / "index.html").is_file(),
                  "wavesurfer": (static_dir() / VENDOR / "wavesurfer.js/dist/wavesurfer.esm.js").is_file(),
                  "demo": str(importlib.resources.files("emodub") / "demo_material" / "seed_job.yaml")}))
"""


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """``pip wheel`` of this checkout, installed with ``--target`` into a folder outside it (dependencies from the venv)."""
    folder = tmp_path_factory.mktemp("installed")
    source = folder / "source"  # a copy: a build folder in the checkout could carry stale modules into the wheel
    shutil.copytree(ROOT / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation", "-q", "-w", str(folder / "wheel")],
                   check=True, capture_output=True)
    wheel = next((folder / "wheel").glob("emodub-*.whl"))
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(folder / "site"), str(wheel)],
                   check=True, capture_output=True)
    env = {**os.environ, "PYTHONPATH": str(folder / "site"), "PYTHONNOUSERSITE": "1"}
    return folder, env


def test_the_installed_wheel_reads_nothing_from_the_source_tree(installed):
    import json

    folder, env = installed
    proc = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, env=env, cwd=folder)
    assert proc.returncode == 0, proc.stderr
    found = json.loads(proc.stdout)
    site = str(folder / "site")
    assert found["loaded"] and all(path.startswith(site) for path in found["loaded"]), [p for p in found["loaded"] if not p.startswith(site)]
    assert found["norms"].startswith(site) and Path(found["norms"]).is_file()
    assert found["static"].startswith(site) and found["page"] and found["wavesurfer"]
    assert found["demo"].startswith(site) and Path(found["demo"]).is_file()


def test_the_installed_cli_runs_outside_the_repo(installed):
    folder, env = installed
    doctor = subprocess.run([sys.executable, "-m", "emodub", "doctor"], capture_output=True, text=True, env=env, cwd=folder)
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    assert "studio page libraries" in doctor.stdout
    emotion = subprocess.run([sys.executable, "-m", "emodub", "emotion", "angrily, voice shaking"], capture_output=True, text=True,
                             env=env, cwd=folder)
    assert emotion.returncode == 0 and '"angry"' in emotion.stdout
