"""boto3 clients, built one way: the `aws` extra checked, local endpoints honoured.

`AWS_ENDPOINT_URL` (and the per-service `AWS_ENDPOINT_URL_<SERVICE>`) and the standard
credential chain apply as boto3 applies them; settings can name an endpoint explicitly
(`s3_endpoint_url` for S3, `aws_endpoint_url` for the other services: moto, LocalStack, MinIO).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from strata.errors import MissingDependency

if TYPE_CHECKING:
    from strata.config import Settings


def aws_client(service: str, *, endpoint_url: str | None = None, region: str | None = None) -> Any:
    """A boto3 client for `service`; MissingDependency when boto3 is not installed."""
    try:
        import boto3
    except ModuleNotFoundError as exc:
        raise MissingDependency("boto3", "aws") from exc
    return boto3.client(service, endpoint_url=endpoint_url, region_name=region)


def client_for(service: str, settings: Settings) -> Any:
    """A boto3 client for `service` on the settings' endpoint and region."""
    endpoint = settings.aws_endpoint_url
    if service == "s3":
        endpoint = settings.s3_endpoint_url or endpoint
    return aws_client(service, endpoint_url=endpoint, region=settings.aws_region)
