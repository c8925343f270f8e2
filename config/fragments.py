"""HTML rendered once per version of what it shows, each member's parts filled per request.

One mechanism for whole pages (the home and watch pages) and per-video cards: a template marks
each place that differs per request with a slot (library `fragments`), the template is rendered
once per key with a marker in each slot, and kept as the text between the markers; each request
then fills the slots and joins the strings. Rendering base.html and a page's template (URL
reversals, static lookups, includes, conditions) and 24 cards was most of a page's CPU (issue #12).

- `{% slot %}...{% endslot %}`: content rendered per request, with the request's own context
  (the CSRF token, the avatar's initial, messages, progress, the tracker's session);
- `{% slot "name" %}`: the per-request value `name`, escaped (a card's progress bar, a position).

Rendered normally (no fragment), a slot shows its content or value in place: pages that are not
cached are unchanged.

What may be shared, and the key, come from one place: the caller's `shared` inputs. The fragment
is rendered with a plain context of those inputs only: no request, no context processors, none of
the view's per-request names. Each of those names (`request`, `user`, `perms`, `messages`,
`csrf_token`, ..., `tracker_config`, ...) stands for a guard that refuses the fragment with a
TemplateSyntaxError when the text outside the slots uses it, so no member's value can land in
text shared by everyone; `user` answers only `is_authenticated`, which is part of every page's
key. The key is derived from the shared inputs themselves (`fragment_key`): a row is keyed by its
model, pk and version field (`updated_at`, advanced by every write: videos.models.Versioned) and
any value set on it beside its fields (an annotation); plain values by themselves; anything else
is refused. So adding a field to a template needs no key list: the row's version covers it.

A slot must not sit inside a `{% for %}` or `{% with %}` whose variables it uses (its content is
rendered later, with the page's context only); a content slot inside a loop is refused.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django import template
from django.db.models import Model
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.template import Context, NodeList, TemplateSyntaxError
from django.template.base import Node, Parser, Token
from django.template.context import make_context
from django.template.loader import get_template
from django.utils.functional import SimpleLazyObject
from django.utils.html import conditional_escape, format_html
from django.utils.safestring import SafeString, mark_safe

register = template.Library()

# Context key of a fragment render: the list each content slot appends its content to.
_SLOTS = "_fragment_slots"
# A slot's marker: never in a page's data (templates escape text, so "<" cannot come from a row).
# Content slots are named "#0", "#1", ... in the order they render.
_MARK = re.compile(r"<!--wp-slot:([#a-z0-9_]+)-->")
# Guarded in every fragment, with or without a request (a card has none): Django's per-request
# names; a page adds its engine's context processors' names and the view's per-request ones.
_ALWAYS_PER_REQUEST = ("request", "user", "perms", "messages", "csrf_token")
# The field that versions a row shown in a fragment (advanced by every write of the row).
VERSION_FIELD = "updated_at"


class _PerRequest:
    """Stands for a per-request name while a fragment renders: any use of it refuses the fragment."""

    def __init__(self, name: str) -> None:
        self._name = name

    def _refuse(self, *_: object) -> Any:
        raise TemplateSyntaxError(
            f"{self._name} is shown outside a {{% slot %}}: it is per request, and the text outside "
            "the slots is shared by every member"
        )

    __str__ = __bool__ = __iter__ = __len__ = __eq__ = __lt__ = __int__ = __float__ = __contains__ = _refuse
    __hash__ = object.__hash__

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__"):
            return self._refuse()
        return _PerRequest(f"{self._name}.{attr}")._refuse()


class _SharedUser(_PerRequest):
    """Stands for `user`: the shared text may ask whether someone is logged in (part of every
    page's key) and nothing else."""

    def __init__(self, *, is_authenticated: bool) -> None:
        super().__init__("user")
        self.is_authenticated = is_authenticated


class SlotNode(Node):
    def __init__(self, nodelist: NodeList, name: str) -> None:
        self.nodelist = nodelist
        self.name = name

    def render(self, context: Context) -> SafeString:
        slots: list[NodeList] | None = context.get(_SLOTS)
        if slots is None:  # a normal render: in place
            if not self.name:
                return self.nodelist.render(context)
            value = context.get(self.name)
            return conditional_escape("" if value is None else value)
        if self.name:
            return mark_safe(f"<!--wp-slot:{self.name}-->")  # noqa: S308 (a constant marker)
        if "forloop" in context:
            raise TemplateSyntaxError("a {% slot %} inside a {% for %} would lose the loop's variables")
        slots.append(self.nodelist)
        return mark_safe(f"<!--wp-slot:#{len(slots) - 1}-->")  # noqa: S308 (a constant marker)


@register.tag("slot")
def do_slot(parser: Parser, token: Token) -> SlotNode:
    """`{% slot %}...{% endslot %}` or `{% slot "name" %}`: what differs per request (see the
    module docstring)."""
    bits = token.split_contents()
    if len(bits) == 1:
        nodelist = parser.parse(("endslot",))
        parser.delete_first_token()
        return SlotNode(nodelist, "")
    name = bits[1].strip("\"'")
    if len(bits) != 2 or not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise TemplateSyntaxError('{% slot %} takes one name: {% slot "progress" %}')
    return SlotNode(NodeList(), name)


@dataclass(frozen=True)
class Fragment:
    """A template rendered with a marker in each slot: text, slot name, text, ..., text, and the
    content slots' (compiled) content."""

    template: Any  # django.template.base.Template
    parts: tuple[str, ...]
    slots: tuple[NodeList, ...]

    def fill(self, values: Mapping[str, Any]) -> str:
        """The HTML with each named slot replaced by `values[name]` (escaped unless safe)."""
        return "".join(part if n % 2 == 0 else conditional_escape(values[part]) for n, part in enumerate(self.parts))

    def fill_request(self, *, request: HttpRequest, context: Mapping[str, Any]) -> str:
        """The HTML for this request: content slots rendered with `context` and the context
        processors' names, as a normal render would (one CSRF token for the whole page); named
        slots from `context`."""
        values = {**context, "csrf_token": SimpleLazyObject(lambda: csrf_token_page(request))}
        bound = make_context(values, request, autoescape=self.template.engine.autoescape)
        with bound.render_context.push_state(self.template), bound.bind_template(self.template):
            # NodeList.render answers safe (escaped) text: fill() keeps it as it is.
            filled: dict[str, Any] = {f"#{n}": nodelist.render(bound) for n, nodelist in enumerate(self.slots)}
            filled.update((name, bound.get(name, "")) for name in self.parts[1::2] if not name.startswith("#"))
        return self.fill(filled)


def fragment_key(value: object) -> object:
    """A hashable key that changes whenever `value` (a fragment's shared input) could render
    differently: rows by model, pk, version and what is set on them beside their fields."""
    if isinstance(value, Model):  # first: the common case, and the cheapest test for it
        return _row_key(value)
    if value is None or isinstance(value, _PLAIN):
        return value
    if isinstance(value, list | tuple):
        return tuple(fragment_key(item) for item in value)
    if isinstance(value, Mapping):
        return tuple(sorted((str(k), fragment_key(v)) for k, v in value.items()))
    raise TypeError(f"a fragment's shared input may be a row, a plain value, a list or a dict, not {type(value)!r}")


_PLAIN = (str, int, float, bool, datetime.date)
_field_names: dict[type[Model], frozenset[str]] = {}


_ROW_KEY = "_fragment_key"


def _row_key(row: Model) -> object:
    # Remembered on the row (a catalogue snapshot's rows serve every page of a process), checked
    # against its version and its number of attributes (an annotation set since).
    attributes = vars(row)
    version = getattr(row, VERSION_FIELD, None)
    cached = attributes.get(_ROW_KEY)
    if cached is not None and cached[0] == version and cached[1] == len(attributes):
        return cached[2]
    model = type(row)
    fields = _field_names.get(model)
    if fields is None:
        if not any(field.name == VERSION_FIELD for field in model._meta.concrete_fields):
            raise TypeError(f"{model._meta.label} has no {VERSION_FIELD} field: a fragment cannot tell its versions")
        fields = frozenset(f.attname for f in model._meta.concrete_fields)
        _field_names[model] = fields
    extras = sorted(name for name in attributes.keys() - fields if not name.startswith("_"))
    key: tuple[object, ...] = (model._meta.label, row.pk, version)
    # An annotation (a playlist's video count) is not covered by the row's version.
    key += tuple((name, fragment_key(getattr(row, name))) for name in extras)
    attributes[_ROW_KEY] = (version, len(attributes) + (_ROW_KEY not in attributes), key)
    return key


# A plain dict (an atomic lookup, no lock, no recency bookkeeping: a page looks up ~30
# fragments), emptied when full: keys only accumulate as the catalogue changes.
_fragments: dict[tuple[object, ...], Fragment] = {}
_MAX_FRAGMENTS = 20_000
_MAX_CHARACTERS = 50_000_000
_characters = 0


def fragment_render(
    *, template_name: str, shared: Mapping[str, Any], per_request: Mapping[str, Any] | None = None
) -> Fragment:
    """`template_name` rendered with a marker in each slot, from `shared` only (uncached);
    `per_request` names stand for guards that refuse any use outside the slots."""
    found = get_template(template_name).template  # type: ignore[attr-defined]
    slots: list[NodeList] = []
    values = {**(per_request or {}), **shared, _SLOTS: slots}
    html = found.render(Context(values, autoescape=found.engine.autoescape))
    return Fragment(template=found, parts=tuple(_MARK.split(html)), slots=tuple(slots))


def fragment_get(
    *, template_name: str, shared: Mapping[str, Any], request: HttpRequest | None = None, names: tuple[str, ...] = ()
) -> Fragment:
    """The fragment of `template_name` for these shared inputs, rendered once per version of them
    in this process. With a `request` (a page), whether someone is logged in is part of the key,
    and the context processors' names and `names` (the view's per-request ones) are guarded."""
    global _characters
    logged_in = _logged_in(request) if request is not None else None
    # Not fragment_key(shared): no sorting (a page looks up ~30 fragments; callers name their
    # inputs in a fixed order, and another order only misses the cache).
    key = (template_name, logged_in, *((name, fragment_key(value)) for name, value in shared.items()))
    found = _fragments.get(key)
    if found is None:
        per_request = [*_ALWAYS_PER_REQUEST, *names]
        if request is not None:
            per_request += _processor_names(template_name, request)
        guarded: dict[str, Any] = {name: _PerRequest(name) for name in per_request}
        if request is not None:
            guarded["user"] = _SharedUser(is_authenticated=bool(logged_in))
        found = fragment_render(template_name=template_name, shared=shared, per_request=guarded)
        size = sum(len(part) for part in found.parts)
        if len(_fragments) >= _MAX_FRAGMENTS or _characters + size > _MAX_CHARACTERS:
            _fragments.clear()
            _characters = 0
        _fragments[key] = found
        _characters += size
    return found


def _processor_names(template_name: str, request: HttpRequest) -> list[str]:
    """The names every context processor of the template's engine adds for this request."""
    engine = get_template(template_name).template.engine  # type: ignore[attr-defined]
    names: list[str] = []
    for processor in engine.template_context_processors:
        names.extend(processor(request))
    return names


def _logged_in(request: HttpRequest) -> bool:
    # No user on error pages rendered before the auth middleware ran (e.g. a disallowed Host).
    user = getattr(request, "user", None)
    return bool(user is not None and user.is_authenticated)


def page_render(
    *,
    request: HttpRequest,
    template_name: str,
    shared: Mapping[str, Any],
    context: Mapping[str, Any],
    cached: bool = True,
    status: int = 200,
) -> HttpResponse:
    """The page as `django.shortcuts.render` would answer it from `shared` and `context` (the
    per-request names, shown only in slots); `cached`: from the page's fragment for the shared
    inputs, this request's slots filled (else rendered in full)."""
    both = set(shared) & set(context)
    if both:
        raise ValueError(f"{sorted(both)} are both shared and per request")
    if not cached:
        html = get_template(template_name).render({**shared, **context}, request)
    else:
        fragment = fragment_get(template_name=template_name, shared=shared, request=request, names=tuple(context))
        html = fragment.fill_request(request=request, context={**shared, **context})
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


def fragments_clear() -> None:
    """Forget rendered fragments (tests that change a template's output)."""
    global _characters
    _fragments.clear()
    _characters = 0
