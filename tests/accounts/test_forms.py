"""Sign-up and login forms: errors next to the field, typed values kept, safe redirects."""

from __future__ import annotations

import pytest
from django.core import mail
from django.urls import reverse

from accounts.models import User
from tests.accounts.conftest import PASSWORD


def field_errors(response, form_field):
    return response.context["form"].errors.get(form_field, [])


@pytest.mark.django_db
def test_mismatched_passwords_are_refused_next_to_the_field_and_keep_the_typed_email(client, email):
    response = client.post(
        reverse("account_signup"), {"email": email, "password1": PASSWORD, "password2": PASSWORD + "x"}
    )

    assert response.status_code == 200
    assert field_errors(response, "password2")
    html = response.content.decode()
    assert f'value="{email}"' in html
    assert PASSWORD not in html  # passwords are never echoed back
    assert 'aria-invalid="true"' in html
    assert 'id="id_password2_errors"' in html
    assert not User.objects.filter(email=email).exists()


@pytest.mark.django_db
@pytest.mark.parametrize("weak", ["short1", "password123", "1234567890123"])
def test_weak_passwords_are_refused_with_the_validators_reason(client, email, weak):
    response = client.post(reverse("account_signup"), {"email": email, "password1": weak, "password2": weak})

    assert response.status_code == 200
    assert field_errors(response, "password1")
    assert f'value="{email}"' in response.content.decode()
    assert not User.objects.filter(email=email).exists()


@pytest.mark.django_db
def test_signing_up_with_a_taken_email_creates_nothing_and_tells_the_owner_by_email(client, member):
    response = client.post(
        reverse("account_signup"), {"email": member.email, "password1": PASSWORD, "password2": PASSWORD}
    )

    # Enumeration protection: the visitor sees the same "check your inbox" as a real sign-up...
    assert response.status_code == 302
    assert response.url == reverse("account_email_verification_sent")
    assert User.objects.filter(email=member.email).count() == 1
    # ...and the address's owner learns someone tried, with a way back in.
    assert mail.outbox[-1].to == [member.email]
    assert mail.outbox[-1].subject == "You already have a Watchpoint account"
    assert "/accounts/password/reset/" in mail.outbox[-1].body


@pytest.mark.django_db
def test_a_wrong_password_keeps_the_typed_email_on_the_login_form(client, member):
    response = client.post(reverse("account_login"), {"login": member.email, "password": "not it at all"})

    assert response.status_code == 200
    assert response.context["form"].non_field_errors()
    assert f'value="{member.email}"' in response.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "next_url", ["https://evil.example/steal", "//evil.example/steal", "http://testserver.evil.example/"]
)
def test_a_next_pointing_to_another_host_lands_on_the_home_page(client, member, next_url):
    response = client.post(
        reverse("account_login") + "?next=" + next_url,
        {"login": member.email, "password": "correct horse battery staple", "next": next_url},
    )

    assert response.status_code == 302
    assert response.url == "/"


@pytest.mark.django_db
def test_a_login_required_page_sends_you_to_log_in_and_back(client, member):
    response = client.get(reverse("accounts:overview"))
    assert response.status_code == 302
    assert response.url == reverse("account_login") + "?next=" + reverse("accounts:overview")

    response = client.post(
        response.url, {"login": member.email, "password": "correct horse battery staple", "next": "/accounts/"}
    )

    assert response.status_code == 302
    assert response.url == "/accounts/"


@pytest.mark.django_db(databases=["default", "cassandra"])
def test_every_successful_form_post_answers_with_a_redirect(client, email):
    """Post/Redirect/Get: reloading any page after a form never submits it twice."""
    new_password = "yet another long passphrase 9"
    posts = [
        (reverse("account_signup"), {"email": email, "password1": PASSWORD, "password2": PASSWORD}),
        (reverse("account_logout"), {}),
        (reverse("account_login"), {"login": email, "password": PASSWORD}),
        (reverse("account_email"), {"action_send": "", "email": email}),
        (
            reverse("account_change_password"),
            {"oldpassword": PASSWORD, "password1": new_password, "password2": new_password},
        ),
        (reverse("account_email"), {"action_add": "", "email": "moved-" + email}),
        (reverse("accounts:delete"), {"password": new_password}),
        (reverse("account_reset_password"), {"email": email}),
    ]
    for url, data in posts:
        response = client.post(url, data)
        assert response.status_code == 302, (url, response.status_code)
