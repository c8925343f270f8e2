"""Uploaded sources become a complete HLS ladder, or fail with a reason and publish nothing
(videos/media.py, videos/services.py `video_transcode`)."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import m3u8
import pytest
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction

import videos.services
from tests.conftest import ROOT, WorkerProcess, broker, wait_until
from tests.factories import VideoFactory
from tests.videos.clips import clip_make
from videos.media import LADDER, ladder_plan, source_facts_read, thumbnails_vtt
from videos.models import LadderState, Video
from videos.services import (
    TRANSCODE_LOCK_SECONDS,
    video_publish_set,
    video_transcode,
    video_transcode_cancel,
    video_transcode_enqueue,
)


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.MEDIA_WORK_DIR = tmp_path / "work"
    settings.MEDIA_TRANSCODE_MIN_FREE_BYTES = 0
    return tmp_path


def _upload(path: Path, **fields) -> Video:
    video = Video.objects.get(
        pk=VideoFactory(
            provider=Video.Provider.FILE,
            external_id=f"upload:{path.name}",
            is_published=False,
            published_at=None,
            duration=None,
            ladder_state=LadderState.QUEUED,
            **fields,
        ).pk
    )
    video.source.save(path.name, ContentFile(path.read_bytes()))
    cache.delete(f"videos:transcode-lock:{video.pk}")
    return video


def _ladder(media: Path, video: Video) -> tuple[m3u8.M3U8, list[m3u8.M3U8]]:
    folder = media / "media" / video.ladder_path
    master = m3u8.load(str(folder / "master.m3u8"))
    return master, [m3u8.load(str(folder / p.uri)) for p in master.playlists]


def test_an_uploaded_source_becomes_a_complete_ladder_that_never_upscales(db, media):
    video = _upload(clip_make(media / "talk.mp4", seconds=9, size="640x360"))

    assert video_transcode(video_id=video.pk) == "ready"

    video.refresh_from_db()
    assert (video.ladder_state, video.ladder_progress, video.ladder_error) == ("ready", 100, "")
    assert (video.duration, video.width, video.height) == (9, 640, 360)
    master, renditions = _ladder(media, video)
    # 240p and 360p only: a 360p source is never blown up to 480p or more.
    assert [p.stream_info.resolution for p in master.playlists] == [(426, 240), (640, 360)]
    assert all("avc1" in p.stream_info.codecs and "mp4a" in p.stream_info.codecs for p in master.playlists)
    # Keyframes aligned: every rendition cuts its segments at the same times, of 4 s.
    durations = [[s.duration for s in r.segments] for r in renditions]
    assert durations[0] == durations[1] == [4.0, 4.0, 1.0]
    assert all(r.is_endlist and r.playlist_type == "vod" for r in renditions)
    assert (media / "media" / video.ladder_path / "poster.jpg").read_bytes()[:2] == b"\xff\xd8"
    # The scrubbing sprite beside the master playlist: frames at 0, 5 s (9 s / 5 s), 160 x 90 each.
    sprite = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-show_entries",
            "stream=codec_name,width,height",
            "-of",
            "csv=p=0",
            str(media / "media" / video.ladder_path / "sprite.jpg"),
        ],
        capture_output=True,
        check=True,
    )
    assert sprite.stdout.decode().strip() == "mjpeg,320,90"
    cues = (media / "media" / video.ladder_path / "thumbnails.vtt").read_text()
    assert cues == thumbnails_vtt(duration=9.0)
    # Nothing left behind in the work dir.
    assert not any((media / "work").iterdir())


def test_the_thumbnail_cues_cover_the_video_cell_by_cell_in_rows_of_ten():
    cues = thumbnails_vtt(duration=61.5).strip().split("\n\n")

    assert cues[0] == "WEBVTT"
    assert cues[1] == "00:00:00.000 --> 00:00:05.000\nsprite.jpg#xywh=0,0,160,90"
    assert cues[10] == "00:00:45.000 --> 00:00:50.000\nsprite.jpg#xywh=1440,0,160,90"
    assert cues[11] == "00:00:50.000 --> 00:00:55.000\nsprite.jpg#xywh=0,90,160,90"
    # The last cue ends with the video, not a whole interval later.
    assert cues[13] == "00:01:00.000 --> 00:01:01.500\nsprite.jpg#xywh=320,90,160,90"
    assert len([c for c in cues if "-->" in c]) == 13


def test_a_long_video_gets_sparser_thumbnails_not_a_bigger_sprite():
    cues = [c for c in thumbnails_vtt(duration=10 * 3600).strip().split("\n\n") if "-->" in c]

    assert len(cues) == 200
    assert cues[1].startswith("00:03:00.000 --> 00:06:00.000\n")  # every 180 s
    assert cues[-1].endswith("sprite.jpg#xywh=1440,1710,160,90")


def test_a_cancelled_queued_transcode_does_nothing_and_a_retry_runs_it(db, media):
    video = _upload(clip_make(media / "talk.mp4"))

    assert video_transcode_cancel(videos=[video]) == 1
    assert video_transcode(video_id=video.pk) == "skipped"
    video.refresh_from_db()
    assert (video.ladder_state, video.ladder_path) == ("cancelled", "")

    video_transcode_enqueue(video_id=video.pk)
    assert video_transcode(video_id=video.pk) == "ready"


def test_a_cancel_while_ffmpeg_runs_stops_it_and_leaves_no_files(db, media, monkeypatch):
    video = _upload(clip_make(media / "talk.mp4", seconds=9))
    # Staff cancel on the admin as the first progress report arrives.
    real_check = videos.services._still_wanted

    def cancelled_meanwhile(**kwargs):
        check = real_check(**kwargs)

        def progress(percent: int) -> None:
            video_transcode_cancel(videos=[video])
            check(percent)

        return progress

    monkeypatch.setattr("videos.services._still_wanted", cancelled_meanwhile)

    assert video_transcode(video_id=video.pk) == "cancelled"

    video.refresh_from_db()
    assert (video.ladder_state, video.ladder_path, video.is_published) == ("cancelled", "", False)
    assert not (media / "media" / "hls").exists() or not any((media / "media" / "hls").rglob("*.*"))
    assert not any((media / "work").iterdir())
    assert cache.get(f"videos:transcode-lock:{video.pk}") is None


def test_transcodes_go_to_the_media_queue_not_the_background_one():
    from config.celery_app import app

    assert app.amqp.router.route({}, "media.video_transcode")["queue"].name == "media"


def test_the_ladder_plan_takes_every_rung_up_to_the_source_and_the_source_height_below_the_lowest():
    assert [r.height for r in ladder_plan(height=1080)] == [h for h, _ in LADDER]
    assert [r.height for r in ladder_plan(height=719)] == [240, 360, 480]
    assert [r.height for r in ladder_plan(height=181)] == [180]


def test_a_source_without_audio_gets_a_video_only_ladder(db, media):
    video = _upload(clip_make(media / "silent.mp4", size="320x240", audio=False))

    assert video_transcode(video_id=video.pk) == "ready"

    video.refresh_from_db()
    master, _ = _ladder(media, video)
    # H.264 only, no mp4a (this short 240p clip is copied into its one rung: the source's profile).
    assert [p.stream_info.codecs for p in master.playlists] == ["avc1.42c00d"]
    assert video.audio_codec == ""


def test_a_source_of_odd_dimensions_becomes_even_sized_renditions(db, media):
    video = _upload(clip_make(media / "odd.mkv", size="321x241", pix_fmt="yuv444p"))

    assert video_transcode(video_id=video.pk) == "ready"

    video.refresh_from_db()
    master, _ = _ladder(media, video)
    assert [p.stream_info.resolution for p in master.playlists] == [(320, 240)]
    assert (video.width, video.height) == (321, 241)


def _truncated(path: Path) -> Path:
    clip_make(path, seconds=8)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    return path


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: (p / "notes.mp4").write_text("these are my notes, not a video") and p / "notes.mp4", "not a video"),
        (lambda p: (p / "empty.mp4").write_bytes(b"") or p / "empty.mp4", "The file is empty."),
        (lambda p: _truncated(p / "cut.mp4"), "truncated"),
        (
            lambda p: (
                subprocess.run(
                    ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine", "-t", "2", str(p / "song.m4a")], check=True
                )
                and p / "song.m4a"
            ),
            "no video track",
        ),
    ],
    ids=["not-a-video", "empty", "truncated", "audio-only"],
)
def test_a_bad_source_fails_with_its_reason_and_publishes_nothing(db, media, make, message):
    video = _upload(make(media))

    assert video_transcode(video_id=video.pk) == "failed"

    video.refresh_from_db()
    assert video.ladder_state == "failed"
    assert message in video.ladder_error
    assert video.ladder_path == ""
    assert not (media / "media" / "hls" / str(video.pk)).exists() or not any(
        (media / "media" / "hls" / str(video.pk)).iterdir()
    )
    assert not any((media / "work").iterdir())
    # ... and it cannot be published, by any path.
    assert video_publish_set(videos=[video], published=True) == 0
    video.is_published = True
    with pytest.raises(IntegrityError), transaction.atomic():
        video.save()


def test_too_little_free_disk_space_fails_before_ffmpeg_runs(db, media, settings):
    video = _upload(clip_make(media / "talk.mp4"))
    settings.MEDIA_TRANSCODE_MIN_FREE_BYTES = 2**60

    assert video_transcode(video_id=video.pk) == "failed"

    video.refresh_from_db()
    assert video.ladder_error.startswith("Not enough free disk space to transcode")


def test_an_upload_can_be_published_once_its_ladder_is_ready(db, media):
    video = _upload(clip_make(media / "talk.mp4"))
    assert video_publish_set(videos=[video], published=True) == 0

    video_transcode(video_id=video.pk)

    assert video_publish_set(videos=[video], published=True) == 1
    video.refresh_from_db()
    assert video.is_published


def test_a_second_delivery_while_one_runs_does_not_start_another_ffmpeg(db, media):
    video = _upload(clip_make(media / "talk.mp4"))
    cache.add(f"videos:transcode-lock:{video.pk}", "someone-else", timeout=TRANSCODE_LOCK_SECONDS)

    assert video_transcode(video_id=video.pk) == "busy"
    cache.delete(f"videos:transcode-lock:{video.pk}")


def test_a_retry_deletes_the_folders_an_earlier_run_left_unpublished(db, media):
    video = _upload(clip_make(media / "talk.mp4"))
    stale = media / "media" / "hls" / str(video.pk) / "0123456789ab" / "0"
    stale.mkdir(parents=True)
    (stale / "seg_00000.ts").write_bytes(b"half a segment")

    assert video_transcode(video_id=video.pk) == "ready"

    video.refresh_from_db()
    assert [p.name + "/" for p in (media / "media" / "hls" / str(video.pk)).iterdir()] == [
        video.ladder_path.split("/")[-2] + "/"
    ]


# The media worker's runs are real processes (a Celery worker, and this script for what staff do in
# the admin) on a database file of their own: the test database may be in memory.
_RUN = """
import sys, django
django.setup()
from django.core.management import call_command
from videos.models import Video
from videos.services import video_transcode_cancel, video_transcode_enqueue
command, video_id = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 0
if "--on-cue" in sys.argv:  # set up now, act when told: the action lands at once (no start-up)
    print("ready", flush=True)
    sys.stdin.readline()
if command == "setup":
    call_command("migrate", verbosity=0)
    video = Video.objects.create(title="t", slug="t", provider="file", external_id="upload:t")
    video.source.name = "sources/long.mp4"
    video.save()
    print(video.pk)
elif command == "enqueue":  # the admin's "Transcode the selected uploads again"
    video_transcode_enqueue(video_id=video_id)
    print("queued")
elif command == "cancel":  # the admin's "Cancel the selected uploads' transcoding"
    print(video_transcode_cancel(videos=Video.objects.filter(pk=video_id)))
"""


class MediaSite:
    """A database file, media folders and a 20-s 360p source for real media workers."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.env = {
            "DATABASE_URL": f"sqlite:///{root / 'db.sqlite3'}",
            "MEDIA_ROOT": str(root / "media"),
            "MEDIA_WORK_DIR": str(root / "work"),
            "MEDIA_TRANSCODE_MIN_FREE_MB": "0",
            # The shortest allowed: a killed worker's message comes back to the next one after it.
            "CELERY_BROKER_VISIBILITY_TIMEOUT": "30",
        }
        (root / "media" / "sources").mkdir(parents=True)
        clip_make(root / "media" / "sources" / "long.mp4", seconds=20, size="640x360")
        broker().flushdb()
        self.video_id = self.run("setup")
        self.work = root / "work" / self.video_id

    def run(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-c", _RUN, *args],
            cwd=ROOT,
            env={**WorkerProcess(env=self.env).env(), "DJANGO_SETTINGS_MODULE": "config.settings_test"},
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout.strip().splitlines()[-1]

    def on_cue(self, *args: str) -> Callable[[], str]:
        """`run(*args)` in a process started now, with Django set up, that acts when the returned
        function is called (and returns its output): staff's click lands within milliseconds."""
        proc = subprocess.Popen(
            [sys.executable, "-c", _RUN, *args, "--on-cue"],
            cwd=ROOT,
            env={**WorkerProcess(env=self.env).env(), "DJANGO_SETTINGS_MODULE": "config.settings_test"},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready", proc.stderr

        def act() -> str:
            out, err = proc.communicate("go\n", timeout=60)
            assert proc.returncode == 0, err[-3000:]
            return out.strip().splitlines()[-1]

        return act

    def worker(self) -> WorkerProcess:
        return WorkerProcess(concurrency=1, env=self.env).start()

    def row(self) -> tuple[str, int, str, str, int | None]:
        with contextlib.closing(sqlite3.connect(self.root / "db.sqlite3")) as db:
            return db.execute(
                "SELECT ladder_state, ladder_progress, ladder_error, ladder_path, duration FROM videos_video "
                "WHERE id = ?",
                (int(self.video_id),),
            ).fetchone()

    def ffmpeg_runner(self, worker: WorkerProcess) -> int:
        """The pid of the worker process that runs ffmpeg (the pool child with the task)."""
        for child in worker.child_pids():
            grandchildren = subprocess.run(["pgrep", "-P", str(child)], capture_output=True, text=True).stdout.split()
            if any(Path(f"/proc/{pid}/comm").read_text().strip() == "ffmpeg" for pid in grandchildren):
                return child
        raise AssertionError("no worker process runs ffmpeg")

    def files(self) -> list[Path]:
        return sorted(p for p in (self.root / "media" / "hls").rglob("*") if p.is_file())

    def ladder_check(self) -> None:
        """One complete, valid ladder published, and nothing else: no other run, no work files."""
        # The run empties its work dir last, after publishing and deleting other runs' folders.
        wait_until(lambda: not self.work.exists(), timeout=30)
        state, progress, error, path, duration = self.row()
        assert (state, progress, error, duration) == ("ready", 100, "", 20)
        runs = list((self.root / "media" / "hls" / self.video_id).iterdir())
        assert [f"hls/{self.video_id}/{r.name}/" for r in runs] == [path]
        assert sorted(p.name for p in runs[0].iterdir()) == [
            "0", "1", "master.m3u8", "poster.jpg", "sprite.jpg", "thumbnails.vtt"
        ]  # fmt: skip
        master = m3u8.load(str(runs[0] / "master.m3u8"))
        assert [p.stream_info.resolution[1] for p in master.playlists] == [240, 360]
        for rendition in master.playlists:
            playlist = m3u8.load(str(runs[0] / rendition.uri))
            folder = (runs[0] / rendition.uri).parent
            assert playlist.is_endlist
            assert sum(s.duration for s in playlist.segments) == pytest.approx(20, abs=0.1)
            assert all((folder / s.uri).stat().st_size > 0 for s in playlist.segments)


@pytest.mark.integration
def test_staff_cancel_a_running_transcode_then_retry_it_on_a_real_media_worker(tmp_path):
    site = MediaSite(tmp_path)
    worker = site.worker()
    # Ready before the transcode starts: a 20-s source is laddered in seconds, and a cancel that
    # had to start Django first could arrive after the end (it would then rightly cancel nothing).
    cancel = site.on_cue("cancel", site.video_id)
    site.run("enqueue", site.video_id)
    wait_until(lambda: (row := site.row())[0] == "transcoding" and row[1] >= 1, timeout=120, interval=0.05)
    runner = site.ffmpeg_runner(worker)

    assert cancel() == "1"

    # The worker noticed: ffmpeg is gone, and so are its work files; nothing was published.
    wait_until(lambda: not site.work.exists(), timeout=20)
    assert subprocess.run(["pgrep", "-P", str(runner)], capture_output=True).stdout == b""
    assert site.row()[:4] == ("cancelled", 0, "", "")
    assert site.files() == []

    site.run("enqueue", site.video_id)  # retry
    wait_until(lambda: site.row()[0] == "ready", timeout=240)
    site.ladder_check()
    worker.stop()


@pytest.mark.integration
def test_a_transcode_killed_midway_finishes_cleanly_on_another_worker(tmp_path):
    site = MediaSite(tmp_path)
    first = site.worker()
    site.run("enqueue", site.video_id)
    # Killed once ffmpeg has written segments (what an OOM kill or a lost node looks like): the
    # process that runs the task, then its parent, each by its pid.
    wait_until(lambda: any(site.work.rglob("seg_*.ts")), timeout=120)
    os.kill(site.ffmpeg_runner(first), signal.SIGKILL)
    assert first.proc is not None
    os.kill(first.proc.pid, signal.SIGKILL)
    first.proc.wait(10)
    first.kill()  # what else the dead worker had (its embedded beat)
    # ffmpeg died with it (PR_SET_PDEATHSIG): nothing writes into the work dir any more.
    time.sleep(1)
    frozen = sorted((p.name, p.stat().st_size) for p in site.work.rglob("*") if p.is_file())
    time.sleep(1)
    assert sorted((p.name, p.stat().st_size) for p in site.work.rglob("*") if p.is_file()) == frozen
    assert site.row()[0] == "transcoding"

    # Redis hands the unacknowledged message to the next worker once its visibility timeout has
    # passed (checked when a worker starts); by then the dead run's lock has lapsed too.
    time.sleep(31)
    second = site.worker()
    wait_until(lambda: site.row()[0] == "ready", timeout=240)
    site.ladder_check()
    second.stop()


def test_deleting_an_upload_deletes_its_source_and_ladder(db, media, django_capture_on_commit_callbacks):
    video = _upload(clip_make(media / "talk.mp4"))
    video_transcode(video_id=video.pk)
    video.refresh_from_db()
    source = media / "media" / video.source.name
    assert source.is_file()

    with django_capture_on_commit_callbacks(execute=True):
        Video.objects.filter(pk=video.pk).delete()  # the admin's bulk delete path: no model delete()

    assert not source.exists()
    assert not (media / "media" / "hls" / str(video.pk)).exists()


def test_a_failure_of_a_replaced_source_leaves_the_new_uploads_transcode_queued(db, media, monkeypatch):
    video = _upload((media / "bad.mp4").write_text("not a video") and media / "bad.mp4")
    real_read = source_facts_read

    def replaced_meanwhile(*, path):
        # Staff upload a new file while the old one is being read.
        Video.objects.filter(pk=video.pk).update(source="sources/new.mp4", ladder_state=LadderState.QUEUED)
        return real_read(path=path)

    monkeypatch.setattr("videos.services.source_facts_read", replaced_meanwhile)

    assert video_transcode(video_id=video.pk) == "failed"

    video.refresh_from_db()
    assert (video.ladder_state, video.ladder_error) == ("queued", "")
