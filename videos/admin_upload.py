"""The admin's resumable upload endpoints (static/js/admin/upload_progress.js drives them).

Every one is wrapped by the admin site's `admin_view`: active staff only (others are sent to the
admin login), CSRF checked on POST and PUT (the X-CSRFToken header), never cached. An upload is
its starter's: another staff member's id answers 404. The protocol is videos/uploads.py's.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import URLPattern, path, reverse
from django.views.decorators.http import require_http_methods

from config.jsonbody import BodyError, json_request_validate
from videos.models import VideoUpload
from videos.schemas import UploadStartIn
from videos.selectors import video_upload_get, video_upload_parts_stored
from videos.services import (
    UploadRefused,
    video_upload_complete,
    video_upload_part_store,
    video_upload_part_url,
    video_upload_start,
)


def _refused(message: str, status: int = 400) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


def _state(request: HttpRequest, upload: VideoUpload) -> dict[str, Any]:
    return {
        "id": str(upload.id),
        "size": upload.size,
        "part_size": upload.part_size,
        "parts": upload.part_count,
        "stored": sorted(video_upload_parts_stored(upload=upload)),
        "complete": upload.completed_at is not None,
        "url": reverse("admin:videos_video_upload", args=[upload.id]),
    }


def upload_urls(model_admin: admin.ModelAdmin[Any]) -> list[URLPattern]:
    """The endpoints, under the video admin's URLs (admin:videos_video_upload_*)."""

    def may_upload(request: HttpRequest) -> bool:
        return model_admin.has_add_permission(request) or model_admin.has_change_permission(request)

    def own(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        def wrapped(request: HttpRequest, upload_id: uuid.UUID, **kwargs: Any) -> HttpResponse:
            upload = video_upload_get(member=request.user, upload_id=upload_id) if may_upload(request) else None  # type: ignore[arg-type]
            if upload is None:
                return _refused("No such upload: start it again.", status=404)
            try:
                return view(request, upload, **kwargs)
            except UploadRefused as exc:
                return _refused(str(exc), status=409)

        return wrapped

    @require_http_methods(["POST"])
    def start(request: HttpRequest) -> HttpResponse:
        if not may_upload(request):
            return _refused("You may not upload videos.", status=403)
        try:
            body = json_request_validate(request, schema=UploadStartIn, message="send the file's name and size")
            upload = video_upload_start(member=request.user, filename=body.filename, size=body.size)  # type: ignore[arg-type]
        except BodyError as exc:
            return exc.response()
        except UploadRefused as exc:
            return _refused(str(exc))
        return JsonResponse(_state(request, upload), status=201)

    @require_http_methods(["GET"])
    def status(request: HttpRequest, upload: VideoUpload) -> HttpResponse:
        return JsonResponse(_state(request, upload))

    @require_http_methods(["GET", "PUT"])
    def part(request: HttpRequest, upload: VideoUpload, number: int) -> HttpResponse:
        here = reverse("admin:videos_video_upload_part", args=[upload.id, number])
        if request.method == "GET":
            return JsonResponse({"url": video_upload_part_url(upload=upload, number=number, local_url=here)})
        try:
            length = int(request.headers.get("Content-Length", ""))
        except ValueError:
            return _refused("Send the part's length (Content-Length).", status=411)
        # Read from the request stream in 1 MiB pieces (videos/uploads.py): never request.body.
        video_upload_part_store(upload=upload, number=number, length=length, body=request)  # type: ignore[arg-type]
        return HttpResponse(status=204)

    @require_http_methods(["POST"])
    def complete(request: HttpRequest, upload: VideoUpload) -> HttpResponse:
        video_upload_complete(upload=upload)
        return JsonResponse(_state(request, upload))

    wrap = model_admin.admin_site.admin_view
    return [
        path("upload/", wrap(start), name="videos_video_upload_start"),
        path("upload/<uuid:upload_id>/", wrap(own(status)), name="videos_video_upload"),
        path("upload/<uuid:upload_id>/part/<int:number>/", wrap(own(part)), name="videos_video_upload_part"),
        path("upload/<uuid:upload_id>/complete/", wrap(own(complete)), name="videos_video_upload_complete"),
    ]
