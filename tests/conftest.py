"""Test configuration: real PostgreSQL and Redis (started by `make test`), moto's AWS server
and the fake Kubernetes API server over HTTP. Fixture modules in tests/fakes/*_fixtures.py are
loaded as plugins."""
from pathlib import Path

# The environment (PostgreSQL, Redis) is set in tests/settings.py, before Django reads it.

pytest_plugins = sorted(
    f"tests.fakes.{path.stem}" for path in (Path(__file__).parent / "fakes").glob("*_fixtures.py")
) + sorted(f"tests.{path.stem}" for path in Path(__file__).parent.glob("fixtures_*.py"))


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
