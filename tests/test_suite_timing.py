"""The suite prints where its time goes, by test directory (tests/conftest.py), on every run."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from types import SimpleNamespace

from tests.conftest import ROOT, durations_by_directory


def test_each_directorys_time_sums_every_phase_of_its_tests():
    reports = [
        SimpleNamespace(nodeid="tests/a/test_x.py::test_one", duration=1.0),  # setup
        SimpleNamespace(nodeid="tests/a/test_x.py::test_one", duration=2.5),  # call
        SimpleNamespace(nodeid="tests/a/test_y.py::test_two[1]", duration=0.5),
        SimpleNamespace(nodeid="tests/b/test_z.py::TestIt::test_three", duration=4.0),
        SimpleNamespace(nodeid="test_top.py::test_four", duration=0.25),
    ]
    assert durations_by_directory(reports) == {"tests/a": (4.0, 2), "tests/b": (4.0, 1), ".": (0.25, 1)}


def test_a_run_ends_with_the_time_by_test_directory():
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/config/test_dependencies.py"],
        cwd=ROOT,
        env=os.environ,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    ).stdout
    assert "time by test directory" in out, out[-2000:]
    assert re.search(r"^tests/config +[\d.]+ s +\d+ tests$", out, re.MULTILINE), out[-2000:]
    assert re.search(r"^total +[\d.]+ s +\d+ tests$", out, re.MULTILINE), out[-2000:]
