"""What the studio accepts as one cue's edit, checked when it is asked for (4xx) and turned into a :class:`CueEdit` in the worker."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from emodub.dub import CueEdit
from emodub.emotion.space import EmotionVector, canonical_emotion_name
from emodub.errors import InputError
from emodub.subtitles.retime import retimed
from emodub.textnorm import check_line_length

DEFAULT_INTENSITY = 0.8  # an emotion chosen without an intensity


class CueEditRequest(BaseModel):
    """``POST /api/jobs/{id}/cues/{n}``: any of text, emotion (a preset name, EN or ZH), intensity, emotion_text, speaker, start_s, end_s."""

    model_config = ConfigDict(extra="forbid")

    text: str | None = None
    emotion: str | None = None
    intensity: float | None = Field(None, ge=0, le=1)
    emotion_text: str | None = None
    speaker: str | None = None
    start_s: float | None = None  # the cue moved or resized on the timeline (snapped to frames)
    end_s: float | None = None


def parse_edit(body: dict[str, Any], summary: dict[str, Any], cue: int) -> dict[str, Any]:
    """The edit as a task payload, checked against the job's cues and speakers; InputError names the bad value."""
    try:
        request = CueEditRequest.model_validate(body)
    except ValidationError as error:
        problem = error.errors()[0]
        field = ".".join(str(part) for part in problem["loc"])
        if problem["type"] == "extra_forbidden":
            raise InputError(f"unknown field {field!r}; allowed: {', '.join(CueEditRequest.model_fields)}") from None
        raise InputError(f"{field} {problem.get('input')!r}: {problem['msg']}") from None
    if cue not in summary["indices"]:
        raise InputError(f"cue {cue} is not in this job; it has cues {summary['indices'][0]}–{summary['indices'][-1]}")
    if request.emotion is not None:
        canonical_emotion_name(request.emotion)
    if request.speaker is not None and request.speaker not in summary["speakers"]:
        choices = summary["speakers"]
        raise InputError(f"speaker {request.speaker!r} has no voice in this job; "
                         + (f"allowed: {', '.join(choices)}" if choices else "it has one voice for everyone"))
    for name in ("text", "emotion_text"):
        value = getattr(request, name)
        if value is not None and not value.strip():
            raise InputError(f"{name} {value!r} is empty; leave it out to keep the cue's {name.replace('_', ' ')}")
        if value is not None:
            check_line_length(value, name)
    given = request.model_dump(exclude_none=True)
    if request.start_s is not None or request.end_s is not None:
        spans = [tuple(span) for span in summary.get("spans", [])]
        if not spans:
            raise InputError("this job was dubbed by an older emodub that did not keep its cue times; dub the video again to move its cues")
        start, end = retimed(spans, summary["indices"].index(cue), request.start_s, request.end_s,
                             duration_s=summary["duration_s"], fps=summary.get("fps"))
        given.update({name: value for name, value, asked in (("start_s", start, request.start_s), ("end_s", end, request.end_s))
                      if asked is not None})  # snapped; an edge not asked for is not sent
    if not given:
        raise InputError(f"nothing to change in cue {cue}: give at least one of {', '.join(CueEditRequest.model_fields)}")
    return {"cue": cue, **given}


def cue_edit(payload: dict[str, Any], session):
    """The payload as :class:`emodub.dub.CueEdit`; intensity alone rescales the cue's current emotion."""
    request = CueEditRequest.model_validate({k: v for k, v in payload.items() if k != "cue"})
    emotion = None
    if request.emotion is not None:
        emotion = EmotionVector.preset(request.emotion, request.intensity if request.intensity is not None else DEFAULT_INTENSITY)
    elif request.intensity is not None:
        current = _current_emotion(session, payload["cue"])
        if current is None:
            raise InputError(f"intensity {request.intensity} needs an emotion: cue {payload['cue']} has none yet; choose one")
        emotion = EmotionVector.preset(current, request.intensity)
    return CueEdit(text=request.text, emotion=emotion, emotion_text=request.emotion_text, speaker=request.speaker,
                   start_s=request.start_s, end_s=request.end_s)


def parse_take(summary: dict[str, Any], cue: int, take: int) -> dict[str, Any]:
    """``POST /api/jobs/{id}/cues/{n}/takes/{k}`` as a task payload, checked against the takes the job lists."""
    if cue not in summary["indices"]:
        raise InputError(f"cue {cue} is not in this job; it has cues {summary['indices'][0]}–{summary['indices'][-1]}")
    count = len(summary.get("takes", {}).get(str(cue), [])) or 1
    if not 1 <= take <= count:
        raise InputError(f"cue {cue} has no take {take}; it has " + (f"takes 1–{count}" if count > 1 else "take 1 (regenerate it to make more)"))
    return {"cue": cue, "take": take}


def _current_emotion(session, cue: int) -> str | None:
    """The strongest emotion the cue was last spoken with (its first part's)."""
    number = next(n for n, c in enumerate(session.cues) if c.index == cue)
    plans = session.plans.get(number) or []
    vector = plans[0][2] if plans else session.detected[number][0]
    return None if vector is None else vector.dominant()
