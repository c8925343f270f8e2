from allauth.account.decorators import secure_admin_login
from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.contrib.staticfiles import finders
from django.http import FileResponse, Http404, HttpRequest
from django.urls import include, path
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_safe

from config.admin_cards import admin_index_with_cards
from config.health import healthz
from config.metrics import metrics_view

# The admin's own login form had no rate limit: anonymous visitors are sent to allauth's login
# (ACCOUNT_RATE_LIMITS "login", "login_failed"), and a logged-in member who is not staff gets a 403.
admin.site.login = secure_admin_login(admin.site.login)  # type: ignore[method-assign]
# The apps' cards above the index (config/admin_cards.py), read by the view, not by template tags.
admin.site.index = admin_index_with_cards(admin.site.index)  # type: ignore[method-assign]
admin.site.app_index = admin_index_with_cards(admin.site.app_index)  # type: ignore[method-assign]


@require_safe
@cache_control(public=True, max_age=86400)
def favicon(request: HttpRequest) -> FileResponse:
    # Browsers ask for /favicon.ico whatever the page links to; answer it from the static folder
    # (found by the finders, so it works before and after collectstatic) instead of a 404 per visit.
    found = finders.find("img/favicon.ico")
    if not isinstance(found, str):
        raise Http404
    return FileResponse(open(found, "rb"), content_type="image/x-icon")  # FileResponse closes it


urlpatterns = [
    path("favicon.ico", favicon, name="favicon"),
    path("healthz", healthz, name="healthz"),
    path("metrics", metrics_view, name="metrics"),
    # Before admin.site.urls: staff analytics pages (analytics/admin.py), inside the admin's look and login.
    path("admin/analytics/", include("analytics.admin_urls")),
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    path("accounts/", include("allauth.urls")),
    path("billing/", include("billing.urls")),
    path("", include("analytics.urls")),
    path("", include("videos.urls")),
]
# Thumbnails and card images in development; production serves them from the web server. Only
# thumbnails/: MEDIA_ROOT also holds uploaded video sources and HLS ladders, which members get only
# through signed URLs (/hls/, videos/media.py), never from /media/.
urlpatterns += static(f"{settings.MEDIA_URL}thumbnails/", document_root=settings.MEDIA_ROOT / "thumbnails")
