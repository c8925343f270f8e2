from django.urls import path, re_path

from videos import views

app_name = "videos"
urlpatterns = [
    path("", views.catalogue, name="catalogue"),
    path("watch/<slug:slug>/", views.watch, name="watch"),
    path("playlists/<slug:slug>/", views.playlist, name="playlist"),
    path("videos/<int:video_id>/report/", views.player_report_create, name="report"),
    path("videos/<slug:slug>/media-url/", views.media_url, name="media-url"),
    path("videos/<int:video_id>/captions/<int:caption_id>.vtt", views.caption_file, name="caption"),
    # nginx answers /hls/ in production; this stand-in only with MEDIA_SERVE_FROM_DJANGO.
    re_path(r"^hls/(?P<path>.+)$", views.ladder_file, name="ladder-file"),
]
