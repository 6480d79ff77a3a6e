//! Which component a path reaches (Spin: crates/routes, `Router::route`):
//! exact routes beat wildcards, the longest wildcard prefix wins, `/...` also
//! matches the bare prefix, `:name` matches one segment, and no match is 404.

use crate::support::{AppDir, TestApp};

/// Six components on overlapping routes. Each is the same fixture; the
/// `spin-raw-component-route` it reports tells which one answered.
const OVERLAPPING_ROUTES: &str = r#"
spin_manifest_version = 2

[application]
name = "routing"

[[trigger.http]]
route = "/..."
component = "everything"

[[trigger.http]]
route = "/one"
component = "one-exact"

[[trigger.http]]
route = "/one/..."
component = "one-wild"

[[trigger.http]]
route = "/one/two/..."
component = "one-two-wild"

[[trigger.http]]
route = "/users/:id"
component = "user"

[[trigger.http]]
route = "/users/me"
component = "me"

[component.everything]
source = "HTTP_WASM"

[component.one-exact]
source = "HTTP_WASM"

[component.one-wild]
source = "HTTP_WASM"

[component.one-two-wild]
source = "HTTP_WASM"

[component.user]
source = "HTTP_WASM"

[component.me]
source = "HTTP_WASM"
"#;

fn start(toml: &str) -> (AppDir, TestApp) {
    let dir = AppDir::new(toml);
    let app = dir.start(dir.options());
    (dir, app)
}

fn route_of(app: &TestApp, path: &str) -> String {
    app.describe(path)
        .spin_header("spin-raw-component-route")
        .unwrap_or_else(|| panic!("no spin-raw-component-route header for {path}"))
}

#[test]
fn an_exact_route_beats_a_wildcard_that_also_matches() {
    let (_dir, app) = start(OVERLAPPING_ROUTES);

    assert_eq!(route_of(&app, "/one"), "/one");
    assert_eq!(route_of(&app, "/one/x"), "/one/...");
}

#[test]
fn the_longest_matching_wildcard_prefix_wins() {
    let (_dir, app) = start(OVERLAPPING_ROUTES);

    assert_eq!(route_of(&app, "/one/two/three/four"), "/one/two/...");
    assert_eq!(route_of(&app, "/one/x/y"), "/one/...");
    // Prefixes match whole segments only.
    assert_eq!(route_of(&app, "/one/twothree"), "/one/...");
    assert_eq!(route_of(&app, "/oneself"), "/...");
    assert_eq!(route_of(&app, "/elsewhere/deep/path"), "/...");
    assert_eq!(route_of(&app, "/"), "/...");
}

#[test]
fn a_trailing_wildcard_also_matches_its_bare_prefix() {
    let (_dir, app) = start(OVERLAPPING_ROUTES);

    assert_eq!(route_of(&app, "/one/two"), "/one/two/...");
    assert_eq!(route_of(&app, "/one/two/"), "/one/two/...");
}

#[test]
fn a_named_segment_matches_exactly_one_segment_and_a_literal_beats_it() {
    let (_dir, app) = start(OVERLAPPING_ROUTES);

    assert_eq!(route_of(&app, "/users/42"), "/users/:id");
    assert_eq!(route_of(&app, "/users/me"), "/users/me");
    assert_eq!(route_of(&app, "/users/42/posts"), "/...");
}

#[test]
fn a_path_that_matches_no_route_is_404() {
    let (_dir, app) = start(
        r#"
spin_manifest_version = 2

[application]
name = "no-catch-all"

[[trigger.http]]
route = "/api/..."
component = "api"

[component.api]
source = "HTTP_WASM"
"#,
    );

    assert_eq!(app.get("/api/x").status, 200);
    assert_eq!(app.get("/nothing-here").status, 404);
    assert_eq!(app.get("/").status, 404);
    assert_eq!(app.get("/apix").status, 404);
}

#[test]
fn the_host_answers_the_well_known_health_path_before_any_route() {
    // Spin: crates/trigger-http/src/server.rs `handle` serves
    // `/.well-known/spin/health` itself, even with a `/...` catch-all.
    let (_dir, app) = start(OVERLAPPING_ROUTES);

    let health = app.get("/.well-known/spin/health");
    let unknown = app.get("/.well-known/spin/nothing");

    assert_eq!((health.status, health.body.as_str()), (200, "OK"));
    assert_eq!(unknown.status, 404, "{unknown:?}");
}
