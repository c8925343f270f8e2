"""Live sessions name their authentication backend; it moved from allauth's class to its subclass in
accounts.backends. Rewrite the path so that members stay logged in across the deploy (Django's
get_user ends any session whose backend is no longer in AUTHENTICATION_BACKENDS)."""

from django.contrib.auth import BACKEND_SESSION_KEY
from django.db import migrations
from django.utils import timezone

ALLAUTH = "allauth.account.auth_backends.AuthenticationBackend"
OURS = "accounts.backends.AuthenticationBackend"


def sessions_backend_rename(apps, *, old, new):
    from accounts.sessions import SessionStore

    Session = apps.get_model("sessions", "Session")
    store = SessionStore()
    for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator(chunk_size=2000):
        data = store.decode(session.session_data)
        if data.get(BACKEND_SESSION_KEY) == old:
            data[BACKEND_SESSION_KEY] = new
            Session.objects.filter(pk=session.pk).update(session_data=store.encode(data))


def forwards(apps, schema_editor):
    sessions_backend_rename(apps, old=ALLAUTH, new=OURS)


def backwards(apps, schema_editor):
    sessions_backend_rename(apps, old=OURS, new=ALLAUTH)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_email_address_request"),
        ("sessions", "0001_initial"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
