"""What the server reads about a video from where it is hosted (no writes here: videos/services.py).

- YouTube, Vimeo, Wistia: their public oEmbed endpoints (title, author, thumbnail URL; duration
  where the provider gives one: Vimeo and Wistia; YouTube's oEmbed has none). 401/403/404 means
  the video is gone, private or not embeddable.
- Self-hosted files: `ffprobe` (duration, dimensions, codecs) and an `ffmpeg` poster frame at
  ~10 % of the duration. The site's own files (/static/...) are read from disk.
Every fetch goes through videos/fetch.py; ffprobe/ffmpeg get a URL only after its host check.
"""

from __future__ import annotations

import io
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.contrib.staticfiles import finders
from PIL import Image
from pydantic import BaseModel, ConfigDict, field_validator
from pydantic import ValidationError as PydanticValidationError

from videos.fetch import IMAGE_MAX_BYTES, OEMBED_MAX_BYTES, FetchError, url_fetch, url_host_check
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


@dataclass(frozen=True)
class ProbeInput:
    """What ffprobe/ffmpeg open: a checked https URL, or one of the site's own static files."""

    argument: str
    protocols: str


def file_input_get(*, url: str) -> ProbeInput:
    """The checked input for a file video; FactsUnavailable if it is missing, FactsError if refused.

    A remote file is first requested by us (HEAD, redirects checked hop by hop by videos/fetch.py):
    a 404 is known at once, and ffprobe gets the final URL, after the same host check."""
    if url.startswith("/"):
        return _static_input(url)
    host = (urlsplit(url).hostname or "").lower()
    try:
        response = url_fetch(url, allowed_hosts={host}, max_bytes=0, method="HEAD")
        if response.status == 405:
            response = url_fetch(url, allowed_hosts={host}, max_bytes=1024, headers={"Range": "bytes=0-0"})
    except FetchError as exc:
        raise FactsError(f"File: {exc}") from None
    if response.status in GONE_STATUSES:
        raise FactsUnavailable(f"The file answered {response.status}: check the link.", code=f"file-{response.status}")
    if response.status >= 400:
        raise FactsError(f"The file answered {response.status}; will try again later.")
    final_host = (urlsplit(response.url).hostname or "").lower()
    try:
        url_host_check(response.url, allowed_hosts={host, final_host})
    except FetchError as exc:
        raise FactsError(f"File: {exc}") from None
    return ProbeInput(argument=response.url, protocols="https,tls,tcp")


def _static_input(url: str) -> ProbeInput:
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
    return ProbeInput(argument=str(path), protocols="file")


def _tls_options() -> list[str]:
    # ffmpeg does not verify certificates unless asked to.
    options = ["-tls_verify", "1"]
    if settings.VIDEO_FETCH_CA_FILE:
        options += ["-ca_file", settings.VIDEO_FETCH_CA_FILE]
    return options


def _input_options(source: ProbeInput) -> list[str]:
    options = ["-protocol_whitelist", source.protocols]
    if source.protocols != "file":
        # Socket I/O timeout in microseconds; the subprocess timeout bounds the whole run.
        options += ["-rw_timeout", "10000000", *_tls_options()]
    return options


def file_probe(*, source: ProbeInput) -> dict[str, object]:
    """ffprobe's JSON for `source`; FactsUnavailable when it is not a readable video."""
    command = [
        settings.FFPROBE_BINARY,
        "-v",
        "error",
        *_input_options(source),
        # Read only the headers it needs (a few MB at most), not the whole file.
        "-probesize",
        "5000000",
        "-analyzeduration",
        "5000000",
        "-print_format",
        "json",
        "-show_entries",
        "format=duration:stream=codec_type,codec_name,width,height",
        "-i",
        source.argument,
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


def poster_frame_grab(*, source: ProbeInput, at_seconds: float) -> bytes | None:
    """A JPEG frame at `at_seconds` (ffmpeg seeks by byte ranges, so little is read); None on failure."""
    command = [
        settings.FFMPEG_BINARY,
        "-v",
        "error",
        *_input_options(source),
        "-ss",
        f"{at_seconds:.2f}",
        "-i",
        source.argument,
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


def file_facts_get(*, url: str, with_image: bool) -> VideoFacts:
    source = file_input_get(url=url)
    probe = file_probe(source=source)
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
    image = poster_frame_grab(source=source, at_seconds=seconds * 0.1) if with_image and seconds > 0 else None
    return VideoFacts(
        duration=duration or None,
        width=_positive(video.get("width")),
        height=_positive(video.get("height")),
        video_codec=str(video.get("codec_name") or "")[:32],
        audio_codec=str(audio.get("codec_name") or "")[:32] if audio else "",
        image=image,
    )


def _positive(value: object) -> int | None:
    return value if isinstance(value, int) and 0 < value < 100_000 else None


def video_facts_read(*, provider: str, external_id: str, with_image: bool) -> VideoFacts:
    """Everything the server can read about a video; FactsUnavailable or FactsError otherwise."""
    if provider == "file":
        return file_facts_get(url=external_id, with_image=with_image)
    return oembed_facts_get(provider=provider, external_id=external_id, with_image=with_image)
