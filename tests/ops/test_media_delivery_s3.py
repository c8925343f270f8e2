"""Members-only HLS delivery with MEDIA_STORAGE=s3: nginx checks the signed URL (secure_link, as for
local files), then fetches the object from the bucket (a real MinIO, bin/minio) and streams it; no
byte passes through Python. The bucket lets only the proxy's address read hls/* unsigned
(`manage.py media_bucket_policy`): the same object asked for directly from another address is
refused by the store.
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

from tests.conftest import ROOT, free_port
from tests.videos.test_transcode_s3 import BUCKET, minio, s3_media  # noqa: F401 (fixtures)
from videos.media import ladder_url_sign

pytestmark = pytest.mark.integration

SECRET = secrets.token_urlsafe(32)
LADDER = "hls/7/0123456789ab/"
SEGMENT = bytes(range(256)) * 40  # 10,240 bytes, each position recognisable


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
