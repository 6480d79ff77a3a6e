//! The admin API's operations: tenants, API keys, webhook secrets.

use serde_json::{Value, json};

use super::header_ref;
use super::paths::{Access, Op, Operations, json_response, tenant_param};
use super::schemas::Schemas;
use crate::api::ProblemType::*;
use crate::service::admin::{
    IssuedKey, KeyList, KeyResource, NewKey, NewTenant, SecretResource, TenantChange, TenantList,
    TenantResource,
};

pub(super) fn operations(schemas: &mut Schemas) -> Operations {
    let created = |description: &str, schema: Value| {
        let mut response = json_response(description, schema);
        response["headers"] = json!({
            "Location": header_ref("AdminLocation"),
            "Cache-Control": header_ref("CacheControl"),
        });
        response
    };
    let secret = json_response(
        "The tenant's signing secrets.",
        schemas.written::<SecretResource>(),
    );
    let secret = {
        let mut secret = secret;
        secret["headers"] = json!({ "Cache-Control": header_ref("CacheControl") });
        secret
    };
    let key_id = json!({ "name": "key_id", "in": "path", "required": true, "description": "The key's id (16 hex digits).", "schema": { "type": "string", "pattern": "^[0-9a-f]{16}$" } });
    let tenant_ops = [MalformedRequest, TenantNotFound];
    let rotate_ops = [MalformedRequest, TenantNotFound, RotationUnderWay];
    vec![
        (
            "/admin/tenants",
            "post",
            Op::new(
                "createTenant",
                "admin",
                "Create a tenant",
                "A new tenant, with no keys yet.",
            )
            .access(Access::Admin)
            .body(
                schemas.read::<NewTenant>(),
                json!({ "acme": { "value": { "name": "acme", "max_queued_jobs": 5000 } } }),
            )
            .answer(
                201,
                created("Created.", schemas.written::<TenantResource>()),
            )
            .problems(&[MalformedRequest, TenantExists, PayloadTooLarge])
            .build(),
        ),
        (
            "/admin/tenants",
            "get",
            Op::new(
                "listTenants",
                "admin",
                "List tenants",
                "Every tenant, oldest first.",
            )
            .access(Access::Admin)
            .answer(
                200,
                json_response("The tenants.", schemas.written::<TenantList>()),
            )
            .build(),
        ),
        (
            "/admin/tenants/{tenant}",
            "get",
            Op::new(
                "getTenant",
                "admin",
                "Get a tenant",
                "A tenant and its quota.",
            )
            .access(Access::Admin)
            .param(tenant_param())
            .answer(
                200,
                json_response("The tenant.", schemas.written::<TenantResource>()),
            )
            .problems(&tenant_ops)
            .build(),
        ),
        (
            "/admin/tenants/{tenant}",
            "patch",
            Op::new(
                "updateTenant",
                "admin",
                "Set a tenant's quota",
                "Its own `max_queued_jobs`, or `null` for the deployment's.",
            )
            .access(Access::Admin)
            .param(tenant_param())
            .body(
                schemas.read::<TenantChange>(),
                json!({ "quota": { "value": { "max_queued_jobs": 10000 } } }),
            )
            .answer(
                200,
                json_response("The tenant.", schemas.written::<TenantResource>()),
            )
            .problems(&[MalformedRequest, TenantNotFound, PayloadTooLarge])
            .build(),
        ),
        (
            "/admin/tenants/{tenant}/keys",
            "post",
            Op::new(
                "issueKey",
                "admin",
                "Issue an API key",
                "A new key for the tenant, shown this once (only its SHA-256 is stored). Without a body, or without `role`, a key with every right (`full`); `read` makes a read-only key.",
            )
            .access(Access::Admin)
            .param(tenant_param())
            .optional_body(
                schemas.read::<NewKey>(),
                json!({ "viewer": { "summary": "A read-only key", "value": { "role": "read" } } }),
            )
            .answer(201, created("The key.", schemas.written::<IssuedKey>()))
            .problems(&[MalformedRequest, TenantNotFound, PayloadTooLarge])
            .build(),
        ),
        (
            "/admin/tenants/{tenant}/keys",
            "get",
            Op::new(
                "listKeys",
                "admin",
                "List a tenant's API keys",
                "Prefixes and times only.",
            )
            .access(Access::Admin)
            .param(tenant_param())
            .answer(
                200,
                json_response("The keys.", schemas.written::<KeyList>()),
            )
            .problems(&tenant_ops)
            .build(),
        ),
        (
            "/admin/tenants/{tenant}/keys/{key_id}",
            "delete",
            Op::new(
                "revokeKey",
                "admin",
                "Revoke an API key",
                "The key stops working at once. Revoking a revoked key changes nothing.",
            )
            .access(Access::Admin)
            .param(tenant_param())
            .param(key_id)
            .answer(
                200,
                json_response("The revoked key.", schemas.written::<KeyResource>()),
            )
            .problems(&[MalformedRequest, TenantNotFound, KeyNotFound])
            .build(),
        ),
        (
            "/admin/tenants/{tenant}/webhook-secret",
            "get",
            Op::new(
                "getWebhookSecret",
                "admin",
                "A tenant's webhook secret",
                "The secret that signs its webhooks (made on first use).",
            )
            .access(Access::Admin)
            .param(tenant_param())
            .answer(200, secret.clone())
            .problems(&tenant_ops)
            .build(),
        ),
        (
            "/admin/tenants/{tenant}/webhook-secret",
            "post",
            Op::new(
                "rotateWebhookSecret",
                "admin",
                "Rotate a tenant's webhook secret",
                "A new secret signs from now on; the old one also signs until the rotation ends. Refused while a rotation is under way.",
            )
            .access(Access::Admin)
            .param(tenant_param())
            .answer(200, secret.clone())
            .problems(&rotate_ops)
            .build(),
        ),
        (
            "/admin/tenants/{tenant}/webhook-secret/previous",
            "delete",
            Op::new(
                "endWebhookSecretRotation",
                "admin",
                "End a rotation",
                "The previous secret stops signing.",
            )
            .access(Access::Admin)
            .param(tenant_param())
            .answer(200, secret)
            .problems(&tenant_ops)
            .build(),
        ),
    ]
}
