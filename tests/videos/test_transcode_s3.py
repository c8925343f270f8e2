"""The S3 media path against a real S3-compatible server (MinIO, bin/minio; no mock of S3): an
upload's source and its whole ladder live in the bucket, and the transcode works from it."""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import boto3
import pytest
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from tests.conftest import ROOT, free_port, wait_until
from tests.factories import MemberFactory, VideoFactory
from tests.videos.clips import clip_make
from tests.videos.test_upload_resumable import http, start, upload_transcode_play
from videos.models import LadderState, Video, VideoUpload
from videos.services import video_transcode
from videos.uploads import PART_SIZE_MIN

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
            "BACKEND": "config.media_storage.MediaS3Storage",  # as config/settings.py sets it
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
    assert type(default_storage._wrapped).__name__ == "MediaS3Storage"

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


def s3_media_endpoint(_: Path) -> str:
    return str(default_storage.endpoint_url)


def test_an_upload_in_presigned_parts_resumes_after_a_drop_and_the_bucket_holds_identical_bytes(db, s3_media, client):
    """The browser's path on S3: each part PUT straight to MinIO with a presigned URL. Part 2 is cut
    off mid-way (the connection drops); MinIO keeps part 1 only, and after the resume the object is
    byte for byte the file sent. A body longer than the part's signed length is refused."""
    client.force_login(MemberFactory(is_staff=True, is_superuser=True))
    data = os.urandom(2 * PART_SIZE_MIN + 4321)
    state = start(client, size=len(data), filename="talk.mov").json()
    size = state["part_size"]
    name = VideoUpload.objects.get(pk=state["id"]).name

    def url(number: int) -> str:
        found: str = client.get(f"{state['url']}part/{number}/").json()["url"]
        assert found.startswith(s3_media_endpoint(s3_media))
        return found

    assert http("PUT", url(1), data=data[:size])[0] == 200
    # Longer than the length signed into the URL: MinIO answers 4xx or closes the connection.
    assert http("PUT", url(2), data=data[size : 2 * size] + b"x")[0] in (0, 400, 403)
    target = urlsplit(url(2))
    with socket.create_connection((target.hostname, target.port)) as sock:
        head = f"PUT {target.path}?{target.query} HTTP/1.1\r\nHost: {target.netloc}\r\nContent-Length: {size}\r\n\r\n"
        sock.sendall(head.encode() + data[size : size + size // 2])
        sock.close()
    assert wait_until(lambda: client.get(state["url"]).json()["stored"] == [1], timeout=10)
    assert not default_storage.exists(name)  # nothing in the bucket before it is complete

    for number in (2, 3):
        assert http("PUT", url(number), data=data[(number - 1) * size : number * size])[0] == 200
    assert client.post(f"{state['url']}complete/").json()["complete"] is True
    with default_storage.open(name, "rb") as stored:
        assert hashlib.sha256(stored.read()).hexdigest() == hashlib.sha256(data).hexdigest()


def test_an_upload_in_parts_on_s3_is_transcoded_and_plays_every_rung(db, s3_media, client, monkeypatch):
    client.force_login(MemberFactory(is_staff=True, is_superuser=True))
    clip = clip_make(s3_media / "talk.mp4", seconds=2, size="640x360")

    video = upload_transcode_play(client, clip, monkeypatch)

    assert default_storage.exists(str(video.source.name))
    assert not (s3_media / "media-unused").exists()


def test_on_s3_the_upload_form_may_send_parts_to_the_stores_origin_only(db, s3_media, client):
    client.force_login(MemberFactory(is_staff=True, is_superuser=True))
    origin = s3_media_endpoint(s3_media)

    policy = client.get("/admin/videos/video/add/")["Content-Security-Policy"]

    connect = next(d for d in policy.split("; ") if d.startswith("connect-src"))
    assert connect.split()[1:] == ["'self'", origin]
    assert origin not in client.get("/admin/")["Content-Security-Policy"]
