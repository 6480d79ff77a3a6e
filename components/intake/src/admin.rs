//! `/admin/...`: tenants and their API keys, behind the `admin_token` (hidden without it,
//! as the drain route is). See `jobs_core::service::admin`.

use jobs_core::api::ApiError;
use jobs_core::ports::{Clock, SystemClock};
use jobs_core::service::admin;
use jobs_core::service::error::AdminError;
use serde::Serialize;
use spin_adapters::Wiring;
use spin_sdk::http::Response;

use crate::wire::{Req, json};

/// Largest admin request body: a tenant name and a number.
pub const MAX_ADMIN_BODY: usize = 4_096;

/// Refuses, as a missing route, a request without the configured admin token.
pub fn authorize(wiring: &Wiring, req: &Req) -> Result<(), ApiError> {
    if jobs_core::service::admin_allowed(wiring.settings(), req.header("authorization")) {
        Ok(())
    } else {
        Err(AdminError::Hidden(req.path.clone()).into())
    }
}

fn now() -> u64 {
    SystemClock.now_ms()
}

fn created(location: String, value: &impl Serialize) -> Response {
    let mut response = json(201, value);
    response.set_header("location", location);
    response.set_header("cache-control", "no-store");
    response
}

pub async fn create_tenant(wiring: &Wiring, req: &mut Req) -> Result<Response, ApiError> {
    let body = req.body(MAX_ADMIN_BODY)?;
    let tenant = admin::create_tenant(wiring.tenants(), now(), &body)?;
    Ok(created(format!("/admin/tenants/{}", tenant.name), &tenant))
}

pub fn list_tenants(wiring: &Wiring) -> Result<Response, ApiError> {
    let items = admin::list_tenants(wiring.tenants())?;
    Ok(json(200, &admin::TenantList { items }))
}

pub fn get_tenant(wiring: &Wiring, name: &str) -> Result<Response, ApiError> {
    Ok(json(200, &admin::get_tenant(wiring.tenants(), name)?))
}

pub async fn update_tenant(
    wiring: &Wiring,
    req: &mut Req,
    name: &str,
) -> Result<Response, ApiError> {
    let body = req.body(MAX_ADMIN_BODY)?;
    Ok(json(
        200,
        &admin::update_tenant(wiring.tenants(), name, &body)?,
    ))
}

pub async fn issue_key(wiring: &Wiring, req: &mut Req, name: &str) -> Result<Response, ApiError> {
    let body = req.body(MAX_ADMIN_BODY)?;
    let issued = admin::issue_key(wiring.tenants(), now(), name, &body)?;
    let location = format!("/admin/tenants/{}/keys/{}", issued.tenant, issued.info.id);
    Ok(created(location, &issued))
}

pub fn list_keys(wiring: &Wiring, name: &str) -> Result<Response, ApiError> {
    let items = admin::list_keys(wiring.tenants(), name)?;
    Ok(json(200, &admin::KeyList { items }))
}

pub fn webhook_secret(
    wiring: &Wiring,
    name: &str,
    change: jobs_core::queue::SecretChange,
) -> Result<Response, ApiError> {
    let ctx = wiring.context(jobs_core::job::Tenant::default_tenant());
    let secret = admin::webhook_secret(wiring.tenants(), ctx.queue, name, change)?;
    let mut response = json(200, &secret);
    response.set_header("cache-control", "no-store");
    Ok(response)
}

pub fn revoke_key(wiring: &Wiring, name: &str, id: &str) -> Result<Response, ApiError> {
    Ok(json(
        200,
        &admin::revoke_key(wiring.tenants(), now(), name, id)?,
    ))
}
