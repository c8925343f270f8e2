"""Password checks cost the same whatever the answer, and the admin login is allauth's rate-limited one.

Timing is measured by counting work, never by the clock: every password hash goes through the
configured hasher's `encode` (its `verify` calls `encode`, `make_password` calls `encode`), so the
`hashes` fixture counts them. Equal counts mean a right password, a wrong one and an unknown
address take the same time, to within a few database queries.
"""

from __future__ import annotations

import http.cookiejar
import re
import urllib.parse
import urllib.request
from typing import Any

import pytest
from django.contrib.auth import authenticate, get_backends
from django.contrib.auth.hashers import get_hasher
from django.core import mail
from django.urls import reverse

from accounts import adapter as account_adapter
from accounts.models import User
from tests.accounts.conftest import PASSWORD
from tests.factories import MemberFactory

RIGHT = "correct horse battery staple"  # MemberFactory's password
WRONG = "not the password at all"


class HashCounter:
    def __init__(self) -> None:
        self.count = 0

    def reset(self) -> None:
        self.count = 0


@pytest.fixture
def hashes(monkeypatch: pytest.MonkeyPatch) -> HashCounter:
    """Counts hash computations of the configured (default) hasher; create members before reset()."""
    counter = HashCounter()
    hasher_class = type(get_hasher())
    original = hasher_class.encode

    def counting_encode(self: Any, password: str, salt: str, *args: Any, **kwargs: Any) -> str:
        counter.count += 1
        return original(self, password, salt, *args, **kwargs)

    monkeypatch.setattr(hasher_class, "encode", counting_encode)
    return counter


@pytest.fixture
def staff(db: None) -> Any:
    return MemberFactory(is_staff=True, is_superuser=True)


def admin_login_form(client: Any) -> str:
    """The URL of the form a visitor of /admin/ ends up on, with its query string."""
    response = client.get("/admin/", follow=True)
    assert response.status_code == 200
    query = response.request.get("QUERY_STRING", "")
    return response.request["PATH_INFO"] + (f"?{query}" if query else "")


def admin_log_in(client: Any, email: str, password: str) -> Any:
    """Log in the way staff do: open /admin/, follow it to its login form, submit it.

    Both field names are sent, so the same call drives Django's admin form (`username`) and
    allauth's (`login`): the test measures whichever form /admin/ leads to.
    """
    url = admin_login_form(client)
    return client.post(url, {"username": email, "login": email, "password": password, "next": "/admin/"})


# --- The admin login


@pytest.mark.django_db
def test_the_admin_login_page_sends_visitors_to_the_rate_limited_login(client):
    response = client.get("/admin/login/?next=/admin/")

    assert response.status_code == 302
    assert response.url == reverse("account_login") + "?next=%2Fadmin%2F"


@pytest.mark.django_db
def test_a_password_posted_to_the_admin_login_is_never_checked(client, staff, hashes):
    hashes.reset()

    response = client.post("/admin/login/?next=/admin/", {"username": staff.email, "password": RIGHT})

    assert response.status_code == 302
    assert response.url.startswith(reverse("account_login"))
    assert "_auth_user_id" not in client.session
    assert hashes.count == 0


@pytest.mark.django_db
def test_staff_logging_in_from_the_admin_reach_the_admin(client, staff):
    response = admin_log_in(client, staff.email, RIGHT)

    assert response.status_code == 302
    assert response.url == "/admin/"
    index = client.get("/admin/")
    assert index.status_code == 200
    assert "Site administration" in index.content.decode()


@pytest.mark.django_db
def test_a_member_who_is_not_staff_logs_in_but_gets_no_admin(client, member):
    response = admin_log_in(client, member.email, RIGHT)

    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(member.pk)
    admin = client.get("/admin/", follow=True)
    assert admin.status_code == 403
    assert "Site administration" not in admin.content.decode()


@pytest.mark.django_db
def test_the_admin_logout_still_logs_staff_out(client, staff):
    client.force_login(staff)

    response = client.post("/admin/logout/")

    assert response.status_code == 200
    assert "_auth_user_id" not in client.session
    assert client.get("/admin/").status_code == 302


@pytest.mark.django_db
def test_failed_admin_logins_for_one_address_are_stopped_after_five(client, staff):
    for _ in range(5):
        response = admin_log_in(client, staff.email, WRONG)
        assert "Too many failed login attempts" not in response.content.decode()

    response = admin_log_in(client, staff.email, RIGHT)

    # The right password too, until the window passes: guessing cannot go on through the admin.
    assert response.status_code == 200
    assert "Too many failed login attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_admin_login_attempts_from_one_ip_are_answered_429_after_thirty(client, staff, hashes):
    hashes.reset()
    for n in range(30):
        response = admin_log_in(client, f"guess{n}@example.com", WRONG)
        assert response.status_code == 200, n

    response = admin_log_in(client, staff.email, RIGHT)

    assert response.status_code == 429
    assert "Slow down a little" in response.content.decode()
    assert "_auth_user_id" not in client.session
    # login_failed (10/m/ip) stops hashing after ten failures: the rest cost no password check.
    assert hashes.count == 10


# --- One password hash per attempt, whatever the answer


@pytest.mark.django_db
@pytest.mark.parametrize("entry", ["admin", "account_login"])
@pytest.mark.parametrize("case", ["right password", "wrong password", "unknown address", "inactive member"])
def test_every_login_attempt_costs_exactly_one_password_hash(client, staff, hashes, entry, case):
    inactive = MemberFactory(is_active=False)
    email, password = {
        "right password": (staff.email, RIGHT),
        "wrong password": (staff.email, WRONG),
        "unknown address": ("nobody-here@example.com", RIGHT),
        "inactive member": (inactive.email, RIGHT),
    }[case]
    url = admin_login_form(client) if entry == "admin" else reverse("account_login")
    hashes.reset()

    response = client.post(url, {"username": email, "login": email, "password": password, "next": "/admin/"})

    assert response.status_code in (200, 302)
    assert ("_auth_user_id" in client.session) == (case == "right password")
    assert hashes.count == 1


@pytest.mark.django_db
def test_a_member_without_a_usable_password_costs_one_hash_too(client, hashes):
    member = MemberFactory()
    member.set_unusable_password()
    member.save(update_fields=["password"])
    hashes.reset()

    client.post(reverse("account_login"), {"login": member.email, "password": RIGHT})

    assert "_auth_user_id" not in client.session
    assert hashes.count == 1


@pytest.mark.django_db
@pytest.mark.parametrize(("password", "confirmed"), [(RIGHT, True), (WRONG, False)])
def test_reauthentication_checks_the_password_with_one_hash(client, member, hashes, password, confirmed):
    client.force_login(member)
    hashes.reset()

    response = client.post(reverse("account_reauthenticate"), {"password": password})

    assert (response.status_code == 302) == confirmed
    assert hashes.count == 1


@pytest.mark.django_db
def test_authenticate_outside_allauth_still_checks_email_and_password(member):
    # Django's own callers (e.g. AuthenticationForm) pass `username`; it is the email here.
    assert authenticate(None, username=member.email, password=RIGHT) == member
    assert authenticate(None, username=member.email, password=WRONG) is None
    assert member.has_perm("videos.add_video") is False


@pytest.mark.django_db
def test_staff_permissions_still_come_from_the_backend(staff):
    assert [type(backend).__name__ for backend in get_backends()] == ["AuthenticationBackend"]
    assert staff.has_perm("videos.add_video")


# --- Sign-up: a taken address costs what a new one does


def sign_up(client: Any, email: str) -> Any:
    return client.post(reverse("account_signup"), {"email": email, "password1": PASSWORD, "password2": PASSWORD})


@pytest.mark.django_db
def test_signing_up_with_a_new_or_a_taken_address_costs_the_same_hashes_and_answers_alike(
    client, member, email, hashes
):
    hashes.reset()
    new = sign_up(client, email)
    new_hashes = hashes.count
    new_page = client.get(new.url).content.decode()
    client.logout()
    hashes.reset()
    taken = sign_up(client, member.email)
    taken_hashes = hashes.count
    taken_page = client.get(taken.url).content.decode()

    assert User.objects.filter(email=email).exists()
    assert new_hashes == 1
    assert taken_hashes == new_hashes
    assert (taken.status_code, taken.url) == (new.status_code, new.url)
    # The same page, down to the byte, but for the address it names.
    assert taken_page == new_page.replace(email, member.email)


@pytest.mark.django_db
def test_both_sign_up_mails_go_through_the_same_queue(
    client, member, email, settings, monkeypatch, django_capture_on_commit_callbacks
):
    settings.ACCOUNT_EMAIL_ASYNC = True
    queued: list[dict[str, Any]] = []
    monkeypatch.setattr(account_adapter.email_send_task, "delay", queued.append)

    with django_capture_on_commit_callbacks(execute=True):
        sign_up(client, email)
    client.logout()
    with django_capture_on_commit_callbacks(execute=True):
        sign_up(client, member.email)

    # Nothing is sent in the request on either path; one message each is queued for a worker.
    assert mail.outbox == []
    assert [message["to"] for message in queued] == [[email], [member.email]]
    assert queued[1]["subject"] == "You already have a Watchpoint account"
    assert queued[0]["subject"] != queued[1]["subject"]


# --- Real HTTP


def _csrf_token(html: str) -> str:
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    assert match, html
    return match.group(1)


@pytest.mark.django_db(transaction=True)
def test_over_http_the_admin_login_leads_to_the_login_that_stops_guessing(live_server):
    staff_email = str(MemberFactory(is_staff=True).email)
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))

    def post(url: str, data: dict[str, str]) -> tuple[str, str]:
        body = urllib.parse.urlencode(data).encode()
        request = urllib.request.Request(url, data=body, headers={"Referer": url})  # noqa: S310 (the live server)
        with opener.open(request, timeout=30) as response:
            return response.geturl(), response.read().decode()

    # urllib follows the redirect from the admin login to allauth's.
    with opener.open(f"{live_server.url}/admin/login/?next=/admin/", timeout=30) as response:
        login_url = response.geturl()
        html = response.read().decode()
    assert login_url == f"{live_server.url}{reverse('account_login')}?next=%2Fadmin%2F"

    for _ in range(5):
        _, html = post(login_url, {"csrfmiddlewaretoken": _csrf_token(html), "login": staff_email, "password": WRONG})
        assert "Too many failed login attempts" not in html
    final_url, html = post(
        login_url, {"csrfmiddlewaretoken": _csrf_token(html), "login": staff_email, "password": RIGHT}
    )

    assert final_url == login_url
    assert "Too many failed login attempts" in html
    assert "sessionid" not in {cookie.name for cookie in jar}
