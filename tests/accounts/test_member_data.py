"""Download my data and delete my account, through the registry other apps plug into."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.core.exceptions import ImproperlyConfigured
from django.urls import reverse

from accounts.models import User
from accounts.registry import member_data_handlers, member_data_register, member_data_unregister
from accounts.services import member_account_delete, member_data_export
from tests.factories import MemberFactory

MEMBER_PASSWORD = "correct horse battery staple"
# Every registered handler runs, the analytics app's Cassandra one included.
EVERY_STORE = pytest.mark.django_db(databases=["default", "cassandra"])


class FakeStore:
    """Stands in for another app's per-member data (e.g. analytics' Cassandra rows)."""

    def __init__(self) -> None:
        self.rows: dict[int, list[str]] = {}
        self.erased: list[int] = []
        self.exported: list[int] = []
        self.fail = False

    def export(self, user: User) -> list[str]:
        self.exported.append(user.pk)
        return self.rows.get(user.pk, [])

    def erase(self, user: User) -> None:
        if self.fail:
            raise ConnectionError("store unavailable")
        self.erased.append(user.pk)
        self.rows.pop(user.pk, None)


@pytest.fixture
def fake_store() -> Iterator[FakeStore]:
    store = FakeStore()
    member_data_register(name="fake_store", exporter=store.export, eraser=store.erase)
    yield store
    member_data_unregister(name="fake_store")


@EVERY_STORE
def test_the_export_has_one_section_per_registered_exporter(member, fake_store):
    fake_store.rows[member.pk] = ["watched video 1"]

    data = member_data_export(user=member)

    assert set(data["sections"]) == {handler.name for handler in member_data_handlers()}
    assert data["sections"]["fake_store"] == ["watched video 1"]
    assert data["sections"]["account"]["email"] == member.email
    assert data["sections"]["account"]["email_addresses"] == [
        {"email": member.email, "primary": True, "verified": True}
    ]


@EVERY_STORE
def test_download_my_data_is_a_json_attachment_of_the_export(client, member, fake_store):
    fake_store.rows[member.pk] = ["resume at 42s"]
    client.force_login(member)

    response = client.get(reverse("accounts:data_export"))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response["Content-Disposition"].startswith('attachment; filename="watchpoint-my-data-')
    data = json.loads(response.content)
    assert data["sections"]["fake_store"] == ["resume at 42s"]
    assert data["sections"]["account"]["date_joined"] == member.date_joined.isoformat()


@EVERY_STORE
def test_download_my_data_is_limited_to_three_an_hour_per_member_with_a_429_that_says_when(
    client, member, other_member, fake_store
):
    # An export reads every store the member has data in (51,000 events took 0.9 s): a member
    # must not be able to make the site do that in a loop.
    client.force_login(member)
    for _ in range(3):
        assert client.get(reverse("accounts:data_export")).status_code == 200

    response = client.get(reverse("accounts:data_export"))

    assert response.status_code == 429
    assert int(response["Retry-After"]) == 3600
    assert "three times an hour" in response.content.decode()
    assert fake_store.exported == [member.pk] * 3  # the refused download read nothing
    # The limit is per member: someone else still gets theirs.
    client.force_login(other_member)
    assert client.get(reverse("accounts:data_export")).status_code == 200


@pytest.mark.django_db
def test_download_my_data_needs_a_logged_in_member(client):
    response = client.get(reverse("accounts:data_export"))

    assert response.status_code == 302
    assert response.url.startswith(reverse("account_login"))


@EVERY_STORE
def test_deleting_the_account_calls_every_eraser_removes_the_user_and_logs_out(client, member, fake_store):
    fake_store.rows[member.pk] = ["something"]
    client.force_login(member)

    response = client.post(reverse("accounts:delete"), {"password": MEMBER_PASSWORD})

    assert response.status_code == 302
    assert response.url == "/"
    assert fake_store.erased == [member.pk]
    assert member.pk not in fake_store.rows
    assert not User.objects.filter(pk=member.pk).exists()
    assert not EmailAddress.objects.filter(email=member.email).exists()
    assert "_auth_user_id" not in client.session


@EVERY_STORE
def test_deleting_the_account_emails_the_confirmed_address_a_receipt(client, member, fake_store):
    client.force_login(member)
    mail.outbox.clear()

    client.post(reverse("accounts:delete"), {"password": MEMBER_PASSWORD})

    (sent,) = mail.outbox
    assert sent.to == [member.email]
    assert sent.subject == "Your Watchpoint account was deleted"
    assert "everything else we kept about you have been erased" in sent.body
    assert "If you did not ask for this" in sent.body


@EVERY_STORE
def test_no_deletion_email_goes_to_an_unconfirmed_address_or_after_a_failed_deletion(client, fake_store):
    unconfirmed = MemberFactory(confirmed=False)
    client.force_login(unconfirmed)
    mail.outbox.clear()
    client.post(reverse("accounts:delete"), {"password": MEMBER_PASSWORD})
    assert not User.objects.filter(pk=unconfirmed.pk).exists()
    assert mail.outbox == []

    member = MemberFactory()
    fake_store.fail = True
    client.force_login(member)
    client.post(reverse("accounts:delete"), {"password": MEMBER_PASSWORD})
    assert User.objects.filter(pk=member.pk).exists()
    assert mail.outbox == []


@pytest.mark.django_db
def test_deleting_the_account_needs_the_right_password(client, member, fake_store):
    client.force_login(member)

    response = client.post(reverse("accounts:delete"), {"password": "a guess"})

    assert response.status_code == 200
    assert response.context["form"].errors["password"] == ["That is not your password."]
    assert User.objects.filter(pk=member.pk).exists()
    assert fake_store.erased == []


@EVERY_STORE
def test_a_failing_eraser_leaves_the_member_and_their_data_in_place(member, fake_store):
    fake_store.fail = True

    with pytest.raises(ConnectionError):
        member_account_delete(user=member)

    assert User.objects.filter(pk=member.pk).exists()
    # The accounts eraser ran before the failure; its deletion rolled back with the transaction.
    assert EmailAddress.objects.filter(user=member).exists()


@EVERY_STORE
def test_the_delete_page_explains_a_failure_instead_of_a_server_error(client, member, fake_store):
    fake_store.fail = True
    client.force_login(member)

    response = client.post(reverse("accounts:delete"), {"password": MEMBER_PASSWORD}, follow=True)

    assert response.status_code == 200
    assert "delete your account just now" in response.content.decode()
    assert User.objects.filter(pk=member.pk).exists()


def test_registering_a_different_handler_under_a_taken_name_is_refused(fake_store):
    with pytest.raises(ImproperlyConfigured):
        member_data_register(name="fake_store", exporter=lambda user: {}, eraser=lambda user: None)
    # Registering the very same functions again (ready() running twice) is fine.
    member_data_register(name="fake_store", exporter=fake_store.export, eraser=fake_store.erase)


@pytest.mark.django_db
def test_the_export_holds_the_member_s_player_reports_and_erasure_removes_them(member):
    from datetime import date

    from tests.factories import VideoFactory
    from videos.models import VideoDurationVote, VideoPlaybackProblem

    video: Any = VideoFactory(title="Knife skills")
    other: Any = VideoFactory()
    someone: Any = MemberFactory()
    VideoDurationVote.objects.create(video=video, user=member, seconds=312)
    VideoPlaybackProblem.objects.create(video=video, user=member, code="150", day=date(2026, 12, 1))
    VideoDurationVote.objects.create(video=other, user=someone, seconds=1)  # someone else's

    reports = member_data_export(user=member)["sections"]["reports"]

    assert [(r["title"], r["seconds"]) for r in reports["duration_reports"]] == [("Knife skills", 312)]
    assert [(r["title"], r["code"], r["day"]) for r in reports["playback_problems"]] == [
        ("Knife skills", "150", "2026-12-01")
    ]
    assert reports["duration_reports"][0]["reported_at"].endswith("+00:00")

    handler = next(h for h in member_data_handlers() if h.name == "reports")
    handler.eraser(member)
    assert not VideoDurationVote.objects.filter(user=member).exists()
    assert not VideoPlaybackProblem.objects.filter(user=member).exists()
    assert VideoDurationVote.objects.count() == 1
