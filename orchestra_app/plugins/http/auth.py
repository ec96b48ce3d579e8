"""HTTP authentication from the environment: Basic, Bearer, API key and OAuth2 client credentials (cached)."""

from __future__ import annotations

import base64
import contextlib
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

import httpx

from orchestra_app.domain.steps import Violation, ViolationType
from orchestra_app.domain.templating import TemplateScope, render
from orchestra_app.plugins.base import (
    ApiKeyAuth,
    AuthConfig,
    BasicAuth,
    BearerAuth,
    NoAuth,
    OAuth2ClientCredentials,
)


class AuthFailed(Exception):
    """Auth could not be prepared; carries the violation to record."""

    def __init__(self, violation: Violation) -> None:
        super().__init__(violation.message)
        self.violation = violation


@dataclass
class AuthParts:
    headers: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)
    cookies: dict[str, str] = field(default_factory=dict)
    sensitive_headers: set[str] = field(default_factory=set)
    sensitive_query: set[str] = field(default_factory=set)


@dataclass
class _Token:
    value: str
    expires_at: float


class TokenCache:
    """OAuth2 access tokens per (token URL, client, scope, audience), reused until shortly before expiry."""

    def __init__(self) -> None:
        self._tokens: dict[tuple[str, str, str, str], _Token] = {}
        self._lock = threading.Lock()
        self.fetches = 0

    def get(self, key: tuple[str, str, str, str]) -> str | None:
        token = self._tokens.get(key)
        if token is not None and token.expires_at > time.monotonic():
            return token.value
        return None

    def put(self, key: tuple[str, str, str, str], value: str, expires_in: float) -> None:
        # Refresh a little early so a token does not expire between the check and the request.
        margin = min(30.0, expires_in / 10)
        with self._lock:
            self._tokens[key] = _Token(value, time.monotonic() + max(0.0, expires_in - margin))

    def close(self) -> None:
        self._tokens.clear()


def _text(value: Any, scope: TemplateScope, pointer: str) -> str:
    rendered = render(value, scope, pointer)
    return rendered if isinstance(rendered, str) else str(rendered)


def _fetch_token(
    auth: OAuth2ClientCredentials,
    scope: TemplateScope,
    client: httpx.Client,
    base_url: str,
    cache: TokenCache,
    timeout: httpx.Timeout,
) -> str:
    client_id = _text(auth.client_id, scope, "/auth/clientId")
    client_secret = _text(auth.client_secret, scope, "/auth/clientSecret")
    scope.secrets_used.add(client_secret)
    token_url = urljoin(base_url.rstrip("/") + "/", auth.token_url) if base_url else auth.token_url
    key = (token_url, client_id, auth.scope or "", auth.audience or "")
    cached = cache.get(key)
    if cached is not None:
        scope.secrets_used.add(cached)
        return cached
    form = {"grant_type": "client_credentials"}
    if auth.scope:
        form["scope"] = auth.scope
    if auth.audience:
        form["audience"] = auth.audience
    headers = {"Accept": "application/json"}
    if auth.client_auth == "basic":
        raw = f"{client_id}:{client_secret}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(raw).decode()
    else:
        form.update(client_id=client_id, client_secret=client_secret)
    try:
        response = client.post(token_url, data=form, headers=headers, timeout=timeout)
    except httpx.HTTPError as exc:
        raise AuthFailed(
            Violation(
                type=ViolationType.HTTP_ERROR,
                code="OAUTH2_TOKEN_FAILED",
                message=f"token request to {token_url} failed: {type(exc).__name__}",
                details={"tokenUrl": token_url},
            )
        ) from None
    cache.fetches += 1
    try:
        payload = response.json()
        token = payload["access_token"]
        expires_in = float(payload.get("expires_in") or 300)
    except (ValueError, KeyError, TypeError):
        token = None
    if response.status_code != 200 or not isinstance(token, str):
        error = ""
        with contextlib.suppress(ValueError, AttributeError):
            error = str(response.json().get("error", ""))
        raise AuthFailed(
            Violation(
                type=ViolationType.HTTP_ERROR,
                code="OAUTH2_TOKEN_FAILED",
                message=f"token endpoint {token_url} answered {response.status_code}"
                f"{' (' + error + ')' if error else ''} without an access_token",
                details={"tokenUrl": token_url, "status": response.status_code, "error": error},
            )
        )
    cache.put(key, token, expires_in)
    scope.secrets_used.add(token)
    return token


def prepare_auth(
    auth: AuthConfig | None,
    scope: TemplateScope,
    *,
    client: httpx.Client,
    base_url: str,
    cache: TokenCache,
    timeout: httpx.Timeout,
) -> AuthParts:
    """Headers/query/cookies carrying the credentials; every credential value is marked for redaction."""
    parts = AuthParts()
    if auth is None or isinstance(auth, NoAuth):
        return parts
    if isinstance(auth, BasicAuth):
        user = _text(auth.username, scope, "/auth/username")
        password = _text(auth.password, scope, "/auth/password")
        scope.secrets_used.add(password)
        credentials = base64.b64encode(f"{user}:{password}".encode()).decode()
        scope.secrets_used.add(credentials)  # the encoded pair carries the password too
        parts.headers["Authorization"] = "Basic " + credentials
        parts.sensitive_headers.add("authorization")
    elif isinstance(auth, BearerAuth):
        token = _text(auth.token, scope, "/auth/token")
        scope.secrets_used.add(token)
        parts.headers["Authorization"] = f"Bearer {token}"
        parts.sensitive_headers.add("authorization")
    elif isinstance(auth, ApiKeyAuth):
        value = _text(auth.value, scope, "/auth/value")
        scope.secrets_used.add(value)
        if auth.location == "header":
            parts.headers[auth.name] = value
            parts.sensitive_headers.add(auth.name.lower())
        elif auth.location == "query":
            parts.query[auth.name] = value
            parts.sensitive_query.add(auth.name)
        else:
            parts.cookies[auth.name] = value
    elif isinstance(auth, OAuth2ClientCredentials):
        token = _fetch_token(auth, scope, client, base_url, cache, timeout)
        parts.headers["Authorization"] = f"Bearer {token}"
        parts.sensitive_headers.add("authorization")
    return parts
