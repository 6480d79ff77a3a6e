//! A minimal HTTP/1.1 client for the load loops: one keep-alive connection per
//! simulated client (hyper's connection API, no pool), reconnecting after an
//! error, every exchange bounded by a timeout. Only ever pointed at 127.0.0.1.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// The `Authorization` every request carries: the benchmark tenant's API key, set once
/// by [`crate::stack::Stack::start`].
pub static AUTHORIZATION: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// The longest one exchange may take before it counts as an error.
pub const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(30);

/// An answer, read whole.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: StatusCode,
    pub location: Option<String>,
    pub body: Bytes,
}

impl Reply {
    /// The body as JSON.
    pub fn json(&self) -> anyhow::Result<serde_json::Value> {
        serde_json::from_slice(&self.body).with_context(|| {
            format!(
                "{} answered a body that is not JSON: {}",
                self.status,
                String::from_utf8_lossy(&self.body[..self.body.len().min(200)])
            )
        })
    }

    /// Errs with the status and the start of the body unless the status is `expected`.
    pub fn expect(self, expected: u16) -> anyhow::Result<Reply> {
        if self.status.as_u16() == expected {
            return Ok(self);
        }
        bail!(
            "expected {expected}, got {}: {}",
            self.status,
            String::from_utf8_lossy(&self.body[..self.body.len().min(200)])
        )
    }
}

/// One client's connection to the app.
pub struct Conn {
    addr: SocketAddr,
    host: String,
    sender: Option<SendRequest<Full<Bytes>>>,
    /// `Authorization` for this connection instead of [`AUTHORIZATION`].
    authorization: Option<String>,
}

impl Conn {
    /// A connection to `addr`, opened at the first request.
    pub fn new(addr: SocketAddr) -> Conn {
        Conn {
            addr,
            host: addr.to_string(),
            sender: None,
            authorization: None,
        }
    }

    /// A connection whose requests carry `authorization` (another tenant's key).
    pub fn with_authorization(addr: SocketAddr, authorization: String) -> Conn {
        Conn {
            authorization: Some(authorization),
            ..Conn::new(addr)
        }
    }

    /// `GET path`.
    pub async fn get(&mut self, path: &str) -> anyhow::Result<Reply> {
        self.send(Method::GET, path, Bytes::new(), None).await
    }

    /// `POST path` with a JSON body.
    pub async fn post_json(&mut self, path: &str, body: Bytes) -> anyhow::Result<Reply> {
        self.send(Method::POST, path, body, Some("application/json"))
            .await
    }

    /// One exchange. After any error the connection is dropped, and the next call
    /// opens a new one.
    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        body: Bytes,
        content_type: Option<&str>,
    ) -> anyhow::Result<Reply> {
        let outcome = tokio::time::timeout(
            EXCHANGE_TIMEOUT,
            self.exchange(method, path, body, content_type),
        )
        .await
        .unwrap_or_else(|_| Err(anyhow!("no answer within {EXCHANGE_TIMEOUT:?}")));
        if outcome.is_err() {
            self.sender = None;
        }
        outcome
    }

    async fn exchange(
        &mut self,
        method: Method,
        path: &str,
        body: Bytes,
        content_type: Option<&str>,
    ) -> anyhow::Result<Reply> {
        let sender = match &mut self.sender {
            Some(sender) if !sender.is_closed() => sender,
            slot => slot.insert(connect(self.addr).await?),
        };
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, &self.host);
        if let Some(ct) = content_type {
            req = req.header(hyper::header::CONTENT_TYPE, ct);
        }
        if let Some(auth) = self.authorization.as_ref().or(AUTHORIZATION.get()) {
            req = req.header(hyper::header::AUTHORIZATION, auth);
        }
        let req = req.body(Full::new(body)).context("build the request")?;
        sender.ready().await.context("connection not ready")?;
        let resp = sender.send_request(req).await.context("send the request")?;
        let status = resp.status();
        let location = resp
            .headers()
            .get(hyper::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = resp
            .into_body()
            .collect()
            .await
            .context("read the answer's body")?
            .to_bytes();
        Ok(Reply {
            status,
            location,
            body,
        })
    }
}

async fn connect(addr: SocketAddr) -> anyhow::Result<SendRequest<Full<Bytes>>> {
    let stream = TcpStream::connect(addr)
        .await
        .with_context(|| format!("connect to {addr}"))?;
    stream.set_nodelay(true)?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .context("HTTP/1.1 handshake")?;
    tokio::spawn(async move {
        // Ends when the server closes the connection or the sender is dropped; the
        // next request on a closed sender reconnects.
        let _ = conn.await;
    });
    Ok(sender)
}
