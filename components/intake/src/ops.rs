//! `GET /stats` and `GET /healthz`.

use jobs_core::api::ApiError;
use jobs_core::service::{self, Context};
use spin_sdk::http::Response;

use crate::wire::json;

pub fn stats(ctx: &Context<'_>) -> Result<Response, ApiError> {
    Ok(json(200, &service::stats(ctx)?))
}

pub fn health(ctx: &Context<'_>) -> Result<Response, ApiError> {
    Ok(json(200, &service::health(ctx)?))
}
