"""SigV4 for Bedrock Runtime: the ambient role's credentials, resolved once, signing exactly
the bytes and path httpx sends. botocore ships in the Lambda runtime and is imported only
when a Bedrock provider first signs (cold start)."""

from __future__ import annotations

from typing import Any

from orchestra.errors import ProviderAuthError


class SigV4Signer:
    """Signs Bedrock requests for one provider in one region."""

    def __init__(self, provider: str, region: str) -> None:
        self.provider = provider
        self.region = region
        self._credentials: Any = None  # botocore's (refreshable) credentials, resolved once

    def _frozen_credentials(self, model: str) -> Any:
        from botocore.exceptions import BotoCoreError
        from botocore.session import get_session

        try:
            if self._credentials is None:
                self._credentials = get_session().get_credentials()
            if self._credentials is not None:
                return self._credentials.get_frozen_credentials()
        except BotoCoreError as exc:  # its text can name profiles and files, never keys
            raise ProviderAuthError(
                "AWS credentials could not be loaded", provider=self.provider, model=model
            ) from exc
        raise ProviderAuthError(
            "no AWS credentials for Bedrock", provider=self.provider, model=model
        )

    def headers(self, url: str, body: bytes, headers: dict[str, str], model: str) -> dict[str, str]:
        """``headers`` plus the SigV4 ones for a POST of ``body`` to ``url`` (``:`` stays
        ``%3A`` in the path, as httpx sends it)."""
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        aws = AWSRequest(method="POST", url=url, data=body, headers=headers)
        SigV4Auth(self._frozen_credentials(model), "bedrock", self.region).add_auth(aws)
        return dict(aws.headers.items())
