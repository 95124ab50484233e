"""The naturalness judge: how much a clip sounds like a person, as a mean opinion score (1–5).

The default judge is DistillMOS (Stahl & Gamper 2025, Microsoft, MIT): a small convolution +
transformer model distilled from an XLS-R speech-quality model trained on human ratings; its
weights (17 MB) ship inside its PyPI wheel, so it runs offline.  Its ``sqa`` module imports
torchaudio, which has no wheel for torch 2.13: :mod:`emodub.torchaudio_standin` gives that import
a stand-in.  On this machine it scores espeak-ng about 1.9–2.5, flite 2.4–3.3, Piper joe 4.1 and
real people 3.7–4.4 (``bench/naturalness.py``).

Words come first (the ear), then a human sound (this judge), then the voice: the profile search
and the verifier read this score; see DESIGN.md.  A judge is anything with ``name`` and
``score_many``; DistillMOS is the one that ships, and a second judge plugs in the same way.
"""

from __future__ import annotations

import contextlib
import functools
import io
from typing import Protocol

import numpy as np

from emodub.audio import Audio
from emodub.errors import EngineError
from emodub.threads import size_torch

JUDGE_RATE_HZ = 16000
MIN_SCORED_S = 0.3  # shorter clips say nothing about a voice; they are not scored


class NaturalnessJudge(Protocol):
    """Scores clips on the 1–5 MOS scale, higher sounding more like a person."""

    name: str

    def score_many(self, clips: list[Audio]) -> list[float]: ...


class DistillMOS:
    """DistillMOS (variant 7, the weights in its wheel), one torch thread per worker (:func:`emodub.threads.size_torch`)."""

    name = "distillmos"
    licence = "MIT (code and weights; the weights ship inside the distillmos wheel)"

    def __init__(self) -> None:
        from emodub.torchaudio_standin import ensure_torchaudio  # heavy (torch): loaded only when used

        ensure_torchaudio()
        try:
            import distillmos
        except ImportError as error:
            raise EngineError("the naturalness judge needs 'pip install --no-deps distillmos==0.9.1 xls-r-sqa==0.1.0' "
                              f"(scripts/setup.sh installs both): {error}") from error
        size_torch()
        with contextlib.redirect_stdout(io.StringIO()):  # it prints where it loaded its weights from
            self._model = distillmos.ConvTransformerSQAModel()
        self._model.eval()

    def score_many(self, clips: list[Audio]) -> list[float]:
        """The MOS of each clip (NaN for a clip under ``MIN_SCORED_S`` or silent).

        Clips are scored one by one: the model segments and pads each to its own 7.7-s windows,
        so batching clips of different lengths would change their scores.
        """
        import torch

        scores = []
        with torch.inference_mode():
            for clip in clips:
                samples = clip.resampled(JUDGE_RATE_HZ).samples.astype(np.float32)
                if len(samples) < MIN_SCORED_S * JUDGE_RATE_HZ or not np.any(np.abs(samples) > 1e-4):
                    scores.append(float("nan"))
                    continue
                scores.append(round(float(self._model(torch.from_numpy(samples)[None])[0]), 4))
        return scores

    def score(self, clip: Audio) -> float:
        return self.score_many([clip])[0]


class DNSMOS:
    """A second opinion: DNSMOS P.835's overall score (OVRL; Reddy et al. 2022, Microsoft, MIT), ONNX inside ``speechmos``.

    Trained on noisy and processed speech rather than on synthetic voices, it hears other faults
    than DistillMOS; the bench reports both so that nothing is tuned to one judge.  Optional
    (``pip install --no-deps speechmos``, in the dev extras); its onnxruntime sessions are its own.
    """

    name = "dnsmos-ovrl"
    licence = "MIT (speechmos; the DNSMOS ONNX models ship inside its wheel)"

    def __init__(self) -> None:
        try:
            from speechmos import dnsmos
        except ImportError as error:
            raise EngineError(f"the DNSMOS judge needs 'pip install --no-deps speechmos==0.0.1.1': {error}") from error
        self._run = dnsmos.run

    def score_many(self, clips: list[Audio]) -> list[float]:
        scores = []
        for clip in clips:
            samples = np.clip(clip.resampled(JUDGE_RATE_HZ).samples.astype(np.float32), -1.0, 1.0)
            if len(samples) < MIN_SCORED_S * JUDGE_RATE_HZ or not np.any(np.abs(samples) > 1e-4):
                scores.append(float("nan"))
                continue
            scores.append(round(float(self._run(samples, JUDGE_RATE_HZ)["ovrl_mos"]), 4))
        return scores


@functools.lru_cache(maxsize=1)
def default_judge() -> NaturalnessJudge | None:
    """The judge loaded once per process, or None when its package is not installed (the score is then not measured)."""
    try:
        return DistillMOS()
    except EngineError:
        return None


def mean_score(judge: NaturalnessJudge, clips: list[Audio]) -> float:
    """The mean MOS of the clips that could be scored (NaN when none could)."""
    scores = [s for s in judge.score_many(clips) if np.isfinite(s)]
    return round(float(np.mean(scores)), 4) if scores else float("nan")


__all__ = ["DNSMOS", "DistillMOS", "NaturalnessJudge", "default_judge", "mean_score"]
