"""The dashboard in real headless Chromium (Debian's chromium, driven by Playwright)."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect, sync_playwright

from scripts.stack import Proxy


@pytest.fixture(scope="module")
def page() -> Iterator[Page]:
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        pytest.fail("chromium is missing: `make services` installs Debian's chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        context = browser.new_context(locale="en-US")
        yield context.new_page()
        browser.close()


def admin(proxy: Proxy) -> httpx.Client:
    return httpx.Client(
        base_url=proxy.base_url, headers={"Authorization": f"Bearer {proxy.master_key}"}, timeout=30
    )


def test_the_page_asks_for_the_key_lists_channels_and_switches_the_strategy(proxy: Proxy, page: Page) -> None:
    channels: list[dict[str, Any]] = admin(proxy).get("/routing/channels").json()["channels"]
    page.goto(f"{proxy.base_url}/routing/ui")
    expect(page.locator("#login")).to_be_visible()

    page.fill("#key", "sk-wrong")
    page.click("#login button[type=submit]")
    expect(page.locator("#error")).to_contain_text("refused")

    page.fill("#key", proxy.master_key)
    page.click("#login button[type=submit]")
    rows = page.locator("#channels tbody tr")
    expect(rows).to_have_count(len(channels))
    free = next(c["id"] for c in channels if c["free"])
    expect(page.locator(f'#channels tbody tr[data-channel="{free}"] .mark')).to_contain_text("free")
    assert page.evaluate("() => localStorage.length") == 0  # the key lives in sessionStorage only
    assert page.context.cookies() == []

    page.select_option("#strategy", "free_first")
    page.click("#apply-strategy")
    deadline = time.monotonic() + 10
    while admin(proxy).get("/routing/strategy").json()["strategy"] != "free_first":
        assert time.monotonic() < deadline, "the page's switch did not change the strategy"
        time.sleep(0.1)
    expect(page.locator("#active-strategy")).to_have_text("free_first")

    page.click("#lang")
    expect(page.locator('[data-i18n="channels"]').first).to_have_text("通道")
    page.click("#lang")
    admin(proxy).put("/routing/strategy", json={"strategy": "balanced"})
