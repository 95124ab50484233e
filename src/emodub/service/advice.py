"""A cue's status in an editor's words, with the fixes as edits the page can send in one click, and three badges.

Built from the cue's record in the dub's report (its span, natural length, the ratio it needed)
and its neighbours, so the fixes it offers are edits the studio accepts (``POST /api/jobs/{id}/cues/{n}``).
"""

from __future__ import annotations

from typing import Any

from emodub.subtitles.retime import MIN_CUE_S, snap_to_frame
from emodub.timing import RATIO_MAX, RATIO_MIN
from emodub.verify import Thresholds

HUMAN_LIKE_MOS = 3.0  # DistillMOS: real people score 3.7–4.4, espeak-ng 2.45; below this a line sounds robotic
NATURAL_PACE = (0.9, 1.1)  # a ratio in here is heard as the voice's own pace


def advise(cue: dict[str, Any], *, previous_end_s: float, next_start_s: float, fps: float | None) -> dict[str, Any]:
    """``{"level", "summary": {en, zh}, "actions": [...], "badges": [...], "needs_attention"}`` for one cue of a report."""
    badges = _badges(cue)
    summary, actions, level = _status(cue, previous_end_s, next_start_s, fps)
    missed = [b for b in badges if b["ok"] is False]
    return {"level": "warn" if missed and level == "ok" else level, "summary": summary, "actions": actions, "badges": badges,
            "needs_attention": bool(missed) or level != "ok"}


def _status(cue: dict[str, Any], previous_end_s: float, next_start_s: float, fps: float | None
            ) -> tuple[dict[str, str], list[dict[str, Any]], str]:
    status, span = cue["status"], cue["end_s"] - cue["start_s"]
    free, needed = cue.get("free_duration_s"), cue.get("ratio_needed")
    if status == "kept-original":
        return {"en": "No new line here: the original audio is kept.", "zh": "此处没有新台词：保留原声。"}, [_write()], "ok"
    if not free or not needed:
        why = next((w.removeprefix("not dubbed: ") for w in cue.get("warnings", []) if w.startswith("not dubbed")), "it could not be made")
        return ({"en": f"Not dubbed: {why}. Change the words or the emotion and try again.",
                 "zh": f"未配音：{why}。请修改台词或情绪后重试。"}, [_write()], "bad")
    words = max(1, len(cue["text"].split()))
    if needed > RATIO_MAX:  # the line is shorter than the shot
        shorter = round((1 - free / span) * 100)
        add = max(1, round(words * (span / free - 1)))
        quiet = span - RATIO_MAX * free
        if status == "not-dubbed":
            said = {"en": "It is left undubbed (sync: strict).", "zh": "按严格同步设置未配音。"}
        else:
            said = {"en": f"It is spoken at the slowest allowed pace ({RATIO_MAX} ×) and the last {quiet:.1f} s of the shot stay quiet.",
                    "zh": f"已按允许的最慢语速（{RATIO_MAX} 倍）说出，镜头最后 {quiet:.1f} 秒无声。"}
        end = snap_to_frame(cue["start_s"] + max(free, MIN_CUE_S), fps)
        return ({"en": f"The new line is {shorter} % shorter than the shot. {said['en']} Add about {add} word{'s' * (add > 1)}, "
                       f"or end the shot at {end:.2f} s so the line fills it at its own pace.",
                 "zh": f"新台词比镜头短 {shorter}%。{said['zh']}可增加约 {add} 个词，或把镜头结束时间改为 {end:.2f} 秒，以自然语速说满。"},
                [_write(f"Add about {add} word{'s' * (add > 1)}", f"增加约 {add} 个词"),
                 _retime({"end_s": end}, f"End the shot at {end:.2f} s", f"镜头在 {end:.2f} 秒结束")], "warn")
    if needed < RATIO_MIN:  # the line is longer than the shot
        longer = round((free / span - 1) * 100)
        cut = max(1, round(words * (1 - span / free)))
        end = snap_to_frame(min(next_start_s, cue["start_s"] + free), fps)
        start = snap_to_frame(max(previous_end_s, end - free), fps) if end - cue["start_s"] < RATIO_MIN * free else cue["start_s"]
        retime = {"end_s": end} if start == cue["start_s"] else {"start_s": start, "end_s": end}
        fits = end - start >= RATIO_MIN * free - 1e-6
        if status == "ran-into-silence":
            over = RATIO_MIN * free - span
            said = {"en": f"It is spoken at the fastest allowed pace ({RATIO_MIN} × its length) and runs {over:.1f} s into the "
                          "silence after the shot.",
                    "zh": f"已按允许的最快语速（{RATIO_MIN} 倍时长）说出，并延续到镜头后的静音中 {over:.1f} 秒。"}
            level = "warn"
        else:
            said = {"en": "Even at the fastest allowed pace it does not fit before the next line, so it is not dubbed.",
                    "zh": "即使用允许的最快语速也放不下，因此未配音。"}
            level = "bad"
        actions = [_write(f"Shorten it by about {cut} word{'s' * (cut > 1)}", f"删去约 {cut} 个词")]
        where = {"en": "", "zh": ""}
        if fits and (retime.get("end_s", cue["end_s"]) != cue["end_s"] or "start_s" in retime):
            label = (f"Let the shot run {start:.2f}–{end:.2f} s" if "start_s" in retime else f"Let the shot run to {end:.2f} s")
            actions.append(_retime(retime, label, f"镜头改为 {start:.2f}–{end:.2f} 秒"))
            where = {"en": f", or let the shot run {start:.2f}–{end:.2f} s (into the silence around it)",
                     "zh": f"，或把镜头改为 {start:.2f}–{end:.2f} 秒（延入前后的静音）"}
        return ({"en": f"The new line is {longer} % longer than the shot. {said['en']} Shorten it by about {cut} "
                       f"word{'s' * (cut > 1)}{where['en']}.",
                 "zh": f"新台词比镜头长 {longer}%。{said['zh']}可删去约 {cut} 个词{where['zh']}。"}, actions, level)
    pace = ({"en": "at its own pace", "zh": "以自然语速"} if NATURAL_PACE[0] <= needed <= NATURAL_PACE[1] else
            {"en": f"{abs(round((needed - 1) * 100))} % {'slower' if needed > 1 else 'faster'} than its own pace",
             "zh": f"比自然语速{'慢' if needed > 1 else '快'} {abs(round((needed - 1) * 100))}%"})
    return {"en": f"Fits the shot, spoken {pace['en']}.", "zh": f"与镜头长度吻合，{pace['zh']}说出。"}, [], "ok"


def _badges(cue: dict[str, Any]) -> list[dict[str, Any]]:
    """Words heard (the ear), sounds human (the naturalness judge), voice similarity (GE2E): value, pass mark, whether it passes."""
    heard = cue.get("intelligibility") or {}
    metric = "cer" if "cer" in heard else "wer"
    error = heard.get(metric)
    similarity, natural = cue.get("speaker_similarity"), cue.get("naturalness")
    limit = Thresholds().min_speaker_similarity
    return [
        {"name": "words", "value": None if error is None else round(max(0.0, 1 - error), 3), "ok": heard.get("passed"),
         "en": "words heard" if error is None else f"words heard {max(0.0, 1 - error):.0%}",
         "zh": "字词识别" if error is None else f"字词识别 {max(0.0, 1 - error):.0%}",
         "help": (f"what the ear heard: {heard.get('heard', '')!r}" if heard else "not heard by the ear (no recogniser installed)")},
        {"name": "naturalness", "value": natural, "ok": None if natural is None else natural >= HUMAN_LIKE_MOS,
         "en": "sounds human" + ("" if natural is None else f" {natural:.1f}/5"), "zh": "自然度" + ("" if natural is None else f" {natural:.1f}/5"),
         "help": f"DistillMOS, trained on human ratings: real people 3.7–4.4, robotic voices under {HUMAN_LIKE_MOS}"},
        {"name": "similarity", "value": similarity, "ok": None if similarity is None else similarity >= limit,
         "en": "voice match" + ("" if similarity is None else f" {similarity:.2f}"),
         "zh": "音色相似" + ("" if similarity is None else f" {similarity:.2f}"),
         "help": f"GE2E similarity to the voice reference; {limit} or more is the same voice"},
    ]


def _write(en: str = "Change the words", zh: str = "修改台词") -> dict[str, Any]:
    return {"kind": "edit-text", "en": en, "zh": zh}


def _retime(edit: dict[str, float], en: str, zh: str) -> dict[str, Any]:
    return {"kind": "retime", "edit": edit, "en": en, "zh": zh}
