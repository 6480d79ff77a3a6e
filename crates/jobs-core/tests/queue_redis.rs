//! The queue's Lua scripts against a real redis-server (a throwaway one from `testkit`):
//! the same contract checks the in-memory queue passes, run through a `Redis` port built
//! on the `redis` crate that flattens replies exactly as Spin's host does, once as Spin
//! 4.x (nil kept) and once as Spin 3.x (nil and OK dropped), so the scripts must not
//! depend on either.

use std::sync::Mutex;

use jobs_core::job::{JobId, Status, Tenant};
use jobs_core::keys;
use jobs_core::ports::{PortError, Redis, RedisParam, RedisValue};
use jobs_core::queue::{
    Claim, Doorbell, Enqueue, Finish, Ownership, Queue, RedisQueue, SubmitOutcome, contract,
    scripts,
};
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
    /// Commands sent (round trips), for tests that count them.
    calls: std::sync::atomic::AtomicU64,
}

impl TestRedis {
    fn new(server: &RedisServer, host: Host) -> Self {
        Self {
            conn: Mutex::new(server.connection()),
            host,
            calls: Default::default(),
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
        self.calls
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
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
    RedisQueue::new(TestRedis::new(server, host), &contract::KINDS)
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
fn every_script_compiles_on_the_server_under_the_sha_the_queue_uses() {
    let server = RedisServer::start();
    let r = TestRedis::new(&server, Host::Spin4);
    for script in scripts::ALL {
        let reply = r.execute("SCRIPT", &["LOAD".into(), script.source.into()]);
        let sha = reply
            .as_deref()
            .ok()
            .and_then(|v| v.first())
            .and_then(RedisValue::to_text);
        assert_eq!(
            sha.as_deref(),
            Some(script.sha()),
            "{}: {reply:?}",
            script.name
        );
    }
}

/// Calls per command name, from `INFO commandstats`.
fn command_calls(server: &RedisServer) -> std::collections::HashMap<String, u64> {
    let mut conn = server.connection();
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query(&mut conn)
        .unwrap();
    info.lines()
        .filter_map(|line| {
            let (name, rest) = line.strip_prefix("cmdstat_")?.split_once(':')?;
            let calls = rest
                .strip_prefix("calls=")?
                .split(',')
                .next()?
                .parse()
                .ok()?;
            Some((name.to_owned(), calls))
        })
        .collect()
}

#[test]
fn scripts_run_by_sha_and_are_sent_again_only_after_noscript() {
    let server = RedisServer::start();
    for host in [Host::Spin4, Host::Spin3] {
        let q = queue(&server, host);
        let mut conn = server.connection();
        let () = redis::cmd("SCRIPT").arg("FLUSH").query(&mut conn).unwrap();
        let before = command_calls(&server);
        // Not cached: EVALSHA answers NOSCRIPT, EVAL runs (and caches) the script once.
        q.ping().unwrap();
        assert_eq!(
            q.claim(1, 2, "t", 1).unwrap(),
            jobs_core::queue::Claim::Empty {
                next_due_ms: None,
                next_expiry_ms: None
            }
        );
        // Cached: EVALSHA alone.
        q.claim(1, 2, "t", 1).unwrap();
        q.claim(1, 2, "t", 1).unwrap();
        let after = command_calls(&server);
        let delta = |name: &str| after.get(name).unwrap_or(&0) - before.get(name).unwrap_or(&0);
        assert_eq!((delta("evalsha"), delta("eval")), (3, 1), "{host:?}");
        // The text is sent again when Redis lost its cache (restart, SCRIPT FLUSH).
        let () = redis::cmd("SCRIPT").arg("FLUSH").query(&mut conn).unwrap();
        q.claim(1, 2, "t", 1).unwrap();
        assert_eq!(command_calls(&server)["eval"], after["eval"] + 1);
    }
}

#[test]
fn a_script_error_is_reported_not_retried_with_eval() {
    let server = RedisServer::start();
    let q = queue(&server, Host::Spin4);
    q.claim(1, 2, "t", 1).unwrap(); // caches the scripts' prelude path: EVAL once for claim
    let before = command_calls(&server);
    let not_final = [jobs_core::queue::Finish {
        tenant: Tenant::default_tenant(),
        id: JobId::new(),
        token: "t".into(),
        status: Status::Running,
        dead: false,
        hook: false,
        record: None,
    }];
    // finish_and_claim refuses a status that is not final with a script error.
    let err = q.finish_and_claim(&not_final, 1, 2, "t", 1).unwrap_err();
    assert!(err.to_string().contains("not a final status"), "{err}");
    let after = command_calls(&server);
    // Its first call is EVALSHA → NOSCRIPT → EVAL (the error); never a second EVAL.
    assert_eq!(after["eval"] - before.get("eval").unwrap_or(&0), 1);
    q.finish_and_claim(&not_final, 1, 2, "t", 1).unwrap_err();
    assert_eq!(command_calls(&server)["eval"], after["eval"]);
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
        tenant: Tenant::default_tenant(),
        id,
        kind: "echo".into(),
        now_ms: 1,
        due_ms: 1,
        idempotency: Some(jobs_core::queue::IdempotencyClaim {
            key: "k1".into(),
            fingerprint: "fp".into(),
            retention_cutoff_ms: 0,
        }),
        doorbell: Doorbell {
            channel: "jobs-test".into(),
            payload: id.as_str().into(),
        },
        max_queued: 10,
        records: Vec::new(),
        key: None,
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
    assert_eq!(ttl, -1, "the key lives as long as its job");
    // Retention removes the job, and the key with it.
    q.cancel(&t, &id, 2, false).unwrap();
    q.forget(&t, &[id]).unwrap();
    for key in [keys::idempotency(&t, "k1"), keys::idempotency_of(&t)] {
        let exists: i64 = redis::cmd("EXISTS").arg(&key).query(&mut conn).unwrap();
        assert_eq!(exists, 0, "{key}");
    }
    assert!(
        ready
            .iter()
            .all(|_| keys::ready(&t) == "aj:{default}:ready")
    );
}

#[test]
fn a_ring_is_held_back_only_by_one_within_the_callers_own_window() {
    let server = RedisServer::start();
    let q = queue(&server, Host::Spin4);
    let bell = Doorbell {
        channel: "jobs".into(),
        payload: "test".into(),
    };

    assert!(q.ring(&bell, 1_000).unwrap());
    assert!(!q.ring(&bell, 1_000).unwrap(), "within the window");
    // A caller with a window of 20 ms rings once 20 ms have passed, well before the
    // 1 s of the ring before (by Redis's own clock).
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(800);
    while !q.ring(&bell, 20).unwrap() {
        assert!(
            std::time::Instant::now() < deadline,
            "held back by the window of the ring before"
        );
        std::thread::yield_now();
    }
    assert!(!q.ring(&bell, 1_000).unwrap(), "that ring counts too");
}

/// A submission rings the doorbell only when it is not armed: after a ring, later
/// submissions stay quiet until a claim finds no tenant in line (or the ring's expiry).
#[test]
fn a_submission_rings_only_when_no_drain_will_claim_its_job() {
    let server = RedisServer::start();
    let q = queue(&server, Host::Spin4);
    let publishes = || command_calls(&server).get("publish").copied().unwrap_or(0);
    let armed_ms = || -> i64 {
        redis::cmd("PTTL")
            .arg(keys::armed())
            .query(&mut server.connection())
            .unwrap()
    };
    let submit = |n| assert_eq!(q.submit(&contract_job(n)).unwrap(), SubmitOutcome::Enqueued);

    submit(1);
    submit(2);
    assert_eq!(publishes(), 1, "the second found the doorbell armed");
    let ttl = armed_ms();
    assert!(
        ttl > 0 && ttl <= jobs_core::queue::DOORBELL_ARMED_MS as i64,
        "{ttl}"
    );
    // A drain claims both, and one more submitted meanwhile: no ring needed.
    assert!(matches!(
        q.claim(1, 1_000, "t", 2).unwrap(),
        jobs_core::queue::Claim::Claimed { .. }
    ));
    submit(3);
    assert_eq!(publishes(), 1);
    assert!(matches!(
        q.claim(1, 1_000, "t", 2).unwrap(),
        jobs_core::queue::Claim::Claimed { .. }
    ));
    assert!(armed_ms() > 0, "a claim that found work leaves it armed");
    // The drain finds the line empty: it disarms, and the next submission rings.
    assert!(matches!(
        q.claim(1, 1_000, "t", 2).unwrap(),
        jobs_core::queue::Claim::Empty { .. }
    ));
    assert_eq!(armed_ms(), -2, "disarmed");
    submit(4);
    assert_eq!(publishes(), 2);
}

#[test]
fn a_submit_writes_the_records_it_is_given_only_when_it_enqueues() {
    let server = RedisServer::start();
    let q = queue(&server, Host::Spin4);
    let t = Tenant::default_tenant();
    let mut conn = server.connection();
    let with_records = |key: &str, max_queued: u64| {
        let id = JobId::new();
        let job = Enqueue {
            tenant: t.clone(),
            id,
            kind: "echo".into(),
            now_ms: 1,
            due_ms: 1,
            idempotency: Some(jobs_core::queue::IdempotencyClaim {
                key: key.into(),
                fingerprint: "fp".into(),
                retention_cutoff_ms: 0,
            }),
            doorbell: Doorbell {
                channel: "jobs-test".into(),
                payload: id.as_str().into(),
            },
            max_queued,
            records: vec![
                (keys::input(&t, &id), vec![0, 255, 1]),
                (keys::job(&t, &id), format!("record of {id}").into_bytes()),
            ],
            key: None,
        };
        (id, q.submit(&job).unwrap())
    };
    let get = |conn: &mut redis::Connection, key: String| -> Option<Vec<u8>> {
        redis::cmd("GET").arg(key).query(conn).unwrap()
    };

    let (id, outcome) = with_records("k1", 10);
    assert_eq!(outcome, SubmitOutcome::Enqueued);
    assert_eq!(get(&mut conn, keys::input(&t, &id)), Some(vec![0, 255, 1]));
    assert_eq!(
        get(&mut conn, keys::job(&t, &id)),
        Some(format!("record of {id}").into_bytes())
    );
    // A duplicate key and a full queue write nothing.
    let (dup, outcome) = with_records("k1", 10);
    assert!(
        matches!(outcome, SubmitOutcome::Duplicate(_)),
        "{outcome:?}"
    );
    let (full, outcome) = with_records("k2", 1);
    assert!(matches!(outcome, SubmitOutcome::Full { .. }), "{outcome:?}");
    for id in [dup, full] {
        assert_eq!(get(&mut conn, keys::job(&t, &id)), None);
        assert_eq!(get(&mut conn, keys::input(&t, &id)), None);
    }
}

#[test]
fn work_queued_before_tenants_had_turns_is_still_claimed() {
    // As a deployment upgraded with jobs waiting: `default`'s keys, no turn in the ring.
    let server = RedisServer::start();
    let q = queue(&server, Host::Spin4);
    let t = Tenant::default_tenant();
    let (ready, delayed) = (JobId::new(), JobId::new());
    let mut conn = server.connection();
    let _: () = redis::pipe()
        .lpush(keys::ready(&t), ready.as_str())
        .zadd(keys::delayed(&t), delayed.as_str(), 500)
        .zadd(keys::by_status(&t, Status::Queued), ready.as_str(), 0)
        .zadd(keys::by_status(&t, Status::Queued), delayed.as_str(), 0)
        .query(&mut conn)
        .unwrap();

    // Another tenant submits first, and keeps the line busy.
    let acme = Tenant::parse("acme").unwrap();
    for n in 0..3 {
        let mut job = contract_job(n);
        job.tenant = acme.clone();
        q.submit(&job).unwrap();
    }

    let mut claimed = Vec::new();
    for now in [100, 100, 500, 500] {
        if let jobs_core::queue::Claim::Claimed { tenant, jobs, .. } =
            q.claim(now, now + 1_000, "w", 1).unwrap()
            && tenant == t
        {
            claimed.extend(jobs.iter().map(|j| j.id));
        }
    }
    assert_eq!(
        claimed,
        vec![ready, delayed],
        "the old jobs got their turns"
    );
}

/// A ready job of the contract's shape (tenant `default`), numbered `n`.
fn contract_job(n: u64) -> Enqueue {
    Enqueue {
        tenant: Tenant::default_tenant(),
        id: contract::id(1_000 + n),
        kind: contract::KINDS[0].to_owned(),
        now_ms: 1,
        due_ms: 1,
        idempotency: None,
        doorbell: Doorbell {
            channel: "jobs".into(),
            payload: "x".into(),
        },
        max_queued: 100,
        records: Vec::new(),
        key: None,
    }
}

/// A submission whose key was not looked up carries the key as its instance read it: the
/// script enqueues (and writes the record) only while the key is still that tenant's,
/// with that hash, unrevoked and allowed to submit, and changes nothing otherwise.
#[test]
fn a_submit_with_a_key_proof_goes_through_only_while_the_key_is_as_read() {
    use jobs_core::queue::KeyProof;
    use jobs_core::tenancy::{ApiKey, RedisTenants, Role, TenantStore};
    let server = RedisServer::start();
    let q = queue(&server, Host::Spin4);
    let tenants = RedisTenants::new(TestRedis::new(&server, Host::Spin4));
    let (t, other) = (Tenant::default_tenant(), Tenant::parse("other").unwrap());
    for tenant in [&t, &other] {
        tenants.create_tenant(tenant, 1, None).unwrap();
    }
    let (full, viewer) = (ApiKey::generate().unwrap(), ApiKey::generate().unwrap());
    tenants.issue_key(&t, &full, Role::Full, 1).unwrap();
    tenants.issue_key(&t, &viewer, Role::Read, 1).unwrap();
    let proof = |key: &ApiKey, hash: String| KeyProof {
        id: key.id().to_owned(),
        hash,
    };
    let mut n = 0;
    let mut submit = |tenant: &Tenant, proof: KeyProof| {
        n += 1;
        let id = contract::id(3_000 + n);
        let job = Enqueue {
            tenant: tenant.clone(),
            id,
            records: vec![(keys::job(tenant, &id), b"record".to_vec())],
            key: Some(proof),
            ..contract_job(n)
        };
        (id, q.submit(&job).unwrap())
    };
    let mut conn = server.connection();
    let exists = |conn: &mut redis::Connection, tenant: &Tenant, id: &JobId| -> bool {
        redis::cmd("EXISTS")
            .arg(keys::job(tenant, id))
            .query(conn)
            .unwrap()
    };

    // As read: enqueued, its record written.
    let (id, outcome) = submit(&t, proof(&full, full.hash()));
    assert_eq!(outcome, SubmitOutcome::Enqueued);
    assert!(exists(&mut conn, &t, &id));
    // Not as read: another hash, another tenant, a read-only key, then the key revoked.
    let refused = [
        submit(&t, proof(&full, viewer.hash())),
        submit(&other, proof(&full, full.hash())),
        submit(&t, proof(&viewer, viewer.hash())),
    ];
    tenants.revoke_key(&t, full.id(), 2).unwrap().unwrap();
    let revoked = submit(&t, proof(&full, full.hash()));
    for (id, outcome) in refused.iter().chain([&revoked]) {
        assert_eq!(*outcome, SubmitOutcome::KeyRefused, "{id}");
        for tenant in [&t, &other] {
            assert!(!exists(&mut conn, tenant, id), "{id}: nothing written");
            assert!(!q.knows(tenant, id).unwrap(), "{id}: nothing enqueued");
        }
    }
    assert_eq!(q.stats(&t, 0).unwrap().ready, 1);
}

#[test]
fn a_finish_writes_its_record_only_while_its_token_holds_the_job() {
    let server = RedisServer::start();
    let q = queue(&server, Host::Spin4);
    let t = Tenant::default_tenant();
    let (a, b) = (contract_job(1), contract_job(2));
    for job in [&a, &b] {
        assert_eq!(q.submit(job).unwrap(), SubmitOutcome::Enqueued);
    }
    assert!(matches!(
        q.claim(1, 1_000, "mine", 2).unwrap(),
        Claim::Claimed { .. }
    ));
    let finish = |job: &Enqueue, token: &str| Finish {
        tenant: t.clone(),
        id: job.id,
        token: token.into(),
        status: Status::Succeeded,
        dead: false,
        hook: false,
        record: Some((
            keys::job(&t, &job.id),
            format!("final {}", job.id).into_bytes(),
        )),
    };
    let (owned, _) = q
        .finish_and_claim(
            &[finish(&a, "mine"), finish(&b, "theirs")],
            2,
            1_000,
            "next",
            0,
        )
        .unwrap();
    assert_eq!(owned, vec![Ownership::Owned, Ownership::Lost]);
    let mut conn = server.connection();
    let get = |conn: &mut redis::Connection, id: &JobId| -> Option<String> {
        redis::cmd("GET")
            .arg(keys::job(&t, id))
            .query(conn)
            .unwrap()
    };
    assert_eq!(get(&mut conn, &a.id), Some(format!("final {}", a.id)));
    assert_eq!(
        get(&mut conn, &b.id),
        None,
        "a lost job gets nothing written"
    );
}

/// `LREM` reads the whole ready list, which may hold a tenant's whole backlog: retention
/// and the cancel of a delayed job leave that list alone, and only the cancel of a ready
/// job reads it.
/// `n` jobs submitted ready, oldest (at the claiming end) first.
fn ready_backlog(q: &RedisQueue<TestRedis>, n: u64) -> Vec<Enqueue> {
    let jobs: Vec<Enqueue> = (1..=n)
        .map(|n| Enqueue {
            max_queued: 10_000,
            ..contract_job(n)
        })
        .collect();
    for job in &jobs {
        assert_eq!(q.submit(job).unwrap(), SubmitOutcome::Enqueued);
    }
    jobs
}

/// How many ids tenant `t`'s ready list holds, cancelled jobs' included.
fn ready_list_length(server: &RedisServer, t: &Tenant) -> usize {
    redis::cmd("LLEN")
        .arg(keys::ready(t))
        .query(&mut server.connection())
        .unwrap()
}

#[test]
fn a_cancel_never_reads_the_ready_list_and_a_claim_passes_over_what_it_left() {
    use jobs_core::queue::CancelOutcome;
    let server = RedisServer::start();
    let q = queue(&server, Host::Spin4);
    let t = Tenant::default_tenant();
    // Ready from the oldest (the claiming end) to the newest: 1, 2, 3, 4.
    let jobs = ready_backlog(&q, 4);
    let ready_ids = || ready_list_length(&server, &t);
    let () = redis::cmd("CONFIG")
        .arg("RESETSTAT")
        .query(&mut server.connection())
        .unwrap();
    let cancel = |job: &Enqueue, now| q.cancel(&t, &job.id, now, false).unwrap();

    // The newest and one between: their ids stay in the list, the counts do not.
    assert_eq!(cancel(&jobs[3], 2), CancelOutcome::Cancelled);
    assert_eq!(cancel(&jobs[1], 2), CancelOutcome::Cancelled);
    assert_eq!(ready_ids(), 4);
    let stats = q.stats(&t, 2).unwrap();
    assert_eq!((stats.ready, stats.oldest_ready), (2, Some(jobs[0].id)));
    // The oldest, at the claiming end: its id goes, and the cancelled one behind it.
    assert_eq!(cancel(&jobs[0], 3), CancelOutcome::Cancelled);
    assert_eq!(ready_ids(), 2);
    let stats = q.stats(&t, 3).unwrap();
    assert_eq!((stats.ready, stats.oldest_ready), (1, Some(jobs[2].id)));
    assert_eq!(command_calls(&server).get("lrem"), None);

    // A claim of two takes the one job left and passes over the newest's id.
    let Claim::Claimed { jobs: claimed, .. } = q.claim(4, 1_000, "mine", 2).unwrap() else {
        panic!("nothing claimed");
    };
    assert_eq!(
        claimed.iter().map(|j| j.id).collect::<Vec<_>>(),
        [jobs[2].id]
    );
    assert_eq!(ready_ids(), 0);
    assert!(matches!(
        q.claim(5, 1_000, "mine", 2).unwrap(),
        Claim::Empty { .. }
    ));
    assert_eq!(q.stats(&t, 5).unwrap().ready, 0);
}

#[test]
fn a_claim_passes_over_a_long_run_of_cancelled_ids_in_bounded_steps() {
    use jobs_core::queue::CancelOutcome;
    let server = RedisServer::start();
    let q = queue(&server, Host::Spin4);
    let t = Tenant::default_tenant();
    let jobs = ready_backlog(&q, 1_102);
    // All but the oldest (the claiming end) and the newest.
    for job in &jobs[1..1_101] {
        assert_eq!(
            q.cancel(&t, &job.id, 2, false).unwrap(),
            CancelOutcome::Cancelled
        );
    }
    let ready_ids = || ready_list_length(&server, &t);
    assert_eq!(ready_ids(), 1_102);
    let claimed = |now, max| match q.claim(now, now + 1_000, "w", max).unwrap() {
        Claim::Claimed { jobs, .. } => jobs.iter().map(|j| j.id).collect::<Vec<_>>(),
        Claim::Empty { .. } => Vec::new(),
    };

    // The oldest; then a thousand of the ids behind it go.
    assert_eq!(claimed(3, 1), [jobs[0].id]);
    assert_eq!(ready_ids(), 101);
    // The rest are passed over, and the newest claimed.
    assert_eq!(claimed(4, 5), [jobs[1_101].id]);
    assert_eq!(ready_ids(), 0);
}

#[test]
fn one_claim_passes_over_a_thousand_cancelled_ids_and_the_next_goes_on() {
    use jobs_core::queue::CancelOutcome;
    let server = RedisServer::start();
    let q = queue(&server, Host::Spin4);
    let t = Tenant::default_tenant();
    let jobs = ready_backlog(&q, 2_301);
    // All but the newest, newest first (as a bulk cancel goes): the last, at the
    // claiming end, drops a thousand ids from there.
    for job in jobs[..2_300].iter().rev() {
        assert_eq!(
            q.cancel(&t, &job.id, 2, false).unwrap(),
            CancelOutcome::Cancelled
        );
    }
    let ready_ids = || ready_list_length(&server, &t);
    assert_eq!(ready_ids(), 1_301);
    let stats = q.stats(&t, 2).unwrap();
    // The newest is too far from the claiming end to be looked for.
    assert_eq!((stats.ready, stats.oldest_ready), (1, None));

    // A claim stops after a thousand and says work is due now.
    assert_eq!(
        q.claim(3, 1_003, "w", 5).unwrap(),
        Claim::Empty {
            next_due_ms: Some(3),
            next_expiry_ms: None
        }
    );
    assert_eq!(ready_ids(), 301);
    assert_eq!(q.stats(&t, 3).unwrap().oldest_ready, Some(jobs[2_300].id));
    let Claim::Claimed { jobs: claimed, .. } = q.claim(4, 1_004, "w", 5).unwrap() else {
        panic!("nothing claimed");
    };
    assert_eq!(claimed[0].id, jobs[2_300].id);
    assert_eq!(ready_ids(), 0);
}

/// What the services need to run over the real scripts: the queue on `server`, the
/// records in memory, the default settings and kinds.
struct Services {
    kv: jobs_core::memory::MemoryKv,
    queue: RedisQueue<TestRedis>,
    settings: jobs_core::config::Settings,
    registry: jobs_core::kinds::Registry,
    random: jobs_core::ports::SystemRandom,
}

impl Services {
    fn over(server: &RedisServer, host: Host) -> Self {
        Services {
            kv: jobs_core::memory::MemoryKv::new(),
            queue: queue(server, host),
            settings: jobs_core::config::Settings::default(),
            registry: jobs_core::kinds::Registry::builtin(),
            random: jobs_core::ports::SystemRandom::new(),
        }
    }

    /// The default tenant's context.
    fn ctx(&self) -> jobs_core::service::Context<'_> {
        jobs_core::service::Context {
            kv: &self.kv,
            queue: &self.queue,
            clock: &jobs_core::ports::SystemClock,
            random: &self.random,
            settings: &self.settings,
            registry: &self.registry,
            counter: None,
            http: None,
            tenant: Tenant::default_tenant(),
            quota: None,
        }
    }
}

#[test]
fn a_drain_out_of_budget_before_jobs_behind_cancelled_ids_rings_again() {
    use jobs_core::service;
    use jobs_core::worker::Stop;

    let server = RedisServer::start();
    let services = Services::over(&server, Host::Spin4);
    let ctx = services.ctx();
    let ids: Vec<JobId> = (0..2_301)
        .map(|n| {
            let body = format!(r#"{{"kind":"echo","input":{{"n":{n}}}}}"#);
            service::submit(&ctx, body.as_bytes(), None).unwrap().job.id
        })
        .collect();
    // All but the newest, newest first: more than one claim passes over stand before it.
    for id in ids[..2_300].iter().rev() {
        service::cancel(&ctx, id.as_str()).unwrap();
    }

    // No budget: one claim, which stops at its share of them.
    let report = futures::executor::block_on(service::drain(&ctx, 0));
    assert_eq!(
        (report.succeeded, report.stop),
        (0, Stop::Budget),
        "{report:?}"
    );
    assert!(report.rang_again, "{report:?}");
    let report = futures::executor::block_on(service::drain(&ctx, 3_000));
    assert_eq!(report.succeeded, 1, "{report:?}");
    assert_eq!(
        service::get(&ctx, ids[2_300].as_str()).unwrap().status,
        Status::Succeeded
    );
}

#[test]
fn a_queue_whose_redis_is_gone_reports_an_error_not_a_panic() {
    let mut server = RedisServer::start();
    let q = queue(&server, Host::Spin4);
    q.ping().unwrap();
    server.stop();
    assert!(q.ping().is_err());
    assert!(q.claim(1, 2, "t", 1).is_err());
}

/// The services over the real scripts: submit, drain (with a real retry and its
/// backoff), read the result, cancel, list, stats.
#[test]
fn the_services_run_jobs_end_to_end_over_the_scripts() {
    use jobs_core::service::{self, CancelResult, ListQuery};

    let server = RedisServer::start();
    let services = Services::over(&server, Host::Spin3);
    let ctx = services.ctx();
    let registry = &services.registry;

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

    let report = futures::executor::block_on(service::drain(&ctx, 3_000));
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

/// The round trips a drain of 50 quick jobs makes, counted (not timed): Redis commands
/// (a `Redis` port that counts them) plus key-value calls, with the store wired as the
/// components wire it (`BatchReads` over `RedisFirst`). `store_is_redis`: the store keeps
/// its keys in the queue's Redis (as `make up` runs it), else apart (SQLite).
fn drain_round_trips(store_is_redis: bool) -> (u64, u64) {
    use std::cell::Cell;
    use std::rc::Rc;

    use jobs_core::batch_reads::BatchReads;
    use jobs_core::config::Settings;
    use jobs_core::kinds::Registry;
    use jobs_core::liveness::{Liveness, RedisFirst, WatchedRedis};
    use jobs_core::memory::MemoryKv;
    use jobs_core::ports::{KeyValue, SystemClock, SystemRandom};
    use jobs_core::service::{self, Context};

    /// A key-value store that counts its calls: in the queue's Redis (one command per
    /// call, as Spin's Redis store), or in memory.
    struct CountingKv {
        redis: Option<Rc<TestRedis>>,
        kv: MemoryKv,
        calls: Cell<u64>,
    }
    impl CountingKv {
        fn command(&self, name: &str, args: Vec<RedisParam>) -> Result<Vec<RedisValue>, PortError> {
            self.redis
                .as_ref()
                .expect("a store in Redis")
                .execute(name, &args)
        }
    }
    impl KeyValue for CountingKv {
        fn get(&self, key: &str) -> Result<Option<Vec<u8>>, PortError> {
            self.calls.set(self.calls.get() + 1);
            if self.redis.is_none() {
                return self.kv.get(key);
            }
            Ok(match self.command("GET", vec![key.into()])?.pop() {
                Some(RedisValue::Bytes(bytes)) => Some(bytes),
                _ => None,
            })
        }
        fn set(&self, key: &str, value: &[u8]) -> Result<(), PortError> {
            self.calls.set(self.calls.get() + 1);
            if self.redis.is_none() {
                return self.kv.set(key, value);
            }
            self.command("SET", vec![key.into(), RedisParam::Bytes(value.to_vec())])
                .map(drop)
        }
        fn delete(&self, key: &str) -> Result<(), PortError> {
            self.calls.set(self.calls.get() + 1);
            if self.redis.is_none() {
                return self.kv.delete(key);
            }
            self.command("DEL", vec![key.into()]).map(drop)
        }
        // As Spin's store reads a batch: one get per key (its get-many is unusable).
        fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, PortError> {
            keys.iter().map(|key| self.get(key)).collect()
        }
        fn set_many(&self, pairs: &[(String, Vec<u8>)]) -> Result<(), PortError> {
            if self.redis.is_none() {
                self.calls.set(self.calls.get() + 1);
                return pairs
                    .iter()
                    .try_for_each(|(key, value)| self.kv.set(key, value));
            }
            self.calls.set(self.calls.get() + 1);
            let mut args = Vec::new();
            for (key, value) in pairs {
                args.push(RedisParam::from(key.as_str()));
                args.push(RedisParam::Bytes(value.clone()));
            }
            self.command("MSET", args).map(drop)
        }
    }

    let server = RedisServer::start();
    let redis = Rc::new(TestRedis::new(&server, Host::Spin3));
    let liveness = Liveness::new();
    let watched = Rc::new(WatchedRedis::new(
        redis.clone(),
        liveness.clone(),
        SystemClock,
    ));
    let queue = RedisQueue::new(watched.clone(), &["echo"]);
    let counting = Rc::new(CountingKv {
        redis: store_is_redis.then(|| Rc::new(TestRedis::new(&server, Host::Spin3))),
        kv: MemoryKv::new(),
        calls: Cell::new(0),
    });
    // One store per instance, as on Spin: the intake's that submits, the worker's that
    // drains (an instance reads back through the store what it wrote itself).
    let store = || {
        BatchReads::new(
            RedisFirst::new(
                counting.clone(),
                watched.clone(),
                liveness.clone(),
                SystemClock,
            ),
            watched.clone(),
            SystemRandom::new(),
        )
    };
    let (intake_kv, worker_kv) = (store(), store());
    let settings = Settings::default();
    let registry = Registry::builtin();
    let random = SystemRandom::new();
    let ctx = Context {
        kv: &intake_kv,
        queue: &queue,
        clock: &SystemClock,
        random: &random,
        settings: &settings,
        registry: &registry,
        counter: None,
        http: None,
        tenant: Tenant::default_tenant(),
        quota: None,
    };
    let jobs = 50;
    for n in 0..jobs {
        service::submit(
            &ctx,
            format!(r#"{{"kind":"echo","input":{{"n":{n}}}}}"#).as_bytes(),
            None,
        )
        .unwrap();
    }
    // Warm the script cache, so the count is the steady state.
    queue.stats(&Tenant::default_tenant(), 0).unwrap();
    queue.expired(0, 0, 1).unwrap();
    let calls = || redis.calls.load(std::sync::atomic::Ordering::Relaxed);
    let redis_before = calls();
    let kv_before = counting.calls.get();

    let ctx = Context {
        kv: &worker_kv,
        ..ctx
    };
    let report = futures::executor::block_on(service::drain(&ctx, 10_000));
    assert_eq!(report.succeeded, jobs, "{report:?}");

    let redis = calls() - redis_before;
    let kv_calls = counting.calls.get() - kv_before;
    eprintln!(
        "store in Redis: {store_is_redis}: {redis} Redis + {kv_calls} key-value round trips for {jobs} jobs"
    );
    (redis, kv_calls)
}

// 50 jobs in batches of 1, 2, 4, 8, 16 and 19. Per batch: the finish-and-claim script,
// the records read, the running write, the final write (with the store in the queue's
// Redis, the reads come with the claim and the final write goes with the next finish,
// both inside the finish-and-claim script), and at most a PING before each key-value
// write (when the last Redis answer is over 2 ms old); per drain: the marker read both
// ways (and written once), one retention sweep, the last finish-and-claim, the first
// claim's script load.

/// With the store in the queue's Redis, a batch's records come back with its claim and
/// its final records travel with the finish: 2 round trips per batch, whatever its size
/// (plus, once per drain, the marker read both ways and the first batch's `MGET`, made
/// before the marker is known). The only key-value calls left are the marker's and one
/// running write per batch.
#[test]
fn a_drain_of_quick_jobs_costs_two_round_trips_per_batch() {
    let (redis, kv_calls) = drain_round_trips(true);
    assert!(kv_calls <= 6 + 3, "{kv_calls} key-value calls");
    assert!(
        redis + kv_calls <= 6 * 2 + 1 + 4 + 4 + 1,
        "{redis} + {kv_calls}"
    );
}

/// With the store elsewhere (SQLite), each record is its own read.
#[test]
fn a_drain_of_quick_jobs_off_redis_costs_one_read_per_job_and_four_per_batch() {
    let (redis, kv_calls) = drain_round_trips(false);
    assert!(
        redis + kv_calls <= 50 + 6 * 5 + 4 + 4,
        "{redis} + {kv_calls}"
    );
    assert!(kv_calls >= 50, "one read per record: {kv_calls}");
}
