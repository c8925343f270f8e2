"""Pages that feel finished: branded error pages, the favicon, the header's links, and the two
confirmation-link paper cuts (a reused link, and the session the link logs you in with)."""

from __future__ import annotations

import http.client
import urllib.parse
from typing import Any

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, SuspiciousOperation
from django.http import HttpRequest, HttpResponse
from django.test import Client, RequestFactory
from django.urls import path, reverse
from django.views.defaults import server_error

from config.urls import urlpatterns as site_urlpatterns
from tests.accounts.conftest import PASSWORD, link_in_last_mail
from tests.conftest import CASSANDRA_DBS


def _forbidden(request: HttpRequest) -> HttpResponse:
    raise PermissionDenied


def _suspicious(request: HttpRequest) -> HttpResponse:
    raise SuspiciousOperation("a malformed request")


def _broken(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("a bug")


# This module is the URLconf of the error-page tests: the site's routes plus three that fail.
urlpatterns = [
    path("test-errors/403/", _forbidden),
    path("test-errors/400/", _suspicious),
    path("test-errors/500/", _broken),
    *site_urlpatterns,
]


@pytest.fixture
def production(settings: Any) -> Any:
    settings.DEBUG = False
    settings.ROOT_URLCONF = __name__
    return settings


def assert_branded(html: str) -> None:
    assert 'class="site-header"' in html
    assert "Watchpoint" in html
    assert "/static/css/site.css" in html
    # Django's own pages, debug or not, never reach a member.
    assert "Using the URLconf" not in html
    assert "admin/analytics/" not in html
    assert "<h1>Not Found</h1>" not in html


@pytest.mark.django_db
def test_an_unknown_address_gets_the_branded_404_page_without_the_route_list(client, production):
    response = client.get("/no-such-page/")

    assert response.status_code == 404
    html = response.content.decode()
    assert_branded(html)
    assert "We can't find that page" in html
    assert 'role="search"' in html


@pytest.mark.django_db
def test_a_forbidden_page_gets_the_branded_403_page(client, production):
    response = client.get("/test-errors/403/")

    assert response.status_code == 403
    html = response.content.decode()
    assert_branded(html)
    assert "This page isn't open to you" in html


@pytest.mark.django_db
def test_a_bad_request_gets_the_branded_400_page(client, production):
    response = client.get("/test-errors/400/")

    assert response.status_code == 400
    html = response.content.decode()
    assert_branded(html)
    assert "We couldn't make sense of that request" in html


@pytest.mark.django_db
def test_a_stale_form_gets_the_branded_csrf_page(production):
    client = Client(enforce_csrf_checks=True)

    response = client.post(reverse("account_login"), {"login": "someone@example.com", "password": "x"})

    assert response.status_code == 403
    html = response.content.decode()
    assert_branded(html)
    assert "That form had gone stale" in html


@pytest.mark.django_db
def test_a_server_error_gets_the_branded_500_page(client, production):
    client.raise_request_exception = False

    response = client.get("/test-errors/500/")

    assert response.status_code == 500
    html = response.content.decode()
    assert_branded(html)
    assert "Something went wrong on our side" in html
    assert "a bug" not in html


def test_the_500_page_renders_without_the_database_or_context_processors(settings):
    # No django_db mark: any query would fail this test. server_error renders with no request.
    settings.DEBUG = False

    response = server_error(RequestFactory().get("/"))

    assert response.status_code == 500
    html = response.content.decode()
    assert_branded(html)
    assert "Something went wrong on our side" in html


@pytest.mark.django_db
def test_the_favicon_is_linked_from_every_page_and_answers_at_the_site_root(client):
    html = client.get(reverse("videos:catalogue")).content.decode()
    assert '<link rel="icon" href="/static/img/favicon.svg" type="image/svg+xml">' in html

    response = client.get("/favicon.ico")

    assert response.status_code == 200
    assert response["Content-Type"] == "image/x-icon"
    assert b"".join(response.streaming_content).startswith(b"\x00\x00\x01\x00")  # an ICO header
    assert client.get("/static/img/favicon.svg").status_code == 200


@pytest.mark.django_db
def test_visitors_get_no_continue_watching_link_they_have_no_row_for(client):
    html = client.get(reverse("videos:catalogue")).content.decode()

    assert "Continue watching" not in html
    assert 'id="continue-watching"' not in html


@pytest.mark.django_db(databases=CASSANDRA_DBS)
def test_a_member_s_continue_watching_link_lands_on_the_row_even_before_they_start_a_video(client, member):
    client.force_login(member)

    html = client.get(reverse("videos:catalogue")).content.decode()

    assert 'href="/#continue-watching">Continue watching</a>' in html
    assert 'id="continue-watching"' in html
    assert "Nothing in progress" in html


def sign_up(client: Client, email: str) -> str:
    response = client.post(reverse("account_signup"), {"email": email, "password1": PASSWORD, "password2": PASSWORD})
    assert response.status_code == 302
    return link_in_last_mail("/accounts/confirm-email/")


@pytest.mark.django_db
def test_a_reused_confirmation_link_tells_its_signed_in_member_the_address_is_already_confirmed(client, email):
    confirm_path = sign_up(client, email)
    assert client.post(confirm_path).status_code == 302  # confirmed, and logged in from the link

    response = client.get(confirm_path)

    assert response.status_code == 200
    html = response.content.decode()
    assert "Your email is already confirmed" in html
    assert "expired" not in html


@pytest.mark.django_db
def test_a_reused_confirmation_link_tells_a_visitor_nothing_about_the_account(client, email):
    confirm_path = sign_up(client, email)
    client.post(confirm_path)
    client.post(reverse("account_logout"))

    html = client.get(confirm_path).content.decode()

    assert "This link has expired" in html
    assert "already confirmed" not in html


@pytest.mark.django_db
def test_another_member_s_used_link_is_not_called_confirmed_for_the_signed_in_member(client, email, other_member):
    confirm_path = sign_up(client, email)
    client.post(confirm_path)
    client.post(reverse("account_logout"))
    client.force_login(other_member)

    html = client.get(confirm_path).content.decode()

    assert "This link has expired" in html
    assert "already confirmed" not in html


@pytest.mark.django_db
def test_a_forged_confirmation_key_is_just_an_expired_link(client, member):
    client.force_login(member)

    html = client.get(reverse("account_confirm_email", args=["not-a-signed-key"])).content.decode()

    assert "This link has expired" in html


@pytest.mark.django_db
def test_logging_in_through_the_confirmation_link_ends_the_session_with_the_browser(client, email):
    confirm_path = sign_up(client, email)
    mail.outbox.clear()

    response = client.post(confirm_path)

    assert response.status_code == 302
    assert client.session["_auth_user_id"]
    assert client.session.get_expire_at_browser_close() is True


@pytest.mark.django_db
def test_remember_me_still_keeps_the_session_after_the_confirmation_login_change(client, member):
    response = client.post(
        reverse("account_login"),
        {"login": member.email, "password": "correct horse battery staple", "remember": "on"},
    )

    assert response.status_code == 302
    assert client.session.get_expire_at_browser_close() is False


# Pages of every kind: public, allauth's forms, members-only, admin, unknown, health.
BAD_HOST_PAGES = [
    "/",
    "/accounts/login/",
    "/accounts/signup/",
    "/accounts/password/reset/",
    "/accounts/",
    "/accounts/my-data/",
    "/admin/",
    "/no-such-page/",
    "/healthz",
]


@pytest.mark.django_db
@pytest.mark.parametrize("path", BAD_HOST_PAGES)
@pytest.mark.parametrize("host", ["evil.example.com", "evil.example.com:8000", "127.0.0.1:8000@evil.example"])
def test_a_request_for_a_host_we_do_not_serve_gets_the_400_page_never_a_500(client, production, path, host):
    # Django's DisallowedHost is raised by the first middleware that asks for the host, before the
    # session and the user are attached: the 400 page must render without them.
    response = client.get(path, HTTP_HOST=host)

    assert response.status_code == 400
    html = response.content.decode()
    assert_branded(html)
    assert "We couldn't make sense of that request" in html


@pytest.mark.django_db
def test_a_form_posted_with_a_bad_host_gets_the_400_page_and_logs_nobody_in(client, production, member):
    response = client.post(
        reverse("account_login"), {"login": member.email, "password": PASSWORD}, HTTP_HOST="evil.example.com"
    )

    assert response.status_code == 400
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db(transaction=True)
def test_over_http_a_bad_host_header_gets_400_on_every_kind_of_page(live_server):
    origin = urllib.parse.urlsplit(live_server.url)
    for page_path in ("/", "/accounts/login/", "/accounts/", "/no-such-page/"):
        connection = http.client.HTTPConnection(origin.hostname, origin.port, timeout=30)
        try:
            connection.request("GET", page_path, headers={"Host": "evil.example.com"})
            response = connection.getresponse()
            body = response.read().decode()
        finally:
            connection.close()
        assert response.status == 400, (page_path, response.status)
        assert "We couldn't make sense of that request" in body
