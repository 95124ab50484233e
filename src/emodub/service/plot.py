"""A picture of a dub's emotions over time: what the original performance showed, what each new line was given."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from emodub.emotion.space import EMOTION_NAMES

# one colour per emotion; the page uses the same ones (static/app.js EMOTION_COLOURS)
EMOTION_COLOURS = {"happy": "#f2b134", "angry": "#d1495b", "sad": "#386fa4", "afraid": "#8e6c8a", "disgusted": "#6a994e",
                   "melancholic": "#59a5d8", "surprised": "#ed7d3a", "calm": "#9aa5b1"}


def bar_heights(vector: dict[str, float]) -> dict[str, float]:
    """Each emotion's bar: its intensity as applied (sad 0.6 is a 0.6 bar), scaled down only where the mix sums past 1."""
    total = sum(max(0.0, vector.get(name, 0.0)) for name in EMOTION_NAMES)
    scale = 1 / total if total > 1 else 1.0
    return {name: max(0.0, vector.get(name, 0.0)) * scale for name in EMOTION_NAMES}


def plot_emotions(report: dict[str, Any], path: str | Path) -> Path:
    """Two rows of stacked bars over each cue's span: the emotion read from the original, and the one the new line used."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = (("original performance (read)", lambda cue: (cue.get("detected") or {}).get("vector")),
            ("new line (as applied: bar height = intensity)", lambda cue: cue.get("emotion_vector")))
    fig, axes = plt.subplots(2, 1, figsize=(10, 3.6), sharex=True)
    for axis, (title, vector_of) in zip(axes, rows):
        for cue in report["cues"]:
            bottom = 0.0
            for name, share in bar_heights(vector_of(cue) or {}).items():
                if share > 0:
                    axis.bar(cue["start_s"], share, width=cue["end_s"] - cue["start_s"], bottom=bottom, align="edge",
                             color=EMOTION_COLOURS[name], edgecolor="white", linewidth=0.5)
                    bottom += share
            axis.text((cue["start_s"] + cue["end_s"]) / 2, 1.04, str(cue["index"]), ha="center", va="bottom", fontsize=8)
        axis.set_ylim(0, 1.2)
        axis.set_yticks([0, 0.5, 1])
        axis.set_title(title, fontsize=9, loc="left")
    axes[-1].set_xlabel("time (s)")
    handles = [matplotlib.patches.Patch(color=EMOTION_COLOURS[name], label=name) for name in EMOTION_NAMES]
    fig.legend(handles=handles, loc="center right", fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0, 0.86, 1))
    fig.savefig(path, dpi=110, format="png")
    plt.close(fig)
    return Path(path)
