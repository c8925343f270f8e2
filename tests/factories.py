from __future__ import annotations

from typing import Any

import factory
from allauth.account.models import EmailAddress
from django.utils import timezone

from accounts.models import User
from videos.models import Playlist, PlaylistItem, Video


class MemberFactory(factory.django.DjangoModelFactory[User]):
    """A member whose email address is confirmed (pass `confirmed=False` for one who has not)."""

    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"member{n}@example.com")
    username = factory.LazyAttribute(lambda o: o.email)
    password = factory.django.Password("correct horse battery staple")

    @factory.post_generation
    def confirmed(self, create: bool, extracted: Any, **kwargs: Any) -> None:
        if create:
            EmailAddress.objects.create(user=self, email=self.email, primary=True, verified=extracted is not False)


class VideoFactory(factory.django.DjangoModelFactory[Video]):
    class Meta:
        model = Video

    title = factory.Sequence(lambda n: f"Video {n}")
    slug = factory.Sequence(lambda n: f"video-{n}")
    provider = Video.Provider.YOUTUBE
    external_id = factory.Sequence(lambda n: f"vid{n:08d}")
    duration = 600
    is_published = True
    access = "members"
    published_at = factory.LazyFunction(timezone.now)


class PlaylistFactory(factory.django.DjangoModelFactory[Playlist]):
    class Meta:
        model = Playlist

    title = factory.Sequence(lambda n: f"Playlist {n}")
    slug = factory.Sequence(lambda n: f"playlist-{n}")
    is_published = True


class PlaylistItemFactory(factory.django.DjangoModelFactory[PlaylistItem]):
    class Meta:
        model = PlaylistItem

    playlist = factory.SubFactory(PlaylistFactory)
    video = factory.SubFactory(VideoFactory)
    position = factory.Sequence(lambda n: n)
