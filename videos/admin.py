from __future__ import annotations

import uuid
from contextvars import ContextVar
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from adminsortable2.admin import SortableAdminBase, SortableTabularInline
from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.core.validators import FileExtensionValidator
from django.db.models import Count, QuerySet
from django.http import HttpRequest, JsonResponse
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.templatetags.static import static
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join, strip_tags
from django.utils.safestring import SafeString, mark_safe
from django.utils.timesince import timesince

from config.formatting import ClockField, clock
from videos.admin_upload import upload_urls
from videos.facts import FactsError, FactsUnavailable, file_check, oembed_get
from videos.models import LadderState, Playlist, PlaylistItem, Section, Video, VideoCaption
from videos.providers import UnsupportedVideoURL
from videos.selectors import (
    ladder_url_life_seconds,
    video_file_origin,
    video_ladder_url_get,
    video_playback_problem_count,
    video_playback_problem_count_annotate,
    video_unavailable_published_list,
    video_upload_complete_get,
    video_upload_origin,
)
from videos.services import (
    SOURCE_EXTENSIONS,
    DuplicateVideo,
    video_available_set,
    video_facts_refresh,
    video_facts_refresh_enqueue,
    video_publish_set,
    video_slug_make,
    video_source_accept,
    video_source_check,
    video_transcode_cancel,
    video_transcode_enqueue,
    video_unavailable_set,
    video_upload_spend,
)
from videos.tracks import CAPTION_MAX_BYTES, captions_webvtt, chapters_parse

# Django's classes are generic only in django-stubs; subscripting them at runtime fails.
if TYPE_CHECKING:
    VideoModelForm = forms.ModelForm[Video]
    VideoModelAdmin = admin.ModelAdmin[Video]
    PlaylistModelAdmin = admin.ModelAdmin[Playlist]
    PlaylistItemInlineBase = admin.TabularInline[PlaylistItem, Playlist]
    SectionInlineBase = admin.TabularInline[Section, Playlist]
    VideoCaptionInlineBase = admin.TabularInline[VideoCaption, Video]
    VideoCaptionModelForm = forms.ModelForm[VideoCaption]
    VideoCaptionFormSetBase = forms.BaseInlineFormSet[VideoCaption, Video, VideoCaptionModelForm]
else:
    VideoModelForm = forms.ModelForm
    VideoModelAdmin = PlaylistModelAdmin = admin.ModelAdmin
    PlaylistItemInlineBase = SectionInlineBase = admin.TabularInline
    VideoCaptionInlineBase = admin.TabularInline
    VideoCaptionModelForm = forms.ModelForm
    VideoCaptionFormSetBase = forms.BaseInlineFormSet


# The session cookie of the staff member whose change page is rendering (VideoAdmin.change_view).
_preview_session: ContextVar[str] = ContextVar("videos_admin_preview_session", default="")

# Playback problems shown to staff are those of the last day (members report at most once a day).
PROBLEM_WINDOW = timedelta(hours=24)


SOURCE_HELP = (
    "A video file (MP4, MOV, MKV, WebM or MPEG-TS) to transcode for members; it can be published once "
    "its status says Ready."
)

PUBLISH_WAIT = (
    "An uploaded video can be published only once its HLS ladder is ready: save it unpublished, "
    "and publish it when its Transcoding status says Ready."
)


def upload_field() -> forms.UUIDField:
    # The token of a complete resumable upload (js/admin/upload_progress.js sends the file in parts
    # first, then the form with this instead of the file): videos/admin_upload.py.
    return forms.UUIDField(required=False, widget=forms.HiddenInput)


def source_upload_take(form: forms.ModelForm[Video]) -> None:
    """A complete resumable upload named by the form becomes the source (a storage name)."""
    upload_id = form.cleaned_data.get("upload")
    if not upload_id:
        return
    upload = video_upload_complete_get(upload_id=upload_id)
    if upload is None:
        form.add_error("source", "The upload is not complete (or was used already): choose the file again.")
        return
    form.cleaned_data["source"] = upload.name
    form.cleaned_data["upload"] = upload


def source_size_check(form: forms.ModelForm[Video]) -> None:
    """A new upload within MEDIA_UPLOAD_MAX_BYTES (nginx refuses larger bodies before they arrive)."""
    upload = form.cleaned_data.get("source")
    if upload and "source" in form.changed_data and upload.size > settings.MEDIA_UPLOAD_MAX_BYTES:
        limit = settings.MEDIA_UPLOAD_MAX_BYTES // 2**20
        form.add_error("source", f"The file is larger than the {limit} MB allowed (MEDIA_UPLOAD_MAX_MB).")
    if upload and "source" in form.changed_data and upload.size == 0:
        form.add_error("source", "The file is empty.")
    # The database refuses it too (video_published_upload_has_ladder); here it is a message, not a 500.
    if upload and form.cleaned_data.get("is_published") and not form.instance.ladder_path:
        form.add_error("is_published", PUBLISH_WAIT)


def chapters_check(form: forms.ModelForm[Video]) -> None:
    """Staff's chapter lines, against the duration on the form (or known already)."""
    if "chapters" not in form.cleaned_data:
        return
    duration = form.cleaned_data.get("duration", form.instance.duration)
    try:
        chapters_parse(text=form.cleaned_data["chapters"], duration=duration)
    except ValidationError as exc:
        form.add_error("chapters", exc)


class VideoAddForm(VideoModelForm):
    """Add by URL (staff paste a link; provider and id come from `parse_video_url`) or by
    uploading a file (transcoded by the media worker: videos/services.py `video_transcode`)."""

    url = forms.CharField(
        label="Video URL",
        max_length=500,
        required=False,
        help_text=(
            "A YouTube, Vimeo or Wistia link, or an https:// link to an .mp4, .webm or .m3u8 file. "
            "Or leave it empty and upload a file below."
        ),
        widget=forms.URLInput(attrs={"size": 80, "autofocus": True}),
    )
    upload = upload_field()

    class Meta:
        model = Video
        fields = (
            "url",
            "source",
            "upload",
            "title",
            "slug",
            "description",
            "duration",
            "start_seconds",
            "chapters",
            "thumbnail",
            "position",
            "access",
            "is_published",
        )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["slug"].required = False
        self.fields["slug"].help_text = "Leave empty to make one from the title."
        self.fields["title"].required = False
        self.fields["title"].help_text = "Leave empty to use the title YouTube, Vimeo or Wistia gives."
        self.fields["start_seconds"].help_text = "Leave empty to use the link's t= (if any)."
        self.fields["source"].help_text = SOURCE_HELP
        self.fields["source"].validators.append(FileExtensionValidator(SOURCE_EXTENSIONS))

    def clean_url(self) -> str:
        url: str = self.cleaned_data["url"]
        if not url:
            return url
        try:
            # What counts as the same video (a Vimeo link and its unlisted form) is the service's rule.
            source = video_source_check(url=url)
        except (UnsupportedVideoURL, DuplicateVideo) as exc:
            raise forms.ValidationError(str(exc)) from exc
        self.instance.provider = source.provider
        self.instance.external_id = source.external_id
        self.instance.source_url = url.strip()[:500]
        self._source_start = source.start
        return url

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        source_upload_take(self)
        source_size_check(self)
        if cleaned.get("source") and not self.has_error("source"):
            if cleaned.get("url"):
                self.add_error("url", "Paste a URL or upload a file, not both.")
                return cleaned
            # An upload: "upload:<uuid>" stands in for the URL (unique per video); no host to ask.
            self.instance.provider = Video.Provider.FILE
            self.instance.external_id = f"upload:{uuid.uuid4().hex}"
            if not cleaned.get("title"):
                self.add_error("title", "Enter a title: an uploaded file has none to read.")
            elif not cleaned.get("slug"):
                cleaned["slug"] = video_slug_make(title=cleaned["title"])
            return cleaned
        if "url" in cleaned and not cleaned["url"] and not self.has_error("source"):
            self.add_error("url", "Paste a video URL, or upload a file.")
            return cleaned
        if not cleaned.get("url"):
            return cleaned
        provider, external_id = self.instance.provider, self.instance.external_id
        # Read at once what tells staff whether the link is right: the provider's title, or that
        # the file is missing (the rest of the facts come from the background task after saving).
        try:
            if provider == Video.Provider.FILE:
                file_check(url=external_id)
            elif not cleaned.get("title"):
                cleaned["title"] = oembed_get(provider=provider, external_id=external_id).title[:200]
        except FactsUnavailable as exc:
            self.add_error("url", f"{exc} (nothing was saved).")
        except FactsError as exc:
            if not cleaned.get("title"):
                self.add_error("title", f"Enter a title: the provider's could not be read ({exc}).")
        if not cleaned.get("title") and not self.has_error("title") and not self.has_error("url"):
            self.add_error("title", "Enter a title: self-hosted files have none to read.")
        if cleaned.get("start_seconds") is None and getattr(self, "_source_start", None):
            cleaned["start_seconds"] = self._source_start
        if not cleaned.get("slug") and cleaned.get("title"):
            cleaned["slug"] = video_slug_make(title=cleaned["title"])
        return cleaned

    def clean_slug(self) -> str:
        slug: str = self.cleaned_data.get("slug") or ""
        return slug


class VideoChangeForm(VideoModelForm):
    """The change page: staff may upload a (new) source; the old ladder plays until the new one is ready."""

    upload = upload_field()

    class Meta:
        model = Video
        # The admin's fieldsets pick the rest; naming them all here would build unused fields.
        fields = ("source",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "source" in self.fields:
            self.fields["source"].help_text = SOURCE_HELP
            self.fields["source"].validators.append(FileExtensionValidator(SOURCE_EXTENSIONS))

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        source_upload_take(self)
        source_size_check(self)
        chapters_check(self)
        if "source" in self.changed_data and not cleaned.get("source") and self.instance.ladder_path:
            self.add_error("source", "An uploaded video keeps its file; delete the video instead.")
        return cleaned


class VideoCaptionForm(VideoCaptionModelForm):
    """One language's captions: a WebVTT or SRT file, stored as WebVTT (videos/tracks.py)."""

    file = forms.FileField(
        required=False,
        help_text=f"WebVTT (.vtt) or SRT (.srt, converted to WebVTT), UTF-8, up to {CAPTION_MAX_BYTES // 1024} KB.",
    )

    class Meta:
        model = VideoCaption
        fields = ("language", "label", "is_default", "file")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        upload = cleaned.get("file")
        if upload is None:
            if self.instance.pk is None and self.has_changed():
                self.add_error("file", "Choose the captions file.")
            return cleaned
        if upload.size > CAPTION_MAX_BYTES:
            # Said before reading it: the size the upload declared is enough to refuse it.
            self.add_error("file", f"The file is larger than {CAPTION_MAX_BYTES // 1024} KB: is it a captions file?")
            return cleaned
        try:
            self.instance.webvtt, self.instance.cue_count = captions_webvtt(data=upload.read())
        except ValidationError as exc:
            self.add_error("file", exc)
        return cleaned


class VideoCaptionFormSet(VideoCaptionFormSetBase):
    def clean(self) -> None:
        super().clean()
        kept = [f for f in self.forms if f.has_changed() or f.instance.pk]
        kept = [f for f in kept if not f.cleaned_data.get("DELETE")]
        if sum(1 for f in kept if f.cleaned_data.get("is_default")) > 1:
            raise ValidationError("Only one captions language can be the default: untick the others.")

    def save(self, commit: bool = True) -> list[VideoCaption]:
        # The database allows one default at a time (video_caption_one_default), whichever order
        # the rows are saved in: the rows that lose it lose it first. The admin saves in one
        # transaction, so a failure keeps the old default.
        keep = [
            f.instance.pk
            for f in self.forms
            if f.instance.pk and f.cleaned_data.get("is_default") and not f.cleaned_data.get("DELETE")
        ]
        VideoCaption.objects.filter(video=self.instance, is_default=True).exclude(pk__in=keep).update(is_default=False)
        return super().save(commit=commit)


class VideoCaptionInline(VideoCaptionInlineBase):
    model = VideoCaption
    form = VideoCaptionForm
    formset = VideoCaptionFormSet
    extra = 1
    fields = ("language", "label", "is_default", "file", "cue_count", "updated_at")
    readonly_fields = ("cue_count", "updated_at")
    verbose_name = "captions language"
    verbose_name_plural = "Captions (uploaded videos' player)"


class UnavailableFilter(admin.SimpleListFilter):
    title = "availability"
    parameter_name = "unavailable"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Unavailable"), ("no", "Available")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Video]) -> QuerySet[Video]:
        if self.value() == "yes":
            return queryset.filter(is_unavailable=True)
        if self.value() == "no":
            return queryset.filter(is_unavailable=False)
        return queryset


@admin.register(Video)
class VideoAdmin(VideoModelAdmin):
    # Analytics right after the title: staff look for it first, and it must fit a 1280 px screen
    # (the publication date is on the change page and sorts the list by default).
    # Provider and the three flags share one column, so Facts and Playback problems stay on screen
    # beside the admin's side bar and filters (1,051 px of columns did not fit 631 px).
    list_display = (
        "thumbnail_tag",
        "title",
        "analytics_link",
        "duration_display",
        "status_flags",
        "facts_state",
        "recent_problems",
    )
    list_display_links = ("thumbnail_tag", "title")
    list_filter = ("provider", "is_published", "access", UnavailableFilter)
    search_fields = ("title",)
    ordering = ("position", "-published_at", "-id")
    actions = ("publish", "unpublish", "mark_unavailable", "mark_available", "transcode", "transcode_cancel")
    form = VideoChangeForm
    inlines = (VideoCaptionInline,)

    class Media:
        # A progress bar while a video file uploads; the transcoding status kept up to date.
        js = ("js/admin/upload_progress.js", "js/admin/ladder_status.js")
        css = {"all": ("css/videos-admin.css",)}

    def get_urls(self) -> list[URLPattern]:
        status = path(
            "<int:video_id>/ladder/",
            self.admin_site.admin_view(self.ladder_status_view),
            name="videos_video_ladder",
        )
        return [status, *upload_urls(self), *super().get_urls()]

    def ladder_status_view(self, request: HttpRequest, video_id: int) -> JsonResponse:
        """The transcoding status the change page polls (js/admin/ladder_status.js)."""
        video = self.get_object(request, str(video_id))
        if video is None or not self.has_view_permission(request, video):
            return JsonResponse({"error": "no such video"}, status=404)
        return JsonResponse(
            {
                "state": video.ladder_state,
                "progress": video.ladder_progress,
                "error": video.ladder_error,
                "text": strip_tags(self.ladder_status(video)),
            }
        )

    readonly_fields = (
        "provider",
        "external_id",
        "source_url",
        "player_preview",
        "recent_problems",
        "is_unavailable",
        "unavailable_at",
        "unavailable_code",
        "facts_state",
        "ladder_status",
        "author_name",
        "width",
        "height",
        "video_codec",
        "audio_codec",
        "facts_checked_at",
        "created_at",
        "updated_at",
    )
    fieldsets = (
        (None, {"fields": ("title", "slug", "description", "chapters")}),
        (
            "Source",
            {
                "fields": (
                    "provider",
                    "external_id",
                    "source_url",
                    "source",
                    "upload",
                    "ladder_status",
                    "player_preview",
                )
            },
        ),
        (
            "Catalogue",
            {
                "fields": (
                    "duration",
                    "start_seconds",
                    "thumbnail",
                    "position",
                    "is_published",
                    "access",
                    "published_at",
                )
            },
        ),
        (
            "Read by the server",
            {
                "fields": (
                    "facts_state",
                    "facts_checked_at",
                    "author_name",
                    ("width", "height"),
                    ("video_codec", "audio_codec"),
                )
            },
        ),
        ("Availability", {"fields": ("recent_problems", "is_unavailable", "unavailable_at", "unavailable_code")}),
        ("History", {"classes": ("collapse",), "fields": ("created_at", "updated_at")}),
    )
    add_fieldsets = ((None, {"fields": VideoAddForm.Meta.fields}),)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Video]:
        return video_playback_problem_count_annotate(
            queryset=super().get_queryset(request), since=timezone.now() - PROBLEM_WINDOW
        )

    def formfield_for_dbfield(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        # Staff type durations as they read them (10:35), not as a bare number of seconds.
        if db_field.name == "duration":
            return ClockField(required=False, label="Duration")
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def get_form(self, request: HttpRequest, obj: Video | None = None, change: bool = False, **kwargs: Any) -> Any:
        if obj is None:
            kwargs["form"] = VideoAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_inlines(self, request: HttpRequest, obj: Video | None) -> Any:
        # Captions go with the player the site runs itself (<track>); providers have their own.
        return self.inlines if obj is not None and obj.provider == Video.Provider.FILE else ()

    def get_fieldsets(self, request: HttpRequest, obj: Video | None = None) -> Any:
        return self.add_fieldsets if obj is None else super().get_fieldsets(request, obj)

    def get_readonly_fields(self, request: HttpRequest, obj: Video | None = None) -> Any:
        return () if obj is None else self.readonly_fields

    def save_model(self, request: HttpRequest, obj: Video, form: Any, change: bool) -> None:
        if obj.is_published and obj.published_at is None:
            obj.published_at = timezone.now()
        super().save_model(request, obj, form, change)
        upload = form.cleaned_data.get("upload")
        if upload:
            video_upload_spend(upload=upload)
        if ("source" in form.changed_data or upload) and obj.source:
            # Django streamed the upload to a temp file (FILE_UPLOAD_MAX_MEMORY_SIZE) and the
            # storage moved it in place; the media worker transcodes it.
            video_source_accept(video=obj)
            return
        if obj.provider == Video.Provider.FILE and not obj.source:
            # An external file: its facts are read now, within the fetch rules' time and size
            # bounds (videos/fetch.py), so the save page says what is known or what is not.
            read = video_facts_refresh(video_id=obj.pk)
            if read is not None:
                self._facts_report(request, read)
            return
        # Duration, author, thumbnail cards and availability come from the host, off the request.
        video_facts_refresh_enqueue(video_id=obj.pk)

    def _facts_report(self, request: HttpRequest, video: Video) -> None:
        if video.facts_error or video.is_unavailable:
            self.message_user(
                request,
                f"The file's facts could not be read: {video.facts_error or video.unavailable_code}. Until they "
                "are, its duration is unknown: members see the time they watched instead of a progress bar, and "
                "staff analytics show no completion. Check the URL, or enter the duration below.",
                messages.WARNING,
            )
            return
        known = [f"duration {clock(video.duration)}" if video.duration else "duration unknown"]
        if video.width and video.height:
            known.append(f"{video.width}x{video.height}")
        if video.video_codec:
            known.append(f"{video.video_codec}/{video.audio_codec or 'no audio'}")
        level = messages.SUCCESS if video.duration else messages.WARNING
        self.message_user(request, f"Facts read from the file: {', '.join(known)}.", level)

    @admin.display(description="Transcoding")
    def ladder_status(self, obj: Video) -> str:
        """queued / transcoding n % / ready / failed: reason (uploads only)."""
        if not obj.source:
            return "—"
        if obj.ladder_state == LadderState.TRANSCODING:
            return f"Transcoding {obj.ladder_progress} %"
        if obj.ladder_state == LadderState.FAILED:
            return format_html('<strong class="wp-facts-error">Failed: {}</strong>', obj.ladder_error)
        return obj.get_ladder_state_display() or "Not queued"

    @admin.display(description="Facts")
    def facts_state(self, obj: Video) -> str:
        # Uploads: their facts come from the transcode, whose state is what staff wait for.
        if obj.source and obj.ladder_state != LadderState.READY:
            return self.ladder_status(obj)
        if obj.facts_error:
            return format_html('<strong class="wp-facts-error">Could not read: {}</strong>', obj.facts_error)
        if obj.facts_checked_at is None:
            return "Not read yet"
        return format_html("Read {} ago", timesince(obj.facts_checked_at))

    @admin.display(description="Thumbnail")
    def thumbnail_tag(self, obj: Video) -> str:
        if obj.thumbnail_url:
            return format_html(
                '<img src="{}" alt="" width="96" height="54" style="object-fit:cover">', obj.thumbnail_url
            )
        return obj.get_provider_display()

    @admin.display(description="Status")
    def status_flags(self, obj: Video) -> str:
        flags = [
            obj.get_provider_display(),
            "Published" if obj.is_published else "Not published",
            {"public": "Open to all", "members": "Members only", "paid": "Paid plans"}.get(obj.access, obj.access),
        ]
        if obj.is_unavailable:
            flags.append("Unavailable")
        return format_html_join(mark_safe("<br>"), "{}", ((flag,) for flag in flags))

    @admin.display(description="Duration", ordering="duration")
    def duration_display(self, obj: Video) -> str:
        return clock(obj.duration) or "—"

    # A short heading: admin headings do not wrap, and this column must fit at 1280 px.
    @admin.display(description="Problems")
    def recent_problems(self, obj: Video) -> str:
        # Members' players report what they could not play; staff decide (the "Mark … unavailable" action).
        count = getattr(obj, "recent_problem_count", None)
        if count is None:
            count = video_playback_problem_count(video_id=obj.pk, since=timezone.now() - PROBLEM_WINDOW)
        if not count:
            return "—"
        members = "member" if count == 1 else "members"
        return f"{count} {members} could not play this in the last 24 h"

    @admin.display(description="Analytics")
    def analytics_link(self, obj: Video) -> str:
        # The staff analytics page (analytics/admin.py); its figures come from the rollup tables.
        return format_html('<a href="{}">Analytics</a>', reverse("analytics_admin:video", args=[obj.pk]))

    def render_change_form(self, request: HttpRequest, context: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        response = super().render_change_form(request, context, *args, **kwargs)
        # On S3 the browser PUTs the upload's parts to the store's origin (videos/uploads.py).
        origin = video_upload_origin()
        if origin:
            response.csp_media_sources = [origin]  # type: ignore[attr-defined]
        return response

    def change_view(self, request: HttpRequest, object_id: str, *args: Any, **kwargs: Any) -> Any:
        # The preview of an upload needs this staff member's signed ladder URL (bound to their
        # session cookie); a display method has no request, so it reads it from here.
        token = _preview_session.set(request.COOKIES.get(settings.SESSION_COOKIE_NAME, ""))
        try:
            response = super().change_view(request, object_id, *args, **kwargs)
            # A TemplateResponse renders after the view returns: render it while the value is set.
            if isinstance(response, TemplateResponse):
                response.render()
                video = response.context_data.get("original") if response.context_data else None
                origin = video_file_origin(video=video) if isinstance(video, Video) else None
                if origin:
                    # The preview plays the external file: its origin joins media-src/connect-src of
                    # this response only, as on its watch page (config/csp.py).
                    response.csp_media_sources = [origin]  # type: ignore[attr-defined]
            return response
        finally:
            _preview_session.reset(token)

    @admin.display(description="Player preview")
    def player_preview(self, obj: Video) -> SafeString:
        if obj.source and not obj.ladder_path:
            return mark_safe("<p>The preview plays once the transcoding is ready.</p>")
        media_url = video_ladder_url_get(video=obj, session_cookie=_preview_session.get()) if obj.source else ""
        life = ladder_url_life_seconds()
        player = render_to_string(
            "videos/_player.html", {"video": obj, "start": None, "media_url": media_url, "media_url_life": life}
        )
        return mark_safe(  # noqa: S308 (our own template, autoescaped; static URLs)
            f'<link rel="stylesheet" href="{static("css/videos.css")}">'
            f'<div class="admin-player-preview">{player}</div>'
            f'<script type="module" src="{static("js/players/index.js")}"></script>'
        )

    @admin.action(description="Publish the selected videos")
    def publish(self, request: HttpRequest, queryset: QuerySet[Video]) -> None:
        selected = list(queryset)
        count = video_publish_set(videos=selected, published=True)
        self.message_user(request, f"{count} video(s) published.", messages.SUCCESS)
        if count < len(selected):
            self.message_user(
                request,
                f"{len(selected) - count} upload(s) left unpublished: their transcoding is not finished.",
                messages.WARNING,
            )

    @admin.action(description="Unpublish the selected videos")
    def unpublish(self, request: HttpRequest, queryset: QuerySet[Video]) -> None:
        count = video_publish_set(videos=queryset, published=False)
        self.message_user(request, f"{count} video(s) unpublished.", messages.SUCCESS)

    @admin.action(description="Transcode the selected uploads again")
    def transcode(self, request: HttpRequest, queryset: QuerySet[Video]) -> None:
        uploads = [video for video in queryset if video.source]
        for video in uploads:
            video_transcode_enqueue(video_id=video.pk)
        self.message_user(request, f"{len(uploads)} upload(s) queued for transcoding.", messages.SUCCESS)

    @admin.action(description="Cancel the selected uploads' transcoding")
    def transcode_cancel(self, request: HttpRequest, queryset: QuerySet[Video]) -> None:
        count = video_transcode_cancel(videos=queryset)
        self.message_user(
            request,
            f"{count} transcode(s) cancelled; “Transcode the selected uploads again” starts one afresh.",
            messages.SUCCESS,
        )

    @admin.action(description="Mark the selected videos unavailable")
    def mark_unavailable(self, request: HttpRequest, queryset: QuerySet[Video]) -> None:
        count = video_unavailable_set(videos=queryset)
        self.message_user(request, f"{count} video(s) marked unavailable.", messages.SUCCESS)

    @admin.action(description="Mark the selected videos available again")
    def mark_available(self, request: HttpRequest, queryset: QuerySet[Video]) -> None:
        count = video_available_set(videos=queryset)
        self.message_user(request, f"{count} video(s) marked available.", messages.SUCCESS)


class SectionInline(SortableTabularInline, SectionInlineBase):
    # A playlist with sections is a course (docs/architecture.md, "Courses"); sections are dragged like items.
    model = Section
    extra = 0
    fields = ("position", "title")
    ordering = ("position", "id")


class PlaylistItemInline(SortableTabularInline, PlaylistItemInlineBase):
    # Staff drag rows to order the playlist (django-admin-sortable2 keeps `position` in a hidden
    # field and renumbers on save); no positions to type. In a course, items are listed section
    # by section (the section's order first), in this order within each.
    model = PlaylistItem
    extra = 1
    fields = ("position", "video", "section", "drip_days")
    autocomplete_fields = ("video",)
    ordering = ("position", "id")

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "section":
            # Only this playlist's sections (saved ones: add a section, save, then assign items).
            match = request.resolver_match
            playlist_id = match.kwargs.get("object_id") if match is not None else None
            sections = Section.objects.filter(playlist_id=str(playlist_id)) if playlist_id else None
            kwargs["queryset"] = sections if sections is not None else Section.objects.none()
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(Playlist)
class PlaylistAdmin(SortableAdminBase, PlaylistModelAdmin):
    list_display = ("title", "video_count", "is_published", "access", "updated_at")
    list_filter = ("is_published", "access")
    search_fields = ("title", "description")
    prepopulated_fields = {"slug": ("title",)}
    inlines = (SectionInline, PlaylistItemInline)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Playlist]:
        return super().get_queryset(request).annotate(video_count=Count("items"))

    @admin.display(description="Videos", ordering="video_count")
    def video_count(self, obj: Playlist) -> int:
        return int(getattr(obj, "video_count", 0))


def unavailable_videos_card(request: HttpRequest) -> str:
    """The admin index's list of published videos members can no longer watch (config.admin_cards)."""
    videos = list(video_unavailable_published_list()[:20])
    return render_to_string("admin/videos/_unavailable_warning.html", {"videos": videos}, request=request)
