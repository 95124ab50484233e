"""A stand-in for the few ``torchaudio`` names that the model packages emodub runs import, built on torch.stft/istft.

No torchaudio wheel on the registry matches torch 2.13 (the newest, 2.11.1, has a compiled
extension that will not load against it).  DistillMOS's ``sqa`` module imports torchaudio at its
top but uses it only in its own command line (to read and resample files); Resemble's PerTh
watermarker imports three transforms: ``Spectrogram`` and ``InverseSpectrogram`` (thin
wrappers of torch.stft/istft) and ``TimeStretch`` (a phase vocoder whose inference only loads its
``phase_advance`` buffer).  :func:`ensure_torchaudio` registers this module as ``torchaudio`` only
when the real one does not import; it is never used in place of a working torchaudio.
"""

from __future__ import annotations

import math
import sys
import types
from collections.abc import Callable

import torch
from torch import nn

STANDIN_VERSION = "0.0-emodub-standin"


class Spectrogram(nn.Module):
    """|STFT|^power (or the complex STFT with ``power=None``), with torchaudio's argument names and defaults."""

    def __init__(self, n_fft: int = 400, win_length: int | None = None, hop_length: int | None = None, pad: int = 0,
                 window_fn: Callable[..., torch.Tensor] = torch.hann_window, power: float | None = 2.0, normalized: bool = False,
                 wkwargs: dict | None = None, center: bool = True, pad_mode: str = "reflect", onesided: bool = True) -> None:
        super().__init__()
        self.n_fft, self.win_length = n_fft, win_length or n_fft
        self.hop_length = hop_length or self.win_length // 2
        self.pad, self.power, self.normalized = pad, power, normalized
        self.center, self.pad_mode, self.onesided = center, pad_mode, onesided
        self.register_buffer("window", window_fn(self.win_length, **(wkwargs or {})))

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        if self.pad > 0:
            waveform = nn.functional.pad(waveform, (self.pad, self.pad))
        shape = waveform.shape
        spec = torch.stft(waveform.reshape(-1, shape[-1]), self.n_fft, self.hop_length, self.win_length, self.window,
                          center=self.center, pad_mode=self.pad_mode, normalized=False, onesided=self.onesided,
                          return_complex=True)
        if self.normalized:
            spec = spec / self.window.pow(2).sum().sqrt()
        spec = spec.reshape(*shape[:-1], *spec.shape[-2:])
        return spec if self.power is None else spec.abs().pow(self.power)


class InverseSpectrogram(nn.Module):
    """The complex STFT back to a waveform (torch.istft), the inverse of ``Spectrogram(power=None)``."""

    def __init__(self, n_fft: int = 400, win_length: int | None = None, hop_length: int | None = None, pad: int = 0,
                 window_fn: Callable[..., torch.Tensor] = torch.hann_window, normalized: bool = False, wkwargs: dict | None = None,
                 center: bool = True, pad_mode: str = "reflect", onesided: bool = True) -> None:
        super().__init__()
        self.n_fft, self.win_length = n_fft, win_length or n_fft
        self.hop_length = hop_length or self.win_length // 2
        self.pad, self.normalized, self.center, self.onesided = pad, normalized, center, onesided
        self.register_buffer("window", window_fn(self.win_length, **(wkwargs or {})))

    def forward(self, spectrogram: torch.Tensor, length: int | None = None) -> torch.Tensor:
        if self.normalized:
            spectrogram = spectrogram * self.window.pow(2).sum().sqrt()
        shape = spectrogram.shape
        flat = spectrogram.reshape(-1, *shape[-2:])
        padded_length = None if length is None else length + 2 * self.pad
        waveform = torch.istft(flat, self.n_fft, self.hop_length, self.win_length, self.window, center=self.center,
                               normalized=False, onesided=self.onesided, length=padded_length)
        if self.pad > 0:
            waveform = waveform[..., self.pad:waveform.shape[-1] - self.pad]
        return waveform.reshape(*shape[:-2], waveform.shape[-1])


class TimeStretch(nn.Module):
    """Phase-vocoder time stretch of a complex STFT by ``rate`` (>1 faster), keeping its pitch."""

    def __init__(self, hop_length: int | None = None, n_freq: int = 201, fixed_rate: float | None = None) -> None:
        super().__init__()
        self.fixed_rate = fixed_rate
        n_fft = (n_freq - 1) * 2
        hop_length = hop_length if hop_length is not None else n_fft // 2
        self.register_buffer("phase_advance", torch.linspace(0, math.pi * hop_length, n_freq)[..., None])

    def forward(self, complex_specgrams: torch.Tensor, overriding_rate: float | None = None) -> torch.Tensor:
        rate = self.fixed_rate if overriding_rate is None else overriding_rate
        if rate is None:
            raise ValueError("TimeStretch needs a rate: fixed_rate at construction or overriding_rate")
        if rate == 1.0:
            return complex_specgrams
        steps = torch.arange(0, complex_specgrams.size(-1), rate, device=complex_specgrams.device)
        padded = nn.functional.pad(complex_specgrams, [0, 2])
        previous, following = padded.index_select(-1, steps.long()), padded.index_select(-1, (steps + 1).long())
        alphas = (steps % 1.0).to(self.phase_advance.dtype)
        phase_0 = complex_specgrams[..., :1].angle()
        delta = following.angle() - previous.angle() - self.phase_advance
        delta = delta - 2 * math.pi * torch.round(delta / (2 * math.pi))
        phase = torch.cumsum(torch.cat([phase_0, (delta + self.phase_advance)[..., :-1]], dim=-1), dim=-1)
        magnitude = alphas * following.abs() + (1 - alphas) * previous.abs()
        return torch.polar(magnitude, phase)


def _module() -> types.ModuleType:
    """This stand-in as a ``torchaudio`` package with a ``transforms`` submodule."""
    package = types.ModuleType("torchaudio", __doc__)
    transforms = types.ModuleType("torchaudio.transforms", "Spectrogram, InverseSpectrogram, TimeStretch (emodub stand-in).")
    transforms.Spectrogram, transforms.InverseSpectrogram, transforms.TimeStretch = Spectrogram, InverseSpectrogram, TimeStretch
    package.transforms = transforms
    package.__version__ = STANDIN_VERSION
    package.__path__ = []  # a package, so "from torchaudio.transforms import X" resolves
    return package


def ensure_torchaudio() -> str:
    """Make ``import torchaudio`` work: the real one when it loads, else this stand-in.  Returns which ("real" or "stand-in")."""
    existing = sys.modules.get("torchaudio")
    if existing is not None:
        return "stand-in" if getattr(existing, "__version__", "") == STANDIN_VERSION else "real"
    try:
        import torchaudio  # noqa: F401
        return "real"
    except (ImportError, OSError, RuntimeError):  # absent, or a wheel built for another torch
        sys.modules.pop("torchaudio", None)
    package = _module()
    sys.modules["torchaudio"] = package
    sys.modules["torchaudio.transforms"] = package.transforms
    return "stand-in"


__all__ = ["InverseSpectrogram", "Spectrogram", "TimeStretch", "ensure_torchaudio"]
