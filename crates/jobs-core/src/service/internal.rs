//! `POST /internal/drain`: the worker's drain loop run by an HTTP request, for platforms
//! without the Redis trigger (Fermyon Cloud, Akamai Functions), where a scheduler calls
//! it instead of a doorbell waking a worker.
//!
//! It is guarded by the secret variable `drain_token`. Without a configured token, or
//! without the right `Authorization: Bearer <token>`, the route answers exactly like a
//! path that does not exist, so it does not reveal itself; the token is compared in
//! constant time.

use super::Context;
use super::auth::{bearer_token, same_secret};
use super::error::DrainError;
use crate::worker::{DrainReport, Stop, Watch, drain_with};

/// Whether the raw `Authorization` header value carries the configured drain token.
/// Always false when no token is configured.
pub fn drain_allowed(ctx: &Context<'_>, authorization: Option<&str>) -> bool {
    let Some(expected) = ctx.settings.drain_token.as_deref() else {
        return false;
    };
    let Some(given) = authorization.and_then(bearer_token) else {
        return false;
    };
    same_secret(given, expected)
}

/// `POST /internal/drain` after [`drain_allowed`]: drains for `drain_budget_ms` and
/// returns what it did. A drain stopped by a store or queue failure is an error (the
/// caller should try again later); jobs it finished before stay finished.
pub async fn drain_now(ctx: &Context<'_>) -> Result<DrainReport, DrainError> {
    // The scheduler is the timer here: a drain route does not wait for delayed work.
    let report = drain_with(ctx, ctx.settings.drain_budget_ms, Watch::Leave).await;
    if report.stop == Stop::Failed {
        return Err(DrainError::Stopped(report));
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::Status;
    use crate::service::testing::World;
    use serde_json::json;

    fn with_token(token: Option<&str>) -> World {
        let mut w = World::new();
        w.settings.drain_token = token.map(str::to_owned);
        w
    }

    #[test]
    fn only_the_configured_bearer_token_opens_the_drain() {
        let w = with_token(Some("s3cret"));
        let ctx = w.ctx();
        assert!(drain_allowed(&ctx, Some("Bearer s3cret")));
        assert!(drain_allowed(&ctx, Some("bearer  s3cret ")));
        for refused in [
            None,
            Some(""),
            Some("s3cret"),
            Some("Bearer"),
            Some("Bearer "),
            Some("Bearer s3cre"),
            Some("Bearer s3cret2"),
            Some("Basic s3cret"),
            Some("Bearer S3CRET"),
        ] {
            assert!(!drain_allowed(&ctx, refused), "{refused:?}");
        }
    }

    #[test]
    fn without_a_configured_token_nothing_opens_the_drain() {
        let w = with_token(None);
        assert!(!drain_allowed(&w.ctx(), Some("Bearer ")));
        assert!(!drain_allowed(&w.ctx(), Some("Bearer anything")));
    }

    #[test]
    fn secrets_compare_equal_only_when_equal() {
        assert!(same_secret("a", "a"));
        assert!(!same_secret("a", "b"));
        assert!(!same_secret("a", "aa"));
        assert!(!same_secret("", "a"));
    }

    #[test]
    fn the_drain_runs_waiting_jobs_and_reports_them() {
        let w = with_token(Some("t"));
        let a = w.submit(json!({"kind": "echo", "input": {}}));
        let b = w.submit(json!({"kind": "echo", "input": {}}));
        let report = w.clock.block_on(drain_now(&w.ctx())).unwrap();
        assert_eq!((report.claimed, report.succeeded), (2, 2), "{report:?}");
        assert_eq!(w.job(&a).status, Status::Succeeded);
        assert_eq!(w.job(&b).status, Status::Succeeded);
    }

    #[test]
    fn a_drain_stopped_by_an_outage_is_an_error() {
        let w = with_token(Some("t"));
        w.submit(json!({"kind": "echo", "input": {}}));
        w.queue.set_down(true);
        assert!(matches!(
            w.clock.block_on(drain_now(&w.ctx())),
            Err(DrainError::Stopped(_))
        ));
    }
}
