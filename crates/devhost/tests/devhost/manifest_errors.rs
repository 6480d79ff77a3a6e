//! A manifest the host cannot run stops it at start, with a non-zero exit and
//! a message naming the file and the offending field or path (Spin's manifest
//! schema is `deny_unknown_fields`: crates/manifest/src/schema/v2.rs).

use testkit::app::AppEnv;

use crate::support::AppDir;

fn refused(toml: &str) -> String {
    let dir = AppDir::new(toml);
    let (status, output) = dir.run_expecting_refusal(dir.options(), AppEnv::default());
    assert!(!status.success(), "exit status {status}; output:\n{output}");
    output
}

#[test]
fn an_unknown_component_field_is_rejected_naming_the_field_and_the_file() {
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
    assert!(output.contains("spin.toml"), "file not named:\n{output}");
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
fn an_unparseable_manifest_is_rejected_naming_the_file() {
    let output = refused("spin_manifest_version = 2\n[application\nname = = \"oops\"\n");

    assert!(output.contains("spin.toml"), "file not named:\n{output}");
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
