//! The queue's Lua scripts against a real redis-server (a throwaway one from `testkit`):
//! the same contract checks the in-memory queue passes, run through a `Redis` port built
//! on the `redis` crate that flattens replies exactly as Spin's host does, once as Spin
//! 4.x (nil kept) and once as Spin 3.x (nil and OK dropped), so the scripts must not
//! depend on either.

use std::sync::Mutex;

use jobs_core::job::{JobId, Status, Tenant};
use jobs_core::keys;
use jobs_core::ports::{PortError, Redis, RedisParam, RedisValue};
use jobs_core::queue::{Doorbell, Enqueue, Queue, RedisQueue, SubmitOutcome, contract, scripts};
use redis::Value;
use testkit::RedisServer;

/// How the host flattens a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Host {
    /// Spin 4.x: nested arrays spliced in, nil kept, OK as a status.
    Spin4,
    /// Spin 3.x: nested arrays spliced in, nil and OK dropped.
    Spin3,
}

struct TestRedis {
    conn: Mutex<redis::Connection>,
    host: Host,
}

impl TestRedis {
    fn new(server: &RedisServer, host: Host) -> Self {
        Self {
            conn: Mutex::new(server.connection()),
            host,
        }
    }

    fn flatten(&self, value: Value, out: &mut Vec<RedisValue>) {
        match value {
            Value::Nil => {
                if self.host == Host::Spin4 {
                    out.push(RedisValue::Nil)
                }
            }
            Value::Okay => {
                if self.host == Host::Spin4 {
                    out.push(RedisValue::Status("OK".into()))
                }
            }
            Value::Int(i) => out.push(RedisValue::Int(i)),
            Value::BulkString(b) => out.push(RedisValue::Bytes(b)),
            Value::SimpleString(s) => out.push(RedisValue::Status(s)),
            Value::Array(items) | Value::Set(items) => {
                for item in items {
                    self.flatten(item, out);
                }
            }
            Value::Double(d) => out.push(RedisValue::Bytes(d.to_string().into_bytes())),
            other => panic!("the host refuses this reply type: {other:?}"),
        }
    }
}

impl Redis for TestRedis {
    fn execute(&self, command: &str, args: &[RedisParam]) -> Result<Vec<RedisValue>, PortError> {
        let mut cmd = redis::cmd(command);
        for arg in args {
            match arg {
                RedisParam::Int(i) => cmd.arg(*i),
                RedisParam::Bytes(b) => cmd.arg(b.as_slice()),
            };
        }
        let mut conn = self.conn.lock().unwrap();
        let value: Value = cmd
            .query(&mut *conn)
            .map_err(|e| PortError::Backend(e.to_string()))?;
        let mut out = Vec::new();
        self.flatten(value, &mut out);
        Ok(out)
    }

    fn publish(&self, channel: &str, payload: &[u8]) -> Result<(), PortError> {
        self.execute(
            "PUBLISH",
            &[channel.into(), RedisParam::Bytes(payload.to_vec())],
        )
        .map(drop)
    }
}

fn queue(server: &RedisServer, host: Host) -> RedisQueue<TestRedis> {
    RedisQueue::new(TestRedis::new(server, host), Tenant::default_tenant())
}

fn flush(server: &RedisServer) {
    let mut conn = server.connection();
    let () = redis::cmd("FLUSHALL").query(&mut conn).unwrap();
}

fn run_contract(host: Host) {
    let server = RedisServer::start();
    let mut failed = Vec::new();
    for (name, check) in contract::CHECKS {
        flush(&server);
        let q = queue(&server, host);
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(&q))).is_err() {
            failed.push(*name);
        }
    }
    assert!(
        failed.is_empty(),
        "contract checks failed on {host:?}: {failed:?}"
    );
}

#[test]
fn the_scripts_keep_the_queue_contract_as_spin_4_flattens_replies() {
    run_contract(Host::Spin4);
}

#[test]
fn the_scripts_keep_the_queue_contract_as_spin_3_flattens_replies() {
    run_contract(Host::Spin3);
}

#[test]
fn every_script_compiles_on_the_server() {
    let server = RedisServer::start();
    let r = TestRedis::new(&server, Host::Spin4);
    for (name, script) in scripts::ALL {
        let reply = r.execute("SCRIPT", &["LOAD".into(), script.into()]);
        assert!(reply.is_ok(), "{name}: {reply:?}");
    }
}

#[test]
fn submit_publishes_the_doorbell_and_uses_the_documented_keys() {
    let server = RedisServer::start();
    let q = queue(&server, Host::Spin4);
    let mut sub = server.connection();
    let mut pubsub = sub.as_pubsub();
    pubsub.subscribe("jobs-test").unwrap();
    pubsub
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();

    let id = JobId::new();
    let job = Enqueue {
        id,
        now_ms: 1,
        due_ms: 1,
        idempotency: Some(jobs_core::queue::IdempotencyClaim {
            key: "k1".into(),
            fingerprint: "fp".into(),
            ttl_ms: 60_000,
        }),
        doorbell: Doorbell {
            channel: "jobs-test".into(),
            payload: id.as_str().into(),
        },
    };
    assert_eq!(q.submit(&job).unwrap(), SubmitOutcome::Enqueued);
    let msg = pubsub.get_message().unwrap();
    assert_eq!(msg.get_payload::<String>().unwrap(), id.as_str());

    let t = Tenant::default_tenant();
    let mut conn = server.connection();
    let ready: Vec<String> = redis::cmd("LRANGE")
        .arg(keys::ready(&t))
        .arg(0)
        .arg(-1)
        .query(&mut conn)
        .unwrap();
    assert_eq!(ready, vec![id.as_str().to_owned()]);
    let queued: Vec<String> = redis::cmd("ZRANGE")
        .arg(keys::by_status(&t, Status::Queued))
        .arg(0)
        .arg(-1)
        .query(&mut conn)
        .unwrap();
    assert_eq!(queued, vec![id.as_str().to_owned()]);
    let idem: String = redis::cmd("GET")
        .arg(keys::idempotency(&t, "k1"))
        .query(&mut conn)
        .unwrap();
    assert_eq!(idem, format!("{} fp", id.as_str()));
    let ttl: i64 = redis::cmd("PTTL")
        .arg(keys::idempotency(&t, "k1"))
        .query(&mut conn)
        .unwrap();
    assert!(ttl > 0 && ttl <= 60_000, "{ttl}");
    assert!(
        ready
            .iter()
            .all(|_| keys::ready(&t) == "aj:{default}:ready")
    );
}

#[test]
fn a_queue_whose_redis_is_gone_reports_an_error_not_a_panic() {
    let mut server = RedisServer::start();
    let q = queue(&server, Host::Spin4);
    q.ping().unwrap();
    server.stop();
    assert!(q.ping().is_err());
    assert!(q.claim(1, 2, "t").is_err());
}

/// The services over the real scripts: submit, drain (with a real retry and its
/// backoff), read the result, cancel, list, stats.
#[test]
fn the_services_run_jobs_end_to_end_over_the_scripts() {
    use jobs_core::config::Settings;
    use jobs_core::kind::Registry;
    use jobs_core::memory::MemoryKv;
    use jobs_core::ports::{SystemClock, SystemRandom};
    use jobs_core::service::{self, CancelResult, Context, ListQuery};

    let server = RedisServer::start();
    let kv = MemoryKv::new();
    let queue = queue(&server, Host::Spin3);
    let settings = Settings::default();
    let registry = Registry::builtin();
    let random = SystemRandom::new();
    let ctx = Context {
        kv: &kv,
        queue: &queue,
        clock: &SystemClock,
        random: &random,
        settings: &settings,
        registry: &registry,
        counter: None,
        tenant: Tenant::default_tenant(),
    };

    let echo = service::submit(&ctx, br#"{"kind":"echo","input":{"n":1}}"#, Some("k")).unwrap();
    let again = service::submit(&ctx, br#"{"kind":"echo","input":{"n":1}}"#, Some("k")).unwrap();
    assert!(again.replayed && again.job.id == echo.job.id);
    let flaky = service::submit(
        &ctx,
        br#"{"kind":"fail","input":{"fail_times":1},"max_attempts":2}"#,
        None,
    )
    .unwrap();
    let doomed = service::submit(
        &ctx,
        br#"{"kind":"echo","input":{},"delay_ms":60000}"#,
        None,
    )
    .unwrap();

    let report = service::drain(&ctx, 3_000);
    assert_eq!((report.succeeded, report.retried), (2, 1), "{report:?}");

    let out = service::result(&ctx, echo.job.id.as_str()).unwrap();
    assert_eq!(out.content_type, "application/json");
    assert_eq!(
        service::get(&ctx, flaky.job.id.as_str()).unwrap().attempts,
        2
    );
    assert!(matches!(
        service::cancel(&ctx, doomed.job.id.as_str()).unwrap(),
        CancelResult::Cancelled(_)
    ));

    let page = service::list(
        &ctx,
        &ListQuery::parse("status=succeeded", &registry.names()).unwrap(),
    )
    .unwrap();
    assert_eq!(page.items.len(), 2);
    let stats = service::stats(&ctx).unwrap();
    assert_eq!(
        (
            stats.counts["succeeded"],
            stats.counts["cancelled"],
            stats.retries
        ),
        (2, 1, 1)
    );
    service::health(&ctx).unwrap();
}
