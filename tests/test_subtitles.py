"""Scripts as people write them: formats, encodings, markup, annotations, speakers and timing slack."""

import pytest

from emodub.errors import InputError
from emodub.subtitles import read_script
from emodub.subtitles.decoding import decode_text

LINE_EN = "Where were you last night?"
LINE_ZH = "你昨晚去哪儿了？我等了你一整夜。"
LINE_FR = "Où étais-tu hier soir, cœur brisé ?"


def srt(*cues: tuple) -> str:
    """SRT text of (start_s, end_s[, text]) cues; the text defaults to a short line."""
    def stamp(t: float) -> str:
        ms = round(t * 1000)
        return f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"
    return "".join(f"{i}\n{stamp(c[0])} --> {stamp(c[1])}\n{c[2] if len(c) > 2 else 'Hello there.'}\n\n" for i, c in enumerate(cues, 1))


def write(tmp_path, text: str, name: str = "script.srt", encoding: str = "utf-8") -> object:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def only_cue(tmp_path, content: str, **kw):
    return read_script(write(tmp_path, srt((1.0, 3.0, content))), media_duration_s=10.0, **kw).cues[0]


# -- encodings -------------------------------------------------------------------------------------
@pytest.mark.parametrize("line, encoding, named", [
    (LINE_EN, "utf-8", "utf-8"),
    (LINE_ZH, "utf-8-sig", "utf-8 (BOM)"),
    (LINE_ZH, "utf-16", "utf-16-le (BOM)"),
    (LINE_ZH, "utf-16-be", "utf-16-be"),
    (LINE_ZH, "gbk", "gb18030"),
    (LINE_ZH, "gb18030", "gb18030"),
    ("你昨晚去哪裡了？我等了你一整夜，電話也不接。", "big5", "big5"),
    (LINE_FR, "cp1252", "cp1252"),
])
def test_encodings_are_detected_and_named(tmp_path, line, encoding, named):
    script = read_script(write(tmp_path, srt((1.0, 3.0, line), (4.0, 6.0, line)), encoding=encoding), media_duration_s=10.0)
    assert script.cues[0].text == line and script.encoding == named


def test_bytes_in_no_known_encoding_are_refused_by_name():
    with pytest.raises(InputError, match="script 'x.srt' is not text in an encoding"):
        decode_text(bytes(range(128, 256)) * 4 + b"\x81\x00\xff", what="script 'x.srt'")


# -- formats and markup ----------------------------------------------------------------------------
ASS = """[Script Info]
ScriptType: v4.00+

[V4+ Styles]
Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, Encoding
Style: Default,Arial,20,&H00FFFFFF,&H000000FF,&H00000000,&H00000000,0,0,0,0,100,100,0,0,1,2,2,2,10,10,10,1

[Events]
Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text
Dialogue: 0,0:00:01.00,0:00:03.00,Default,ALICE,0,0,0,,{\\an8}{\\k20}Where {\\k30}were {\\i1}you{\\i0}\\Nlast night?
Comment: 0,0:00:03.00,0:00:04.00,Default,,0,0,0,,a note for the translator
Dialogue: 0,0:00:04.00,0:00:06.00,Default,BOB,0,0,0,,{\\p1}m 0 0 l 100 0 100 100{\\p0}Out.
"""
VTT = """WEBVTT

00:01.000 --> 00:03.000 align:start
<v Alice>Where were <b>you</b>
last night?

00:04.000 --> 00:06.000
<v.loud Bob>Out.
"""


@pytest.mark.parametrize("name, text, format_name", [
    ("s.srt", srt((1.0, 3.0, "<i>Where</i> were <font color=\"#ffff00\">you</font>\nlast night?"), (4.0, 6.0, "{\\an8}Out.")), "SRT"),
    ("s.vtt", VTT, "WebVTT"),
    ("s.ass", ASS, "ASS"),
])
def test_formats_and_markup_is_never_spoken(tmp_path, name, text, format_name):
    script = read_script(write(tmp_path, text, name), media_duration_s=10.0)
    assert script.format == format_name
    assert [cue.text for cue in script.cues] == ["Where were you last night?", "Out."]
    if format_name != "SRT":  # ASS Name fields and WebVTT voices name the speakers
        assert [cue.speakers for cue in script.cues] == [[name_] for name_ in (("ALICE", "BOB") if format_name == "ASS" else ("Alice", "Bob"))]


# -- annotations and directions --------------------------------------------------------------------
@pytest.mark.parametrize("content, parts, not_spoken", [
    ("[sighs] I can't do this.", [("I can't do this.", None, "sighs")], []),
    ("(whispering) Be quiet.", [("Be quiet.", None, "whispering")], []),
    ("（哽咽）我没事。", [("我没事。", None, "哽咽")], []),
    ("[sarcastic] Great idea.", [("Great idea.", None, "sarcastic")], []),
    ("[angrily] Get out!", [("Get out!", None, "angrily")], []),
    ("[DOOR SLAMS] Who's there?", [("Who's there?", None, None)], ["[DOOR SLAMS]"]),
    ("【音乐】你好。", [("你好。", None, None)], ["【音乐】"]),
    ("♪ la la la ♪ Hello.", [("Hello.", None, None)], ["♪ la la la ♪"]),
    ("[angry:0.8] Get out!", [("Get out!", "angry", None)], []),
    ("[悲伤] 你走吧", [("你走吧", "sad", None)], []),
    ("[angry:0.8]{emotion: voice shaking} How dare you", [("How dare you", "angry", "voice shaking")], []),
    ("{emotion: whispering, scared} Be quiet.", [("Be quiet.", None, "whispering, scared")], []),
    ("[whispers] I told you. [laughs] Didn't I?", [("I told you.", None, "whispers"), ("Didn't I?", None, "laughs")], []),
])
def test_annotations_direct_or_are_listed(tmp_path, content, parts, not_spoken):
    cue = only_cue(tmp_path, content)
    got = [(p.text, p.preset.dominant() if p.preset else None, p.description) for p in cue.parts]
    assert got == parts and list(cue.not_spoken) == not_spoken


@pytest.mark.parametrize("content", ["[DOOR SLAMS]", "♪ Happy birthday to you ♪", "[music]\n(applause)", "[angry]"])
def test_a_cue_with_nothing_to_say_keeps_the_original_and_says_so(tmp_path, content):
    cue = only_cue(tmp_path, content)
    assert cue.parts == () and any("original audio is kept" in w for w in cue.warnings)


def test_a_malformed_own_tag_is_an_error_naming_the_cue(tmp_path):
    with pytest.raises(InputError, match=r"cue 1: tag \[angry:3\].*intensity"):
        only_cue(tmp_path, "[angry:3] Hi")


# -- speakers --------------------------------------------------------------------------------------
@pytest.mark.parametrize("content, expected", [
    ("JOHN: Get out!", [("Get out!", "JOHN", 0)]),
    ("张三：你好。", [("你好。", "张三", 0)]),
    ("[speaker: Ann] Hello. [speaker: Bob] Hi.", [("Hello.", "Ann", 0), ("Hi.", "Bob", 0)]),
    ("- Who's there?\n- Nobody.", [("Who's there?", None, 0), ("Nobody.", None, 1)]),
    ("- ANN: Who's there?\n- BOB: Nobody.", [("Who's there?", "ANN", 0), ("Nobody.", "BOB", 1)]),
    ("- Well, I think\nwe should go.", [("Well, I think we should go.", None, 0)]),
    ("At 10:30 we leave. He said: go.", [("At 10:30 we leave. He said: go.", None, 0)]),
])
def test_speakers_from_prefixes_tags_and_dashes(tmp_path, content, expected):
    cue = only_cue(tmp_path, content)
    assert [(p.text, p.speaker, p.turn) for p in cue.parts] == expected


# -- timing slack ----------------------------------------------------------------------------------
@pytest.mark.parametrize("cues, fps, warning", [
    (((1.0, 3.04), (3.0, 5.0)), None, "overlapped cue 2 by 40 ms"),
    (((1.0, 3.08), (3.0, 5.0)), 25.0, "overlapped cue 2 by 80 ms"),
    (((1.0, 3.0), (4.0, 10.3)), None, "ends 300 ms after the video"),
])
def test_slack_is_trimmed_with_a_warning(tmp_path, cues, fps, warning):
    script = read_script(write(tmp_path, srt(*cues)), media_duration_s=10.0, fps=fps)
    assert any(warning in w for w in script.warnings)
    assert all(a.end_s <= b.start_s for a, b in zip(script.cues, script.cues[1:])) and script.cues[-1].end_s <= 10.0


@pytest.mark.parametrize("text, match", [
    (srt((1.0, 3.2), (3.0, 5.0)), "cue 2 starts at 3.000 s, 200 ms before cue 1 ends"),
    (srt((1.0, 3.0), (4.0, 11.0)), "cue 2 ends at 11.000 s, 1.000 s after the video ends"),
    (srt((12.0, 13.0)), "cue 1 starts at 12.000 s, after the video ends"),
    (srt((3.0, 2.0)), "cue 1 ends"),
    ("not a subtitle file at all", "not a subtitle file|no cues"),
    ("", "no cues|not a subtitle file"),
    (srt((1.0, 2.0, "<write the new line here: 1.00 s>")), "template placeholder"),
])
def test_bad_scripts_are_refused_naming_the_cue(tmp_path, text, match):
    with pytest.raises(InputError, match=match):
        read_script(write(tmp_path, text), media_duration_s=10.0)


REAL_VTT = """WEBVTT
Kind: captions
Language: en

STYLE
::cue { color: yellow }

NOTE written by a broadcaster's captioning tool

intro
00:00:01.000 --> 00:00:03.000 position:10% align:start
<c.yellow>Where</c> were <00:00:02.000>you?

00:00:04.000 --> 00:00:06.000
&gt;&gt; Out &amp; about.
>> With whom?
"""


def test_broadcast_webvtt_blocks_timestamps_entities_and_speaker_marks(tmp_path):
    script = read_script(write(tmp_path, REAL_VTT, "real.vtt"), media_duration_s=10.0)
    assert [cue.text for cue in script.cues] == ["Where were you?", "Out & about. With whom?"]
    assert [p.turn for p in script.cues[1].parts] == [0, 1]  # ">>" is a new speaker


def test_positioned_ass_signs_are_not_dialogue_and_may_overlap_it(tmp_path):
    sign = "Dialogue: 0,0:00:01.50,0:00:05.00,Default,,0,0,0,,{\\\\pos(320,50)}BAKERY\n"
    script = read_script(write(tmp_path, ASS + sign, "signs.ass"), media_duration_s=10.0)
    assert [cue.text for cue in script.cues] == ["Where were you last night?", "Out."]
    assert any("1 sign event(s)" in w for w in script.warnings)
