"""The catalogue's pages read the member's progress once, in the view (videos.registry), and
templates only display it; Cassandra down drops progress and resume, never the page."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import pytest
from cassandra.cluster import NoHostAvailable
from django.core.exceptions import ImproperlyConfigured
from django.template.loader import render_to_string
from django.urls import reverse

from analytics import pages
from analytics.acceptance import WatchBatch
from analytics.drain import watch_batches_store
from tests.analytics.helpers import now_ms
from tests.conftest import CASSANDRA_DBS
from tests.factories import PlaylistFactory, PlaylistItemFactory, VideoFactory
from videos.registry import page_context_get, page_context_register
from videos.selectors import video_published_snapshot_clear

pytestmark = pytest.mark.django_db(databases=CASSANDRA_DBS)


def watch(user_id: int, video_id: int, positions: Any, *, t0: int | None = None) -> None:
    t0 = t0 or now_ms() - 3_600_000
    events = tuple((p, t0 + i * 1000, 1.0) for i, p in enumerate(positions))
    watch_batches_store(batches=[WatchBatch(user_id, video_id, uuid.uuid4(), events)])


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every member-progress partition read the pages make (the user id each)."""
    seen: list[int] = []
    real = pages.video_progress_map

    def counting(*, user_id: int, durations: dict[int, int | None]) -> Any:
        seen.append(user_id)
        return real(user_id=user_id, durations=durations)

    monkeypatch.setattr(pages, "video_progress_map", counting)
    return seen


@pytest.fixture
def cassandra_down(monkeypatch: pytest.MonkeyPatch) -> None:
    def down(**kwargs: Any) -> Any:
        raise NoHostAvailable("Unable to connect to any servers", {"127.0.0.1:9042": OSError("refused")})

    monkeypatch.setattr(pages, "video_progress_map", down)


def tracker_config(html: str) -> dict[str, Any]:
    found = re.search(r'<script id="watch-tracker-config" type="application/json">(.*?)</script>', html)
    assert found, "no tracker config on the page"
    config: dict[str, Any] = json.loads(found.group(1))
    return config


def test_the_catalogue_shows_progress_and_continue_watching_from_one_read(client, member, reads):
    started, done, _untouched = (VideoFactory(title=t, members_only=False, duration=600) for t in ("A", "B", "C"))
    watch(member.pk, started.pk, range(0, 120))
    watch(member.pk, done.pk, range(0, 560))
    client.force_login(member)

    html = client.get(reverse("videos:catalogue")).content.decode()

    assert reads == [member.pk]
    row = html.split('id="continue-watching"', 1)[1].split("</section>", 1)[0]
    assert started.get_absolute_url() in row
    assert done.get_absolute_url() not in row
    assert "1:59 / 10:00" in row  # position 119 s → percent 20
    assert 'aria-label="Watched 20%"' in html  # the card's bar (and the row's)
    assert "✓ Watched" in html
    assert html.count("✓ Watched") == 1


def test_a_playlist_counts_the_completed_videos_from_one_read(client, member, reads):
    playlist = PlaylistFactory()
    first, second = VideoFactory(members_only=False, duration=100), VideoFactory(members_only=False, duration=100)
    PlaylistItemFactory(playlist=playlist, video=first, position=1)
    PlaylistItemFactory(playlist=playlist, video=second, position=2)
    watch(member.pk, first.pk, range(0, 95))
    client.force_login(member)

    html = client.get(playlist.get_absolute_url()).content.decode()

    assert reads == [member.pk]
    assert "1 of 2 completed" in html
    assert html.count("✓ ") == 1


def test_the_watch_page_offers_the_saved_position_from_the_same_read_as_its_progress(client, member, video, reads):
    watch(member.pk, video.pk, range(0, 60))
    client.force_login(member)

    html = client.get(video.get_absolute_url()).content.decode()

    assert reads == [member.pk]
    config = tracker_config(html)
    assert config["resumePosition"] == 59
    assert config["videoId"] == video.pk
    assert config["outboxKey"] == pages.member_outbox_key(user_id=member.pk)
    assert {"sessionId", "token", "issuedAt", "serverTime", "endpoint", "beaconEndpoint"} <= set(config)
    assert 'aria-label="Watched 10%"' in html


def test_staff_previewing_an_unpublished_video_get_their_resume_position_but_no_progress(client, staff, reads):
    draft = VideoFactory(is_published=False, duration=600)
    watch(staff.pk, draft.pk, range(0, 30))
    client.force_login(staff)

    html = client.get(draft.get_absolute_url()).content.decode()

    assert tracker_config(html)["resumePosition"] == 29
    assert "progress--inline" not in html


@pytest.fixture
def staff(db: None) -> Any:
    from tests.factories import MemberFactory

    return MemberFactory(is_staff=True)


def test_cassandra_down_drops_progress_and_resume_but_never_a_page(client, member, video, cassandra_down):
    playlist = PlaylistFactory()
    PlaylistItemFactory(playlist=playlist, video=video, position=1)
    client.force_login(member)

    catalogue = client.get(reverse("videos:catalogue"))
    watch_page = client.get(video.get_absolute_url())
    playlist_page = client.get(playlist.get_absolute_url())

    assert (catalogue.status_code, watch_page.status_code, playlist_page.status_code) == (200, 200, 200)
    assert "Nothing in progress" in catalogue.content.decode()
    config = tracker_config(watch_page.content.decode())
    assert config["resumePosition"] is None
    assert config["token"]
    assert "0 of 1 completed" in playlist_page.content.decode()


def test_visitors_get_no_tracker_and_no_read(client, video, reads):
    html = client.get(video.get_absolute_url()).content.decode()
    client.get(reverse("videos:catalogue"))

    assert reads == []
    assert "watch-tracker-config" not in html or "null" in html.split("watch-tracker-config", 1)[1][:60]


def test_templates_only_display_rendering_reads_no_store(member, video, cassandra_down):
    # With the provider's output absent the card renders without progress: the template looks
    # nothing up itself (a read would hit the patched, failing selector and raise).
    html = render_to_string("videos/_video_card.html", {"video": video})
    assert video.title in html
    assert "<progress" not in html


def test_a_second_provider_under_a_taken_name_is_a_configuration_error():
    with pytest.raises(ImproperlyConfigured):
        page_context_register(name="analytics", provider=lambda **kwargs: {})
    page_context_register(name="analytics", provider=pages.page_context)  # the same again: a no-op


def test_page_context_get_merges_every_provider(rf, member, video):
    request = rf.get("/")
    request.user = member
    page_context_register(name="test-extra", provider=lambda **kwargs: {"extra": kwargs["video"]})
    try:
        context = page_context_get(request=request, video=video)
    finally:
        from videos.registry import page_context_unregister

        page_context_unregister(name="test-extra")
    assert context["extra"] == video
    assert "tracker_config" in context


def test_cards_render_once_per_version_of_a_video_and_a_change_shows_at_once(client, monkeypatch):
    from config import fragments

    fragments.fragments_clear()
    video = VideoFactory(title="Before", members_only=False)
    renders: list[str] = []
    real = fragments.fragment_render

    def counting(*, template_name: str, shared: dict[str, Any], per_request: Any = None) -> Any:
        if template_name == "videos/_video_card.html":
            renders.append(shared["video"].title)
        return real(template_name=template_name, shared=shared, per_request=per_request)

    monkeypatch.setattr(fragments, "fragment_render", counting)

    client.get(reverse("videos:catalogue"))
    client.get(reverse("videos:catalogue"))
    assert renders == ["Before"]

    type(video).objects.filter(pk=video.pk).update(title="After")  # no save(), no signal
    # The catalogue snapshot is reread (CATALOGUE_SNAPSHOT_SECONDS later, or here at once): the
    # card's key is the row's version (update() advances it), so nothing else needs telling.
    video_published_snapshot_clear()
    html = client.get(reverse("videos:catalogue")).content.decode()

    assert renders == ["Before", "After"]
    assert "After" in html
    assert "Before" not in html


def test_each_member_s_continue_watching_card_shows_their_own_position_and_token(monkeypatch):
    from django.test import Client

    from config import fragments
    from tests.factories import MemberFactory

    fragments.fragments_clear()
    video = VideoFactory(title="Shared", members_only=False, duration=600)
    one: Any = MemberFactory()
    two: Any = MemberFactory()
    watch(one.pk, video.pk, range(0, 60))
    watch(two.pk, video.pk, range(0, 300))
    rendered: list[str] = []
    real = fragments.fragment_render

    def counting(*, template_name: str, shared: dict[str, Any], per_request: Any = None) -> Any:
        rendered.append(template_name)
        return real(template_name=template_name, shared=shared, per_request=per_request)

    monkeypatch.setattr(fragments, "fragment_render", counting)
    rows = []
    for member in (one, two):
        client = Client()
        client.force_login(member)
        html = client.get(reverse("videos:catalogue")).content.decode()
        rows.append(html.split('id="continue-watching"', 1)[1].split("</section>", 1)[0])

    # The card is rendered once for both; what is the member's own is filled in per page.
    assert rendered.count("analytics/_continue_watching_card.html") == 1
    assert "0:59 / 10:00" in rows[0]
    assert 'aria-label="Watched 10%"' in rows[0]
    assert "4:59 / 10:00" in rows[1]
    assert 'aria-label="Watched 50%"' in rows[1]
    tokens = [re.findall(r'name="csrfmiddlewaretoken" value="([^"]+)"', row) for row in rows]
    assert all(len(found) == 1 and len(found[0]) == 64 for found in tokens)
    assert tokens[0] != tokens[1]
    assert 'name="next" value="/#continue-watching"' in rows[0]


def test_a_continue_watching_card_of_a_video_of_unknown_length_shows_the_time_watched_not_a_bar(client, member):
    video = VideoFactory(title="Length unknown", members_only=False, duration=None)
    watch(member.pk, video.pk, range(0, 40))
    client.force_login(member)

    html = client.get(reverse("videos:catalogue")).content.decode()

    row = html.split('id="continue-watching"', 1)[1].split("</section>", 1)[0]
    assert "0:40 watched" in row
    assert "<progress" not in row
    assert "/ </span>" not in row


def test_browsing_the_catalogue_reads_no_catalogue_rows_and_a_saved_change_shows_at_once(client, member):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    video: Any = VideoFactory(title="Before", members_only=False)
    PlaylistItemFactory(playlist=PlaylistFactory(title="A course"), video=video)
    client.force_login(member)
    client.get(reverse("videos:catalogue"))  # loads this process's snapshot

    with CaptureQueriesContext(connection) as queries:
        html = client.get(reverse("videos:catalogue")).content.decode()
    assert "Before" in html
    assert "A course" in html
    assert not [q["sql"] for q in queries if "videos_" in q["sql"]]

    video.title = "After"
    video.save()  # a save in this process clears its snapshot (other processes: within seconds)
    html = client.get(reverse("videos:catalogue")).content.decode()
    assert "After" in html
    assert "Before" not in html


def _added_to_templates(settings: Any, tmp_path: Any) -> None:
    # A developer shows one more field of the video on the card and the watch page, and touches
    # nothing else (no key list to extend).
    shown = '<span class="author">by {{ video.author_name }}</span>'
    for name, anchor in (("videos/_video_card.html", "</a>"), ("videos/watch.html", "</h1>")):
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        text = (settings.BASE_DIR / "templates" / name).read_text()
        path.write_text(text.replace(anchor, anchor + shown, 1))
    engine = settings.TEMPLATES[0]
    settings.TEMPLATES = [{**engine, "DIRS": [tmp_path, *engine["DIRS"]]}]


@pytest.mark.parametrize("how", ["update", "save"])
def test_a_field_added_to_a_template_shows_its_new_value_at_once_on_both_pages(client, settings, tmp_path, how):
    from config import fragments

    _added_to_templates(settings, tmp_path)
    fragments.fragments_clear()
    video: Any = VideoFactory(members_only=False, author_name="First Author")
    pages = (reverse("videos:catalogue"), video.get_absolute_url())
    for url in pages:
        assert "by First Author" in client.get(url).content.decode()

    if how == "update":
        type(video).objects.filter(pk=video.pk).update(author_name="Second Author")  # no save(), no signal
        video_published_snapshot_clear()  # what another process's reload does within seconds
    else:
        video.author_name = "Second Author"
        video.save(update_fields=["author_name"])
    for url in pages:
        html = client.get(url).content.decode()
        assert "by Second Author" in html, url
        assert "First Author" not in html, url


@pytest.mark.parametrize(
    ("field", "value", "shown", "on"),
    [
        ("title", "A new title", "A new title", "home watch"),
        ("description", "A new description", "A new description", "watch"),
        ("duration", 3723, "1:02:03", "home watch"),
        ("access", "members", "Members</span>", "home watch"),
        ("thumbnail", "thumbnails/new-poster.jpg", "thumbnails/new-poster.jpg", "home"),
        ("provider", "vimeo", "Vimeo", "home watch"),
    ],
)
def test_every_displayed_field_changed_without_save_shows_at_once(client, field, value, shown, on):
    from config import fragments
    from tests.factories import MemberFactory

    fragments.fragments_clear()
    video: Any = VideoFactory(members_only=False, duration=60, title="Old title", description="Old description")
    client.force_login(MemberFactory(confirmed=True))
    urls = {"home": reverse("videos:catalogue"), "watch": video.get_absolute_url()}
    for url in urls.values():
        assert shown not in client.get(url).content.decode()

    type(video).objects.filter(pk=video.pk).update(**{field: value})
    video_published_snapshot_clear()  # what another process's reload does within seconds
    for page in on.split():
        assert shown in client.get(urls[page]).content.decode(), page


def test_saves_and_bulk_writes_that_skip_updated_at_still_advance_it():
    video: Any = VideoFactory()
    Video = type(video)
    stamps = [Video.objects.get(pk=video.pk).updated_at]
    video.title = "Saved with update_fields"
    video.save(update_fields=["title"])
    stamps.append(Video.objects.get(pk=video.pk).updated_at)
    Video.objects.filter(pk=video.pk).update(title="Updated")
    stamps.append(Video.objects.get(pk=video.pk).updated_at)
    video.title = "Bulk"
    Video.objects.bulk_update([video], ["title"])
    stamps.append(Video.objects.get(pk=video.pk).updated_at)
    assert stamps == sorted(stamps)
    assert len(set(stamps)) == 4, stamps
