"""Writes to the catalogue: adding videos from URLs, publishing, and what players report."""

from __future__ import annotations

import contextlib
import logging
import shutil
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import IO

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import Storage, default_storage
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.text import slugify

from accounts.selectors import Member, member_is_confirmed
from videos.facts import FactsError, FactsUnavailable, VideoFacts, card_images_make, video_facts_read
from videos.media import POSTER, SourceFacts, TranscodeCancelled, TranscodeFailed, ladder_build, source_facts_read
from videos.models import (
    AccessLevel,
    CourseEnrolment,
    LadderState,
    Video,
    VideoDurationVote,
    VideoPlaybackProblem,
    VideoUpload,
)
from videos.providers import VideoSource, parse_video_url
from videos.selectors import (
    catalogue_video_playlists_get,
    course_starts_forget,
    video_published_snapshot_clear,
    video_upload_parts_stored,
)
from videos.uploads import (
    PartRefused,
    upload_begin,
    upload_discard,
    upload_finish,
    upload_part_size,
    upload_part_url,
    upload_part_write,
    upload_space_free,
    uploads_staged,
)

logger = logging.getLogger(__name__)
# Availability flags only staff set (admin action); the server's check never clears them.
STAFF_CODE = "staff"

# A player reporting more than this is wrong (or lying); no catalogue entry is 24 hours long.
MAX_REPORTED_DURATION_SECONDS = 24 * 3600
# Members' duration reports fill an unknown duration once this many confirmed members agree to
# within this many seconds (players round the last frame differently).
DURATION_VOTES_NEEDED = 3
DURATION_VOTE_TOLERANCE_SECONDS = 1


class DuplicateVideo(ValueError):
    def __init__(self, existing: Video) -> None:
        super().__init__(f"This video is already in the catalogue as “{existing.title}”.")
        self.existing = existing


def video_source_check(*, url: str) -> VideoSource:
    """The source a pasted URL names, if the catalogue does not hold it yet (staff's add form).

    `UnsupportedVideoURL` when no provider recognises it, `DuplicateVideo` when it is already in
    the catalogue (under any of its links: see `video_duplicate_get`).
    """
    source = parse_video_url(url)
    existing = video_duplicate_get(source=source)
    if existing is not None:
        raise DuplicateVideo(existing)
    return source


def video_duplicate_get(*, source: VideoSource, exclude_pk: int | None = None) -> Video | None:
    """The entry that already holds this source, if any.

    A Vimeo unlisted link ("<id>:<hash>") and the public link ("<id>") are the same video.
    """
    if source.provider == "vimeo":
        numeric = source.external_id.split(":", 1)[0]
        match = Q(external_id=numeric) | Q(external_id__startswith=f"{numeric}:")
    else:
        match = Q(external_id=source.external_id)
    qs = Video.objects.filter(match, provider=source.provider)
    if exclude_pk is not None:
        qs = qs.exclude(pk=exclude_pk)
    return qs.first()


def video_slug_make(*, title: str, exclude_pk: int | None = None) -> str:
    base = slugify(title)[:200] or "video"
    others = Video.objects.exclude(pk=exclude_pk) if exclude_pk is not None else Video.objects.all()
    slug, n = base, 1
    while others.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


def video_create_from_source(
    *,
    source: VideoSource,
    title: str,
    slug: str = "",
    source_url: str = "",
    description: str = "",
    duration: int | None = None,
    access: str = AccessLevel.MEMBERS,
    is_published: bool = False,
    position: int = 0,
) -> Video:
    """Add a catalogue entry for a parsed URL (demo_load); `DuplicateVideo` when it is already
    there. The slug is made from the title unless given."""
    existing = video_duplicate_get(source=source)
    if existing is not None:
        raise DuplicateVideo(existing)
    return Video.objects.create(
        title=title,
        slug=slug or video_slug_make(title=title),
        description=description,
        provider=source.provider,
        external_id=source.external_id,
        source_url=source_url,
        duration=duration,
        access=access,
        is_published=is_published,
        position=position,
        published_at=timezone.now() if is_published else None,
    )


def video_publish_set(*, videos: Iterable[Video], published: bool) -> int:
    """Publish or unpublish; a first publication stamps `published_at`, later ones keep it.

    Uploaded videos without a complete ladder are left unpublished (and not counted)."""
    pks = [v.pk for v in videos]
    if published:
        ready = Video.objects.filter(pk__in=pks).filter(Q(source="") | ~Q(ladder_path=""))
        pks = list(ready.values_list("pk", flat=True))
    if published:
        Video.objects.filter(pk__in=pks, published_at__isnull=True).update(published_at=timezone.now())
    changed = Video.objects.filter(pk__in=pks).update(is_published=published)
    video_published_snapshot_clear()  # update() sends no post_save
    return changed


def video_duration_report(*, video: Video, user: Member, seconds: float) -> bool:
    """A player that `user` watched `video` in saw this duration; True if the report was recorded.

    A staff member's report (previewing the player) fills an unknown duration at once. Anyone
    else's is one vote per member, counted only from members with a confirmed address; the duration
    is filled when DURATION_VOTES_NEEDED of them agree within DURATION_VOTE_TOLERANCE_SECONDS. No
    single account can set it for everyone else (a 1-second duration made others' watch batches
    fail; a day-long one made completion impossible), and nothing a player says overwrites a
    known duration: only staff change it, in the admin.
    """
    whole = round(seconds)
    if not 1 <= whole <= MAX_REPORTED_DURATION_SECONDS:
        raise ValueError(f"duration must be between 1 and {MAX_REPORTED_DURATION_SECONDS} seconds")
    if video.duration is not None:
        return False
    if user.is_staff:
        return _video_duration_fill(video_id=video.pk, seconds=whole)
    if not member_is_confirmed(user=user):
        return False
    _, created = VideoDurationVote.objects.get_or_create(
        video_id=video.pk, user_id=user.pk, defaults={"seconds": whole}
    )
    if not created:
        return False
    agreed = _duration_votes_agreed(video_id=video.pk, seconds=whole)
    if agreed is not None:
        _video_duration_fill(video_id=video.pk, seconds=agreed)
    return True


def _duration_votes_agreed(*, video_id: int, seconds: int) -> int | None:
    """The agreed duration if this vote completes a set of agreeing votes, else None.

    A new agreement must include the new vote, so only the two windows of TOLERANCE around it are
    looked at (indexed range queries, however many members voted). Two votes arriving at the same
    moment may each see one vote too few; the next agreeing vote then completes the set.
    """
    votes = VideoDurationVote.objects.filter(video_id=video_id)
    for low in (seconds - DURATION_VOTE_TOLERANCE_SECONDS, seconds):
        window = votes.filter(seconds__gte=low, seconds__lte=low + DURATION_VOTE_TOLERANCE_SECONDS)
        first = list(window.order_by("created_at", "pk").values_list("seconds", flat=True)[:DURATION_VOTES_NEEDED])
        if len(first) == DURATION_VOTES_NEEDED:
            return sorted(first)[DURATION_VOTES_NEEDED // 2]
    return None


def _video_duration_fill(*, video_id: int, seconds: int) -> bool:
    # Conditional UPDATE: concurrent fills race safely (exactly one wins), a known value stays.
    filled = bool(Video.objects.filter(pk=video_id, duration__isnull=True).update(duration=seconds))
    video_published_snapshot_clear()  # update() sends no post_save
    return filled


def video_playback_problem_record(*, video: Video, user: Member, code: str) -> bool:
    """`user`'s player could not play `video`; True if this is their first such report today.

    Only counted (staff see the count in the admin and mark the video unavailable themselves):
    a viewer's report never hides the video from anyone else.
    """
    _, created = VideoPlaybackProblem.objects.get_or_create(
        video_id=video.pk, user_id=user.pk, day=timezone.now().date(), defaults={"code": code[:32]}
    )
    # The server checks for itself whether the video still plays (debounced per video).
    video_recheck_request(video_id=video.pk)
    return created


def video_recheck_request(*, video_id: int) -> bool:
    """Queue a server check of one video unless one was queued within VIDEO_RECHECK_DEBOUNCE_SECONDS;
    True if queued. The key lives in the shared cache (Redis), so the window holds across processes."""
    if not cache.add(f"videos:recheck:{video_id}", 1, timeout=settings.VIDEO_RECHECK_DEBOUNCE_SECONDS):
        return False
    video_facts_refresh_enqueue(video_id=video_id)
    return True


def video_facts_refresh_enqueue(*, video_id: int) -> None:
    """Read the video's facts in the background once the current transaction commits."""
    from videos.tasks import video_facts_refresh_task  # tasks import this module

    transaction.on_commit(lambda: video_facts_refresh_task.delay(video_id))


def video_facts_refresh(*, video_id: int, with_image: bool | None = None) -> Video | None:
    """Read what the host says about the video and store it; the updated video (None if deleted).

    - facts read: duration filled when unknown (staff's value is kept), author, dimensions,
      codecs, card images made (when `with_image`, default: when there are none yet), any
      server-set unavailability cleared, `facts_error` emptied;
    - the host says it is gone (FactsUnavailable): the video is flagged unavailable with the code;
    - not read this time (FactsError): only `facts_error` says why; availability is unchanged.
    """
    video = Video.objects.filter(pk=video_id).first()
    if video is None:
        return None
    if video.source:
        return video  # an upload's facts come from its transcode (video_transcode)
    if with_image is None:
        with_image = not video.card_image and not video.thumbnail
    now = timezone.now()
    try:
        facts = video_facts_read(provider=video.provider, external_id=video.external_id, with_image=with_image)
    except FactsUnavailable as exc:
        Video.objects.filter(pk=video.pk).update(facts_checked_at=now, facts_error=str(exc)[:300])
        Video.objects.filter(pk=video.pk, is_unavailable=False).update(
            is_unavailable=True, unavailable_at=now, unavailable_code=exc.code[:32]
        )
        video_published_snapshot_clear()  # update() sends no post_save
        video.refresh_from_db()
        return video
    except FactsError as exc:
        Video.objects.filter(pk=video.pk).update(facts_checked_at=now, facts_error=str(exc)[:300])
        video.refresh_from_db()
        return video
    _video_facts_store(video=video, facts=facts, now=now)
    video_published_snapshot_clear()  # update() sends no post_save
    video.refresh_from_db()
    return video


def _video_facts_store(*, video: Video, facts: VideoFacts, now: object) -> None:
    changes: dict[str, object] = {"facts_checked_at": now, "facts_error": facts.image_error[:300]}
    if facts.author_name:
        changes["author_name"] = facts.author_name[:200]
    for name in ("width", "height"):
        if getattr(facts, name) is not None:
            changes[name] = getattr(facts, name)
    if facts.video_codec:
        changes["video_codec"] = facts.video_codec
        changes["audio_codec"] = facts.audio_codec
    if facts.image is not None:
        try:
            changes["card_image"] = _card_images_store(video_id=video.pk, image=facts.image)
        except ValidationError as exc:
            changes["facts_error"] = f"Thumbnail: {' '.join(exc.messages)}"[:300]
    Video.objects.filter(pk=video.pk).update(**changes)
    if facts.duration is not None:
        _video_duration_fill(video_id=video.pk, seconds=facts.duration)
    # A success clears what the server's own check set; a staff flag stays until staff clear it.
    Video.objects.filter(pk=video.pk, is_unavailable=True).exclude(unavailable_code=STAFF_CODE).update(
        is_unavailable=False, unavailable_at=None, unavailable_code=""
    )


def _card_images_store(*, video_id: int, image: bytes) -> str:
    """Store the card files under MEDIA_ROOT/thumbnails/cards/ and return their stem.

    A new random stem each time, so browsers and caches never show a stale card under an old URL."""
    cards = card_images_make(image=image)
    stem = f"thumbnails/cards/{video_id}-{uuid.uuid4().hex[:12]}"
    for suffix, data in cards.items():
        default_storage.save(f"{stem}-{suffix}", ContentFile(data))
    return stem


def video_availability_check_all() -> int:
    """Queue a server check of every published video; how many were queued."""
    from videos.tasks import video_facts_refresh_task  # tasks import this module

    # Uploads are on our own storage, checked when transcoded.
    ids = list(Video.objects.filter(is_published=True, source="").order_by("pk").values_list("pk", flat=True))
    for video_id in ids:
        video_facts_refresh_task.delay(video_id)
    return len(ids)


def video_unavailable_set(*, videos: Iterable[Video], code: str = STAFF_CODE) -> int:
    """Staff checked the selected videos and they no longer play; already-flagged ones keep their date."""
    changed = Video.objects.filter(pk__in=[v.pk for v in videos], is_unavailable=False).update(
        is_unavailable=True, unavailable_at=timezone.now(), unavailable_code=code[:32]
    )
    video_published_snapshot_clear()  # update() sends no post_save
    return changed


def video_available_set(*, videos: Iterable[Video]) -> int:
    """Staff checked the flagged videos and they play again."""
    changed = Video.objects.filter(pk__in=[v.pk for v in videos]).update(
        is_unavailable=False, unavailable_at=None, unavailable_code=""
    )
    video_published_snapshot_clear()  # update() sends no post_save
    return changed


# --- Uploaded sources: transcoding into an HLS ladder (videos/media.py) -------------------------

# A transcode holds this lock (Redis, renewed as ffmpeg reports progress) so a redelivered message
# never runs a second ffmpeg on the same video; a killed worker's lock lapses within this time.
TRANSCODE_LOCK_SECONDS = 20
PROGRESS_EVERY_SECONDS = 1.0


def video_source_accept(*, video: Video) -> None:
    """A new source was just saved on `video`: it becomes an upload ("upload:<uuid>" stands in
    for the URL other videos have) and its transcode is queued once the transaction commits."""
    if not video.external_id.startswith("upload:"):
        Video.objects.filter(pk=video.pk).update(
            provider=Video.Provider.FILE, external_id=f"upload:{uuid.uuid4().hex}", source_url=""
        )
    video_transcode_enqueue(video_id=video.pk)


def video_transcode_enqueue(*, video_id: int) -> None:
    """Queue (or re-queue, after a failure) the transcode of the video's uploaded source."""
    from videos.tasks import video_transcode_task  # tasks import this module

    Video.objects.filter(pk=video_id).exclude(source="").update(
        ladder_state=LadderState.QUEUED, ladder_progress=0, ladder_error=""
    )
    transaction.on_commit(lambda: video_transcode_task.delay(video_id))


def video_transcode_cancel(*, videos: Iterable[Video]) -> int:
    """Cancel the queued or running transcodes of `videos`; how many were cancelled.

    Only the state changes here: a queued task then finds nothing to do, and a running one notices
    within PROGRESS_EVERY_SECONDS (its progress update matches no row), kills ffmpeg and deletes
    its work (videos/services.py `video_transcode`). A published ladder stays published."""
    return Video.objects.filter(
        pk__in=[video.pk for video in videos],
        ladder_state__in=(LadderState.QUEUED, LadderState.TRANSCODING),
    ).update(ladder_state=LadderState.CANCELLED, ladder_progress=0, ladder_error="")


def _lock_key(video_id: int) -> str:
    return f"videos:transcode-lock:{video_id}"


def video_transcode(*, video_id: int) -> str:
    """Transcode the video's uploaded source into a new ladder and publish it; the outcome:
    "ready", "failed" (the reason in `ladder_error`), "busy" (another run holds the lock: retry
    later), "cancelled" (staff cancelled it, or a new source replaced this one, while it ran), or
    "skipped" (deleted, no source, or not queued: a redelivery of finished work).

    Idempotent and safe to kill at any point: it works in MEDIA_WORK_DIR/<id>/ (emptied first),
    uploads the ladder under a fresh "hls/<id>/<run>/" and only then points `ladder_path` at it,
    in one UPDATE; every other run's folder (a killed run's, the replaced ladder) is deleted."""
    video = Video.objects.filter(pk=video_id).first()
    if video is None or not video.source or video.ladder_state not in (LadderState.QUEUED, LadderState.TRANSCODING):
        return "skipped"
    run = uuid.uuid4().hex[:12]
    if not cache.add(_lock_key(video_id), run, timeout=TRANSCODE_LOCK_SECONDS):
        return "busy"
    workdir = Path(settings.MEDIA_WORK_DIR) / str(video_id)
    storage: Storage = video.source.storage
    source_name = str(video.source.name)
    prefix = f"hls/{video_id}/{run}/"
    still_wanted = _still_wanted(video_id=video_id, source_name=source_name)
    try:
        shutil.rmtree(workdir, ignore_errors=True)  # a killed run's leftovers
        workdir.mkdir(parents=True)
        _ladders_unused_delete(storage=storage, video_id=video_id, keep=video.ladder_path)
        # From QUEUED (or a killed run's TRANSCODING) only: a cancel since the read above wins.
        if not Video.objects.filter(pk=video_id, ladder_state__in=(LadderState.QUEUED, LadderState.TRANSCODING)).update(
            ladder_state=LadderState.TRANSCODING, ladder_progress=0, ladder_error=""
        ):
            return "cancelled"
        try:
            source = _source_local(storage=storage, name=source_name, workdir=workdir)
            facts = source_facts_read(path=source)
            ladder_build(source=source, out=workdir / "out", facts=facts, progress=still_wanted)
            _ladder_upload(storage=storage, out=workdir / "out", prefix=prefix, still_wanted=still_wanted)
        except TranscodeCancelled:
            _storage_tree_delete(storage=storage, prefix=prefix)  # what an upload had sent so far
            return "cancelled"
        except TranscodeFailed as exc:
            # Only if the source is still the one that failed: a new upload's queued state stays.
            Video.objects.filter(pk=video_id, source=source_name, ladder_state=LadderState.TRANSCODING).update(
                ladder_state=LadderState.FAILED, ladder_error=str(exc)[:300]
            )
            return "failed"
        if not _ladder_publish(video_id=video_id, source_name=source_name, prefix=prefix, facts=facts):
            _storage_tree_delete(storage=storage, prefix=prefix)  # the source changed meanwhile
            return "skipped"
        _ladders_unused_delete(storage=storage, video_id=video_id, keep=prefix)
        video_published_snapshot_clear()  # update() sends no post_save
        return "ready"
    except Exception as exc:
        Video.objects.filter(pk=video_id, source=source_name).update(
            ladder_state=LadderState.FAILED, ladder_error=f"Transcoding stopped: {type(exc).__name__}: {exc}"[:300]
        )
        raise
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        if cache.get(_lock_key(video_id)) == run:
            cache.delete(_lock_key(video_id))


def _source_local(*, storage: Storage, name: str, workdir: Path) -> Path:
    """The source as a local file: in place on the filesystem storage, else downloaded (S3).
    Checks first that the disk holds the work: the source, its ladder and a margin."""
    try:
        path = Path(storage.path(name))
        size = path.stat().st_size if path.exists() else 0
        copy_needed = False
    except NotImplementedError:
        path, size, copy_needed = workdir / ("source" + Path(name).suffix[:10]), storage.size(name), True
    # The ladder's renditions add up to about the source's size at typical bitrates; 3x leaves room.
    needed = size * (4 if copy_needed else 3) + settings.MEDIA_TRANSCODE_MIN_FREE_BYTES
    free = shutil.disk_usage(workdir).free
    if free < needed:
        raise TranscodeFailed(
            f"Not enough free disk space to transcode: {needed // 2**20} MB needed, {free // 2**20} MB free."
        )
    if copy_needed:
        with storage.open(name, "rb") as src, open(path, "wb") as dst:
            shutil.copyfileobj(src, dst, length=2**20)
    return path


def _still_wanted(*, video_id: int, source_name: str) -> Callable[[int], None]:
    """A progress callback: at most every PROGRESS_EVERY_SECONDS, stores the percent staff see
    and renews the lock, through one UPDATE that matches only while this run is still wanted (still
    TRANSCODING this source). When it matches nothing, staff cancelled (or re-queued, or replaced the
    source): TranscodeCancelled stops the work. Also called with -1 between uploaded files."""
    last = {"at": 0.0}

    def check(percent: int) -> None:
        now = time.monotonic()
        if now - last["at"] < PROGRESS_EVERY_SECONDS:
            return
        last["at"] = now
        running = Video.objects.filter(pk=video_id, source=source_name, ladder_state=LadderState.TRANSCODING)
        if not (running.update(ladder_progress=percent) if percent >= 0 else running.exists()):
            raise TranscodeCancelled
        cache.touch(_lock_key(video_id), TRANSCODE_LOCK_SECONDS)

    return check


def _ladder_upload(*, storage: Storage, out: Path, prefix: str, still_wanted: Callable[[int], None]) -> None:
    for path in sorted(p for p in out.rglob("*") if p.is_file()):
        name = prefix + path.relative_to(out).as_posix()
        with open(path, "rb") as handle:
            saved = storage.save(name, File(handle))
        if saved != name:  # a fresh run's names are free; a changed one would break the playlists
            raise OSError(f"the media storage renamed {name} to {saved}")
        still_wanted(-1)


def _ladder_publish(*, video_id: int, source_name: str, prefix: str, facts: SourceFacts) -> bool:
    """Point the video at its complete ladder, with the facts read; False if the source was
    replaced meanwhile (that source's own transcode is queued) or staff cancelled at the last moment."""
    with transaction.atomic():
        updated = Video.objects.filter(pk=video_id, source=source_name, ladder_state=LadderState.TRANSCODING).update(
            ladder_path=prefix,
            ladder_state=LadderState.READY,
            ladder_progress=100,
            ladder_error="",
            duration=max(1, round(facts.duration)),
            width=facts.width,
            height=facts.height,
            video_codec=facts.video_codec,
            audio_codec=facts.audio_codec,
            facts_checked_at=timezone.now(),
            facts_error="",
        )
    return bool(updated)


def video_poster_cards_make(*, video_id: int) -> None:
    """Catalogue cards from the published ladder's poster (when staff uploaded no thumbnail)."""
    video = Video.objects.filter(pk=video_id).first()
    if video is None or not video.ladder_path or video.thumbnail:
        return
    with video.source.storage.open(video.ladder_path + POSTER, "rb") as poster:
        image = poster.read()
    try:
        stem = _card_images_store(video_id=video_id, image=image)
    except ValidationError:
        return
    Video.objects.filter(pk=video_id).update(card_image=stem)


def _ladders_unused_delete(*, storage: Storage, video_id: int, keep: str) -> None:
    folder = f"hls/{video_id}"
    try:
        runs, _ = storage.listdir(folder)
    except FileNotFoundError:
        return
    for run in runs:
        if f"{folder}/{run}/" != keep:
            _storage_tree_delete(storage=storage, prefix=f"{folder}/{run}/")


def _storage_tree_delete(*, storage: Storage, prefix: str) -> None:
    try:
        folders, files = storage.listdir(prefix.rstrip("/"))
    except FileNotFoundError:
        return
    for name in files:
        storage.delete(prefix + name)
    for folder in folders:
        _storage_tree_delete(storage=storage, prefix=f"{prefix}{folder}/")
    # The filesystem keeps empty folders; an object store has none.
    with contextlib.suppress(NotImplementedError, OSError):
        Path(storage.path(prefix)).rmdir()


def video_media_delete(*, video_id: int, source_name: str) -> None:
    """Delete a deleted video's uploaded source and every ladder it had (after its row is gone)."""
    if source_name:
        default_storage.delete(source_name)
    _storage_tree_delete(storage=default_storage, prefix=f"hls/{video_id}/")


def member_video_reports_erase(user: Member) -> None:
    """The videos app's eraser of a member's data: their players' duration and problem reports."""
    VideoDurationVote.objects.filter(user=user).delete()
    VideoPlaybackProblem.objects.filter(user=user).delete()


def course_enrolments_record(*, user: Member, video_id: int) -> int:
    """The member opened the video's watch page: each published playlist holding it that they had
    not started yet starts now (server clock; the start its dripped items count from). Written
    once per member and playlist, never moved: returns how many started now."""
    playlist_ids = [playlist_id for playlist_id, _ in catalogue_video_playlists_get(video_id=video_id)]
    if not playlist_ids:
        return 0
    known = set(
        CourseEnrolment.objects.filter(user_id=user.pk, playlist_id__in=playlist_ids).values_list(
            "playlist_id", flat=True
        )
    )
    missing = [CourseEnrolment(user_id=user.pk, playlist_id=p) for p in playlist_ids if p not in known]
    # Two tabs opening at once: the unique constraint keeps the first start.
    CourseEnrolment.objects.bulk_create(missing, ignore_conflicts=True)
    if missing:
        course_starts_forget(user=user)  # the rest of this request sees the new start
    return len(missing)


def course_enrolments_erase(*, user_id: int) -> None:
    """Forget the member's course starts (account deletion; idempotent)."""
    CourseEnrolment.objects.filter(user_id=user_id).delete()


# --- Resumable uploads of sources (videos/uploads.py; the admin's video form sends them) ---

# The containers ffprobe and ffmpeg open for a source (videos/facts.py DEMUXERS).
SOURCE_EXTENSIONS = ["mp4", "m4v", "mov", "mkv", "webm", "ts"]
# A presigned part URL is used at once; an hour covers a slow part and the browser's retries.
UPLOAD_PART_URL_SECONDS = 3600


class UploadRefused(ValueError):
    """An upload request that cannot be honoured; the message is for staff."""


UPLOAD_GONE = "This upload was abandoned and cleared (or completed elsewhere): start it again."


def video_upload_start(*, member: Member, filename: str, size: int) -> VideoUpload:
    """Begin a resumable upload of `size` bytes; UploadRefused for an empty file, one over
    MEDIA_UPLOAD_MAX_BYTES or one whose name is not a video container's."""
    extension = Path(filename).suffix.lower().removeprefix(".")
    if extension not in SOURCE_EXTENSIONS:
        raise UploadRefused("This is not a video file the site takes (MP4, MOV, MKV, WebM or MPEG-TS).")
    if size <= 0:
        raise UploadRefused("The file is empty.")
    if size > settings.MEDIA_UPLOAD_MAX_BYTES:
        limit = settings.MEDIA_UPLOAD_MAX_BYTES // 2**20
        raise UploadRefused(f"The file is larger than the {limit} MB allowed (MEDIA_UPLOAD_MAX_MB).")
    free = upload_space_free(storage=default_storage)
    if free is not None and free < size + settings.MEDIA_TRANSCODE_MIN_FREE_BYTES:
        raise UploadRefused(f"Not enough free disk space for this file: {free // 2**20} MB free.")
    upload_id = uuid.uuid4()
    name = f"sources/{upload_id.hex}.{extension}"
    s3_upload_id = upload_begin(storage=default_storage, upload_id=str(upload_id), name=name, size=size)
    return VideoUpload.objects.create(
        id=upload_id,
        created_by=member,
        filename=filename[-255:],
        name=name,
        size=size,
        part_size=upload_part_size(size=size),
        s3_upload_id=s3_upload_id,
    )


def _part_check(*, upload: VideoUpload, number: int) -> int:
    if upload.completed_at is not None:
        raise UploadRefused("This upload is already complete.")
    if not 1 <= number <= upload.part_count:
        raise UploadRefused(f"This upload has parts 1 to {upload.part_count}, not {number}.")
    # Touched before any part moves: the sweep deletes only a row untouched since its cutoff, in one
    # transaction with the row locked, so this UPDATE either keeps the upload alive or finds it gone.
    if not VideoUpload.objects.filter(pk=upload.pk, completed_at__isnull=True).update(touched_at=timezone.now()):
        raise UploadRefused(UPLOAD_GONE)
    return upload.part_length(number)


def video_upload_part_url(*, upload: VideoUpload, number: int, local_url: str) -> str:
    """Where the browser PUTs part `number`: the store's presigned URL (S3), else `local_url`."""
    length = _part_check(upload=upload, number=number)
    url = upload_part_url(
        storage=default_storage,
        name=upload.name,
        s3_upload_id=upload.s3_upload_id,
        number=number,
        length=length,
        expires=UPLOAD_PART_URL_SECONDS,
    )
    return url or local_url


def video_upload_part_store(*, upload: VideoUpload, number: int, length: int, body: IO[bytes]) -> None:
    """Store part `number` of `length` bytes from `body` (filesystem storage; on S3 the browser
    sends parts to the store). UploadRefused when the length is not the part's."""
    expected = _part_check(upload=upload, number=number)
    if upload.s3_upload_id:
        raise UploadRefused("Parts of this upload go to the media store, not here.")
    if length != expected:
        raise UploadRefused(f"Part {number} is {expected} bytes, not {length}.")
    try:
        upload_part_write(
            storage=default_storage,
            upload_id=str(upload.id),
            number=number,
            offset=(number - 1) * upload.part_size,
            length=expected,
            body=body,
        )
    except PartRefused as exc:
        raise UploadRefused(str(exc)) from None


def video_upload_complete(*, upload: VideoUpload) -> None:
    """Join the parts into the source file; UploadRefused (the upload stays resumable) while a
    part is missing or of the wrong length."""
    with transaction.atomic():
        # A second "complete" (a double click, a retry after a lost answer) waits here, then finds
        # the upload complete instead of finishing it twice.
        locked = VideoUpload.objects.select_for_update().filter(pk=upload.pk).first()
        if locked is None:  # swept since the request read it
            raise UploadRefused(UPLOAD_GONE)
        if locked.completed_at is None:
            stored = video_upload_parts_stored(upload=locked)
            wrong = [n for n in range(1, locked.part_count + 1) if stored.get(n) != locked.part_length(n)]
            if wrong:
                raise UploadRefused(
                    f"{len(wrong)} part(s) missing or incomplete, the first part {wrong[0]}: send them again."
                )
            upload_finish(
                storage=default_storage, upload_id=str(locked.id), name=locked.name, s3_upload_id=locked.s3_upload_id
            )
            locked.completed_at = timezone.now()
            locked.save(update_fields=["completed_at"])
    upload.completed_at = locked.completed_at


def video_upload_spend(*, upload: VideoUpload) -> None:
    """The complete upload just became a video's source (saved with it): the token is spent, so
    no second video can share (and, deleted, delete) the same file."""
    VideoUpload.objects.filter(pk=upload.pk, completed_at__isnull=False).delete()


def video_uploads_abandoned_sweep(*, now: datetime | None = None) -> int:
    """Clear the unfinished uploads untouched for MEDIA_UPLOAD_ABANDONED_AFTER: abort each one's S3
    multipart upload or delete its staged files, then delete its row. Also clears what the store
    holds for no row at all, once as old (a staff member deleted with their uploads, a start that
    failed after the store began). A complete upload (its file is a source, or about to become one)
    and one touched since the cutoff are never cleared. Idempotent; returns how many were cleared."""
    cutoff = (now or timezone.now()) - settings.MEDIA_UPLOAD_ABANDONED_AFTER
    stale = Q(completed_at__isnull=True, touched_at__lt=cutoff)
    cleared = 0
    for pk in list(VideoUpload.objects.filter(stale).values_list("pk", flat=True)):
        try:
            with transaction.atomic():
                # Locked while the store is cleared: a part request's touch waits, then finds no
                # row; a completion in progress holds the lock, so it is skipped (and then complete).
                upload = VideoUpload.objects.select_for_update(skip_locked=True).filter(stale, pk=pk).first()
                if upload is None:
                    continue
                upload_discard(
                    storage=default_storage,
                    upload_id=str(upload.id),
                    name=upload.name,
                    s3_upload_id=upload.s3_upload_id,
                )
                upload.delete()
                cleared += 1
        except Exception:
            # The store refused (down, a permission): the row stays (rolled back) for the next
            # sweep, and this one goes on with the others.
            logger.exception("Abandoned upload %s not cleared", pk)
    known_ids = {str(pk) for pk in VideoUpload.objects.values_list("pk", flat=True)}
    known_s3_ids = set(VideoUpload.objects.exclude(s3_upload_id="").values_list("s3_upload_id", flat=True))
    for staged in uploads_staged(storage=default_storage):
        owned = staged.s3_upload_id in known_s3_ids if staged.s3_upload_id else staged.upload_id in known_ids
        if owned or staged.started >= cutoff:
            continue
        try:
            upload_discard(
                storage=default_storage, upload_id=staged.upload_id, name=staged.name, s3_upload_id=staged.s3_upload_id
            )
        except Exception:
            logger.exception("Stray upload %s not cleared", staged.upload_id or staged.name)
            continue
        cleared += 1
    return cleared
