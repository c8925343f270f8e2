"""Every allauth email we send has a plain-text and an HTML body written for Watchpoint."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.core.mail import EmailMultiAlternatives
from django.test import Client
from django.urls import reverse

from tests.accounts.conftest import PASSWORD, link_in_last_mail


def assert_product_email(message):
    html = {mimetype: body for body, mimetype in message.alternatives}["text/html"]
    for body in (message.body, html):
        assert "Watchpoint" in body
        assert "example.com" not in body.replace(message.to[0], "")  # no Sites-framework placeholder
        assert "{{" not in body
        assert "{%" not in body
    assert "<a href=" in html
    assert message.from_email


@pytest.mark.django_db
def test_the_emails_of_a_member_s_life_have_text_and_html_bodies(client, email, member):
    client.post(reverse("account_signup"), {"email": email, "password1": PASSWORD, "password2": PASSWORD})
    client.post(link_in_last_mail("/accounts/confirm-email/"))
    client.post(reverse("account_email"), {"action_add": "", "email": "new-" + email})
    client.post(link_in_last_mail("/accounts/confirm-email/"))
    new_password = "a different long passphrase 5"
    client.post(
        reverse("account_change_password"),
        {"oldpassword": PASSWORD, "password1": new_password, "password2": new_password},
    )
    client.logout()
    client.post(reverse("account_reset_password"), {"email": "new-" + email})
    client.post(reverse("account_reset_password"), {"email": "nobody-" + email})
    client.post(reverse("account_signup"), {"email": member.email, "password1": PASSWORD, "password2": PASSWORD})

    subjects = [message.subject for message in mail.outbox]
    assert subjects == [
        "Confirm your email for Watchpoint",
        "Confirm your email address",
        "Your Watchpoint email address has changed",
        "Your Watchpoint password was changed",
        "Reset your Watchpoint password",
        "About your Watchpoint password reset",
        "You already have a Watchpoint account",
    ]
    for message in mail.outbox:
        assert_product_email(message)


SITE_URL = "https://watchpoint.example"


@pytest.mark.django_db
@pytest.mark.parametrize("host", ["testserver:8443", "testserver.", "TESTSERVER.:80"])
def test_every_link_in_every_email_is_on_the_canonical_site_url_whatever_the_host_header(settings, email, member, host):
    # Django accepts these Host headers (ALLOWED_HOSTS ignores the port and a trailing dot), and
    # allauth built links from them: a reset link to "testserver.:8443" is a link elsewhere.
    settings.SITE_URL = SITE_URL
    client = Client(HTTP_HOST=host)
    client.post(reverse("account_signup"), {"email": email, "password1": PASSWORD, "password2": PASSWORD})
    client.post(link_in_last_mail("/accounts/confirm-email/"))
    client.post(reverse("account_email"), {"action_add": "", "email": "new-" + email})
    client.post(link_in_last_mail("/accounts/confirm-email/"))
    new_password = "a different long passphrase 5"
    client.post(
        reverse("account_change_password"),
        {"oldpassword": PASSWORD, "password1": new_password, "password2": new_password},
    )
    client.logout()
    client.post(reverse("account_reset_password"), {"email": "new-" + email})
    client.post(reverse("account_reset_password"), {"email": "nobody-" + email})
    client.post(reverse("account_signup"), {"email": member.email, "password1": PASSWORD, "password2": PASSWORD})

    assert len(mail.outbox) == 7  # every kind the site sends (see the test above)
    for message in mail.outbox:
        assert isinstance(message, EmailMultiAlternatives)
        html = {mimetype: body for body, mimetype in message.alternatives}["text/html"]
        links = re.findall(r"""https?://[^\s"'<>]+""", f"{message.body!s}\n{html!s}")
        assert links, message.subject
        assert all(link.startswith(SITE_URL + "/") for link in links), (message.subject, links)
