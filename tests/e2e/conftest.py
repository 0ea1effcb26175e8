"""A real headless Chromium (Debian's package) driven by Playwright, against a live server."""

import os
import shutil
import tempfile
from pathlib import Path

import pytest

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
# Playwright's sync API keeps an event loop in the test thread; Django's ORM would then refuse
# to run there, although nothing async touches the database. Tests only.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
CHROMIUM = os.environ.get("DASH_CHROMIUM", "/usr/bin/chromium")


@pytest.fixture(scope="session")
def chromium():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: `make test` installs it (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="dash-chromium-")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
            ],
        )
        yield browser
        browser.close()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def page(chromium):
    context = chromium.new_context(viewport={"width": 1100, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


@pytest.fixture
def page_without_js(chromium):
    """A browser with JavaScript off: the pages must work as plain HTML forms."""
    context = chromium.new_context(viewport={"width": 1100, "height": 900}, java_script_enabled=False)
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


class AsgiLiveServer:
    """The real ASGI application (pages, customer API, websockets) under uvicorn, in a thread
    of this process, on the test database. `restart()` drops every connection (websockets
    included) and serves again on the same port, as a deploy would."""

    def __init__(self):
        import socket

        from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

        from dash.asgi import application

        self.app = ASGIStaticFilesHandler(application)  # static files, as WhiteNoise would serve them after collectstatic
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = None
        self.thread = None

    @staticmethod
    def _fresh_channel_layer() -> None:
        """The consumers receive on the process's channel layer from the server's event loop;
        a layer left with the receives of a loop that is gone would hang the next one's."""
        from channels.layers import DEFAULT_CHANNEL_LAYER, channel_layers

        channel_layers.backends.pop(DEFAULT_CHANNEL_LAYER, None)

    def start(self) -> "AsgiLiveServer":
        import threading
        import time

        import uvicorn

        self._fresh_channel_layer()
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, lifespan="off", log_level="warning", ws="websockets-sansio")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="asgi-live-server", daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise AssertionError("the ASGI live server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.should_exit = True
            self.thread.join(15)
            self.server = None
            self._fresh_channel_layer()

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture
def asgi_live_server(transactional_db, settings):
    """Like pytest-django's live_server, but ASGI: websockets work. Every connection a request
    opens is closed after it (CONN_MAX_AGE 0), so none outlives the test database."""
    from django.db import connections

    max_age = connections.settings["default"].get("CONN_MAX_AGE", 0)
    connections.settings["default"]["CONN_MAX_AGE"] = 0
    server = AsgiLiveServer().start()
    try:
        yield server
    finally:
        server.stop()
        connections.settings["default"]["CONN_MAX_AGE"] = max_age
