"""boto3 clients come from one place, honour boto3's own endpoint override, and their errors
become InfraError with the right retry decision."""
import botocore.exceptions
import pytest

from llmengine_site.infra import aws as aws_adapter


def client_error(code: str, status: int) -> botocore.exceptions.ClientError:
    response = {"Error": {"Code": code, "Message": f"{code} happened"},
                "ResponseMetadata": {"HTTPStatusCode": status}}
    return botocore.exceptions.ClientError(response, "SomeOperation")


def test_clients_reach_the_endpoint_from_aws_endpoint_url(aws):
    s3 = aws_adapter.client("s3")
    s3.create_bucket(Bucket="assets-bucket", CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    s3.put_object(Bucket="assets-bucket", Key="file", Body=b"data")

    assert s3.get_object(Bucket="assets-bucket", Key="file")["Body"].read() == b"data"
    assert s3.meta.endpoint_url == aws


def test_presigned_s3_urls_are_sigv4(aws):
    url = aws_adapter.client("s3").generate_presigned_url(
        "get_object", Params={"Bucket": "assets-bucket", "Key": "file"})

    assert "X-Amz-Algorithm=AWS4-HMAC-SHA256" in url


@pytest.mark.parametrize(
    ("code", "status"),
    [("ThrottlingException", 400), ("RequestThrottled", 403), ("InternalError", 500), ("Anything", 503)],
)
def test_throttling_and_server_errors_are_transient(code, status):
    error = aws_adapter.translate(client_error(code, status), "send message")

    assert error.transient is True
    assert error.status == status


def test_permission_errors_are_permanent_and_say_what_failed():
    error = aws_adapter.translate(client_error("AccessDenied", 403), "create SQS queue q")

    assert error.transient is False
    assert error.message == "create SQS queue q failed: AccessDenied: AccessDenied happened"


def test_connection_errors_are_transient():
    error = aws_adapter.translate(botocore.exceptions.EndpointConnectionError(endpoint_url="http://x"), "x")

    assert error.transient is True


def test_missing_credentials_are_permanent():
    assert aws_adapter.translate(botocore.exceptions.NoCredentialsError(), "x").transient is False
