"""A member's whole account life, through the real allauth views and the locmem outbox."""

from __future__ import annotations

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from accounts.models import User
from tests.accounts.conftest import PASSWORD, link_in_last_mail

NEW_PASSWORD = "another quite long passphrase 7"


@pytest.mark.django_db
def test_a_new_member_signs_up_confirms_logs_in_and_resets_their_password(client, email):
    response = client.post(reverse("account_signup"), {"email": email, "password1": PASSWORD, "password2": PASSWORD})
    assert response.status_code == 302
    assert response.url == reverse("account_email_verification_sent")

    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [email]
    assert mail.outbox[0].subject == "Confirm your email for Watchpoint"
    confirm_path = link_in_last_mail("/accounts/confirm-email/")

    # The link itself only shows a button (mail scanners follow links); the POST confirms.
    assert client.get(confirm_path).status_code == 200
    assert not User.objects.get(email=email).emailaddress_set.get().verified
    response = client.post(confirm_path)
    assert response.status_code == 302
    assert User.objects.get(email=email).emailaddress_set.get().verified
    assert client.get(reverse("accounts:overview")).status_code == 200  # logged in from the link

    # The link works once.
    assert client.post(confirm_path).status_code in {302, 404}
    assert client.get(confirm_path).context["confirmation"] is None

    response = client.post(reverse("account_logout"))
    assert response.status_code == 302
    assert "_auth_user_id" not in client.session

    response = client.post(reverse("account_login"), {"login": email, "password": PASSWORD, "remember": "on"})
    assert response.status_code == 302
    assert client.session["_auth_user_id"]
    assert client.session.get_expire_at_browser_close() is False
    assert client.session.get_expiry_age() >= 14 * 24 * 3600
    client.post(reverse("account_logout"))

    mail.outbox.clear()
    response = client.post(reverse("account_reset_password"), {"email": email})
    assert response.status_code == 302
    assert mail.outbox[-1].subject == "Reset your Watchpoint password"
    reset_path = link_in_last_mail("/accounts/password/reset/key/")
    # allauth swaps the key in the URL for a session-held one, then shows the form.
    response = client.get(reset_path, follow=True)
    form_path = response.redirect_chain[-1][0] if response.redirect_chain else reset_path
    response = client.post(form_path, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    assert response.status_code == 302
    assert response.url == reverse("account_reset_password_from_key_done")

    response = client.post(reverse("account_login"), {"login": email, "password": PASSWORD})
    assert response.status_code == 200  # the form again, with an error
    assert "_auth_user_id" not in client.session
    response = client.post(reverse("account_login"), {"login": email, "password": NEW_PASSWORD})
    assert response.status_code == 302
    assert client.session["_auth_user_id"]


@pytest.mark.django_db
def test_logging_in_without_remember_me_ends_the_session_with_the_browser(client, member):
    response = client.post(
        reverse("account_login"), {"login": member.email, "password": "correct horse battery staple"}
    )

    assert response.status_code == 302
    assert client.session.get_expire_at_browser_close() is True


@pytest.mark.django_db
def test_an_unconfirmed_member_can_log_in_and_is_told_to_confirm(client, email):
    client.post(reverse("account_signup"), {"email": email, "password1": PASSWORD, "password2": PASSWORD})
    client.logout()

    response = client.post(reverse("account_login"), {"login": email, "password": PASSWORD})

    assert response.status_code == 302
    assert client.session["_auth_user_id"]
    page = client.get(reverse("videos:catalogue")).content.decode()
    assert "Please confirm your email address" in page


@pytest.mark.django_db
def test_a_password_reset_link_works_only_once(client, member):
    client.post(reverse("account_reset_password"), {"email": member.email})
    reset_path = link_in_last_mail("/accounts/password/reset/key/")
    response = client.get(reset_path, follow=True)
    form_path = response.redirect_chain[-1][0]
    client.post(form_path, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})

    response = client.get(reset_path, follow=True)

    assert response.context["token_fail"] is True
    assert "This link no longer works" in response.content.decode()


def _sign_up_from(client, *, email: str, wanted: str) -> str:
    """Sign up from a page's "Sign up" link (`?next=`), as the members-only gate offers it; return
    the confirmation link's path."""
    signup = reverse("account_signup") + f"?next={wanted}"
    assert f'name="next" value="{wanted}"' in client.get(signup).content.decode()
    response = client.post(signup, {"email": email, "password1": PASSWORD, "password2": PASSWORD, "next": wanted})
    assert response.status_code == 302
    return link_in_last_mail("/accounts/confirm-email/")


@pytest.mark.django_db
def test_after_confirming_in_the_same_browser_the_member_returns_to_the_page_they_wanted(client, email):
    wanted = "/videos/some-video/?list=intro"
    confirm_path = _sign_up_from(client, email=email, wanted=wanted)

    page = client.get(confirm_path)
    response = client.post(confirm_path, {"next": page.context["redirect_field_value"]})

    assert response.status_code == 302
    assert response.url == wanted
    assert client.get(reverse("accounts:overview")).status_code == 200


@pytest.mark.django_db
def test_after_confirming_on_another_device_the_link_still_leads_to_the_page_they_wanted(client, email):
    wanted = "/videos/some-video/"
    confirm_path = _sign_up_from(client, email=email, wanted=wanted)
    other = Client()

    page = other.get(confirm_path)
    assert f'name="next" value="{wanted}"' in page.content.decode()
    response = other.post(confirm_path, {"next": page.context["redirect_field_value"]})

    assert response.status_code == 302
    assert response.url == wanted


@pytest.mark.django_db
def test_a_confirmation_link_never_leads_off_site(client, email):
    confirm_path = _sign_up_from(client, email=email, wanted="https://evil.example/")
    assert "evil.example" not in confirm_path
