"""The driver policies every Cassandra connection of this project uses: one definition.

Built fresh for each Cluster (a policy instance keeps per-cluster state, so two clusters must not
share one): django-cassandra-engine's connection (config/settings.py) and the hot paths' session
(analytics/cassandra.py) both call these.
"""

from __future__ import annotations

from cassandra.policies import DCAwareRoundRobinPolicy, ExponentialReconnectionPolicy, TokenAwarePolicy


def load_balancing_policy(*, local_dc: str | None) -> TokenAwarePolicy:
    """Replicas of the statement's partition first, in the local data centre only."""
    return TokenAwarePolicy(DCAwareRoundRobinPolicy(local_dc=local_dc))


def reconnection_policy() -> ExponentialReconnectionPolicy:
    # The driver's default backs off to 10 minutes after a node restart: far too long for workers
    # waiting out a restart; reconnect within seconds.
    return ExponentialReconnectionPolicy(base_delay=0.5, max_delay=10)
