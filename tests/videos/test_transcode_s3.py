"""The S3 media path against a real S3-compatible server (MinIO, bin/minio; no mock of S3): an
upload's source and its whole ladder live in the bucket, and the transcode works from it."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from tests.conftest import ROOT, free_port
from tests.factories import VideoFactory
from tests.videos.clips import clip_make
from videos.models import LadderState, Video
from videos.services import video_transcode

pytestmark = pytest.mark.integration

BUCKET = "watchpoint-media-test"


def _minio_buildable() -> bool:
    """bin/minio finds a built binary in the cache, or the Go toolchain to build one."""
    built = list((Path.home() / ".cache" / "watchpoint").glob("minio-*/minio"))
    return bool(built or shutil.which("go") or Path("/usr/local/go/bin/go").exists())


@pytest.fixture(scope="module")
def minio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    if not _minio_buildable():
        pytest.skip("MinIO is built from its Go module (bin/minio build): install Go to run the S3 path")
    env = {
        **os.environ,
        "WATCHPOINT_VAR": str(tmp_path_factory.mktemp("minio")),
        "MINIO_ADDRESS": f"127.0.0.1:{free_port()}",
        "MINIO_CONSOLE_ADDRESS": f"127.0.0.1:{free_port()}",
    }
    started = subprocess.run([str(ROOT / "bin" / "minio"), "start"], env=env, capture_output=True, text=True)
    assert started.returncode == 0, started.stderr[-3000:]
    try:
        found = subprocess.run([str(ROOT / "bin" / "minio"), "env"], env=env, capture_output=True, text=True)
        settings = dict(line.split("=", 1) for line in found.stdout.split())
        boto3.client(
            "s3",
            endpoint_url=settings["MEDIA_S3_ENDPOINT_URL"],
            aws_access_key_id=settings["MEDIA_S3_ACCESS_KEY_ID"],
            aws_secret_access_key=settings["MEDIA_S3_SECRET_ACCESS_KEY"],
            region_name="us-east-1",
        ).create_bucket(Bucket=BUCKET)
        yield settings
    finally:
        subprocess.run([str(ROOT / "bin" / "minio"), "stop"], env=env, check=False)


@pytest.fixture
def s3_media(minio, settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": BUCKET,
                "endpoint_url": minio["MEDIA_S3_ENDPOINT_URL"],
                "access_key": minio["MEDIA_S3_ACCESS_KEY_ID"],
                "secret_key": minio["MEDIA_S3_SECRET_ACCESS_KEY"],
                "region_name": "us-east-1",
                "addressing_style": "path",
                "signature_version": "s3v4",
                "file_overwrite": False,
                "default_acl": None,
            },
        },
    }
    settings.MEDIA_ROOT = tmp_path / "media-unused"
    settings.MEDIA_WORK_DIR = tmp_path / "work"
    settings.MEDIA_TRANSCODE_MIN_FREE_BYTES = 0
    return tmp_path


def test_an_upload_on_s3_is_transcoded_from_the_bucket_into_a_ladder_in_the_bucket(db, s3_media):
    clip = clip_make(s3_media / "talk.mp4", seconds=5, size="640x360")
    video = Video.objects.get(
        pk=VideoFactory(
            provider="file", external_id="upload:s3", is_published=False, ladder_state=LadderState.QUEUED
        ).pk
    )
    video.source.save("talk.mp4", ContentFile(clip.read_bytes()))
    cache.delete(f"videos:transcode-lock:{video.pk}")
    assert type(default_storage._wrapped).__name__ == "S3Storage"

    assert video_transcode(video_id=video.pk) == "ready"

    video.refresh_from_db()
    runs, _ = default_storage.listdir(f"hls/{video.pk}")
    assert [f"hls/{video.pk}/{run}/" for run in runs] == [video.ladder_path]
    folders, files = default_storage.listdir(video.ladder_path.rstrip("/"))
    assert (sorted(folders), sorted(files)) == (
        ["0", "1"],
        ["master.m3u8", "poster.jpg", "sprite.jpg", "thumbnails.vtt"],
    )
    with default_storage.open(f"{video.ladder_path}0/index.m3u8") as playlist:
        assert b"#EXT-X-ENDLIST" in playlist.read()
    assert (video.duration, video.height) == (5, 360)
    # Nothing on the local disk: neither under MEDIA_ROOT nor left in the work dir.
    assert not (s3_media / "media-unused").exists()
    assert not any(Path(s3_media / "work").iterdir())
