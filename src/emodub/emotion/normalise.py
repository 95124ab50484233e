"""Per-speaker normalisation of the acoustic cues: each speaker against their own speech in the media.

Speech emotion cues (F0, energy, rate, voice quality) differ more between people than between
one person's emotions, so each segment is z-scored against *its speaker's* distribution over
the whole media — robust statistics (median, MAD × 1.4826) — the normalisation the SER
literature uses across speakers (e.g. Busso et al. 2011, "Iterative feature normalization"),
and it needs no labelled data.  A speaker with little speech is shrunk towards the population
prior: a median settles within seconds, a spread needs more segments, so the prior weighs as
much as :data:`PRIOR_CENTRE_S` of the speaker's speech for the centres and
:data:`PRIOR_SPREAD_S` for the spreads; under :data:`MIN_SPEAKER_SPEECH_S` the prior alone is
used, with a warning.

The prior comes from real people (``population_norms.json``, measured by
``bench/population_norms.py`` on recordings that install from the registries; its provenance
is in the file).  Level-dependent cues (energy) have no population mean: a recording's level
says nothing about the voice, so they are always measured against the speaker's own median.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emodub.errors import InputError

NORMS_FILE = Path(__file__).with_name("population_norms.json")
MIN_SPEAKER_SPEECH_S = 4.0  # below: the prior alone (with a warning)
PRIOR_CENTRE_S = 2.0  # speech at which the speaker's own median and the prior's weigh the same
PRIOR_SPREAD_S = 12.0  # … and their own spread and the prior's
MAD_TO_SD = 1.4826  # MAD of a normal distribution × this = its SD
LEVEL_CUES = ("energy_db",)  # no population mean; always relative to the speaker


@dataclass(frozen=True)
class PopulationNorms:
    """The prior: per cue, the mean of real speakers' medians and the spread within one speaker."""

    means: dict[str, float]
    spreads: dict[str, float]
    provenance: dict

    @classmethod
    def load(cls, path: Path = NORMS_FILE) -> PopulationNorms:
        return _load_norms(path)


@functools.lru_cache(maxsize=2)
def _load_norms(path: Path) -> PopulationNorms:
    data = json.loads(path.read_text(encoding="utf-8"))
    return PopulationNorms({k: float(v["mean"]) for k, v in data["cues"].items()},
                           {k: float(v["spread"]) for k, v in data["cues"].items()}, data["provenance"])


@dataclass(frozen=True)
class SpeakerNorms:
    """One speaker's reference for z-scores: centre and spread per cue, and how much of it is their own."""

    centres: dict[str, float]
    spreads: dict[str, float]
    speech_s: float
    own_weight: float  # share of the speaker's own spreads: 0 = the prior only … 1 = their own statistics only
    segments: int

    @property
    def source(self) -> str:
        return "prior" if self.own_weight == 0 else "speaker" if self.own_weight > 0.5 else "speaker+prior"

    def z_scores(self, cues: dict[str, float]) -> dict[str, float]:
        """(cue − centre) / spread for every measured cue that has a centre."""
        return {name: (value - self.centres[name]) / self.spreads[name] for name, value in cues.items()
                if math.isfinite(value) and name in self.centres and math.isfinite(self.centres[name])}


def register_st(f0_st: float) -> float:
    """Typical F0 in the speaker's register, semitones re 100 Hz (Titze 1994: ~120 Hz men, ~210 Hz women)."""
    return 12 * math.log2((120.0 if 100.0 * 2 ** (f0_st / 12) < 165.0 else 210.0) / 100.0)


def speaker_norms(rows: Sequence[dict[str, float]], speech_s: float, prior: PopulationNorms | None = None
                  ) -> tuple[SpeakerNorms, list[str]]:
    """Norms of one speaker from the cues of their segments (``rows``) and their total speech in seconds."""
    prior = prior or PopulationNorms.load()
    if speech_s < 0:
        raise InputError(f"speech duration {speech_s!r} s is negative")
    warnings = []
    enough = speech_s >= MIN_SPEAKER_SPEECH_S and bool(rows)
    own = speech_s / (speech_s + PRIOR_SPREAD_S) if enough else 0.0
    own_centre = speech_s / (speech_s + PRIOR_CENTRE_S) if enough else 0.0
    if not enough:
        warnings.append(f"only {speech_s:.1f} s of this speaker's speech (normalising needs ≥ {MIN_SPEAKER_SPEECH_S:g} s): "
                        "judged against the population norms instead")
    centres, spreads = {}, {}
    for name, prior_spread in prior.spreads.items():
        values = np.array([row[name] for row in rows if math.isfinite(row.get(name, float("nan")))])
        median = float(np.median(values)) if len(values) else float("nan")
        mad_sd = float(np.median(np.abs(values - median))) * MAD_TO_SD if len(values) >= 3 else prior_spread
        if name in LEVEL_CUES:
            prior_mean = median  # level: the speaker's own median whatever the amount
        elif name == "f0_mean_st":
            prior_mean = register_st(median) if len(values) else prior.means[name]
        else:
            prior_mean = prior.means[name]
        centre = own_centre * median + (1 - own_centre) * prior_mean if len(values) else prior_mean
        spread = math.sqrt(own * max(mad_sd, 0.25 * prior_spread) ** 2 + (1 - own) * prior_spread ** 2)
        centres[name], spreads[name] = centre, spread
    return SpeakerNorms(centres, spreads, round(speech_s, 3), round(own, 3), len(rows)), warnings
