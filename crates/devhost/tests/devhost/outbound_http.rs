//! Outgoing HTTP (`wasi:http/outgoing-handler`): a request to an allowed host
//! goes out, one to any other host is refused with `HttpRequestDenied` without
//! a connection (Spin: crates/factor-outbound-http/src/wasi.rs).

use crate::support::{AppDir, StubServer, TestApp, encode};

fn start(allowed: &str) -> (AppDir, TestApp) {
    let dir = AppDir::new(&format!(
        r#"
spin_manifest_version = 2

[application]
name = "outbound-http"

[[trigger.http]]
route = "/..."
component = "web"

[component.web]
source = "HTTP_WASM"
allowed_outbound_hosts = ["{allowed}"]
"#
    ));
    let app = dir.start(dir.options());
    (dir, app)
}

#[test]
fn an_outgoing_request_to_an_allowed_host_is_sent() {
    let stub = StubServer::start();
    let (_dir, app) = start(&format!("http://127.0.0.1:{}", stub.port));

    let reply = app.get(&format!("/?op=fetch&url={}", encode(&stub.url("/hello"))));

    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.body, "200\nhello");
    assert_eq!(stub.connections(), 1);
}

#[test]
fn an_outgoing_request_to_a_host_not_allowed_is_denied_without_connecting() {
    let stub = StubServer::start();
    let elsewhere = StubServer::start();
    let (_dir, app) = start(&format!("http://127.0.0.1:{}", elsewhere.port));

    let reply = app.get(&format!("/?op=fetch&url={}", encode(&stub.url("/secret"))));

    assert_eq!(reply.status, 502, "{reply:?}");
    assert!(reply.body.contains("HttpRequestDenied"), "{reply:?}");
    assert_eq!(stub.connections(), 0);
}
