"""Timed text beside a video: the chapters staff type ("mm:ss Title" lines) and the captions they
upload (WebVTT, or SRT converted to WebVTT). Both are checked here, with messages staff can act on
(ValidationError), before anything is stored; nothing here writes.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass

import webvtt
from django.core.exceptions import ValidationError
from webvtt.errors import MalformedFileError

from config.formatting import clock

MAX_CHAPTERS = 100
MAX_CHAPTER_TITLE = 100
# A captions file is text: an hour of dense dialogue is about 100 KB of WebVTT.
CAPTION_MAX_BYTES = 512 * 1024

# "mm:ss Title" or "h:mm:ss Title"; minutes may pass 59 without hours ("75:00").
_CHAPTER_LINE = re.compile(r"^(?:(?P<h>\d{1,2}):(?P<hm>[0-5]\d)|(?P<m>\d{1,3})):(?P<s>[0-5]\d)\s+(?P<title>\S.*)$")
# A cue's timings: WebVTT's [hh:]mm:ss.ttt (SRT's comma accepted: the SRT reader's own).
_TIMESTAMP = r"(?:\d{1,3}:)?[0-5]\d:[0-5]\d[.,]\d{3}"
_TIMING = re.compile(rf"^\s*{_TIMESTAMP}\s+-->\s+{_TIMESTAMP}(?:\s+.*)?$")


@dataclass(frozen=True)
class Chapter:
    start: int  # seconds
    title: str

    @property
    def label(self) -> str:
        return f"{clock(self.start)} {self.title}"


def chapters_parse(*, text: str, duration: int | None = None) -> list[Chapter]:
    """The chapters in staff's lines (blank lines ignored), in order; ValidationError listing every
    bad line: a time that is not mm:ss or h:mm:ss, a missing title, a chapter not after the one
    before it, a chapter at or beyond `duration` (when known)."""
    chapters: list[Chapter] = []
    errors: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        found = _CHAPTER_LINE.match(line)
        if found is None:
            errors.append(
                f"Line {number} (“{line[:40]}”): start with the time as mm:ss or h:mm:ss, then a space and the title."
            )
            continue
        minutes = int(found["h"]) * 60 + int(found["hm"]) if found["h"] is not None else int(found["m"])
        start = minutes * 60 + int(found["s"])
        title = found["title"].strip()
        if len(title) > MAX_CHAPTER_TITLE:
            errors.append(f"Line {number}: the title is longer than {MAX_CHAPTER_TITLE} characters.")
        elif chapters and start <= chapters[-1].start:
            errors.append(
                f"Line {number}: {clock(start)} does not come after the chapter before it "
                f"({clock(chapters[-1].start)}): list chapters in order, each at a different time."
            )
        elif duration is not None and start >= duration:
            errors.append(f"Line {number}: {clock(start)} is beyond the end of the video ({clock(duration)}).")
        else:
            chapters.append(Chapter(start=start, title=title))
    if len(chapters) > MAX_CHAPTERS:
        errors.append(f"At most {MAX_CHAPTERS} chapters.")
    if errors:
        raise ValidationError(errors)
    return chapters


def captions_webvtt(*, data: bytes) -> tuple[str, int]:
    """The WebVTT text of an uploaded WebVTT or SRT file, and its number of cues; ValidationError
    with the reason when it is empty, too large, not UTF-8, neither format, has a malformed cue
    timing line, no cue, or a cue that ends before it starts."""
    if not data.strip():
        raise ValidationError("The file is empty.")
    if len(data) > CAPTION_MAX_BYTES:
        raise ValidationError(f"The file is larger than {CAPTION_MAX_BYTES // 1024} KB: is it a captions file?")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationError("The file is not UTF-8 text: save it as UTF-8 and upload it again.") from None
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    kind = "vtt" if text.lstrip().startswith("WEBVTT") else "srt"
    # The reader skips a cue whose timing line it cannot read; staff hear about it instead.
    for number, line in enumerate(text.splitlines(), start=1):
        if "-->" in line and not _TIMING.match(line):
            raise ValidationError(
                f"Line {number} (“{line.strip()[:60]}”) is not a cue timing such as 00:01:02.500 --> 00:01:05.000."
            )
    try:
        parsed = webvtt.from_buffer(io.StringIO(text), format=kind)
    except MalformedFileError:
        raise ValidationError(
            "The file is neither WebVTT (which starts with “WEBVTT”) nor SRT (numbered cues with "
            "timings such as 00:00:01,000 --> 00:00:02,000)."
        ) from None
    if not parsed.captions:
        raise ValidationError("The file holds no captions.")
    for number, cue in enumerate(parsed.captions, start=1):
        # "hh:mm:ss.ttt", zero-padded by the reader: in time order as strings (to the millisecond).
        if cue.end <= cue.start:
            raise ValidationError(f"Caption {number} ({cue.start} --> {cue.end}) ends before it starts.")
    return parsed.content, len(parsed.captions)
