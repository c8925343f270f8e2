"""A new member goes from the home page to a confirmed, logged-in account in a real browser."""

from __future__ import annotations

import re
import uuid

import pytest
from django.core import mail
from django.core.cache import cache

from tests.conftest import screenshot

PASSWORD = "a long and unusual passphrase 42"


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_visitor_signs_up_confirms_their_email_and_is_logged_in(page):
    cache.clear()  # allauth's rate limits; this run's Redis database is private
    email = f"browser-{uuid.uuid4().hex[:8]}@example.com"

    page.goto("/")
    screenshot(page, "accounts-01-home-anonymous")
    page.get_by_role("link", name="Sign up").first.click()
    page.wait_for_url("**/accounts/signup/")
    screenshot(page, "accounts-02-signup")

    # A typo in the second password: the error sits by the field and the email survives.
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password, again").fill(PASSWORD + "!")
    page.get_by_role("button", name="Create account").click()
    assert page.get_by_text("You must type the same password each time.").is_visible()
    assert page.get_by_label("Email address").input_value() == email
    screenshot(page, "accounts-03-signup-error")

    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password, again").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url("**/accounts/confirm-email/")
    assert page.get_by_role("heading", name="Check your inbox").is_visible()
    screenshot(page, "accounts-04-check-inbox")

    # Not confirmed yet, but logging in works; the site says what is missing and offers a new link.
    page.get_by_role("link", name="log in", exact=True).click()
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    assert page.get_by_text("Please confirm your email address").is_visible()
    screenshot(page, "accounts-04b-logged-in-unconfirmed")
    page.get_by_role("link", name="Resend the link").click()
    assert page.get_by_role("heading", name="Confirm your email to start watching").is_visible()
    screenshot(page, "accounts-04c-confirm-needed")

    assert mail.outbox[-1].to == [email]
    link = re.search(r"https?://\S+/accounts/confirm-email/\S+", str(mail.outbox[-1].body))
    assert link
    page.goto(link.group(0))
    assert page.get_by_role("heading", name="Confirm your email").is_visible()
    screenshot(page, "accounts-05-confirm")
    page.get_by_role("button", name="Yes, confirm my email").click()
    page.wait_for_url(lambda url: "/confirm-email/" not in url)

    assert page.get_by_role("link", name="My account").first.is_visible()
    assert page.get_by_role("button", name="Log out").is_visible()
    screenshot(page, "accounts-06-home-logged-in")

    page.get_by_role("link", name="My account").first.click()
    assert page.get_by_role("heading", name="My account", exact=True).is_visible()
    assert page.get_by_text(email).first.is_visible()
    assert page.get_by_text("Confirmed").is_visible()
    screenshot(page, "accounts-07-my-account")

    page.get_by_role("button", name="Log out").click()
    page.get_by_role("link", name="Log in").first.click()
    screenshot(page, "accounts-08-login")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Keep me logged in").check()
    page.get_by_role("button", name="Log in").click()
    assert page.get_by_role("button", name="Log out").is_visible()

    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/accounts/delete/")
    screenshot(page, "accounts-09-delete-mobile")
    page.goto("/accounts/email/")
    screenshot(page, "accounts-10-email-change-mobile")
