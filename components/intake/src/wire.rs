//! Wire handling: the incoming request (WASIp3 `wasi:http`) reduced to what the handlers
//! need (method, path, query, headers, a size-limited body), JSON and problem responses
//! (`spin_adapters::http3::respond` sends them), and the error log.

use jobs_core::api::problem;
use jobs_core::api::{ApiError, Headers, RequestError};
use jobs_core::service::Origin;
use serde::Serialize;
use spin_adapters::http3;
use spin_sdk::http::{Method, Response};
use wasip3::http::types as wasi;

/// The request. Its body is read, up to a bound, before the handlers run
/// ([`Req::read_body`]); each handler then takes it with its own limit.
pub struct Req {
    pub method: Method,
    pub path: String,
    pub query: String,
    /// The host the client asked for (its `Host`, which WASI HTTP gives as the
    /// authority, not as a header).
    authority: Option<String>,
    headers: Vec<(String, Vec<u8>)>,
    body: Body,
}

/// Where the request body stands.
enum Body {
    /// Not read: the request still holds it.
    Unread(wasi::Request),
    /// Read, up to the bound.
    Read(http3::Body),
    /// Taken by a handler.
    Taken,
}

impl Req {
    pub fn new(req: wasi::Request) -> Self {
        let method = http3::method(req.get_method());
        let headers: Vec<(String, Vec<u8>)> = req.get_headers().copy_all();
        let authority = req.get_authority();
        let path_with_query = req.get_path_with_query().unwrap_or_else(|| "/".to_owned());
        let (uri_path, query) = match path_with_query.split_once('?') {
            Some((p, q)) => (p.to_owned(), q.to_owned()),
            None => (path_with_query, String::new()),
        };
        let mut req = Req {
            method,
            path: uri_path,
            query,
            authority,
            headers,
            body: Body::Unread(req),
        };
        // Spin gives the path below the component's route base; fall back to the URI.
        // Spin appends its own value to one a client sent: the last one is Spin's.
        if let Some(info) = req.last_header("spin-path-info").filter(|p| !p.is_empty()) {
            req.path = info.to_owned();
        }
        req
    }

    /// The request's headers, read as [`Headers`] reads them.
    fn headers(&self) -> Headers<'_> {
        Headers(&self.headers)
    }

    /// The last value of a header, if it is text: for the headers the runtime adds after
    /// any a client sent.
    fn last_header(&self, name: &'static str) -> Option<&str> {
        self.headers().last(name)
    }

    /// The first value of a header; one that is not UTF-8 is present and wrong
    /// ([`jobs_core::api::NOT_TEXT`]), never missing.
    pub fn header(&self, name: &'static str) -> Option<&str> {
        self.headers().first(name)
    }

    /// Where the request came from ([`Headers::origin`]).
    pub fn origin(&self) -> Origin {
        self.headers().origin(self.authority.as_deref())
    }

    /// Reads the body of a request whose method carries one (`POST`, `PUT`, `PATCH`), at
    /// most `limits.bound` bytes and one more, within `limits.within_ms`: a longer body,
    /// declared or sent, or one that comes too slowly, is left unread and refused by
    /// [`Req::body`]. Nothing is decided here: a request refused for other reasons (no
    /// API key, say) is refused as before, whatever its body.
    pub async fn read_body(&mut self, limits: http3::Limits) {
        let declared = self.declared_length();
        if !matches!(self.method, Method::Post | Method::Put | Method::Patch)
            || declared.is_some_and(|len| len > limits.bound as u64)
        {
            return;
        }
        let Body::Unread(req) = std::mem::replace(&mut self.body, Body::Taken) else {
            return;
        };
        self.body = Body::Read(http3::read_declared(req, limits, declared).await);
    }

    /// The body, refused when longer than `limit` (which must not exceed the bound it was
    /// read with).
    pub fn body(&mut self, limit: usize) -> Result<Vec<u8>, ApiError> {
        let too_large = || ApiError::Request(RequestError::PayloadTooLarge { limit });
        if self.declared_length().is_some_and(|len| len > limit as u64) {
            return Err(too_large());
        }
        match std::mem::replace(&mut self.body, Body::Taken) {
            Body::Read(http3::Body::Read(body)) if body.len() > limit => Err(too_large()),
            Body::Read(http3::Body::Read(body)) => Ok(body),
            Body::Read(http3::Body::TooLong) => Err(too_large()),
            Body::Read(http3::Body::Failed(why)) => Err(RequestError::BodyUnreadable(why).into()),
            Body::Read(http3::Body::TooSlow { within_ms }) => {
                Err(RequestError::BodyTooSlow { within_ms }.into())
            }
            Body::Unread(_) | Body::Taken => Ok(Vec::new()),
        }
    }

    /// `Content-Length`, when the client sent one that reads as a number.
    fn declared_length(&self) -> Option<u64> {
        self.header("content-length")
            .and_then(|v| v.trim().parse::<u64>().ok())
    }
}

/// A JSON response.
pub fn json(status: u16, value: &impl Serialize) -> Response {
    let body = serde_json::to_vec(value).unwrap_or_default();
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(body)
        .build()
}

/// The problem response for `err`; server errors are logged with their cause.
pub fn error(req: &Req, err: &ApiError) -> Response {
    let p = problem(err);
    if p.status >= 500 {
        eprintln!(
            "intake: {} {} -> {}: {}",
            req.method,
            req.path,
            p.status,
            chain(err)
        );
    }
    let mut builder = Response::builder();
    builder
        .status(p.status)
        .header("content-type", "application/problem+json");
    if let Some(seconds) = p.retry_after {
        builder.header("retry-after", seconds.to_string());
    }
    if let Some(allow) = p.allow {
        builder.header("allow", allow);
    }
    if let Some(challenge) = p.www_authenticate {
        builder.header("www-authenticate", challenge);
    }
    builder.body(p.to_json()).build()
}

/// An error and its sources, for the log.
fn chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}
