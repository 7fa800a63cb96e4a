"""Test configuration: real PostgreSQL and Redis (started by `make test`), moto's AWS server
and the fake Kubernetes API server over HTTP. The fixture modules are listed in `pytest_plugins`
(tests/test_structure.py checks that every one is)."""
# The environment (PostgreSQL, Redis) is set in tests/settings.py, before Django reads it.

pytest_plugins = [
    "tests.fakes.aws_fixtures",
    "tests.fakes.k8s_fixtures",
    "tests.fakes.redis_fixtures",
    "tests.fixtures_api",
    "tests.fixtures_gateway",
]


def pytest_collection_modifyitems(config, items):
    """Every test on a real transaction (live server, gateway) restores the migrated data from
    its snapshot. One that flushes without it lets post_migrate re-create content types and the
    console roles under new ids, and the next restoring test then collides with them."""
    mixed = []
    for item in items:
        marker = item.get_closest_marker("django_db")
        transactional = bool({"transactional_db", "live_server"} & set(item.fixturenames)) or bool(
            marker and marker.kwargs.get("transaction"))
        restored = "django_db_serialized_rollback" in item.fixturenames or bool(
            marker and marker.kwargs.get("serialized_rollback"))
        if transactional and not restored:
            mixed.append(item.nodeid)
    if mixed:
        import pytest

        raise pytest.UsageError(
            "transactional tests must restore the migrated data: add the django_db_serialized_rollback "
            "fixture or @pytest.mark.django_db(transaction=True, serialized_rollback=True) to " + ", ".join(mixed))
