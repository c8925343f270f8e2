"""Sessions in the database, as Django's `db` backend keeps them, read with one plain statement.

Every member's page reads its session first. Django's backend asks the ORM
(`Session.objects.get(session_key=..., expire_date__gt=now)`), whose query building and SQL
compilation cost ~0.25 ms of CPU per page for a one-column lookup by primary key (issue #12); the
same SELECT written once costs ~0.02 ms. Everything else (writes, expiry, flush on logout, key
rotation on login) is Django's, unchanged, and the row read is the same row: logout, password
change and deactivation end a session exactly as before.
"""

from __future__ import annotations

from typing import Any

from django.contrib.sessions.backends import db
from django.db import connections, router
from django.utils import timezone


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
