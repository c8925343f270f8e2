from importlib import metadata


def test_exactly_one_distribution_provides_the_cassandra_driver_package():
    installed = {d.metadata["Name"].lower() for d in metadata.distributions()}
    drivers = installed & {"scylla-driver", "cassandra-driver"}

    # Both ship the same `cassandra` package; a second install silently overwrites the first's files.
    assert drivers == {"scylla-driver"}, f"installed driver distributions: {sorted(drivers)}"
    assert metadata.packages_distributions()["cassandra"] == ["scylla-driver"]


def test_django_is_the_5_2_lts():
    assert metadata.version("django").startswith("5.2.")
