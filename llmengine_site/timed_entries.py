"""The hot path's in-process maps (routes, observed states, API-key callers): key -> (expires_at,
value), where value may be None (a miss is remembered too), bounded by emptying the map when it
is full, so that requests naming random endpoints or keys cannot grow a worker's memory."""
MISSING = object()


class TimedEntries(dict):
    def __init__(self, limit: int):
        super().__init__()
        self.limit = limit

    def fresh(self, key, now: float, default=MISSING):
        """The value stored for `key` if it has not expired at `now`, else `default`."""
        hit = self.get(key)
        return hit[1] if hit is not None and hit[0] > now else default

    def remember(self, key, value, expires_at: float) -> None:
        if len(self) >= self.limit:
            self.clear()
        self[key] = (expires_at, value)
