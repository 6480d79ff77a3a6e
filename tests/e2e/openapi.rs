//! The API's OpenAPI description (`GET /openapi.json`, docs/openapi.json), held to the
//! app from outside by independent tools from `.venv` (`make setup`):
//! - `openapi-spec-validator` checks it against the OpenAPI 3.1 meta-schema;
//! - Schemathesis fuzzes every operation with all its checks, its stateful phase
//!   following the links (tests/openapi/schemathesis.toml);
//! - `openapi-python-client` generates a typed client, which runs the README's round
//!   trip (clients/python/roundtrip.py).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use e2e::app::{TEST_ADMIN_TOKEN, TestApp, spawn_app, spawn_app_with};
use serde_json::Value;

/// A tool installed in the project's virtual environment.
fn venv_tool(name: &str) -> PathBuf {
    let path = testkit::workspace_root().join(".venv/bin").join(name);
    assert!(
        path.exists(),
        "{} is missing: run `make setup` (it installs tests/requirements.txt)",
        path.display()
    );
    path
}

fn run(command: &mut Command) -> Output {
    command
        .output()
        .unwrap_or_else(|e| panic!("run {command:?}: {e}"))
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// `GET /openapi.json` without a key, as JSON.
fn served_description(app: &TestApp) -> Value {
    let reply = app.request_raw("GET", "/openapi.json", &[], None);
    reply.expect_status(200);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    reply.json()
}

fn validate(path: &Path) -> Output {
    run(Command::new(venv_tool("openapi-spec-validator")).arg(path))
}

#[test]
fn the_description_is_served_to_anyone_and_is_valid_openapi_3_1() {
    let app = spawn_app();
    let served = served_description(&app);
    let checked_in: Value = serde_json::from_str(
        &std::fs::read_to_string(testkit::workspace_root().join("docs/openapi.json"))
            .expect("read docs/openapi.json"),
    )
    .expect("docs/openapi.json is JSON");
    assert_eq!(served, checked_in, "the app serves docs/openapi.json");
    assert_eq!(served["openapi"], "3.1.0");

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("openapi.json");
    std::fs::write(&path, served.to_string()).unwrap();
    let output = validate(&path);
    assert!(
        output.status.success(),
        "not valid OpenAPI 3.1: {}",
        text(&output)
    );

    // The validator does refuse what the meta-schema forbids.
    let mut broken = served;
    broken["paths"]["/jobs"]["post"]["responses"]["202"]
        .as_object_mut()
        .unwrap()
        .remove("description");
    std::fs::write(&path, broken.to_string()).unwrap();
    assert!(
        !validate(&path).status.success(),
        "a response needs a description"
    );
}

/// Examples per operation in the fuzzing phase (Hypothesis' `max_examples`), and
/// scenarios in the stateful phase; `SCHEMATHESIS_MAX_EXAMPLES` overrides it.
const MAX_EXAMPLES: &str = "50";
/// A fixed seed, so that a failure can be run again; `SCHEMATHESIS_SEED` overrides it.
const SEED: &str = "20261130";
const DRAIN_TOKEN: &str = "test-drain-token";

#[test]
fn schemathesis_finds_nothing_wrong_in_any_operation() {
    let app = spawn_app_with(&[("drain_token", DRAIN_TOKEN), ("drain_budget_ms", "200")]);
    let key = app.api_key.clone().expect("the test tenant's key");
    let reports = tempfile::tempdir().unwrap();
    let max_examples =
        std::env::var("SCHEMATHESIS_MAX_EXAMPLES").unwrap_or_else(|_| MAX_EXAMPLES.into());
    let seed = std::env::var("SCHEMATHESIS_SEED").unwrap_or_else(|_| SEED.into());
    let root = testkit::workspace_root();
    let output = run(Command::new(venv_tool("schemathesis"))
        .current_dir(reports.path())
        .arg("--config-file")
        .arg(root.join("tests/openapi/schemathesis.toml"))
        .arg("run")
        .arg(format!("{}/openapi.json", app.base_url))
        .args(["--url", &app.base_url])
        .args(["--max-examples", &max_examples])
        .args(["--seed", &seed])
        .args(["--report", "har", "--report-dir"])
        .arg(reports.path())
        .args(["--no-color"])
        .env("AJ_API_KEY", &key)
        .env("AJ_ADMIN_TOKEN", TEST_ADMIN_TOKEN)
        .env("AJ_DRAIN_TOKEN", DRAIN_TOKEN));
    let log = text(&output);
    let requests = har_entries(reports.path());
    // Printed past the test harness' capture, so that `make test` shows it.
    let _ = writeln!(
        std::io::stderr(),
        "schemathesis: {requests} requests to the app on {}, seed {seed}, {max_examples} examples \
         per operation: {}",
        if testkit::on_spin() {
            "Spin"
        } else {
            "the devhost"
        },
        if output.status.success() {
            "no failures"
        } else {
            "FAILED"
        }
    );
    assert!(
        output.status.success(),
        "Schemathesis found failures:\n{log}"
    );
    assert!(
        requests > 500,
        "Schemathesis made only {requests} requests:\n{log}"
    );
}

/// The requests of the HAR report Schemathesis wrote.
fn har_entries(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|entry| entry.file_name().to_string_lossy().starts_with("har-"))
        .map(|entry| {
            let har: Value = serde_json::from_slice(&std::fs::read(entry.path()).unwrap())
                .expect("the HAR report is JSON");
            har["log"]["entries"].as_array().map_or(0, Vec::len)
        })
        .sum()
}

#[test]
fn a_python_client_generated_from_the_description_runs_a_job_round_trip() {
    let app = spawn_app();
    let key = app.api_key.clone().expect("the test tenant's key");
    let dir = tempfile::tempdir().unwrap();
    let package = dir.path().join("async_jobs_client");
    let venv_bin = venv_tool("python").parent().unwrap().to_owned();
    // Its formatter (ruff) is found on PATH.
    let path = format!(
        "{}:{}",
        venv_bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let generated = run(Command::new(venv_tool("openapi-python-client"))
        .args(["generate", "--url"])
        .arg(format!("{}/openapi.json", app.base_url))
        .args(["--meta", "none", "--output-path"])
        .arg(&package)
        .env("PATH", &path));
    assert!(
        generated.status.success() && package.join("api/jobs/submit_job.py").exists(),
        "the client was not generated: {}",
        text(&generated)
    );

    let output = run(Command::new(venv_tool("python"))
        .arg(testkit::workspace_root().join("clients/python/roundtrip.py"))
        .env("PYTHONPATH", dir.path())
        .env("AJ_URL", &app.base_url)
        .env("AJ_API_KEY", &key));
    let log = text(&output);
    assert!(output.status.success(), "the round trip failed:\n{log}");
    // sha256("abc"), the standard test vector.
    assert!(
        log.contains(
            "succeeded after 1 attempt(s): sha256 \
             ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        ),
        "{log}"
    );
}
