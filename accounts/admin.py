from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.http import HttpRequest, HttpResponse

from accounts.models import User
from accounts.registry import member_admin_panels


@admin.register(User)
class MemberAdmin(UserAdmin):  # type: ignore[type-arg]
    list_display = ("email", "is_staff", "is_active", "date_joined", "last_login")
    search_fields = ("email",)
    ordering = ("-date_joined",)
    change_form_template = "admin/accounts/member_change_form.html"

    def save_model(self, request: Any, obj: User, form: Any, change: bool) -> None:
        # The username mirrors the email address (accounts.models.User); staff edit the address.
        if obj.email:
            obj.username = obj.email
        super().save_model(request, obj, form, change)

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        # Other apps' panels (accounts.registry), e.g. the member's courses and videos with progress.
        member = self.get_object(request, object_id) if request.method == "GET" else None
        panels = [panel(request, member) for panel in member_admin_panels()] if member else []
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), "member_panels": panels})
