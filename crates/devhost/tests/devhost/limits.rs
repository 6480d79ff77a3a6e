//! Limits an instance meets: `max_instance_memory` in the runtime config caps how far
//! one instance's memory may grow (Spin: crates/runtime-config, `max_instance_memory`;
//! without it both runtimes allow wasmtime's 4 GiB), and an app's memory budget is
//! checked against it. A growth past the limit fails inside the guest, which traps: the
//! request answers 500 and the next request, a fresh instance, works.

use crate::support::AppDir;

const WEB: &str = r#"
spin_manifest_version = 2

[application]
name = "limits"

[[trigger.http]]
route = "/..."
component = "web"

[component.web]
source = "HTTP_WASM"
"#;

#[test]
fn max_instance_memory_caps_what_one_instance_may_allocate() {
    let dir = AppDir::new(WEB);
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
