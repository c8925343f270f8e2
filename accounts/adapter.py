from __future__ import annotations

from typing import Any

from allauth.account import app_settings
from allauth.account.adapter import DefaultAccountAdapter


class AccountAdapter(DefaultAccountAdapter):
    def get_login_stages(self) -> list[str]:
        return [
            "accounts.stages.SignupEmailVerificationStage"
            if stage == "allauth.account.stages.EmailVerificationStage"
            else stage
            for stage in super().get_login_stages()
        ]

    def send_mail(self, template_prefix: str, email: str, context: dict[str, Any]) -> None:
        # Our emails tell members how long a confirmation link lasts; say what the setting says.
        context = {"expiration_days": app_settings.EMAIL_CONFIRMATION_EXPIRE_DAYS, **context}
        super().send_mail(template_prefix, email, context)
