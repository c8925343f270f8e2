from __future__ import annotations

from typing import Any

from allauth.account.stages import EmailVerificationStage


class SignupEmailVerificationStage(EmailVerificationStage):
    """Email confirmation is mandatory at sign-up, not at every login.

    A new member must confirm before their first session (so sign-up keeps allauth's enumeration
    protection: a taken address gets the same "check your inbox" page). Later, an unconfirmed
    member may log in; the members-only pages are what refuse them, with a way to resend the link.
    """

    def handle(self) -> tuple[Any, bool]:
        if self.login.signup:
            return super().handle()
        return None, True
