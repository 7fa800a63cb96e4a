"""Test configuration: real PostgreSQL and Redis (started by `make test`), moto's AWS server
and the fake Kubernetes API server over HTTP. Fixture modules in tests/fakes/*_fixtures.py are
loaded as plugins."""
import os
from pathlib import Path

os.environ.setdefault("DATABASE_URL", "postgres://postgres:postgres@127.0.0.1:5432/llmengine")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/15")
os.environ.setdefault("LLM_ENGINE_DISABLE_VERSION_CHECK", "1")
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

pytest_plugins = sorted(
    f"tests.fakes.{path.stem}" for path in (Path(__file__).parent / "fakes").glob("*_fixtures.py")
) + sorted(f"tests.{path.stem}" for path in Path(__file__).parent.glob("fixtures_*.py"))
