"""The dashboard in a real browser: headless Chromium (the Debian package) driven by
Playwright. tests/e2e/dashboard.rs starts the app and runs this with:

    AJ_URL          the app
    AJ_API_KEY      a key of role full, AJ_READ_KEY one of role read (same tenant)
    AJ_PNG_BASE64   a PNG to make a thumbnail of
    AJ_SCREENSHOTS  where to write the README's screenshots
    CHROMIUM        the browser binary

Jobs are submitted through the API, as a client would; the checks are on what the pages
show. Every wait is Playwright's `expect` (polls until its deadline), never a sleep.
Prints one line per check and exits non-zero on the first failure.
"""

import json
import os
import re
import urllib.request

from playwright.sync_api import Page, expect, sync_playwright

URL = os.environ["AJ_URL"]
FULL_KEY = os.environ["AJ_API_KEY"]
READ_KEY = os.environ["AJ_READ_KEY"]
PNG = os.environ["AJ_PNG_BASE64"]
SHOTS = os.environ["AJ_SCREENSHOTS"]
TIMEOUT_MS = 30_000

expect.set_options(timeout=TIMEOUT_MS)


def api(method, path, body=None, key=FULL_KEY):
    request = urllib.request.Request(
        URL + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"authorization": f"Bearer {key}", "content-type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"null")


def submit(kind, input_, **options):
    return api("POST", "/jobs", {"kind": kind, "input": input_, **options})["id"]


def check(what):
    print(f"ok: {what}", flush=True)


def sign_in(page: Page, key):
    page.goto(URL + "/ui/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    assert key not in page.url, "the key must never be in a URL"


def overview(page: Page):
    done = [submit("echo", {"n": n}) for n in range(12)]
    submit("fail", {"always": True}, max_attempts=1)
    sign_in(page, FULL_KEY)
    check("signed in with the key typed into a labelled field; the URL never holds it")
    stored = page.evaluate("() => sessionStorage.getItem('async-jobs.api-key')")
    assert stored == FULL_KEY, "the key is kept in the tab's session storage"
    expect(page.locator("#whoami")).to_have_text("Tenant default")
    # The counts fill in and refresh themselves as the jobs finish.
    expect(page.locator('[data-stat="counts.succeeded"]')).to_have_text("12")
    expect(page.locator('[data-stat="counts.failed"]')).to_have_text("1")
    expect(page.locator("#throughput tbody tr")).to_have_count(10)
    check("overview: counts by status refresh on their own; 10 minutes of throughput")
    page.screenshot(path=os.path.join(SHOTS, "dashboard-overview.png"), full_page=True)
    return done


def job_progress_and_thumbnail(page: Page):
    # A thumbnail behind a sleep: the page shows it queued, then running, then the image.
    sleeper = submit("sleep", {"ms": 2500})
    page.goto(f"{URL}/ui/jobs/{sleeper}")
    expect(page.locator("#j-status")).to_have_text(re.compile("queued|running"))
    expect(page.locator("#j-status")).to_have_text("running")
    expect(page.locator("#j-status")).to_have_text("succeeded")
    expect(page.locator("#j-progress")).to_have_attribute("value", "100")
    expect(page.locator("#j-result pre")).to_contain_text('"slept_ms": 2500')
    check("job detail: queued or running, then succeeded, progress 100, result shown")

    thumb = submit("thumbnail", {"image": PNG, "width": 32, "height": 32})
    page.goto(f"{URL}/ui/jobs/{thumb}")
    expect(page.locator("#j-status")).to_have_text("succeeded")
    image = page.locator("#result-image")
    expect(image).to_be_visible()
    expect(image).to_have_attribute("alt", re.compile("thumbnail result"))
    width = page.evaluate("() => document.getElementById('result-image').naturalWidth")
    assert 0 < width <= 32, f"the thumbnail is at most 32 wide, got {width}"
    expect(page.locator("#j-input")).to_contain_text('"width": 32')
    check("job detail: a thumbnail's result is shown inline as an image; input shown")
    page.screenshot(path=os.path.join(SHOTS, "dashboard-job.png"), full_page=True)


def filters(page: Page):
    hashed = submit("hash", {"data": "abc"})
    page.goto(URL + "/ui/jobs")
    page.get_by_label("Kind").select_option("hash")
    page.get_by_role("button", name="Apply").click()
    rows = page.locator("#jobs tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(hashed)
    assert "kind=hash" in page.url and FULL_KEY not in page.url
    page.get_by_label("Kind").select_option("")
    page.get_by_label("Status").select_option("failed")
    page.get_by_role("button", name="Apply").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("fail")
    page.get_by_label("Status").select_option("")
    page.get_by_label("Id starts with").fill(hashed[:13])
    page.get_by_role("button", name="Apply").click()
    expect(rows.first).to_contain_text(hashed)
    check("jobs: filters by kind, status and id prefix, in the page's URL (never the key)")


def bulk(page: Page):
    # Two delayed sleeps queued, cancelled by "Cancel all matching" on a filter.
    for _ in range(2):
        submit("sleep", {"ms": 1}, delay_ms=600_000)
    page.goto(URL + "/ui/jobs")
    page.get_by_label("Kind").select_option("sleep")
    page.get_by_label("Status").select_option("queued")
    page.get_by_role("button", name="Apply").click()
    rows = page.locator("#jobs tbody tr")
    expect(rows).to_have_count(2)
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Cancel all matching").click()
    status = page.locator("#status")
    expect(status).to_contain_text("Cancelled 2 job(s)")
    expect(page.locator("#empty")).to_be_visible()
    # What it came to stays through the list's own refreshes: one shows a job queued
    # since.
    later = submit("sleep", {"ms": 1}, delay_ms=600_000)
    expect(rows.first).to_contain_text(later)
    expect(status).to_contain_text("Cancelled 2 job(s)")
    api("DELETE", f"/jobs/{later}")
    check("bulk cancel: cancels what the filter matches, and says so through refreshes")


def cancel(page: Page):
    long = submit("sleep", {"ms": 600_000}, delay_ms=600_000)
    page.goto(f"{URL}/ui/jobs/{long}")
    expect(page.locator("#j-status")).to_have_text("queued")
    page.get_by_role("button", name="Cancel").click()
    expect(page.locator("#j-status")).to_have_text("cancelled")
    expect(page.get_by_role("button", name="Cancel")).to_be_hidden()
    assert api("GET", f"/jobs/{long}")["status"] == "cancelled"
    check("cancel: the button cancels a queued job, and the page shows it")
    # Retry it as a new job: the new page names its origin.
    page.get_by_role("button", name="Retry as a new job").click()
    expect(page.locator("#j-retry-of")).to_have_text(long)
    check("retry: a cancelled job retried as a new job that links its origin")


def read_only(page: Page):
    # Signed out on a job's page: the page starts afresh, keeping nothing the last key
    # read for the next one to see.
    expect(page.locator("#j-kind")).not_to_have_text("–")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.locator("#signin-error")).to_have_text("Signed out.")
    expect(page.locator("#j-kind")).to_have_text("–")
    assert page.evaluate("() => sessionStorage.getItem('async-jobs.api-key')") is None
    check("sign out: the page starts afresh, nothing of the last key's job left on it")
    page.get_by_label("API key").fill(READ_KEY)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#whoami")).to_have_text("Tenant default (read-only)")
    waiting = submit("echo", {}, delay_ms=600_000)
    page.goto(f"{URL}/ui/jobs/{waiting}")
    expect(page.locator("#j-status")).to_have_text("queued")
    expect(page.get_by_role("button", name="Cancel")).to_have_count(0)
    expect(page.locator(".actions")).to_be_hidden()
    page.goto(URL + "/ui/jobs")
    expect(page.locator("#jobs tbody tr").first).to_be_visible()
    expect(page.get_by_role("button", name="Cancel all matching")).to_have_count(0)
    check("read-only key: no action buttons on the job or the jobs page")


def keyboard_and_phone(browser):
    page = browser.new_page(viewport={"width": 390, "height": 844})
    sign_in(page, FULL_KEY)
    # On a fresh page the first Tab reaches the skip link; Enter moves focus to the
    # content, and the next Tab to the first link in it.
    page.goto(URL + "/ui/")
    expect(page.locator("#content")).to_be_visible()
    page.keyboard.press("Tab")
    expect(page.locator("a.skip")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Queued")).to_be_focused()
    for path in ["/ui/", "/ui/jobs"]:
        page.goto(URL + path)
        expect(page.locator("#content")).to_be_visible()
        overflow = page.evaluate(
            "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{path} is wider than a phone by {overflow}px"
    check("keyboard: skip link first; phone width: no page wider than the screen")
    page.close()


def main():
    executable = os.environ["CHROMIUM"]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, headless=True, args=["--no-sandbox"]
        )
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors = []
        page.on("pageerror", lambda error: errors.append(error))
        for step in (overview, job_progress_and_thumbnail, filters, bulk, cancel, read_only):
            step(page)
            assert not errors, f"script errors on the page: {errors}"
        keyboard_and_phone(browser)
        browser.close()
    print("dashboard: every check passed")


if __name__ == "__main__":
    main()
