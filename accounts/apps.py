from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Members"

    def ready(self) -> None:
        from accounts.registry import member_data_register
        from accounts.selectors import member_account_export
        from accounts.services import member_account_erase

        member_data_register(name="account", exporter=member_account_export, eraser=member_account_erase)
