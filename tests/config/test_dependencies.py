import re
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_exactly_one_distribution_provides_the_cassandra_driver_package():
    installed = {d.metadata["Name"].lower() for d in metadata.distributions()}
    drivers = installed & {"scylla-driver", "cassandra-driver"}

    # Both ship the same `cassandra` package; a second install silently overwrites the first's files.
    assert drivers == {"scylla-driver"}, f"installed driver distributions: {sorted(drivers)}"
    assert metadata.packages_distributions()["cassandra"] == ["scylla-driver"]


def test_django_is_the_5_2_lts():
    assert metadata.version("django").startswith("5.2.")


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        found = re.match(r"^([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==([^\s;\\]+)", line)
        if found:
            pins[found.group(1).lower().replace("_", "-")] = found.group(2)
    return pins


def test_the_lock_files_pin_every_direct_dependency_at_its_declared_version_with_hashes():
    pairs = (("requirements.txt", "requirements.lock"), ("requirements-dev.txt", "requirements-dev.lock"))
    for declared, lock in pairs:
        wanted = _pins(ROOT / declared)
        if declared == "requirements-dev.txt":
            wanted |= _pins(ROOT / "requirements.txt")
        locked = _pins(ROOT / lock)
        assert {name: locked.get(name) for name in wanted} == wanted, f"run `make lock` ({lock} is stale)"
        text = (ROOT / lock).read_text()
        # Every pinned package carries at least one hash (pip's --require-hashes refuses otherwise).
        blocks = re.split(r"\n(?=[A-Za-z0-9_.-]+==)", text)
        assert all("--hash=sha256:" in block for block in blocks if re.match(r"[A-Za-z0-9_.-]+==", block))


def test_every_installed_distribution_is_in_the_lock():
    locked = _pins(ROOT / "requirements-dev.lock")
    installed = {
        d.metadata["Name"].lower().replace("_", "-"): d.version for d in metadata.distributions() if d.metadata["Name"]
    }
    missing = {name: v for name, v in installed.items() if name not in locked and name not in {"pip", "setuptools"}}
    assert not missing, f"installed but not locked (run `make lock`): {missing}"
