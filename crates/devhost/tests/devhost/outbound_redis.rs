//! Outbound Redis (`fermyon:spin/redis`): every command of the interface works
//! against an allowed address, and an address outside `allowed_outbound_hosts`
//! is refused with `InvalidAddress` before any connection is made (Spin:
//! crates/factor-outbound-redis/src/host.rs `open`).

use testkit::RedisServer;

use crate::support::{AppDir, TestApp, encode};

/// The fixture's `redis_address` is `target`; only `allowed` may be reached.
fn start(target: &str, allowed: &str) -> (AppDir, TestApp) {
    let dir = AppDir::new(&format!(
        r#"
spin_manifest_version = 2

[application]
name = "outbound-redis"

[[trigger.http]]
route = "/..."
component = "web"

[component.web]
source = "HTTP_WASM"
allowed_outbound_hosts = ["{allowed}"]

[component.web.variables]
redis_address = "{target}"
"#
    ));
    let app = dir.start(dir.options());
    (dir, app)
}

fn ok_json(app: &TestApp, cmd: &str, query: &str) -> serde_json::Value {
    let reply = app.redis(cmd, query);
    assert_eq!(reply.status, 200, "redis {cmd} {query}: {reply:?}");
    reply.json()
}

#[test]
fn every_outbound_redis_command_works_against_an_allowed_address() {
    let redis = RedisServer::start();
    let (_dir, app) = start(&redis.url(), &redis.url());

    assert_eq!(ok_json(&app, "set", "key=k&value=v1"), "OK");
    assert_eq!(ok_json(&app, "get", "key=k"), "v1");
    assert_eq!(ok_json(&app, "get", "key=absent"), serde_json::Value::Null);
    assert_eq!(ok_json(&app, "incr", "key=n"), 1);
    assert_eq!(ok_json(&app, "incr", "key=n"), 2);
    assert_eq!(ok_json(&app, "del", "key=n"), 1);
    assert_eq!(ok_json(&app, "sadd", "key=s&value=a&value=b&value=c"), 3);
    assert_eq!(ok_json(&app, "srem", "key=s&value=b"), 1);
    assert_eq!(
        ok_json(&app, "smembers", "key=s"),
        serde_json::json!(["a", "c"])
    );

    let stored: String = redis::cmd("GET")
        .arg("k")
        .query(&mut redis.connection())
        .unwrap();
    assert_eq!(stored, "v1");
}

#[test]
fn execute_passes_arguments_and_returns_each_result_kind() {
    let redis = RedisServer::start();
    let (_dir, app) = start(&redis.url(), &redis.url());

    let set = app.post("/?op=redis&cmd=execute", "SET\nx\n41");
    let incr = app.post("/?op=redis&cmd=execute", "INCR\nx");
    let get = app.post("/?op=redis&cmd=execute", "GET\nx");
    let missing = app.post("/?op=redis&cmd=execute", "GET\nnothing");
    let push = app.post("/?op=redis&cmd=execute", "RPUSH\nl\na\nb");
    let range = app.post("/?op=redis&cmd=execute", "LRANGE\nl\n0\n-1");

    assert_eq!(
        set.json(),
        serde_json::json!([{ "status": "OK" }]),
        "{set:?}"
    );
    assert_eq!(incr.json(), serde_json::json!([{ "int64": 42 }]));
    assert_eq!(get.json(), serde_json::json!([{ "binary": "42" }]));
    assert_eq!(missing.json(), serde_json::json!([{ "nil": null }]));
    assert_eq!(push.json(), serde_json::json!([{ "int64": 2 }]));
    assert_eq!(
        range.json(),
        serde_json::json!([{ "binary": "a" }, { "binary": "b" }])
    );
}

#[test]
fn publish_reaches_a_subscriber() {
    let redis = RedisServer::start();
    let (_dir, app) = start(&redis.url(), &redis.url());
    let mut subscriber = redis.connection();
    let mut pubsub = subscriber.as_pubsub();
    pubsub.subscribe("news").unwrap();
    pubsub
        .set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();

    assert_eq!(ok_json(&app, "publish", "channel=news&value=hello"), "OK");

    let message = pubsub.get_message().expect("the published message");
    let payload: String = message.get_payload().unwrap();
    assert_eq!(payload, "hello");
}

#[test]
fn outbound_redis_to_an_address_not_in_allowed_outbound_hosts_is_denied() {
    let redis = RedisServer::start();
    let other_port = testkit::redis_server::free_port();
    let (_dir, app) = start(&redis.url(), &format!("redis://127.0.0.1:{other_port}"));

    let reply = app.redis("set", &format!("key=k&value={}", encode("leaked")));

    assert_eq!(reply.status, 500, "{reply:?}");
    assert!(reply.body.contains("InvalidAddress"), "{reply:?}");
    let stored: Option<String> = redis::cmd("GET")
        .arg("k")
        .query(&mut redis.connection())
        .unwrap();
    assert_eq!(stored, None);
}

#[test]
fn a_port_wildcard_in_allowed_outbound_hosts_allows_any_port() {
    // Spin: crates/outbound-networking-config/src/allowed_hosts.rs accepts `:*`.
    let redis = RedisServer::start();
    let (_dir, app) = start(&redis.url(), "redis://127.0.0.1:*");

    assert_eq!(ok_json(&app, "set", "key=k&value=v"), "OK");
}

#[test]
fn an_allowed_host_without_a_port_allows_only_the_schemes_default_port() {
    // Spin: same file, `well_known_port`: redis means 6379, never the test's port.
    let redis = RedisServer::start();
    let (_dir, app) = start(&redis.url(), "redis://127.0.0.1");

    let reply = app.redis("set", "key=k&value=v");

    assert_eq!(reply.status, 500, "{reply:?}");
    assert!(reply.body.contains("InvalidAddress"), "{reply:?}");
}

#[test]
fn each_open_is_a_connection_of_its_own_as_on_spin() {
    let redis = RedisServer::start();
    let (_dir, app) = start(&redis.url(), &redis.url());

    let first = ok_json(&app, "client-ids", "");
    let second = ok_json(&app, "client-ids", "");

    // Spin pools nothing for outbound Redis: two opens in one instance are two
    // connections, and the next request opens new ones again.
    let ids: Vec<i64> = [&first, &second]
        .iter()
        .flat_map(|pair| pair.as_array().cloned().unwrap_or_default())
        .filter_map(|id| id.as_i64())
        .collect();
    assert_eq!(ids.len(), 4, "{first} {second}");
    let mut distinct = ids.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), 4, "connection ids reused: {ids:?}");
}

#[test]
fn opening_a_connection_to_a_redis_that_is_down_fails_at_once() {
    let mut redis = RedisServer::start();
    let (_dir, app) = start(&redis.url(), &redis.url());
    redis.stop();

    // The app's 503-when-Redis-is-down rests on this: `open` connects, and a refused
    // connection is an error the guest sees at once (docs/devhost.md).
    let reply = app.try_get("/?op=redis&cmd=get&key=k");

    let reply = reply.unwrap_or_else(|e| panic!("no answer while Redis is down: {e}"));
    assert_eq!(reply.status, 500, "{reply:?}");
}
