"""Reading scripts as people write them: formats and encodings, markup, annotations, speakers."""

from emodub.subtitles.directions import Part, parse_cue
from emodub.subtitles.script import Cue, Script, placeholder, read_script, template_cues, write_srt

__all__ = ["Cue", "Part", "Script", "parse_cue", "placeholder", "read_script", "template_cues", "write_srt"]
