"""A cue moved or resized by an editor: its new edges snapped to the video's frames and checked against the video and its neighbours.

One rule for the studio's API (checked before anything is queued) and :func:`emodub.dub.redub_cue`
(checked again where the dub is redone), so both refuse the same edits with the same line.
"""

from __future__ import annotations

from emodub.errors import InputError

MIN_CUE_S = 0.3  # shorter than this holds no word
DEFAULT_FPS = 25.0  # the frame grid of a video whose rate is unknown


def snap_to_frame(time_s: float, fps: float | None) -> float:
    """``time_s`` on the nearest frame boundary of a ``fps`` video (a cut lands between two frames, never inside one)."""
    rate = fps if fps and fps > 0 else DEFAULT_FPS
    return round(round(time_s * rate) / rate, 6)


def retimed(spans: list[tuple[float, float]], position: int, start_s: float | None, end_s: float | None, *,
            duration_s: float, fps: float | None) -> tuple[float, float]:
    """The new (start, end) of cue ``position`` (0-based in ``spans``), snapped to frames; InputError names what is wrong.

    A missing edge keeps its current time, unsnapped.  The cue must stay inside the video, be at least
    ``MIN_CUE_S`` long, and neither start before the previous cue ends nor end after the next one starts.
    """
    old_start, old_end = spans[position]
    for name, value in (("start_s", start_s), ("end_s", end_s)):
        if value is not None and not (value == value and abs(value) != float("inf")):
            raise InputError(f"{name} {value!r} is not a time; give seconds from the start of the video, e.g. 12.48")
    start = old_start if start_s is None else snap_to_frame(start_s, fps)  # an edge left alone keeps its time exactly
    end = old_end if end_s is None else snap_to_frame(end_s, fps)
    if start < 0:
        raise InputError(f"start_s {start_s} is before the video starts; allowed: 0 s or later")
    if end > duration_s + 1e-6:
        raise InputError(f"end_s {end_s} is after the video ends ({duration_s:.2f} s); allowed: up to {duration_s:.2f} s")
    if end - start < MIN_CUE_S - 1e-9:
        raise InputError(f"the cue would last {end - start:.2f} s ({start:.2f}–{end:.2f} s); a cue lasts at least {MIN_CUE_S} s")
    asked_start, asked_end = (start if start_s is None else start_s), (end if end_s is None else end_s)
    if position > 0 and start < spans[position - 1][1] - 1e-6:
        raise InputError(f"start_s {asked_start:.2f} s is inside the previous cue, which ends at {spans[position - 1][1]:.2f} s; "
                         f"allowed: {spans[position - 1][1]:.2f} s or later")
    if position + 1 < len(spans) and end > spans[position + 1][0] + 1e-6:
        raise InputError(f"end_s {asked_end:.2f} s is inside the next cue, which starts at {spans[position + 1][0]:.2f} s; "
                         f"allowed: up to {spans[position + 1][0]:.2f} s")
    return start, end
