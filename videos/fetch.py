"""The one way the server fetches anything from another host for the catalogue (SSRF guard).

Staff paste URLs, and oEmbed answers name thumbnail URLs: a fetch from our servers must never
reach our own network (Redis, Cassandra, cloud metadata at 169.254.169.254) or any host the caller
did not expect. `url_fetch`:
- takes only https:// URLs without credentials, whose host is in the caller's allow-list (the
  providers' oEmbed and image hosts, or the staff-entered file URL's own host);
- resolves the host once, refuses it if any address is private, loopback, link-local, multicast,
  reserved or unspecified (unless VIDEO_FETCH_ALLOW_PRIVATE, True only in config/settings_test.py),
  IPv6 forms carrying an IPv4 address included: the IPv4 address inside is checked (IPv4-mapped,
  NAT64 64:ff9b::/96, 6to4), or the form is refused when it cannot be (IPv4-compatible, local-use
  NAT64, Teredo); and connects to that checked address (so a second DNS answer cannot swap it; TLS
  still verifies the certificate for the host name);
- follows at most MAX_REDIRECTS redirects itself, checking every hop the same way;
- bounds time (connect CONNECT_TIMEOUT, whole fetch `timeout`, TOTAL_TIMEOUT unless the caller
  gives more) and size (`max_bytes`: refused beyond it, or cut there with `truncate`);
- can write the body to a file instead of memory (`destination`): video files are downloaded
  here, and ffprobe/ffmpeg read only that local copy (videos/facts.py), never a URL.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import BinaryIO
from urllib.parse import urljoin, urlsplit

from django.conf import settings

CONNECT_TIMEOUT = 3.0
TOTAL_TIMEOUT = 10.0
MAX_REDIRECTS = 3
OEMBED_MAX_BYTES = 64 * 1024
IMAGE_MAX_BYTES = 5 * 1024 * 1024
USER_AGENT = "Watchpoint-catalogue/1.0 (+video facts)"
REDIRECT_STATUSES = {301, 302, 303, 307, 308}


class FetchError(Exception):
    """The fetch was refused or failed; `str()` is a sentence for staff (no addresses inside)."""


@dataclass(frozen=True)
class Target:
    url: str
    host: str
    port: int
    address: str


@dataclass
class FetchResponse:
    url: str
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    # Bytes of the body read (into `body`, or into url_fetch's `destination`).
    size: int = 0
    # The body went on past `max_bytes` and was cut there (url_fetch's `truncate`).
    truncated: bool = False


# IPv6 forms that carry an IPv4 address, which Python 3.11's `is_global` calls global whatever
# IPv4 address they carry (RFC 4291 §2.5.5.1, RFC 6052, RFC 8215, RFC 3056, RFC 4380).
IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")
NAT64_WELL_KNOWN = ipaddress.IPv6Network("64:ff9b::/96")
NAT64_LOCAL_USE = ipaddress.IPv6Network("64:ff9b:1::/48")
SIX_TO_FOUR = ipaddress.IPv6Network("2002::/16")
TEREDO = ipaddress.IPv6Network("2001::/32")


def _address_allowed(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            return embedded.is_global and not embedded.is_multicast
        if ip in IPV4_COMPATIBLE or ip in NAT64_LOCAL_USE or ip in TEREDO:
            # Deprecated (no host routes ::a.b.c.d), or the IPv4 address inside cannot be told
            # (a local NAT64 prefix may be /48 to /96; a Teredo relay reaches a host behind a NAT).
            return False
    return ip.is_global and not ip.is_multicast


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address a connection to `ip` reaches: IPv4-mapped (the socket connects over IPv4),
    NAT64 well-known prefix (the gateway translates to the last 32 bits), 6to4 (the relay)."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in NAT64_WELL_KNOWN:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip.sixtofour


def url_host_check(url: str, *, allowed_hosts: Collection[str]) -> Target:
    """The checked target of `url`; FetchError unless it is https, credential-free, on an allowed
    host, and resolves only to public addresses (see the module docstring)."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        port = parts.port or 443
    except ValueError:
        raise FetchError("The address is malformed.") from None
    if parts.scheme.lower() != "https":
        raise FetchError("Only https:// addresses are fetched.")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise FetchError("Addresses with a user name or password are not fetched.")
    if not host or host not in {h.lower() for h in allowed_hosts}:
        raise FetchError(f"{host or 'That host'} is not a host we fetch from here.")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise FetchError(f"{host} could not be resolved.") from None
    addresses = [str(info[4][0]) for info in infos]
    if not addresses:
        raise FetchError(f"{host} could not be resolved.")
    if not settings.VIDEO_FETCH_ALLOW_PRIVATE and not all(_address_allowed(a) for a in addresses):
        # Every address must be public: a name answering both lets the connection pick the private one.
        raise FetchError(f"{host} points at a private or reserved network address; it is not fetched.")
    return Target(url=url, host=host, port=port, address=addresses[0])


def _ssl_context() -> ssl.SSLContext:
    cafile = settings.VIDEO_FETCH_CA_FILE or None
    return ssl.create_default_context(cafile=cafile)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """Connects to the address `url_host_check` approved, verifying TLS for the host name."""

    def __init__(self, target: Target, *, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout, context=_ssl_context())
        self._target = target

    def connect(self) -> None:
        sock = socket.create_connection((self._target.address, self._target.port), timeout=CONNECT_TIMEOUT)
        self.sock = self._context.wrap_socket(sock, server_hostname=self._target.host)  # type: ignore[attr-defined]


def url_fetch(
    url: str,
    *,
    allowed_hosts: Collection[str],
    max_bytes: int,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    destination: BinaryIO | None = None,
    truncate: bool = False,
    timeout: float = TOTAL_TIMEOUT,
) -> FetchResponse:
    """GET (or HEAD) `url` within the guard's bounds; the final response, whatever its status.

    The body is in `body`, or written to `destination` when given (only a 2xx body is written).
    FetchError when a hop is refused, the host does not answer within `timeout`, there are too
    many redirects, or the body is larger than `max_bytes` (unless `truncate`: then the first
    `max_bytes` are kept and the response says `truncated`).
    """
    deadline = time.monotonic() + timeout
    current = url
    for _ in range(MAX_REDIRECTS + 1):
        target = url_host_check(current, allowed_hosts=allowed_hosts)
        response = _fetch_once(
            target,
            method=method,
            headers=headers or {},
            max_bytes=max_bytes,
            deadline=deadline,
            destination=destination,
            truncate=truncate,
            timeout=timeout,
        )
        location = response.headers.get("location")
        if response.status in REDIRECT_STATUSES and location:
            current = urljoin(current, location)
            continue
        return response
    raise FetchError(f"More than {MAX_REDIRECTS} redirects.")


def _fetch_once(
    target: Target,
    *,
    method: str,
    headers: dict[str, str],
    max_bytes: int,
    deadline: float,
    destination: BinaryIO | None,
    truncate: bool,
    timeout: float,
) -> FetchResponse:
    remaining = deadline - time.monotonic()
    too_slow = f"{target.host} did not answer within {timeout:.0f} s."
    if remaining <= 0:
        raise FetchError(too_slow)
    parts = urlsplit(target.url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    connection = _PinnedHTTPSConnection(target, timeout=min(remaining, TOTAL_TIMEOUT))
    too_large = f"The answer from {target.host} is larger than {max_bytes // 1024} KB."
    try:
        connection.request(method, path, headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity", **headers})
        raw = connection.getresponse()
        response = FetchResponse(url=target.url, status=raw.status, headers={k.lower(): v for k, v in raw.getheaders()})
        if method == "HEAD" or raw.status in REDIRECT_STATUSES:
            return response
        declared = response.headers.get("content-length", "")
        if not truncate and declared.isdigit() and int(declared) > max_bytes:
            raise FetchError(too_large)
        # An error page is never written where the caller expects the file.
        sink = destination if destination is not None and 200 <= raw.status < 300 else None
        chunks: list[bytes] = []
        while True:
            if time.monotonic() > deadline:
                raise FetchError(too_slow)
            chunk = raw.read(min(64 * 1024, max_bytes - response.size + 1))
            if not chunk:
                break
            if response.size + len(chunk) > max_bytes:
                if not truncate:
                    raise FetchError(too_large)
                chunk = chunk[: max_bytes - response.size]
                response.truncated = True
            response.size += len(chunk)
            if sink is not None:
                sink.write(chunk)
            else:
                chunks.append(chunk)
            if response.truncated:
                break
        response.body = b"".join(chunks)
        return response
    except TimeoutError:
        raise FetchError(too_slow) from None
    except ssl.SSLError:
        raise FetchError(f"{target.host} did not present a valid certificate.") from None
    except (OSError, http.client.HTTPException):
        raise FetchError(f"{target.host} could not be reached.") from None
    finally:
        connection.close()
