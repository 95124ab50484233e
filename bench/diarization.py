"""Diarisation error of :func:`emodub.cast.diarize` on a recording with a reference RTTM (frame-level, 100 ms).

DER here = (missed speech + false alarm + speaker confusion) / reference speech, with the
hypothesis speakers mapped to the reference ones by the Hungarian assignment (scipy); overlap
frames count as right when the hypothesis names either speaker.  No collar.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

FRAME_S = 0.1


def frames_of(turns: dict[str, list[tuple[float, float]]], duration_s: float) -> tuple[list[str], np.ndarray]:
    names = sorted(turns)
    grid = np.zeros((len(names), int(np.ceil(duration_s / FRAME_S))), bool)
    for row, name in enumerate(names):
        for start, end in turns[name]:
            grid[row, int(round(start / FRAME_S)):int(round(end / FRAME_S))] = True
    return names, grid


def diarization_error(reference: dict[str, list[tuple[float, float]]], hypothesis: dict[str, list[tuple[float, float]]],
                      duration_s: float) -> dict[str, float]:
    """DER and its parts, plus the mapping hypothesis ► reference speaker."""
    ref_names, ref = frames_of(reference, duration_s)
    hyp_names, hyp = frames_of(hypothesis, duration_s)
    overlap = ref.astype(int) @ hyp.T.astype(int)  # frames both speak
    rows, cols = linear_sum_assignment(-overlap)
    mapping = {hyp_names[c]: ref_names[r] for r, c in zip(rows, cols)}
    ref_any, hyp_any = ref.any(axis=0), hyp.any(axis=0)
    speech = float(ref_any.sum())
    missed = float(np.sum(ref_any & ~hyp_any))
    false_alarm = float(np.sum(~ref_any & hyp_any))
    correct = np.zeros(ref.shape[1], bool)
    for h, r in mapping.items():
        correct |= hyp[hyp_names.index(h)] & ref[ref_names.index(r)]
    confusion = float(np.sum(ref_any & hyp_any & ~correct))
    return {"der": (missed + false_alarm + confusion) / speech, "missed": missed / speech, "false_alarm": false_alarm / speech,
            "confusion": confusion / speech, "mapping": mapping}
