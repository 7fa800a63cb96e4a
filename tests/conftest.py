"""Test configuration: real PostgreSQL and Redis (started by `make test`), moto's AWS server
and the fake Kubernetes API server over HTTP. Fixture modules in tests/fakes/*_fixtures.py are
loaded as plugins."""
from pathlib import Path

# The environment (PostgreSQL, Redis) is set in tests/settings.py, before Django reads it.

pytest_plugins = sorted(
    f"tests.fakes.{path.stem}" for path in (Path(__file__).parent / "fakes").glob("*_fixtures.py")
) + sorted(f"tests.{path.stem}" for path in Path(__file__).parent.glob("fixtures_*.py"))
