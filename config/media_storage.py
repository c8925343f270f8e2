"""Media on S3 (MEDIA_STORAGE=s3) with the site's own URLs. Its own module: it imports boto3, which
only processes that store media on S3 should load (config/storage.py is imported everywhere)."""

from __future__ import annotations

from urllib.parse import urljoin

from django.conf import settings
from django.utils.encoding import filepath_to_uri
from storages.backends.s3 import S3Storage


class MediaS3Storage(S3Storage):
    """django-storages' S3 storage whose URLs are the site's own, as the filesystem storage's are:
    MEDIA_URL + the name (/media/thumbnails/...). nginx proxies /media/thumbnails/ to the bucket
    (etc/nginx/watchpoint.conf.in) and answers 404 for the rest of /media/, so pages name no store
    origin (the CSP's img-src stays 'self'), no presigned URL ever reaches a page, and sources and
    ladders are reachable only as on the filesystem: ladders through the signed /hls/, sources never."""

    def url(self, name: str, parameters: object = None, expire: object = None, http_method: object = None) -> str:
        return urljoin(str(settings.MEDIA_URL), (filepath_to_uri(name) or "").lstrip("/"))
