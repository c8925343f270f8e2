from allauth.account.decorators import secure_admin_login
from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.urls import include, path

from analytics.admin import analytics_admin_urls
from config.health import healthz
from config.metrics import metrics_view

# The admin's own login form had no rate limit: anonymous visitors are sent to allauth's login
# (ACCOUNT_RATE_LIMITS "login", "login_failed"), and a logged-in member who is not staff gets a 403.
admin.site.login = secure_admin_login(admin.site.login)  # type: ignore[method-assign]

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("metrics", metrics_view, name="metrics"),
    # Before admin.site.urls: staff analytics pages (analytics/admin.py), inside the admin's look and login.
    path("admin/analytics/", include((analytics_admin_urls(), "analytics_admin"))),
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    path("accounts/", include("allauth.urls")),
    path("", include("analytics.urls")),
    path("", include("videos.urls")),
]
# Uploaded thumbnails in development; production serves MEDIA_ROOT from the web server.
urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
