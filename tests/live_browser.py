"""A headless Chromium for the live page's tests and scripts (one place for how it starts).

Debian's ``chromium`` and ``chromium-driver`` (``./dev test`` installs them), driven
through Selenium. As root Chromium needs ``--no-sandbox``; the other switches keep it
from reaching the network (updates, sync, first-run pages) and give it an empty
profile of its own.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

__all__ = ["CHROMEDRIVER", "CHROMIUM", "CHROMIUM_ARGS", "missing", "start_chromium"]

#: Debian's browser and its driver (packages chromium, chromium-driver).
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
#: Switches for a headless run as root with no network of its own (Chromium's switch list:
#: https://peter.sh/experiments/chromium-command-line-switches/).
CHROMIUM_ARGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)


def missing() -> str | None:
    """Why the browser cannot run here (a missing program or module), or None."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not (path.is_file() and os.access(path, os.X_OK)) and not shutil.which(path.name):
            return f"{path} is missing (Debian packages chromium and chromium-driver)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pyproject.toml's host dependencies)"
    return None


def _program(path: Path) -> str:
    return str(path) if path.is_file() else str(shutil.which(path.name))


def start_chromium(user_data_dir: Path, width: int = 1400, height: int = 1000):
    """A headless Chromium (a Selenium ``WebDriver``) with an empty profile in
    ``user_data_dir`` and a window of ``width`` x ``height`` CSS px. Quit it when done.

    Raises:
        selenium.common.WebDriverException: The browser or its driver did not start.
    """
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = _program(CHROMIUM)
    for arg in CHROMIUM_ARGS:
        options.add_argument(arg)
    options.add_argument(f"--user-data-dir={user_data_dir}")
    options.add_argument(f"--window-size={width},{height}")
    return webdriver.Chrome(options=options, service=Service(_program(CHROMEDRIVER)))
