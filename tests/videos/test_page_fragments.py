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

from analytics.acceptance import WatchBatch
from analytics.drain import watch_batches_store
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
        return real(**{**kwargs, "cached": False})

    monkeypatch.setattr(views, "page_render", without_fragment)


@pytest.fixture
def catalogue() -> list[Any]:
    return [VideoFactory(duration=300, members_only=n % 2 == 0) for n in range(4)]


@pytest.mark.parametrize("page", ["home", "watch"])
def test_each_member_sees_their_own_parts_of_a_shared_fragment(
    page: str, catalogue: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    fragments.fragments_clear()
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
    fragments.fragments_clear()
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
    fragments.fragments_clear()
    for _ in range(2):  # rendering the fragment, then filling it
        answer = client.get(reverse("videos:catalogue"))
        assert answer.status_code == 200
        assert "csrftoken" not in answer.cookies
        assert "Log in" in answer.content.decode()


def test_a_message_shows_once_to_its_member_only(catalogue: list[Any]) -> None:
    fragments.fragments_clear()
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


class Shown:
    """What get_template answers, for a template given as text."""

    def __init__(self, text: str) -> None:
        self.template = Template(text)


def test_a_csrf_token_outside_a_slot_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    fragments.fragments_clear()
    monkeypatch.setattr(fragments, "get_template", lambda name: Shown("<form>{% csrf_token %}</form>"))
    request = RequestFactory().get("/")
    request.user = AnonymousUser()
    with pytest.raises(TemplateSyntaxError, match=r"csrf_token is shown outside a \{% slot %\}"):
        fragments.fragment_get(template_name="x.html", shared={}, request=request)


def test_a_members_data_outside_a_slot_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    fragments.fragments_clear()
    text = "{% if user.is_authenticated %}<span>{{ user.email }}</span>{% endif %}"
    monkeypatch.setattr(fragments, "get_template", lambda name: Shown(text))
    request = RequestFactory().get("/")
    member: Any = MemberFactory(email="alice@example.com")
    request.user = member
    with pytest.raises(TemplateSyntaxError, match=r"user\.email"):
        fragments.fragment_get(template_name="x.html", shared={}, request=request)


def test_a_shared_input_without_a_version_is_refused() -> None:
    # The key is derived from the shared inputs: something it cannot tell the versions of (a
    # Paginator page, a row without updated_at) would make a key that misses changes.
    from django.core.paginator import Paginator

    from accounts.models import User

    with pytest.raises(TypeError, match="shared input"):
        fragments.fragment_key({"page": Paginator([1, 2], 1).get_page(1)})
    with pytest.raises(TypeError, match="updated_at"):
        fragments.fragment_key({"member": User(pk=1)})


def with_templates(settings: Any, tmp_path: Any, changed: dict[str, tuple[str, str]]) -> None:
    """Serve `templates/<name>` with `old` replaced by `new` (changed[name] = (old, new)) from a
    directory searched first: a page's template as a developer might edit it."""
    for name, (old, new) in changed.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        text = (settings.BASE_DIR / "templates" / name).read_text()
        assert old in text
        path.write_text(text.replace(old, new, 1))
    engine = settings.TEMPLATES[0]
    settings.TEMPLATES = [{**engine, "DIRS": [tmp_path, *engine["DIRS"]]}]
    fragments.fragments_clear()


SHOWN_PER_REQUEST = [
    "{{ request.user.email }}",
    "{{ perms }}",
    "{% if perms.videos.change_video %}staff{% endif %}",
    "{{ user.email }}",
    "{{ messages }}",
    "{% for message in messages %}{{ message }}{% endfor %}",
    "{{ member_unconfirmed }}",
    "{{ tracker_config }}",
    "{{ progress_map }}",
]


@pytest.mark.parametrize("shown", SHOWN_PER_REQUEST)
@pytest.mark.parametrize("page", ["home", "watch"])
def test_a_members_value_outside_a_slot_refuses_the_page_and_never_reaches_another_member(
    page: str, shown: str, catalogue: list[Any], settings: Any, tmp_path: Any
) -> None:
    # A developer puts a per-request value outside every {% slot %}: the shared fragment is
    # rendered without the request, the context processors or the view's per-request names, so
    # the value cannot be baked into text the next member gets; its use is refused loudly.
    with_templates(settings, tmp_path, {"base.html": ("<main ", f'<p id="leak">{shown}</p><main ')})
    alice = MemberFactory(email="alice@example.com", is_staff=True)
    bob = MemberFactory(email="bob@example.com")
    url = reverse("videos:catalogue") if page == "home" else catalogue[1].get_absolute_url()
    first, second = logged_in(alice), logged_in(bob)
    storage = CookieStorage(RequestFactory().get("/"))
    first.cookies["messages"] = storage._encode([Message(constants.SUCCESS, "Alice's secret message")])

    for client in (first, second, first):
        with pytest.raises(TemplateSyntaxError, match=r"outside a \{% slot %\}"):
            client.get(url)


def test_a_page_without_the_value_outside_a_slot_still_renders_for_both(catalogue: list[Any]) -> None:
    fragments.fragments_clear()
    for email in ("alice@example.com", "bob@example.com"):
        html = logged_in(MemberFactory(email=email)).get(reverse("videos:catalogue")).content.decode()
        assert f'aria-hidden="true">{email[0].upper()}</span>' in html
        assert "alice@example.com" not in html
        assert 'aria-current="page">Catalogue</a>' in html  # the nav's current page, filled per request


def test_a_card_showing_a_members_value_is_refused_too(settings: Any, tmp_path: Any) -> None:
    # Cards are fragments without a request: Django's per-request names are guarded there too.
    with_templates(settings, tmp_path, {"videos/_video_card.html": ("</a>", "</a>{{ user.email }}")})
    video = VideoFactory()
    with pytest.raises(TemplateSyntaxError, match=r"user\.email is shown outside"):
        fragments.fragment_get(template_name="videos/_video_card.html", shared={"video": video})


def test_a_named_slot_shows_its_value_escaped_in_a_normal_render() -> None:
    template = Template('{% load fragments %}<b>{% slot "n" %}</b>')
    assert template.render(Context({"n": 0})) == "<b>0</b>"
    assert template.render(Context({"n": "<i>"})) == "<b>&lt;i&gt;</b>"
