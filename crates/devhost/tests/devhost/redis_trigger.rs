//! The Redis trigger (docs/devhost.md, "Redis trigger"): pub/sub delivery in publish order, one
//! message at a time, a fresh instance per message, a failing handler
//! dropping only its own message, and the host exiting when Redis goes away.

use std::time::Duration;

use testkit::RedisServer;

use crate::support::{AppDir, WAIT};

const CHANNEL: &str = "events";

/// A Redis-triggered fixture that records each payload into the list `received`.
fn listener_manifest(redis: &RedisServer) -> String {
    format!(
        r#"
spin_manifest_version = 2

[application]
name = "redis-trigger"

[application.trigger.redis]
address = "{url}"

[[trigger.redis]]
channel = "{CHANNEL}"
component = "listener"

[component.listener]
source = "REDIS_WASM"
allowed_outbound_hosts = ["{url}"]

[component.listener.variables]
redis_address = "{url}"
list_key = "received"
"#,
        url = redis.url()
    )
}

fn publish(redis: &RedisServer, payload: &str) {
    let _: i64 = redis::cmd("PUBLISH")
        .arg(CHANNEL)
        .arg(payload)
        .query(&mut redis.connection())
        .expect("PUBLISH");
}

fn list(redis: &RedisServer, key: &str) -> Vec<String> {
    redis::cmd("LRANGE")
        .arg(key)
        .arg(0)
        .arg(-1)
        .query(&mut redis.connection())
        .expect("LRANGE")
}

/// Waits until `key` holds `n` entries, and returns them.
fn wait_for_entries(redis: &RedisServer, key: &str, n: usize) -> Vec<String> {
    testkit::wait_until(WAIT, &format!("{n} entries in list {key}"), || {
        let entries = list(redis, key);
        (entries.len() >= n).then_some(entries)
    })
}

#[test]
fn published_messages_are_handled_in_publish_order() {
    let redis = RedisServer::start();
    let dir = AppDir::new(&listener_manifest(&redis));
    let _app = dir.start(dir.options());
    redis.wait_for_subscriber(CHANNEL, WAIT);

    let sent: Vec<String> = (0..25).map(|i| format!("message-{i}")).collect();
    for payload in &sent {
        publish(&redis, payload);
    }

    assert_eq!(wait_for_entries(&redis, "received", sent.len()), sent);
}

#[test]
fn each_message_gets_a_fresh_instance() {
    let redis = RedisServer::start();
    let dir = AppDir::new(&listener_manifest(&redis));
    let _app = dir.start(dir.options());
    redis.wait_for_subscriber(CHANNEL, WAIT);

    for i in 0..5 {
        publish(&redis, &format!("m{i}"));
    }

    assert_eq!(
        wait_for_entries(&redis, "received:instances", 5),
        vec!["1"; 5]
    );
}

#[test]
fn messages_from_one_address_are_handled_one_at_a_time() {
    let redis = RedisServer::start();
    let dir = AppDir::new(&listener_manifest(&redis));
    let _app = dir.start(dir.options());
    redis.wait_for_subscriber(CHANNEL, WAIT);

    for payload in ["slow:a", "slow:b", "slow:c"] {
        publish(&redis, payload);
    }

    assert_eq!(
        wait_for_entries(&redis, "received:events", 6),
        [
            "start:slow:a",
            "end:slow:a",
            "start:slow:b",
            "end:slow:b",
            "start:slow:c",
            "end:slow:c"
        ]
    );
}

#[test]
fn a_trapping_or_failing_handler_does_not_stop_the_next_message() {
    let redis = RedisServer::start();
    let dir = AppDir::new(&listener_manifest(&redis));
    let mut app = dir.start(dir.options());
    redis.wait_for_subscriber(CHANNEL, WAIT);

    for payload in ["before", "trap", "error", "after"] {
        publish(&redis, payload);
    }

    assert_eq!(
        wait_for_entries(&redis, "received", 2),
        vec!["before", "after"]
    );
    assert!(
        app.app.wait_exit(Duration::ZERO).is_none(),
        "the host exited after a failing handler:\n{}",
        app.logs()
    );
}

#[test]
fn the_host_exits_non_zero_when_the_redis_connection_is_lost() {
    let mut redis = RedisServer::start();
    let dir = AppDir::new(&listener_manifest(&redis));
    let mut app = dir.start(dir.options());
    redis.wait_for_subscriber(CHANNEL, WAIT);

    redis.stop();

    let status = app
        .app
        .wait_exit(WAIT)
        .unwrap_or_else(|| panic!("the host kept running without Redis:\n{}", app.logs()));
    assert!(!status.success(), "exit status {status}");
}

#[test]
fn a_host_call_that_panics_on_spin_stops_the_runtime_from_a_redis_handler() {
    let redis = RedisServer::start();
    let dir = AppDir::new(&listener_manifest(&redis).replace(
        "[component.listener.variables]",
        "key_value_stores = [\"default\"]\n\n[component.listener.variables]",
    ));
    let mut opts = dir.options();
    opts.runtime_config =
        Some(dir.write("runtime-config.toml", &testkit::kv_on_redis(&redis.url())));
    let mut app = dir.start(opts);
    redis.wait_for_subscriber(CHANNEL, WAIT);
    let _: () = redis::cmd("SET")
        .arg("present")
        .arg("1")
        .query(&mut redis.connection())
        .expect("SET");

    publish(&redis, "get-many:present");

    // Spin 4.0.2: its Redis store panics on get-many of a present key, the Redis trigger
    // dies with it, and `spin up` exits (docs/devhost.md). The devhost exits too.
    let status = app
        .app
        .wait_exit(WAIT)
        .unwrap_or_else(|| panic!("the runtime kept running:\n{}", app.logs()));
    assert!(!status.success(), "exit status {status}");
}
