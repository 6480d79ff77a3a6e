//! Every route of the API (components/intake/src/routes.rs) as OpenAPI operations.

use serde_json::{Map, Value, json};

use super::schemas::Schemas;
use super::{header_ref, problems};
use crate::api::ProblemType::{self, *};
use crate::job::{JobId, Status};
use crate::resource::{JobPage, JobResource};
use crate::service::admin::TENANT_PATTERN;
use crate::service::jobs::{DEFAULT_LIMIT, LIMIT_RANGE};
use crate::service::submit::MAX_IDEMPOTENCY_KEY_LEN;
use crate::service::{Health, Stats};
use crate::worker::DrainReport;

/// Who may call an operation.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Access {
    /// An API key (`401` without).
    Key,
    /// Anyone.
    Open,
    /// The admin token (`404` without).
    Admin,
    /// The drain token (`404` without).
    Drain,
}

/// One operation, built up and then written out.
pub(super) struct Op {
    value: Value,
    access: Access,
    problems: Vec<ProblemType>,
}

impl Op {
    pub(super) fn new(id: &str, tag: &str, summary: &str, description: &str) -> Op {
        Op {
            value: json!({
                "operationId": id,
                "tags": [tag],
                "summary": summary,
                "description": description,
                "responses": {},
            }),
            access: Access::Key,
            problems: Vec::new(),
        }
    }

    pub(super) fn access(mut self, access: Access) -> Op {
        self.access = access;
        self
    }

    pub(super) fn param(mut self, param: Value) -> Op {
        let params = self.value.as_object_mut().expect("an object");
        match params.get_mut("parameters") {
            Some(Value::Array(list)) => list.push(param),
            _ => {
                params.insert("parameters".into(), json!([param]));
            }
        }
        self
    }

    pub(super) fn params(mut self, params: Vec<Value>) -> Op {
        for param in params {
            self = self.param(param);
        }
        self
    }

    /// An operation that changes a job: a read-only key gets `403`.
    pub(super) fn changes(self) -> Op {
        self.problems(&[Forbidden])
    }

    /// A request body the client may leave out.
    pub(super) fn optional_body(mut self, schema: Value, examples: Value) -> Op {
        self = self.body(schema, examples);
        self.value["requestBody"]["required"] = json!(false);
        self
    }

    pub(super) fn body(mut self, schema: Value, examples: Value) -> Op {
        self.value["requestBody"] = json!({
            "required": true,
            "content": { "application/json": { "schema": schema, "examples": examples } },
        });
        self
    }

    pub(super) fn answer(mut self, status: u16, response: Value) -> Op {
        self.value["responses"][status.to_string()] = response;
        self
    }

    pub(super) fn problems(mut self, types: &[ProblemType]) -> Op {
        self.problems.extend_from_slice(types);
        self
    }

    pub(super) fn build(mut self) -> Value {
        let mut types = self.problems;
        match self.access {
            Access::Key => types.push(Unauthorized),
            Access::Open => self.value["security"] = json!([]),
            Access::Admin => {
                self.value["security"] = json!([{ "adminToken": [] }]);
                types.push(RouteNotFound);
            }
            Access::Drain => {
                self.value["security"] = json!([{ "drainToken": [] }]);
                types.push(RouteNotFound);
            }
        }
        types.extend([Unavailable, Internal]);
        let responses = self.value["responses"].as_object_mut().expect("an object");
        for (status, response) in problems(&types) {
            responses.insert(status, response);
        }
        responses.sort_keys();
        self.value
    }
}

pub(super) fn json_response(description: &str, schema: Value) -> Value {
    json!({
        "description": description,
        "content": { "application/json": { "schema": schema } },
    })
}

/// A job resource, with its `ETag` and (while it has not finished) `Retry-After`.
fn job_response(description: &str, schemas: &mut Schemas, extra: &[(&str, Value)]) -> Value {
    let mut headers = Map::new();
    headers.insert("ETag".into(), header_ref("ETag"));
    headers.insert("Retry-After".into(), header_ref("RetryAfter"));
    for (name, header) in extra {
        headers.insert((*name).into(), header.clone());
    }
    let mut response = json_response(description, schemas.written::<JobResource>());
    response["headers"] = Value::Object(headers);
    response
}

pub(super) fn job_id_param(schemas: &mut Schemas) -> Value {
    json!({
        "name": "id",
        "in": "path",
        "required": true,
        "description": "The job's id (the last segment of its `Location`).",
        "schema": schemas.read::<JobId>(),
    })
}

pub(super) fn tenant_param() -> Value {
    json!({
        "name": "tenant",
        "in": "path",
        "required": true,
        "description": "The tenant's name.",
        "schema": { "type": "string", "pattern": TENANT_PATTERN },
    })
}

/// The query parameters of `GET /jobs`, which the bulk routes take too; `limit` defaults
/// to `default_limit`.
pub(super) fn list_params(schemas: &mut Schemas, default_limit: u32) -> Vec<Value> {
    let kind_names = crate::kinds::Registry::builtin().names();
    vec![
        json!({ "name": "status", "in": "query", "required": false, "schema": schemas.read::<Status>() }),
        json!({ "name": "kind", "in": "query", "required": false, "schema": { "type": "string", "enum": kind_names } }),
        json!({ "name": "created_after", "in": "query", "required": false, "description": "Only jobs created at or after this time (RFC 3339; a `+` in an offset sent as `%2B`). Millisecond precision: a job's id holds its creation time.", "schema": { "type": "string", "format": "date-time" } }),
        json!({ "name": "created_before", "in": "query", "required": false, "description": "Only jobs created strictly before this time (RFC 3339; a `+` in an offset sent as `%2B`). With `created_after` at or after it, the page is empty.", "schema": { "type": "string", "format": "date-time" } }),
        json!({ "name": "id_prefix", "in": "query", "required": false, "description": "Only jobs whose id starts with this: 1 to 36 lowercase hex digits and hyphens, e.g. the first 13 characters of an id for the jobs created in the same millisecond.", "schema": { "type": "string", "pattern": "^[0-9a-f-]{1,36}$" } }),
        json!({ "name": "limit", "in": "query", "required": false, "schema": { "type": "integer", "minimum": LIMIT_RANGE.start(), "maximum": LIMIT_RANGE.end(), "default": default_limit } }),
        json!({ "name": "cursor", "in": "query", "required": false, "description": "A page's `next_cursor`: jobs older than that one follow.", "schema": schemas.read::<JobId>() }),
    ]
}

/// `202` with a job just submitted: its `Location`, and the links from its `id`.
pub(super) fn accepted(description: &str, schemas: &mut Schemas) -> Value {
    let mut response = job_response(
        description,
        schemas,
        &[
            ("Location", header_ref("Location")),
            ("Idempotent-Replayed", header_ref("IdempotentReplayed")),
        ],
    );
    response["links"] = job_links();
    response
}

/// Where a job's `id` leads, for clients and for stateful testing.
fn job_links() -> Value {
    let link = |operation: &str, description: &str| {
        json!({
            "operationId": operation,
            "parameters": { "id": "$response.body#/id" },
            "description": description,
        })
    };
    json!({
        "GetJob": link("getJob", "Poll the job: the `Location`."),
        "GetJobResult": link("getJobResult", "Its result: `links.result`."),
        "CancelJob": link("cancelJob", "Cancel it: `links.cancel`."),
        "RedeliverWebhook": link("redeliverWebhook", "Send its webhook again."),
    })
}

/// Every path, with its operations.
pub fn all(schemas: &mut Schemas) -> Value {
    let mut paths = Map::new();
    let mut add = |path: &str, method: &str, op: Value| {
        let item = paths.entry(path.to_owned()).or_insert_with(|| json!({}));
        item[method] = op;
    };
    for (path, method, op) in jobs(schemas) {
        add(path, method, op);
    }
    for (path, method, op) in operations(schemas) {
        add(path, method, op);
    }
    for (path, method, op) in super::actions::operations(schemas) {
        add(path, method, op);
    }
    for (path, method, op) in super::admin::operations(schemas) {
        add(path, method, op);
    }
    Value::Object(paths)
}

pub(super) type Operations = Vec<(&'static str, &'static str, Value)>;

fn jobs(schemas: &mut Schemas) -> Operations {
    let kinds = schemas.kinds();
    let submission = schemas.submission(&kinds);
    let mut results = Map::new();
    for kind in &kinds {
        for (media, schema) in &kind.results {
            let entry = results
                .entry((*media).to_owned())
                .or_insert_with(|| json!({ "schema": { "anyOf": [] } }));
            let options = entry["schema"]["anyOf"].as_array_mut().expect("an array");
            if !options.contains(schema) {
                options.push(schema.clone());
            }
        }
    }
    for entry in results.values_mut() {
        // Results may fit several kinds' schemas (`echo` returns any object): `anyOf`,
        // the named ones first, so that a client tries the most specific first. One
        // kind's schema alone needs no `anyOf`; binary media have no schema at all.
        let mut options = entry["schema"]["anyOf"]
            .as_array()
            .expect("an array")
            .clone();
        options.sort_by_key(|schema| schema.get("$ref").is_none());
        entry["schema"] = json!({ "anyOf": options.clone() });
        match options.as_slice() {
            [only] if only.as_object().is_some_and(Map::is_empty) => {
                entry.as_object_mut().expect("an object").remove("schema");
            }
            [only] => entry["schema"] = only.clone(),
            _ => {}
        }
    }
    let idempotency_key = json!({
        "name": "Idempotency-Key",
        "in": "header",
        "required": false,
        "description": "Makes a retried submission safe: the same key with the same body answers the job the first request created (with `Idempotent-Replayed: true`); with another body it is a `422`. Kept as long as the jobs it names. 1 to 255 printable ASCII characters, bare or as a Structured Field string (`\"abc\"`).",
        "schema": {
            "type": "string",
            "maxLength": 2 * MAX_IDEMPOTENCY_KEY_LEN + 2,
            "pattern": IDEMPOTENCY_KEY_PATTERN,
        },
        "example": "order-4711",
    });
    vec![
        (
            "/jobs",
            "post",
            Op::new(
                "submitJob",
                "jobs",
                "Submit a job",
                "Validates and records the job and answers at once; a worker runs it later. Nothing is stored when the answer is an error. A body that fits the schema can still be refused with `422` for what a schema cannot say: an `Idempotency-Key` sent before with another body, or a `thumbnail` image that does not decode.",
            )
            .changes()
            .param(idempotency_key)
            .body(
                submission,
                json!({
                    "echo": { "summary": "Echo its input", "value": { "kind": "echo", "input": { "hello": "world" } } },
                    "hash": { "summary": "Hash some text", "value": { "kind": "hash", "input": { "data": "abc", "algorithm": "sha256" } } },
                    "thumbnail": { "summary": "A 4x4 thumbnail of a PNG", "value": { "kind": "thumbnail", "input": { "image": "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR42mP4z8AAAAMBAQAY3Y2wAAAAAElFTkSuQmCC", "width": 4, "height": 4 } } },
                    "delayed": { "summary": "Start in a minute, retry up to 5 times, call back when done", "value": { "kind": "sleep", "input": { "ms": 1000 }, "max_attempts": 5, "delay_ms": 60000, "callback_url": "https://example.com/hooks/jobs" } },
                }),
            )
            .answer(202, accepted("Accepted: the job as recorded (`status: queued`). Poll the `Location`.", schemas))
            .problems(&[
                MalformedRequest,
                InvalidIdempotencyKey,
                IdempotencyKeyInFlight,
                PayloadTooLarge,
                UnsupportedMediaType,
                UnknownKind,
                InvalidInput,
                IdempotencyKeyReused,
                QuotaExceeded,
            ])
            .build(),
        ),
        (
            "/jobs",
            "get",
            Op::new(
                "listJobs",
                "jobs",
                "List jobs",
                "The tenant's jobs, newest first, one page at a time. Pass a page's `next_cursor` as `cursor` for the next. Unknown and repeated parameters are refused.",
            )
            .params(list_params(schemas, DEFAULT_LIMIT))
            .answer(200, json_response("A page of jobs.", schemas.written::<JobPage>()))
            .problems(&[InvalidFilter])
            .build(),
        ),
        (
            "/jobs/{id}",
            "get",
            Op::new("getJob", "jobs", "Get a job", "The job as it is now. `Retry-After` is sent while it has not finished.")
                .param(job_id_param(schemas))
                .param(json!({ "name": "If-None-Match", "in": "header", "required": false, "description": "An `ETag` of this job: `304` while it is unchanged.", "schema": { "type": "string" } }))
                .answer(200, job_response("The job.", schemas, &[]))
                .answer(304, json!({ "description": "Unchanged since the `ETag` sent.", "headers": { "ETag": header_ref("ETag"), "Retry-After": header_ref("RetryAfter") } }))
                .problems(&[MalformedId, NotFound])
                .build(),
        ),
        (
            "/jobs/{id}",
            "delete",
            Op::new(
                "cancelJob",
                "jobs",
                "Cancel a job",
                "Cancels a queued job at once (`200`), or asks a running one to stop (`202`; it ends `cancelled` within about a second). The job is not removed: it stays readable with `status: cancelled`.",
            )
            .changes()
            .param(job_id_param(schemas))
            .answer(200, job_response("Cancelled.", schemas, &[]))
            .answer(202, job_response("Running: asked to stop.", schemas, &[]))
            .problems(&[MalformedId, NotFound, JobFinished])
            .build(),
        ),
        (
            "/jobs/{id}/result",
            "get",
            Op::new(
                "getJobResult",
                "jobs",
                "Get a job's result",
                "The result of a succeeded job, with its kind's media type: JSON for most kinds, the image for `thumbnail`.",
            )
            .param(job_id_param(schemas))
            .answer(200, json!({ "description": "The result.", "content": results }))
            .problems(&[MalformedId, NotFound, ResultNotReady])
            .build(),
        ),
        (
            "/jobs/{id}/webhook",
            "post",
            Op::new(
                "redeliverWebhook",
                "jobs",
                "Deliver a job's webhook again",
                "Queues the completion event of a finished job with a `callback_url` again, from the first attempt, with the same `webhook-id`.",
            )
            .changes()
            .param(job_id_param(schemas))
            .answer(202, job_response("Queued; `webhook` shows the delivery.", schemas, &[]))
            .problems(&[MalformedId, NotFound, WebhookUnavailable])
            .build(),
        ),
    ]
}

fn operations(schemas: &mut Schemas) -> Operations {
    vec![
        (
            "/stats",
            "get",
            Op::new("getStats", "operations", "Counts of the tenant's jobs", "Jobs per status, queue depth, the oldest waiting job's age, retries and webhook deliveries.")
                .answer(200, json_response("The counts.", schemas.written::<Stats>()))
                .build(),
        ),
        (
            "/healthz",
            "get",
            Op::new("getHealth", "operations", "Health", "`200` while the key-value store and Redis both answer.")
                .access(Access::Open)
                .answer(200, json_response("Both answer.", schemas.written::<Health>()))
                .build(),
        ),
        (
            super::PATH,
            "get",
            Op::new("getOpenApi", "operations", "This description", "The OpenAPI 3.1 description of the API.")
                .access(Access::Open)
                .answer(200, json_response("The description.", json!({ "type": "object" })))
                .build(),
        ),
        (
            "/internal/drain",
            "post",
            Op::new("drain", "internal", "Run the worker here", "Runs the worker's drain loop inside the request for `drain_budget_ms`, for platforms without the Redis trigger; a scheduler calls it.")
                .access(Access::Drain)
                .answer(200, json_response("What the drain did.", schemas.written::<DrainReport>()))
                .build(),
        ),
    ]
}

/// An `Idempotency-Key` the intake accepts: a Structured Field string (`"..."`, with
/// `\"` and `\\` escapes), or bare printable ASCII that does not read as one.
/// Each form holds 1 to 255 characters once read.
const IDEMPOTENCY_KEY_PATTERN: &str = concat!(
    "^(?:",
    r#""(?:[ !#-\[\]-~]|\\["\\]){1,255}""#,
    r#"|"|"[ -~]{0,253}[!#-~]"#,
    r"|[!#-~](?:[ -~]{0,253}[!-~])?",
    ")$"
);
