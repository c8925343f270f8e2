from django.urls import path

from accounts import views

app_name = "accounts"
urlpatterns = [
    path("", views.overview, name="overview"),
    path("confirm/", views.confirm_needed, name="confirm_needed"),
    path("my-data/", views.data_export, name="data_export"),
    path("delete/", views.account_delete, name="delete"),
]
