"""allauth's rate limits are on, with the budgets in settings.ACCOUNT_RATE_LIMITS."""

from __future__ import annotations

import pytest
from django.core import mail
from django.urls import reverse

from tests.accounts.conftest import PASSWORD


@pytest.mark.django_db
def test_failed_logins_for_one_address_are_stopped_after_five(client, member):
    for _ in range(5):
        response = client.post(reverse("account_login"), {"login": member.email, "password": "wrong guess"})
        assert "Too many failed login attempts" not in response.content.decode()

    response = client.post(
        reverse("account_login"), {"login": member.email, "password": "correct horse battery staple"}
    )

    # Even the right password is refused until the window passes.
    assert response.status_code == 200
    assert "Too many failed login attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_sign_ups_from_one_ip_are_stopped_after_twenty(client):
    for n in range(20):
        data = {"email": f"burst{n}@example.com", "password1": PASSWORD, "password2": PASSWORD}
        assert client.post(reverse("account_signup"), data).status_code == 302
        client.logout()

    response = client.post(
        reverse("account_signup"), {"email": "burst20@example.com", "password1": PASSWORD, "password2": PASSWORD}
    )

    assert response.status_code == 429
    assert "Slow down a little" in response.content.decode()


@pytest.mark.django_db
def test_password_reset_mails_for_one_address_are_stopped_after_five(client, member):
    for _ in range(5):
        assert client.post(reverse("account_reset_password"), {"email": member.email}).status_code == 302
    assert len(mail.outbox) == 5

    response = client.post(reverse("account_reset_password"), {"email": member.email})

    assert response.status_code == 429
    assert len(mail.outbox) == 5


@pytest.mark.django_db
def test_a_confirmation_link_is_resent_at_most_once_every_few_minutes(client, unconfirmed_member):
    member = unconfirmed_member
    client.force_login(member)

    client.post(reverse("account_email"), {"action_send": "", "email": member.email})
    client.post(reverse("account_email"), {"action_send": "", "email": member.email})

    assert len(mail.outbox) == 1
