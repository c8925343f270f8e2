"""Abandoned uploads are swept on S3 too, against the real MinIO (bin/minio; no mock of S3): the sweep
aborts the multipart upload (AbortMultipartUpload: the store drops its parts, and a presigned URL
for another part stops working) and deletes the row; an upload still receiving parts, a complete
one and a fresh one stay. The filesystem's sweep: tests/videos/test_upload_sweep.py."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest
from botocore.exceptions import ClientError
from django.core.files.storage import default_storage
from django.utils import timezone

from tests.factories import MemberFactory
from tests.videos.test_transcode_s3 import BUCKET, minio, s3_media  # noqa: F401 (fixtures)
from tests.videos.test_upload_resumable import http, put_part, send_all, start
from videos.models import VideoUpload
from videos.services import video_uploads_abandoned_sweep
from videos.uploads import PART_SIZE_MIN

pytestmark = pytest.mark.integration


@pytest.fixture
def staff_client(db, s3_media, client):  # noqa: F811
    client.force_login(MemberFactory(is_staff=True, is_superuser=True))
    return client


def store():
    return default_storage.connection.meta.client


def open_uploads() -> set[str]:
    """The S3 ids of the multipart uploads MinIO holds open in the bucket."""
    return {found["UploadId"] for found in store().list_multipart_uploads(Bucket=BUCKET).get("Uploads", [])}


def backdate(upload_id: str, *, hours: float) -> None:
    VideoUpload.objects.filter(pk=upload_id).update(touched_at=timezone.now() - timedelta(hours=hours))


def test_an_abandoned_upload_is_aborted_in_the_bucket_and_its_row_deleted(staff_client):
    data = os.urandom(2 * PART_SIZE_MIN)
    state = start(staff_client, size=len(data)).json()
    upload = VideoUpload.objects.get(pk=state["id"])
    assert put_part(staff_client, state, 1, data[:PART_SIZE_MIN]).status_code == 200
    later = staff_client.get(f"{state['url']}part/2/").json()["url"]  # a URL the browser still holds
    assert upload.s3_upload_id in open_uploads()
    backdate(state["id"], hours=25)

    assert video_uploads_abandoned_sweep() == 1

    assert upload.s3_upload_id not in open_uploads()
    with pytest.raises(ClientError, match="NoSuchUpload"):
        store().list_parts(Bucket=BUCKET, Key=upload.name, UploadId=upload.s3_upload_id)
    assert not VideoUpload.objects.filter(pk=state["id"]).exists()
    # The store refuses the rest of the upload (404 NoSuchUpload, or it closes the connection
    # before the body): nothing can complete it any more.
    assert http("PUT", later, data=data[PART_SIZE_MIN:])[0] in (0, 404)
    assert not default_storage.exists(upload.name)
    assert staff_client.get(state["url"]).status_code == 404
    # Idempotent: the upload already aborted is no error.
    assert video_uploads_abandoned_sweep() == 0


def test_uploads_in_progress_complete_or_fresh_are_left_alone(staff_client):
    data = os.urandom(PART_SIZE_MIN + 10)
    fresh = start(staff_client, size=len(data)).json()
    resumed = start(staff_client, size=len(data)).json()
    backdate(resumed["id"], hours=30)
    assert put_part(staff_client, resumed, 1, data[:PART_SIZE_MIN]).status_code == 200  # touched now
    complete = send_all(staff_client, data)
    backdate(complete["id"], hours=24 * 30)
    ids = {key: VideoUpload.objects.get(pk=state["id"]) for key, state in (("fresh", fresh), ("resumed", resumed))}

    assert video_uploads_abandoned_sweep() == 0

    assert {ids["fresh"].s3_upload_id, ids["resumed"].s3_upload_id} <= open_uploads()
    assert VideoUpload.objects.filter(pk__in=[fresh["id"], resumed["id"], complete["id"]]).count() == 3
    with default_storage.open(VideoUpload.objects.get(pk=complete["id"]).name, "rb") as stored:
        assert stored.read() == data
    assert put_part(staff_client, resumed, 2, data[PART_SIZE_MIN:]).status_code == 200
    assert staff_client.post(f"{resumed['url']}complete/").json()["complete"] is True


def test_a_multipart_upload_no_row_names_is_aborted_once_as_old(db, s3_media):  # noqa: F811
    """Started in the bucket, then its row lost (its staff member deleted, a failed start)."""
    orphan = store().create_multipart_upload(Bucket=BUCKET, Key="sources/orphan.mp4")["UploadId"]
    other = store().create_multipart_upload(Bucket=BUCKET, Key="other/kept.mp4")["UploadId"]

    assert video_uploads_abandoned_sweep() == 0  # too recent: MinIO says it began just now
    assert orphan in open_uploads()
    # The sweep's clock a day on (as beat's will be): the orphan goes; outside sources/ is not ours.
    swept = video_uploads_abandoned_sweep(now=timezone.now() + timedelta(hours=25))

    assert orphan not in open_uploads()
    assert other in open_uploads()
    assert swept >= 1
