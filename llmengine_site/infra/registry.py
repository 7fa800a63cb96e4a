"""Does a container image exist? Checked in ECR before building an endpoint, so a typo in a
tag becomes "image ... not found in registry" instead of pods stuck in ImagePullBackOff."""
import logging
import re
from dataclasses import dataclass

import botocore.exceptions

from llmengine_site.infra import aws

logger = logging.getLogger(__name__)

ECR_HOST = re.compile(r"^(?P<account>\d{12})\.dkr\.ecr(?:-fips)?\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$")
MISSING_CODES = {"ImageNotFoundException", "RepositoryNotFoundException"}


@dataclass(frozen=True)
class ImageReference:
    host: str | None
    repository: str
    tag: str | None
    digest: str | None


def parse_image(image: str) -> ImageReference:
    """Split `[host/]repository[:tag][@digest]`; the tag defaults to `latest` without a digest."""
    rest, _, digest = image.partition("@")
    host = None
    first, slash, remainder = rest.partition("/")
    # Docker's rule: the first component is a registry host when it looks like one.
    if slash and ("." in first or ":" in first or first == "localhost"):
        host, rest = first, remainder
    repository, colon, tag = rest.rpartition(":")
    if not colon or "/" in tag:
        repository, tag = rest, ""
    return ImageReference(host, repository, tag or (None if digest else "latest"), digest or None)


def image_exists(image: str) -> bool:
    """True when ECR holds `image` (`<account>.dkr.ecr.<region>.amazonaws.com/<repo>:<tag>`, or
    `<repo>:<tag>` in our own account and `LLME_AWS_REGION`).

    Images in other registries cannot be checked here and count as present (the kubelet
    reports a bad one as ImagePullBackOff). A missing repository or tag gives False; any other
    failure raises `InfraError` (transient for throttling and connection problems).
    """
    reference = parse_image(image)
    request = {"repositoryName": reference.repository,
               "imageIds": [{"imageDigest": reference.digest} if reference.digest else {"imageTag": reference.tag}]}
    region = None
    if reference.host:
        match = ECR_HOST.match(reference.host)
        if match is None:
            logger.info("not checking %s: only ECR images can be checked", image)
            return True
        request["registryId"], region = match["account"], match["region"]
    try:
        found = aws.client("ecr", region=region).describe_images(**request)
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
        if aws.error_code(error) in MISSING_CODES:
            return False
        raise aws.translate(error, f"check image {image} in ECR") from error
    return bool(found.get("imageDetails"))
