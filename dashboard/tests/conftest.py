import pytest


@pytest.fixture(scope="session")
def chromium():
    """One Chromium for the whole run, whichever browser test module asks first
    (the `browser` fixture of test_browser.py, which the other modules import):
    Playwright's sync API cannot be started twice in one thread."""
    from dashboard.tests.test_browser import CHROMIUM_ARGS, ensure_chromium, playwright_api

    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=ensure_chromium(),
                                             args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()
