from django.urls import path, re_path

from accounts import views

app_name = "accounts"
urlpatterns = [
    path("", views.overview, name="overview"),
    path("confirm/", views.confirm_needed, name="confirm_needed"),
    path("my-data/", views.data_export, name="data_export"),
    path("delete/", views.account_delete, name="delete"),
    # Shadows allauth's view at the same path (this URLconf is included first); same name, so
    # {% url 'account_confirm_email' %} and the layout's checks of url_name are unchanged.
    re_path(r"^confirm-email/(?P<key>[-:\w]+)/$", views.email_confirm, name="account_confirm_email"),
]
