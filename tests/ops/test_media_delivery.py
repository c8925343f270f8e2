"""Members-only HLS delivery through nginx (etc/nginx/watchpoint.conf.in, videos/media.py).

Real processes on free ports, on a database of their own: gunicorn and nginx in front (bin/nginx).
A seed transcodes a generated clip into a ladder and publishes it members-only; two members have
sessions. nginx serves every playlist and segment itself (secure_link): the member whose session
the watch page signed for gets them, with the right types, ranges and cache headers, even with
gunicorn frozen; another member's browser, a browser without a session, an expired or tampered
link and the member's own browser after logging out get 403 from nginx.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from html import unescape
from pathlib import Path

import m3u8
import pytest
import redis
from django.conf import settings

from tests.conftest import ROOT, free_port, session_processes, wait_until
from tests.videos.clips import clip_make

pytestmark = pytest.mark.integration

SECRET = secrets.token_urlsafe(32)

_SEED = """
import json
from django.core.files import File
from django.test import Client
from tests.factories import MemberFactory, VideoFactory
from videos.services import video_transcode
a, b = MemberFactory(), MemberFactory()
video = VideoFactory(provider="file", external_id="upload:seed", slug="uploaded", members_only=True,
                     is_published=False, published_at=None, duration=None, ladder_state="queued")
with open({clip!r}, "rb") as handle:
    video.source.save("talk.mp4", File(handle))
assert video_transcode(video_id=video.pk) == "ready", video.__class__.objects.get(pk=video.pk).ladder_error
video.refresh_from_db()
video.is_published = True
video.save()
sessions = []
for member in (a, b):
    client = Client()
    client.force_login(member)
    sessions.append(client.cookies["sessionid"].value)
print(json.dumps({{"a": sessions[0], "b": sessions[1], "ladder": video.ladder_path}}))
"""


@dataclass
class Site:
    proxy: tuple[str, int]
    a: str
    b: str
    ladder: str
    web_pid: int


def _env(tmp: Path, web: int, proxy: int) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "WEB_", "INGEST_", "MEDIA_"))},
        "DJANGO_SETTINGS_MODULE": "config.settings_test",
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DJANGO_SECURE_PROXY_SSL": "true",
        "DATABASE_URL": f"sqlite:///{tmp / 'db.sqlite3'}",
        "REDIS_URL": settings.REDIS_URL,
        "MEDIA_ROOT": str(tmp / "media"),
        "MEDIA_WORK_DIR": str(tmp / "work"),
        "MEDIA_URL_SECRET": SECRET,
        "MEDIA_TRANSCODE_MIN_FREE_MB": "0",
        "WEB_BIND": f"127.0.0.1:{web}",
        "WEB_CONCURRENCY": "1",
        "NGINX_LISTEN": f"127.0.0.1:{proxy}",
        "WATCHPOINT_VAR": str(tmp),
    }


def _run(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([*args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def get(
    site: Site, path: str, *, cookie: str | None = None, headers: dict[str, str] | None = None, method: str = "GET"
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection(*site.proxy, timeout=10)
    try:
        all_headers = {**({"Cookie": f"sessionid={cookie}"} if cookie else {}), **(headers or {})}
        conn.request(method, path, headers=all_headers)
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    # Not pytest's tmp_path (mode 700 under /tmp/pytest-of-root): as root, nginx's workers run as
    # www-data and must be able to reach MEDIA_ROOT.
    tmp = Path(tempfile.mkdtemp(prefix="watchpoint-media-test-"))
    tmp.chmod(0o755)
    web, proxy = free_port(), free_port()
    env = _env(tmp, web, proxy)
    clip = clip_make(tmp / "talk.mp4", seconds=9, size="640x360")
    _run(env, sys.executable, "manage.py", "migrate", "-v", "0")
    seed = _run(env, sys.executable, "manage.py", "shell", "-c", _SEED.format(clip=str(clip)))
    seeded = json.loads(seed.splitlines()[-1])
    with open(tmp / "web.log", "wb") as log:
        proc = subprocess.Popen(
            [str(ROOT / ".venv" / "bin" / "gunicorn"), "config.wsgi"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _run(env, str(ROOT / "bin" / "nginx"), "start")
        site = Site(proxy=("127.0.0.1", proxy), a=seeded["a"], b=seeded["b"], ladder=seeded["ladder"], web_pid=proc.pid)

        def ready() -> bool:
            try:
                return get(site, "/healthz")[0] in (200, 503)
            except OSError:
                return False

        wait_until(ready, timeout=90, interval=0.5)
        yield site
    finally:
        subprocess.run([str(ROOT / "bin" / "nginx"), "stop"], cwd=ROOT, env=env, check=False)
        os.killpg(proc.pid, signal.SIGCONT)
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        wait_until(lambda: not session_processes(proc.pid), timeout=30)
        redis.Redis.from_url(settings.REDIS_URL).flushdb()
        shutil.rmtree(tmp, ignore_errors=True)


def master_url(site: Site, cookie: str) -> str:
    status, _, body = get(site, "/watch/uploaded/", cookie=cookie)
    assert status == 200, body[-2000:]
    found = re.search(rb'data-external-id="([^"]+)"', body)
    assert found, "no player on the watch page"
    return unescape(found.group(1).decode())


def ladder_urls(site: Site, master: str) -> tuple[str, str]:
    """The first rendition's playlist and first segment, as hls.js resolves them (relatively)."""
    base = master.rsplit("/", 1)[0]
    _, _, body = get(site, master, cookie=site.a)
    rendition = f"{base}/{m3u8.loads(body.decode()).playlists[0].uri}"
    _, _, body = get(site, rendition, cookie=site.a)
    return rendition, f"{rendition.rsplit('/', 1)[0]}/{m3u8.loads(body.decode()).segments[0].uri}"


def test_the_member_plays_the_ladder_from_nginx_with_types_ranges_and_cache_headers(site: Site) -> None:
    master = master_url(site, site.a)
    assert master.startswith("/hls/")
    rendition, segment = ladder_urls(site, master)
    # Media bytes never pass through Python: with gunicorn frozen, nginx still serves every file.
    os.killpg(site.web_pid, signal.SIGSTOP)
    try:
        status, headers, body = get(site, master, cookie=site.a)
        assert (status, headers["content-type"]) == (200, "application/vnd.apple.mpegurl")
        assert headers["cache-control"] == "private, max-age=60"
        assert b"#EXT-X-STREAM-INF" in body
        status, headers, _ = get(site, rendition, cookie=site.a)
        assert (status, headers["cache-control"]) == (200, "private, max-age=60")
        status, headers, whole = get(site, segment, cookie=site.a)
        assert (status, headers["content-type"]) == (200, "video/mp2t")
        assert headers["cache-control"] == "private, max-age=31536000, immutable"
        status, headers, part = get(site, segment, cookie=site.a, headers={"Range": "bytes=188-375"})
        assert status == 206
        assert headers["content-range"] == f"bytes 188-375/{len(whole)}"
        assert part == whole[188:376]
        poster = master.rsplit("/", 1)[0] + "/poster.jpg"
        status, headers, _ = get(site, poster, cookie=site.a)
        assert (status, headers["content-type"]) == (200, "image/jpeg")
        # The scrubbing previews' cues, under the same signature as the ladder.
        status, headers, body = get(site, master.rsplit("/", 1)[0] + "/thumbnails.vtt", cookie=site.a)
        assert (status, headers["content-type"], body[:6]) == (200, "text/vtt", b"WEBVTT")
    finally:
        os.killpg(site.web_pid, signal.SIGCONT)


def test_another_members_copy_of_the_urls_is_refused_by_nginx(site: Site) -> None:
    master = master_url(site, site.a)
    rendition, segment = ladder_urls(site, master)

    for url in (master, rendition, segment):
        assert get(site, url, cookie=site.b)[0] == 403
        assert get(site, url)[0] == 403  # no session at all


def test_an_expired_or_tampered_url_is_refused_by_nginx(site: Site, settings) -> None:
    from videos.media import ladder_url_sign

    settings.MEDIA_URL_SIGNING_KEY = SECRET
    fresh = ladder_url_sign(ladder_path=site.ladder, session_key=site.a, expires=int(time.time()) + 60)
    expired = ladder_url_sign(ladder_path=site.ladder, session_key=site.a, expires=int(time.time()) - 1)
    assert get(site, fresh, cookie=site.a)[0] == 200

    assert get(site, expired, cookie=site.a)[0] == 403
    # A later expiry written into the expired link does not match its signature.
    sig, exp, rest = expired.removeprefix("/hls/").split("/", 2)
    assert get(site, f"/hls/{sig}/{int(exp) + 3600}/{rest}", cookie=site.a)[0] == 403
    # Nor does another ladder's folder, nor a malformed path (never passed to Django either).
    other = re.sub(r"/hls/([^/]+)/(\d+)/(\d+)/", lambda m: f"/hls/{m[1]}/{m[2]}/{int(m[3]) + 1}/", fresh)
    assert get(site, other, cookie=site.a)[0] == 403
    assert get(site, "/hls/../media/sources/talk.mp4", cookie=site.a)[0] in (400, 403, 404)
    # The uploaded source and the ladder are never served from /media/.
    assert get(site, "/media/sources/talk.mp4", cookie=site.a)[0] == 404
    assert get(site, f"/media/{site.ladder}master.m3u8", cookie=site.a)[0] == 404


def test_after_logout_the_members_browser_is_refused_by_nginx(site: Site) -> None:
    cookie = site.a
    master = master_url(site, cookie)
    status, headers, body = get(site, "/accounts/logout/", cookie=cookie)
    assert status == 200
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', body)
    csrf_cookie = re.search(r"csrftoken=([^;]+)", headers.get("set-cookie", ""))
    assert token
    assert csrf_cookie
    conn = http.client.HTTPConnection(*site.proxy, timeout=10)
    conn.request(
        "POST",
        "/accounts/logout/",
        body=f"csrfmiddlewaretoken={token.group(1).decode()}",
        headers={
            "Cookie": f"sessionid={cookie}; csrftoken={csrf_cookie.group(1)}",
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    response = conn.getresponse()
    response.read()
    conn.close()
    assert response.status == 302
    # Django told the browser to drop its session cookie: what it sends now gets 403 at nginx.
    assert re.search(r'sessionid=""', response.getheader("set-cookie") or "")
    assert get(site, master)[0] == 403


def test_after_a_password_change_the_urls_issued_before_are_refused_by_nginx(site: Site) -> None:
    cookie = site.b
    master = master_url(site, cookie)
    assert get(site, master, cookie=cookie)[0] == 200
    status, headers, body = get(site, "/accounts/password/change/", cookie=cookie)
    assert status == 200
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', body)
    csrf_cookie = re.search(r"csrftoken=([^;]+)", headers.get("set-cookie", ""))
    assert token
    assert csrf_cookie
    conn = http.client.HTTPConnection(*site.proxy, timeout=10)
    new_password = "another horse battery staple 9"
    conn.request(
        "POST",
        "/accounts/password/change/",
        body=(
            f"csrfmiddlewaretoken={token.group(1).decode()}&oldpassword=correct+horse+battery+staple"
            f"&password1={new_password.replace(' ', '+')}&password2={new_password.replace(' ', '+')}"
        ),
        headers={
            "Cookie": f"sessionid={cookie}; csrftoken={csrf_cookie.group(1)}",
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    response = conn.getresponse()
    response.read()
    conn.close()
    assert response.status == 302
    # Django gave the browser a new session key: the URLs signed for the old one are refused...
    renewed = re.search(r"sessionid=([a-z0-9]+);", response.getheader("set-cookie") or "")
    assert renewed
    assert renewed.group(1) != cookie
    assert get(site, master, cookie=renewed.group(1))[0] == 403
    # ...and the watch page signs new ones for the new key.
    assert get(site, master_url(site, renewed.group(1)), cookie=renewed.group(1))[0] == 200
