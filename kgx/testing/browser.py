"""Headless Chromium through Selenium and Debian's chromedriver, for the explorer and viz tests."""

from __future__ import annotations

import os
import shutil


def chromium_paths() -> tuple[str, str]:
    """The system Chromium and chromedriver; CI (which installs them) fails without them."""
    import pytest

    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not (browser and driver):
        if os.environ.get("CI"):
            pytest.fail("chromium and chromium-driver are missing: .ci/run installs them with apt")
        pytest.skip("install Debian's chromium and chromium-driver to run the browser tests")
    return browser, driver


def start_chromium(width: int = 1400, height: int = 900):
    """A headless Chromium WebDriver; the caller quits it."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary, driver_path = chromium_paths()
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                f"--window-size={width},{height}", "--disable-gpu"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_page_load_timeout(60)
    return driver


def wait_for(driver, condition, timeout: float = 60):
    """Poll `condition(driver)` until it is truthy; its value."""
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(condition)
