"""Whole pages rendered once per version of what they show, the member's parts filled per request.

A member's home or watch page is the same HTML for everyone who may see it except a few places
(the CSRF token, the avatar's initial, progress, the tracker's viewing session, messages). A
template marks each such place with `{% slot %}...{% endslot %}` (library `fragments`). Rendered
normally, a slot renders its content in place, so every other page is unchanged. Rendered by
`page_render` with a key, the page is rendered once per key with a marker in each slot and kept as
the text between them plus each slot's (compiled) content; each request then renders only the
slots' content, with the request's own context, and joins the strings. Rendering base.html and a
page's template with their URL reversals, static lookups, includes and conditions was most of a
page's CPU (issue #12).

The key must name everything the template shows outside its slots (the view builds it from the
rows it read: a changed title is a new key at once, nothing to invalidate); whether someone is
logged in is always part of it. Outside the slots, `user` answers only `is_authenticated`: any
other lookup (`user.email`, ...) refuses the fragment, so no member's data lands in shared text. A slot must not sit
inside a `{% for %}` or `{% with %}` whose variables it uses (its content is rendered later, with
the page's context only); a slot inside a loop is refused. The CSRF token must only appear inside
slots: a fragment whose shared text holds the token of the request that rendered it is refused.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django import template
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.template import Context, NodeList, TemplateSyntaxError
from django.template.base import Node, Parser, Token
from django.template.context import make_context
from django.template.loader import get_template
from django.utils.functional import SimpleLazyObject
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

register = template.Library()

# Context key of a fragment render: the list each slot appends its content to.
_SLOTS = "_fragment_slots"
# A slot's marker: never in a page's data (templates escape text, so "<" cannot come from a row).
_MARK = re.compile(r"<!--wp-slot:([0-9]+)-->")
# Stands for the CSRF token while a fragment renders; found in the shared text, it refuses it.
_NO_TOKEN = "wp-no-csrf-token-outside-a-slot"  # noqa: S105 (a marker, not a secret)


class _SharedUser:
    """Stands for `user` while a fragment renders: the text outside the slots is shared by every
    member, so it may ask whether someone is logged in (part of every key) and nothing else."""

    def __init__(self, *, is_authenticated: bool) -> None:
        self.is_authenticated = is_authenticated

    def __getattr__(self, name: str) -> Any:
        raise TemplateSyntaxError(f"user.{name} is shown outside a {{% slot %}}: it would be shared by every member")


class SlotNode(Node):
    def __init__(self, nodelist: NodeList) -> None:
        self.nodelist = nodelist

    def render(self, context: Context) -> SafeString:
        slots: list[NodeList] | None = context.get(_SLOTS)
        if slots is None:
            return self.nodelist.render(context)
        if "forloop" in context:
            raise TemplateSyntaxError("a {% slot %} inside a {% for %} would lose the loop's variables")
        slots.append(self.nodelist)
        return mark_safe(f"<!--wp-slot:{len(slots) - 1}-->")  # noqa: S308 (a constant marker)


@register.tag("slot")
def do_slot(parser: Parser, token: Token) -> SlotNode:
    """`{% slot %}...{% endslot %}`: content that differs per request (see the module docstring)."""
    nodelist = parser.parse(("endslot",))
    parser.delete_first_token()
    return SlotNode(nodelist)


@dataclass(frozen=True)
class PageFragment:
    """A page rendered with a marker in each slot: its text around the markers and each slot's
    content, to be rendered per request."""

    template: Any  # django.template.backends.django.Template
    parts: tuple[str, ...]  # text, slot index, text, ..., text
    slots: tuple[NodeList, ...]

    def fill(self, *, request: HttpRequest, context: Mapping[str, Any]) -> str:
        """The page for this request: each slot rendered with `context` and the context
        processors' names, as a normal render would (one CSRF token for the whole page)."""
        engine_template = self.template.template
        # The page's token, lazily (a visitor's page that shows none sets no CSRF cookie).
        values = {**context, "csrf_token": SimpleLazyObject(lambda: csrf_token_page(request))}
        bound = make_context(values, request, autoescape=engine_template.engine.autoescape)
        with bound.render_context.push_state(engine_template), bound.bind_template(engine_template):
            rendered = [nodelist.render(bound) for nodelist in self.slots]
        return "".join(part if n % 2 == 0 else rendered[int(part)] for n, part in enumerate(self.parts))


# A plain dict (an atomic lookup, no lock), emptied when full: keys only accumulate as the
# catalogue changes.
_fragments: dict[tuple[object, ...], PageFragment] = {}
_MAX_FRAGMENTS = 2_000


def page_fragment_render(*, template_name: str, context: Mapping[str, Any], request: HttpRequest) -> PageFragment:
    """`template_name` rendered with a marker in each slot (uncached)."""
    found = get_template(template_name)
    slots: list[NodeList] = []
    shared = {_SLOTS: slots, "csrf_token": _NO_TOKEN, "user": _SharedUser(is_authenticated=_logged_in(request))}
    html = found.render({**context, **shared}, request)
    if _NO_TOKEN in html:
        raise TemplateSyntaxError(f"{template_name} shows the CSRF token outside a {{% slot %}}")
    return PageFragment(template=found, parts=tuple(_MARK.split(html)), slots=tuple(slots))


def page_fragment_get(
    *, template_name: str, key: tuple[object, ...], context: Mapping[str, Any], request: HttpRequest
) -> PageFragment:
    """The fragment of `template_name` for `key` (and whether someone is logged in), rendered once
    per key in this process."""
    full_key = (template_name, _logged_in(request), *key)
    found = _fragments.get(full_key)
    if found is None:
        found = page_fragment_render(template_name=template_name, context=context, request=request)
        if len(_fragments) >= _MAX_FRAGMENTS:
            _fragments.clear()
        _fragments[full_key] = found
    return found


def _logged_in(request: HttpRequest) -> bool:
    # No user on error pages rendered before the auth middleware ran (e.g. a disallowed Host).
    user = getattr(request, "user", None)
    return bool(user is not None and user.is_authenticated)


def page_render(
    *,
    request: HttpRequest,
    template_name: str,
    context: Mapping[str, Any],
    key: tuple[object, ...] | None,
    status: int = 200,
) -> HttpResponse:
    """The page as `django.shortcuts.render` would answer it; with a `key`, from the page's
    fragment for that key with this request's slots filled (None: rendered in full)."""
    if key is None:
        html = get_template(template_name).render(dict(context), request)
    else:
        html = page_fragment_get(template_name=template_name, key=key, context=context, request=request).fill(
            request=request, context=context
        )
    return HttpResponse(html, status=status)


def csrf_token_page(request: HttpRequest) -> str:
    """The page's CSRF token (masked): one per request, wherever the page shows it, as a template's
    `csrf_token` is one per render (Django masks the secret anew at each `get_token`)."""
    token: str | None = getattr(request, "_page_csrf_token", None)
    if token is None:
        token = get_token(request)
        request._page_csrf_token = token  # type: ignore[attr-defined]
    return token


def csrf_input(request: HttpRequest) -> SafeString:
    """What `{% csrf_token %}` renders, with the page's token."""
    return format_html('<input type="hidden" name="csrfmiddlewaretoken" value="{}">', csrf_token_page(request))


def page_fragments_clear() -> None:
    """Forget rendered pages (tests that change a template's output)."""
    _fragments.clear()
