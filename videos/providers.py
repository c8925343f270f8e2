"""Recognise a pasted video URL: which provider hosts it, its canonical id, and where to start.

One function, `parse_video_url`, serves the admin, forms and management commands alike. It works on
the parts `urllib.parse` splits out (scheme, host, path segments, query, fragment) so that extra
query parameters, `www.`/`m.` hosts or a trailing slash never change the answer; the small regexes
below only validate single id segments, never a whole URL.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qs, urlsplit, urlunsplit

ProviderName = Literal["youtube", "vimeo", "wistia", "file"]

ACCEPTED = (
    "Paste a YouTube link (youtube.com/watch?v=…, youtu.be/…, /embed/, /shorts/, /live/, "
    "youtube-nocookie.com), a Vimeo link (vimeo.com/<id>, player.vimeo.com/video/<id>), a Wistia link "
    "(<account>.wistia.com/medias/<id>, fast.wistia.net/embed/iframe/<id>, wi.st/medias/<id>) or an "
    "https:// link to a .mp4, .webm or .m3u8 file."
)

YOUTUBE_ID = re.compile(r"[A-Za-z0-9_-]{11}")
VIMEO_ID = re.compile(r"[0-9]{6,12}")
VIMEO_HASH = re.compile(r"[0-9a-f]{6,20}")
WISTIA_ID = re.compile(r"[a-z0-9]{10}")
# "90", "90s", "1m30s", "1h2m3s" (YouTube's t=) and Vimeo's "#t=1m30s".
TIMESTAMP = re.compile(r"(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?(?:(?P<s>\d+)s?)?")
# "?t=" comes from anyone's link: a long digit string would make int() raise (Python refuses to
# convert more than 4,300 digits) or cost CPU, so anything longer than "23h59m59s" with some leading
# zeros, or later than a day into a video, is unreadable rather than an error.
MAX_TIMESTAMP_CHARS = 16
MAX_TIMESTAMP_SECONDS = 24 * 3600

YOUTUBE_HOSTS = {"youtube.com", "m.youtube.com", "music.youtube.com", "youtube-nocookie.com"}
VIMEO_HOSTS = {"vimeo.com", "player.vimeo.com"}
FILE_EXTENSIONS = (".mp4", ".webm", ".m3u8")
# A self-hosted file's origin goes into the Content-Security-Policy header of its watch page, where
# whitespace, ";" and "," separate sources and directives and quotes make keywords: none of them (nor
# backslashes, angle brackets or control characters) may appear anywhere in a file URL.
FILE_URL_FORBIDDEN = re.compile(r"[\s;,'\"`\\<>\x00-\x1f\x7f]")
HOST_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
PORT = re.compile(r"[0-9]{1,5}")


class UnsupportedVideoURL(ValueError):
    """The URL is not one we can embed; the message says what is accepted."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"{reason} {ACCEPTED}")
        self.reason = reason


@dataclass(frozen=True, slots=True)
class VideoSource:
    provider: ProviderName
    # The provider's canonical id: YouTube's 11 characters, Vimeo's number (with ":<hash>" for
    # unlisted videos, which need the hash to embed), Wistia's 10-character hashed id; for
    # self-hosted files, the normalised URL.
    external_id: str
    start: int | None = None


def parse_timestamp(value: str | None) -> int | None:
    """Seconds from "90", "90s", "1m30s" or "1h2m3s"; None when absent, empty or unreadable."""
    if not value or not isinstance(value, str):
        return None
    value = value.strip().lower()
    if len(value) > MAX_TIMESTAMP_CHARS or not value.isascii():
        return None
    match = TIMESTAMP.fullmatch(value)
    if match is None or not any(match.groupdict().values()):
        return None
    h, m, s = (int(match.group(k) or 0) for k in ("h", "m", "s"))
    seconds = h * 3600 + m * 60 + s
    if seconds > MAX_TIMESTAMP_SECONDS:
        return None
    return seconds or None


def parse_video_url(url: str) -> VideoSource:
    """Provider, canonical id and start time for a pasted URL; `UnsupportedVideoURL` otherwise."""
    if not isinstance(url, str) or not url.strip():
        raise UnsupportedVideoURL("The URL is empty.")
    raw = url.strip()
    if "://" not in raw and not raw.lower().startswith(("javascript:", "data:", "file:")):
        # People paste "youtu.be/abc" without a scheme; treat it as https.
        raw = "https://" + raw
    try:
        parts = urlsplit(raw)
        host = (parts.hostname or "").lower()
        parts.port  # noqa: B018 (raises ValueError on a malformed port)
    except ValueError as exc:
        raise UnsupportedVideoURL("The URL is malformed.") from exc
    if parts.scheme.lower() not in {"http", "https"}:
        raise UnsupportedVideoURL(f"Links starting with {parts.scheme or 'nothing'}: are not accepted.")
    if not host:
        raise UnsupportedVideoURL("The URL has no host.")
    if parts.username or parts.password:
        raise UnsupportedVideoURL("Links with a user name or password are not accepted.")
    bare_host = host.removeprefix("www.")
    segments = [s for s in parts.path.split("/") if s]
    query = parse_qs(parts.query)

    if bare_host in YOUTUBE_HOSTS or bare_host == "youtu.be":
        return _youtube(bare_host, segments, query, parts.fragment)
    if bare_host in VIMEO_HOSTS:
        return _vimeo(bare_host, segments, query, parts.fragment)
    if bare_host == "wi.st" or bare_host.endswith((".wistia.com", ".wistia.net")):
        return _wistia(bare_host, segments, query)
    if parts.path.lower().endswith(FILE_EXTENSIONS):
        if parts.scheme.lower() != "https":
            raise UnsupportedVideoURL("Self-hosted files must be served over https.")
        if FILE_URL_FORBIDDEN.search(raw):
            raise UnsupportedVideoURL(
                "A file link may not contain spaces, control characters, quotes, backslashes, < >, ; or ,."
            )
        # Normalised: lower-case scheme and host, no fragment; the query is kept (signed URLs).
        netloc = file_netloc_normalise(parts.netloc)
        normalised = urlunsplit(("https", netloc, parts.path, parts.query, ""))
        return VideoSource("file", normalised, _start(query, parts.fragment))
    raise UnsupportedVideoURL(f"{host} is not a supported video host.")


def file_netloc_normalise(netloc: str) -> str:
    """`host[:port]` of a file URL, lower-case and IDNA-encoded; `UnsupportedVideoURL` unless the
    host is a DNS name of letters, digits and hyphens, an IPv4 address or a bracketed IPv6 address,
    and the port is a number from 1 to 65535."""
    if "@" in netloc:
        raise UnsupportedVideoURL("Links with a user name or password are not accepted.")
    if netloc.startswith("["):
        literal, bracket, port = netloc[1:].partition("]")
        if not bracket or (port and not port.startswith(":")):
            raise UnsupportedVideoURL("The URL is malformed.")
        port = port[1:] if port else ""
        try:
            host = f"[{ipaddress.IPv6Address(literal).compressed}]"
        except ValueError as exc:
            raise UnsupportedVideoURL("The URL's host is not a valid address.") from exc
    else:
        name, _, port = netloc.partition(":")
        host = _dns_host(name)
    if port:
        if not PORT.fullmatch(port) or not 0 < int(port) <= 65535:
            raise UnsupportedVideoURL("The URL is malformed (bad port).")
        return f"{host}:{int(port)}"
    return host


def _dns_host(name: str) -> str:
    try:
        return str(ipaddress.IPv4Address(name))
    except ValueError:
        pass
    try:
        # Python's IDNA codec: "bücher.example" -> "xn--bcher-kva.example"; refuses empty labels.
        ascii_name = name.rstrip(".").encode("idna").decode("ascii").lower()
    except UnicodeError as exc:
        raise UnsupportedVideoURL("The URL's host is not a valid host name.") from exc
    labels = ascii_name.split(".")
    if len(ascii_name) > 253 or not all(HOST_LABEL.fullmatch(label) for label in labels):
        raise UnsupportedVideoURL("The URL's host is not a valid host name.")
    return ascii_name


def _first(query: dict[str, list[str]], key: str) -> str | None:
    values = query.get(key)
    return values[0] if values else None


def _start(query: dict[str, list[str]], fragment: str) -> int | None:
    for key in ("t", "start", "time_continue"):
        seconds = parse_timestamp(_first(query, key))
        if seconds is not None:
            return seconds
    # "#t=1m30s" (Vimeo, and the media-fragment form for files).
    fragment_query = parse_qs(fragment)
    return parse_timestamp(_first(fragment_query, "t"))


def _youtube(host: str, segments: list[str], query: dict[str, list[str]], fragment: str) -> VideoSource:
    candidate: str | None = None
    if host == "youtu.be":
        candidate = segments[0] if segments else None
    elif segments and segments[0] == "watch":
        candidate = _first(query, "v")
    elif len(segments) >= 2 and segments[0] in {"embed", "shorts", "live", "v", "e"}:
        candidate = segments[1]
    if candidate is None:
        if "list" in query:
            raise UnsupportedVideoURL("Playlist links are not accepted; link one video.")
        raise UnsupportedVideoURL("That YouTube link does not point at one video.")
    if not YOUTUBE_ID.fullmatch(candidate):
        raise UnsupportedVideoURL(f"{candidate!r} is not a YouTube video id (11 letters, digits, - or _).")
    return VideoSource("youtube", candidate, _start(query, fragment))


def _vimeo(host: str, segments: list[str], query: dict[str, list[str]], fragment: str) -> VideoSource:
    video_id: str | None = None
    unlisted_hash = _first(query, "h")
    if host == "player.vimeo.com":
        if len(segments) >= 2 and segments[0] == "video":
            video_id = segments[1]
    elif segments and VIMEO_ID.fullmatch(segments[0]):
        # vimeo.com/<id> and vimeo.com/<id>/<hash> (unlisted share link).
        video_id = segments[0]
        if len(segments) >= 2:
            unlisted_hash = segments[1]
    elif len(segments) >= 3 and segments[0] == "channels" and VIMEO_ID.fullmatch(segments[2]):
        video_id = segments[2]
    elif len(segments) >= 4 and segments[0] == "groups" and segments[2] == "videos":
        video_id = segments[3]
    if video_id is None:
        if segments and segments[0] in {"showcase", "album", "channels", "groups", "user"}:
            raise UnsupportedVideoURL("Vimeo showcases, channels and profiles are not accepted; link one video.")
        raise UnsupportedVideoURL("That Vimeo link does not point at one video.")
    if not VIMEO_ID.fullmatch(video_id):
        raise UnsupportedVideoURL(f"{video_id!r} is not a Vimeo video id (digits).")
    if unlisted_hash is not None and not VIMEO_HASH.fullmatch(unlisted_hash):
        raise UnsupportedVideoURL(f"{unlisted_hash!r} is not a Vimeo unlisted-link hash.")
    external_id = f"{video_id}:{unlisted_hash}" if unlisted_hash else video_id
    return VideoSource("vimeo", external_id, _start(query, fragment))


def _wistia(host: str, segments: list[str], query: dict[str, list[str]]) -> VideoSource:
    candidate: str | None = None
    media_host = host == "wi.st" or (host.endswith(".wistia.com") and host != "fast.wistia.com")
    embed_host = host in {"fast.wistia.net", "fast.wistia.com"}
    if media_host and len(segments) >= 2 and segments[0] == "medias":
        candidate = segments[1]
    elif embed_host and len(segments) >= 3 and segments[0] == "embed" and segments[1] in {"iframe", "medias"}:
        candidate = segments[2].removesuffix(".jsonp")
    if candidate is None:
        raise UnsupportedVideoURL("That Wistia link does not point at one media.")
    if not WISTIA_ID.fullmatch(candidate):
        raise UnsupportedVideoURL(f"{candidate!r} is not a Wistia media id (10 lower-case letters or digits).")
    return VideoSource("wistia", candidate, parse_timestamp(_first(query, "time") or _first(query, "wtime")))
