//! Key-value (DESIGN §2.3): SQLite by default at `.spin/sqlite_key_value.db`
//! beside `spin.toml` (Spin: crates/key-value-spin, table `spin_key_value`),
//! Redis through a runtime config file (Spin: crates/key-value-redis, plain
//! keys), and access denied for a label the component did not declare (Spin:
//! crates/factor-key-value/src/host.rs `open`).

use testkit::RedisServer;

use crate::support::{AppDir, TestApp, WAIT};

const WEB_WITH_DEFAULT_STORE: &str = r#"
spin_manifest_version = 2

[application]
name = "kv"

[[trigger.http]]
route = "/..."
component = "web"

[component.web]
source = "HTTP_WASM"
key_value_stores = ["default"]
"#;

#[test]
fn values_set_in_one_request_are_read_in_the_next_on_the_default_sqlite_store() {
    let dir = AppDir::new(WEB_WITH_DEFAULT_STORE);
    let app = dir.start(dir.options());

    assert_eq!(app.kv_set("default", "greeting", "hello").status, 200);
    let got = app.kv_get("default", "greeting");
    let missing = app.kv_get("default", "nobody");

    assert_eq!((got.status, got.body.as_str()), (200, "hello"));
    assert_eq!(missing.status, 404, "{missing:?}");
}

#[test]
fn the_store_supports_exists_delete_and_listing_keys() {
    let dir = AppDir::new(WEB_WITH_DEFAULT_STORE);
    let app = dir.start(dir.options());
    app.kv_set("default", "a", "1");
    app.kv_set("default", "b", "2");

    assert_eq!(app.get("/?op=kv-exists&key=a").body, "true");
    assert_eq!(
        app.get("/?op=kv-keys").json(),
        serde_json::json!(["a", "b"])
    );
    assert_eq!(app.get("/?op=kv-delete&key=a").status, 200);
    assert_eq!(app.get("/?op=kv-exists&key=a").body, "false");
    assert_eq!(app.get("/?op=kv-keys").json(), serde_json::json!(["b"]));
}

#[test]
fn the_sqlite_store_lives_beside_the_manifest_and_survives_a_restart() {
    let dir = AppDir::new(WEB_WITH_DEFAULT_STORE);
    let mut first = dir.start(dir.options());
    assert_eq!(
        first.kv_set("default", "kept", "across restarts").status,
        200
    );
    assert!(first.app.terminate().success(), "{}", first.logs());

    let db = dir.path().join(".spin").join("sqlite_key_value.db");
    assert!(db.is_file(), "no SQLite store at {}", db.display());
    // Same schema as Spin's, so either runtime can open the other's store.
    let stored: Vec<u8> = rusqlite::Connection::open(&db)
        .expect("open the SQLite store")
        .query_row(
            "SELECT value FROM spin_key_value WHERE store = 'default' AND key = 'kept'",
            [],
            |row| row.get(0),
        )
        .expect("the row Spin's schema would have");
    assert_eq!(stored, b"across restarts");

    let second = dir.start(dir.options());
    let got = second.kv_get("default", "kept");
    assert_eq!((got.status, got.body.as_str()), (200, "across restarts"));
}

#[test]
fn a_runtime_config_file_puts_the_default_store_on_redis() {
    let redis = RedisServer::start();
    let (dir, app) = start_on_redis(&redis);

    assert_eq!(app.kv_set("default", "on-redis", "yes").status, 200);
    let in_redis: Option<String> = redis::cmd("GET")
        .arg("on-redis")
        .query(&mut redis.connection())
        .unwrap();
    let _: () = redis::cmd("SET")
        .arg("from-redis")
        .arg("written directly")
        .query(&mut redis.connection())
        .unwrap();
    let got = app.kv_get("default", "from-redis");

    assert_eq!(in_redis.as_deref(), Some("yes"));
    assert_eq!((got.status, got.body.as_str()), (200, "written directly"));
    assert!(
        !dir.path()
            .join(".spin")
            .join("sqlite_key_value.db")
            .exists(),
        "a SQLite store was created although the default store is on Redis"
    );
}

#[test]
fn opening_a_store_label_the_component_did_not_declare_is_access_denied() {
    let dir = AppDir::new(WEB_WITH_DEFAULT_STORE);
    let app = dir.start(dir.options());

    let reply = app.kv_get("other", "key");

    assert_eq!(reply.status, 403, "{reply:?}");
    assert!(reply.body.contains("AccessDenied"), "{reply:?}");
}

#[test]
fn a_component_without_key_value_stores_is_denied_the_default_store() {
    let dir = AppDir::new(
        r#"
spin_manifest_version = 2

[application]
name = "kv-none"

[[trigger.http]]
route = "/..."
component = "web"

[component.web]
source = "HTTP_WASM"
"#,
    );
    let app = dir.start(dir.options());

    let reply = app.kv_set("default", "key", "value");

    assert_eq!(reply.status, 403, "{reply:?}");
    assert!(reply.body.contains("AccessDenied"), "{reply:?}");
}

#[test]
fn the_http_and_redis_triggers_of_one_app_share_the_default_store() {
    let redis = RedisServer::start();
    let dir = AppDir::new(&format!(
        r#"
spin_manifest_version = 2

[application]
name = "kv-shared"

[application.trigger.redis]
address = "{url}"

[[trigger.http]]
route = "/..."
component = "web"

[[trigger.redis]]
channel = "kv"
component = "listener"

[component.web]
source = "HTTP_WASM"
key_value_stores = ["default"]

[component.listener]
source = "REDIS_WASM"
key_value_stores = ["default"]

[component.listener.variables]
sink = "kv"
list_key = "log"
"#,
        url = redis.url()
    ));
    let app = dir.start(dir.options());
    redis.wait_for_subscriber("kv", WAIT);

    let _: i64 = redis::cmd("PUBLISH")
        .arg("kv")
        .arg("written by the worker")
        .query(&mut redis.connection())
        .unwrap();

    let seen = testkit::wait_until(WAIT, "the Redis handler's write, read over HTTP", || {
        let reply = app.kv_get("default", "log");
        (reply.status == 200).then_some(reply.body)
    });
    assert_eq!(seen, "written by the worker\n");
}

/// The default store on `redis`, through a runtime config file.
fn start_on_redis(redis: &RedisServer) -> (AppDir, TestApp) {
    let dir = AppDir::new(WEB_WITH_DEFAULT_STORE);
    let runtime_config = dir.write("runtime-config.toml", &testkit::kv_on_redis(&redis.url()));
    let mut opts = dir.options();
    opts.runtime_config = Some(runtime_config);
    let app = dir.start(opts);
    (dir, app)
}

// Spin 4.0.2's Redis store when Redis goes away (docs/devhost.md): a call made while
// Redis is down never answers, and neither does any later call, even once Redis is back.
// An outage that no call meets leaves the store working.

#[test]
fn a_redis_store_call_made_while_redis_is_down_never_answers_nor_do_later_ones() {
    let mut redis = RedisServer::start();
    let (_dir, app) = start_on_redis(&redis);
    assert_eq!(app.kv_set("default", "k", "before").status, 200);

    redis.stop();
    let during = app.try_get("/?op=kv-get&store=default&key=k");
    redis.restart();
    let after: Vec<_> = (0..2)
        .map(|_| app.try_get("/?op=kv-exists&store=default&key=k"))
        .collect();

    assert!(during.is_err(), "answered while Redis was down: {during:?}");
    assert!(
        after.iter().all(Result::is_err),
        "answered after Redis came back: {after:?}"
    );
}

#[test]
fn a_redis_store_that_no_call_met_during_an_outage_works_after_it() {
    let mut redis = RedisServer::start();
    let (_dir, app) = start_on_redis(&redis);
    assert_eq!(app.kv_set("default", "k", "before").status, 200);

    redis.stop();
    redis.restart();
    let after = testkit::wait_until(WAIT, "the store to answer after the restart", || {
        app.try_get("/?op=kv-exists&store=default&key=k")
            .ok()
            .filter(|reply| reply.status == 200)
    });

    assert_eq!(after.body, "false", "{after:?}");
}
