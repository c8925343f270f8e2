"""The "confirm your email first" page other apps send unconfirmed members to."""

from __future__ import annotations

import pytest
from django.core import mail
from django.urls import reverse

from accounts.selectors import member_is_confirmed
from tests.accounts.conftest import link_in_last_mail


@pytest.mark.django_db
def test_an_unconfirmed_member_is_told_why_and_offered_a_new_link(client, unconfirmed_member):
    member = unconfirmed_member
    client.force_login(member)

    response = client.get(reverse("accounts:confirm_needed"))

    assert response.status_code == 200
    html = response.content.decode()
    assert "Confirm your email to start watching" in html
    assert member.email in html
    assert 'name="action_send"' in html


@pytest.mark.django_db
def test_the_resend_button_mails_a_fresh_link_that_confirms(client, unconfirmed_member):
    member = unconfirmed_member
    client.force_login(member)

    response = client.post(reverse("account_email"), {"action_send": "", "email": member.email})

    assert response.status_code == 302
    assert mail.outbox[-1].to == [member.email]
    client.post(link_in_last_mail("/accounts/confirm-email/"))
    assert member_is_confirmed(user=member)


@pytest.mark.django_db
def test_a_confirmed_member_is_sent_on_to_where_they_were_going(client, member):
    client.force_login(member)

    response = client.get(reverse("accounts:confirm_needed") + "?next=/watch/some-video/")

    assert response.status_code == 302
    assert response.url == "/watch/some-video/"


@pytest.mark.django_db
def test_a_confirmed_member_is_not_sent_to_another_host(client, member):
    client.force_login(member)

    response = client.get(reverse("accounts:confirm_needed") + "?next=https://evil.example/")

    assert response.url == reverse("accounts:overview")
