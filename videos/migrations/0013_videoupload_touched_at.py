from django.db import migrations, models
from django.db.models import F
from django.utils import timezone


def touched_when_created(apps, schema_editor):
    # Uploads started before this field existed were last touched no earlier than they began: the
    # sweep judges them by that, not by the day of the upgrade.
    apps.get_model("videos", "VideoUpload").objects.update(touched_at=F("created_at"))


class Migration(migrations.Migration):
    dependencies = [
        ("videos", "0012_ladder_cancelled"),
    ]

    operations = [
        migrations.AddField(
            model_name="videoupload",
            name="touched_at",
            field=models.DateTimeField(default=timezone.now),
        ),
        migrations.RunPython(touched_when_created, migrations.RunPython.noop),
    ]
