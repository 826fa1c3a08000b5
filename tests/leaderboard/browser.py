"""Headless Chromium for the site tests, driven by Selenium through Debian's `chromium-driver`:
open a page at a given viewport, evaluate JavaScript, collect its console errors, take a
screenshot.

The driver and the browser are named by path, so Selenium Manager never looks for (or
downloads) either. Chromium runs with its own throw-away profile.
"""

from __future__ import annotations

import base64
import shutil
from pathlib import Path
from typing import Any

from selenium import webdriver
from selenium.common.exceptions import JavascriptException, UnexpectedAlertPresentException
from selenium.webdriver.chrome.service import Service

FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run", "--no-default-browser-check",
    "--disable-extensions", "--mute-audio", "--disable-dev-shm-usage",
)


class BrowserError(RuntimeError):
    pass


def _binary(*names: str) -> str | None:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    return None


class Browser:
    def __init__(self, profile: Path):
        chromium = _binary("chromium", "chromium-browser")
        driver = _binary("chromedriver")
        if chromium is None or driver is None:
            raise BrowserError("the page tests need Debian's `chromium` and `chromium-driver` (`make system-deps`)")
        options = webdriver.ChromeOptions()
        options.binary_location = chromium
        for flag in (*FLAGS, f"--user-data-dir={profile}"):
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        # An alert() would block every later command: dismiss it and report it (problems()).
        options.set_capability("unhandledPromptBehavior", "dismiss and notify")
        self.driver = webdriver.Chrome(options=options, service=Service(executable_path=driver))
        self.driver.set_page_load_timeout(60)
        self._current: Page | None = None

    def open(self, url: str, width: int = 1100, height: int = 900, mobile: bool = False) -> Page:
        self.collect()  # what the page before this one logged stays with it
        self.driver.switch_to.new_window("tab")
        page = Page(self, self.driver.current_window_handle)
        self._current = page
        self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile})
        self.driver.get(url)
        return page

    def collect(self) -> None:
        """Move the browser log gathered so far to the page it came from (the one in front)."""
        if self._current is not None:
            self._current.log.extend(self.driver.get_log("browser"))

    def focus(self, page: Page) -> None:
        if self._current is not page:
            self.collect()
            self.driver.switch_to.window(page.handle)
            self._current = page

    def close(self) -> None:
        self.driver.quit()


class Page:
    def __init__(self, browser: Browser, handle: str):
        self.browser, self.handle = browser, handle
        self.log: list[dict[str, Any]] = []
        self.dialogs: list[str] = []

    def eval(self, expression: str) -> Any:
        self.browser.focus(self)
        try:
            return self.browser.driver.execute_script(f"return ({expression});")
        except UnexpectedAlertPresentException as exc:
            self.dialogs.append(f"dialog: {exc.alert_text!r}")
            return self.eval(expression)
        except JavascriptException as exc:
            raise BrowserError(f"page script failed: {exc.msg}") from None

    def problems(self) -> list[str]:
        """Console errors, uncaught exceptions, dialogs and resources that failed to load, of
        this page so far (Chromium logs all of them at level SEVERE)."""
        self.eval("0")
        self.browser.collect()
        found = list(self.dialogs)
        for entry in self.log:
            if entry.get("level") == "SEVERE":
                message = entry.get("message", "")
                kind = "exception" if "Uncaught" in message else "console" if entry.get("source") == "console-api" else "log"
                found.append(f"{kind}: {message}")
        return found

    def screenshot(self, path: Path) -> Path:
        self.browser.focus(self)
        data = self.browser.driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})
        path.write_bytes(base64.b64decode(data["data"]))
        return path
