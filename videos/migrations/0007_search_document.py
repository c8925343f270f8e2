from typing import Any

from django.db import migrations, models

from videos.search import search_document

# PostgreSQL matches the stored terms with full-text search through this expression index, which
# is exactly the expression Django's SearchVector("search_document", config="simple") compiles to
# (COALESCE included), or the planner would not use it; SQLite has none (LIKE there).
GIN_INDEX = (
    "CREATE INDEX IF NOT EXISTS videos_video_search_gin "
    "ON videos_video USING gin (to_tsvector('simple'::regconfig, COALESCE(search_document, '')))"
)


def documents_fill(apps: Any, schema_editor: Any) -> None:
    video_model = apps.get_model("videos", "Video")
    videos = list(video_model.objects.only("pk", "title", "description"))
    for video in videos:
        video.search_document = search_document(video.title, video.description)
    video_model.objects.bulk_update(videos, ["search_document"], batch_size=500)


def gin_index_create(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(GIN_INDEX)


def gin_index_drop(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS videos_video_search_gin")


class Migration(migrations.Migration):
    dependencies = [
        ("videos", "0006_uploaded_source_ladder"),
    ]

    operations = [
        migrations.AddField(
            model_name="video",
            name="search_document",
            field=models.TextField(blank=True, default="", editable=False),
        ),
        migrations.RunPython(documents_fill, migrations.RunPython.noop),
        migrations.RunPython(gin_index_create, gin_index_drop),
    ]
