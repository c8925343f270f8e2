"""Members' home and watch pages come from a fragment rendered once per version of what they show
(config/fragments.py): each member still sees only their own parts, exactly as a full render."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser
from django.contrib.messages import constants
from django.contrib.messages.storage.base import Message
from django.contrib.messages.storage.cookie import CookieStorage
from django.template import Context, Template, TemplateSyntaxError
from django.test import Client, RequestFactory
from django.urls import reverse

from analytics.services import WatchBatch, watch_batches_store
from config import fragments
from tests.analytics.helpers import now_ms
from tests.conftest import CASSANDRA_DBS
from tests.factories import MemberFactory, VideoFactory
from videos import views

pytestmark = pytest.mark.django_db(databases=CASSANDRA_DBS)

TOKEN = re.compile(r'(value|data-csrf-token)="([A-Za-z0-9]{64})"')


def watched(user_id: int, video_id: int, seconds: int) -> None:
    t0 = now_ms() - 3_600_000
    events = tuple((p, t0 + p * 1000, 1.0) for p in range(seconds))
    watch_batches_store(batches=[WatchBatch(user_id, video_id, uuid.uuid4(), events)])


def logged_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def normalised(html: str) -> str:
    """The page without what is random per response (masked CSRF tokens, the viewing session)."""
    html = TOKEN.sub(r'\1="TOKEN"', html)
    return re.sub(r'"(sessionId|token|issuedAt|serverTime)": [^,]+,', r'"\1": X,', html)


def full_render(monkeypatch: pytest.MonkeyPatch) -> None:
    real = fragments.page_render

    def without_fragment(**kwargs: Any) -> Any:
        return real(**{**kwargs, "key": None})

    monkeypatch.setattr(views, "page_render", without_fragment)


@pytest.fixture
def catalogue() -> list[Any]:
    return [VideoFactory(duration=300, members_only=n % 2 == 0) for n in range(4)]


@pytest.mark.parametrize("page", ["home", "watch"])
def test_each_member_sees_their_own_parts_of_a_shared_fragment(
    page: str, catalogue: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    fragments.page_fragments_clear()
    alice = MemberFactory(email="alice@example.com")
    zoe = MemberFactory(email="zoe@example.com", confirmed=False)
    watched(alice.pk, catalogue[0].pk, 120)  # Alice is part-way; Zoe never started
    url = reverse("videos:catalogue") if page == "home" else catalogue[1].get_absolute_url()
    if page == "watch":
        watched(alice.pk, catalogue[1].pk, 290)

    first, second = logged_in(alice), logged_in(zoe)
    pages = {who: client.get(url).content.decode() for who, client in (("alice", first), ("zoe", second))}
    full_render(monkeypatch)
    full = {who: client.get(url).content.decode() for who, client in (("alice", first), ("zoe", second))}

    for who in ("alice", "zoe"):
        assert normalised(pages[who]) == normalised(full[who])
    assert '<span class="avatar" aria-hidden="true">A</span>' in pages["alice"]
    assert '<span class="avatar" aria-hidden="true">Z</span>' in pages["zoe"]
    assert "Please confirm your email address" in pages["zoe"]
    assert "Please confirm your email address" not in pages["alice"]
    if page == "home":
        assert 'id="continue-heading"' in pages["alice"]
        assert "Nothing in progress" not in pages["alice"]
        assert "Nothing in progress" in pages["zoe"]
    else:
        assert "Completed" in pages["alice"]
        assert "Mark as unwatched" in pages["alice"]
        assert "Mark as watched" in pages["zoe"]
        assert "Completed" not in pages["zoe"]


def test_every_csrf_token_on_a_page_is_the_members_own(catalogue: list[Any]) -> None:
    fragments.page_fragments_clear()
    alice, bob = MemberFactory(), MemberFactory()
    url = catalogue[0].get_absolute_url()
    tokens = {}
    for user in (alice, bob):
        client = logged_in(user)
        html = client.get(url).content.decode()
        found = {token for _, token in TOKEN.findall(html)}
        assert len(found) == 1, "one token per page, as one render gives"
        tokens[user.pk] = found.pop()
        # The page's token is accepted for this member's form posts.
        strict = Client(enforce_csrf_checks=True)
        strict.cookies = client.cookies
        answer = strict.post(
            reverse("analytics:member-video-action", args=[catalogue[0].pk, "watched"]),
            {"csrfmiddlewaretoken": tokens[user.pk]},
        )
        assert answer.status_code in (200, 302)
    assert tokens[alice.pk] != tokens[bob.pk]


def test_a_visitors_home_page_sets_no_csrf_cookie(client: Client, catalogue: list[Any]) -> None:
    fragments.page_fragments_clear()
    for _ in range(2):  # rendering the fragment, then filling it
        answer = client.get(reverse("videos:catalogue"))
        assert answer.status_code == 200
        assert "csrftoken" not in answer.cookies
        assert "Log in" in answer.content.decode()


def test_a_message_shows_once_to_its_member_only(catalogue: list[Any]) -> None:
    fragments.page_fragments_clear()
    alice, bob = logged_in(MemberFactory()), logged_in(MemberFactory())
    url = reverse("videos:catalogue")
    bob.get(url)  # the fragment exists before Alice has a message
    storage = CookieStorage(RequestFactory().get("/"))
    alice.cookies["messages"] = storage._encode([Message(constants.SUCCESS, "Saved your changes")])
    assert "Saved your changes" in alice.get(url).content.decode()
    assert "Saved your changes" not in alice.get(url).content.decode()
    assert "Saved your changes" not in bob.get(url).content.decode()


def test_a_slot_inside_a_loop_is_refused() -> None:
    template = Template("{% load fragments %}{% for x in xs %}{% slot %}{{ x }}{% endslot %}{% endfor %}")
    assert template.render(Context({"xs": [1, 2]})) == "12"  # a normal render shows it in place
    with pytest.raises(TemplateSyntaxError):
        template.render(Context({"xs": [1], fragments._SLOTS: []}))


def test_a_csrf_token_outside_a_slot_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    class Shown:
        template = Template("{% load fragments %}<form>{% csrf_token %}</form>")

        def render(self, context: dict[str, Any], request: Any) -> str:
            return self.template.render(Context(context))

    monkeypatch.setattr(fragments, "get_template", lambda name: Shown())
    request = RequestFactory().get("/")
    request.user = AnonymousUser()
    with pytest.raises(TemplateSyntaxError, match="outside"):
        fragments.page_fragment_render(template_name="x.html", context={}, request=request)


def test_a_members_data_outside_a_slot_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    class Shown:
        template = Template("{% if user.is_authenticated %}<span>{{ user.email }}</span>{% endif %}")

        def render(self, context: dict[str, Any], request: Any) -> str:
            return self.template.render(Context(context))

    monkeypatch.setattr(fragments, "get_template", lambda name: Shown())
    request = RequestFactory().get("/")
    member: Any = MemberFactory(email="alice@example.com")
    request.user = member
    with pytest.raises(TemplateSyntaxError, match=r"user\.email"):
        fragments.page_fragment_render(template_name="x.html", context={}, request=request)
