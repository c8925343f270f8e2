"""accounts/sessions.py: Django's database sessions, their row read with one plain SELECT."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.sessions.models import Session
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


def test_a_deactivated_member_s_session_ends(client, member):
    client.force_login(member)
    member.is_active = False
    member.save()
    assert client.get(reverse("accounts:overview")).status_code == 302
