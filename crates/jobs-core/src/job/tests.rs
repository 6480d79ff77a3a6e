//! The job's vocabulary and state machine.
use super::testing::{job_in, new_job};
use super::*;

#[test]
fn a_new_id_is_a_canonical_v7_uuid_that_parses_back() {
    let id = JobId::new();
    assert_eq!(id.as_str().len(), 36);
    assert_eq!(id.as_uuid().get_version_num(), 7);
    assert_eq!(JobId::parse(id.as_str()), Ok(id));
    assert_eq!(id.to_string(), id.as_str());
}

#[test]
fn ids_made_later_sort_later_as_values_and_as_text() {
    let ids: Vec<JobId> = (0..200).map(|_| JobId::new()).collect();
    for pair in ids.windows(2) {
        assert!(pair[0] < pair[1]);
        assert!(pair[0].as_str() < pair[1].as_str());
    }
}

#[test]
fn created_ms_is_the_v7_timestamp() {
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let id = JobId::new();
    let after = before + 5_000;
    assert!((before..=after).contains(&id.created_ms()));
    let fixed = JobId::parse("01890a5d-ac96-774b-bcce-b302099a8057").unwrap();
    assert_eq!(fixed.created_ms(), 0x0189_0a5d_ac96);
}

#[test]
fn id_parse_refuses_every_non_canonical_spelling() {
    let good = "01890a5d-ac96-774b-bcce-b302099a8057";
    assert!(JobId::parse(good).is_ok());
    for bad in [
        "",
        "not-a-uuid",
        "01890A5D-AC96-774B-BCCE-B302099A8057",   // uppercase
        "01890a5dac96774bbccebb302099a8057",      // simple form
        "{01890a5d-ac96-774b-bcce-b302099a8057}", // braced
        "urn:uuid:01890a5d-ac96-774b-bcce-b302099a8057",
        "01890a5d-ac96-474b-bcce-b302099a8057", // v4
        "01890a5d-ac96-774b-7cce-b302099a8057", // wrong variant
        "01890a5d-ac96-774b-bcce-b302099a805g",
        " 1890a5d-ac96-774b-bcce-b302099a8057",
    ] {
        assert!(JobId::parse(bad).is_err(), "accepted {bad:?}");
    }
}

#[test]
fn an_id_serializes_as_its_text_and_bad_text_does_not_deserialize() {
    let id = JobId::new();
    let text = serde_json::to_string(&id).unwrap();
    assert_eq!(text, format!("\"{id}\""));
    assert_eq!(serde_json::from_str::<JobId>(&text).unwrap(), id);
    assert!(serde_json::from_str::<JobId>("\"nope\"").is_err());
}

#[test]
fn tenant_names_are_short_lowercase_alphanumerics_and_dashes() {
    assert_eq!(Tenant::default_tenant().as_str(), "default");
    for good in ["a", "acme-2", &"x".repeat(32)] {
        assert!(Tenant::parse(good).is_ok(), "refused {good:?}");
    }
    for bad in ["", "Acme", "a:b", "a{b}", "a_b", "é", &"x".repeat(33)] {
        assert!(Tenant::parse(bad).is_err(), "accepted {bad:?}");
    }
    assert!(serde_json::from_str::<Tenant>("\"A\"").is_err());
}

#[test]
fn every_status_round_trips_through_as_str_parse_and_serde() {
    for status in Status::ALL {
        assert_eq!(Status::parse(status.as_str()), Some(status));
        let json = serde_json::to_string(&status).unwrap();
        assert_eq!(json, format!("\"{}\"", status.as_str()));
        assert_eq!(serde_json::from_str::<Status>(&json).unwrap(), status);
    }
    assert_eq!(Status::parse("Queued"), None);
    assert_eq!(Status::parse("done"), None);
}

#[test]
fn only_succeeded_failed_and_cancelled_are_terminal() {
    let terminal: Vec<_> = Status::ALL
        .into_iter()
        .filter(|s| s.is_terminal())
        .collect();
    assert_eq!(
        terminal,
        [Status::Succeeded, Status::Failed, Status::Cancelled]
    );
}

#[test]
fn timestamps_are_written_as_rfc3339_utc_with_milliseconds() {
    let t = Timestamp::from_ms(1_795_760_195_123);
    assert_eq!(t.to_rfc3339(), "2026-11-27T06:16:35.123Z");
    assert_eq!(
        Timestamp::from_ms(0).to_rfc3339(),
        "1970-01-01T00:00:00.000Z"
    );
    assert_eq!(
        serde_json::to_string(&t).unwrap(),
        "\"2026-11-27T06:16:35.123Z\""
    );
    assert_eq!(
        serde_json::from_str::<Timestamp>("\"2026-11-27T06:16:35.123Z\"").unwrap(),
        t
    );
}

#[test]
fn timestamps_are_written_as_the_time_crate_formats_them_across_the_range() {
    let theirs = ::time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    let edges = [
        0,
        999,
        1_000,
        951_782_399_999,   // 2000-02-28T23:59:59.999Z
        951_868_799_999,   // 2000-02-29T23:59:59.999Z
        1_709_251_199_999, // 2024-02-29T23:59:59.999Z
        4_107_542_400_000, // 2100-03-01: no leap day in 2100
        Timestamp::MAX.as_ms(),
    ];
    // And 20,000 more spread over the whole range (a fixed LCG, so runs agree).
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let spread = (0..20_000).map(|_| {
        x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        (x >> 11) % (Timestamp::MAX.as_ms() + 1)
    });
    for ms in edges.into_iter().chain(spread) {
        let t =
            ::time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).unwrap();
        let ours = Timestamp::from_ms(ms);
        assert_eq!(ours.to_rfc3339(), t.format(theirs).unwrap(), "{ms}");
        assert_eq!(ours.to_string(), ours.to_rfc3339());
        assert_eq!(Timestamp::parse_rfc3339(&ours.to_rfc3339()).unwrap(), ours);
    }
}

#[test]
fn timestamps_read_any_offset_and_precision_but_not_garbage() {
    let t = Timestamp::parse_rfc3339("2026-11-27T07:16:35.123456+01:00").unwrap();
    assert_eq!(t.as_ms(), 1_795_760_195_123);
    assert!(Timestamp::parse_rfc3339("yesterday").is_err());
    assert!(Timestamp::parse_rfc3339("1969-12-31T23:59:59Z").is_err());
}

#[test]
fn timestamps_beyond_year_9999_are_capped_and_still_format() {
    let t = Timestamp::from_ms(u64::MAX);
    assert_eq!(t, Timestamp::MAX);
    assert_eq!(t.to_rfc3339(), "9999-12-31T23:59:59.999Z");
    assert_eq!(Timestamp::from_ms(5).plus_ms(u64::MAX), Timestamp::MAX);
}

#[test]
fn an_error_is_shown_with_a_type_field_in_snake_case() {
    let e = ErrorInfo::lease_expired();
    let v = serde_json::to_value(&e).unwrap();
    assert_eq!(v["type"], "lease_expired");
    for kind in ErrorType::ALL {
        let json = serde_json::to_string(&kind).unwrap();
        assert_eq!(json, format!("\"{}\"", kind.as_str()));
    }
}

#[derive(Clone, Copy, Debug)]
enum Move {
    Start,
    Succeed,
    Fail,
    Retry,
    Cancel,
    Progress,
}

fn apply(job: &mut Job, m: Move) -> Result<(), TransitionError> {
    let now = Timestamp::from_ms(9_000);
    match m {
        Move::Start => job.start(now),
        Move::Succeed => job.succeed(now),
        Move::Fail => job.fail(now, ErrorInfo::permanent("x")),
        Move::Retry => job.retry(ErrorInfo::transient("x")),
        Move::Cancel => job.cancel(now),
        Move::Progress => job.set_progress(Progress::new(50, None)),
    }
}

#[test]
fn the_transition_table_allows_exactly_the_legal_moves() {
    use Status::*;
    // (from, move, resulting status if legal)
    let table: &[(Status, Move, Option<Status>)] = &[
        (Queued, Move::Start, Some(Running)),
        (Queued, Move::Succeed, None),
        (Queued, Move::Fail, Some(Failed)),
        (Queued, Move::Retry, None),
        (Queued, Move::Cancel, Some(Cancelled)),
        (Queued, Move::Progress, None),
        (Running, Move::Start, None),
        (Running, Move::Succeed, Some(Succeeded)),
        (Running, Move::Fail, Some(Failed)),
        (Running, Move::Retry, Some(Queued)),
        (Running, Move::Cancel, Some(Cancelled)),
        (Running, Move::Progress, Some(Running)),
    ];
    for &(from, m, to) in table {
        let mut job = job_in(from);
        let before = job.clone();
        let got = apply(&mut job, m);
        match to {
            Some(to) => {
                assert_eq!(got, Ok(()), "{from} {m:?}");
                assert_eq!(job.status, to, "{from} {m:?}");
            }
            None => {
                let err = got.expect_err(&format!("{from} {m:?} was allowed"));
                assert_eq!(err.from, from);
                assert_eq!(err.reason, Refusal::NotAllowed);
                assert_eq!(job, before, "a refused move changed the record");
            }
        }
    }
    // Terminal states accept nothing.
    for from in [Succeeded, Failed, Cancelled] {
        for m in [
            Move::Start,
            Move::Succeed,
            Move::Fail,
            Move::Retry,
            Move::Cancel,
            Move::Progress,
        ] {
            let mut job = job_in(from);
            let before = job.clone();
            let err = apply(&mut job, m).expect_err(&format!("{from} {m:?} was allowed"));
            assert_eq!(err.from, from);
            assert_eq!(job, before);
        }
    }
}

#[test]
fn start_counts_an_attempt_stamps_the_time_and_clears_progress() {
    let mut job = new_job(3);
    job.progress = Some(Progress::new(40, None));
    job.start(Timestamp::from_ms(5)).unwrap();
    assert_eq!(job.attempts, 1);
    assert_eq!(job.started_at, Some(Timestamp::from_ms(5)));
    assert_eq!(job.progress, None);
    assert_eq!(job.attempts_left(), 2);
}

#[test]
fn retry_keeps_the_error_and_a_later_success_clears_it() {
    let mut job = job_in(Status::Running);
    job.retry(ErrorInfo::transient("flaky")).unwrap();
    assert_eq!(job.status, Status::Queued);
    assert_eq!(job.error, Some(ErrorInfo::transient("flaky")));
    job.start(Timestamp::from_ms(7)).unwrap();
    assert_eq!(job.attempts, 2);
    job.succeed(Timestamp::from_ms(8)).unwrap();
    assert_eq!(job.error, None);
    assert_eq!(job.progress, Some(Progress::new(100, None)));
    assert_eq!(job.finished_at, Some(Timestamp::from_ms(8)));
}

#[test]
fn with_no_attempts_left_retry_and_start_are_refused_and_fail_is_not() {
    let mut job = new_job(1);
    job.start(Timestamp::from_ms(1)).unwrap();
    let err = job.retry(ErrorInfo::transient("x")).unwrap_err();
    assert_eq!(err.reason, Refusal::NoAttemptsLeft);
    assert_eq!(job.status, Status::Running);

    // A worker died during the last attempt: the job is queued again by lease expiry
    // (the record may still say queued if it never got written as running).
    let mut job = new_job(1);
    job.attempts = 1;
    let err = job.start(Timestamp::from_ms(2)).unwrap_err();
    assert_eq!(
        (err.from, err.to, err.reason),
        (Status::Queued, Status::Running, Refusal::NoAttemptsLeft)
    );
    assert!(err.to_string().contains("no attempts left"));
    job.fail(Timestamp::from_ms(3), ErrorInfo::lease_expired())
        .unwrap();
    assert_eq!(job.status, Status::Failed);
}

#[test]
fn cancel_records_a_cancelled_error_and_the_finish_time() {
    let mut job = job_in(Status::Running);
    job.cancel(Timestamp::from_ms(11)).unwrap();
    assert_eq!(
        job.error.as_ref().map(|e| e.kind),
        Some(ErrorType::Cancelled)
    );
    assert_eq!(job.finished_at, Some(Timestamp::from_ms(11)));
}

#[test]
fn progress_is_capped_at_one_hundred() {
    let mut job = job_in(Status::Running);
    job.set_progress(Progress {
        percent: 250,
        message: Some("m".into()),
    })
    .unwrap();
    assert_eq!(job.progress, Some(Progress::new(100, Some("m".into()))));
}

#[test]
fn a_refused_move_names_both_states() {
    let mut job = job_in(Status::Succeeded);
    let err = job.cancel(Timestamp::from_ms(1)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot move a job from succeeded to cancelled"
    );
}
