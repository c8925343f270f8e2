"""Staff order a playlist by dragging its items in admin (django-admin-sortable2), not by typing."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.conftest import screenshot
from tests.factories import MemberFactory, PlaylistFactory, PlaylistItemFactory, VideoFactory
from videos.models import PlaylistItem

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_staff_drag_the_last_item_of_a_playlist_to_the_top_and_save(page, live_server):
    staff = MemberFactory.create(is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(staff)
    page.context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]
    )
    playlist = PlaylistFactory.create(title="Knife skills")
    for position, title in enumerate(["Claw grip", "Rock chop", "Julienne"], start=1):
        PlaylistItemFactory(playlist=playlist, video=VideoFactory(title=title), position=position)

    page.goto(f"/admin/videos/playlist/{playlist.pk}/change/")
    rows = page.locator("#items-group tr.has_original")
    assert rows.count() == 3
    # No position to type: the ordering field is hidden; rows carry a drag handle.
    assert page.locator("#items-group input[name$='-position'][type='hidden']").count() >= 3
    rows.nth(2).locator("td.original p").drag_to(rows.nth(0).locator("td.original p"))
    screenshot(page, "admin-playlist-dragged")
    page.locator("input[name='_continue']").click()
    page.wait_for_selector(".messagelist .success")

    order = list(
        PlaylistItem.objects.filter(playlist=playlist).order_by("position").values_list("video__title", flat=True)
    )
    assert order == ["Julienne", "Claw grip", "Rock chop"]
