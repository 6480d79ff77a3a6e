//! The dashboard (`/ui/...`, the third component): its pages over HTTP, and the pages
//! in a real browser, headless Chromium driven by Playwright (tests/dashboard/browser.py),
//! which also takes the README's screenshots (`make screenshots`: docs/screenshots/).

use std::io::Write as _;
use std::path::PathBuf;
use std::process::Command;

use base64::Engine as _;
use e2e::{inputs, spawn_app};
use serde_json::json;

/// The Chromium binary: `CHROMIUM`, else Debian's (`make setup` installs it).
fn chromium() -> PathBuf {
    if let Some(path) = std::env::var_os("CHROMIUM") {
        return path.into();
    }
    // Debian's binary itself, else whatever `chromium` is on PATH (what `make setup`
    // looks for).
    let debian = PathBuf::from("/usr/lib/chromium/chromium");
    if debian.exists() {
        return debian;
    }
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("chromium"))
            .find(|candidate| candidate.is_file())
    });
    on_path.unwrap_or_else(|| {
        panic!("no chromium: run `make setup` (it installs the chromium package), or set CHROMIUM")
    })
}

#[test]
fn the_pages_are_served_with_a_strict_policy_and_hold_no_data() {
    let app = spawn_app();
    for path in [
        "/ui",
        "/ui/",
        "/ui/jobs",
        "/ui/jobs/0193b5a2-6f1e-7c3d-9a41-2b8e5d7f0c16",
    ] {
        let reply = app.request_raw("GET", path, &[], None);
        reply.expect_status(200);
        assert_eq!(reply.media_type().as_deref(), Some("text/html"), "{path}");
        let policy = reply.header("content-security-policy").unwrap_or_default();
        assert!(policy.contains("default-src 'none'"), "{path}: {policy}");
        assert!(policy.contains("script-src 'self'"), "{path}: {policy}");
        assert!(
            !reply.text().contains("<script>"),
            "{path}: no inline script"
        );
    }
    let script = app.request_raw("GET", "/ui/app.js", &[], None);
    script.expect_status(200);
    assert_eq!(script.media_type().as_deref(), Some("text/javascript"));
    app.request_raw("GET", "/ui/jobs/%3Cscript%3E", &[], None)
        .expect_status(404);
    app.request_raw("POST", "/ui/jobs", &[], None)
        .expect_status(405);
    // The API beside it is unchanged.
    app.request_raw("GET", "/jobs", &[], None)
        .expect_status(401);
}

#[test]
fn the_dashboard_works_in_a_real_browser() {
    // Arrange: the test's tenant, a read-only key of it, and a PNG.
    let app = spawn_app();
    let full = app.api_key.clone().expect("the test tenant's key");
    let reply = app.admin(
        "POST",
        "/admin/tenants/default/keys",
        Some(&json!({ "role": "read" })),
    );
    reply.expect_status(201);
    let read = reply.json()["key"].as_str().unwrap().to_owned();
    let png = base64::engine::general_purpose::STANDARD.encode(inputs::png(96, 64));
    let root = testkit::workspace_root();
    let screenshots = screenshots_dir(&root);
    std::fs::create_dir_all(&screenshots).unwrap();
    // Those of an earlier run must not pass for this run's.
    for shot in SHOTS {
        let _ = std::fs::remove_file(screenshots.join(shot));
    }

    // Act
    let output = Command::new(root.join(".venv/bin/python"))
        .arg(root.join("tests/dashboard/browser.py"))
        .env("AJ_URL", &app.base_url)
        .env("AJ_API_KEY", &full)
        .env("AJ_READ_KEY", &read)
        .env("AJ_PNG_BASE64", &png)
        .env("AJ_SCREENSHOTS", &screenshots)
        .env("CHROMIUM", chromium())
        .output()
        .expect("run tests/dashboard/browser.py (make setup installs Playwright into .venv)");

    // Assert
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "the browser checks failed:\n{log}");
    let passed = log.lines().filter(|l| l.starts_with("ok: ")).count();
    assert!(passed >= 11, "only {passed} checks ran:\n{log}");
    // Printed past the harness' capture, so that `make test` shows it.
    let _ = writeln!(
        std::io::stderr(),
        "dashboard: {passed} browser checks passed in headless Chromium on {}; screenshots in {}",
        if testkit::on_spin() {
            "Spin"
        } else {
            "the devhost"
        },
        screenshots.display()
    );
    for shot in SHOTS {
        let bytes = std::fs::read(screenshots.join(shot)).expect(shot);
        assert!(bytes.starts_with(b"\x89PNG"), "{shot} is a PNG");
    }
}

/// The screenshots tests/dashboard/browser.py takes, which the README shows.
const SHOTS: [&str; 2] = ["dashboard-overview.png", "dashboard-job.png"];

/// Where the screenshots go: the README's own (`docs/screenshots/`) only when asked,
/// with `SCREENSHOTS_WRITE=1` (`make screenshots`), so that a test run leaves the
/// checkout as it found it; else beside the build.
fn screenshots_dir(root: &std::path::Path) -> PathBuf {
    if std::env::var("SCREENSHOTS_WRITE").is_ok_and(|v| v == "1") {
        root.join("docs/screenshots")
    } else {
        root.join("target/screenshots")
    }
}
