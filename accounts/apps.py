from typing import Any

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Members"

    def ready(self) -> None:
        from accounts.registry import member_data_register
        from accounts.selectors import member_account_export
        from accounts.services import member_account_erase

        member_data_register(name="account", exporter=member_account_export, eraser=member_account_erase)

        from allauth.account.signals import email_added, email_changed, email_confirmation_sent, email_confirmed

        email_changed.connect(_username_follows_email, dispatch_uid="accounts.username_follows_email")
        email_confirmed.connect(_one_owner_per_address, dispatch_uid="accounts.one_owner_per_address")
        email_added.connect(_address_requested, dispatch_uid="accounts.address_added")
        email_confirmation_sent.connect(_confirmation_sent, dispatch_uid="accounts.confirmation_sent")


def _username_follows_email(sender: object, user: object, **kwargs: object) -> None:
    from accounts.services import member_username_sync

    member_username_sync(user=user)  # type: ignore[arg-type]


def _one_owner_per_address(sender: object, email_address: object, **kwargs: object) -> None:
    from accounts.services import email_address_unconfirmed_drop

    email_address_unconfirmed_drop(email_address=email_address)


def _address_requested(sender: object, email_address: object, **kwargs: object) -> None:
    from accounts.services import email_address_requested

    email_address_requested(email_address=email_address)


def _confirmation_sent(sender: object, confirmation: Any, **kwargs: object) -> None:
    from accounts.services import email_address_requested

    email_address_requested(email_address=confirmation.email_address)
