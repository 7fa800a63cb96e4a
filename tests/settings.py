"""Settings for the test run: real PostgreSQL and Redis (design §9), started by `make test`.
Set before the project's settings read the environment."""
import os

os.environ.setdefault("DATABASE_URL", "postgres://postgres:postgres@127.0.0.1:5432/llmengine")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/15")
os.environ.setdefault("LLM_ENGINE_DISABLE_VERSION_CHECK", "1")
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

from llmengine_site.settings import *  # noqa: E402,F401,F403
