"""One Redis ACL user per async endpoint, so that no endpoint pod holds the control plane's Redis
credential (docs/security.md#what-isolates-teams).

Only on the Redis queue backend: there the forwarder of an async endpoint receives its tasks from
Redis lists and stores their results in Redis; KEDA's redis trigger measures the queue's length
with the same credential. On the SQS backend endpoint pods get no Redis credential at all (they
report task state to the gateway, `endpoints/forwarder/task_reports.py`), so no user is created,
and a managed Redis that refuses ACL commands (ElastiCache) is fine. The user the builder creates
for the endpoint may:

- name only the endpoint's own keys: its results `llme:result:<endpoint id>:*`
  (`endpoints/task_results.py`) and, on the Redis backend, its queue `llme:queue:<queue name>:*`
  (`llmengine_site/infra/queues.py`);
- run only the commands those paths use (`FORWARDER_COMMANDS`). Commands a Lua script runs are
  checked against the same rules, so `EVAL` reaches no other key.

It cannot read the API-key cache, the broker's keys, another endpoint's queue or results, nor run
CONFIG, ACL, KEYS or FLUSHALL.

The password is derived from `SECRET_KEY` and the endpoint id, so a rebuild sets the same one and
running pods keep working; the forwarder Secret holds the user's URL. Every build resets the
user's rules completely (`ACL SETUSER <user> reset ...`), so building twice is harmless; teardown
deletes the user, which also closes its connections. Redis before 6 (or a managed Redis that
refuses ACL commands) fails the build with a reason naming it.
"""
import hashlib
import hmac
import re
from urllib.parse import quote, urlsplit, urlunsplit

import redis
from django.conf import settings

from endpoints.task_results import endpoint_result_pattern
from llmengine_site.errors import InfraError
from llmengine_site.names import endpoint_queue_name, redis_queue_key

USER_PREFIX = "llme-endpoint-"
# What the forwarder (results and Redis queue), redis-py's connection set-up and KEDA's redis
# trigger (LLEN of the pending list) send. AUTH and HELLO need no permission; a refused
# CLIENT SETINFO is ignored by the clients (and unknown to Redis before 7.2).
FORWARDER_COMMANDS = (
    "ping", "select",
    "multi", "exec", "discard",
    "eval",
    "exists", "expire", "ttl",
    "hget", "hset", "hdel", "hincrby",
    "llen", "lrem", "rpush", "rpop",
    "zadd", "zrem", "zrangebyscore",
)
ACL_UNSUPPORTED = ("Redis at {server} does not accept ACL commands ({error}). Async endpoints need "
                   "Redis 6 or later whose ACL commands the control plane's Redis user may run: each "
                   "endpoint's forwarder gets a Redis user of its own, never the control plane's "
                   "credential (docs/security.md#what-isolates-teams).")
_SAFE_ID = re.compile(r"[A-Za-z0-9_-]+")


def username(endpoint_id: str) -> str:
    return USER_PREFIX + _checked(endpoint_id)


def password(endpoint_id: str) -> str:
    """Stable across builds (a rebuild must not break running pods), unguessable without
    `SECRET_KEY`."""
    message = f"llme-redis-acl:{_checked(endpoint_id)}".encode()
    return hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).hexdigest()


def key_patterns(endpoint_id: str, queue_backend: str) -> list[str]:
    patterns = [endpoint_result_pattern(_checked(endpoint_id))]
    if queue_backend == "redis":
        patterns.append(redis_queue_key(endpoint_queue_name(endpoint_id), "*"))
    return patterns


def acl_rules(endpoint_id: str, queue_backend: str) -> list[str]:
    """The arguments of `ACL SETUSER <user> ...`: everything reset, then exactly what it may do."""
    return (["reset", "on", f">{password(endpoint_id)}"]
            + [f"~{pattern}" for pattern in key_patterns(endpoint_id, queue_backend)]
            + [f"+{command}" for command in FORWARDER_COMMANDS])


def control_plane_urls(queue_backend: str) -> list[str]:
    """The Redis servers the endpoint's forwarder talks to, as the control plane reaches them:
    none on the SQS backend (so `ensure_user`, `restore_missing_users` and `delete_user` do
    nothing there)."""
    if queue_backend != "redis":
        return []
    urls = [settings.REDIS_URL] if settings.REDIS_URL else []
    queue_url = settings.LLME_QUEUE_REDIS_URL
    if queue_url and queue_url not in urls:
        urls.append(queue_url)
    return urls


def endpoint_url(control_plane_url: str, endpoint_id: str) -> str:
    """`control_plane_url` (same scheme, host, port, database and options) with the endpoint's
    user and password instead of the control plane's."""
    parts = urlsplit(control_plane_url)
    host = parts.netloc.rpartition("@")[2]
    userinfo = f"{quote(username(endpoint_id), safe='')}:{quote(password(endpoint_id), safe='')}"
    return urlunsplit((parts.scheme, f"{userinfo}@{host}", parts.path, parts.query, parts.fragment))


def ensure_user(endpoint_id: str, queue_backend: str) -> None:
    """Create or reset the endpoint's user on every Redis server its forwarder uses. Raises
    InfraError: transient when Redis cannot be reached, permanent when it refuses ACL commands."""
    rules = acl_rules(endpoint_id, queue_backend)
    for url in control_plane_urls(queue_backend):
        with _errors(url, "create the Redis user of endpoint " + endpoint_id) as client:
            client.execute_command("ACL", "SETUSER", username(endpoint_id), *rules)


def restore_missing_users(endpoint_ids: list[str], queue_backend: str) -> list[str]:
    """Set the user of every endpoint in `endpoint_ids` (built async endpoints) that Redis does
    not know, e.g. after a Redis restart without an ACL file; returns their ids. One `ACL USERS`
    per server and pass, one `ACL SETUSER` per missing user. Raises InfraError like
    `ensure_user`."""
    restored = []
    for url in control_plane_urls(queue_backend):
        with _errors(url, "list the Redis users of endpoints") as client:
            known = {name.decode() if isinstance(name, bytes) else name
                     for name in client.execute_command("ACL", "USERS")}
            for endpoint_id in endpoint_ids:
                if username(endpoint_id) not in known:
                    client.execute_command("ACL", "SETUSER", username(endpoint_id),
                                           *acl_rules(endpoint_id, queue_backend))
                    restored.append(endpoint_id)
    return restored


def delete_user(endpoint_id: str, queue_backend: str) -> None:
    """Remove the endpoint's user (closing its connections). A Redis without ACL support never
    had one, so that is not an error."""
    for url in control_plane_urls(queue_backend):
        try:
            with _errors(url, "delete the Redis user of endpoint " + endpoint_id) as client:
                client.execute_command("ACL", "DELUSER", username(endpoint_id))
        except InfraError as error:
            if error.transient or not getattr(error, "acl_unsupported", False):
                raise


class _errors:
    """A short-lived client of `url`; Redis errors become InfraError."""

    def __init__(self, url: str, action: str):
        self.url, self.action = url, action
        self.client = redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=5)

    def __enter__(self) -> redis.Redis:
        return self.client

    def __exit__(self, kind, error, traceback):
        self.client.close()
        if error is None:
            return False
        server = _server(self.url)
        if isinstance(error, (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)):
            raise InfraError(f"{self.action} failed: cannot reach Redis at {server} ({error})",
                             transient=True) from error
        if isinstance(error, redis.exceptions.RedisError):
            # Redis 5 says "unknown command", a user without the right says NOPERM, ElastiCache
            # refuses write ACL commands: all mean this Redis cannot give endpoints users.
            failure = InfraError(f"{self.action} failed: " + ACL_UNSUPPORTED.format(server=server, error=error),
                                 transient=False)
            failure.acl_unsupported = True
            raise failure from error
        return False


def _server(url: str) -> str:
    """host:port of a Redis URL, never its credentials."""
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port or 6379}"


def _checked(endpoint_id: str) -> str:
    """Endpoint ids go into ACL glob patterns: only characters that are not glob syntax."""
    if not _SAFE_ID.fullmatch(endpoint_id or ""):
        raise ValueError(f"endpoint id {endpoint_id!r} cannot name a Redis user")
    return endpoint_id
