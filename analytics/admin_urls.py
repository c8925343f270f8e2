"""URLconf of the staff analytics pages, included by config/urls.py at /admin/analytics/ by name
(config imports no app module): the views live in analytics/admin.py, inside the admin's login."""

from analytics.admin import analytics_admin_urls

app_name = "analytics_admin"
urlpatterns = analytics_admin_urls()
