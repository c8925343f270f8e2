"""`make run`'s last step (bin/run): runserver, a worker with embedded beat and the ingest process under honcho."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import urllib.error
import urllib.request

import pytest

from tests.conftest import ROOT, free_port, session_processes, wait_until


@pytest.mark.integration
def test_bin_run_serves_the_site_with_a_worker_beat_and_ingest_and_ctrl_c_stops_them(tmp_path, settings):
    port = free_port()
    schedule = tmp_path / "celerybeat-schedule"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "EMAIL_"))},
        "RUNSERVER_ADDR": f"127.0.0.1:{port}",
        "INGEST_BIND": f"127.0.0.1:{free_port()}",
        # Its own state, never `make run`'s: schedule, relational database, broker database.
        "BEAT_SCHEDULE_FILE": str(schedule),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "REDIS_URL": settings.REDIS_URL,
        "CASSANDRA_KEYSPACE": "test_run",
    }
    log = tmp_path / "run.log"
    with open(log, "wb") as out:
        # A session of its own, as a terminal gives `make run` a foreground process group.
        proc = subprocess.Popen(
            [str(ROOT / "bin" / "run")], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    children: list[int] = []
    try:

        def answers() -> bool:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5).close()
            except urllib.error.HTTPError:
                return True  # any HTTP answer: runserver is serving (this test's database is empty)
            except OSError:
                return False
            return True

        wait_until(answers, timeout=60, interval=0.5)
        wait_until(lambda: " ready." in log.read_text(), timeout=60, interval=0.5)  # the worker
        text = log.read_text()
        assert "beat: Starting" in text, text[-3000:]
        assert list(tmp_path.glob("celerybeat-schedule*")), "beat did not use BEAT_SCHEDULE_FILE"
        # honcho starts each process in a session of its own and logs its pid.
        children = [int(pid) for pid in re.findall(r"(?:web|worker|ingest)\.1 started \(pid=(\d+)\)", text)]
        assert len(children) == 3, text[-3000:]
        assert all(session_processes(pid) for pid in children)
    finally:
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C sends to the terminal's foreground group
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            for pid in [proc.pid, *children]:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
            raise

    assert proc.returncode is not None
    wait_until(lambda: not any(session_processes(pid) for pid in children), timeout=30)
