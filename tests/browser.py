"""A live server with the demo data and Debian's Chromium driven by Playwright, for the browser tests and
`make screenshots`.

``Console`` starts gunicorn on a prepared database (the default programme, the demo partners, customers
and keys, two admins) and opens pages in a headless Chromium (``/usr/bin/chromium``: no browser is
downloaded), recording every request each page makes.
"""
from __future__ import annotations

import re
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

from playwright.sync_api import Page, sync_playwright

from servers import Client, Server, cli, database

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-default-apps"]
DESK = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


class Console:
    """The served console: its address, the demo keys (shell variable → key), and pages to open."""

    def __init__(self, server: Server, keys: dict[str, str], browser):
        self.server, self.keys, self.browser = server, keys, browser
        self.base = f"http://{server.address[0]}:{server.port}"
        self.requests: list[str] = []

    def api(self, key_name: str) -> Client:
        return Client(self.server.address, self.keys[key_name])

    def page(self, viewport=DESK, language: str = "en") -> Page:
        context = self.browser.new_context(viewport=viewport, locale="zh-CN" if language == "zh" else "en-US",
                                           extra_http_headers={"Accept-Language": "zh-CN" if language == "zh"
                                                               else "en"})
        page = context.new_page()
        page.on("request", lambda request: self.requests.append(request.url))
        page.set_default_timeout(15_000)
        return page

    def sign_in(self, key_name: str, **options) -> Page:
        page = self.page(**options)
        page.goto(self.base + "/console/")
        page.get_by_label(re.compile("API key|API 密钥")).fill(self.keys[key_name])
        page.get_by_role("button", name=re.compile("^(Sign in|登录)$")).click()
        return page

    def hosts(self) -> set[str]:
        return {urlsplit(url).netloc for url in self.requests if not url.startswith(("data:", "about:"))}


@contextmanager
def chromium():
    """Debian's Chromium, headless, for as long as the block runs."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def console(backend: str, tmp_path: Path, browser):
    """A started server on a prepared database, with ``browser`` to open its pages; stopped at the end."""
    with database(backend, tmp_path) as url:
        cli(url, "db", "upgrade")
        cli(url, "rules", "load", "--activate")
        keys = dict(re.findall(r"^export (\w+)=(\S+)$", cli(url, "demo"), re.MULTILINE))
        keys["ADMIN3_KEY"] = cli(url, "keys", "create", "--role", "admin", "--name", "carol").splitlines()[-1]
        with Server(url, tmp_path / "gunicorn.log") as server:
            yield Console(server, keys, browser)
