"""A stand-in HTTPS server for the providers' oEmbed endpoints, their image hosts and file hosts.

There is no internet here. Each test starts one threading HTTPS server on 127.0.0.1 with a
self-signed certificate made at test time (`cryptography`), and points the settings at it
(VIDEO_OEMBED_ENDPOINTS, VIDEO_THUMBNAIL_HOSTS, VIDEO_FETCH_CA_FILE for our TLS checks and for
ffprobe's). It is real HTTPS, so the code under test runs the production path (TLS verification,
https-only): the only test-only setting is VIDEO_FETCH_ALLOW_PRIVATE (127.0.0.1 is loopback).

What it serves, per test:
- `/oembed/<provider>?url=<page URL>&format=json`: `oembed[page URL]` (a dict as JSON, or a status);
  404 for unknown pages, as the providers answer for removed videos;
- `files[path]`: bytes (with Range support, as any file host or CDN) or a status;
- `redirects[path]`: a 302 to that location;
- `get_redirects[path]`: a 302 to that location on GET only, while HEAD answers 200 as if the file
  were there (a host that shows a checker one thing and a reader another).
`requests` lists every (method, path) served, so tests count work instead of timing it; `ranges`
every (path, Range header) asked for.
The answers follow each provider's documented oEmbed shape (oembed.com; YouTube: title,
author_name, thumbnail_url, no duration; Vimeo: + duration, video_id; Wistia: + duration).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import re
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_MP4 = (ROOT / "static" / "video" / "sample.mp4").read_bytes()
# The same clip as HLS: a media playlist of three 2-second MPEG-TS segments.
SAMPLE_HLS_SEGMENTS = [(ROOT / "static" / "video" / "hls" / f"sample-0{i}.ts").read_bytes() for i in range(3)]
CONTENT_TYPES = {".mp4": "video/mp4", ".m3u8": "application/vnd.apple.mpegurl", ".ts": "video/mp2t"}


def self_signed_write(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost (and its key), valid for a day."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "watchpoint test stand-in")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.IPv4Address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "standin-cert.pem", directory / "standin-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


@dataclass
class StandIn:
    origin: str = ""
    ca_file: str = ""
    oembed: dict[str, dict[str, Any] | int] = field(default_factory=dict)
    files: dict[str, bytes | int] = field(default_factory=dict)
    redirects: dict[str, str] = field(default_factory=dict)
    get_redirects: dict[str, str] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    ranges: list[tuple[str, str]] = field(default_factory=list)

    def url(self, path: str) -> str:
        return f"{self.origin}{path}"

    def count(self, prefix: str) -> int:
        return sum(1 for _, path in self.requests if path.startswith(prefix))


def _handler(state: StandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_HEAD(self) -> None:
            self._serve(head=True)

        def do_GET(self) -> None:
            self._serve(head=False)

        def _send(
            self, status: int, body: bytes, content_type: str, head: bool, extra: dict[str, str] | None = None
        ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for key, value in (extra or {}).items():
                self.send_header(key, value)
            self.end_headers()
            if not head:
                self.wfile.write(body)

        def _serve(self, *, head: bool) -> None:
            parts = urlsplit(self.path)
            state.requests.append((self.command, parts.path))
            if parts.path in state.redirects:
                self._send(302, b"", "text/plain", head, {"Location": state.redirects[parts.path]})
                return
            if parts.path in state.get_redirects:
                if head:
                    self._send(200, SAMPLE_MP4, "video/mp4", head, {"Accept-Ranges": "bytes"})
                else:
                    self._send(302, b"", "text/plain", head, {"Location": state.get_redirects[parts.path]})
                return
            if parts.path.startswith("/oembed/"):
                page = (parse_qs(parts.query).get("url") or [""])[0]
                answer = state.oembed.get(page, 404)
                if isinstance(answer, int):
                    self._send(answer, b"Not Found" if answer == 404 else b"", "text/html", head)
                else:
                    self._send(200, json.dumps(answer).encode(), "application/json", head)
                return
            content = state.files.get(parts.path, 404)
            if isinstance(content, int):
                self._send(content, b"", "text/plain", head)
                return
            kind = CONTENT_TYPES.get(Path(parts.path).suffix, "image/jpeg")
            asked = self.headers.get("Range", "")
            if asked:
                state.ranges.append((parts.path, asked))
            match = re.fullmatch(r"bytes=(\d*)-(\d*)", asked)
            if match is None or match.group(0) == "bytes=-":
                self._send(200, content, kind, head, {"Accept-Ranges": "bytes"})
                return
            if match.group(1):
                start = int(match.group(1))
                end = min(int(match.group(2)) if match.group(2) else len(content) - 1, len(content) - 1)
            else:  # the last N bytes (RFC 9110 §14.1.1)
                start, end = max(0, len(content) - int(match.group(2))), len(content) - 1
            self._send(
                206,
                content[start : end + 1],
                kind,
                head,
                {"Accept-Ranges": "bytes", "Content-Range": f"bytes {start}-{end}/{len(content)}"},
            )

    return Handler


def standin_start(directory: Path) -> tuple[StandIn, ThreadingHTTPServer]:
    cert, key = self_signed_write(directory)
    state = StandIn(ca_file=str(cert))
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    state.origin = f"https://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return state, server


def standin_settings(state: StandIn) -> dict[str, Any]:
    return {
        "VIDEO_OEMBED_ENDPOINTS": {p: f"{state.origin}/oembed/{p}" for p in ("youtube", "vimeo", "wistia")},
        "VIDEO_THUMBNAIL_HOSTS": ("127.0.0.1",),
        "VIDEO_FETCH_CA_FILE": state.ca_file,
    }


def standin_env(state: StandIn) -> dict[str, str]:
    """The environment that points a spawned worker (config/settings_test.py) at this stand-in."""
    return {"VIDEO_TEST_STANDIN_ORIGIN": state.origin, "VIDEO_TEST_CA_FILE": state.ca_file}


@pytest.fixture(name="standin")
def standin_fixture(tmp_path: Path, settings: Any) -> Iterator[StandIn]:
    """A running stand-in, with the settings pointing at it, and a JPEG thumbnail at /img/thumb.jpg."""
    state, server = standin_start(tmp_path)
    for name, value in standin_settings(state).items():
        setattr(settings, name, value)
    state.files["/img/thumb.jpg"] = jpeg_bytes()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def jpeg_bytes(width: int = 1280, height: int = 720) -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 40, 60)).save(out, format="JPEG")
    return out.getvalue()


def vimeo_answer(
    state: StandIn, *, video_id: int = 76979871, title: str = "The Vimeo player", duration: int = 62
) -> dict[str, Any]:
    """Vimeo's documented oEmbed JSON (developer.vimeo.com/api/oembed/videos)."""
    return {
        "type": "video",
        "version": "1.0",
        "provider_name": "Vimeo",
        "provider_url": "https://vimeo.com/",
        "title": title,
        "author_name": "Vimeo Staff",
        "author_url": "https://vimeo.com/staff",
        "is_plus": "0",
        "account_type": "live_premium",
        "html": f'<iframe src="https://player.vimeo.com/video/{video_id}" width="640" height="360"></iframe>',
        "width": 640,
        "height": 360,
        "duration": duration,
        "description": "",
        "thumbnail_url": state.url("/img/thumb.jpg"),
        "thumbnail_width": 1280,
        "thumbnail_height": 720,
        "upload_date": "2013-10-15 14:08:29",
        "video_id": video_id,
        "uri": f"/videos/{video_id}",
    }


def youtube_answer(state: StandIn, *, title: str = "Big Buck Bunny") -> dict[str, Any]:
    """YouTube's oEmbed JSON: no duration."""
    return {
        "title": title,
        "author_name": "Blender",
        "author_url": "https://www.youtube.com/@BlenderOfficial",
        "type": "video",
        "height": 113,
        "width": 200,
        "version": "1.0",
        "provider_name": "YouTube",
        "provider_url": "https://www.youtube.com/",
        "thumbnail_height": 360,
        "thumbnail_width": 480,
        "thumbnail_url": state.url("/img/thumb.jpg"),
        "html": '<iframe width="200" height="113" src="https://www.youtube.com/embed/aqz-KE-bpKQ?feature=oembed"></iframe>',
    }


def wistia_answer(state: StandIn, *, title: str = "Wistia demo", duration: float = 95.2) -> dict[str, Any]:
    """Wistia's oEmbed JSON (docs.wistia.com "Wistia and oEmbed"), with its `duration`."""
    return {
        "version": "1.0",
        "type": "video",
        "html": '<iframe src="https://fast.wistia.net/embed/iframe/e4a27b971d" width="640" height="360"></iframe>',
        "width": 640,
        "height": 360,
        "provider_name": "Wistia, Inc.",
        "provider_url": "https://wistia.com",
        "title": title,
        "thumbnail_url": state.url("/img/thumb.jpg"),
        "thumbnail_width": 960,
        "thumbnail_height": 540,
        "duration": duration,
    }


def hls_media_playlist(segment_uris: list[str], *, seconds: float = 2.0, ended: bool = True) -> bytes:
    """An HLS media playlist (RFC 8216 §4.3.3) of `segment_uris`, each `seconds` long."""
    lines = ["#EXTM3U", "#EXT-X-VERSION:3", f"#EXT-X-TARGETDURATION:{round(seconds)}", "#EXT-X-MEDIA-SEQUENCE:0"]
    for uri in segment_uris:
        lines += [f"#EXTINF:{seconds:.6f},", uri]
    if ended:
        lines.append("#EXT-X-ENDLIST")
    return ("\n".join(lines) + "\n").encode()


def hls_master_playlist(variant_uris: list[str]) -> bytes:
    """An HLS master playlist (RFC 8216 §4.3.4) naming `variant_uris`, lowest bandwidth first."""
    lines = ["#EXTM3U"]
    for i, uri in enumerate(variant_uris):
        lines += [f"#EXT-X-STREAM-INF:BANDWIDTH={(i + 1) * 400_000},RESOLUTION=320x180", uri]
    return ("\n".join(lines) + "\n").encode()
