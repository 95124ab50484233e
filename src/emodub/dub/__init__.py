"""Video in, dubbed video out: the end-to-end emotion-transfer pipeline behind ``emodub dub``.

Per SRT cue: the original performance over the cue is read (face + voice, :mod:`emodub.emotion.analysis`)
and is also the emotion reference whose prosody the new line takes (the dual-audio path); the
new line is synthesised in the cloned voice at the cue's length, then laid into the original
track at the cue's start, to the sample, with the old dialogue ducked under it, and muxed back
without re-encoding the video.

Scripts are read as people write them (:mod:`emodub.subtitles`): a cue is one or more *parts*
(inline directions, several speakers); the parts are rendered one after another and together fill
the cue's span exactly.  Each part's speaker has one voice: given with ``voices`` (``NAME ► file``;
``*`` for everyone else), or else cloned from that speaker's own speech in the video
(:mod:`emodub.cast`), one fixed reference per speaker.  The track keeps its channel layout
(:mod:`emodub.layout`): the new dialogue goes in the dialogue channels, every other channel is
untouched.

Sync policy when the line cannot fill its shot within the allowed ratio 0.75–1.25 of its
natural length (never a silent clip):

- too short for the shot (needs > 1.25): spoken at 1.25 and the rest of the shot stays quiet;
- too long (needs < 0.75): spoken at 0.75 and allowed to run into the silence before the next
  cue (or the end of the video) when it fits there; otherwise the cue is *not dubbed*, the
  original audio stays, and the report asks for the line to be rewritten, naming the ratio.

The stages live one module each, in the order data flows: :mod:`~emodub.dub.options` (what is asked),
:mod:`~emodub.dub.inputs`, :mod:`~emodub.dub.performance` (reading the original), :mod:`~emodub.dub.direction`
(the emotion of each part), :mod:`~emodub.dub.plan` (cues into jobs), :mod:`~emodub.dub.render` (the pool),
:mod:`~emodub.dub.mix`, :mod:`~emodub.dub.report`, :mod:`~emodub.dub.session` and :mod:`~emodub.dub.edit`
(redoing one cue), :mod:`~emodub.dub.run` (all of them in order) and :mod:`~emodub.dub.template`.
"""

from emodub.dub.edit import CueEdit, choose_take, redub_cue
from emodub.dub.inputs import changed_since, output_paths, voice_map
from emodub.dub.options import EVERYONE, SYNC_POLICIES, DirectedEmotion, DubOptions, default_workers
from emodub.dub.plan import CueJob, PartJob
from emodub.dub.render import RenderedCue, Synthesizer, run_jobs, synthesize_cue
from emodub.dub.report import CueResult, DubReport, PartResult
from emodub.dub.run import dub_video
from emodub.dub.session import DubSession, Take
from emodub.dub.template import Template, write_template

__all__ = [
    "EVERYONE", "SYNC_POLICIES", "CueEdit", "CueJob", "CueResult", "DirectedEmotion", "DubOptions", "DubReport", "DubSession",
    "PartJob", "PartResult", "RenderedCue", "Synthesizer", "Take", "Template", "changed_since", "choose_take", "default_workers",
    "dub_video", "output_paths", "redub_cue", "run_jobs", "synthesize_cue", "voice_map", "write_template",
]
