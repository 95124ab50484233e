"""Text normalisation for speaking and for scoring: numbers, dates, times and money as words.

One normaliser serves both sides of the judge (what was asked, what the ear heard) and the
Mandarin front end, so "3:30" is read and scored as 三点三十分 everywhere.  Chinese numerals
come from ``cn2an`` (MIT); English number words are a few lines here (no registry package
with a permissive licence does it better).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass

from emodub.errors import InputError

MAX_LINE_CHARS = 1000  # one line to speak; a dubbing cue is a sentence or two (a 1-MB cue once reached flite's argv)


def check_line_length(text: str, what: str = "text") -> None:
    """Refuse a line longer than ``MAX_LINE_CHARS`` with one clear sentence (before any model loads)."""
    if len(text) > MAX_LINE_CHARS:
        raise InputError(f"{what} has {len(text)} characters; one line may have at most {MAX_LINE_CHARS}: split it into several cues or lines")


_FULLWIDTH = str.maketrans({chr(0xFF10 + i): str(i) for i in range(10)} | {"％": "%", "＄": "$", "．": "."})
_CJK_CHAR = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN_RUN = re.compile(r"[A-Za-z][A-Za-z'’\-]*(?:\s+[A-Za-z][A-Za-z'’\-]*)*")
ZH_PAUSE_S = {"，": 0.15, "、": 0.1, "；": 0.25, "：": 0.2, "。": 0.35, "！": 0.35, "？": 0.35, "…": 0.35, "—": 0.2,
              ",": 0.15, ";": 0.25, ":": 0.2, ".": 0.35, "!": 0.35, "?": 0.35}
_ZH_CLAUSE = re.compile(r"([^，、；：。！？…—,;:.!?]+)([，、；：。！？…—,;:.!?]*)")

_ONES = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen".split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_SCALES = ((10 ** 12, "trillion"), (10 ** 9, "billion"), (10 ** 6, "million"), (1000, "thousand"), (100, "hundred"))


def english_number(n: int) -> str:
    """Cardinal number words: 1205 ► 'one thousand two hundred five'."""
    if n < 0:
        return "minus " + english_number(-n)
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _ONES[n % 10])
    for value, word in _SCALES:
        if n >= value:
            rest = n % value
            return f"{english_number(n // value)} {word}" + ("" if rest == 0 else " " + english_number(rest))
    raise AssertionError("unreachable")


def _english_numeral(match: re.Match) -> str:
    text = match.group(0).replace(",", "")
    whole, _, fraction = text.partition(".")
    words = english_number(int(whole)) if whole else "zero"
    if fraction:
        words += " point " + " ".join(_ONES[int(d)] for d in fraction)
    return f" {words} "


def english_words(text: str) -> list[str]:
    """Lower-case words for scoring: digits as words, % and $ spelled, punctuation dropped."""
    text = unicodedata.normalize("NFKC", text).lower().replace("’", "'")
    text = re.sub(r"\$(\d[\d,]*(?:\.\d+)?)", r"\1 dollars", text)
    text = re.sub(r"(\d)\s*%", r"\1 percent", text)
    text = re.sub(r"\d[\d,]*(?:\.\d+)?", _english_numeral, text)
    text = re.sub(r"[-–—/]", " ", text)
    return [w.strip("'") for w in re.findall(r"[a-z']+", text) if w.strip("'")]


# --- Chinese ---------------------------------------------------------------------------------


def _cn(number: str) -> str:
    import cn2an

    return cn2an.an2cn(number, "low")


def _digits_cn(digits: str) -> str:
    return "".join("零一二三四五六七八九"[int(d)] for d in digits)


def _time_cn(match: re.Match) -> str:
    hours, minutes, seconds = match.group(1), match.group(2), match.group(3)
    spoken = _cn(str(int(hours))) + "点"
    if int(minutes):
        spoken += ("零" if minutes.startswith("0") else "") + _cn(str(int(minutes))) + "分"
    elif not seconds:
        spoken += "整"
    if seconds and int(seconds):
        spoken += _cn(str(int(seconds))) + "秒"
    return spoken


def _number_cn(text: str) -> str:
    text = text.replace(",", "")
    whole, _, fraction = text.partition(".")
    if len(whole) > 1 and whole.startswith("0") or len(whole) >= 11:  # phone numbers, codes: digit by digit
        return _digits_cn(whole) + ("点" + _digits_cn(fraction) if fraction else "")
    return _cn(text)


_ZH_RULES: tuple[tuple[re.Pattern, object], ...] = (
    (re.compile(r"(?<=\d),(?=\d{3}(?!\d))"), ""),  # thousands separators
    (re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*[日号]?"),
     lambda m: f"{_digits_cn(m.group(1))}年{_cn(str(int(m.group(2))))}月{_cn(str(int(m.group(3))))}日"),
    (re.compile(r"(\d{2,4})\s*年"), lambda m: _digits_cn(m.group(1)) + "年"),
    (re.compile(r"(?<!\d)(\d{1,2})[:：](\d{2})(?:[:：](\d{2}))?(?!\d)"), _time_cn),
    (re.compile(r"[¥￥]\s*(\d[\d.]*)\s*元?"), lambda m: _number_cn(m.group(1)) + "元"),
    (re.compile(r"\$\s*(\d[\d.]*)"), lambda m: _number_cn(m.group(1)) + "美元"),
    (re.compile(r"€\s*(\d[\d.]*)"), lambda m: _number_cn(m.group(1)) + "欧元"),
    (re.compile(r"£\s*(\d[\d.]*)"), lambda m: _number_cn(m.group(1)) + "英镑"),
    (re.compile(r"(\d+(?:\.\d+)?)\s*%"), lambda m: "百分之" + _number_cn(m.group(1))),
    (re.compile(r"(?<![\d.])-(?=\d)"), "负"),
    (re.compile(r"\d+(?:\.\d+)?"), lambda m: _number_cn(m.group(0))),
)


def normalize_zh(text: str) -> str:
    """Chinese text with every number, date, time, amount and percentage written as Chinese words."""
    text = text.translate(_FULLWIDTH)
    for pattern, replacement in _ZH_RULES:
        text = pattern.sub(replacement, text)  # type: ignore[arg-type]
    return text


def simplified(text: str) -> str:
    """Traditional ► simplified characters (OpenCC's t2s; Whisper writes traditional)."""
    return _t2s().convert(text)


@functools.lru_cache(maxsize=1)
def _t2s():
    import opencc

    return opencc.OpenCC("t2s")


def chinese_tokens(text: str) -> list[str]:
    """Scoring units of a Chinese line: each Hanzi as its toned syllable, and each Latin word (lower case).

    Characters are compared by how they sound (toned pinyin in context, ``pypinyin``), so a
    homophone the ear picked (她/他, 坐/做) is not counted as a word the voice got wrong, while a
    wrong syllable or tone (信 xin4 / 现 xian4) is.  Punctuation is dropped.
    """
    from pypinyin import Style, lazy_pinyin

    tokens = re.findall(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]|[A-Za-z']+", simplified(normalize_zh(text)))
    hanzi = [t for t in tokens if _CJK_CHAR.fullmatch(t)]
    readings = iter(lazy_pinyin("".join(hanzi), style=Style.TONE3, neutral_tone_with_five=True)) if hanzi else iter(())
    return [next(readings) if _CJK_CHAR.fullmatch(t) else t.lower() for t in tokens]


@dataclass(frozen=True)
class Run:
    """A stretch of a line in one language, and the pause (s) that follows it."""

    language: str  # "zh" | "en"
    text: str
    pause_after_s: float = 0.0


def zh_runs(text: str) -> list[Run]:
    """A normalised Chinese line cut at punctuation (pauses) and at English words (spoken in English)."""
    runs: list[Run] = []
    for clause, punct in _ZH_CLAUSE.findall(normalize_zh(text)):
        pause = max((ZH_PAUSE_S.get(p, 0.15) for p in punct), default=0.0)
        pieces: list[Run] = []
        position = 0
        for match in _LATIN_RUN.finditer(clause):
            if _CJK_CHAR.search(clause[position:match.start()]):
                pieces.append(Run("zh", clause[position:match.start()].strip()))
            pieces.append(Run("en", match.group(0)))
            position = match.end()
        if _CJK_CHAR.search(clause[position:]):
            pieces.append(Run("zh", clause[position:].strip()))
        if pieces:
            pieces[-1] = Run(pieces[-1].language, pieces[-1].text, pause)
            runs.extend(pieces)
    return runs
