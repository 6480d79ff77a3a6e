//! The `spin-*` request headers a component receives, with the values Spin
//! gives (Spin: crates/trigger-http/src/headers.rs `compute_default_headers`,
//! crates/routes/src/lib.rs `RouteMatch`).

use crate::support::{AppDir, Reply, TestApp, WAIT};

const ROUTES: &str = r#"
spin_manifest_version = 2

[application]
name = "headers"

[[trigger.http]]
route = "/api/..."
component = "api"

[[trigger.http]]
route = "/exact"
component = "exact"

[[trigger.http]]
route = "/users/:userid/..."
component = "users"

[[trigger.http]]
route = "/..."
component = "root"

[component.api]
source = "HTTP_WASM"

[component.exact]
source = "HTTP_WASM"

[component.users]
source = "HTTP_WASM"

[component.root]
source = "HTTP_WASM"
"#;

fn start() -> (AppDir, TestApp) {
    let dir = AppDir::new(ROUTES);
    let app = dir.start(dir.options());
    (dir, app)
}

fn header(reply: &Reply, name: &str) -> String {
    reply
        .spin_header(name)
        .unwrap_or_else(|| panic!("header {name} missing from {}", reply.body))
}

#[test]
fn a_wildcard_route_gets_every_spin_header_with_spins_values() {
    let (_dir, app) = start();
    let base = app.app.base_url().to_string();

    let reply = app.describe("/api/items/7?x=1&y=two");

    assert_eq!(
        header(&reply, "spin-full-url"),
        format!("{base}/api/items/7?x=1&y=two")
    );
    assert_eq!(header(&reply, "spin-path-info"), "/items/7");
    assert_eq!(header(&reply, "spin-matched-route"), "/api/...");
    assert_eq!(header(&reply, "spin-component-route"), "/api");
    assert_eq!(header(&reply, "spin-raw-component-route"), "/api/...");
    assert_eq!(header(&reply, "spin-base-path"), "/");
    let client = header(&reply, "spin-client-addr");
    let (ip, port) = client
        .rsplit_once(':')
        .unwrap_or_else(|| panic!("spin-client-addr {client:?} is not ip:port"));
    assert_eq!(ip, "127.0.0.1");
    assert!(port.parse::<u16>().is_ok_and(|p| p > 0), "{client:?}");
}

#[test]
fn path_info_keeps_spins_trailing_slash_rules() {
    let (_dir, app) = start();

    assert_eq!(header(&app.describe("/api"), "spin-path-info"), "");
    assert_eq!(header(&app.describe("/api/"), "spin-path-info"), "/");
    assert_eq!(
        header(&app.describe("/api/a/b/"), "spin-path-info"),
        "/a/b/"
    );
}

#[test]
fn an_exact_route_has_empty_path_info_and_its_route_as_component_route() {
    let (_dir, app) = start();

    let reply = app.describe("/exact");

    assert_eq!(header(&reply, "spin-path-info"), "");
    assert_eq!(header(&reply, "spin-matched-route"), "/exact");
    assert_eq!(header(&reply, "spin-component-route"), "/exact");
    assert_eq!(header(&reply, "spin-raw-component-route"), "/exact");
}

#[test]
fn a_named_segment_is_passed_as_a_spin_path_match_header() {
    let (_dir, app) = start();

    let reply = app.describe("/users/42/posts/9");

    assert_eq!(header(&reply, "spin-path-match-userid"), "42");
    assert_eq!(header(&reply, "spin-path-info"), "/posts/9");
    assert_eq!(header(&reply, "spin-matched-route"), "/users/:userid/...");
    assert_eq!(header(&reply, "spin-component-route"), "/users/:userid");
    assert_eq!(
        header(&reply, "spin-raw-component-route"),
        "/users/:userid/..."
    );
}

#[test]
fn the_catch_all_route_has_an_empty_component_route_and_the_whole_path_as_path_info() {
    let (_dir, app) = start();

    let reply = app.describe("/some/where?q=1");

    assert_eq!(header(&reply, "spin-component-route"), "");
    assert_eq!(header(&reply, "spin-raw-component-route"), "/...");
    assert_eq!(header(&reply, "spin-matched-route"), "/...");
    assert_eq!(header(&reply, "spin-path-info"), "/some/where");
}

#[test]
fn the_component_sees_the_original_method_path_and_query() {
    let (_dir, app) = start();

    let reply = app.post("/api/echo?a=1", "");
    assert_eq!(reply.status, 200, "{reply:?}");
    let body = reply.json();

    assert_eq!(body["method"], "POST");
    assert_eq!(body["path"], "/api/echo");
    assert_eq!(body["query"], "a=1");
}

#[test]
fn a_client_cannot_spoof_the_injected_headers() {
    let (_dir, app) = start();

    let reply = app.get_with_headers(
        "/api/real",
        &[
            ("spin-client-addr", "6.6.6.6:6"),
            ("spin-path-info", "/spoofed"),
        ],
    );

    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(header(&reply, "spin-path-info"), "/real");
    assert!(header(&reply, "spin-client-addr").starts_with("127.0.0.1:"));
}

#[test]
fn a_header_value_that_is_not_utf8_is_a_500_before_the_component_runs() {
    // Spin 4.0.2 turns the request's headers into strings for the component
    // (`prepare_request_headers`) and fails the request when one is not UTF-8,
    // though HTTP allows such bytes: the component never sees them.
    let (_dir, app) = start();

    let refused = app.get_with_headers("/api/x", &[("x-forwarded-for", b"\x80, 10.0.0.1")]);
    let latin1 = app.get_with_headers("/api/x", &[("x-name", b"caf\xe9".as_slice())]);

    assert_eq!((refused.status, refused.body.as_str()), (500, ""));
    assert_eq!((latin1.status, latin1.body.as_str()), (500, ""));
    // The runtime logs the refusal after it answers: wait for the line.
    testkit::wait_until_seen(WAIT, "the refusal in the log", || {
        let logs = app.logs();
        if logs.contains("utf-8") {
            Ok(())
        } else {
            Err(logs)
        }
    });
    // The same request with text in its headers is served.
    let served = app.get_with_headers("/api/x", &[("x-forwarded-for", "10.0.0.1")]);
    assert_eq!(served.status, 200, "{served:?}");
}
