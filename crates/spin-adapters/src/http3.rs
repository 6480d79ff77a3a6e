//! The WASIp3 side of an HTTP component (`wasi:http/handler@0.3.0-rc-2026-03-15`, what
//! Spin 4.0.2 runs): a request's method and body in, a response out. The handlers keep
//! the Spin SDK's types ([`Method`], [`Response`]); these are the conversions at the edge.

use spin_sdk::http::{Method, Response};
use wasip3::clocks::monotonic_clock;
use wasip3::http::types::{self as wasi, ErrorCode, Fields};
use wasip3::wit_bindgen::StreamResult;
use wasip3::{wit_bindgen, wit_future, wit_stream};

/// Most bytes one read of a request body asks for.
const READ_CHUNK: usize = 64 * 1024;

/// A request body read up to a bound.
#[derive(Debug, PartialEq, Eq)]
pub enum Body {
    /// The whole body.
    Read(Vec<u8>),
    /// Longer than the bound: the rest was left unread.
    TooLong,
    /// The client's body broke off or the host failed to deliver it.
    Failed(String),
    /// It had not all arrived when the time allowed for it (`within_ms`) ran out; the
    /// rest was left unread.
    TooSlow { within_ms: u64 },
}

/// How a body is read: at most `bound` bytes and one more, within `within_ms`.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub bound: usize,
    pub within_ms: u64,
}

/// Reads the body of `req` within `limits`: memory stays within the bound and the time
/// within the deadline, whatever the client sends or declares, however slowly.
pub async fn read_body(req: wasi::Request, limits: Limits) -> Body {
    read_declared(req, limits, None).await
}

/// [`read_body`] for a request that declared its length (`Content-Length`): the buffer
/// is sized for that, not for a whole chunk.
pub async fn read_declared(req: wasi::Request, limits: Limits, declared: Option<u64>) -> Body {
    let deadline = std::pin::pin!(monotonic_clock::wait_for(
        limits.within_ms.saturating_mul(1_000_000)
    ));
    let read = std::pin::pin!(read_all(req, limits.bound, declared));
    match futures::future::select(read, deadline).await {
        futures::future::Either::Left((body, _)) => body,
        // The read is dropped here, which cancels it and lets the stream go.
        futures::future::Either::Right(_) => Body::TooSlow {
            within_ms: limits.within_ms,
        },
    }
}

async fn read_all(req: wasi::Request, bound: usize, declared: Option<u64>) -> Body {
    let (handled, handled_rx) = wit_future::new(|| Ok(()));
    drop(handled);
    let (mut stream, trailers) = wasi::Request::consume_body(req, handled_rx);
    let mut body = Vec::new();
    loop {
        let room = (bound + 1).saturating_sub(body.len()).min(READ_CHUNK);
        if room == 0 {
            return Body::TooLong;
        }
        // One byte past what was declared, to see the end (or a body longer than said).
        let room = match declared.and_then(|len| usize::try_from(len).ok()) {
            Some(len) => room.min((len + 1).saturating_sub(body.len()).max(1)),
            None => room,
        };
        body.reserve_exact(room);
        let (result, filled) = stream.read(body).await;
        body = filled;
        match result {
            StreamResult::Complete(_) => {}
            StreamResult::Dropped | StreamResult::Cancelled => break,
        }
    }
    drop(stream);
    match trailers.await {
        Ok(_) if body.len() > bound => Body::TooLong,
        Ok(_) => Body::Read(body),
        Err(code) => Body::Failed(format!("{code:?}")),
    }
}

/// The request's method, as the Spin SDK names methods.
pub fn method(m: wasi::Method) -> Method {
    match m {
        wasi::Method::Get => Method::Get,
        wasi::Method::Head => Method::Head,
        wasi::Method::Post => Method::Post,
        wasi::Method::Put => Method::Put,
        wasi::Method::Delete => Method::Delete,
        wasi::Method::Connect => Method::Connect,
        wasi::Method::Options => Method::Options,
        wasi::Method::Trace => Method::Trace,
        wasi::Method::Patch => Method::Patch,
        wasi::Method::Other(other) => Method::Other(other),
    }
}

/// `response` as a WASIp3 response: its body is written by a task of its own once the
/// head is returned, as the host reads it. (Starting the write before returning, so that
/// the body would wait at the stream, made the tail worse on Spin 4.0.2: p99 25 to 45 ms
/// against 2 to 8 ms, docs/architecture.md on `TCP_NODELAY`.)
pub async fn respond(response: Response) -> Result<wasi::Response, ErrorCode> {
    let fields: Vec<(String, Vec<u8>)> = response
        .headers()
        .map(|(name, value)| (name.to_owned(), value.as_bytes().to_vec()))
        .collect();
    let headers = Fields::from_list(&fields)
        .map_err(|e| ErrorCode::InternalError(Some(format!("response headers: {e:?}"))))?;
    let status = *response.status();
    let body = response.into_body();
    let (trailers_tx, trailers_rx) = wit_future::new(|| Ok(None));
    drop(trailers_tx);
    let contents = if body.is_empty() {
        None
    } else {
        let (mut body_tx, body_rx) = wit_stream::new();
        wit_bindgen::spawn(async move {
            // A client gone before the end of the answer is no error of ours.
            let _unsent = body_tx.write_all(body).await;
        });
        Some(body_rx)
    };
    let (out, _sent) = wasi::Response::new(headers, contents, trailers_rx);
    out.set_status_code(status)
        .map_err(|()| ErrorCode::InternalError(Some(format!("status {status}"))))?;
    Ok(out)
}
