"""Billing's signals: analytics listens (billing imports no analytics module)."""

from __future__ import annotations

from django.dispatch import Signal

# Sent (after the commit) when a member's entitlement to one or more plans ended: a subscription
# canceled or unpaid past its period, a grace period over, a refund or a dispute. Arguments:
# user_id. Analytics revokes the member's open viewing-session tokens (analytics/receivers.py).
entitlement_ended = Signal()
