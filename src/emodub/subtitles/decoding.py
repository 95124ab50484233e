"""Bytes of a subtitle file ► text, with the encoding named: BOMs, UTF-8, then charset-normalizer.

Subtitle files come in whatever the editor saved: UTF-8 with or without a BOM, UTF-16 (the
Windows "Unicode" choice), GBK/GB18030 and Big5 from Chinese sources, cp1252 from older
Western tools.  BOMs decide first, strict UTF-8 second; otherwise charset-normalizer picks the
least "messy" of the encodings subtitles are really written in (a short list, so that a few
lines of Chinese are not read as, say, a Cyrillic code page).
"""

from __future__ import annotations

import codecs

from emodub.errors import InputError

BOMS = ((codecs.BOM_UTF32_LE, "utf-32-le", "utf-32"), (codecs.BOM_UTF32_BE, "utf-32-be", "utf-32"),
        (codecs.BOM_UTF8, "utf-8", "utf-8 (BOM)"), (codecs.BOM_UTF16_LE, "utf-16-le", "utf-16-le (BOM)"),
        (codecs.BOM_UTF16_BE, "utf-16-be", "utf-16-be (BOM)"))
CANDIDATE_ENCODINGS = ("utf_16_le", "utf_16_be", "gb18030", "big5", "cp1252", "shift_jis", "euc_kr")


def decode_text(data: bytes, *, what: str) -> tuple[str, str]:
    """(text, encoding name) of ``data``; InputError naming ``what`` when no known encoding reads it."""
    for bom, codec, label in BOMS:
        if data.startswith(bom):
            try:
                return data[len(bom):].decode(codec), label
            except UnicodeDecodeError as error:
                raise InputError(f"{what} starts with a {label} byte-order mark but is not valid {codec}: {error}") from None
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    import charset_normalizer

    best = charset_normalizer.from_bytes(data, cp_isolation=list(CANDIDATE_ENCODINGS)).best()
    if best is None:
        raise InputError(f"{what} is not text in an encoding subtitles use (tried UTF-8/16/32, "
                         f"{', '.join(CANDIDATE_ENCODINGS[2:])}); save it as UTF-8")
    return str(best), best.encoding.replace("_", "-")
