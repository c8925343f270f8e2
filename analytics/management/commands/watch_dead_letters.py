"""`manage.py watch_dead_letters`: list, replay or delete watch batches the drain set aside."""

from __future__ import annotations

import json

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from analytics.drain import watch_dead_letters_delete, watch_dead_letters_list, watch_dead_letters_replay


class Command(BaseCommand):
    help = (
        "List the dead-letter stream (batches Cassandra refused for good), replay them onto the main "
        "stream once the cause is fixed, or delete them."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        action = parser.add_mutually_exclusive_group()
        action.add_argument("--replay", nargs="*", metavar="ID", help="replay these dead letters (none: all listed)")
        action.add_argument("--delete", nargs="+", metavar="ID", help="delete these dead letters for good")
        parser.add_argument("--count", type=int, default=100, help="how many of the oldest to list or replay")
        parser.add_argument("--json", action="store_true", help="one JSON object per dead letter")

    def handle(self, *args: object, **options: object) -> None:
        count = int(options["count"])  # type: ignore[call-overload]
        if count < 1:
            raise CommandError("--count must be at least 1")
        listed = watch_dead_letters_list(count=count)
        if options["delete"]:
            deleted = watch_dead_letters_delete(ids=list(options["delete"]))  # type: ignore[call-overload]
            self.stdout.write(f"deleted {deleted} dead letter(s)")
            return
        if options["replay"] is not None:
            ids = list(options["replay"]) or [dead_id for dead_id, _ in listed]  # type: ignore[call-overload]
            replayed = watch_dead_letters_replay(ids=ids)
            self.stdout.write(f"replayed {replayed} dead letter(s) onto the watch stream")
            return
        for dead_id, fields in listed:
            if options["json"]:
                self.stdout.write(json.dumps({"dead_letter": dead_id, **fields}))
            else:
                size = len(fields.get("b", ""))
                self.stdout.write(f"{dead_id}  entry {fields.get('id', '?')}  {size} B  {fields.get('reason', '')}")
        self.stdout.write(f"{len(listed)} listed (cap {settings.WATCH_DEAD_LETTERS_MAX})")
