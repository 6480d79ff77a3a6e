//! One fresh component instance per HTTP request to a WASIp2 component (docs/devhost.md, "HTTP
//! trigger"): guest globals never survive, and a request that traps harms no other request. A
//! WASIp3 component's instances are reused instead (`wasip3`).

use crate::support::AppDir;

const ONE_COMPONENT: &str = r#"
spin_manifest_version = 2

[application]
name = "instances"

[[trigger.http]]
route = "/..."
component = "web"

[component.web]
source = "HTTP_WASM"
"#;

#[test]
fn a_guest_global_does_not_survive_from_one_request_to_the_next() {
    let dir = AppDir::new(ONE_COMPONENT);
    let app = dir.start(dir.options());

    let counts: Vec<String> = (0..5).map(|_| app.get("/?op=counter").body).collect();

    assert_eq!(counts, vec!["1"; 5]);
}

#[test]
fn concurrent_requests_each_get_their_own_instance() {
    let dir = AppDir::new(ONE_COMPONENT);
    let app = dir.start(dir.options());

    let counts: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| s.spawn(|| app.get("/?op=counter").body))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });

    assert_eq!(counts, vec!["1"; 8]);
}

#[test]
fn a_trapping_request_answers_500_and_the_next_request_is_served() {
    let dir = AppDir::new(ONE_COMPONENT);
    let app = dir.start(dir.options());

    let trapped = app.get("/?op=trap");
    let next = app.get("/?op=counter");

    assert_eq!(trapped.status, 500, "{trapped:?}");
    assert_eq!(next.status, 200, "{next:?}");
    assert_eq!(next.body, "1");
}

/// `max_instance_memory` in the runtime config caps how far one instance's memory may
/// grow (Spin: crates/runtime-config; without it both runtimes allow wasmtime's 4 GiB).
/// A growth past it fails inside the guest, which traps: that request answers 500 and
/// the next one, a fresh instance, works.
#[test]
fn max_instance_memory_caps_what_one_instance_may_allocate() {
    let dir = AppDir::new(ONE_COMPONENT);
    let mut opts = dir.options();
    opts.runtime_config = Some(dir.write(
        "runtime-config.toml",
        &format!("max_instance_memory = {}\n", 64 << 20),
    ));
    let app = dir.start(opts);

    let within = app.get("/?op=alloc&mb=16");
    let beyond = app.get("/?op=alloc&mb=128");
    let after = app.get("/?op=alloc&mb=16");

    assert_eq!((within.status, within.body.as_str()), (200, "4096"));
    assert_eq!(beyond.status, 500, "{beyond:?}");
    assert_eq!(after.status, 200, "{after:?}");
}
