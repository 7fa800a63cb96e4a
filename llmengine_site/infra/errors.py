class InfraError(Exception):
    """A Kubernetes, SQS, S3 or registry call failed.

    `transient=True` means the same call may succeed later (5xx, 429, timeouts, connection
    resets, throttling): actors retry it with backoff. `transient=False` means retrying will not
    help (bad request, missing permissions, no cluster configured): the row records `message`,
    which is written for a person and says what to do next.
    """

    def __init__(self, message: str, *, transient: bool, status: int | None = None):
        super().__init__(message)
        self.message = message
        self.transient = transient
        self.status = status

    def __str__(self) -> str:
        return self.message
