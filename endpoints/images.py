"""Image references of framework containers."""
from django.conf import settings


def full_image(repository: str, tag: str) -> str:
    """`{docker_repo_prefix}/{repository}:{tag}`; a repository that already names a registry
    host (it has a '.' or ':' before its first '/') is used as it is."""
    first = repository.split("/", 1)[0]
    if "/" in repository and ("." in first or ":" in first or first == "localhost"):
        return f"{repository}:{tag}"
    prefix = settings.LLME_DOCKER_REPO_PREFIX.rstrip("/")
    return f"{prefix}/{repository}:{tag}" if prefix else f"{repository}:{tag}"


def framework_repository(framework: str) -> str:
    return settings.LLME_FRAMEWORK_REPOSITORIES.get(framework, framework)


def resolve_tag(framework: str, tag: str) -> str:
    """`latest` means the configured tag of the framework (never stored as "latest")."""
    if tag != "latest":
        return tag
    return settings.LLME_FRAMEWORK_LATEST_TAGS.get(framework, "latest")


def is_framework_repository(repository: str) -> bool:
    """True for the repositories of the configured inference frameworks (the platform's own
    images); False for any other repository, e.g. a tenant's bundle image."""
    return repository in set(settings.LLME_FRAMEWORK_REPOSITORIES.values())
