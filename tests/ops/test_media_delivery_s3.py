"""Members-only HLS delivery with MEDIA_STORAGE=s3: nginx checks the signed URL (secure_link, as for
local files), then fetches the object from the bucket (a real MinIO, bin/minio) and streams it; no
byte passes through Python. Thumbnails and card images too: the pages name them /media/thumbnails/...
(same origin, as on the filesystem) and nginx proxies them from the bucket. The bucket lets only the
proxy's address read hls/* and thumbnails/* unsigned (`manage.py media_bucket_policy`): the same
object asked for directly from another address is refused by the store.
"""

from __future__ import annotations

import http.client
import os
import secrets
import subprocess
import time
from collections.abc import Iterator

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command

from config.csp import policy_header
from tests.conftest import ROOT, free_port
from tests.factories import VideoFactory
from tests.videos.test_transcode_s3 import BUCKET, minio, s3_media  # noqa: F401 (fixtures)
from videos.media import ladder_url_sign

pytestmark = pytest.mark.integration

SECRET = secrets.token_urlsafe(32)
LADDER = "hls/7/0123456789ab/"
SEGMENT = bytes(range(256)) * 40  # 10,240 bytes, each position recognisable
CARD = "thumbnails/cards/7-0123456789ab"  # a card image's stem (videos/services.py _card_images_store)
CARD_JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8  # its bytes, as nginx must pass them on
SOURCE = b"the uploaded source: never served from /media/"


def get(
    port: int, path: str, *, cookie: str | None = None, headers: dict[str, str] | None = None, source: str = "127.0.0.1"
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=(source, 0))
    try:
        conn.request("GET", path, headers={**({"Cookie": f"sessionid={cookie}"} if cookie else {}), **(headers or {})})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


@pytest.fixture
def proxy(minio, s3_media, settings) -> Iterator[int]:  # noqa: F811
    default_storage.save(f"{LADDER}master.m3u8", ContentFile(b"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n0/index.m3u8\n"))
    default_storage.save(f"{LADDER}0/index.m3u8", ContentFile(b"#EXTM3U\n#EXTINF:4.0,\nseg_00000.ts\n#EXT-X-ENDLIST\n"))
    default_storage.save(f"{LADDER}0/seg_00000.ts", ContentFile(SEGMENT))
    for width, ext in ((640, "jpg"), (320, "webp")):
        default_storage.save(f"{CARD}-{width}.{ext}", ContentFile(CARD_JPEG))
    default_storage.save("thumbnails/café-poster.png", ContentFile(CARD_JPEG))
    default_storage.save("sources/7.mp4", ContentFile(SOURCE))
    call_command("media_bucket_policy", "--proxy", "127.0.0.1/32")
    settings.MEDIA_URL_SIGNING_KEY = SECRET
    port = free_port()
    var = s3_media / "var"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("MEDIA_", "NGINX_"))},
        **minio,
        "MEDIA_S3_BUCKET": BUCKET,
        "MEDIA_URL_SECRET": SECRET,
        "NGINX_LISTEN": f"127.0.0.1:{port}",
        "WEB_BIND": f"127.0.0.1:{free_port()}",
        "INGEST_BIND": f"127.0.0.1:{free_port()}",
        "WATCHPOINT_VAR": str(var),
    }
    started = subprocess.run([str(ROOT / "bin" / "nginx"), "start"], env=env, capture_output=True, text=True)
    assert started.returncode == 0, started.stderr[-3000:]
    try:
        yield port
    finally:
        subprocess.run([str(ROOT / "bin" / "nginx"), "stop"], env=env, check=False)


def test_nginx_streams_the_ladder_from_the_bucket_to_the_member_only(proxy: int, minio) -> None:  # noqa: F811
    master = ladder_url_sign(ladder_path=LADDER, session_key="member-a", expires=int(time.time()) + 600)
    base = master.rsplit("/", 1)[0]

    status, headers, body = get(proxy, master, cookie="member-a")
    assert (status, headers["content-type"]) == (200, "application/vnd.apple.mpegurl")
    assert headers["cache-control"] == "private, max-age=60"
    assert body.startswith(b"#EXTM3U")
    status, headers, body = get(proxy, f"{base}/0/seg_00000.ts", cookie="member-a")
    assert (status, headers["content-type"], body) == (200, "video/mp2t", SEGMENT)
    assert headers["cache-control"] == "private, max-age=31536000, immutable"
    # Nothing of the store's own headers reaches the member.
    assert not [name for name in headers if name.startswith(("x-amz", "x-minio"))]
    status, headers, part = get(proxy, f"{base}/0/seg_00000.ts", cookie="member-a", headers={"Range": "bytes=300-599"})
    assert (status, headers["content-range"], part) == (206, f"bytes 300-599/{len(SEGMENT)}", SEGMENT[300:600])

    # Another session, none, an expired link: 403 from nginx, the store never asked.
    assert get(proxy, f"{base}/0/seg_00000.ts", cookie="member-b")[0] == 403
    assert get(proxy, f"{base}/0/seg_00000.ts")[0] == 403
    expired = ladder_url_sign(ladder_path=LADDER, session_key="member-a", expires=int(time.time()) - 1)
    assert get(proxy, expired, cookie="member-a")[0] == 403
    # A missing object: nginx's own 404, not the store's XML naming the bucket.
    status, _, body = get(proxy, f"{base}/0/seg_99999.ts", cookie="member-a")
    assert status == 404
    assert b"<Error>" not in body
    assert BUCKET.encode() not in body

    # The bucket itself: the same object, unsigned, from another address than the proxy's: refused.
    store = minio["MEDIA_S3_ENDPOINT_URL"].removeprefix("http://")
    host, port = store.rsplit(":", 1)
    direct = f"/{BUCKET}/{LADDER}0/seg_00000.ts"
    assert get(int(port), direct, source="127.0.0.2")[0] == 403
    assert get(int(port), f"/{BUCKET}/{LADDER}master.m3u8", source="127.0.0.2")[0] == 403
    assert host == "127.0.0.1"


def test_the_policy_command_refuses_a_malformed_proxy_address() -> None:
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="--proxy"):
        call_command("media_bucket_policy", "--proxy", "10.0.0.300/32")


def test_the_policy_command_refuses_local_storage() -> None:
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="not s3"):
        call_command("media_bucket_policy", "--proxy", "10.0.0.5/32")


def test_thumbnails_have_same_origin_urls_that_nginx_serves_from_the_bucket(proxy: int, minio, db) -> None:  # noqa: F811
    video = VideoFactory(card_image=CARD)

    # What the pages render: the site's own paths, no store origin, nothing presigned.
    assert video.thumbnail_url == f"/media/{CARD}-640.jpg"
    assert video.card_srcset_webp == f"/media/{CARD}-320.webp 320w, /media/{CARD}-640.webp 640w"
    status, headers, body = get(proxy, str(video.thumbnail_url))
    assert (status, headers["content-type"], body) == (200, "image/jpeg", CARD_JPEG)
    # The filesystem location's headers, whatever the store says.
    assert headers["cache-control"] == "public, max-age=86400"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["content-security-policy"] == "default-src 'none'; sandbox"
    assert not [name for name in headers if name.startswith(("x-amz", "x-minio"))]
    assert "set-cookie" not in headers
    assert get(proxy, f"/media/{CARD}-320.webp")[1]["content-type"] == "image/webp"
    # A staff upload's name as Django keeps it (letters beyond ASCII included).
    status, headers, body = get(proxy, "/media/thumbnails/caf%C3%A9-poster.png")
    assert (status, headers["content-type"], body) == (200, "image/png", CARD_JPEG)
    # A query string is not passed on: S3's subresources (?acl, ?tagging...) are not asked for.
    status, headers, body = get(proxy, f"/media/{CARD}-640.jpg?acl")
    assert (status, body) == (200, CARD_JPEG)

    # A missing thumbnail: nginx's 404, not the store's XML naming the bucket.
    status, _, body = get(proxy, "/media/thumbnails/cards/none-640.jpg")
    assert status == 404
    assert BUCKET.encode() not in body
    # Nothing but thumbnails/ under /media/: not the sources, not by a detour through thumbnails/.
    for path in (
        "/media/sources/7.mp4",
        "/media/thumbnails/../sources/7.mp4",
        "/media/thumbnails/..%2Fsources%2F7.mp4",
    ):
        status, _, body = get(proxy, path)
        assert status in (400, 404), path
        assert SOURCE not in body

    # The bucket itself: thumbnails unsigned from another address than the proxy's are refused.
    store = minio["MEDIA_S3_ENDPOINT_URL"].removeprefix("http://")
    assert get(int(store.rsplit(":", 1)[1]), f"/{BUCKET}/{CARD}-640.jpg", source="127.0.0.2")[0] == 403
    # ... and the proxy's own address may read thumbnails/ and hls/, not the sources.
    assert get(int(store.rsplit(":", 1)[1]), f"/{BUCKET}/{CARD}-640.jpg")[0] == 200
    assert get(int(store.rsplit(":", 1)[1]), f"/{BUCKET}/sources/7.mp4")[0] == 403


def test_on_s3_the_catalogue_shows_same_origin_images_under_the_unchanged_policy(s3_media, client, db) -> None:  # noqa: F811
    VideoFactory(title="Shown", card_image=CARD, members_only=False)

    response = client.get("/")

    html = response.content.decode()
    assert f'src="/media/{CARD}-640.jpg"' in html
    assert minio_origin_absent(html)
    assert response["Content-Security-Policy"] == policy_header()
    img_src = next(d for d in response["Content-Security-Policy"].split("; ") if d.startswith("img-src"))
    assert img_src == "img-src 'self' data:"


def minio_origin_absent(html: str) -> bool:
    endpoint = str(default_storage.endpoint_url)
    return endpoint not in html and "X-Amz-" not in html
