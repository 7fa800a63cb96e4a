"""Settings for LLM Engine, read from the environment (django-environ).

Every variable is listed with its default in `.env.example`. `<NAME>_FILE` reads the value of
`<NAME>` from a mounted file (Kubernetes secrets). A bad value raises ImproperlyConfigured at
start, naming the variable.
"""
import json
import os
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("LLME_VAR_DIR") or BASE_DIR / "var")

env = environ.Env()


_FILE_VARIABLES = ("SECRET_KEY", "DATABASE_URL", "REDIS_URL")


def _read_file_variables() -> None:
    """`NAME_FILE=/path` sets `NAME` from the file's content (mounted secrets), for our own
    variables: those above and every `LLME_` one."""
    for key, path in list(os.environ.items()):
        name = key[:-5]
        if not key.endswith("_FILE") or name in os.environ:
            continue
        if name in _FILE_VARIABLES or name.startswith("LLME_"):
            try:
                os.environ[name] = Path(path).read_text().strip()
            except OSError as exc:
                raise ImproperlyConfigured(f"{key}={path}: cannot read the file ({exc})") from exc


_read_file_variables()


def _json_env(name: str, default):
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be JSON: {exc}") from exc
    if not isinstance(value, type(default)):
        raise ImproperlyConfigured(f"{name} must be a JSON {type(default).__name__}")
    return value


def _str_or_default(name: str, default: str) -> str:
    """A text setting whose empty value means its default (a chart may render it empty)."""
    return env.str(name, default="") or default


def _choice_env(name: str, choices: tuple[str, ...], default: str) -> str:
    value = env.str(name, default=default)
    if value not in choices:
        raise ImproperlyConfigured(f"{name}={value!r}: must be one of {', '.join(choices)}")
    return value


DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG and env.bool("LLME_REQUIRE_SECRET_KEY", default=False):
        raise ImproperlyConfigured("SECRET_KEY is not set: set SECRET_KEY or SECRET_KEY_FILE")
    SECRET_KEY = "insecure-local-development-key-change-me"
# Host names the gateway answers (the chart's `allowedHosts`); `*` (any) keeps `make run` simple.
# ALLOWED_HOSTS is the older name of the same variable.
ALLOWED_HOSTS = env.list("LLME_ALLOWED_HOSTS", default=env.list("ALLOWED_HOSTS", default=["*"]))
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# TLS terminates in front of the gateway (the chart's `tls.terminatedInFront`): the proxy's
# X-Forwarded-Proto says the request was https, console cookies are Secure and HSTS is sent
# (docs/security.md#console-sign-in).
LLME_TLS_TERMINATED = env.bool("LLME_TLS_TERMINATED", default=False)
if LLME_TLS_TERMINATED:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("LLME_HSTS_SECONDS", default=31536000)

# Console sign-in throttling (django-axes, docs/security.md#console-sign-in): after
# LLME_LOGIN_FAILURE_LIMIT wrong passwords for one username from one address, that pair is
# locked out for LLME_LOGIN_LOCKOUT_MINUTES; `manage.py axes_reset_username <user>` unlocks.
AXES_FAILURE_LIMIT = env.int("LLME_LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LLME_LOGIN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_ENABLE_ADMIN = False  # the console has its own pages; attempts are managed with manage.py
AXES_LOCKOUT_CALLABLE = "llmengine_site.login_throttle.lockout_response"
AXES_VERBOSE = False
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: a locked-out pair is refused before the password check
    "django.contrib.auth.backends.ModelBackend",
]

INSTALLED_APPS = [
    "llmengine_site.admin_site.ConsoleAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # swagger-ui assets for /docs, served from the project (offline)
    "django_dramatiq",
    "axes",
    "llmengine_site.apps.LLMEngineSiteConfig",
    "endpoints",
    "jobs",
]

MIDDLEWARE = [
    "llmengine_site.input_guard.InputGuardMiddleware",  # first: hostile input never reaches the rest
    "django.middleware.security.SecurityMiddleware",
    "llmengine_site.middleware.StaticFilesMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # last, as django-axes requires
]

ROOT_URLCONF = "llmengine_site.urls"
APPEND_SLASH = False  # the official client joins paths without a trailing slash

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "llmengine_site.context_processors.platform",
            ],
        },
    },
]

WSGI_APPLICATION = "llmengine_site.wsgi.application"
ASGI_APPLICATION = "llmengine_site.asgi.application"

_database_url = env.str("DATABASE_URL", default="")  # not a setting: it carries the password
DATABASES = {"default": env.db_url_config(_database_url or f"sqlite:///{VAR_DIR / 'llmengine.sqlite3'}")}
if not _database_url:
    try:  # the embedded SQLite default: its folder may not exist yet (an empty /tmp in the image)
        VAR_DIR.mkdir(parents=True, exist_ok=True)
    except OSError:
        pass  # read-only: the database error will name the path
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DATABASE_CONN_MAX_AGE", default=0))
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="")
# The Redis password (an ElastiCache AUTH token) comes apart from the URL, from a Secret (the
# chart's redis.passwordSecret); it is put into REDIS_URL here, URL-encoded, so every client of
# REDIS_URL authenticates (docs/self-hosting.md#redis).
LLME_REDIS_PASSWORD = env.str("LLME_REDIS_PASSWORD", default="")


def _with_password(url: str, password: str) -> str:
    parts = urlsplit(url)
    userinfo, _, host = parts.netloc.rpartition("@")
    user = userinfo.partition(":")[0]
    return urlunsplit((parts.scheme, f"{user}:{quote(password, safe='')}@{host}", parts.path, parts.query,
                       parts.fragment))


if REDIS_URL and LLME_REDIS_PASSWORD:
    REDIS_URL = _with_password(REDIS_URL, LLME_REDIS_PASSWORD)
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "llme",
            # Signed JSON, never pickle: writing to Redis must not run code or forge an entry.
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 2, "SOCKET_TIMEOUT": 2,
                        "SERIALIZER": "llmengine_site.cache_serializer.SignedJSONSerializer"},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "llme"}}

# Dramatiq: Redis broker when REDIS_URL is set, otherwise an in-process broker whose worker
# threads run inside the gateway process (see llmengine_site/dramatiq_setup.py).
DRAMATIQ_INPROCESS = not REDIS_URL
DRAMATIQ_BROKER = {
    "BROKER": "dramatiq.brokers.redis.RedisBroker" if REDIS_URL else "dramatiq.brokers.stub.StubBroker",
    "OPTIONS": {"url": REDIS_URL, "namespace": "llme-dramatiq"} if REDIS_URL else {},
    "MIDDLEWARE": [
        "dramatiq.middleware.AgeLimit",
        "dramatiq.middleware.TimeLimit",
        "dramatiq.middleware.Callbacks",
        "dramatiq.middleware.Retries",
        "dramatiq.middleware.CurrentMessage",  # the attempt number in converge's retry line
        "django_dramatiq.middleware.DbConnectionsMiddleware",
    ],
}
DRAMATIQ_AUTODISCOVER_MODULES = ["tasks"]
DRAMATIQ_TASKS_DATABASE = "default"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default="") or VAR_DIR / "static")
WHITENOISE_USE_FINDERS = True
try:  # whitenoise warns about a missing folder until collectstatic has run
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)
except OSError:
    pass

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["llmengine_site.auth.CredentialAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["llmengine_site.auth.IsAuthenticatedCaller"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["llmengine_site.parsers.GuardedJSONParser", "llmengine_site.parsers.GuardedMultiPartParser"],
    "EXCEPTION_HANDLER": "llmengine_site.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "llmengine_site.schema.AutoSchema",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "LLM Engine",
    "DESCRIPTION": "Deploy, serve and fine-tune large language models on your own Kubernetes GPU nodes.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_AUTHENTICATION": [],
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    # /docs loads swagger-ui from our static files (drf-spectacular-sidecar), never from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "APPEND_PATHS": __import__("llmengine_site.openapi_paths", fromlist=["INFERENCE_PATHS"]).INFERENCE_PATHS,
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # One line per upstream request is noise on the hot path.
    "loggers": {"httpx": {"level": "WARNING"}, "httpcore": {"level": "WARNING"}},
}

# ---------------------------------------------------------------------------------------------
# LLM Engine settings (prefix LLME_). Names are stable: the chart and scripts rely on them.
# ---------------------------------------------------------------------------------------------
LLME_AUTH_MODE = _choice_env("LLME_AUTH_MODE", ("api-key", "trust-username"), "trust-username")
LLME_ENV = env.str("LLME_ENV", default="local")  # the chart's `context`
LLME_CLUSTER_NAME = env.str("LLME_CLUSTER_NAME", default="")
LLME_DNS_HOST_DOMAIN = env.str("LLME_DNS_HOST_DOMAIN", default="")
LLME_ENDPOINT_NAMESPACE = env.str("LLME_ENDPOINT_NAMESPACE", default="llm-engine")
LLME_ENDPOINT_URL_TEMPLATE = env.str(
    "LLME_ENDPOINT_URL_TEMPLATE", default="http://{service}.{namespace}.svc.cluster.local:80"
)
LLME_GATEWAY_URL = env.str("LLME_GATEWAY_URL", default="http://llm-engine.llm-engine.svc.cluster.local:80").rstrip("/")
LLME_DOCKER_REPO_PREFIX = env.str("LLME_DOCKER_REPO_PREFIX", default="")
LLME_REGISTRY_CHECK = env.bool("LLME_REGISTRY_CHECK", default=False)
LLME_QUEUE_BACKEND = _choice_env("LLME_QUEUE_BACKEND", ("sqs", "redis"), "redis")
LLME_S3_BUCKET = env.str("LLME_S3_BUCKET", default="")
LLME_AWS_REGION = _str_or_default("LLME_AWS_REGION", os.environ.get("AWS_DEFAULT_REGION") or "us-west-2")
LLME_AWS_ACCOUNT_ID = env.str("LLME_AWS_ACCOUNT_ID", default="000000000000")
LLME_FORWARDER_IMAGE = env.str("LLME_FORWARDER_IMAGE", default="llm-engine:latest")
LLME_FINE_TUNE_REPOSITORY = env.str("LLME_FINE_TUNE_REPOSITORY", default="")
LLME_MAX_WORKERS_LIMIT = env.int("LLME_MAX_WORKERS_LIMIT", default=250)
LLME_MAX_METADATA_BYTES = env.int("LLME_MAX_METADATA_BYTES", default=64 * 1024)
LLME_FRAMEWORK_REPOSITORIES = _json_env(
    "LLME_FRAMEWORK_REPOSITORIES",
    {
        "text_generation_inference": "text-generation-inference",
        "vllm": "vllm",
        "lightllm": "lightllm",
        "tensorrt_llm": "tensorrt-llm",
        "deepspeed": "instant-llm",
        "sglang": "sglang",
    },
)
LLME_FRAMEWORK_LATEST_TAGS = _json_env(
    "LLME_FRAMEWORK_LATEST_TAGS",
    {
        "text_generation_inference": "0.9.4",
        "vllm": "0.6.3",
        "lightllm": "v0.0.9",
        "tensorrt_llm": "0.10.0",
        "deepspeed": "latest",
        "sglang": "0.4.1",
    },
)
LLME_GPU_NODE_LABELS = _json_env(
    "LLME_GPU_NODE_LABELS",
    {
        "nvidia-tesla-t4": "nvidia-tesla-t4",
        "nvidia-ampere-a10": "nvidia-tesla-a10",
        "nvidia-ampere-a100": "nvidia-tesla-a100",
        "nvidia-ampere-a100e": "nvidia-tesla-a100e",
        "nvidia-hopper-h100": "nvidia-hopper-h100",
        "nvidia-hopper-h100-1g20gb": "nvidia-hopper-h100-1g20gb",
        "nvidia-hopper-h100-3g40gb": "nvidia-hopper-h100-3g40gb",
    },
)
# Every setting is parsed and typed here and nowhere else: code reads `settings.LLME_X`
# (docs/operations.md#settings). Settings whose empty value falls back to another setting say so
# in .env.example; that fallback is the only rule left to the code that reads them.

# Endpoint pods (read by endpoints/manifests; the chart sets them).
LLME_ENDPOINT_SERVICE_ACCOUNT = env.str("LLME_ENDPOINT_SERVICE_ACCOUNT", default="")
LLME_ENDPOINT_SECURITY_CONTEXT = _json_env("LLME_ENDPOINT_SECURITY_CONTEXT", {})
LLME_ENDPOINT_MOUNT_INFRA_CONFIG = env.bool("LLME_ENDPOINT_MOUNT_INFRA_CONFIG", default=False)
LLME_INFRA_CONFIG_MAP = _str_or_default("LLME_INFRA_CONFIG_MAP", "llm-engine-infra-config")
LLME_HIGH_PRIORITY_CLASS = _str_or_default("LLME_HIGH_PRIORITY_CLASS", "llm-engine-high-priority")
LLME_IMAGE_CACHE_NAMESPACE = env.str("LLME_IMAGE_CACHE_NAMESPACE", default="")
LLME_KEDA_TRIGGER_AUTHENTICATION = env.str("LLME_KEDA_TRIGGER_AUTHENTICATION", default="")
LLME_CACHER_INTERVAL_SECONDS = env.float("LLME_CACHER_INTERVAL_SECONDS", default=10.0)
# Prune spares labelled objects younger than this (docs/operations.md#pruning-and-drift-repair).
LLME_PRUNE_GRACE_SECONDS = env.float("LLME_PRUNE_GRACE_SECONDS", default=300.0)
# A build or teardown whose row has not moved for this long is re-sent, then at most once per
# this long (docs/operations.md#the-flow-of-a-change).
LLME_RESEND_AFTER_SECONDS = env.float("LLME_RESEND_AFTER_SECONDS", default=60.0)

# Files and other assets: S3 when LLME_S3_BUCKET is set (django-storages), else var/files.
# Teams name only their own prefix and these read-only ones (llmengine_site/storage_scope.py).
LLME_S3_PREFIX = env.str("LLME_S3_PREFIX", default="llm-engine").strip("/")
LLME_SHARED_READ_PREFIXES = env.list("LLME_SHARED_READ_PREFIXES", default=[])
LLME_MAX_UPLOAD_BYTES = env.int("LLME_MAX_UPLOAD_BYTES", default=512 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = 32 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 8 * 1024 * 1024
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(VAR_DIR / "files")}},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
if LLME_S3_BUCKET:
    STORAGES["default"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {"bucket_name": LLME_S3_BUCKET, "region_name": LLME_AWS_REGION, "file_overwrite": False,
                    "location": LLME_S3_PREFIX},
    }

# Inference: how long a request may wait for a replica (retrying 429/503/connection errors);
# long enough for a scale-from-zero endpoint to start.
LLME_INFERENCE_DEADLINE_SECONDS = env.float("LLME_INFERENCE_DEADLINE_SECONDS", default=300.0)
LLME_ASYNC_RESULT_INLINE_MAX_BYTES = env.int("LLME_ASYNC_RESULT_INLINE_MAX_BYTES", default=256 * 1024)
LLME_UPSTREAM_READ_TIMEOUT_SECONDS = env.float("LLME_UPSTREAM_READ_TIMEOUT_SECONDS", default=600.0)

# Kubernetes and AWS clients.
LLME_K8S_CONNECT_TIMEOUT_SECONDS = env.float("LLME_K8S_CONNECT_TIMEOUT_SECONDS", default=5.0)
LLME_K8S_READ_TIMEOUT_SECONDS = env.float("LLME_K8S_READ_TIMEOUT_SECONDS", default=30.0)
LLME_K8S_DISCOVERY_CACHE_SECONDS = env.float("LLME_K8S_DISCOVERY_CACHE_SECONDS", default=30.0)
LLME_AWS_CONNECT_TIMEOUT_SECONDS = env.float("LLME_AWS_CONNECT_TIMEOUT_SECONDS", default=5.0)
LLME_AWS_READ_TIMEOUT_SECONDS = env.float("LLME_AWS_READ_TIMEOUT_SECONDS", default=30.0)
LLME_AWS_MAX_ATTEMPTS = env.int("LLME_AWS_MAX_ATTEMPTS", default=3)
# SQS queue policy and tags: JSON with ${queue_name} ${queue_arn} ${region} ${account_id}
# ${endpoint_id} ${endpoint_name} ${owner}; empty means the built-in defaults (queues.py).
LLME_SQS_POLICY_TEMPLATE = env.str("LLME_SQS_POLICY_TEMPLATE", default="")
LLME_SQS_TAGS_TEMPLATE = env.str("LLME_SQS_TAGS_TEMPLATE", default="")
LLME_QUEUE_REDIS_URL = env.str("LLME_QUEUE_REDIS_URL", default="")

# Jobs: fine-tunes, batch completions, docker-image batch jobs, triggers.
LLME_FINE_TUNE_QUOTA = env.int("LLME_FINE_TUNE_QUOTA", default=5)
LLME_FINE_TUNE_EVENT_LOG_LINES = env.int("LLME_FINE_TUNE_EVENT_LOG_LINES", default=1000)
LLME_DATASET_URL_ALLOW_PRIVATE = env.bool("LLME_DATASET_URL_ALLOW_PRIVATE", default=False)
LLME_JOB_SERVICE_ACCOUNT = env.str("LLME_JOB_SERVICE_ACCOUNT", default="")
LLME_JOB_RETENTION_SECONDS = env.int("LLME_JOB_RETENTION_SECONDS", default=7 * 24 * 3600)
LLME_BATCH_INFERENCE_REPOSITORY = env.str("LLME_BATCH_INFERENCE_REPOSITORY", default="")
LLME_VLLM_BATCH_TAG = env.str("LLME_VLLM_BATCH_TAG", default="")
LLME_VLLM_BATCH_V2_TAG = env.str("LLME_VLLM_BATCH_V2_TAG", default="")
# The batch runner's image (the llm-engine image; default: LLME_FORWARDER_IMAGE). The vLLM server
# beside it runs the stock image above.
LLME_BATCH_RUNNER_IMAGE = env.str("LLME_BATCH_RUNNER_IMAGE", default="")
LLME_TRIGGER_IMAGE = _str_or_default("LLME_TRIGGER_IMAGE", "curlimages/curl:8.8.0")
