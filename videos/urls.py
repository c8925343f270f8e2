from django.urls import path

from videos import views

app_name = "videos"
urlpatterns = [
    path("", views.catalogue, name="catalogue"),
    path("watch/<slug:slug>/", views.watch, name="watch"),
    path("playlists/<slug:slug>/", views.playlist, name="playlist"),
    path("videos/<int:video_id>/report/", views.player_report_create, name="report"),
]
