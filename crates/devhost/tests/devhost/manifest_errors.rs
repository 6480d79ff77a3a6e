//! A manifest the host cannot run stops it at start, with a non-zero exit and
//! a message naming the offending field, path or line (Spin's manifest schema is
//! `deny_unknown_fields`: crates/manifest/src/schema/v2.rs). The devhost also
//! names the file; Spin 4.0.2 does not (docs/devhost.md), so that is checked on
//! the devhost only.

use testkit::app::AppEnv;

use crate::support::AppDir;

fn refused(toml: &str) -> String {
    let dir = AppDir::new(toml);
    let (status, output) = dir.run_expecting_refusal(dir.options(), AppEnv::default());
    assert!(!status.success(), "exit status {status}; output:\n{output}");
    output
}

#[test]
fn an_unknown_component_field_is_rejected_naming_the_field() {
    let output = refused(
        r#"
spin_manifest_version = 2

[application]
name = "bad"

[[trigger.http]]
route = "/..."
component = "web"

[component.web]
source = "HTTP_WASM"
colour = "blue"
"#,
    );

    assert!(output.contains("colour"), "field not named:\n{output}");
    assert!(
        testkit::on_spin() || output.contains("spin.toml"),
        "file not named:\n{output}"
    );
}

#[test]
fn a_missing_wasm_file_is_rejected_naming_the_path() {
    let output = refused(
        r#"
spin_manifest_version = 2

[application]
name = "bad"

[[trigger.http]]
route = "/..."
component = "web"

[component.web]
source = "/nonexistent/dir/missing_component.wasm"
"#,
    );

    assert!(
        output.contains("missing_component.wasm"),
        "path not named:\n{output}"
    );
}

#[test]
fn an_unparseable_manifest_is_rejected_naming_the_line() {
    let output = refused("spin_manifest_version = 2\n[application\nname = = \"oops\"\n");

    assert!(output.contains("line 2"), "line not named:\n{output}");
    assert!(
        testkit::on_spin() || output.contains("spin.toml"),
        "file not named:\n{output}"
    );
}

#[test]
fn a_trigger_naming_an_undefined_component_is_rejected() {
    let output = refused(
        r#"
spin_manifest_version = 2

[application]
name = "bad"

[[trigger.http]]
route = "/..."
component = "ghost"

[component.web]
source = "HTTP_WASM"
"#,
    );

    assert!(output.contains("ghost"), "component not named:\n{output}");
}

#[test]
fn a_key_value_label_neither_default_nor_configured_is_rejected_naming_it() {
    let output = refused(
        r#"
spin_manifest_version = 2

[application]
name = "bad"

[[trigger.http]]
route = "/..."
component = "web"

[component.web]
source = "HTTP_WASM"
key_value_stores = ["default", "unconfigured"]
"#,
    );

    assert!(
        output.contains("unconfigured"),
        "label not named:\n{output}"
    );
}
