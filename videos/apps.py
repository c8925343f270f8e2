from typing import Any

from django.apps import AppConfig


def _catalogue_changed(**_: Any) -> None:
    # This process sees a saved or deleted video or playlist at once; other processes within
    # CATALOGUE_SNAPSHOT_SECONDS (videos.selectors: video_published_durations, catalogue_snapshot_get).
    from videos.selectors import video_published_snapshot_clear

    video_published_snapshot_clear()


class VideosConfig(AppConfig):
    name = "videos"
    verbose_name = "Catalogue"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from videos.models import Playlist, PlaylistItem, Section, Video

        for model in (Video, Playlist, PlaylistItem, Section):
            name = model.__name__.lower()
            post_save.connect(_catalogue_changed, sender=model, dispatch_uid=f"videos.snapshot_on_save.{name}")
            post_delete.connect(_catalogue_changed, sender=model, dispatch_uid=f"videos.snapshot_on_delete.{name}")

        # Course starts are the member's data: in their export, gone with their account.
        from accounts.registry import member_data_register
        from videos.selectors import course_enrolments_export
        from videos.services import course_enrolments_erase

        def _export(user: Any) -> list[dict[str, str]]:
            return course_enrolments_export(user_id=user.pk)

        def _erase(user: Any) -> None:
            course_enrolments_erase(user_id=user.pk)

        member_data_register(name="courses", exporter=_export, eraser=_erase)

        # Published videos that no longer play, first thing on the admin index (config/admin_cards.py).
        from config.admin_cards import admin_card_register
        from videos.admin import unavailable_videos_card

        admin_card_register(name="unavailable-videos", card=unavailable_videos_card)

        # The member's data export and erasure (accounts/services.py) include what their players reported.
        from accounts.registry import member_data_register
        from videos.selectors import member_video_reports_export
        from videos.services import member_video_reports_erase

        member_data_register(name="reports", exporter=member_video_reports_export, eraser=member_video_reports_erase)
