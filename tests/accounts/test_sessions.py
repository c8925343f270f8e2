"""accounts/sessions.py and accounts/backends.py: Django's database sessions and allauth's backend,
the session row and its member each read with one plain SELECT through Django's public API."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import reverse
from django.utils import timezone

pytestmark = pytest.mark.django_db


def test_a_live_session_keeps_its_member_logged_in(client, member):
    client.force_login(member)
    assert client.get(reverse("accounts:overview")).status_code == 200


def test_a_session_past_its_expiry_date_is_not_accepted(client, member):
    client.force_login(member)
    Session.objects.update(expire_date=timezone.now() - timedelta(seconds=1))
    assert client.get(reverse("accounts:overview")).status_code == 302


def test_logging_out_ends_the_session_at_once(client, member):
    client.force_login(member)
    key = client.cookies["sessionid"].value
    client.post(reverse("account_logout"))
    assert not Session.objects.filter(session_key=key).exists()
    client.cookies["sessionid"] = key  # the old cookie, replayed
    assert client.get(reverse("accounts:overview")).status_code == 302


def test_a_password_change_elsewhere_ends_the_session(client, member):
    client.force_login(member)
    member.set_password("a-new-password-0123")
    member.save()
    assert client.get(reverse("accounts:overview")).status_code == 302


def test_a_password_change_on_one_device_tells_the_other_why_it_was_logged_out(client, member):
    member.set_password("the-old-password-0123")
    member.save()
    here, elsewhere = Client(), client
    here.force_login(member)
    elsewhere.force_login(member)

    changed = here.post(
        reverse("account_change_password"),
        {"oldpassword": "the-old-password-0123", "password1": "a-new-password-01", "password2": "a-new-password-01"},
    )
    assert changed.status_code == 302
    assert here.get(reverse("accounts:overview")).status_code == 200  # this device stays logged in

    page = elsewhere.get(reverse("accounts:overview"), follow=True)
    assert page.redirect_chain[0][0].startswith(reverse("account_login"))
    assert "because the account&#x27;s password was changed" in page.content.decode()
    # Told once: the next page is a plain logged-out page.
    assert "password was changed" not in elsewhere.get(reverse("account_login")).content.decode()


def test_the_password_change_page_says_other_devices_are_logged_out(client, member):
    client.force_login(member)
    page = client.get(reverse("account_change_password")).content.decode()
    assert "Every other device logged in to this account is logged out at once" in page
    assert "stay logged in too" not in page


def test_a_deactivated_member_is_told_why_the_session_ended(client, member):
    client.force_login(member)
    member.is_active = False
    member.save()
    page = client.get(reverse("accounts:overview"), follow=True).content.decode()
    assert "this account has been deactivated" in page


def test_a_normal_logout_shows_no_ended_session_notice(client, member):
    client.force_login(member)
    client.post(reverse("account_logout"))
    assert "You were logged out" not in client.get(reverse("account_login")).content.decode()


def test_a_deactivated_member_s_session_ends(client, member):
    client.force_login(member)
    member.is_active = False
    member.save()
    assert client.get(reverse("accounts:overview")).status_code == 302


def test_the_session_s_member_is_the_row_the_orm_reads(member):
    from accounts.backends import AuthenticationBackend
    from accounts.models import User

    member.last_login = timezone.now()
    member.save()
    backend = AuthenticationBackend()
    plain, orm = backend.get_user(member.pk), User.objects.get(pk=member.pk)
    assert plain is not None
    for field in User._meta.concrete_fields:
        mine, theirs = getattr(plain, field.attname), getattr(orm, field.attname)
        assert (mine, type(mine)) == (theirs, type(theirs)), field.name
    assert plain._state.db == orm._state.db
    assert not plain._state.adding
    assert backend.get_user(member.pk + 1000) is None
    assert backend.get_user("not a number") is None
    # The session stores the id as a string: the same row.
    assert backend.get_user(str(member.pk)) == orm


def test_a_session_key_with_no_live_row_is_forgotten_so_a_save_cannot_revive_it(member):
    from accounts.sessions import SessionStore

    forged = SessionStore("x" * 32)
    assert forged.load() == {}
    assert forged.session_key is None  # a save now creates a new, server-chosen key

    expired = SessionStore()
    expired["k"] = "v"
    expired.set_expiry(-1)
    expired.save()
    stale = SessionStore(expired.session_key)
    assert stale.load() == {}
    assert stale.session_key is None


def test_a_session_s_row_is_read_with_one_plain_select(client, member):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(member)
    with CaptureQueriesContext(connection) as seen:
        assert client.get(reverse("accounts:overview")).status_code == 200
    session_reads = [q["sql"] for q in seen.captured_queries if 'FROM "django_session"' in q["sql"]]
    assert len(session_reads) == 1
    assert "LIMIT" not in session_reads[0]


def test_sessions_logged_in_under_allauth_s_backend_path_survive_the_move(client, member):
    import importlib

    from django.apps import apps
    from django.contrib.auth import BACKEND_SESSION_KEY

    from accounts.sessions import SessionStore

    migration = importlib.import_module("accounts.migrations.0003_sessions_backend_path")
    client.force_login(member)
    store = SessionStore(client.cookies["sessionid"].value)
    store[BACKEND_SESSION_KEY] = migration.ALLAUTH
    store.save()
    assert client.get(reverse("accounts:overview")).status_code == 302  # unknown backend: logged out

    client.force_login(member)
    store = SessionStore(client.cookies["sessionid"].value)
    store[BACKEND_SESSION_KEY] = migration.ALLAUTH
    store.save()
    migration.forwards(apps, None)

    assert client.get(reverse("accounts:overview")).status_code == 200


def test_the_session_s_member_is_read_with_one_plain_select(client, member):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(member)
    with CaptureQueriesContext(connection) as seen:
        assert client.get(reverse("accounts:overview")).status_code == 200
    user_reads = [q["sql"] for q in seen.captured_queries if 'FROM "accounts_user"' in q["sql"]]
    assert len(user_reads) == 1
    assert "LIMIT" not in user_reads[0]  # not the ORM's .get() (which limits to 21 rows)


def test_losing_staff_takes_effect_at_once(client, member):
    from tests.factories import VideoFactory

    draft = VideoFactory(is_published=False)
    member.is_staff = True
    member.save()
    client.force_login(member)
    url = reverse("videos:watch", kwargs={"slug": draft.slug})
    assert client.get(url).status_code == 200
    member.is_staff = False
    member.save()
    assert client.get(url).status_code == 404
