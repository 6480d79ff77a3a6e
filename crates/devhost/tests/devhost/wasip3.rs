//! A WASIp3 HTTP component (exports `wasi:http/handler@0.3.0-rc-2026-03-15`, still
//! imports the sync `fermyon:spin` interfaces: the intake's shape) runs as on Spin
//! 4.0.2: one instance serves request after request (up to 128; Spin:
//! crates/trigger-http/src/lib.rs `DEFAULT_WASIP3_*`), bodies stream both ways, the
//! `spin-*` headers and Spin's host interfaces are as for a WASIp2 component, and a
//! trap costs only the instance it happened in. A WASIp2 component beside it keeps
//! its fresh instance per request.

use crate::support::{AppDir, StubServer, TestApp};

fn manifest(allowed_outbound_hosts: &str) -> String {
    format!(
        r#"
spin_manifest_version = 2

[application]
name = "wasip3"

[variables]
greeting = {{ default = "hello from the manifest" }}

[[trigger.http]]
route = "/p3/..."
component = "p3"

[[trigger.http]]
route = "/p2/..."
component = "p2"

[component.p3]
source = "HTTP_P3_WASM"
key_value_stores = ["default"]
allowed_outbound_hosts = ["{allowed_outbound_hosts}"]

[component.p3.variables]
greeting = "{{{{ greeting }}}}"

[component.p2]
source = "HTTP_WASM"
"#
    )
}

fn start() -> (AppDir, TestApp) {
    start_allowing("http://127.0.0.1:1")
}

fn start_allowing(allowed_outbound_hosts: &str) -> (AppDir, TestApp) {
    let dir = AppDir::new(&manifest(allowed_outbound_hosts));
    let app = dir.start(dir.options());
    (dir, app)
}

/// A body of about `bytes` bytes whose lines number themselves, so a lost,
/// repeated or reordered chunk shows.
fn numbered_lines(tag: &str, bytes: usize) -> String {
    let mut body = String::with_capacity(bytes + 32);
    let mut line = 0;
    while body.len() < bytes {
        body.push_str(&format!("{tag} {line:08}\n"));
        line += 1;
    }
    body
}

#[test]
fn sequential_requests_are_served_by_one_reused_instance() {
    let (_dir, app) = start();

    let counts: Vec<String> = (0..3).map(|_| app.get("/p3/?op=counter").body).collect();

    assert_eq!(counts, vec!["1", "2", "3"]);
}

#[test]
fn a_wasip2_component_beside_it_still_gets_a_fresh_instance_per_request() {
    let (_dir, app) = start();

    app.get("/p3/?op=counter");
    let p2: Vec<String> = (0..3).map(|_| app.get("/p2/?op=counter").body).collect();
    let p3 = app.get("/p3/?op=counter");

    assert_eq!(p2, vec!["1"; 3]);
    assert_eq!(p3.body, "2");
}

#[test]
fn a_request_body_streams_through_the_guest_and_back_whole() {
    let (_dir, app) = start();
    let body = numbered_lines("echo", 1 << 20);

    let reply = app.post("/p3/?op=echo", &body);

    assert_eq!(reply.status, 200);
    assert!(
        reply.body == body,
        "the echoed body differs from the one sent"
    );
}

#[test]
fn concurrent_requests_each_get_their_own_body_back() {
    let (_dir, app) = start();
    let bodies: Vec<String> = (0..8)
        .map(|i| numbered_lines(&format!("client{i}"), 64 << 10))
        .collect();

    let echoed: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = bodies
            .iter()
            .map(|body| s.spawn(|| app.post("/p3/?op=echo", body).body))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });

    for (i, (sent, got)) in bodies.iter().zip(&echoed).enumerate() {
        assert!(sent == got, "client {i} got another body back");
    }
}

#[test]
fn the_request_carries_spins_headers_as_for_a_wasip2_component() {
    let (_dir, app) = start();
    let base = app.app.base_url().to_string();

    let headers = app.get("/p3/items/7?op=headers").json();

    let header = |name: &str| headers[name].as_str().map(str::to_string);
    assert_eq!(
        header("spin-full-url"),
        Some(format!("{base}/p3/items/7?op=headers"))
    );
    assert_eq!(header("spin-path-info").as_deref(), Some("/items/7"));
    assert_eq!(header("spin-matched-route").as_deref(), Some("/p3/..."));
    assert_eq!(header("spin-component-route").as_deref(), Some("/p3"));
    assert_eq!(
        header("spin-raw-component-route").as_deref(),
        Some("/p3/...")
    );
    assert_eq!(header("spin-base-path").as_deref(), Some("/"));
    let client = header("spin-client-addr").unwrap_or_default();
    assert!(client.starts_with("127.0.0.1:"), "{headers}");
}

#[test]
fn a_variable_is_read_through_fermyon_spin() {
    let (_dir, app) = start();

    let reply = app.get("/p3/?op=var&name=greeting");

    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.body, "hello from the manifest");
}

#[test]
fn a_key_value_store_the_instance_opened_serves_its_next_requests() {
    let (_dir, app) = start();

    let set = app.get("/p3/?op=kv-set&key=colour&value=green");
    let got = app.get("/p3/?op=kv-get&key=colour");
    let absent = app.get("/p3/?op=kv-get&key=shape");

    assert_eq!((set.status, set.body.as_str()), (200, "ok"));
    assert_eq!((got.status, got.body.as_str()), (200, "green"));
    assert_eq!(absent.status, 404, "{absent:?}");
}

#[test]
fn a_trap_answers_500_and_the_next_request_gets_a_fresh_instance() {
    let (_dir, app) = start();

    let before = app.get("/p3/?op=counter");
    let trapped = app.get("/p3/?op=trap");
    let next = app.get("/p3/?op=counter");

    assert_eq!(before.body, "1");
    assert_eq!(trapped.status, 500, "{trapped:?}");
    assert_eq!((next.status, next.body.as_str()), (200, "1"));
}

#[test]
fn an_outgoing_request_to_an_allowed_host_is_sent() {
    let stub = StubServer::start();
    let (_dir, app) = start_allowing(&format!("http://127.0.0.1:{}", stub.port));

    let reply = app.get(&format!(
        "/p3/?op=fetch&authority=127.0.0.1:{}&path=/hello",
        stub.port
    ));

    assert_eq!((reply.status, reply.body.as_str()), (200, "200\nhello"));
    assert_eq!(stub.connections(), 1);
}

#[test]
fn an_outgoing_request_to_a_host_not_allowed_is_denied_without_connecting() {
    let stub = StubServer::start();
    let elsewhere = StubServer::start();
    let (_dir, app) = start_allowing(&format!("http://127.0.0.1:{}", elsewhere.port));

    let reply = app.get(&format!(
        "/p3/?op=fetch&authority=127.0.0.1:{}&path=/secret",
        stub.port
    ));

    assert_eq!(reply.status, 502, "{reply:?}");
    assert!(reply.body.contains("HttpRequestDenied"), "{reply:?}");
    assert_eq!(stub.connections(), 0);
}
