"""boto3 clients and the translation of AWS errors into `InfraError`.

Endpoints are never configured here: boto3 itself honours `AWS_ENDPOINT_URL` and
`AWS_ENDPOINT_URL_<SERVICE>` (moto in tests, LocalStack or a VPC endpoint in production).
Region comes from `LLME_AWS_REGION`; credentials from the usual chain (IRSA on EKS).
"""
import threading

import boto3
import botocore.config
import botocore.exceptions
from django.conf import settings

from llmengine_site.errors import InfraError

# Error codes that mean "try again later" whatever the HTTP status says.
TRANSIENT_CODES = {
    "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottled",
    "RequestThrottledException", "TooManyRequestsException", "ProvisionedThroughputExceededException",
    "RequestLimitExceeded", "SlowDown", "ServiceUnavailable", "InternalError", "InternalFailure",
    "RequestTimeout", "RequestTimeoutException", "PriorRequestNotComplete",
}

_clients: dict[tuple[str, str], object] = {}
_lock = threading.Lock()


def client(service: str, region: str | None = None):
    """A cached boto3 client for `service` (thread-safe, as boto3 clients are).

    Timeouts: connect `LLME_AWS_CONNECT_TIMEOUT_SECONDS` (5), read
    `LLME_AWS_READ_TIMEOUT_SECONDS` (30, above SQS's 20 s long poll); boto3's standard retry
    mode with `LLME_AWS_MAX_ATTEMPTS` (3) attempts absorbs short throttling bursts.
    """
    region = region or settings.LLME_AWS_REGION
    key = (service, region)
    with _lock:
        if key not in _clients:
            config = botocore.config.Config(
                region_name=region,
                connect_timeout=settings.LLME_AWS_CONNECT_TIMEOUT_SECONDS,
                read_timeout=settings.LLME_AWS_READ_TIMEOUT_SECONDS,
                retries={"mode": "standard", "max_attempts": settings.LLME_AWS_MAX_ATTEMPTS},
                # Presigned S3 URLs must be SigV4: regions opened since 2014 reject SigV2.
                signature_version="s3v4" if service == "s3" else None,
            )
            # A fresh session per client: boto3's default session is not thread-safe to create from.
            _clients[key] = boto3.session.Session().client(service, config=config)
        return _clients[key]


def reset_clients() -> None:
    """Forget cached clients (tests change `AWS_ENDPOINT_URL` and credentials)."""
    with _lock:
        _clients.clear()


def error_code(error: Exception) -> str:
    """The AWS error code of a `ClientError` (`QueueDoesNotExist`, ...), else ''."""
    if isinstance(error, botocore.exceptions.ClientError):
        return error.response.get("Error", {}).get("Code", "")
    return ""


def translate(error: Exception, action: str) -> InfraError:
    """Map a boto3/botocore error to `InfraError`: throttling, 5xx and connection problems are
    transient; anything else (bad input, missing permissions, no credentials) is not."""
    if isinstance(error, botocore.exceptions.ClientError):
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        code = error_code(error)
        message = error.response.get("Error", {}).get("Message", "") or str(error)
        transient = code in TRANSIENT_CODES or (status is not None and (status >= 500 or status == 429))
        return InfraError(f"{action} failed: {code}: {message}", transient=transient, status=status)
    if isinstance(error, botocore.exceptions.NoCredentialsError):
        return InfraError(f"{action} failed: no AWS credentials found (set up IRSA or the AWS_* "
                          "environment variables)", transient=False)
    # ConnectionError covers refused connections and connect timeouts; HTTPClientError covers
    # read timeouts and connections closed mid-response.
    if isinstance(error, (botocore.exceptions.ConnectionError, botocore.exceptions.HTTPClientError)):
        return InfraError(f"{action} failed: cannot reach AWS ({error})", transient=True)
    return InfraError(f"{action} failed: {error}", transient=False)
