"""The dashboard in real headless Chromium (Debian's chromium, driven by Playwright)."""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from playwright.sync_api import ConsoleMessage, Dialog, Locator, Page, expect, sync_playwright

from scripts.stack import Proxy, Simulator, free_port, openai_client, render_config, start_proxy
from tests.integration.conftest import HERE

expect.set_options(timeout=15_000)  # the page refreshes itself every 5 s

HELLO = [{"role": "user", "content": "hello"}]
ROOT = Path(__file__).resolve().parents[2]
# SMART_ROUTER_SCREENSHOTS=1: the tests save the new panels here (docs/operations.md links them)
SCREENSHOTS = ROOT / "docs" / "screenshots" if os.environ.get("SMART_ROUTER_SCREENSHOTS") == "1" else None
# Where each channel of routing_config.yaml is served: (simulated provider, upstream model)
UPSTREAMS = {
    "free-qwen3-30b": ("free", "qwen/qwen3-30b-a3b:free"),
    "free-gemma-270m": ("free", "google/gemma-3-270m:free"),
    "paid-gpt-4o-mini": ("paid", "gpt-4o-mini"),
    "paid-qwen3-235b": ("paid", "qwen/qwen3-235b-a22b"),
    "paid-llama-70b": ("paid", "meta-llama/llama-3.3-70b-instruct"),
    "local-qwen2.5-7b": ("local", "qwen2.5:7b"),
}
# What the tests provoke on purpose: a refused admin key (401), a refused form (400) and an unknown
# name asked in the what-if box (404).
PROVOKED = re.compile(r"^Failed to load resource: the server responded with a status of (400|401|404) ")


@pytest.fixture(scope="module")
def decisions_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What LiteLLM's own loggers got as `metadata.routing_decision` (tests/integration/spend_log_probe.py)."""
    return tmp_path_factory.mktemp("probe") / "routing_decisions.jsonl"


@pytest.fixture(scope="module")
def proxy(simulator: Simulator, decisions_file: Path) -> Iterator[Proxy]:
    """The shared routing config with one more LiteLLM logger: a probe of what LiteLLM hands its loggers."""
    config = render_config(
        HERE / "routing_config.yaml",
        simulator.ports,
        {
            "litellm_settings": {
                "callbacks": ["router_ext.hook.proxy_handler", "tests.integration.spend_log_probe.probe"],
                "disable_hf_tokenizer_download": True,
            }
        },
    )
    running = start_proxy(config, env={"ROUTING_DECISION_PROBE": str(decisions_file)})
    yield running
    running.stop()


def screenshot(target: Page | Locator, name: str) -> None:
    """A PNG of a panel under docs/screenshots/ when SMART_ROUTER_SCREENSHOTS=1."""
    if SCREENSHOTS is not None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        target.screenshot(path=str(SCREENSHOTS / name), animations="disabled")


@pytest.fixture(scope="module")
def browser_errors() -> list[str]:
    """Console errors and uncaught exceptions of the page, over every test of the module."""
    return []


@pytest.fixture(scope="module")
def page(browser_errors: list[str]) -> Iterator[Page]:
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        pytest.fail("chromium is missing: `make services` installs Debian's chromium")

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            browser_errors.append(f"console: {message.text} at {message.location.get('url')}")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        context = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 900})
        tab = context.new_page()
        tab.on("console", on_console)
        tab.on("pageerror", lambda error: browser_errors.append(f"pageerror: {error}"))
        yield tab
        browser.close()


def admin(proxy: Proxy) -> httpx.Client:
    return httpx.Client(
        base_url=proxy.base_url, headers={"Authorization": f"Bearer {proxy.master_key}"}, timeout=30
    )


def open_dashboard(proxy: Proxy, page: Page) -> None:
    """The page, logged in (the key stays in the tab's sessionStorage between tests)."""
    page.goto(f"{proxy.base_url}/routing/ui")
    if page.locator("#login").is_visible():
        page.fill("#key", proxy.master_key)
        page.click("#login button[type=submit]")
    expect(page.locator("#app")).to_be_visible()
    expect(page.locator("#channels tbody tr").first).to_be_visible()


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def stored_channel(proxy: Proxy, channel_id: str) -> dict[str, Any] | None:
    listing = admin(proxy).get("/routing/channels/stored").json()["channels"]
    return next((c for c in listing if c["id"] == channel_id), None)


def channel_status(proxy: Proxy, channel_id: str) -> dict[str, Any]:
    channels = admin(proxy).get("/routing/channels").json()["channels"]
    return next(c for c in channels if c["id"] == channel_id)


def accept_next_dialog(page: Page) -> None:
    def accept(dialog: Dialog) -> None:
        dialog.accept()

    page.once("dialog", accept)


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


def test_the_login_form_goes_away_after_login_and_forget_key_brings_it_back(proxy: Proxy, page: Page) -> None:
    open_dashboard(proxy, page)
    expect(page.locator("#login")).to_be_hidden()
    expect(page.locator("#logout")).to_be_visible()

    page.click("#logout")
    expect(page.locator("#login")).to_be_visible()
    expect(page.locator("#app")).to_be_hidden()
    expect(page.locator("#logout")).to_be_hidden()
    assert page.evaluate("() => sessionStorage.getItem('sr-admin-key')") is None

    page.fill("#key", "sk-still-wrong")
    page.click("#login button[type=submit]")
    expect(page.locator("#error")).to_contain_text("refused")
    expect(page.locator("#login")).to_be_visible()
    expect(page.locator("#app")).to_be_hidden()

    page.fill("#key", proxy.master_key)
    page.click("#login button[type=submit]")
    expect(page.locator("#app")).to_be_visible()
    expect(page.locator("#login")).to_be_hidden()
    expect(page.locator("#error")).to_have_text("")
    page.reload()  # a reload of the tab keeps the key: no form
    expect(page.locator("#app")).to_be_visible()
    expect(page.locator("#login")).to_be_hidden()


def test_the_charts_say_so_when_nothing_was_recorded(proxy: Proxy, page: Page) -> None:
    charts = admin(proxy).get("/routing/stats/charts", params={"days": 30}).json()
    assert sum(charts["requests"]) == 0, "this test runs before any request of the module"
    open_dashboard(proxy, page)
    for name in ("spend", "requests", "latency", "share"):
        expect(page.locator(f"#chart-{name}-empty")).to_be_visible()
        expect(page.locator(f"#chart-{name}")).to_be_hidden()
    expect(page.locator("#chart-requests-empty")).to_have_text("No requests recorded yet.")
    expect(page.locator("#charts svg rect.bar, #charts svg path.share")).to_have_count(0)


def test_a_channel_added_on_the_page_is_routed_at_once(
    proxy: Proxy, simulator: Simulator, page: Page
) -> None:
    open_dashboard(proxy, page)
    # A model LiteLLM cannot place: the answer's message is shown by the form, the field marked.
    page.fill("#new-model-name", "page-bad-model")
    page.fill("#new-model", "page-nonsense-model")
    page.fill("#new-api-key", "sk-sim-paid")
    page.click("#add-channel-submit")
    expect(page.locator("#add-channel-error")).to_contain_text("litellm_params.model")
    expect(page.locator("#new-model")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#new-api-key")).to_have_value("")  # cleared whatever the answer
    expect(page.locator("#new-model-name")).to_have_value("page-bad-model")  # the rest is kept to fix
    assert stored_channel(proxy, "page-bad-model") is None

    page.fill("#new-model-name", "page-added-model")
    page.fill("#new-model", "openai/gpt-4o-mini")
    page.fill("#new-api-base", f"{simulator.url('paid')}/v1")
    page.fill("#new-api-key", "sk-sim-paid")
    page.fill("#new-id", "page-added")
    page.click("#add-channel-submit")

    row = page.locator('#channels tbody tr[data-channel="page-added"]')
    expect(row).to_be_visible()
    expect(row.locator(".source")).to_have_text("stored")
    expect(row.locator(".key")).to_contain_text("sk-sim...")
    expect(page.locator("#notice")).to_contain_text("page-added")
    expect(page.locator("#add-channel-error")).to_have_text("")
    for field in ("#new-model-name", "#new-model", "#new-api-base", "#new-api-key", "#new-id"):
        expect(page.locator(field)).to_have_value("")
    assert "sk-sim-paid" not in page.content()

    stored = stored_channel(proxy, "page-added")
    assert stored is not None and stored["model_name"] == "page-added-model"
    assert stored["litellm_params"] == {
        "model": "openai/gpt-4o-mini",
        "api_base": f"{simulator.url('paid')}/v1",
    }
    assert [k["prefix"] for k in stored["keys"]] == ["sk-sim..."]

    answer = openai_client(proxy).chat.completions.with_raw_response.create(
        model="tag:page,added", messages=HELLO
    )
    assert answer.headers["x-router-channel"] == "page-added"
    assert "[paid] gpt-4o-mini" in answer.parse().choices[0].message.content


def test_a_channels_rate_limit_windows_are_shown(proxy: Proxy, simulator: Simulator, page: Page) -> None:
    body = {
        "model_name": "page-capped-model",
        "litellm_params": {
            "model": "openai/gpt-4o-mini",
            "api_base": f"{simulator.url('paid')}/v1",
            "api_key": "sk-sim-paid",
        },
        "model_info": {"id": "page-capped", "rpm": 3},
    }
    assert admin(proxy).post("/routing/channels", json=body).status_code == 201
    open_dashboard(proxy, page)
    cell = page.locator('#channels tbody tr[data-channel="page-capped"] .limits')
    expect(cell).to_have_text("3/3 requests")  # configured, nothing sent yet
    # configured windows are clock-aligned minutes: a send in a minute's last seconds would be
    # reset before the page refreshes (right, but not what this test looks at)
    deadline = time.monotonic() + 30
    while time.time() % 60 > 40 and time.monotonic() < deadline:
        time.sleep(0.2)
    served = openai_client(proxy).chat.completions.with_raw_response.create(
        model="tag:page,capped", messages=[{"role": "user", "content": "hi"}]
    )
    assert served.headers["x-router-channel"] == "page-capped"
    expect(cell).to_have_text("2/3 requests", timeout=15_000)  # the next refresh shows what is left
    assert admin(proxy).delete("/routing/channels/page-capped").status_code == 200


def test_channel_buttons_test_reset_disable_enable_keys_edit_and_delete(
    proxy: Proxy, simulator: Simulator, page: Page
) -> None:
    created = admin(proxy).post(
        "/routing/channels",
        json={
            "model_name": "page-manage-model",
            "litellm_params": {
                "model": "openai/gpt-4o-mini",
                "api_base": f"{simulator.url('paid')}/v1",
                "api_key": "sk-sim-paid",
            },
            "model_info": {"id": "page-manage"},
        },
    )
    assert created.status_code == 201, created.text
    client = openai_client(proxy)
    open_dashboard(proxy, page)
    row = page.locator('#channels tbody tr[data-channel="page-manage"]')
    rows_of_channel = page.locator('#channels tbody tr[data-stored="page-manage"]')
    expect(rows_of_channel).to_have_count(1)

    # Test: a real small call, its latency shown.
    row.locator("button.test").click()
    expect(row.locator(".test-result")).to_have_class(re.compile(r"\bok\b"))
    expect(row.locator(".test-result")).to_contain_text(re.compile(r"\d+ ms"))

    # A failure shows in the row; Reset breaker forgets it.
    simulator.control(
        "paid", {"steps": [{"status": 500, "model": "gpt-4o-mini", "body": {"error": {"message": "boom"}}}]}
    )
    with pytest.raises(openai.APIStatusError):
        client.chat.completions.create(model="tag:page,manage", messages=HELLO)
    assert channel_status(proxy, "page-manage")["consecutive_failures"] == 1
    expect(row.locator(".last-error")).not_to_have_text("")  # the page's own refresh shows it
    row.locator("button.reset").click()
    expect(row.locator(".last-error")).to_have_text("")
    assert channel_status(proxy, "page-manage")["consecutive_failures"] == 0

    # Disable (a stored channel: PATCH enabled) takes it out of routing; Enable brings it back.
    row.locator("button.disable").click()
    expect(row.locator(".state")).to_have_attribute("data-state", "disabled")
    assert (stored_channel(proxy, "page-manage") or {})["enabled"] is False
    with pytest.raises(openai.APIStatusError):
        client.chat.completions.create(model="tag:page,manage", messages=HELLO)
    row.locator("button.enable").click()
    expect(row.locator(".state")).to_have_attribute("data-state", "closed")
    assert (stored_channel(proxy, "page-manage") or {})["enabled"] is True
    answer = client.chat.completions.with_raw_response.create(model="tag:page,manage", messages=HELLO)
    assert answer.headers["x-router-channel"] == "page-manage"

    # Add key: a second deployment of the channel, its prefix listed; the key is never shown.
    row.locator("button.add-key").click()
    expect(page.locator("#add-key-form")).to_be_visible()
    expect(page.locator("#add-key-target")).to_have_text("page-manage")
    page.fill("#add-key-value", "sk-sim-paid")
    page.click("#add-key-save")
    expect(rows_of_channel).to_have_count(2)
    expect(page.locator("#add-key-form")).to_be_hidden()
    expect(page.locator("#add-key-value")).to_have_value("")
    keys = (stored_channel(proxy, "page-manage") or {})["keys"]
    assert len(keys) == 2
    second = keys[1]["deployment_id"]
    assert second.startswith("page-manage.")
    expect(page.locator(f'#channels tbody tr[data-channel="{second}"] .key')).to_contain_text("sk-sim...")
    assert "sk-sim-paid" not in page.content()

    # Remove that key (confirmed): one row again.
    accept_next_dialog(page)
    page.locator(f'#channels tbody tr[data-channel="{second}"] button.remove-key').click()
    expect(rows_of_channel).to_have_count(1)
    assert len((stored_channel(proxy, "page-manage") or {})["keys"]) == 1

    # Edit the name and the API base: to a port nobody listens on, which the Test then shows.
    row.locator("button.edit").click()
    expect(page.locator("#edit-channel")).to_be_visible()
    expect(page.locator("#edit-model-name")).to_have_value("page-manage-model")
    expect(page.locator("#edit-api-base")).to_have_value(f"{simulator.url('paid')}/v1")
    dead_base = f"http://127.0.0.1:{free_port()}/v1"
    page.fill("#edit-model-name", "page-manage-renamed")
    page.fill("#edit-api-base", dead_base)
    page.click("#edit-save")
    expect(page.locator("#edit-channel")).to_be_hidden()
    expect(row.locator(".model-name")).to_have_text("page-manage-renamed")
    edited = stored_channel(proxy, "page-manage") or {}
    assert edited["model_name"] == "page-manage-renamed"
    assert edited["litellm_params"]["api_base"] == dead_base
    row.locator("button.test").click()
    expect(row.locator(".test-result")).to_have_class(re.compile(r"\bfailed\b"))
    expect(row.locator(".test-result")).to_contain_text(re.compile(r"temporary|permanent|model_unavailable"))

    # Delete: a dismissed confirm keeps it; an accepted one deletes it.
    page.once("dialog", lambda dialog: dialog.dismiss())
    row.locator("button.delete").click()
    expect(page.locator("#notice")).not_to_contain_text("deleted")
    assert stored_channel(proxy, "page-manage") is not None
    accept_next_dialog(page)
    row.locator("button.delete").click()
    expect(rows_of_channel).to_have_count(0)
    expect(page.locator("#notice")).to_contain_text("Channel deleted: page-manage")
    assert stored_channel(proxy, "page-manage") is None

    # A config channel: disable / enable through the health endpoints; no edit, delete or keys.
    config_row = page.locator('#channels tbody tr[data-channel="paid-llama-70b"]')
    expect(config_row.locator(".source")).to_have_text("config")
    expect(config_row.locator("button.delete, button.edit, button.add-key")).to_have_count(0)
    config_row.locator("button.disable").click()
    expect(config_row.locator(".state")).to_have_attribute("data-state", "disabled")
    assert channel_status(proxy, "paid-llama-70b")["state"] == "disabled"
    config_row.locator("button.enable").click()
    expect(config_row.locator(".state")).to_have_attribute("data-state", "closed")
    assert channel_status(proxy, "paid-llama-70b")["state"] == "closed"


def test_a_client_key_issued_on_the_page_is_shown_once_and_can_be_revoked(proxy: Proxy, page: Page) -> None:
    open_dashboard(proxy, page)
    page.fill("#key-name", "page-client")
    page.fill("#key-budget-day", "1.5")
    page.fill("#key-models", "gpt-4o-mini, tag:free")
    page.click("#issue-key-submit")
    expect(page.locator("#new-key-box")).to_be_visible()
    raw = page.locator("#new-key-value").inner_text().strip()
    assert raw.startswith("sk-") and len(raw) > 20, raw
    expect(page.locator("#new-key-box")).to_contain_text("not shown again")
    expect(page.locator("#key-name")).to_have_value("")

    issued = next(k for k in admin(proxy).get("/routing/keys").json()["keys"] if k["name"] == "page-client")
    assert issued["budget_day_usd"] == 1.5 and issued["models"] == ["gpt-4o-mini", "tag:free"]
    row = page.locator(f'#client-keys tbody tr[data-key="{issued["id"]}"]')
    expect(row).to_contain_text(issued["key_prefix"])
    expect(row.locator(".key-state")).to_have_text("active")
    assert raw.startswith(issued["key_prefix"].removesuffix("..."))
    kept = page.evaluate("() => JSON.stringify({...sessionStorage}) + JSON.stringify({...localStorage})")
    assert raw not in kept

    user = openai_client(proxy, api_key=raw)
    assert user.chat.completions.create(model="gpt-4o-mini", messages=HELLO).choices[0].message.content

    page.click("#new-key-done")
    expect(page.locator("#new-key-box")).to_be_hidden()
    assert raw not in page.content()

    accept_next_dialog(page)
    row.locator("button.revoke").click()
    expect(row.locator(".key-state")).to_have_text("revoked")
    expect(row.locator("button.revoke")).to_have_count(0)
    revoked = next(k for k in admin(proxy).get("/routing/keys").json()["keys"] if k["id"] == issued["id"])
    assert revoked["revoked_at"] is not None
    with pytest.raises(openai.APIStatusError) as refused:
        user.chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    assert refused.value.status_code == 401
    page.reload()
    expect(row).to_be_visible()
    assert raw not in page.content()


def drawn(data: dict[str, list[float]]) -> int:
    """Bars a stacked chart draws: one per series and day with a value."""
    return sum(1 for values in data.values() for value in values if value > 0)


def test_the_charts_draw_the_recorded_traffic(proxy: Proxy, simulator: Simulator, page: Page) -> None:
    before = admin(proxy).get("/routing/stats/charts", params={"days": 30}).json()
    client = openai_client(proxy)
    for model in ["gpt-4o-mini"] * 3 + ["qwen3-30b-free"] * 2:
        client.chat.completions.create(model=model, messages=HELLO)
    simulator.control("paid", {"steps": [{"status": 500, "model": "qwen/qwen3-235b-a22b"}]})
    with pytest.raises(openai.APIStatusError):
        client.chat.completions.create(model="qwen3-235b", messages=HELLO)

    charts: dict[str, Any] = {}

    def recorded() -> bool:
        charts.update(admin(proxy).get("/routing/stats/charts", params={"days": 30}).json())
        return (
            sum(charts["requests"]) >= sum(before["requests"]) + 6
            and sum(charts["errors"]) >= sum(before["errors"]) + 1
        )

    wait_until(recorded, "the requests did not reach /routing/stats/charts")
    by_channel, by_model = charts["spend_by_channel"], charts["spend_by_model"]
    assert sum(by_channel["paid-gpt-4o-mini"]) > 0
    assert len([c for c, v in by_channel.items() if sum(v) > 0]) <= 8  # no "other" series: exact counts

    open_dashboard(proxy, page)
    for name in ("spend", "requests", "latency", "share"):
        expect(page.locator(f"#chart-{name}")).to_be_visible()
        expect(page.locator(f"#chart-{name}-empty")).to_be_hidden()

    spend_bars = page.locator("#chart-spend rect.bar")
    expect(spend_bars).to_have_count(drawn(by_channel))
    gpt = page.locator('#chart-spend rect.bar[data-series="paid-gpt-4o-mini"]')
    expect(gpt).to_have_count(drawn({"c": by_channel["paid-gpt-4o-mini"]}))
    expect(gpt.last.locator("title")).to_contain_text("paid-gpt-4o-mini: $0.")
    expect(page.locator("#legend-spend")).to_contain_text("paid-gpt-4o-mini")
    page.select_option("#spend-group", "model")
    expect(spend_bars).to_have_count(drawn(by_model))
    expect(page.locator('#chart-spend rect.bar[data-series="openai/gpt-4o-mini"]').first).to_be_attached()
    expect(page.locator("#legend-spend")).to_contain_text("openai/gpt-4o-mini")
    page.select_option("#spend-group", "channel")
    expect(page.locator('#chart-spend rect.bar[data-series="openai/gpt-4o-mini"]')).to_have_count(0)

    answered = {"a": [n - e for n, e in zip(charts["requests"], charts["errors"], strict=True)]}
    expect(page.locator("#chart-requests rect.bar.ok")).to_have_count(drawn(answered))
    errors = page.locator("#chart-requests rect.bar.err")
    expect(errors).to_have_count(drawn({"e": charts["errors"]}))
    assert errors.first.get_attribute("fill") == "#cf222e"
    expect(page.locator("#legend-requests")).to_contain_text(f"errors ({sum(charts['errors'])})")

    latency = charts["latency"]
    assert {"paid-gpt-4o-mini", "free-qwen3-30b"} <= {r["channel"] for r in latency}
    expect(page.locator("#chart-latency rect.lat-p50")).to_have_count(len(latency))
    expect(page.locator("#chart-latency rect.lat-p95")).to_have_count(len(latency))
    for part in ("p50", "p95"):
        bar = page.locator(f'#chart-latency rect.lat-{part}[data-channel="paid-gpt-4o-mini"]')
        expect(bar.locator("title")).to_contain_text("paid-gpt-4o-mini: p50")
    p50 = page.locator('#chart-latency rect.lat-p50[data-channel="paid-gpt-4o-mini"]').get_attribute("width")
    p95 = page.locator('#chart-latency rect.lat-p95[data-channel="paid-gpt-4o-mini"]').get_attribute("width")
    assert p50 is not None and p95 is not None and 0 < float(p50) <= float(p95)

    share = charts["free_vs_paid"]
    assert share["free"]["requests"] > 0 and share["paid"]["requests"] > 0
    expect(page.locator("#chart-share path.share")).to_have_count(2)
    expect(page.locator("#chart-share path.share.free title")).to_contain_text(
        f"free: {share['free']['requests']} requests"
    )
    expect(page.locator("#legend-share")).to_contain_text(f"paid: {share['paid']['requests']} requests")


def test_the_prompt_tiers_show_who_served_them_and_what_was_saved(proxy: Proxy, page: Page) -> None:
    client = openai_client(proxy)
    proof = "Prove that the square root of 2 is irrational, rigorously, by contradiction."
    for prompt in ("hello there", "hi", proof):
        client.chat.completions.create(model="auto:smart", messages=[{"role": "user", "content": prompt}])
    tiers: dict[str, dict[str, Any]] = {}

    def recorded() -> bool:
        week = admin(proxy).get("/routing/stats", params={"period": "week"}).json()
        tiers.update({t["tier"]: t for t in week["by_tier"]})
        return (
            tiers.get("simple", {}).get("free", 0) >= 2 and tiers.get("reasoning", {}).get("strong", 0) >= 1
        )

    wait_until(recorded, "the auto:smart requests did not reach /routing/stats by_tier")
    reasoning = tiers["reasoning"]
    assert reasoning["cost_usd"] > 0 and reasoning["strongest_cost_usd"] >= reasoning["cost_usd"]
    assert tiers["simple"]["saved_usd"] > 0  # served free; the strongest would have cost something
    open_dashboard(proxy, page)
    rows = page.locator("#tiers tbody tr")
    expect(rows.first).to_be_visible()
    simple = rows.filter(has_text="simple")
    expect(simple.locator("td").nth(2)).to_contain_text(f"{tiers['simple']['free']} (")
    expect(rows.filter(has_text="reasoning").locator("td").nth(4)).to_contain_text(f"{reasoning['strong']} (")
    expect(page.locator("#tiers-empty")).to_be_hidden()


def upstream_of(proxy: Proxy, simulator: Simulator, channel_id: str) -> tuple[str, str]:
    """(simulated provider, upstream model) of a channel: from the config, or a stored channel's params."""
    if channel_id in UPSTREAMS:
        return UPSTREAMS[channel_id]
    stored = stored_channel(proxy, channel_id.split(".")[0]) or {}
    params = stored.get("litellm_params") or {}
    port = int(str(params["api_base"]).rsplit(":", 1)[1].split("/")[0])
    name = next(n for n, p in simulator.ports.items() if p == port)
    return name, str(params["model"]).removeprefix("openai/")


def record_of(proxy: Proxy, request_id: str) -> dict[str, Any]:
    found: dict[str, Any] = {}

    def written() -> bool:
        rows = admin(proxy).get("/routing/records", params={"limit": 50}).json()["records"]
        found.update(next((r for r in rows if r["request_id"] == request_id), {}))
        return bool(found)

    wait_until(written, f"the record of {request_id} was not written")
    return found


def test_a_failed_over_request_shows_why_it_went_where_it_went(
    proxy: Proxy, simulator: Simulator, page: Page, decisions_file: Path
) -> None:
    client = admin(proxy)
    assert client.post("/routing/channels/paid-llama-70b/disable").status_code == 200  # one excluded
    try:
        first = client.get("/routing/explain", params={"model": "auto"}).json()["ranked"][0]["channel"]
        name, upstream = upstream_of(proxy, simulator, first)
        simulator.control(
            name, {"steps": [{"status": 500, "model": upstream, "body": {"error": {"message": "boom"}}}]}
        )
        answer = openai_client(proxy).chat.completions.with_raw_response.create(model="auto", messages=HELLO)
        assert answer.headers["x-router-attempts"] == "2"
        served, request_id = answer.headers["x-router-channel"], answer.headers["x-router-request-id"]
        concrete = openai_client(proxy).chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=HELLO
        )
    finally:
        assert client.post("/routing/channels/paid-llama-70b/enable").status_code == 200

    # /routing/records carries the parsed ticket; a concrete model name has none.
    ticket = record_of(proxy, request_id)["ticket"]
    assert ticket["model"] == "auto" and ticket["signals_as_of"] == "answer"
    assert ticket["candidates"][0]["id"] == first and len(ticket["candidates"][0]["v"]) == len(
        ticket["weights"]
    )
    excluded = ticket["excluded"]["health"]  # paid-llama-70b, and any breaker left open before
    assert excluded >= 1
    assert [(a["channel"], a["error"]) for a in ticket["attempts"]] == [(first, "temporary"), (served, None)]
    assert len(json.dumps(ticket, separators=(",", ":"))) < 1500
    assert record_of(proxy, concrete.headers["x-router-request-id"])["ticket"] is None

    # LiteLLM's own loggers got the decision as its logs view renders it (metadata.routing_decision).
    def probed() -> dict[str, Any] | None:
        if not decisions_file.exists():
            return None
        lines = [json.loads(line) for line in decisions_file.read_text().splitlines() if line.strip()]
        return next((line["routing_decision"] for line in lines if line["request_id"] == request_id), None)

    wait_until(lambda: probed() is not None, "LiteLLM's loggers got no routing_decision")
    decision = probed() or {}
    assert decision["router_model_name"] == "auto" and decision["routed_model"] == served
    assert decision["router_type"] == "smart-router" and decision["cause"].startswith("strategy ")
    assert isinstance(decision["score"], float)
    assert f"failed {first}: temporary" in decision["signals"]
    assert f"excluded by health: {excluded}" in decision["signals"]
    lines = [json.loads(line) for line in decisions_file.read_text().splitlines() if line.strip()]
    plain = next(line for line in lines if line["request_id"] == concrete.headers["x-router-request-id"])
    assert plain["routing_decision"] is None

    open_dashboard(proxy, page)
    row = page.locator(f'#records tbody tr[data-request="{request_id}"]').first
    toggle = row.locator("button.why")
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(
        page.locator(
            f'#records tbody tr[data-request="{concrete.headers["x-router-request-id"]}"] button.why'
        )
    ).to_have_count(0)
    toggle.click()
    panel = page.locator(f"#why-{request_id}")
    expect(panel).to_be_visible()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(panel.locator('[data-fact="strategy"] dd')).to_have_text(ticket["strategy"])
    candidates = panel.locator("table.why-candidates tbody tr")
    expect(candidates).to_have_count(len(ticket["candidates"]))
    expect(candidates.first.locator("td.signal")).to_have_count(len(ticket["weights"]))
    expect(panel.locator(f'table.why-candidates tr[data-channel="{served}"]')).to_have_class("served")
    expect(panel.locator('.why-excluded li[data-filter="health"]')).to_contain_text(f"health: {excluded}")
    attempts = panel.locator(".why-attempts li")
    expect(attempts).to_have_count(2)
    expect(attempts.nth(0)).to_contain_text(re.compile(rf"{re.escape(first)} · \d+ ms · temporary \(500\)"))
    expect(attempts.nth(1)).to_contain_text(f"{served} · ")
    expect(attempts.nth(1)).to_contain_text("answered")
    screenshot(page.locator(f'#records tbody tr.why-row[data-request="{request_id}"]'), "dashboard-why.png")
    # the page's own refresh keeps it open; the keyboard closes and opens it
    with page.expect_response(lambda r: "/routing/records" in r.url, timeout=15_000):
        pass
    expect(panel).to_be_visible()
    toggle.focus()
    page.keyboard.press("Enter")
    expect(panel).to_have_count(0)
    expect(toggle).to_be_focused()
    page.keyboard.press("Space")
    expect(panel).to_be_visible()


def test_a_hedged_request_shows_its_race(proxy: Proxy, simulator: Simulator, page: Page) -> None:
    """A stream whose first channel is late: the why panel names both channels of the race, when
    the hedge went out and who won."""
    client, tried = admin(proxy), []
    for _ in range(4):
        # speed_optimized moves with every first token: the late channel must be the one the
        # request goes to first, or the race is run again
        ranked = client.get("/routing/explain", params={"model": "tag:free", "strategy": "speed_optimized"})
        assert ranked.status_code == 200, ranked.text
        first, second = (c["channel"] for c in ranked.json()["ranked"][:2])
        name, upstream = upstream_of(proxy, simulator, first)
        simulator.control(name, {"steps": [{"model": upstream, "first_token_delay": 3.0, "times": 1}]})
        answer = openai_client(proxy).chat.completions.with_raw_response.create(
            model="tag:free",
            messages=HELLO,
            stream=True,
            extra_headers={"x-router-strategy": "speed_optimized"},
        )
        assert "".join(c.choices[0].delta.content or "" for c in answer.parse() if c.choices)
        request_id = answer.headers["x-router-request-id"]
        hedge = json.loads(record_of(proxy, request_id)["hedge"] or "{}")
        if hedge.get("primary") == first:
            break
        tried.append((first, hedge))
        simulator.control(name, {"clear_steps": True})  # unused: it must not delay a later test
    else:
        pytest.fail(f"explain's first-ranked channel was never the one routed to first: {tried}")
    assert (hedge["hedge"], hedge["winner"]) == (second, second) and hedge["after_ms"] >= 250
    assert answer.headers["x-router-channel"] == second

    open_dashboard(proxy, page)
    page.locator(f'#records tbody tr[data-request="{request_id}"] button.why').first.click()
    race = page.locator(f"#why-{request_id} .why-hedge-box")
    expect(race.locator("h4")).to_have_text("Hedge")
    expect(race.locator(".why-hedge")).to_have_text(
        re.compile(
            rf"^{re.escape(first)} / {re.escape(second)}, hedge after [\d.]+ ms, winner {re.escape(second)}$"
        )
    )


def test_what_if_draws_the_ranking_and_the_excluded_channels(proxy: Proxy, page: Page) -> None:
    client = admin(proxy)
    assert client.post("/routing/channels/paid-llama-70b/disable").status_code == 200
    try:
        prompt = "write a python function that parses a date"
        expected = client.get(
            "/routing/explain",
            params={"model": "auto", "strategy": "cost_first", "limit": 10, "prompt": prompt},
        ).json()
        open_dashboard(proxy, page)
        page.fill("#whatif-model", "auto")
        page.select_option("#whatif-strategy", "cost_first")
        page.fill("#whatif-prompt", prompt)
        page.click("#whatif-submit")
        bars = page.locator("#chart-whatif g.cand")
        expect(bars).to_have_count(len(expected["ranked"]))
        top = expected["ranked"][0]
        first = page.locator(f'#chart-whatif g.cand[data-channel="{top["channel"]}"]')
        expect(first.locator("rect.seg")).to_have_count(
            sum(1 for d in top["signals"].values() if d["contribution"] > 0)
        )
        expect(first.locator("rect.seg").first.locator("title")).to_contain_text(f"{top['channel']} · ")
        expect(first.locator(":scope > title")).to_contain_text(f"#1 {top['channel']}")
        widths = [
            float(w or 0)
            for w in first.locator("rect.seg").evaluate_all("(rs) => rs.map((r) => r.getAttribute('width'))")
        ]
        assert all(w > 0 for w in widths)
        expect(page.locator("#legend-whatif")).to_contain_text("cost \u00d70.6")
        expect(page.locator("#whatif-summary")).to_contain_text("cost_first")
        excluded = page.locator('#whatif-excluded tbody tr[data-channel="paid-llama-70b"]')
        expect(excluded.locator(".filter")).to_have_text("health")
        screenshot(page.locator("#whatif-section"), "dashboard-what-if.png")
        # an unknown name: the API's own message, under the form
        page.fill("#whatif-model", "tag:no-such-tag-anywhere")
        page.click("#whatif-submit")
        expect(page.locator("#whatif-error")).to_contain_text("no-such-tag-anywhere")
    finally:
        assert client.post("/routing/channels/paid-llama-70b/enable").status_code == 200


def test_a_channel_never_observed_shows_a_dash_not_the_prior(
    proxy: Proxy, simulator: Simulator, page: Page
) -> None:
    body = {
        "model_name": "page-unobserved-model",
        "litellm_params": {
            "model": "openai/gpt-4o-mini",
            "api_base": f"{simulator.url('paid')}/v1",
            "api_key": "sk-sim-paid",
        },
        "model_info": {"id": "page-unobserved"},
    }
    assert admin(proxy).post("/routing/channels", json=body).status_code == 201
    try:
        status = channel_status(proxy, "page-unobserved")
        assert status["observations"] == 0 and status["success_rate"] == 0.9  # the prior, still in the API
        observed = channel_status(proxy, "paid-gpt-4o-mini")
        assert observed["observations"] > 0
        open_dashboard(proxy, page)
        cell = page.locator('#channels tbody tr[data-channel="page-unobserved"] td.success')
        expect(cell).to_have_text("—")
        expect(cell).to_have_attribute("title", re.compile("No request observed yet"))
        seen = page.locator('#channels tbody tr[data-channel="paid-gpt-4o-mini"] td.success')
        expect(seen).to_have_text(re.compile(r"^\d+\.\d%$"))  # observed: a measurement
    finally:
        assert admin(proxy).delete("/routing/channels/page-unobserved").status_code == 200


def test_nothing_overflows_at_1280_px(proxy: Proxy, simulator: Simulator, page: Page) -> None:
    """The channels table (a stored channel has six buttons, a long upstream name and an error),
    an open why panel and a what-if chart, all within 1,280 px."""
    body = {
        "model_name": "page-wide-model-with-a-rather-long-name",
        "litellm_params": {
            "model": "openai/meta-llama/llama-3.3-70b-instruct-turbo-with-a-long-suffix",
            "api_base": f"{simulator.url('paid')}/v1",
            "api_key": "sk-sim-paid",
        },
        "model_info": {"id": "page-wide-channel-id"},
    }
    assert admin(proxy).post("/routing/channels", json=body).status_code == 201
    try:
        page.set_viewport_size({"width": 1280, "height": 900})
        open_dashboard(proxy, page)
        expect(
            page.locator('#channels tbody tr[data-channel="page-wide-channel-id"] button.delete')
        ).to_be_visible()
        page.locator("#records tbody button.why").first.click()
        expect(page.locator(".why-panel")).to_be_visible()
        page.fill("#whatif-model", "auto")
        page.click("#whatif-submit")
        expect(page.locator("#chart-whatif g.cand").first).to_be_attached()
        screenshot(page.locator("#channels-section"), "dashboard-channels-1280.png")
        assert page.evaluate("() => document.documentElement.scrollWidth") <= 1280
        wider = page.evaluate(
            """() => [...document.querySelectorAll('#app *')]
                .filter((el) => el.getClientRects().length && el.getBoundingClientRect().right > 1280.5)
                .map((el) => `${el.closest('section')?.id || ''} ${el.closest('table')?.id || ''} ${el.tagName}.${el.className}`
                    + ` ${Math.round(el.getBoundingClientRect().right)}`)"""
        )
        assert wider == []
        box = page.locator("#channels").locator("xpath=..").bounding_box()
        assert box is not None
        for row in page.locator("#channels tbody tr").all():
            for button in row.locator("div.actions button").all():
                bound = button.bounding_box()
                assert bound is not None, row.get_attribute("data-channel")
                assert box["x"] <= bound["x"] and bound["x"] + bound["width"] <= box["x"] + box["width"], (
                    row.get_attribute("data-channel"),
                    button.inner_text(),
                )
    finally:
        assert admin(proxy).delete("/routing/channels/page-wide-channel-id").status_code == 200


def test_the_page_refreshing_itself_keeps_what_is_being_typed(proxy: Proxy, page: Page) -> None:
    open_dashboard(proxy, page)
    typed = {
        "#new-model-name": "half-typed-name",
        "#new-model": "openai/half-typed",
        "#new-api-key": "sk-half-typed",
        "#key-name": "half-typed-client",
        "#key-models": "tag:free",
    }
    for field, value in typed.items():
        page.fill(field, value)
    page.focus("#new-api-key")

    def channels_read(response: Any) -> bool:
        return bool(response.url.endswith("/routing/channels") and response.request.method == "GET")

    for _ in range(2):  # two of the page's own refreshes (every 5 s), not one started here
        with page.expect_response(channels_read, timeout=15_000):
            pass
    expect(page.locator("#channels tbody tr").first).to_be_visible()
    for field, value in typed.items():
        expect(page.locator(field)).to_have_value(value)
    assert page.evaluate("() => document.activeElement.id") == "new-api-key"
    for field in typed:
        page.fill(field, "")


def texts_that_differ(page: Page, language: str) -> list[str]:
    """Elements marked for translation whose text is not the table's for `language`."""
    result: list[str] = page.evaluate(
        """(language) => [...document.querySelectorAll('[data-i18n]')]
            .filter((el) => el.textContent !== TEXT[language][el.dataset.i18n])
            .map((el) => el.dataset.i18n + ': ' + el.textContent)""",
        language,
    )
    return result


def test_chinese_covers_the_new_sections(proxy: Proxy, page: Page) -> None:
    open_dashboard(proxy, page)
    english, chinese = page.evaluate("() => [Object.keys(TEXT.en).sort(), Object.keys(TEXT.zh).sort()]")
    assert english == chinese, set(english) ^ set(chinese)
    untranslated = page.evaluate(
        "() => [...document.querySelectorAll('[data-i18n]')].map((e) => e.dataset.i18n).filter((k) => !(k in TEXT.zh))"
    )
    assert untranslated == []

    page.click("#lang")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.locator('h3[data-i18n="addChannel"]')).to_have_text("添加通道")
    expect(page.locator('h2[data-i18n="clientKeys"]')).to_have_text("客户端密钥")
    expect(page.locator('h2[data-i18n="charts"]')).to_contain_text("最近 30 天")
    expect(page.locator('h3[data-i18n="requestsPerDay"]')).to_have_text("每日请求与错误")
    expect(page.locator('h3[data-i18n="shareChart"]')).to_have_text("免费与付费请求占比")
    expect(page.locator('h2[data-i18n="whatIf"]')).to_have_text("假设分析")
    expect(page.locator('#records th[data-i18n="why"]')).to_have_text("原因")
    expect(page.locator("#records tbody button.why").first).to_contain_text("原因")
    config_row = page.locator('#channels tbody tr[data-channel="paid-gpt-4o-mini"]')
    expect(config_row.locator("button.disable")).to_have_text("停用")
    expect(config_row.locator("button.test")).to_have_text("测试")
    expect(config_row.locator(".source")).to_have_text("配置文件")
    expect(page.locator("#legend-requests")).to_contain_text("错误")
    assert texts_that_differ(page, "zh") == []

    page.click("#lang")
    expect(page.locator('h3[data-i18n="addChannel"]')).to_have_text("Add channel")
    expect(config_row.locator("button.disable")).to_have_text("Disable")
    assert texts_that_differ(page, "en") == []


def test_the_page_fits_a_narrow_screen(proxy: Proxy, page: Page) -> None:
    page.set_viewport_size({"width": 375, "height": 800})
    try:
        open_dashboard(proxy, page)
        expect(page.locator("#chart-requests rect.bar").first).to_be_attached()
        assert page.evaluate("() => document.documentElement.scrollWidth") <= 375
        boxes: list[Locator] = [
            page.locator(f"#chart-{name}") for name in ("spend", "requests", "latency", "share")
        ]
        boxes += [page.locator("#add-channel"), page.locator("#issue-key"), page.locator("header")]
        for box in boxes:
            bound = box.bounding_box()
            assert bound is not None and bound["x"] >= 0 and bound["x"] + bound["width"] <= 375, box
    finally:
        page.set_viewport_size({"width": 1280, "height": 900})


def test_the_page_logged_no_errors(page: Page, browser_errors: list[str]) -> None:
    """Last: over every test above. The collector is proven first with an error of our own."""
    page.evaluate("() => { setTimeout(() => { throw new Error('probe of the collector'); }); }")
    deadline = time.monotonic() + 10
    while not any("probe of the collector" in e for e in browser_errors):
        assert time.monotonic() < deadline, "the page's errors are not collected"
        page.wait_for_timeout(50)
    unexpected = [
        e
        for e in browser_errors
        if "probe of the collector" not in e and not PROVOKED.match(e.removeprefix("console: "))
    ]
    assert unexpected == []
