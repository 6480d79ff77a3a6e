//! `GET /jobs`: newest first, in pages joined by a cursor, filtered by status, kind or both.

use std::time::{Duration, Instant};

use e2e::{Job, TestApp, inputs, spawn_app};
use serde_json::json;

/// Submits `n` echo jobs that stay queued (far-future `delay_ms`), in order, and
/// returns their ids oldest first.
fn submit_queued_jobs(app: &TestApp, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    let mut last = Instant::now();
    for i in 0..n {
        // Ids order jobs by creation time to the millisecond; each submission runs in a
        // fresh instance, so two in the same millisecond would have no defined order.
        // Wait (by the clock, not for a fixed time) until the next millisecond.
        testkit::wait_until(Duration::from_secs(1), "the clock to pass 2 ms", || {
            (last.elapsed() >= Duration::from_millis(2)).then_some(())
        });
        let job: Job = app.submit_ok(&inputs::with(
            inputs::echo(json!({ "n": i })),
            json!({ "delay_ms": 600_000 }),
        ));
        last = Instant::now();
        ids.push(job.id);
    }
    ids
}

#[test]
fn jobs_are_listed_newest_first_across_pages_joined_by_a_cursor() {
    // Arrange
    let app = spawn_app();
    let oldest_first = submit_queued_jobs(&app, 5);
    let newest_first: Vec<String> = oldest_first.iter().rev().cloned().collect();

    // Act
    let page1 = app.list_page("limit=2");
    let page2 = app.next_page("limit=2", &page1).expect("a second page");
    let page3 = app.next_page("limit=2", &page2).expect("a third page");

    // Assert
    assert_eq!(page1.ids(), newest_first[0..2], "page 1: {}", page1.json);
    assert_eq!(page2.ids(), newest_first[2..4], "page 2: {}", page2.json);
    assert_eq!(page3.ids(), newest_first[4..5], "page 3: {}", page3.json);
    assert!(
        !page3.has_next(),
        "the last page has no cursor: {}",
        page3.json
    );
}

#[test]
fn a_status_filter_lists_only_jobs_in_that_status_newest_first() {
    // Arrange
    let app = spawn_app();
    let ids = submit_queued_jobs(&app, 5);
    app.cancel(&ids[1]).expect_status(200);
    app.cancel(&ids[3]).expect_status(200);

    // Act
    let cancelled = app.list_all_ids("status=cancelled");
    let queued = app.list_all_ids("status=queued");
    let everything = app.list_all_ids("");

    // Assert
    assert_eq!(cancelled, vec![ids[3].clone(), ids[1].clone()]);
    assert_eq!(queued, vec![ids[4].clone(), ids[2].clone(), ids[0].clone()]);
    assert_eq!(everything.len(), 5, "{everything:?}");
    for item in app.list_page("status=cancelled").items {
        assert_eq!(item.status, "cancelled", "{}", item.json);
    }
}

#[test]
fn a_kind_filter_lists_only_jobs_of_that_kind() {
    // Arrange
    let app = spawn_app();
    let echo = app.submit_ok(&inputs::with(
        inputs::echo(json!({ "n": 1 })),
        json!({ "delay_ms": 600_000 }),
    ));
    app.submit_ok(&inputs::with(
        inputs::sleep(10),
        json!({ "delay_ms": 600_000 }),
    ));

    // Act
    let listed = app.list_all_ids("kind=echo");

    // Assert
    assert_eq!(listed, vec![echo.id]);
}

#[test]
fn a_kind_and_a_status_together_list_the_jobs_of_that_kind_in_that_status() {
    // Arrange: two echoes waiting, one echo done, and a job of another kind done.
    let app = spawn_app();
    let waiting = submit_queued_jobs(&app, 2);
    let done = app.submit_ok(&inputs::echo(json!({ "done": true })));
    let other = app.submit_ok(&inputs::sleep(0));
    app.wait_for_status(&done.id, "succeeded", Duration::from_secs(30));
    app.wait_for_status(&other.id, "succeeded", Duration::from_secs(30));

    // Act
    let succeeded = app.list_all_ids("kind=echo&status=succeeded");
    let queued = app.list_all_ids("kind=echo&status=queued");

    // Assert
    assert_eq!(succeeded, vec![done.id]);
    assert_eq!(queued, waiting.into_iter().rev().collect::<Vec<_>>());
}

/// Lists 40 queued echo jobs by kind in one page after resetting Redis's command
/// statistics; returns the page's ids and the statistics.
fn list_forty_by_kind(app: &e2e::TestApp) -> (Vec<String>, std::collections::HashMap<String, u64>) {
    let ids: Vec<String> = (0..40)
        .map(|i| {
            app.submit_ok(&inputs::with(
                inputs::echo(json!({ "n": i })),
                json!({ "delay_ms": 600_000 }),
            ))
            .id
        })
        .collect();
    app.stack.redis.reset_command_stats();
    let page = app.list_page("kind=echo&limit=50");
    let calls = app.stack.redis.command_calls();
    let mut listed = page.ids();
    listed.sort();
    let mut expected = ids;
    expected.sort();
    assert_eq!(listed, expected, "{}", page.json);
    (page.ids(), calls)
}

#[test]
fn with_the_store_on_the_queues_redis_a_page_is_read_in_a_few_round_trips() {
    // Arrange: the store on the queue's Redis, as `make up` runs it.
    let app = spawn_app();

    // Act
    let (_, calls) = list_forty_by_kind(&app);

    // Assert: the 40 records in one MGET, not 40 GETs. The few GETs are the marker read
    // both ways, and any the worker's scripts run meanwhile (its watch for delayed work
    // reads `aj:watch`: Redis counts commands run inside scripts too).
    let count = |name: &str| calls.get(name).copied().unwrap_or(0);
    assert_eq!(count("mget"), 1, "{calls:?}");
    assert!(count("get") <= 8, "{calls:?}");
}

#[test]
fn with_the_store_on_sqlite_a_page_is_read_from_the_store() {
    // Arrange: the store on SQLite: Redis holds no records, so no MGET may read them.
    let app = e2e::spawn_app_with_spec(e2e::AppSpec {
        store: e2e::Store::Sqlite,
        ..e2e::AppSpec::default()
    });

    // Act
    let (_, calls) = list_forty_by_kind(&app);

    // Assert: the listing is complete (checked above) and read from SQLite.
    assert_eq!(calls.get("mget").copied().unwrap_or(0), 0, "{calls:?}");
}
