from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from accounts.models import User


@admin.register(User)
class MemberAdmin(UserAdmin):  # type: ignore[type-arg]
    list_display = ("email", "is_staff", "is_active", "date_joined", "last_login")
    search_fields = ("email",)
    ordering = ("-date_joined",)

    def save_model(self, request: Any, obj: User, form: Any, change: bool) -> None:
        # The username mirrors the email address (accounts.models.User); staff edit the address.
        if obj.email:
            obj.username = obj.email
        super().save_model(request, obj, form, change)
