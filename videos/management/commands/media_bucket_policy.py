"""MEDIA_STORAGE=s3: let nginx read the HLS ladders and thumbnails from the bucket
(`media_bucket_policy --proxy 10.0.0.5/32`)."""

from __future__ import annotations

import ipaddress
import json
from typing import Any

from django.conf import settings
from django.core.files.storage import default_storage
from django.core.management.base import BaseCommand, CommandError, CommandParser

from videos.media import proxy_bucket_policy


class Command(BaseCommand):
    help = (
        "Set the media bucket's policy so that the nginx proxies (their addresses as the store sees them) read "
        "hls/* and thumbnails/* unsigned, and nobody else. Replaces the bucket's policy; --print shows it "
        "without setting it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--proxy", action="append", required=True, help="A proxy's address or CIDR; repeatable.")
        parser.add_argument("--print", action="store_true", help="Print the policy only.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            cidrs = [str(ipaddress.ip_network(value, strict=False)) for value in options["proxy"]]
        except ValueError as exc:
            raise CommandError(f"--proxy: {exc}") from None
        bucket = settings.STORAGES["default"].get("OPTIONS", {}).get("bucket_name")
        if not bucket:
            raise CommandError(
                "MEDIA_STORAGE is not s3: the ladders and thumbnails are files under MEDIA_ROOT; "
                "nginx reads them there."
            )
        policy = proxy_bucket_policy(bucket=bucket, proxy_cidrs=cidrs)
        if options["print"]:
            self.stdout.write(json.dumps(policy, indent=2))
            return
        # django-storages' boto3 resource, with the storage's endpoint and credentials.
        default_storage.connection.meta.client.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))  # type: ignore[attr-defined]
        self.stdout.write(f"bucket {bucket}: hls/* and thumbnails/* readable from {', '.join(cidrs)} only")
