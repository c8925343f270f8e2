"""Changing the email address: the new one must be confirmed before it replaces the old one."""

from __future__ import annotations

from datetime import timedelta

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from accounts.models import EmailAddressRequest, User
from accounts.selectors import member_email_address_pending
from accounts.services import email_addresses_pending_expire
from accounts.tasks import email_addresses_pending_expire_task
from tests.accounts.conftest import PASSWORD, link_in_last_mail


@pytest.mark.django_db
def test_a_new_address_replaces_the_old_one_only_once_confirmed(client, member, email):
    old_email = member.email
    client.force_login(member)

    response = client.post(reverse("account_email"), {"action_add": "", "email": email})

    assert response.status_code == 302
    assert mail.outbox[-1].to == [email]
    assert mail.outbox[-1].subject == "Confirm your email address"
    member.refresh_from_db()
    assert member.email == old_email  # still logs in with the old address meanwhile

    client.post(link_in_last_mail("/accounts/confirm-email/"))

    member.refresh_from_db()
    assert member.email == email
    assert list(EmailAddress.objects.filter(user=member).values_list("email", "verified")) == [(email, True)]
    # The old address hears about it, in case it wasn't the member who changed it.
    changed = [m for m in mail.outbox if m.subject == "Your Watchpoint email address has changed"]
    assert changed
    assert changed[0].to == [old_email]


@pytest.mark.django_db
def test_an_address_given_up_in_an_email_change_can_sign_up_again(client, member, email):
    old_email = member.email
    client.force_login(member)
    client.post(reverse("account_email"), {"action_add": "", "email": email})
    client.post(link_in_last_mail("/accounts/confirm-email/"))
    client.logout()

    response = client.post(
        reverse("account_signup"), {"email": old_email, "password1": PASSWORD, "password2": PASSWORD}
    )

    assert response.status_code == 302
    assert User.objects.filter(email=old_email).exists()


@pytest.mark.django_db
def test_an_address_another_member_uses_cannot_be_taken_over(client, member, other_member):
    other = other_member
    own_email = member.email
    client.force_login(member)

    # Enumeration protection: the page does not say the address is taken...
    response = client.post(reverse("account_email"), {"action_add": "", "email": other.email})
    assert response.status_code == 302

    # ...and even if its owner follows the link, the address stays theirs.
    response = client.post(link_in_last_mail("/accounts/confirm-email/"))
    member.refresh_from_db()
    other.refresh_from_db()
    assert member.email == own_email
    assert other.email == mail.outbox[-1].to[0]
    assert EmailAddress.objects.get(email=other.email, verified=True).user == other


@pytest.mark.django_db
def test_changing_the_password_keeps_you_logged_in_and_mails_you(client, member):
    new_password = "a brand new long passphrase 3"
    client.force_login(member)

    response = client.post(
        reverse("account_change_password"),
        {"oldpassword": "correct horse battery staple", "password1": new_password, "password2": new_password},
    )

    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(member.pk)
    member.refresh_from_db()
    assert member.check_password(new_password)
    assert mail.outbox[-1].subject == "Your Watchpoint password was changed"
    assert mail.outbox[-1].to == [member.email]


@pytest.mark.django_db
def test_a_pending_change_lasts_as_long_as_its_link_then_is_ignored_and_deleted(client, member, email):
    client.force_login(member)
    client.post(reverse("account_email"), {"action_add": "", "email": email})
    pending = EmailAddress.objects.get(user=member, email=email)
    assert member_email_address_pending(user=member) == pending
    assert email in client.get(reverse("accounts:overview")).content.decode()

    # Three days (ACCOUNT_EMAIL_CONFIRMATION_EXPIRE_DAYS) later, the link is dead and so is the change.
    EmailAddressRequest.objects.filter(email_address=pending).update(
        requested_at=timezone.now() - timedelta(days=3, minutes=1)
    )
    assert member_email_address_pending(user=member) is None
    assert email not in client.get(reverse("accounts:overview")).content.decode()
    email_addresses_pending_expire_task()

    assert list(EmailAddress.objects.filter(user=member).values_list("email", "verified")) == [(member.email, True)]


@pytest.mark.django_db
def test_resending_the_link_gives_a_pending_change_a_new_lifetime(client, member, email):
    client.force_login(member)
    client.post(reverse("account_email"), {"action_add": "", "email": email})
    pending = EmailAddress.objects.get(user=member, email=email)
    EmailAddressRequest.objects.filter(email_address=pending).update(requested_at=timezone.now() - timedelta(days=2))
    cache.clear()  # allauth's one mail per address every 3 minutes

    client.post(reverse("account_email"), {"action_send": "", "email": email})
    email_addresses_pending_expire(now=timezone.now() + timedelta(days=2))

    assert EmailAddress.objects.filter(pk=pending.pk).exists()
    assert member_email_address_pending(user=member) == pending


@pytest.mark.django_db
def test_an_unconfirmed_members_own_address_is_never_expired_away(unconfirmed_member):
    address = EmailAddress.objects.get(user=unconfirmed_member)

    deleted = email_addresses_pending_expire(now=timezone.now() + timedelta(days=30))

    assert deleted == 0
    assert EmailAddress.objects.filter(pk=address.pk).exists()
    assert member_email_address_pending(user=unconfirmed_member) == address
