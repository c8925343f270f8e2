"""Content-Security-Policy for every response (Django 5.2 has no built-in CSP).

The policy allows exactly what the pages use: the site's own static files, and for each video
provider the origin of its player script and of its player frame. Nothing inline: templates pass
data to scripts in data- attributes. A self-hosted video's file origin is added for the one
response that plays it (a view sets `response.csp_media_sources`).

Those origins come from the database (what staff pasted), so `policy_header` puts a source into the
header only once `csp_source_validate` has read it as exactly scheme://host[:port]: a value holding a
space, ";" or a quote (which would start another source, directive or keyword) is dropped and logged.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import re
from collections.abc import Callable, Iterable

from django.http import HttpRequest, HttpResponse

logger = logging.getLogger(__name__)

SELF = "'self'"

# Scripts: YouTube's iframe_api loader (which loads its widget API from the same origin), Vimeo's
# player.js, Wistia's E-v1.js (the `_wq` API; it drives the fast.wistia.net iframe by postMessage).
PROVIDER_SCRIPT_ORIGINS = ("https://www.youtube.com", "https://player.vimeo.com", "https://fast.wistia.com")
# Frames: privacy-enhanced YouTube, Vimeo's player, Wistia's iframe embed.
PROVIDER_FRAME_ORIGINS = ("https://www.youtube-nocookie.com", "https://player.vimeo.com", "https://fast.wistia.net")
# None: every thumbnail is uploaded by staff or downloaded by the server (videos/facts.py) and
# served by us, so no provider learns who browses the catalogue.
PROVIDER_IMAGE_ORIGINS: tuple[str, ...] = ()
# Forms whose answer redirects to Stripe's hosted pages (billing: Checkout, the Customer Portal);
# browsers apply form-action to the redirect too.
STRIPE_HOSTED_ORIGINS = ("https://checkout.stripe.com", "https://billing.stripe.com")

BASE_POLICY: dict[str, tuple[str, ...]] = {
    "default-src": (SELF,),
    "script-src": (SELF, *PROVIDER_SCRIPT_ORIGINS),
    "frame-src": PROVIDER_FRAME_ORIGINS,
    "img-src": (SELF, "data:", *PROVIDER_IMAGE_ORIGINS),
    # blob: is how hls.js hands Media Source buffers to <video>.
    "media-src": (SELF, "blob:"),
    "connect-src": (SELF,),
    "worker-src": (SELF, "blob:"),
    "style-src": (SELF,),
    "font-src": (SELF,),
    "object-src": ("'none'",),
    "base-uri": (SELF,),
    "form-action": (SELF, *STRIPE_HOSTED_ORIGINS),
    "frame-ancestors": ("'none'",),
}


# scheme://host[:port], nothing before or after: a DNS name (letters, digits, hyphens, dots), an
# IPv4 address or a bracketed IPv6 address; checked again below with the ipaddress module.
SOURCE = re.compile(
    r"(?P<scheme>https?)://"
    r"(?P<host>(?:(?!-)[a-z0-9-]{1,63}(?<!-)\.)*(?!-)[a-z0-9-]{1,63}(?<!-)|\[[0-9a-f:.]{2,45}\])"
    r"(?::(?P<port>[0-9]{1,5}))?"
)


class BadSource(ValueError):
    """Not a scheme://host[:port] source this policy would put in a header."""


def csp_source_validate(value: str) -> str:
    """`value` as a CSP host source (lower-case scheme://host[:port]); BadSource for anything else."""
    if not isinstance(value, str) or len(value) > 300:
        raise BadSource("not a short string")
    candidate = value.lower()
    match = SOURCE.fullmatch(candidate)
    if match is None:
        raise BadSource(f"{value!r} is not scheme://host[:port]")
    host, port = match["host"], match["port"]
    if host.startswith("["):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            raise BadSource(f"{value!r} has a malformed IPv6 address") from None
    if port is not None and not 0 < int(port) <= 65535:
        raise BadSource(f"{value!r} has a port out of range")
    return candidate


def csp_sources_clean(values: Iterable[str]) -> tuple[str, ...]:
    """The valid sources among `values`; the others are logged and left out of the header."""
    clean: list[str] = []
    for value in values:
        try:
            clean.append(csp_source_validate(value))
        except BadSource as exc:
            logger.warning("CSP source refused: %s", exc)
    return tuple(clean)


def policy_header(*, media_sources: Iterable[str] = ()) -> str:
    media_sources = tuple(media_sources)
    if not media_sources:  # every response but a self-hosted video's watch page: built once
        return _base_header()
    return _header(media_sources=media_sources)


@functools.cache
def _base_header() -> str:
    return _header(media_sources=())


def _header(*, media_sources: Iterable[str]) -> str:
    policy = dict(BASE_POLICY)
    media_sources = csp_sources_clean(media_sources)
    if media_sources:
        # hls.js fetches playlists and segments with XHR, so the file origin is a connect source too.
        policy["media-src"] = (*policy["media-src"], *media_sources)
        policy["connect-src"] = (*policy["connect-src"], *media_sources)
    return "; ".join(f"{name} {' '.join(dict.fromkeys(values))}" for name, values in policy.items())


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = policy_header(
                media_sources=getattr(response, "csp_media_sources", ())
            )
        return response
