"""One owner per address: only a confirmed address belongs to an account.

An address someone asked for but never confirmed (a pending email change, or the address of a sign-up
nobody confirmed) blocks no one else's sign-up, and never receives a password reset for the account
that asked for it (issue 19, finding 3).
"""

from __future__ import annotations

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.test import Client
from django.urls import reverse

from accounts.models import User
from tests.accounts.conftest import PASSWORD, link_in_last_mail
from tests.conftest import CASSANDRA_DBS

OWNER_PASSWORD = "the real owner's own passphrase 7"
RESET_KEY_PATH = "/accounts/password/reset/key/"


def sign_up(client: Client, email: str, password: str) -> None:
    response = client.post(reverse("account_signup"), {"email": email, "password1": password, "password2": password})
    assert response.status_code == 302, response.content.decode()


def change_email_to(client: Client, member: User, email: str) -> None:
    client.force_login(member)
    response = client.post(reverse("account_email"), {"action_add": "", "email": email})
    assert response.status_code == 302


def mails_to(email: str) -> list[mail.EmailMessage]:
    return [message for message in mail.outbox if message.to == [email]]


@pytest.mark.django_db
def test_a_pending_email_change_does_not_stop_the_addresss_owner_from_signing_up(client, member, email):
    change_email_to(client, member, email)  # `member` does not own `email`
    owner = Client()
    mail.outbox.clear()

    sign_up(owner, email, OWNER_PASSWORD)

    account = User.objects.get(email=email)
    assert account.pk != member.pk
    assert account.check_password(OWNER_PASSWORD)
    assert [message.subject for message in mails_to(email)] == ["Confirm your email for Watchpoint"]
    owner.post(link_in_last_mail("/accounts/confirm-email/"))
    assert EmailAddress.objects.get(email=email, verified=True).user == account
    # The asker's pending copy is gone: the address has its owner.
    assert not EmailAddress.objects.filter(user=member, email=email).exists()
    member.refresh_from_db()
    assert member.email != email


@pytest.mark.django_db
def test_the_askers_confirmation_link_cannot_take_the_address_once_its_owner_signed_up(client, member, email):
    change_email_to(client, member, email)
    askers_link = link_in_last_mail("/accounts/confirm-email/")
    owner = Client()
    sign_up(owner, email, OWNER_PASSWORD)
    owner.post(link_in_last_mail("/accounts/confirm-email/"))

    # The owner, tricked into following the asker's older link, does not hand the address over.
    Client().post(askers_link)

    assert EmailAddress.objects.get(email__iexact=email, verified=True).user.check_password(OWNER_PASSWORD)
    member.refresh_from_db()
    assert member.email != email


@pytest.mark.django_db
def test_the_askers_link_cannot_take_the_address_while_its_owners_sign_up_awaits_confirmation(client, member, email):
    change_email_to(client, member, email)
    askers_link = link_in_last_mail("/accounts/confirm-email/")
    sign_up(Client(), email, OWNER_PASSWORD)

    response = Client().post(askers_link)

    assert response.status_code < 500
    member.refresh_from_db()
    assert member.email != email
    assert not EmailAddress.objects.filter(email__iexact=email, verified=True).exists()


@pytest.mark.django_db(databases=CASSANDRA_DBS)  # the replaced account is erased from every store
def test_an_unconfirmed_sign_up_does_not_squat_the_address(email):
    squatter = Client()
    sign_up(squatter, email, PASSWORD)
    squatter_id = User.objects.get(email=email).pk
    owner = Client()
    mail.outbox.clear()

    sign_up(owner, email, OWNER_PASSWORD)

    # The owner gets an account of their own (the squatter's, never confirmed, is replaced) and the
    # ordinary confirmation mail; confirming it logs them in.
    account = User.objects.get(email=email)
    assert account.pk != squatter_id
    assert not User.objects.filter(pk=squatter_id).exists()
    assert account.check_password(OWNER_PASSWORD)
    assert [message.subject for message in mails_to(email)] == ["Confirm your email for Watchpoint"]
    response = owner.post(link_in_last_mail("/accounts/confirm-email/"))
    assert response.status_code == 302
    assert owner.session["_auth_user_id"] == str(account.pk)
    assert EmailAddress.objects.get(email=email).verified
    # The squatter's password opens nothing.
    response = squatter.post(reverse("account_login"), {"login": email, "password": PASSWORD})
    assert "_auth_user_id" not in squatter.session


@pytest.mark.django_db
def test_a_confirmed_address_is_still_never_taken_by_a_new_sign_up(member):
    sign_up(Client(), member.email, OWNER_PASSWORD)

    assert User.objects.get(email=member.email).pk == member.pk
    assert mail.outbox[-1].subject == "You already have a Watchpoint account"
    member.refresh_from_db()
    assert not member.check_password(OWNER_PASSWORD)


@pytest.mark.django_db
def test_a_staff_account_made_with_createsuperuser_is_never_replaced_by_a_sign_up(email):
    staff = User.objects.create_superuser(email=email, password=PASSWORD)  # no EmailAddress row
    EmailAddress.objects.create(user=staff, email=email, verified=False, primary=True)  # allauth's sync at login

    sign_up(Client(), email, OWNER_PASSWORD)

    assert User.objects.get(email=email).pk == staff.pk
    assert mail.outbox[-1].subject == "You already have a Watchpoint account"


@pytest.mark.django_db
def test_a_password_reset_for_a_pending_address_sends_nothing_usable_for_the_askers_account(client, member, email):
    change_email_to(client, member, email)
    client.logout()
    mail.outbox.clear()

    response = Client().post(reverse("account_reset_password"), {"email": email})

    # The same answer as for any address (enumeration), but the mail only invites to sign up.
    assert response.status_code == 302
    assert [message.subject for message in mails_to(email)] == ["About your Watchpoint password reset"]
    assert RESET_KEY_PATH not in str(mail.outbox[-1].body)
    assert all(RESET_KEY_PATH not in str(message.body) for message in mail.outbox)


@pytest.mark.django_db
def test_a_password_reset_for_an_unconfirmed_sign_up_sends_no_key(email):
    sign_up(Client(), email, PASSWORD)
    mail.outbox.clear()

    Client().post(reverse("account_reset_password"), {"email": email})

    assert [message.subject for message in mails_to(email)] == ["About your Watchpoint password reset"]
    assert RESET_KEY_PATH not in str(mail.outbox[-1].body)


@pytest.mark.django_db
def test_a_password_reset_for_a_confirmed_address_still_works(client, member):
    new_password = "a brand new long passphrase 9"

    client.post(reverse("account_reset_password"), {"email": member.email})
    assert mail.outbox[-1].to == [member.email]
    response = client.get(link_in_last_mail(RESET_KEY_PATH), follow=True)
    form_path = response.redirect_chain[-1][0]
    response = client.post(form_path, {"password1": new_password, "password2": new_password})

    assert response.status_code == 302
    member.refresh_from_db()
    assert member.check_password(new_password)


@pytest.mark.django_db
def test_a_staff_member_made_with_createsuperuser_can_still_reset_their_password(email):
    staff = User.objects.create_superuser(email=email, password=PASSWORD)

    Client().post(reverse("account_reset_password"), {"email": email})

    assert RESET_KEY_PATH in str(mail.outbox[-1].body)
    assert mail.outbox[-1].to == [staff.email]


@pytest.mark.django_db
def test_a_reset_for_an_address_confirmed_by_one_member_and_pending_for_another_goes_to_the_owner(
    client, member, other_member
):
    change_email_to(client, other_member, member.email)  # enumeration: allowed, never confirmable
    client.logout()
    mail.outbox.clear()

    Client().post(reverse("account_reset_password"), {"email": member.email})

    assert len(mail.outbox) == 1
    reset_path = link_in_last_mail(RESET_KEY_PATH)
    from allauth.account.utils import user_pk_to_url_str

    assert reset_path.startswith(f"{RESET_KEY_PATH}{user_pk_to_url_str(member)}-")


@pytest.mark.django_db
def test_a_pending_address_is_not_a_login_for_the_account_that_asked_for_it(client, member, email):
    change_email_to(client, member, email)
    client.logout()

    client.post(reverse("account_login"), {"login": email, "password": "correct horse battery staple"})
    assert "_auth_user_id" not in client.session

    client.post(reverse("account_login"), {"login": member.email, "password": "correct horse battery staple"})
    assert client.session["_auth_user_id"] == str(member.pk)
