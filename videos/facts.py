"""What the server reads about a video from where it is hosted (no writes here: videos/services.py).

- YouTube, Vimeo, Wistia: their public oEmbed endpoints (title, author, thumbnail URL; duration
  where the provider gives one: Vimeo and Wistia; YouTube's oEmbed has none). 401/403/404 means
  the video is gone, private or not embeddable.
- Self-hosted files: `ffprobe` (duration, dimensions, codecs) and an `ffmpeg` poster frame at
  ~10 % of the duration, both reading a local copy: the file's first VIDEO_FILE_FETCH_MAX_BYTES
  (and its last ones too when its MP4 index is at its end). HLS: the playlists parsed here (`m3u8`),
  the duration from their EXTINF sum, the rest from the first segment's copy. The site's own files
  (/static/...) are read from disk.
Every fetch goes through videos/fetch.py, every redirect, variant and segment host checked there;
ffprobe/ffmpeg are never given a URL and may open local files only (`-protocol_whitelist file`).
"""

from __future__ import annotations

import dataclasses
import io
import json
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlencode, urlsplit

import m3u8
from django.conf import settings
from django.contrib.staticfiles import finders
from PIL import Image
from pydantic import BaseModel, ConfigDict, field_validator
from pydantic import ValidationError as PydanticValidationError

from videos.fetch import IMAGE_MAX_BYTES, OEMBED_MAX_BYTES, FetchError, FetchResponse, url_fetch
from videos.thumbnails import thumbnail_open

# oEmbed statuses that mean "this video is not (or no longer) embeddable here": removed (404),
# private or embedding disabled (401 YouTube, 403 Vimeo).
GONE_STATUSES = {401, 403, 404, 410}
CARD_WIDTHS = (320, 640)
PROBE_TIMEOUT_SECONDS = 20
FRAME_MAX_BYTES = 5 * 1024 * 1024
MAX_DURATION_SECONDS = 24 * 3600


class FactsUnavailable(Exception):
    """The host says the video is gone; `code` is stored in Video.unavailable_code."""

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.code = code


class FactsError(Exception):
    """The facts could not be read this time (timeout, refused address, bad answer); availability
    is not decided from it."""


class OEmbedAnswer(BaseModel):
    """The fields we use from an oEmbed JSON answer (oembed.com §2.3.4; Vimeo and Wistia add
    `duration`, in seconds)."""

    model_config = ConfigDict(extra="ignore")

    title: str = ""
    author_name: str = ""
    thumbnail_url: str = ""
    duration: float | None = None

    @field_validator("title", "author_name", "thumbnail_url", mode="before")
    @classmethod
    def _text(cls, value: object) -> str:
        return value.strip()[:500] if isinstance(value, str) else ""

    @field_validator("duration", mode="before")
    @classmethod
    def _seconds(cls, value: object) -> float | None:
        if isinstance(value, int | float) and not isinstance(value, bool) and 0 < value <= MAX_DURATION_SECONDS:
            return float(value)
        return None


@dataclass(frozen=True)
class VideoFacts:
    title: str = ""
    author_name: str = ""
    duration: int | None = None
    width: int | None = None
    height: int | None = None
    video_codec: str = ""
    audio_codec: str = ""
    # Image bytes to make the catalogue cards from (downloaded or a poster frame); None if none.
    image: bytes | None = None
    # Why no image came with these facts (the facts themselves were read).
    image_error: str = ""


def oembed_page_url(*, provider: str, external_id: str) -> str:
    """The public page URL each provider's oEmbed endpoint takes for this video."""
    if provider == "youtube":
        return f"https://www.youtube.com/watch?v={external_id}"
    if provider == "vimeo":
        video_id, _, unlisted = external_id.partition(":")
        return f"https://vimeo.com/{video_id}/{unlisted}" if unlisted else f"https://vimeo.com/{video_id}"
    if provider == "wistia":
        return f"https://home.wistia.com/medias/{external_id}"
    raise ValueError(f"no oEmbed for provider {provider!r}")


def _oembed_hosts() -> set[str]:
    return {urlsplit(endpoint).hostname or "" for endpoint in settings.VIDEO_OEMBED_ENDPOINTS.values()}


def oembed_get(*, provider: str, external_id: str) -> OEmbedAnswer:
    """The provider's oEmbed answer; FactsUnavailable (gone) or FactsError (not read this time)."""
    endpoint = settings.VIDEO_OEMBED_ENDPOINTS[provider]
    query = urlencode({"url": oembed_page_url(provider=provider, external_id=external_id), "format": "json"})
    try:
        response = url_fetch(
            f"{endpoint}?{query}",
            allowed_hosts=_oembed_hosts(),
            max_bytes=OEMBED_MAX_BYTES,
            headers={"Accept": "application/json"},
        )
    except FetchError as exc:
        raise FactsError(f"oEmbed: {exc}") from None
    if response.status in GONE_STATUSES:
        raise FactsUnavailable(
            f"The provider answered {response.status}: the video was removed, is private or may not be embedded.",
            code=f"oembed-{response.status}",
        )
    if response.status != 200:
        raise FactsError(f"oEmbed answered {response.status}; will try again later.")
    try:
        return OEmbedAnswer.model_validate(json.loads(response.body))
    except (ValueError, PydanticValidationError):
        raise FactsError("oEmbed answered something that is not an oEmbed JSON object.") from None


def oembed_facts_get(*, provider: str, external_id: str, with_image: bool) -> VideoFacts:
    answer = oembed_get(provider=provider, external_id=external_id)
    image, image_error = None, ""
    if with_image and answer.thumbnail_url:
        try:
            image = image_download(url=answer.thumbnail_url)
        except FactsError as exc:
            image_error = str(exc)
    return VideoFacts(
        title=answer.title,
        author_name=answer.author_name,
        duration=round(answer.duration) if answer.duration else None,
        image=image,
        image_error=image_error,
    )


def image_download(*, url: str) -> bytes:
    """A thumbnail from an allowed image host (at most IMAGE_MAX_BYTES); FactsError otherwise."""
    try:
        response = url_fetch(url, allowed_hosts=settings.VIDEO_THUMBNAIL_HOSTS, max_bytes=IMAGE_MAX_BYTES)
    except FetchError as exc:
        raise FactsError(f"Thumbnail: {exc}") from None
    if response.status != 200:
        raise FactsError(f"The thumbnail answered {response.status}.")
    return response.body


def card_images_make(*, image: bytes) -> dict[str, bytes]:
    """Catalogue card files from image bytes: {"320.webp": …, "320.jpg": …, "640.webp": …, …}.

    The bytes are decoded by videos/thumbnails.py (JPEG/PNG/WebP only, size and pixel limits) and
    re-encoded from pixels, so nothing else the host sent is ever served. ValidationError when
    the bytes are not such an image."""
    decoded = thumbnail_open(io.BytesIO(image)).convert("RGB")
    cards: dict[str, bytes] = {}
    for width in CARD_WIDTHS:
        height = max(1, round(decoded.height * width / decoded.width))
        resized = decoded.resize((width, height), Image.Resampling.LANCZOS)
        for fmt, ext in (("WEBP", "webp"), ("JPEG", "jpg")):
            out = io.BytesIO()
            resized.save(out, format=fmt, quality=82)
            cards[f"{width}.{ext}"] = out.getvalue()
    return cards


# --- Self-hosted files ---------------------------------------------------------------------------

# The demuxers ffprobe/ffmpeg may use on a local copy: MP4/MOV, Matroska/WebM, MPEG-TS. Never HLS,
# concat or the text ones: a "video" that is really a playlist would make ffmpeg open the files it
# names (and render a text file into frames).
DEMUXERS = "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,mpegts"
PLAYLIST_MAX_BYTES = 1024 * 1024
# A host declares the file's size in Content-Range; the local copy is sparse up to it (the gap
# takes no disk), but an absurd size is not written.
FILE_MAX_DECLARED_BYTES = 256 * 1024**3
CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+)")


@dataclass(frozen=True)
class LocalCopy:
    """A video on local disk for ffprobe/ffmpeg: the whole file, or its first `copied` bytes."""

    path: Path
    copied: int = 0
    # The whole file's size when the host said it (a 206 answer); None when unknown.
    total: int | None = None
    partial: bool = False

    @property
    def covered(self) -> float:
        """The share of the file copied (1.0: all of it; 0.0: unknown)."""
        if not self.partial:
            return 1.0
        return self.copied / self.total if self.total else 0.0


def _host(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


def _is_playlist(url: str) -> bool:
    return urlsplit(url).path.lower().endswith(".m3u8")


def _status_check(status: int, *, what: str) -> None:
    if status in GONE_STATUSES:
        raise FactsUnavailable(f"The {what} answered {status}: check the link.", code=f"file-{status}")
    if status >= 300:
        raise FactsError(f"The {what} answered {status}; will try again later.")


def _error_prefix(what: str) -> str:
    return what[0].upper() + what[1:]


def file_check(*, url: str) -> None:
    """Whether a file video's link answers (HEAD through videos/fetch.py): FactsUnavailable if it
    is gone, FactsError if refused or not answering. What it is comes from file_facts_get."""
    if url.startswith("/"):
        _static_path(url)
        return
    try:
        response = url_fetch(url, allowed_hosts={_host(url)}, max_bytes=0, method="HEAD")
        if response.status == 405:
            response = url_fetch(url, allowed_hosts={_host(url)}, max_bytes=1024, headers={"Range": "bytes=0-0"})
    except FetchError as exc:
        raise FactsError(f"File: {exc}") from None
    _status_check(response.status, what="file")


def _download(
    url: str, *, allowed_hosts: set[str], destination: BinaryIO, what: str, headers: dict[str, str] | None = None
) -> FetchResponse:
    """`url` into `destination` through videos/fetch.py: every hop checked, cut at
    VIDEO_FILE_FETCH_MAX_BYTES (ffprobe and a poster frame need only the start of a file)."""
    try:
        response = url_fetch(
            url,
            allowed_hosts=allowed_hosts,
            max_bytes=settings.VIDEO_FILE_FETCH_MAX_BYTES,
            headers=headers,
            destination=destination,
            truncate=True,
            timeout=settings.VIDEO_FILE_FETCH_SECONDS,
        )
    except FetchError as exc:
        raise FactsError(f"{_error_prefix(what)}: {exc}") from None
    _status_check(response.status, what=what)
    return response


def _static_path(url: str) -> Path:
    """One of the site's own static files (read from disk, never fetched)."""
    static_url = "/" + settings.STATIC_URL.strip("/") + "/"
    if not url.startswith(static_url) or ".." in url:
        raise FactsError("Only the site's own /static/ files are read from disk.")
    relative = urlsplit(url).path.removeprefix(static_url)
    found = finders.find(relative)
    path = Path(found) if isinstance(found, str) else None
    if path is None and settings.STATIC_ROOT:
        candidate = Path(settings.STATIC_ROOT) / relative
        path = candidate if candidate.is_file() else None
    if path is None or not path.is_file():
        raise FactsUnavailable("The file is not among the site's static files.", code="file-404")
    return path


def _file_copy(*, url: str, workdir: Path) -> LocalCopy:
    """The file's first VIDEO_FILE_FETCH_MAX_BYTES on local disk (a static file: itself)."""
    if url.startswith("/"):
        return LocalCopy(path=_static_path(url))
    path = workdir / "file"
    cap = settings.VIDEO_FILE_FETCH_MAX_BYTES
    with path.open("wb") as out:
        # A host that ignores Range answers 200 with the whole file; the guard cuts it at the cap.
        response = _download(
            url, allowed_hosts={_host(url)}, destination=out, what="file", headers={"Range": f"bytes=0-{cap - 1}"}
        )
    match = CONTENT_RANGE.fullmatch(response.headers.get("content-range", ""))
    total = int(match[3]) if response.status == 206 and match else None
    partial = response.truncated or (total is not None and response.size < total)
    return LocalCopy(path=path, copied=response.size, total=total, partial=partial)


def _file_tail_fill(*, copy: LocalCopy, url: str, workdir: Path) -> bool:
    """Write the file's last VIDEO_FILE_FETCH_MAX_BYTES at their offset in `copy` (a sparse file of
    the whole size); False when the host did not serve them as a byte range of the same file."""
    if copy.total is None or copy.total > FILE_MAX_DECLARED_BYTES:
        return False
    tail = workdir / "tail"
    with tail.open("wb") as out:
        response = _download(
            url,
            allowed_hosts={_host(url)},
            destination=out,
            what="file",
            headers={"Range": f"bytes=-{settings.VIDEO_FILE_FETCH_MAX_BYTES}"},
        )
    match = CONTENT_RANGE.fullmatch(response.headers.get("content-range", ""))
    if response.status != 206 or match is None or int(match[3]) != copy.total:
        return False
    start = int(match[1])
    if start + response.size > copy.total:
        return False
    with copy.path.open("r+b") as out, tail.open("rb") as data:
        out.seek(start)
        shutil.copyfileobj(data, out)
    return True


def _playlist_get(uri: str, *, allowed_hosts: set[str] | None, what: str) -> m3u8.M3U8:
    """An HLS playlist, parsed (m3u8); from disk when `allowed_hosts` is None (the site's own)."""
    if allowed_hosts is None:
        data, base = _static_path(uri).read_bytes()[:PLAYLIST_MAX_BYTES], uri
    else:
        try:
            response = url_fetch(uri, allowed_hosts=allowed_hosts, max_bytes=PLAYLIST_MAX_BYTES)
        except FetchError as exc:
            raise FactsError(f"{what}: {exc}") from None
        _status_check(response.status, what=what)
        # Relative URIs resolve against where the playlist was found, redirects included.
        data, base = response.body, response.url
    try:
        text = data.decode("utf-8").removeprefix("\ufeff")
        if not text.startswith("#EXTM3U"):
            raise ValueError("no #EXTM3U")
        return m3u8.loads(text, uri=base)
    except (ValueError, m3u8.ParseError):
        raise FactsUnavailable(f"The {what} is not an HLS playlist.", code="unreadable") from None


def _segment_copy(segment: m3u8.Segment, *, allowed_hosts: set[str] | None, destination: BinaryIO) -> None:
    """The first segment (after its EXT-X-MAP initialisation section, if any) into `destination`."""
    parts: list[tuple[str, str | None]] = []
    if segment.init_section is not None:
        parts.append((segment.init_section.absolute_uri, segment.init_section.byterange))
    parts.append((segment.absolute_uri, segment.byterange))
    for uri, byterange in parts:
        if allowed_hosts is None:
            with _static_path(uri).open("rb") as data:
                destination.write(data.read(settings.VIDEO_FILE_FETCH_MAX_BYTES))
            continue
        headers = {"Range": _byterange_header(byterange)} if byterange else None
        _download(uri, allowed_hosts=allowed_hosts, destination=destination, what="HLS segment", headers=headers)


def _byterange_header(byterange: str) -> str:
    # EXT-X-BYTERANGE is "<length>[@<offset>]"; the first segment's offset defaults to 0.
    length, _, offset = byterange.partition("@")
    first = int(offset or 0)
    return f"bytes={first}-{first + int(length) - 1}"


def _hls_facts_get(*, url: str, with_image: bool, workdir: Path) -> VideoFacts:
    """An HLS stream's facts: the duration from its playlist (EXTINF sum), the rest from its first
    segment, downloaded through the guard; every playlist, variant and segment host is checked."""
    allowed_hosts = None if url.startswith("/") else {_host(url)}
    playlist = _playlist_get(url, allowed_hosts=allowed_hosts, what="HLS playlist")
    try:
        if playlist.is_variant:
            if not playlist.playlists:
                raise FactsUnavailable("The HLS playlist names no variant.", code="unreadable")
            # The first variant listed: where players start.
            variant_url = playlist.playlists[0].absolute_uri
            playlist = _playlist_get(variant_url, allowed_hosts=allowed_hosts, what="HLS variant playlist")
        if not playlist.segments:
            raise FactsUnavailable("The HLS playlist lists no segments.", code="unreadable")
        first = playlist.segments[0]
        if first.key is not None and str(first.key.method or "NONE").upper() != "NONE":
            raise FactsError("The HLS segments are encrypted; enter the duration by hand.")
        path = workdir / "segment"
        with path.open("wb") as out:
            _segment_copy(first, allowed_hosts=allowed_hosts, destination=out)
    except ValueError:  # m3u8: a URI that cannot be made absolute
        raise FactsUnavailable("The HLS playlist names a segment it does not locate.", code="unreadable") from None
    # A live playlist (no EXT-X-ENDLIST) has no duration yet.
    seconds = sum(float(s.duration or 0) for s in playlist.segments) if playlist.is_endlist else 0.0
    facts = _local_facts_get(copy=LocalCopy(path=path), with_image=False)
    image = None
    if with_image:
        # Within the first segment, the only one we have.
        at = min(seconds * 0.1, float(first.duration or 0) / 2)
        image = poster_frame_grab(path=path, at_seconds=at, decode_to=True)
    return dataclasses.replace(
        facts, duration=round(seconds) if 0 < seconds <= MAX_DURATION_SECONDS else None, image=image
    )


def _local_options() -> list[str]:
    # ffprobe/ffmpeg open nothing but the local file: no network protocol, no demuxer that opens
    # other files. Every byte they read came through videos/fetch.py.
    return ["-protocol_whitelist", "file", "-format_whitelist", DEMUXERS]


def file_probe(*, path: Path) -> dict[str, object]:
    """ffprobe's JSON for the local file `path`; FactsUnavailable when it is not a readable video."""
    command = [
        settings.FFPROBE_BINARY,
        "-v",
        "error",
        *_local_options(),
        "-probesize",
        "5000000",
        "-analyzeduration",
        "5000000",
        "-print_format",
        "json",
        "-show_entries",
        # The rotation: a portrait phone video is stored landscape, turned when shown (videos/media.py).
        "format=duration:stream=codec_type,codec_name,pix_fmt,width,height:stream_tags=rotate:stream_side_data=rotation",
        "-i",
        str(path),
    ]
    try:
        done = subprocess.run(command, capture_output=True, timeout=PROBE_TIMEOUT_SECONDS, check=False)  # noqa: S603
    except subprocess.TimeoutExpired:
        raise FactsError(f"ffprobe did not finish within {PROBE_TIMEOUT_SECONDS} s.") from None
    except FileNotFoundError:
        raise FactsError("ffprobe is not installed (bin/ffmpeg installs it).") from None
    if done.returncode != 0:
        raise FactsUnavailable("The file is not a video ffprobe can read.", code="unreadable")
    try:
        result = json.loads(done.stdout)
    except ValueError:
        raise FactsUnavailable("The file is not a video ffprobe can read.", code="unreadable") from None
    return result if isinstance(result, dict) else {}


def poster_frame_grab(*, path: Path, at_seconds: float, decode_to: bool = False) -> bytes | None:
    """A JPEG frame at `at_seconds` of the local file `path`; None on failure.

    ffmpeg seeks by the file's index, or with `decode_to` decodes from the start and drops frames
    until then (an MPEG-TS segment has no index to seek by; it is a few seconds long)."""
    seek = ["-ss", f"{at_seconds:.2f}"]
    command = [
        settings.FFMPEG_BINARY,
        "-v",
        "error",
        *_local_options(),
        *([] if decode_to else seek),
        "-i",
        str(path),
        *(seek if decode_to else []),
        "-frames:v",
        "1",
        "-f",
        "image2",
        "-c:v",
        "mjpeg",
        "pipe:1",
    ]
    try:
        done = subprocess.run(command, capture_output=True, timeout=PROBE_TIMEOUT_SECONDS, check=False)  # noqa: S603
    except (subprocess.TimeoutExpired, FileNotFoundError):
        return None
    if done.returncode != 0 or not done.stdout or len(done.stdout) > FRAME_MAX_BYTES:
        return None
    return done.stdout


def _local_facts_get(*, copy: LocalCopy, with_image: bool) -> VideoFacts:
    probe = file_probe(path=copy.path)
    streams = [s for s in probe.get("streams", []) if isinstance(s, dict)]  # type: ignore[attr-defined]
    video = next((s for s in streams if s.get("codec_type") == "video"), None)
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
    if video is None:
        raise FactsUnavailable("The file has no video stream.", code="unreadable")
    fmt = probe.get("format")
    try:
        seconds = float(fmt.get("duration", 0)) if isinstance(fmt, dict) else 0.0
    except (TypeError, ValueError):
        seconds = 0.0
    duration = round(seconds) if 0 < seconds <= MAX_DURATION_SECONDS else None
    image = None
    if with_image and seconds > 0:
        # ~10 % in; from a partial copy, well inside the share copied (at a steady bitrate).
        image = poster_frame_grab(path=copy.path, at_seconds=seconds * min(0.1, copy.covered / 2))
    return VideoFacts(
        duration=duration,
        width=_positive(video.get("width")),
        height=_positive(video.get("height")),
        video_codec=str(video.get("codec_name") or "")[:32],
        audio_codec=str(audio.get("codec_name") or "")[:32] if audio else "",
        image=image,
    )


def file_facts_get(*, url: str, with_image: bool) -> VideoFacts:
    """A file video's facts, read by ffprobe/ffmpeg from a local copy made through videos/fetch.py
    (an HLS stream: its playlists parsed here, its first segment copied)."""
    with tempfile.TemporaryDirectory(prefix="watchpoint-facts-") as directory:
        workdir = Path(directory)
        if _is_playlist(url):
            return _hls_facts_get(url=url, with_image=with_image, workdir=workdir)
        copy = _file_copy(url=url, workdir=workdir)
        try:
            return _local_facts_get(copy=copy, with_image=with_image)
        except FactsUnavailable:
            if not copy.partial:
                raise
        # Not readable from its first bytes: its index (an MP4's moov) may be at its end.
        if not _file_tail_fill(copy=copy, url=url, workdir=workdir):
            raise FactsError(
                f"The file is not readable from its first {settings.VIDEO_FILE_FETCH_MAX_BYTES // 2**20} MB "
                "and its host does not serve its last bytes; will try again later."
            )
        return _local_facts_get(copy=copy, with_image=with_image)


def _positive(value: object) -> int | None:
    return value if isinstance(value, int) and 0 < value < 100_000 else None


def video_facts_read(*, provider: str, external_id: str, with_image: bool) -> VideoFacts:
    """Everything the server can read about a video; FactsUnavailable or FactsError otherwise."""
    if provider == "file":
        return file_facts_get(url=external_id, with_image=with_image)
    return oembed_facts_get(provider=provider, external_id=external_id, with_image=with_image)
