//! The OpenAPI 3.1 description of the HTTP API, built from the code it describes: the
//! schemas from the types the API reads and writes (`schemars`), each kind's input and
//! result from its [`JobKind`](crate::kind::JobKind) types, the problems from
//! [`ProblemType`] and docs/problems.md.
//!
//! `docs/openapi.json` is [`document`] written out; the intake embeds that file and
//! serves it at `GET /openapi.json`, so the components carry the document, not its
//! generator. A test fails while the file and `document()` differ: `make openapi` writes
//! it again.

mod actions;
mod admin;
mod paths;
mod schemas;

use serde_json::{Map, Value, json};

use crate::api::ProblemType;
pub use schemas::Schemas;

/// Where the intake serves the description.
pub const PATH: &str = "/openapi.json";

/// The checked-in description (what `GET /openapi.json` serves).
pub const CHECKED_IN: &str = "docs/openapi.json";

/// The whole description, as `docs/openapi.json` holds it.
pub fn document() -> Value {
    let mut schemas = Schemas::new();
    let paths = paths::all(&mut schemas);
    let mut components_schemas = schemas.into_definitions();
    components_schemas.insert("Problem".into(), problem_schema());
    components_schemas.sort_keys();
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "async-jobs",
            "version": env!("CARGO_PKG_VERSION"),
            "summary": "Asynchronous-by-default job processing on Spin.",
            "description": DESCRIPTION,
            "license": { "name": env!("CARGO_PKG_LICENSE"), "identifier": env!("CARGO_PKG_LICENSE") },
        },
        "servers": [{ "url": "/", "description": "The app itself (`make up`: http://127.0.0.1:3000)." }],
        "security": [{ "apiKey": [] }],
        "tags": [
            { "name": "jobs", "description": "Submit work, follow it, fetch its result." },
            { "name": "operations", "description": "Health, counts and this description." },
            { "name": "admin", "description": "Tenants, API keys and webhook secrets, behind the admin token. Hidden (`404`) without it." },
            { "name": "internal", "description": "The drain, for platforms without the Redis trigger. Hidden (`404`) without the drain token." },
        ],
        "paths": paths,
        "components": {
            "schemas": components_schemas,
            "securitySchemes": {
                "apiKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "ajk_<16 hex digits>_<43 base64url characters>",
                    "description": "A tenant's API key (`make up` prints one; the admin API issues them). Every request acts as the key's tenant: another tenant's jobs answer `404`.",
                },
                "adminToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "The deployment's `admin_token` variable. Without it (or while none is set) every `/admin/...` route answers `404`, as an unknown path does.",
                },
                "drainToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "The deployment's `drain_token` variable. Without it `POST /internal/drain` answers `404`.",
                },
            },
            "headers": headers(),
            "examples": problem_examples(),
        },
    })
}

const DESCRIPTION: &str = "\
A client submits work with `POST /jobs`; the answer is `202 Accepted` at once, with the \
job, a `Location` to poll and a `Retry-After`. A worker runs the job later. Poll the \
`Location` (with `If-None-Match` for a cheap `304`) until `status` is `succeeded`, \
`failed` or `cancelled`, then fetch `links.result`; or give a `callback_url` and receive \
a signed webhook when the job finishes.

Every error is an RFC 9457 problem document (`application/problem+json`) whose `type` \
names the problem.

Two deliberate choices a generic client should know:
- `DELETE /jobs/{id}` cancels a job; it does not remove it. The job stays readable, \
with `status: cancelled`, until retention removes it with the other finished jobs.
- `/admin/...` and `/internal/drain` answer `404`, not `401`, without their token, so \
that they do not reveal themselves.";

/// The response headers, by name.
fn headers() -> Value {
    json!({
        "Location": {
            "description": "The job's URL: `/jobs/{id}`.",
            "required": true,
            "schema": { "type": "string", "pattern": "^/jobs/[0-9a-f-]+$" },
        },
        "RetryAfter": {
            "description": "Seconds to wait before polling, or before trying again.",
            "schema": { "type": "string", "pattern": "^[0-9]+$" },
        },
        "ETag": {
            "description": "The strong entity tag of the job as shown; send it as `If-None-Match`.",
            "required": true,
            "schema": { "type": "string", "pattern": "^\"[^\"]*\"$" },
        },
        "IdempotentReplayed": {
            "description": "`true` when the answer is the job an earlier request with the same `Idempotency-Key` created.",
            "schema": { "type": "string", "enum": ["true"] },
        },
        "WWWAuthenticate": {
            "description": "The Bearer challenge: `Bearer realm=\"async-jobs\"`, with `error=\"invalid_token\"` when a key was sent.",
            "required": true,
            "schema": { "type": "string", "pattern": "^Bearer realm=\"async-jobs\"" },
        },
        "CacheControl": {
            "description": "`no-store`: the body holds a secret.",
            "required": true,
            "schema": { "type": "string", "enum": ["no-store"] },
        },
        "AdminLocation": {
            "description": "The URL of what was created.",
            "required": true,
            "schema": { "type": "string", "pattern": "^/admin/tenants/" },
        },
    })
}

fn header_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/headers/{name}") })
}

/// RFC 9457's members, as the API fills them.
fn problem_schema() -> Value {
    let types: Vec<String> = ProblemType::ALL.iter().map(|t| t.uri()).collect();
    json!({
        "description": "An RFC 9457 problem document.",
        "type": "object",
        "required": ["type", "title", "status", "detail"],
        "properties": {
            "type": { "type": "string", "format": "uri", "enum": types, "description": "What went wrong: see docs/problems.md." },
            "title": { "type": "string", "description": "The same for every problem of this type." },
            "status": { "type": "integer", "minimum": 400, "maximum": 599 },
            "detail": { "type": "string", "description": "What to fix (4xx), or that nothing changed (5xx)." },
        },
    })
}

/// When each problem type is answered, from docs/problems.md (which a test keeps
/// complete).
fn problem_when(kind: ProblemType) -> &'static str {
    const PROBLEMS: &str = include_str!("../../../../docs/problems.md");
    let start = format!("| `{}` | {} | ", kind.uri(), kind.status());
    PROBLEMS
        .lines()
        .find_map(|line| line.strip_prefix(&start))
        .and_then(|rest| rest.strip_suffix(" |"))
        .unwrap_or_else(|| panic!("{kind:?} is missing from docs/problems.md"))
}

/// An example of every problem type, by slug.
fn problem_examples() -> Value {
    let examples: Map<String, Value> = ProblemType::ALL
        .iter()
        .map(|&kind| {
            let example = json!({
                "summary": kind.title(),
                "description": problem_when(kind),
                "value": {
                    "type": kind.uri(),
                    "title": kind.title(),
                    "status": kind.status(),
                    "detail": problem_when(kind),
                },
            });
            (kind.slug().to_owned(), example)
        })
        .collect();
    Value::Object(examples)
}

/// The error answers of an operation: one response per status, with an example of each
/// problem type, and the headers the status carries.
fn problems(types: &[ProblemType]) -> Map<String, Value> {
    let mut by_status: Map<String, Value> = Map::new();
    for &kind in types {
        let status = kind.status().to_string();
        let response = by_status.entry(status).or_insert_with(|| {
            let mut headers = Map::new();
            if kind.status() == 401 {
                headers.insert("WWW-Authenticate".into(), header_ref("WWWAuthenticate"));
            }
            // Sent with every problem of the status (429, 503): a client may rely on it.
            // Sent with some of the operation's types of the status (409): it may come.
            let sends = |t: &&ProblemType| t.retry_after_s().is_some();
            let same_status = |t: &&ProblemType| t.status() == kind.status();
            if ProblemType::ALL
                .iter()
                .filter(same_status)
                .all(|t| sends(&t))
            {
                headers.insert(
                    "Retry-After".into(),
                    json!({
                        "description": "Seconds to wait before trying again.",
                        "required": true,
                        "schema": { "type": "string", "pattern": "^[0-9]+$" },
                    }),
                );
            } else if types.iter().filter(same_status).any(|t| sends(&t)) {
                headers.insert("Retry-After".into(), header_ref("RetryAfter"));
            }
            json!({
                "description": "",
                "headers": headers,
                "content": { "application/problem+json": {
                    "schema": { "$ref": "#/components/schemas/Problem" },
                    "examples": {},
                } },
            })
        });
        let titles = response["description"].as_str().unwrap_or_default();
        response["description"] = Value::String(if titles.is_empty() {
            kind.title().to_owned()
        } else {
            format!("{titles}; {}", kind.title())
        });
        response["content"]["application/problem+json"]["examples"][kind.slug()] =
            json!({ "$ref": format!("#/components/examples/{}", kind.slug()) });
    }
    by_status
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checked_in_description_is_the_generated_one() {
        let path = format!("{}/../../{CHECKED_IN}", env!("CARGO_MANIFEST_DIR"));
        let generated = format!("{:#}\n", document());
        if std::env::var_os("OPENAPI_WRITE").is_some() {
            std::fs::write(&path, &generated).unwrap();
        }
        let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            checked_in == generated,
            "{CHECKED_IN} is not what the code describes: run `make openapi` and commit it"
        );
    }

    #[test]
    fn retry_after_is_described_where_it_is_sent_and_only_there() {
        let doc = document();
        let headers = |path: &str, method: &str, status: &str| {
            let response = &doc["paths"][path][method]["responses"][status];
            assert!(response.is_object(), "{method} {path} {status}");
            response["headers"].get("Retry-After").cloned()
        };
        // A key in flight (409) says when to try again; a rotation under way does not.
        assert!(headers("/jobs", "post", "409").is_some());
        let rotate = headers("/admin/tenants/{tenant}/webhook-secret", "post", "409");
        assert_eq!(rotate, None);
        let quota = headers("/jobs", "post", "429").expect("429 sends Retry-After");
        assert_eq!(quota["required"], true);
        // Every 409 type that sends one is described with it.
        for kind in ProblemType::ALL {
            let described = problems(&[kind])[&kind.status().to_string()]["headers"]
                .get("Retry-After")
                .is_some();
            assert_eq!(described, kind.retry_after_s().is_some(), "{kind:?}");
        }
    }

    #[test]
    fn every_problem_type_has_its_when_text() {
        for kind in ProblemType::ALL {
            assert!(!problem_when(kind).is_empty(), "{kind:?}");
        }
    }

    #[test]
    fn every_operation_has_an_id_and_answers_401_when_it_needs_a_key() {
        let doc = document();
        let mut ids = Vec::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let id = op["operationId"].as_str().unwrap();
                ids.push(id.to_owned());
                let keyed = op.get("security").is_none();
                assert_eq!(
                    op["responses"].get("401").is_some(),
                    keyed,
                    "{method} {path}"
                );
            }
        }
        let count = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), count, "operationIds are unique");
    }
}
