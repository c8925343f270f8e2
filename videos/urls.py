from django.urls import path

from videos import views

app_name = "videos"
urlpatterns = [
    path("", views.catalogue, name="catalogue"),
    path("watch/<slug:slug>/", views.watch, name="watch"),
]
