"""The member-facing catalogue and playlist pages."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from allauth.account.models import EmailAddress
from django.urls import reverse

from tests.factories import MemberFactory, PlaylistFactory, PlaylistItemFactory, VideoFactory
from videos import selectors
from videos.selectors import video_watchable_get
from videos.views import CATALOGUE_PAGE_SIZE

pytestmark = pytest.mark.django_db


def test_the_catalogue_shows_published_videos_as_cards_with_thumbnail_and_duration(client):
    VideoFactory(
        title="Shown", provider="youtube", external_id="dQw4w9WgXcQ", duration=635, card_image="thumbnails/cards/1-ab"
    )
    VideoFactory(title="Hidden draft", is_published=False)

    html = client.get(reverse("videos:catalogue")).content.decode()

    assert "Shown" in html
    assert "Hidden draft" not in html
    # Card sizes made by the server (WebP first, JPEG fallback), served from MEDIA, not hotlinked.
    assert "/media/thumbnails/cards/1-ab-320.webp 320w, /media/thumbnails/cards/1-ab-640.webp 640w" in html
    assert 'src="/media/thumbnails/cards/1-ab-640.jpg"' in html
    assert "i.ytimg.com" not in html
    assert "10:35" in html


def test_the_catalogue_searches_titles_and_descriptions(client):
    VideoFactory(title="Knife skills")
    VideoFactory(title="Bread", description="Kneading with a knife-free method")
    VideoFactory(title="Gardening")

    response = client.get(reverse("videos:catalogue"), {"q": "knife"})

    titles = [v.title for v in response.context["videos"]]
    assert sorted(titles) == ["Bread", "Knife skills"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("colour", ["Color theory", "Colour grading"]),  # British query, American title too
        ("color", ["Color theory", "Colour grading"]),
        ("watching", ["Watch list"]),  # stemmed
        ("organise", ["Organizing a shoot"]),
        ("CATALOGUE", ["The catalog tour"]),
        ("café", ["Cafe lighting", "Lighting"]),  # title or description, accents dropped
        ("colour watch", []),  # every word must match
        ("grading colours", ["Colour grading"]),
        ("...", []),
    ],
)
def test_search_stems_words_and_folds_spellings_the_same_on_every_database(client, query, expected):
    for title in ("Color theory", "Colour grading", "Watch list", "Organizing a shoot", "The catalog tour"):
        VideoFactory(title=title)
    VideoFactory(title="Lighting", description="Café lighting on a budget")
    VideoFactory(title="Cafe lighting")

    response = client.get(reverse("videos:catalogue"), {"q": query})

    assert sorted(v.title for v in response.context["videos"]) == sorted(expected)


def test_postgresql_search_uses_the_full_text_index():
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("the GIN index exists on PostgreSQL only (SQLite matches with LIKE)")
    from videos.selectors import video_catalogue_list

    VideoFactory(title="Colour grading")
    query = video_catalogue_list(search="colours")
    sql, params = query.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())

    assert "videos_video_search_gin" in plan, plan
    assert [v.title for v in query] == ["Colour grading"]


def test_a_renamed_video_is_found_by_its_new_title(client):
    video: Any = VideoFactory(title="Knife skills")
    video.title = "Sharpening"
    video.save(update_fields=["title"])

    titles = [v.title for v in client.get(reverse("videos:catalogue"), {"q": "sharpen"}).context["videos"]]

    assert titles == ["Sharpening"]


def card_titles(response: Any) -> list[str]:
    """The titles of the page's catalogue cards, in order (browsing pages come from a fragment
    rendered once, so the page's HTML, not the test client's captured contexts, says what it lists)."""
    return re.findall(r'<span class="video-card__title">([^<]*)</span>', response.content.decode())


def test_the_catalogue_pages_through_many_videos(client):
    for n in range(CATALOGUE_PAGE_SIZE + 3):
        VideoFactory(title=f"Clip {n}")

    first = client.get(reverse("videos:catalogue"))
    second = client.get(reverse("videos:catalogue"), {"page": 2})

    assert len(card_titles(first)) == CATALOGUE_PAGE_SIZE
    assert len(card_titles(second)) == 3
    assert b'rel="next"' in first.content


def test_the_catalogue_follows_the_staff_ordering(client):
    VideoFactory(title="Second", position=2)
    VideoFactory(title="First", position=1)

    response = client.get(reverse("videos:catalogue"))

    assert card_titles(response) == ["First", "Second"]


def test_the_catalogue_lists_published_playlists_with_their_length(client):
    playlist = PlaylistFactory(title="Baking course")
    PlaylistItemFactory.create_batch(3, playlist=playlist)
    PlaylistItemFactory(playlist=playlist, video=VideoFactory(is_published=False))
    PlaylistFactory(title="Draft course", is_published=False)

    html = client.get(reverse("videos:catalogue")).content.decode()

    assert "Baking course" in html
    assert "3 videos" in html
    assert "Draft course" not in html


def test_a_playlist_page_lists_its_videos_in_order(client):
    playlist = PlaylistFactory(title="Course")
    PlaylistItemFactory(playlist=playlist, position=2, video=VideoFactory(title="Lesson two"))
    PlaylistItemFactory(playlist=playlist, position=1, video=VideoFactory(title="Lesson one"))

    response = client.get(reverse("videos:playlist", kwargs={"slug": playlist.slug}))

    assert response.status_code == 200
    html = response.content.decode()
    assert html.index("Lesson one") < html.index("Lesson two")
    assert f"?list={playlist.slug}" in html


def test_an_unpublished_playlist_is_not_found(client):
    playlist = PlaylistFactory(is_published=False)

    assert client.get(reverse("videos:playlist", kwargs={"slug": playlist.slug})).status_code == 404


# --- The watchable-video cache the watch endpoint reads (videos.selectors)


def test_a_full_watchable_cache_evicts_the_oldest_answer_not_every_answer(django_assert_num_queries):
    member: Any = MemberFactory()
    first: Any = VideoFactory(members_only=False)
    second: Any = VideoFactory(members_only=False)
    size = int(selectors._published.maxsize)
    # Fill it with answers for other ids, as a busy process would.
    for video_id in range(-size + 1, 0):
        selectors._published[video_id] = None
    assert video_watchable_get(user=member, video_id=first.pk) == first
    assert video_watchable_get(user=member, video_id=second.pk) == second  # the cache is full here

    with django_assert_num_queries(0):
        assert video_watchable_get(user=member, video_id=first.pk) == first
        assert video_watchable_get(user=member, video_id=second.pk) == second
    assert len(selectors._published) == size


def test_an_unpublished_video_stops_being_watchable_once_its_cached_answer_expires():
    member: Any = MemberFactory()
    video: Any = VideoFactory(members_only=False)
    assert video_watchable_get(user=member, video_id=video.pk) == video
    video.is_published = False
    video.save()

    assert video_watchable_get(user=member, video_id=video.pk) == video  # still cached
    selectors._published.expire(time.monotonic() + selectors._WATCHABLE_TTL_SECONDS + 1)
    assert video_watchable_get(user=member, video_id=video.pk) is None


def test_only_a_confirmed_member_is_remembered_so_confirming_counts_at_once(django_assert_num_queries):
    member: Any = MemberFactory(confirmed=False)
    video: Any = VideoFactory(members_only=True)
    assert video_watchable_get(user=member, video_id=video.pk) is None

    EmailAddress.objects.filter(user=member).update(verified=True)
    assert video_watchable_get(user=member, video_id=video.pk) == video  # at once, not after a TTL
    with django_assert_num_queries(0):  # now remembered
        assert video_watchable_get(user=member, video_id=video.pk) == video
