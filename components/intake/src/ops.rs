//! `GET /stats`, `GET /healthz` and `GET /openapi.json`.

use jobs_core::api::ApiError;
use jobs_core::service::{self, Context};
use jobs_core::tenancy::Role;
use spin_sdk::http::Response;

use crate::wire::json;

pub fn stats(ctx: &Context<'_>) -> Result<Response, ApiError> {
    Ok(json(200, &service::stats(ctx)?))
}

/// The API's OpenAPI description: docs/openapi.json, which `jobs_core::openapi` generates
/// (a test keeps the file in step with the code).
const OPENAPI: &str = include_str!("../../../docs/openapi.json");

pub fn openapi() -> Response {
    Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .body(OPENAPI)
        .build()
}

/// `GET /me`: who the key is.
pub fn me(ctx: &Context<'_>, role: Role) -> Response {
    json(
        200,
        &service::Me {
            tenant: ctx.tenant.to_string(),
            role,
        },
    )
}

pub fn health(ctx: &Context<'_>) -> Result<Response, ApiError> {
    Ok(json(200, &service::health(ctx)?))
}
