"""Production deployment pieces: settings, gunicorn config, hashed static files, queued email, Procfile
(nginx in front, gunicorn, the granian ingest process, workers, beat)."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from allauth.account.adapter import get_adapter
from django.core import mail
from django.test import RequestFactory
from prometheus_client.parser import text_string_to_metric_families

from accounts.tasks import email_send_task
from analytics.cassandra import cassandra_session
from tests.conftest import ROOT, free_port, session_processes, wait_until
from tests.factories import MemberFactory

PRODUCTION_ENV = {
    "DJANGO_SETTINGS_MODULE": "config.settings",
    "DJANGO_DEBUG": "false",
    "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
    "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
}


def run_in_production(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "EMAIL_", "WEB_"))}
    return subprocess.run(
        [*args],
        cwd=ROOT,
        env={**base, **PRODUCTION_ENV, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_gunicorn_reads_its_config_from_the_typed_settings():
    ok = run_in_production(
        str(ROOT / ".venv" / "bin" / "gunicorn"), "--print-config", env={"WEB_CONCURRENCY": "3", "WEB_THREADS": "8"}
    )
    assert ok.returncode == 0, ok.stderr
    config = {
        line.split("=", 1)[0].strip(): line.split("=", 1)[1].strip() for line in ok.stdout.splitlines() if "=" in line
    }
    assert (config["workers"], config["threads"], config["worker_class"]) == ("3", "8", "gthread")

    bad = run_in_production(str(ROOT / ".venv" / "bin" / "gunicorn"), "--check-config", env={"WEB_CONCURRENCY": "lots"})
    assert bad.returncode != 0
    assert "WEB_CONCURRENCY" in bad.stdout + bad.stderr


def test_collectstatic_writes_hashed_compressed_files_that_templates_link_to(tmp_path):
    code = (
        "import django; django.setup(); from django.test.utils import override_settings; "
        "from django.core.management import call_command; from django.templatetags.static import static; "
        f"o = override_settings(STATIC_ROOT={str(tmp_path)!r}); o.enable(); "
        "call_command('collectstatic', '--noinput', verbosity=0); print(static('css/site.css'))"
    )
    result = run_in_production(sys.executable, "-c", code)

    assert result.returncode == 0, result.stderr
    url = result.stdout.strip().splitlines()[-1]
    name = Path(url).name
    assert name.startswith("site.")
    assert name.endswith(".css")
    assert name != "site.css"
    assert (tmp_path / "css" / name).is_file()
    assert (tmp_path / "css" / f"{name}.gz").is_file()
    assert (tmp_path / "staticfiles.json").is_file()


@pytest.mark.django_db
def test_allauth_emails_are_rendered_in_the_request_and_sent_by_a_task(
    settings, django_capture_on_commit_callbacks, monkeypatch
):
    settings.ACCOUNT_EMAIL_ASYNC = True
    queued: list[dict[str, Any]] = []
    monkeypatch.setattr(email_send_task, "delay", queued.append)
    request = RequestFactory().get("/")
    member: Any = MemberFactory()
    request.user = member
    from allauth.core import context

    with context.request_context(request), django_capture_on_commit_callbacks(execute=True):
        get_adapter(request).send_mail("account/email/password_changed", "member@example.com", {"user": request.user})

    assert mail.outbox == []  # nothing sent in the request
    assert len(queued) == 1
    assert queued[0]["to"] == ["member@example.com"]
    json.dumps(queued[0])  # the Celery serializer is JSON

    email_send_task(queued[0])  # what the worker runs

    assert len(mail.outbox) == 1
    sent: Any = mail.outbox[0]
    assert sent.to == ["member@example.com"]
    assert sent.subject == queued[0]["subject"]
    assert [mimetype for _, mimetype in sent.alternatives] == [m for _, m in queued[0]["alternatives"]]


_SEED_WATCHER = """
import json
from analytics.viewing import viewing_session_start
from tests.factories import MemberFactory, VideoFactory
member, video = MemberFactory(), VideoFactory(duration=600)
session = viewing_session_start(user_id=member.pk, video_id=video.pk, members_only=True)
print(json.dumps({"user": member.pk, "video": video.pk, "session": str(session.session_id), "token": session.token}))
"""


def _post_json(url: str, body: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
    request = urllib.request.Request(  # noqa: S310 (local http URL)
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (local http URL)
            return response.status, json.loads(response.read()), dict(response.headers)
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read()), dict(refused.headers)


@pytest.mark.integration
def test_the_procfile_runs_nginx_gunicorn_two_kinds_of_worker_and_beat_under_honcho(tmp_path, settings):
    port, ingest_port, proxy_port = free_port(), free_port(), free_port()
    # A keyspace of this run's own: rows another run left (same member and video ids, fresh SQLite
    # each time) would add to this run's watched count.
    keyspace = f"test_procfile_{secrets.token_hex(4)}"
    env = {
        "INGEST_BIND": f"127.0.0.1:{ingest_port}",
        # The proxy (bin/nginx run): its port, and its config, pid file and logs under tmp_path.
        "NGINX_LISTEN": f"127.0.0.1:{proxy_port}",
        "WATCHPOINT_VAR": str(tmp_path),
        "INGEST_WORKERS": "1",
        # The deferred watched-count recount, shortened: counted by the worker or beat's drain.
        "WATCH_COUNT_REFRESH_SECONDS": "2",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "REDIS_URL": settings.REDIS_URL,
        "CASSANDRA_KEYSPACE": keyspace,
        "WEB_BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": "2",
        # Beat's own state file: var/celerybeat-schedule belongs to `make run` (bin/run).
        "BEAT_SCHEDULE_FILE": str(tmp_path / "celerybeat-schedule"),
        # /healthz shows queue depths to operators only (staff or this bearer token).
        "METRICS_TOKEN": "procfile-test-token-0123456789abcdef",
        # Every process writes its counters here; bin/procfile empties it first (a file a previous
        # run left would be summed in, and this one is not even readable).
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
    }
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "counter_1.db").write_bytes(b"left by a previous run")
    assert run_in_production(sys.executable, "manage.py", "migrate", "-v", "0", env=env).returncode == 0
    synced = run_in_production(sys.executable, "manage.py", "sync_cassandra", env=env)
    assert synced.returncode == 0, synced.stderr[-2000:]
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "EMAIL_", "WEB_"))}
    log = tmp_path / "honcho.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(ROOT / "bin" / "procfile"), "-e", "/dev/null", "--no-colour"],
            cwd=ROOT,
            env={**base, **PRODUCTION_ENV, **env, "PATH": os.environ["PATH"]},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:

        def health(origin: str = f"http://127.0.0.1:{port}") -> tuple[str, dict] | None:
            # Each call has its own request id, so its access-log line can be told from the others'.
            request_id = secrets.token_hex(8)
            try:
                request = urllib.request.Request(  # noqa: S310 (local http URL)
                    f"{origin}/healthz",
                    headers={
                        "Authorization": "Bearer procfile-test-token-0123456789abcdef",
                        "X-Request-Id": request_id,
                    },
                )
                with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 (local http URL)
                    return request_id, json.loads(response.read())
            except OSError:
                return None

        request_id, body = wait_until(
            lambda: (h := health()) and h[1]["status"] == "ok" and h, timeout=90, interval=0.5
        )
        assert body["pipeline"]["queues"].keys() >= {"watch", "rollups", "email"}
        text = log.read_text()
        assert "beat: Starting" in text or "beat v" in text or "Scheduler: Sending due task" in text, text[-3000:]
        assert list(tmp_path.glob("celerybeat-schedule*")), "beat did not use the test's schedule file"

        # The access log is one JSON object per request. The polls before the workers answered were
        # logged too (503s): the successful call's own line is the one to check.
        def access_line() -> dict | None:
            for line in log.read_text().splitlines():
                if f'"request_id": "{request_id}"' in line:
                    return dict(json.loads(line.split("| ", 1)[1]))
            return None

        logged = wait_until(access_line, timeout=10)
        assert (logged["path"], logged["status"]) == ("/healthz", 200)

        # The ingest process (granian): a genuine batch is accepted and reaches Cassandra through
        # the Procfile's worker; every other path is a 404 there, never the site.
        seeded = run_in_production(sys.executable, "manage.py", "shell", "-c", _SEED_WATCHER, env=env)
        assert seeded.returncode == 0, seeded.stderr[-2000:]
        watcher = json.loads(seeded.stdout.strip().splitlines()[-1])
        ingest = f"http://127.0.0.1:{ingest_port}"
        wait_until(lambda: _post_json(f"{ingest}/api/watch/", {})[0] == 400, timeout=60, interval=0.5)
        now = int(time.time() * 1000)
        batch = {
            "video_id": watcher["video"],
            "session_id": watcher["session"],
            "token": watcher["token"],
            "events": [{"position": 40 + i, "client_ts": now + i, "rate": 1.0} for i in range(5)],
        }
        status, answer, headers = _post_json(f"{ingest}/api/watch/", batch)
        assert (status, answer.get("accepted")) == (202, 5), answer
        assert headers.get("server") == "granian"
        # The Procfile's proxy answers for both (which upstream serves which path:
        # tests/ops/test_slow_clients.py); a second genuine batch would change the counts below.
        proxy = f"http://127.0.0.1:{proxy_port}"
        assert _post_json(f"{proxy}/api/watch/", {**batch, "token": watcher["token"][:-2] + "xx"})[0] == 403
        through_proxy = health(proxy)  # gunicorn's /healthz, the bearer token passed through
        assert through_proxy is not None
        assert (through_proxy[1]["status"], through_proxy[1]["pipeline"].keys()) == ("ok", body["pipeline"].keys())
        assert _post_json(f"{ingest}/api/watch/", {**batch, "token": watcher["token"][:-2] + "xx"})[0] == 403
        for path in ("/healthz", "/admin/login/", "/"):
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(f"{ingest}{path}", timeout=5)  # noqa: S310 (local http URL)
            assert refused.value.code == 404, path
        resume = f"SELECT position FROM {keyspace}.member_videos WHERE user_id = %s AND video_id = %s"
        key = (int(watcher["user"]), int(watcher["video"]))
        stored = wait_until(
            lambda: (row := cassandra_session().execute(resume, key).one()) and row.position, timeout=60, interval=0.5
        )
        assert stored == 44
        counts = f"SELECT watched_buckets FROM {keyspace}.member_videos WHERE user_id = %s AND video_id = %s"
        watched = wait_until(
            lambda: (
                (row := cassandra_session().execute(counts, key).one()) and sum((row.watched_buckets or {}).values())
            ),
            timeout=60,
            interval=0.5,
        )
        assert watched == 5
        assert '"path": "/api/watch/"' not in log.read_text()  # no access-log line per batch

        # One /metrics (a gunicorn worker) sums what every process counted in its own file: the
        # batch granian's worker accepted and refused, the events a Celery child wrote.
        def metrics() -> dict[tuple[str, tuple], float]:
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/metrics",
                headers={"Authorization": "Bearer procfile-test-token-0123456789abcdef"},
            )
            with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 (local http URL)
                return {
                    (sample.name, tuple(sorted(sample.labels.items()))): sample.value
                    for family in text_string_to_metric_families(response.read().decode())
                    for sample in family.samples
                }

        found = wait_until(
            lambda: (m := metrics()).get(("watchpoint_watch_events_written_total", ())) == 5 and m, timeout=30
        )
        assert found[("watchpoint_watch_events_accepted_total", ())] == 5
        assert found[("watchpoint_watch_batches_rejected_total", (("status", "403"),))] == 2
        assert found[("watchpoint_http_requests_total", (("status", "200"), ("view", "healthz")))] >= 1
        writers = {path.stem.rsplit("_", 1)[1] for path in (tmp_path / "metrics").glob("*.db")}
        assert len(writers) >= 3  # gunicorn's worker, granian's, a Celery child (and their parents)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        # honcho can exit before its gunicorn and Celery processes: they must be gone before the
        # next test, or a leftover worker on the test broker takes that test's tasks.
        wait_until(lambda: not session_processes(proc.pid), timeout=30)
        cassandra_session().execute(f"DROP KEYSPACE IF EXISTS {keyspace}", timeout=60)
