"""Content-Security-Policy for every response (Django 5.2 has no built-in CSP).

The policy allows exactly what the pages use: the site's own static files, and for each video
provider the origin of its player script and of its player frame. Nothing inline: templates pass
data to scripts in data- attributes. A self-hosted video's file origin is added for the one
response that plays it (a view sets `response.csp_media_sources`).
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

SELF = "'self'"

# Scripts: YouTube's iframe_api loader (which loads its widget API from the same origin), Vimeo's
# player.js, Wistia's E-v1.js (the `_wq` API; it drives the fast.wistia.net iframe by postMessage).
PROVIDER_SCRIPT_ORIGINS = ("https://www.youtube.com", "https://player.vimeo.com", "https://fast.wistia.com")
# Frames: privacy-enhanced YouTube, Vimeo's player, Wistia's iframe embed.
PROVIDER_FRAME_ORIGINS = ("https://www.youtube-nocookie.com", "https://player.vimeo.com", "https://fast.wistia.net")
# YouTube's default thumbnails (Vimeo and Wistia ones are uploaded, so served by us).
PROVIDER_IMAGE_ORIGINS = ("https://i.ytimg.com",)

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
    "form-action": (SELF,),
    "frame-ancestors": ("'none'",),
}


def policy_header(*, media_sources: tuple[str, ...] | list[str] = ()) -> str:
    policy = dict(BASE_POLICY)
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
