"""Browser tests: Debian's Chromium, driven by Playwright, against a real `photogen serve`.

Chromium comes from the system (`apt-get install chromium`), never from `playwright install`.
Everything the page loads must come from the server on 127.0.0.1; any other request is
aborted and fails the test.
"""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.serving import serve_process

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ROOT = Path(__file__).resolve().parents[2]
SCREENS = ROOT / "test-output" / "screens"


@dataclass
class Server:
    url: str
    home: Path
    api_key: str | None = None

    def client(self) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)


@contextmanager
def serving(home: Path, models_dir: Path, *, exists_ok: bool = False):
    """`python -m photogen serve` on a free port of 127.0.0.1, with the session's tiny model."""
    home.mkdir(parents=True, exist_ok=exists_ok)
    (home / "models").symlink_to(models_dir)
    env = {**os.environ, "PHOTOGEN_HOME": str(home), "PHOTOGEN_DEVICE": "cpu", "PHOTOGEN_OFFLINE": "1"}
    with serve_process(env, log=home / "serve.log") as process:
        yield Server(process.url, home)


def delete_all_uploads(server: Server) -> None:
    """Every upload of the server's owner, with everything made from it (the cascade delete)."""
    with server.client() as api:
        for upload in api.get("/v1/uploads", params={"limit": 500}).json():
            api.delete(f"/v1/uploads/{upload['id']}").raise_for_status()


@pytest.fixture(scope="session")
def served(tmp_path_factory, settings, tiny) -> Server:
    """One open server (no API keys) for the browser tests: starting one takes seconds."""
    with serving(tmp_path_factory.mktemp("web") / "home", settings.models_dir) as server:
        yield server


@pytest.fixture
def fresh(served) -> Server:
    """The server, emptied after the test so the next one starts from nothing."""
    yield served
    delete_all_uploads(served)


@pytest.fixture
def fresh_with_key(tmp_path, settings, tiny) -> Server:
    """A server of its own with an API key, so that every request needs it.

    Its own: once a key exists, keys stay required on that server (revoking them does not open it)."""
    from photogen.config import Settings
    from photogen.services.keys import KeyService
    from photogen.store.database import Database, migrate

    home = tmp_path / "home"
    home.mkdir()
    db = Database(Settings(home=home).resolved_database_url())
    try:
        migrate(db.engine)
        created = KeyService(db).create("alice", "browser test")
    finally:
        db.dispose()
    with serving(home, settings.models_dir, exists_ok=True) as server:
        yield Server(server.url, home, created.key)


# -- the browser, through pytest-playwright's fixtures -------------------------------------------

# How long an `expect` waits for the page to get there when the test names no time of its own. Playwright's 5 s
# is short for a loaded 2-core machine, where the first page of a fresh server can take longer to be ready; an
# assertion that passes ends as soon as it holds, so a longer deadline costs nothing.
EXPECT_TIMEOUT_MS = 20_000


@pytest.fixture(scope="session", autouse=True)
def expect_timeout():
    from playwright.sync_api import expect

    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    yield
    expect.set_options(timeout=5_000)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(chromium).is_file():
        pytest.skip("Debian's Chromium is not installed: apt-get install -y chromium")
    return {**browser_type_launch_args, "executable_path": chromium, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    """Each test sets its own screen size (a laptop's, a phone's)."""
    return {**browser_context_args, "accept_downloads": True, "locale": "en-GB", "timezone_id": "UTC"}


@dataclass
class Watch:
    """What went wrong in the page: script errors, and requests to anywhere but 127.0.0.1."""

    errors: list[str] = field(default_factory=list)
    failed_loads: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)

    def assert_clean(self, *, failed_loads_expected: bool = False) -> None:
        assert not self.outside, f"the page tried to reach other hosts: {self.outside}"
        assert not self.errors, f"the page had errors: {self.errors}"
        assert failed_loads_expected or not self.failed_loads, f"requests failed: {self.failed_loads}"


def watch(context, page) -> Watch:
    seen = Watch()

    def guard(route):
        if urlsplit(route.request.url).hostname != "127.0.0.1":
            seen.outside.append(route.request.url)
            route.abort()
        else:
            route.continue_()

    context.route("**/*", guard)
    page.on("pageerror", lambda exc: seen.errors.append(f"pageerror: {exc}"))

    def console(msg):
        if msg.type == "error" and not msg.text.startswith("Failed to load resource"):  # those are in failed_loads
            seen.errors.append(f"console: {msg.text}")

    def response(resp):
        if resp.status >= 400:
            seen.failed_loads.append(f"{resp.request.method} {resp.url} -> {resp.status}")

    page.on("console", console)
    page.on("response", response)
    return seen


@pytest.fixture
def watched(context, page) -> Watch:
    return watch(context, page)


@pytest.fixture
def watcher():
    """watcher(context, page) -> Watch, for pages in contexts a test makes itself."""
    return watch


DOCS_SCREENS = ROOT / "docs" / "screenshots"


@pytest.fixture
def screenshot():
    """screenshot(page, "name") saves the whole page under test-output/screens/ for a reviewer. With `docs` the
    shot is one of the README's, refreshed under docs/screenshots/ when PHOTOGEN_DOCS_SCREENSHOTS=1."""
    SCREENS.mkdir(parents=True, exist_ok=True)

    def take(page, name: str, *, full_page: bool = True, docs: str | None = None) -> Path:
        path = SCREENS / f"{name}.png"
        page.screenshot(path=str(path), full_page=full_page, animations="disabled")
        if docs and os.environ.get("PHOTOGEN_DOCS_SCREENSHOTS") == "1":
            DOCS_SCREENS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(DOCS_SCREENS / f"{docs}.png"), full_page=False, animations="disabled")
        return path

    return take
