"""Resumable uploads in parts from the video admin (videos/admin_upload.py, videos/uploads.py) on the
filesystem storage: staff only, CSRF on every write, the size capped at the start and per part, a
part cut off mid-way sent again, and the file reaching a video only once complete."""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import urllib.error
import urllib.request
from html import unescape
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

import m3u8
import pytest
from django.core.cache import cache
from django.test import Client

from tests.factories import MemberFactory
from tests.videos.clips import clip_make
from tests.videos.test_admin_upload import ADD_URL, upload_form
from videos.models import Video, VideoUpload
from videos.services import video_publish_set, video_transcode
from videos.uploads import PART_SIZE_MIN

pytestmark = pytest.mark.django_db

START_URL = "/admin/videos/video/upload/"


@pytest.fixture
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return tmp_path / "media"


@pytest.fixture
def staff():
    return MemberFactory(is_staff=True, is_superuser=True)


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


def payload(size: int) -> bytes:
    # Not a video: the protocol does not look inside (the transcode reads the file).
    return os.urandom(size)


def http(
    method: str, url: str, *, data: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    """A request over a real socket (a presigned S3 URL, the live server): status and body."""
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})  # noqa: S310 (http: tests)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except urllib.error.URLError:
        return 0, b""  # the server closed the connection before the body was sent


def start(client: Client, *, size: int, filename: str = "talk.mp4", **extra: Any) -> Any:
    return client.post(START_URL, {"filename": filename, "size": size}, content_type="application/json", **extra)


def put_part(client: Client, state: dict[str, Any], number: int, data: bytes, **extra: Any) -> Any:
    target = client.get(f"{state['url']}part/{number}/").json()["url"]
    if target.startswith("http"):  # S3: presigned, straight to the store
        return SimpleNamespace(status_code=http("PUT", target, data=data)[0])
    return client.put(target, data, content_type="application/octet-stream", **extra)


def send_all(client: Client, data: bytes, *, filename: str = "talk.mp4") -> dict[str, Any]:
    state = start(client, size=len(data), filename=filename).json()
    size = state["part_size"]
    for number in range(1, state["parts"] + 1):
        assert put_part(client, state, number, data[(number - 1) * size : number * size]).status_code in (200, 204)
    assert client.post(f"{state['url']}complete/").json()["complete"] is True
    return state


def test_staff_upload_a_file_in_parts_and_saving_the_form_makes_it_the_videos_source(
    staff_client, media_root, django_capture_on_commit_callbacks, monkeypatch
):
    data = payload(PART_SIZE_MIN + 12345)
    queued: list[int] = []
    monkeypatch.setattr("videos.tasks.video_transcode_task.delay", queued.append)

    state = send_all(staff_client, data)
    assert (state["parts"], state["part_size"]) == (2, PART_SIZE_MIN)
    assert not Video.objects.exists()  # complete, but no video's until the form is saved
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(ADD_URL, upload_form("", upload=state["id"]))

    assert response.status_code == 302, response.context["adminform"].form.errors
    video = Video.objects.get()
    assert (video.provider, video.ladder_state, video.is_published) == ("file", "queued", False)
    assert (media_root / video.source.name).read_bytes() == data
    assert queued == [video.pk]
    assert not VideoUpload.objects.exists()
    assert sorted(p.name for p in (media_root / "uploads").iterdir()) == []


def test_an_incomplete_upload_cannot_become_a_source_and_nothing_is_saved(staff_client, media_root):
    data = payload(PART_SIZE_MIN + 10)
    state = start(staff_client, size=len(data)).json()
    assert put_part(staff_client, state, 1, data[:PART_SIZE_MIN]).status_code == 204

    response = staff_client.post(ADD_URL, upload_form("", upload=state["id"]))
    assert response.status_code == 200
    assert "The upload is not complete" in str(response.context["adminform"].form.errors)
    refused = staff_client.post(f"{state['url']}complete/")
    assert refused.status_code == 409
    assert "part 2" in refused.json()["error"]
    assert not Video.objects.exists()
    assert not list((media_root / "sources").glob("*")) if (media_root / "sources").exists() else True


def test_a_complete_upload_becomes_the_source_of_one_video_only(staff_client, media_root, monkeypatch):
    monkeypatch.setattr("videos.tasks.video_transcode_task.delay", lambda video_id: None)
    state = send_all(staff_client, payload(1000))
    assert staff_client.post(ADD_URL, upload_form("", upload=state["id"])).status_code == 302

    again = staff_client.post(ADD_URL, upload_form("", title="Copy", upload=state["id"]))
    assert again.status_code == 200
    assert "was used already" in str(again.context["adminform"].form.errors)
    assert Video.objects.count() == 1


@pytest.mark.parametrize(
    ("filename", "size", "message"),
    [
        ("notes.txt", 100, "not a video file"),
        ("talk.mp4", 0, "The file is empty."),
        ("talk.mp4", 3 * 2**20 + 1, "larger than the 3 MB allowed"),
    ],
    ids=["not-a-video-name", "empty", "over-the-cap"],
)
def test_an_upload_that_cannot_be_taken_is_refused_at_the_start(
    staff_client, media_root, settings, filename, size, message
):
    settings.MEDIA_UPLOAD_MAX_BYTES = 3 * 2**20
    response = start(staff_client, size=size, filename=filename)
    assert response.status_code == 400
    assert message in response.json()["error"]
    assert not VideoUpload.objects.exists()
    assert not (media_root / "uploads").exists() or not any((media_root / "uploads").iterdir())


def test_an_upload_the_disk_cannot_hold_is_refused_at_the_start(staff_client, media_root, settings):
    settings.MEDIA_TRANSCODE_MIN_FREE_BYTES = 2**60  # the margin kept free for transcodes

    response = start(staff_client, size=1000)

    assert response.status_code == 400
    assert response.json()["error"].startswith("Not enough free disk space for this file")
    assert not VideoUpload.objects.exists()


def test_completing_twice_finishes_once(staff_client, media_root):
    data = payload(1000)
    state = send_all(staff_client, data)

    again = staff_client.post(f"{state['url']}complete/")

    assert (again.status_code, again.json()["complete"]) == (200, True)
    assert (media_root / VideoUpload.objects.get().name).read_bytes() == data


def test_a_part_longer_or_shorter_than_its_length_is_refused_and_not_counted(staff_client, media_root):
    data = payload(PART_SIZE_MIN + 100)
    state = start(staff_client, size=len(data)).json()

    assert put_part(staff_client, state, 2, data[PART_SIZE_MIN:] + b"extra").status_code == 409
    assert put_part(staff_client, state, 2, data[PART_SIZE_MIN:-1]).status_code == 409
    assert staff_client.get(f"{state['url']}part/3/").status_code == 409
    assert staff_client.put(f"{state['url']}part/3/", b"x", content_type="application/octet-stream").status_code == 409
    assert staff_client.get(state["url"]).json()["stored"] == []
    # The file on disk never grew past the declared size.
    assert (media_root / "uploads" / f"{state['id']}.part").stat().st_size == len(data)


def test_members_and_visitors_cannot_start_or_send_parts(client, staff_client, media_root):
    state = start(staff_client, size=10).json()
    member = Client()
    someone_else: Any = MemberFactory()
    member.force_login(someone_else)
    for someone in (member, Client()):
        assert start(someone, size=10).status_code == 302  # to the admin login
        assert someone.put(f"{state['url']}part/1/", b"0123456789").status_code == 302
    assert staff_client.get(state["url"]).json()["stored"] == []


def test_another_staff_members_upload_is_not_found(staff_client, media_root):
    state = start(staff_client, size=10).json()
    other = Client()
    other_staff: Any = MemberFactory(is_staff=True, is_superuser=True)
    other.force_login(other_staff)
    assert other.get(state["url"]).status_code == 404
    assert (
        other.put(f"{state['url']}part/1/", b"0123456789", content_type="application/octet-stream").status_code == 404
    )


def test_every_write_needs_the_csrf_token(staff, media_root):
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(staff)
    assert start(strict, size=10).status_code == 403
    lenient = Client()
    lenient.force_login(staff)
    state = start(lenient, size=10).json()
    assert strict.put(f"{state['url']}part/1/", b"0123456789").status_code == 403
    assert strict.post(f"{state['url']}complete/").status_code == 403
    assert lenient.get(state["url"]).json()["stored"] == []


def test_a_connection_dropped_mid_part_resumes_and_the_stored_bytes_are_identical(
    live_server, staff, media_root, settings
):
    """Over a real socket: the client sends half of part 2 and hangs up; the server keeps part 1,
    counts no part 2, and after the resume the file is byte for byte the one sent."""
    data = payload(2 * PART_SIZE_MIN + 777)
    browser = Client()
    browser.force_login(staff)
    cookies = f"{settings.SESSION_COOKIE_NAME}={browser.cookies[settings.SESSION_COOKIE_NAME].value}; "
    cookies += f"{settings.CSRF_COOKIE_NAME}={'a' * 32}"
    headers = {"Cookie": cookies, "X-CSRFToken": "a" * 32, "Origin": live_server.url}

    def call(method: str, path: str, body: bytes | None = None, **extra: str) -> tuple[int, Any]:
        status, answer = http(method, f"{live_server.url}{path}", data=body, headers={**headers, **extra})
        return status, json.loads(answer) if answer else None

    code, state = call("POST", START_URL, json.dumps({"filename": "a.mkv", "size": len(data)}).encode(),
                       **{"Content-Type": "application/json"})  # fmt: skip
    assert code == 201, state
    part = state["part_size"]
    assert call("PUT", f"{state['url']}part/1/", data[:part])[0] == 204

    # Part 2: the headers promise the whole part, half of it is sent, then the connection drops.
    address = urlsplit(live_server.url)
    with socket.create_connection((address.hostname, address.port)) as sock:
        head = (
            f"PUT {state['url']}part/2/ HTTP/1.1\r\nHost: {address.netloc}\r\nContent-Length: {part}\r\n"
            f"Content-Type: application/octet-stream\r\nCookie: {cookies}\r\nX-CSRFToken: {'a' * 32}\r\n"
            f"Origin: {live_server.url}\r\n\r\n"
        )
        sock.sendall(head.encode() + data[part : part + part // 2])
        sock.shutdown(socket.SHUT_WR)
        sock.recv(1000)

    status = call("GET", state["url"])[1]
    assert status["stored"] == [1]
    assert call("POST", f"{state['url']}complete/")[0] == 409
    for number in range(1, state["parts"] + 1):
        if number not in status["stored"]:
            assert call("PUT", f"{state['url']}part/{number}/", data[(number - 1) * part : number * part])[0] == 204
    assert call("POST", f"{state['url']}complete/")[1]["complete"]

    name = VideoUpload.objects.get(pk=state["id"]).name
    stored = Path(media_root / name)
    assert hashlib.sha256(stored.read_bytes()).hexdigest() == hashlib.sha256(data).hexdigest()


def _body(response: Any) -> bytes:
    return b"".join(response.streaming_content)


def upload_transcode_play(client: Client, clip: Path, monkeypatch: Any) -> Video:
    """Staff upload `clip` in parts and save the form; the transcode runs; the watch page's signed
    URL then plays every rung (master, rendition playlists, their first segment)."""
    monkeypatch.setattr("videos.tasks.video_transcode_task.delay", lambda video_id: None)
    state = send_all(client, clip.read_bytes(), filename=clip.name)
    assert client.post(ADD_URL, upload_form("", upload=state["id"])).status_code == 302
    video = Video.objects.get()
    cache.delete(f"videos:transcode-lock:{video.pk}")
    assert video_transcode(video_id=video.pk) == "ready"
    assert video_publish_set(videos=[video], published=True) == 1

    # The change page's preview: the same signed URL a member's watch page gets, for this session.
    html = client.get(f"/admin/videos/video/{video.pk}/change/").content.decode()
    found = re.search(r'data-external-id="(/hls/[^"]+)"', html)
    assert found, "no ladder URL in the preview"
    master_url = unescape(found.group(1))
    master = m3u8.loads(_body(client.get(master_url)).decode())
    base = master_url.rsplit("/", 1)[0]
    heights = []
    for variant in master.playlists:
        rendition = client.get(f"{base}/{variant.uri}")
        assert rendition.status_code == 200
        playlist = m3u8.loads(_body(rendition).decode())
        folder = variant.uri.rsplit("/", 1)[0]
        segment = client.get(f"{base}/{folder}/{playlist.segments[0].uri}")
        assert (segment.status_code, segment["Content-Type"]) == (200, "video/mp2t")
        assert _body(segment)[:1] == b"G"  # an MPEG-TS sync byte
        heights.append(variant.stream_info.resolution[1])
    assert heights == [240, 360]
    return video


def test_an_upload_in_parts_is_transcoded_and_plays_every_rung(staff_client, media_root, settings, monkeypatch):
    settings.MEDIA_WORK_DIR = media_root.parent / "work"
    settings.MEDIA_TRANSCODE_MIN_FREE_BYTES = 0
    upload_transcode_play(
        staff_client, clip_make(media_root.parent / "talk.mp4", seconds=3, size="640x360"), monkeypatch
    )
