//! `POST /internal/drain`: runs the worker's drain loop inside the request, for
//! platforms without the Redis trigger; a scheduler calls it with the drain token.

use jobs_core::api::ApiError;
use jobs_core::service::error::DrainError;
use jobs_core::service::{self, Context, DrainReport};
use spin_sdk::http::Response;

use crate::wire::{Req, json};

/// Refuses, as a missing route, a request without the configured drain token.
pub fn authorize(ctx: &Context<'_>, req: &Req) -> Result<(), ApiError> {
    if service::drain_allowed(ctx, req.header("authorization")) {
        Ok(())
    } else {
        Err(DrainError::Hidden(req.path.clone()).into())
    }
}

/// Drains for `drain_budget_ms`; `200` with the report. Warnings and errors go to the
/// log, not to the client (they may name internal addresses).
pub async fn drain(ctx: &Context<'_>) -> Result<Response, ApiError> {
    let report = match service::drain_now(ctx).await {
        Ok(report) => report,
        Err(DrainError::Stopped(report)) => {
            log(&report);
            return Err(DrainError::Stopped(report).into());
        }
        Err(e) => return Err(e.into()),
    };
    log(&report);
    let public = DrainReport {
        warnings: Vec::new(),
        more_warnings: 0,
        error: None,
        ..report
    };
    Ok(json(200, &public))
}

fn log(report: &DrainReport) {
    for warning in &report.warnings {
        eprintln!("intake: POST /internal/drain: warning: {warning}");
    }
    if report.more_warnings > 0 {
        eprintln!(
            "intake: POST /internal/drain: warning: and {} more",
            report.more_warnings
        );
    }
    if let Some(error) = &report.error {
        eprintln!("intake: POST /internal/drain stopped on an error: {error}");
    }
}
