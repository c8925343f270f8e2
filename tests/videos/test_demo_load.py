"""`make run`'s demo catalogue includes an uploaded video, transcoded and published members-only."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from videos.models import Video

pytestmark = pytest.mark.django_db


def test_the_demo_catalogue_has_an_uploaded_members_only_video_with_its_ladder(settings, tmp_path, monkeypatch):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.MEDIA_WORK_DIR = tmp_path / "work"
    settings.MEDIA_TRANSCODE_MIN_FREE_BYTES = 0
    # A shorter, smaller clip than `make run`'s, for the shared test machine.
    monkeypatch.setattr(
        "videos.management.commands.demo_load.UPLOAD", ("Uploaded demo", "test-pattern-upload", 3, "320x240")
    )

    call_command("demo_load")
    call_command("demo_load")  # idempotent

    video = Video.objects.get(slug="test-pattern-upload")
    assert (video.ladder_state, video.is_published, video.members_only, video.duration) == ("ready", True, True, 3)
    assert (tmp_path / "media" / video.ladder_path / "master.m3u8").is_file()
    assert video.card_image
