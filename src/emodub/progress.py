"""One progress vocabulary: the callback every long job reports through, the names of its steps, and those steps in an
editor's words (the CLI's bars, the studio's status line, batch and the report's timings say the same)."""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[str, int, int], None]  # (step, done, total): one of STEP_WORDS' steps, how far it is, out of how many
StepProgress = Callable[[int, int], None]  # (done, total) inside one step the caller names


def silent(step: str, done: int, total: int) -> None:
    """The progress of a caller that does not follow it."""

STEP_WORDS = {
    "load inputs": "Reading the inputs",
    "transcribe": "Listening to the original lines",
    "cast": "Telling the speakers apart",
    "speech segments": "Finding the speech",
    "read faces": "Reading the faces",
    "read voices": "Reading the voices' emotion",
    "voice profile": "Matching the voice",
    "synthesise": "Speaking the new lines",
    "verify": "Checking the words",
    "watermark": "Marking the speech as synthetic",
    "separate": "Mixing the new dialogue in",
    "done": "Writing the files",
    "detect": "Reading the watermark",
    "features": "Measuring the clips",
    "measure": "Measuring",
}
STEP_WORDS_ZH = {
    "load inputs": "读取输入", "transcribe": "听写原台词", "cast": "区分说话人", "speech segments": "查找语音", "read faces": "识别面部表情",
    "read voices": "识别语音情绪", "voice profile": "匹配音色", "synthesise": "生成新台词", "verify": "核对字词",
    "watermark": "加合成水印", "separate": "混入新对白", "done": "写出文件", "detect": "读取水印", "features": "测量片段", "measure": "测量",
}
COUNTED = {"transcribe", "read faces", "read voices", "synthesise", "cast", "detect", "features"}  # steps whose total counts things


def step_words(step: str, done: int = 0, total: int = 0, *, language: str = "en") -> str:
    """``step`` in words, with ``(done of total)`` where the total counts cues, frames or files, e.g. 'Reading the faces (38 of 60)'."""
    words = (STEP_WORDS_ZH if language == "zh" else STEP_WORDS).get(step, step)
    if step in COUNTED and total > 1:
        return f"{words}（{done}/{total}）" if language == "zh" else f"{words} ({done} of {total})"
    return words
