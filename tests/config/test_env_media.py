"""Media storage settings: the local filesystem by default, any S3-compatible store from the environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from config.env import Settings, get_settings
from tests.conftest import ROOT


@pytest.fixture
def clean_env(monkeypatch):
    for name in list(os.environ):
        if name.startswith(("MEDIA_", "DJANGO_")):
            monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


def _django_settings(env: dict[str, str]) -> dict[str, object]:
    code = (
        "import django, json; django.setup(); from django.conf import settings as s; "
        "from django.core.files.storage import storages; d = storages['default']; "
        "print(json.dumps({'default': s.STORAGES['default'], 'root': str(s.MEDIA_ROOT), "
        "'class': type(d).__name__, 'bucket': getattr(d, 'bucket_name', None), 'url': d.url('thumbnails/a b.jpg'), "
        "'endpoint': getattr(d, 'endpoint_url', None), 'style': getattr(d, 'addressing_style', None)}))"
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MEDIA_")}
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": "config.settings", **env},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def test_media_is_stored_on_the_local_filesystem_under_var_media_by_default():
    found = _django_settings({})
    assert found["class"] == "FileSystemStorage"
    assert found["root"] == str(ROOT / "var" / "media")


def test_media_storage_s3_stores_on_the_s3_compatible_endpoint_from_the_environment():
    found = _django_settings(
        {
            "MEDIA_STORAGE": "s3",
            "MEDIA_S3_BUCKET": "watchpoint-media",
            "MEDIA_S3_ENDPOINT_URL": "http://127.0.0.1:9000",
            "MEDIA_S3_ACCESS_KEY_ID": "minio",
            "MEDIA_S3_SECRET_ACCESS_KEY": "minio-secret",
        }
    )
    assert found["class"] == "MediaS3Storage"
    assert (found["bucket"], found["endpoint"], found["style"]) == ("watchpoint-media", "http://127.0.0.1:9000", "path")
    # The site's own URL, as on the filesystem (nginx proxies /media/thumbnails/ to the bucket):
    # no store origin, nothing presigned.
    assert found["url"] == "/media/thumbnails/a%20b.jpg"


def test_the_filesystem_storage_gives_the_same_urls():
    assert _django_settings({})["url"] == "/media/thumbnails/a%20b.jpg"


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"MEDIA_STORAGE": "s3"}, "MEDIA_S3_BUCKET"),
        ({"MEDIA_STORAGE": "gcs"}, "media_storage"),
        ({"MEDIA_STORAGE": "s3", "MEDIA_S3_BUCKET": "b", "MEDIA_S3_ACCESS_KEY_ID": "k"}, "MEDIA_S3_SECRET_ACCESS_KEY"),
        ({"MEDIA_URL_SECRET": "short"}, "MEDIA_URL_SECRET"),
    ],
)
def test_a_bad_media_setting_stops_start_up_naming_it(clean_env, env, variable):
    for name, value in env.items():
        clean_env.setenv(name, value)
    with pytest.raises(ValueError, match=variable):
        Settings(_env_file=None)


def test_the_media_signing_key_is_derived_from_the_secret_key_unless_set(clean_env):
    clean_env.setenv("DJANGO_SECRET_KEY", "a" * 50)
    derived = Settings(_env_file=None).media_signing_key
    assert derived != "a" * 50
    assert len(derived) == 64
    clean_env.setenv("MEDIA_URL_SECRET", "b" * 30)
    assert Settings(_env_file=None).media_signing_key == "b" * 30
