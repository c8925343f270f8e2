"""Sessions in the database, as Django's `db` backend keeps them, read with one plain statement.

Every member's page reads its session first. Django's backend asks the ORM
(`Session.objects.get(session_key=..., expire_date__gt=now)`), whose query building and SQL
compilation cost ~0.25 ms of CPU per page for a one-column lookup by primary key (issue #12); the
same SELECT written once costs ~0.02 ms. Everything else (writes, expiry, flush on logout, key
rotation on login) is Django's, unchanged, and the row read is the same row: logout, password
change and deactivation end a session exactly as before.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib import auth
from django.contrib.auth import get_user_model, middleware
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import AnonymousUser
from django.contrib.sessions.backends import db
from django.db import connections, router
from django.http import HttpRequest
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from django.utils.functional import SimpleLazyObject

if TYPE_CHECKING:
    from accounts.models import User


class SessionStore(db.SessionStore):
    def load(self) -> dict[str, Any]:
        data = self._session_data_read()
        return self.decode(data) if data is not None else {}

    def _session_data_read(self) -> str | None:
        """The unexpired session's data, or None (then, as Django's backend does, forget the key
        so that a save starts a new session)."""
        key = self.session_key
        row = None
        if key is not None:
            model = self.model
            connection = connections[router.db_for_read(model)]
            q = connection.ops.quote_name
            # Identifiers from the model (Django's AbstractBaseSession columns); values are bound.
            sql = (
                f"SELECT {q('session_data')} FROM {q(model._meta.db_table)} "  # noqa: S608
                f"WHERE {q('session_key')} = %s AND {q('expire_date')} > %s"
            )
            with connection.cursor() as cursor:
                cursor.execute(sql, [key, connection.ops.adapt_datetimefield_value(timezone.now())])
                row = cursor.fetchone()
        if row is None:
            self._session_key = None
            return None
        return str(row[0])


# --- The session's member, read with one plain statement -------------------------------------------
# Every member's page loads its user row after the session. ModelBackend.get_user asks the ORM
# (`User._default_manager.get(pk=...)`), ~0.25 ms of CPU per page to build and compile the query;
# the same SELECT written once, its values converted as the ORM converts them, costs ~0.03 ms.
# The row is read on every request, as before: a logout, a password change, a deactivation or a
# staff change takes effect on the member's next request.


@dataclass(frozen=True)
class _RowRead:
    sql: str
    attnames: list[str]
    converters: list[tuple[int, list[Any], Any]]  # (column index, converters, column expression)


_row_reads: dict[tuple[str, str], _RowRead] = {}


def member_row_get(*, user_id: Any) -> User | None:
    """The user row `user_id` as `User.objects.get(pk=user_id)` returns it, or None."""
    model = get_user_model()
    alias = router.db_for_read(model)
    connection = connections[alias]
    read = _row_read(alias=alias, connection=connection)
    pk = model._meta.pk
    with connection.cursor() as cursor:
        cursor.execute(read.sql, [pk.get_db_prep_value(pk.to_python(user_id), connection)])
        row = cursor.fetchone()
    if row is None:
        return None
    values = list(row)
    for index, converters, column in read.converters:
        for converter in converters:
            values[index] = converter(values[index], column, connection)
    return model.from_db(alias, read.attnames, values)


def _row_read(*, alias: str, connection: Any) -> _RowRead:
    """The SELECT of a user row and what the ORM's compiler applies to each of its columns
    (SQLCompiler.get_converters: e.g. SQLite's text datetimes to aware datetimes); the same for
    every connection of an alias."""
    key = (alias, connection.vendor)
    found = _row_reads.get(key)
    if found is None:
        meta = get_user_model()._meta
        fields = meta.concrete_fields
        q = connection.ops.quote_name
        # Identifiers from the model; the value is bound.
        sql = (
            f"SELECT {', '.join(q(str(field.column)) for field in fields)} FROM {q(meta.db_table)} "  # noqa: S608
            f"WHERE {q(str(meta.pk.column))} = %s"
        )
        converters = []
        for index, field in enumerate(fields):
            column = field.get_col(meta.db_table)
            found_converters = connection.ops.get_db_converters(column) + field.get_db_converters(connection)
            if found_converters:
                converters.append((index, found_converters, column))
        found = _RowRead(sql=sql, attnames=[field.attname for field in fields], converters=converters)
        _row_reads[key] = found
    return found


def member_session_get(request: HttpRequest) -> User | AnonymousUser:
    """`django.contrib.auth.get_user`, step for step (backend from the session, the session's
    password hash verified against the current and fallback secrets, flushed when it fails), with
    ModelBackend's row read done by `member_row_get` and its `user_can_authenticate` check kept.
    A backend with a get_user of its own is asked as Django would ask it."""
    user: Any = None
    try:
        user_id = auth._get_user_session_key(request)  # type: ignore[attr-defined]
        backend_path = request.session[auth.BACKEND_SESSION_KEY]
    except KeyError:
        pass
    else:
        if backend_path in settings.AUTHENTICATION_BACKENDS:
            backend = auth.load_backend(backend_path)
            if isinstance(backend, ModelBackend) and type(backend).get_user is ModelBackend.get_user:
                user = member_row_get(user_id=user_id)
                if user is not None and not backend.user_can_authenticate(user):
                    user = None
            else:
                user = backend.get_user(user_id)
            if hasattr(user, "get_session_auth_hash"):
                session_hash = request.session.get(auth.HASH_SESSION_KEY)
                if not session_hash:
                    verified = False
                else:
                    session_auth_hash = user.get_session_auth_hash()
                    verified = constant_time_compare(session_hash, session_auth_hash)
                if not verified:
                    if session_hash and any(
                        constant_time_compare(session_hash, fallback)
                        for fallback in user.get_session_auth_fallback_hash()
                    ):
                        request.session.cycle_key()
                        request.session[auth.HASH_SESSION_KEY] = session_auth_hash
                    else:
                        request.session.flush()
                        user = None
    return user or AnonymousUser()


def _member_cached(request: HttpRequest) -> User | AnonymousUser:
    if not hasattr(request, "_cached_user"):
        request._cached_user = member_session_get(request)  # type: ignore[attr-defined]
    return request._cached_user  # type: ignore[attr-defined]


class AuthenticationMiddleware(middleware.AuthenticationMiddleware):
    """Django's, with `request.user` loaded by `member_session_get` (async views keep Django's
    `auser`)."""

    def process_request(self, request: HttpRequest) -> None:
        super().process_request(request)
        request.user = SimpleLazyObject(lambda: _member_cached(request))  # type: ignore[assignment]
