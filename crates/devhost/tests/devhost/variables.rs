//! Application variables: `--variable` beats `SPIN_VARIABLE_<NAME>` beats the
//! manifest default (Spin: crates/runtime-factors/src/build.rs puts the CLI
//! provider first; crates/variables-env reads `SPIN_VARIABLE_`), and a required
//! variable with no value stops the app at start (Spin:
//! crates/trigger/src/cli/variable.rs `ensure_required_variables_resolvable`).

use testkit::app::AppEnv;

use crate::support::{AppDir, TestApp};

const GREETING: &str = r#"
spin_manifest_version = 2

[application]
name = "variables"

[variables]
greeting = { default = "from-default" }

[[trigger.http]]
route = "/..."
component = "web"

[component.web]
source = "HTTP_WASM"

[component.web.variables]
greeting = "{{ greeting }}"
literal = "fixed"
composed = "<{{ greeting }}>"
"#;

/// Starts the app with `SPIN_VARIABLE_GREETING` set to `env` (or unset) and
/// `--variable greeting=<cli>` if given, and returns the greeting it sees.
fn greeting_with(env: Option<&str>, cli: Option<&str>) -> String {
    let dir = AppDir::new(GREETING);
    let mut opts = dir.options();
    if let Some(value) = cli {
        opts.variables.push(("greeting".into(), value.into()));
    }
    let env = match env {
        Some(value) => AppEnv {
            set: vec![("SPIN_VARIABLE_GREETING".into(), value.into())],
            remove: vec![],
        },
        None => AppEnv {
            set: vec![],
            remove: vec!["SPIN_VARIABLE_GREETING".into()],
        },
    };
    let app: TestApp = dir.start_with_env(opts, env);
    let reply = app.variable("greeting");
    assert_eq!(reply.status, 200, "{reply:?}");
    reply.body
}

#[test]
fn a_variable_with_no_other_value_takes_its_default() {
    assert_eq!(greeting_with(None, None), "from-default");
}

#[test]
fn an_environment_variable_beats_the_default() {
    assert_eq!(greeting_with(Some("from-env"), None), "from-env");
}

#[test]
fn a_command_line_variable_beats_the_environment_and_the_default() {
    assert_eq!(
        greeting_with(Some("from-env"), Some("from-cli")),
        "from-cli"
    );
    assert_eq!(greeting_with(None, Some("from-cli")), "from-cli");
}

#[test]
fn component_variables_can_be_literals_or_templates() {
    let dir = AppDir::new(GREETING);
    let app = dir.start_with_env(
        dir.options(),
        AppEnv {
            set: vec![],
            remove: vec!["SPIN_VARIABLE_GREETING".into()],
        },
    );

    assert_eq!(app.variable("literal").body, "fixed");
    assert_eq!(app.variable("composed").body, "<from-default>");
    let undefined = app.variable("nonexistent");
    assert_eq!(undefined.status, 500, "{undefined:?}");
}

#[test]
fn a_required_variable_without_a_value_stops_the_app_at_start() {
    let dir = AppDir::new(
        r#"
spin_manifest_version = 2

[application]
name = "required"

[variables]
api_token = { required = true }

[[trigger.http]]
route = "/..."
component = "web"

[component.web]
source = "HTTP_WASM"

[component.web.variables]
api_token = "{{ api_token }}"
"#,
    );

    let (status, output) = dir.run_expecting_refusal(
        dir.options(),
        AppEnv {
            set: vec![],
            remove: vec!["SPIN_VARIABLE_API_TOKEN".into()],
        },
    );

    assert!(!status.success(), "exit status {status}; output:\n{output}");
    assert!(
        output.contains("api_token"),
        "output does not name the variable:\n{output}"
    );
}

#[test]
fn a_required_variable_given_on_the_command_line_lets_the_app_start() {
    let dir = AppDir::new(
        r#"
spin_manifest_version = 2

[application]
name = "required"

[variables]
api_token = { required = true }

[[trigger.http]]
route = "/..."
component = "web"

[component.web]
source = "HTTP_WASM"

[component.web.variables]
api_token = "{{ api_token }}"
"#,
    );
    let mut opts = dir.options();
    opts.variables.push(("api_token".into(), "s3cret".into()));

    let app = dir.start(opts);

    assert_eq!(app.variable("api_token").body, "s3cret");
}
