from django.db import migrations, models


def members_only_to_access(apps, schema_editor):
    Video = apps.get_model("videos", "Video")
    Video.objects.filter(members_only=True).update(access="members")
    Video.objects.filter(members_only=False).update(access="public")


def access_to_members_only(apps, schema_editor):
    Video = apps.get_model("videos", "Video")
    Video.objects.filter(access="public").update(members_only=False)
    Video.objects.exclude(access="public").update(members_only=True)


class Migration(migrations.Migration):
    dependencies = [("videos", "0008_course_sections_drip")]

    operations = [
        migrations.AddField(
            model_name="video",
            name="access",
            field=models.CharField(
                choices=[("public", "Public"), ("members", "Any confirmed member"), ("paid", "Paid plans")],
                default="members",
                max_length=8,
            ),
        ),
        migrations.AddField(
            model_name="playlist",
            name="access",
            field=models.CharField(
                choices=[("public", "Public"), ("members", "Any confirmed member"), ("paid", "Paid plans")],
                default="public",
                max_length=8,
            ),
        ),
        migrations.RunPython(members_only_to_access, access_to_members_only),
        migrations.RemoveField(model_name="video", name="members_only"),
    ]
