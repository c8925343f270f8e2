from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from videos.selectors import video_published_list


def catalogue(request: HttpRequest) -> HttpResponse:
    return render(request, "videos/catalogue.html", {"videos": video_published_list()[:48]})


def watch(request: HttpRequest, slug: str) -> HttpResponse:
    video = get_object_or_404(video_published_list(), slug=slug)
    return render(request, "videos/watch.html", {"video": video})
