from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.core.validators import FileExtensionValidator, RegexValidator
from django.db import models, transaction
from django.db.models.fields.files import FieldFile
from django.db.models.signals import post_delete
from django.dispatch import receiver
from django.urls import reverse
from django.utils import timezone

from videos.search import search_document
from videos.thumbnails import thumbnail_reencode, thumbnail_validate
from videos.tracks import Chapter, chapters_parse


class ThumbnailField(models.FileField):
    """A FileField whose new uploads are re-encoded from their pixels before they are stored
    (videos/thumbnails.py), whatever path saved them: the admin form, a command, a shell."""

    def pre_save(self, model_instance: models.Model, add: bool) -> Any:
        file = getattr(model_instance, self.attname)
        # _committed is False only for a file assigned since the last save (a new upload).
        if isinstance(file, FieldFile) and file and not getattr(file, "_committed", True):
            setattr(model_instance, self.attname, thumbnail_reencode(file))
        return super().pre_save(model_instance, add)


_M = TypeVar("_M", bound=models.Model)


class VersionedQuerySet(models.QuerySet[_M]):
    """`update()` and `bulk_update()` advance `updated_at` too (neither calls save()): it is the
    row's version, which keys the HTML rendered from it (config/fragments.py)."""

    def update(self, **kwargs: Any) -> int:
        kwargs.setdefault("updated_at", timezone.now())
        return super().update(**kwargs)

    def bulk_update(self, objs: Iterable[_M], fields: Iterable[str], batch_size: int | None = None) -> int:
        objs, fields = list(objs), list(fields)
        now = timezone.now()
        for obj in objs:
            obj.updated_at = now  # type: ignore[attr-defined]
        return super().bulk_update(objs, [*fields, "updated_at"] if "updated_at" not in fields else fields, batch_size)


class Versioned(models.Model):
    """A model whose `updated_at` (auto_now) advances on every write, whatever path makes it:
    save(), save(update_fields=[...]) (which would skip it), QuerySet.update() and bulk_update().
    Pages and cards cached per version of a row (config/fragments.py) show a change at once."""

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        update_fields = kwargs.get("update_fields")
        if update_fields and "updated_at" not in update_fields:
            kwargs["update_fields"] = [*update_fields, "updated_at"]
        super().save(*args, **kwargs)


class LadderState(models.TextChoices):
    QUEUED = "queued", "Queued"
    TRANSCODING = "transcoding", "Transcoding"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class AccessLevel(models.TextChoices):
    """Who may watch a video or open a playlist. "paid": members holding one of the plans that open
    it (billing.Plan.videos / .playlists, related name `plans`; a plan opening a playlist opens its
    videos too)."""

    PUBLIC = "public", "Public"
    MEMBERS = "members", "Any confirmed member"
    PAID = "paid", "Paid plans"


class Video(Versioned):
    """A video in the catalogue, hosted by a provider (or a self-hosted file) and embedded here."""

    class Provider(models.TextChoices):
        YOUTUBE = "youtube", "YouTube"
        VIMEO = "vimeo", "Vimeo"
        WISTIA = "wistia", "Wistia"
        FILE = "file", "Self-hosted file"

    title = models.CharField(max_length=200)
    slug = models.SlugField(max_length=220, unique=True)
    description = models.TextField(blank=True)
    provider = models.CharField(max_length=16, choices=Provider.choices)
    # Canonical provider id (e.g. YouTube's 11-character id; Vimeo "<id>:<hash>" for unlisted
    # links); for self-hosted files, the file URL.
    external_id = models.CharField(max_length=500)
    # What staff pasted, kept so they can see where an entry came from.
    source_url = models.URLField(max_length=500, blank=True)
    # Seconds. Read by the server (Vimeo/Wistia oEmbed, ffprobe for files: videos/facts.py) or set
    # by staff (here, or by previewing the player); otherwise it is filled once enough confirmed
    # members' players agree on it (VideoDurationVote; YouTube's oEmbed has no duration).
    duration = models.PositiveIntegerField(null=True, blank=True)
    # Where playback starts unless the member resumes or a ?t= link says otherwise (pre-filled
    # from the pasted URL's t=).
    start_seconds = models.PositiveIntegerField(
        null=True, blank=True, help_text="Seconds; the watch page starts here (a member's resume or ?t= wins)."
    )
    # Uploaded by staff; without one, the provider's default image is used where there is one.
    # Checked by content and re-encoded with Pillow (videos/thumbnails.py); ImageField would only
    # check that Pillow can open it, and store the bytes as uploaded.
    thumbnail = ThumbnailField(
        upload_to="thumbnails/",
        blank=True,
        validators=[FileExtensionValidator(["jpg", "jpeg", "png", "webp"]), thumbnail_validate],
    )
    # Catalogue card images made by the server from the provider's thumbnail or a poster frame
    # (videos/services.py): "<stem>" names files "<stem>-320.webp", "-320.jpg", "-640.webp", "-640.jpg".
    card_image = models.CharField(max_length=200, blank=True, editable=False)
    # Facts the server read (videos/facts.py).
    author_name = models.CharField(max_length=200, blank=True)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    video_codec = models.CharField(max_length=32, blank=True)
    audio_codec = models.CharField(max_length=32, blank=True)
    # The last time the server read the facts, and why it could not (empty when it could).
    facts_checked_at = models.DateTimeField(null=True, blank=True)
    facts_error = models.CharField(max_length=300, blank=True)
    # An uploaded source file (videos/media.py): staff upload it in the admin; the media worker
    # transcodes it into an HLS ladder under `ladder_path`, which nginx serves to members only.
    # The source stays where it was uploaded (MEDIA storage, "sources/"), never served to members.
    source = models.FileField(upload_to="sources/", blank=True, max_length=300)
    ladder_state = models.CharField(max_length=16, choices=LadderState.choices, blank=True)
    ladder_progress = models.PositiveSmallIntegerField(default=0)
    ladder_error = models.CharField(max_length=300, blank=True)
    # The published ladder's folder in the media storage ("hls/<video id>/<run>/"), set only once
    # every rendition, the master playlist and the poster are in place; empty until then.
    ladder_path = models.CharField(max_length=100, blank=True, editable=False)
    # "mm:ss Title" (or "h:mm:ss Title") lines, checked by videos/tracks.py `chapters_parse`:
    # listed on the watch page as links that seek the player, and in the uploaded videos' player.
    chapters = models.TextField(
        blank=True,
        help_text="One chapter a line, in order: the time as mm:ss or h:mm:ss, then the title (e.g. “1:30 Set-up”).",
    )
    is_published = models.BooleanField(default=False)
    access = models.CharField(max_length=8, choices=AccessLevel.choices, default=AccessLevel.MEMBERS)
    published_at = models.DateTimeField(null=True, blank=True)
    # Catalogue order: lower first; equal positions fall back to the newest first.
    position = models.PositiveIntegerField(default=0, help_text="Lower numbers come first in the catalogue.")
    # Set by the server's own check (oEmbed 401/403/404, a missing or unreadable file; a later
    # success clears it) or by staff (admin actions, code "staff", which only staff clear).
    # Members' players only report problems (VideoPlaybackProblem), which trigger a re-check, so
    # no viewer can hide a video from others.
    is_unavailable = models.BooleanField(default=False)
    unavailable_at = models.DateTimeField(null=True, blank=True)
    unavailable_code = models.CharField(max_length=32, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # The title's and description's search terms (videos/search.py), kept by save().
    search_document = models.TextField(blank=True, default="", editable=False)

    objects = VersionedQuerySet["Video"].as_manager()

    class Meta:
        ordering = ("-published_at", "-id")
        constraints = [
            models.UniqueConstraint(fields=("provider", "external_id"), name="video_unique_source"),
            # Whatever path publishes (the form, an action, a shell): an uploaded video only with
            # a complete ladder to play.
            models.CheckConstraint(
                condition=models.Q(is_published=False) | models.Q(source="") | ~models.Q(ladder_path=""),
                name="video_published_upload_has_ladder",
                violation_error_message="An uploaded video can be published only once its HLS ladder is ready.",
            ),
        ]

    def __str__(self) -> str:
        return self.title

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.search_document = search_document(self.title, self.description)
        update_fields = kwargs.get("update_fields")
        if update_fields and {"title", "description"} & set(update_fields) and "search_document" not in update_fields:
            kwargs["update_fields"] = [*update_fields, "search_document"]
        super().save(*args, **kwargs)

    def get_absolute_url(self) -> str:
        return reverse("videos:watch", kwargs={"slug": self.slug})

    @property
    def members_only(self) -> bool:
        """Not public: any confirmed member, or paid (the name from before access levels; assigning
        it picks public or any confirmed member)."""
        return self.access != AccessLevel.PUBLIC

    @members_only.setter
    def members_only(self, value: bool) -> None:
        self.access = AccessLevel.MEMBERS if value else AccessLevel.PUBLIC

    @property
    def thumbnail_url(self) -> str | None:
        """Staff's upload, else the card the server made; always served by us (no hotlinking)."""
        if self.thumbnail:
            return str(self.thumbnail.url)
        return self.card_url(640, "jpg")

    def card_url(self, width: int, ext: str) -> str | None:
        if not self.card_image:
            return None
        return str(default_storage.url(f"{self.card_image}-{width}.{ext}"))

    @property
    def card_srcset_webp(self) -> str:
        if self.thumbnail or not self.card_image:
            return ""
        return f"{self.card_url(320, 'webp')} 320w, {self.card_url(640, 'webp')} 640w"

    @property
    def card_srcset_jpg(self) -> str:
        if self.thumbnail or not self.card_image:
            return ""
        return f"{self.card_url(320, 'jpg')} 320w, {self.card_url(640, 'jpg')} 640w"

    @property
    def chapter_list(self) -> list[Chapter]:
        """The chapters that start before the end of the video (checked when saved; a duration
        learnt later may cut some)."""
        try:
            chapters = chapters_parse(text=self.chapters)
        except ValidationError:
            return []
        return [c for c in chapters if self.duration is None or c.start < self.duration]

    @property
    def embed_id(self) -> str:
        """The id the provider's player takes (Vimeo's unlisted hash travels separately)."""
        return self.external_id.split(":", 1)[0] if self.provider == self.Provider.VIMEO else self.external_id

    @property
    def vimeo_hash(self) -> str:
        if self.provider == self.Provider.VIMEO and ":" in self.external_id:
            return self.external_id.split(":", 1)[1]
        return ""


class Playlist(Versioned):
    """An ordered set of videos (a course); a video may be in several playlists."""

    title = models.CharField(max_length=200)
    slug = models.SlugField(max_length=220, unique=True)
    description = models.TextField(blank=True)
    is_published = models.BooleanField(default=False)
    # Public by default: a playlist's page lists its videos, each gated by its own level, as before
    # access levels; "paid" gates the page and opens its videos to the plans that open it.
    access = models.CharField(max_length=8, choices=AccessLevel.choices, default=AccessLevel.PUBLIC)
    videos = models.ManyToManyField(Video, through="PlaylistItem", related_name="playlists")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = VersionedQuerySet["Playlist"].as_manager()

    class Meta:
        ordering = ("title", "id")

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("videos:playlist", kwargs={"slug": self.slug})


class Section(models.Model):
    """A titled, ordered part of a playlist: a playlist with sections is a course (docs/architecture.md, "Courses").

    Items are listed section by section (by `position`), then by their own position; items without
    a section come first, untitled. A playlist without sections is listed as before."""

    playlist = models.ForeignKey(Playlist, on_delete=models.CASCADE, related_name="sections")
    title = models.CharField(max_length=200)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ("position", "id")

    def __str__(self) -> str:
        return self.title


class PlaylistItem(models.Model):
    playlist = models.ForeignKey(Playlist, on_delete=models.CASCADE, related_name="items")
    video = models.ForeignKey(Video, on_delete=models.CASCADE, related_name="playlist_items")
    position = models.PositiveIntegerField(default=0)
    # Deleting a section keeps its items, unsectioned (listed first).
    section = models.ForeignKey(
        Section,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="items",
        help_text="A course lists its items section by section. Save a new section first to choose it here.",
    )
    # Drip: the item opens this many days after the member first opened an item of the playlist
    # (CourseEnrolment.started_at); 0 = open from the start.
    drip_days = models.PositiveSmallIntegerField(
        default=0, help_text="Days after the member starts the course before this item opens (0: at once)."
    )

    class Meta:
        ordering = ("position", "id")
        constraints = [
            models.UniqueConstraint(fields=("playlist", "video"), name="playlist_item_unique_video"),
        ]

    def __str__(self) -> str:
        return f"{self.playlist} #{self.position}: {self.video}"

    def clean(self) -> None:
        super().clean()
        if self.section_id is not None and self.section is not None and self.section.playlist_id != self.playlist_id:
            raise ValidationError({"section": "Choose a section of this playlist."})


class CourseEnrolment(models.Model):
    """When a member first opened an item of a playlist (the watch page, server clock): the start
    from which its dripped items open. Written once (videos.services.course_enrolments_record)."""

    playlist = models.ForeignKey(Playlist, on_delete=models.CASCADE, related_name="enrolments")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    started_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=("user", "playlist"), name="course_enrolment_one_per_member"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} in {self.playlist_id} since {self.started_at:%Y-%m-%d}"


class VideoCaption(models.Model):
    """Captions of one language for an uploaded video, as WebVTT text checked by videos/tracks.py
    `captions_webvtt` (staff upload WebVTT or SRT in the admin). Kept in the database, not beside
    the ladder: a few KB of text that changes on its own schedule, while each transcode replaces
    the ladder's folder. Members get it from videos/views.py `caption_file`, under the watch
    page's access rule."""

    video = models.ForeignKey(Video, on_delete=models.CASCADE, related_name="captions")
    language = models.CharField(
        max_length=35,
        validators=[
            RegexValidator(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$", "Enter a language code such as en, fr or pt-BR.")
        ],
        help_text="A language code such as en, fr or pt-BR.",
    )
    label = models.CharField(max_length=64, help_text="Shown in the player's captions menu, e.g. “English”.")
    is_default = models.BooleanField(default=False, help_text="Shown when playback starts (one per video).")
    webvtt = models.TextField(editable=False)
    cue_count = models.PositiveIntegerField(default=0, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("-is_default", "label", "id")
        constraints = [
            models.UniqueConstraint(
                fields=("video", "language"),
                name="video_caption_one_per_language",
                violation_error_message="This video already has captions in this language.",
            ),
            models.UniqueConstraint(
                fields=("video",),
                condition=models.Q(is_default=True),
                name="video_caption_one_default",
                violation_error_message="Only one captions language can be the default.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.label} ({self.language})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        super().save(*args, **kwargs)
        # The watch page is cached per version of its video (config/fragments.py): a new version.
        Video.objects.filter(pk=self.video_id).update()

    def get_absolute_url(self) -> str:
        # The version in the URL: a changed file is a new URL, so browsers may keep each for good.
        version = int(self.updated_at.timestamp()) if self.updated_at else 0
        url = reverse("videos:caption", kwargs={"video_id": self.video_id, "caption_id": self.pk})
        return f"{url}?v={version}"

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        deleted = super().delete(*args, **kwargs)
        Video.objects.filter(pk=self.video_id).update()
        return deleted


class VideoDurationVote(models.Model):
    """One member's player reported this duration; enough agreeing votes fill `Video.duration`."""

    video = models.ForeignKey(Video, on_delete=models.CASCADE, related_name="duration_votes")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    seconds = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=("video", "user"), name="video_duration_vote_one_per_member"),
        ]
        indexes = [models.Index(fields=("video", "seconds"), name="video_duration_vote_seconds")]

    def __str__(self) -> str:
        return f"{self.video_id}: {self.seconds}s by {self.user_id}"


class VideoPlaybackProblem(models.Model):
    """A member's player could not play the video (removed, private, not embeddable, file missing).

    At most one a member per video per (UTC) day, so the admin's count is of people, not retries."""

    video = models.ForeignKey(Video, on_delete=models.CASCADE, related_name="playback_problems")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    code = models.CharField(max_length=32)
    day = models.DateField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=("video", "user", "day"), name="video_playback_problem_one_a_day"),
        ]
        indexes = [models.Index(fields=("video", "created_at"), name="video_playback_problem_recent")]

    def __str__(self) -> str:
        return f"{self.video_id}: {self.code} ({self.day})"


@receiver(post_delete, sender=Video)
def _video_media_delete(sender: type[Video], instance: Video, **_: Any) -> None:
    # Whatever path deletes (the admin's bulk action included): the upload's files go too, once
    # the deletion is committed (a rolled-back delete keeps them).
    if not instance.source and not instance.ladder_path:
        return
    from videos.services import video_media_delete  # services import this module

    video_id, source_name = instance.pk, str(instance.source.name or "")
    transaction.on_commit(lambda: video_media_delete(video_id=video_id, source_name=source_name))


class VideoUpload(models.Model):
    """A resumable upload of a video source in progress (videos/uploads.py): staff send it in parts,
    each part retried until stored, and it becomes a video's `source` only once complete.

    The id is the token the admin form carries; `name` is the storage name the finished file takes
    (on S3 the multipart upload's key: the object exists only once the upload is completed)."""

    id = models.UUIDField(primary_key=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    filename = models.CharField(max_length=255)
    name = models.CharField(max_length=300, unique=True)
    size = models.BigIntegerField()
    part_size = models.BigIntegerField()
    # S3's multipart upload id; empty on the filesystem storage.
    s3_upload_id = models.CharField(max_length=1024, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # The last time staff's browser asked for a part's URL or sent a part (server clock): an
    # unfinished upload untouched for MEDIA_UPLOAD_ABANDONED_HOURS is swept (video_uploads_abandoned_sweep).
    touched_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.filename} ({self.size} bytes)"

    @property
    def part_count(self) -> int:
        return max(1, -(-self.size // self.part_size))

    def part_length(self, number: int) -> int:
        """The exact length of part `number` (1-based): every part is full but the last."""
        return min(self.part_size, self.size - (number - 1) * self.part_size)
