"""GET with retries: network errors and 5xx / 429 are retried with exponential backoff;
other 4xx are final (a wrong key does not get better by asking again)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx


class FetchError(RuntimeError):
    pass


async def fetch(
    url: str,
    headers: dict[str, str] | None = None,
    attempts: int = 3,
    backoff_s: float = 0.5,
    timeout_s: float = 15.0,
    client: httpx.AsyncClient | None = None,
) -> httpx.Response:
    own = client is None
    http = client or httpx.AsyncClient(timeout=timeout_s)
    try:
        last: str = ""
        for attempt in range(attempts):
            try:
                response = await _get_following_redirects(http, url, headers or {})
            except httpx.HTTPError as error:
                last = f"{type(error).__name__}"
            else:
                if response.status_code < 400:
                    return response
                last = f"HTTP {response.status_code}"
                if response.status_code < 500 and response.status_code != 429:
                    break
            if attempt < attempts - 1:
                await asyncio.sleep(backoff_s * 2**attempt)
        raise FetchError(f"GET {safe_url(url)} failed: {last}")
    finally:
        if own:
            await http.aclose()


async def fetch_json(url: str, headers: dict[str, str] | None = None, **options: Any) -> Any:
    response = await fetch(url, headers, **options)
    try:
        return response.json()
    except ValueError:
        raise FetchError(f"GET {safe_url(url)} answered something that is not JSON") from None


MAX_REDIRECTS = 5
CREDENTIALS = ("authorization", "x-api-key", "api-key", "x-goog-api-key")


async def _get_following_redirects(
    http: httpx.AsyncClient, url: str, headers: dict[str, str]
) -> httpx.Response:
    """Redirects followed by hand: httpx drops only `Authorization` when a redirect leaves the
    origin, and Anthropic's key travels in `x-api-key`. Every credential header stays behind."""
    origin = httpx.URL(url)
    target, sent = origin, dict(headers)
    for _ in range(MAX_REDIRECTS + 1):
        response = await http.get(target, headers=sent, follow_redirects=False)
        location = response.headers.get("location")
        if not response.is_redirect or not location:
            return response
        target = target.join(location)
        if (target.scheme, target.host, target.port) != (origin.scheme, origin.host, origin.port):
            sent = {k: v for k, v in sent.items() if k.lower() not in CREDENTIALS}
    raise httpx.TooManyRedirects(f"more than {MAX_REDIRECTS} redirects", request=response.request)


def safe_url(url: str) -> str:
    """URLs can carry keys in their query (`?key=`): show scheme, host and path only."""
    return url.split("?", 1)[0]
