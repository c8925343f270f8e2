from django.urls import path

from analytics import views

app_name = "analytics"
urlpatterns = [
    path("api/watch/", views.watch_batch_create, name="watch-batch"),
    path("api/watch/beacon/", views.watch_batch_create, name="watch-beacon"),
    path("api/watch/renew/", views.watch_token_renew, name="watch-renew"),
    path("progress/<int:video_id>/<slug:action>/", views.member_video_action, name="member-video-action"),
]
