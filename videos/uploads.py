"""Resumable uploads of video sources, in parts, on either media storage (no database here:
videos/services.py `video_upload_*` keeps the state; docs/decisions/0012-resumable-upload-in-s3-parts.md).

One protocol, S3's multipart upload: start (the size is known and capped), send each part (retried
alone after a dropped connection), ask which parts are stored, complete. On an S3-compatible store
the browser sends each part straight to the store with a presigned URL (the bytes never pass
through Python); the presigned URL signs the part's exact length, so the store refuses a longer
body. On the filesystem storage (the default, under MEDIA_ROOT) Django takes each part in its
place: the body is streamed in 1 MiB reads into the staged file at the part's offset, never held
whole; a part counts as stored only once all its bytes are written (a marker file), so a part cut
off mid-way is simply sent again. Completing moves the staged file to its final name (a rename).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from django.core.files.storage import Storage

# At least S3's minimum part (5 MiB) and at most nginx's body limit under /admin/ (8m,
# etc/nginx/watchpoint.conf.in): 8 MiB parts make a 20 GB upload 2,560 parts of S3's 10,000.
PART_SIZE_MIN = 8 * 2**20
S3_MAX_PARTS = 10_000
READ_CHUNK = 2**20
# The folder of the filesystem storage where unfinished uploads are staged (never served: nginx
# serves only /media/thumbnails/ and the signed /hls/).
STAGING = "uploads"


class PartRefused(Exception):
    """A part that cannot be stored as sent; the message is for staff."""


def upload_part_size(*, size: int) -> int:
    """The part size for a file of `size` bytes: 8 MiB, larger (in whole MiB) past 80 GB."""
    needed = -(-size // S3_MAX_PARTS)
    return max(PART_SIZE_MIN, -(-needed // 2**20) * 2**20)


def s3_client(*, storage: Storage) -> Any | None:
    """The boto3 client of an S3 storage (django-storages' public `connection`), None on the filesystem."""
    from storages.backends.s3 import S3Storage  # boto3 is imported only where S3 is used

    if isinstance(storage, S3Storage):
        return storage.connection.meta.client
    return None


def _bucket(storage: Storage) -> str:
    return str(storage.bucket_name)  # type: ignore[attr-defined]


def _staged(storage: Storage, upload_id: str) -> tuple[Path, Path]:
    folder = Path(storage.path(STAGING))
    return folder / f"{upload_id}.part", folder / f"{upload_id}.parts"


def upload_space_free(*, storage: Storage) -> int | None:
    """Free bytes where the filesystem storage stages uploads; None on S3 (no disk of ours)."""
    if s3_client(storage=storage) is not None:
        return None
    folder = Path(storage.path(STAGING))
    folder.mkdir(parents=True, exist_ok=True)
    return shutil.disk_usage(folder).free


def upload_begin(*, storage: Storage, upload_id: str, name: str, size: int) -> str:
    """Start the upload of `size` bytes to `name`; the S3 multipart upload id ("" on the filesystem)."""
    client = s3_client(storage=storage)
    if client is not None:
        answer = client.create_multipart_upload(Bucket=_bucket(storage), Key=name)
        return str(answer["UploadId"])
    data, parts = _staged(storage, upload_id)
    parts.mkdir(parents=True, exist_ok=True)
    with open(data, "wb") as handle:
        # Sparse: the parts fill it in any order; no disk is taken until they arrive.
        handle.truncate(size)
    return ""


def upload_part_url(
    *, storage: Storage, name: str, s3_upload_id: str, number: int, length: int, expires: int
) -> str | None:
    """The presigned URL the browser PUTs part `number` to, signed for its exact `length`
    (S3 only; None on the filesystem, where Django takes the part)."""
    client = s3_client(storage=storage)
    if client is None:
        return None
    url: str = client.generate_presigned_url(
        "upload_part",
        Params={
            "Bucket": _bucket(storage),
            "Key": name,
            "UploadId": s3_upload_id,
            "PartNumber": number,
            "ContentLength": length,
        },
        ExpiresIn=expires,
    )
    return url


def upload_part_write(
    *, storage: Storage, upload_id: str, number: int, offset: int, length: int, body: IO[bytes]
) -> None:
    """Store part `number` (`length` bytes at `offset`) from `body` on the filesystem storage.
    PartRefused when the body holds fewer bytes (a dropped connection) or more."""
    data, parts = _staged(storage, upload_id)
    if not data.is_file():
        raise PartRefused("This upload is no longer staged: start it again.")
    written = 0
    fd = os.open(data, os.O_WRONLY)
    try:
        while written < length:
            chunk = body.read(min(READ_CHUNK, length - written))
            if not chunk:
                break
            os.pwrite(fd, chunk, offset + written)
            written += len(chunk)
        if written == length and body.read(1):
            raise PartRefused(f"Part {number} is longer than the {length} bytes expected.")
    finally:
        os.close(fd)
    if written != length:
        raise PartRefused(f"Part {number} arrived incomplete ({written} of {length} bytes): send it again.")
    try:
        (parts / str(number)).touch()
    except FileNotFoundError:
        # Swept meanwhile (upload_discard): the bytes went to a file no longer anyone's.
        raise PartRefused("This upload is no longer staged: start it again.") from None


def upload_parts_stored(*, storage: Storage, upload_id: str, name: str, s3_upload_id: str) -> dict[int, int]:
    """The parts stored so far: {part number: length}."""
    client = s3_client(storage=storage)
    if client is None:
        _, parts = _staged(storage, upload_id)
        with contextlib.suppress(FileNotFoundError):
            # The length is implied (a marker exists only for a whole part): the caller's to fill.
            return {int(p.name): -1 for p in parts.iterdir() if p.name.isdigit()}
        return {}
    try:
        return {part["PartNumber"]: part["Size"] for part in _s3_parts(client, storage, name, s3_upload_id)}
    except client.exceptions.NoSuchUpload:
        return {}  # aborted by the sweep since the caller read its row: the next part request says so


def _s3_parts(client: Any, storage: Storage, name: str, s3_upload_id: str) -> Iterator[dict[str, Any]]:
    paginator = client.get_paginator("list_parts")
    for page in paginator.paginate(Bucket=_bucket(storage), Key=name, UploadId=s3_upload_id):
        yield from page.get("Parts", [])


def upload_finish(*, storage: Storage, upload_id: str, name: str, s3_upload_id: str) -> None:
    """Make the stored parts the file `name` (the caller checked that every part is there)."""
    client = s3_client(storage=storage)
    if client is not None:
        parts = [
            {"PartNumber": p["PartNumber"], "ETag": p["ETag"]} for p in _s3_parts(client, storage, name, s3_upload_id)
        ]
        client.complete_multipart_upload(
            Bucket=_bucket(storage), Key=name, UploadId=s3_upload_id, MultipartUpload={"Parts": parts}
        )
        return
    data, parts_dir = _staged(storage, upload_id)
    # One flush to disk for the whole file, not one per part: a part's fsync cost about a third
    # of the throughput (bench/media_upload.py); a crash of the web process loses nothing the page
    # cache holds, and the file is on disk before it becomes any video's source.
    fd = os.open(data, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    final = Path(storage.path(name))
    final.parent.mkdir(parents=True, exist_ok=True)
    # Same filesystem (both under MEDIA_ROOT): a rename, whatever the size.
    data.rename(final)
    shutil.rmtree(parts_dir, ignore_errors=True)


@dataclass(frozen=True)
class StagedUpload:
    """An unfinished upload as the storage holds it: on the filesystem its staged files (by the
    upload's id), on S3 an open multipart upload (by its key and S3 id)."""

    upload_id: str
    name: str
    s3_upload_id: str
    started: datetime


def upload_discard(*, storage: Storage, upload_id: str, name: str, s3_upload_id: str) -> None:
    """Drop an unfinished upload's stored parts: abort the S3 multipart upload (the store frees its
    parts), or delete the staged file and its part markers. Idempotent: an upload already gone is
    no error."""
    client = s3_client(storage=storage)
    if client is not None:
        with contextlib.suppress(client.exceptions.NoSuchUpload):
            client.abort_multipart_upload(Bucket=_bucket(storage), Key=name, UploadId=s3_upload_id)
        return
    data, parts = _staged(storage, upload_id)
    data.unlink(missing_ok=True)
    shutil.rmtree(parts, ignore_errors=True)


def uploads_staged(*, storage: Storage) -> Iterator[StagedUpload]:
    """Every unfinished upload the storage holds, whether or not a VideoUpload row still names it
    (a row deleted with its staff member, a start that failed after the store began the upload)."""
    client = s3_client(storage=storage)
    if client is not None:
        paginator = client.get_paginator("list_multipart_uploads")
        # Filtered here, not with Prefix=: MinIO reads a prefix as one exact key.
        for page in paginator.paginate(Bucket=_bucket(storage)):
            for found in page.get("Uploads", []):
                if str(found["Key"]).startswith("sources/"):
                    yield StagedUpload("", found["Key"], found["UploadId"], found["Initiated"])
        return
    folder = Path(storage.path(STAGING))
    try:
        entries = list(folder.iterdir())
    except FileNotFoundError:
        return
    ids = {entry.name.rsplit(".", 1)[0] for entry in entries if entry.suffix in (".part", ".parts")}
    for upload_id in sorted(ids):
        # The latest write: a part's bytes change the staged file, its marker the folder.
        times = []
        for path in _staged(storage, upload_id):
            with contextlib.suppress(FileNotFoundError):
                times.append(path.stat().st_mtime)
        if times:
            yield StagedUpload(upload_id, "", "", datetime.fromtimestamp(max(times), tz=UTC))
