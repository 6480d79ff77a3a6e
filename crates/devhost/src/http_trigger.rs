//! The HTTP trigger: a hyper 1 server on the given listener that routes each
//! request, adds Spin's `spin-*` headers, and runs it on the route's
//! component, the way Spin 4.0.2 runs that kind of component:
//! - a WASIp2 component (`wasi:http/incoming-handler@0.2.x`) on a fresh
//!   instance per request ([`wasip2`]);
//! - a WASIp3 component (`wasi:http/handler@0.3.0-rc-2026-03-15`) on an
//!   instance reused for many requests ([`wasip3`]).
//!
//! Either way a trap or a handler that never answers is a 500, and the server
//! keeps serving.

mod wasip2;
mod wasip3;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::bail;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::header::{CONNECTION, HOST, HeaderName, HeaderValue};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::watch;
use wasmtime::Engine;
use wasmtime::component::InstancePre;
use wasmtime_wasi_http::handler::ProxyHandler;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::p3::bindings::ServicePre;

use crate::app::App;
use crate::host::{ComponentEnv, HostState};
use crate::routes::{RouteMatch, Router};

/// Paths under this prefix are the host's, not the app's.
const WELL_KNOWN_PREFIX: &str = "/.well-known/spin/";

/// The WASIp2 export, any 0.2 release.
const WASIP2_EXPORT: &str = "wasi:http/incoming-handler@0.2.x";
/// The WASIp3 export, at the one release candidate Spin 4.0.2 runs.
const WASIP3_EXPORT: &str = "wasi:http/handler@0.3.0-rc-2026-03-15";

/// How a component answers HTTP requests, told by what it exports.
pub enum HttpHandler {
    /// A fresh instance per request.
    Wasip2(ProxyPre<HostState>),
    /// Instances reused across requests.
    Wasip3(ProxyHandler<wasip3::Instances>),
}

impl HttpHandler {
    /// Picks the handler from the component's exports; like Spin, a component
    /// must export exactly one of the two.
    pub fn new(
        engine: &Engine,
        env: &Arc<ComponentEnv>,
        pre: InstancePre<HostState>,
    ) -> anyhow::Result<HttpHandler> {
        let p2 = ProxyPre::new(pre.clone()).ok();
        let p3 = ServicePre::new(pre).ok();
        match (p2, p3) {
            (Some(pre), None) => Ok(HttpHandler::Wasip2(pre)),
            (None, Some(pre)) => Ok(HttpHandler::Wasip3(wasip3::handler(engine, env, pre))),
            (Some(_), Some(_)) => {
                bail!("it exports both {WASIP2_EXPORT} and {WASIP3_EXPORT}; export only one")
            }
            (None, None) => bail!("it exports neither {WASIP2_EXPORT} nor {WASIP3_EXPORT}"),
        }
    }
}

struct Server {
    app: Arc<App>,
}

fn router(app: &App) -> &Router {
    app.router
        .as_ref()
        .expect("the HTTP trigger runs only when routes exist")
}

/// The lines Spin prints once it listens: the address, then every route.
pub fn startup_lines(app: &App, addr: SocketAddr) -> Vec<String> {
    let base = format!("http://{addr}");
    let mut lines = vec![format!("Serving {base}"), "Available Routes:".to_string()];
    for route in router(app).routes() {
        lines.push(format!("  {}: {base}{}", route.component, route.display()));
    }
    lines
}

/// Accepts connections until `stop` turns true, then waits (bounded) for
/// in-flight requests to finish.
pub async fn serve(
    listener: TcpListener,
    app: Arc<App>,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let server = Arc::new(Server { app });
    loop {
        let (stream, client_addr) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Running out of file descriptors and the like: pause, go on.
                    eprintln!("devhost: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stopped(&mut stop) => break,
        };
        // No TCP_NODELAY, as on Spin 4.0.2: a response body written after its head waits
        // for the client's delayed ACK there too (docs/devhost.md).
        let server = server.clone();
        let service = hyper::service::service_fn(move |req| {
            let server = server.clone();
            async move { Ok::<_, Infallible>(server.handle(req, client_addr).await) }
        });
        let conn = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .serve_connection(TokioIo::new(stream), service);
        tokio::spawn(async move {
            let _ = conn.await;
        });
    }
    Ok(())
}

/// Resolves once `stop` is true (or its sender is gone).
pub async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

fn status(code: StatusCode) -> Response<HyperOutgoingBody> {
    let body = Empty::<Bytes>::new()
        .map_err(|never| match never {})
        .boxed_unsync();
    let mut response = Response::new(body);
    *response.status_mut() = code;
    response
}

/// Adds the `spin-*` headers for a match, as Spin computes them (a value
/// that is not a valid header value is left out). Like Spin, after any the
/// client sent under the same name: a forged `spin-client-addr` stays, and
/// the real one follows it.
fn insert_spin_headers(
    headers: &mut hyper::HeaderMap,
    m: &RouteMatch<'_>,
    full_url: &str,
    client_addr: SocketAddr,
) {
    let mut set = |name: HeaderName, value: &str| {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.append(name, value);
        }
    };
    set(HeaderName::from_static("spin-path-info"), &m.path_info);
    set(HeaderName::from_static("spin-full-url"), full_url);
    set(
        HeaderName::from_static("spin-matched-route"),
        &m.route.based,
    );
    set(HeaderName::from_static("spin-base-path"), "/");
    set(
        HeaderName::from_static("spin-raw-component-route"),
        &m.route.raw,
    );
    set(
        HeaderName::from_static("spin-component-route"),
        m.component_route(),
    );
    set(
        HeaderName::from_static("spin-client-addr"),
        &client_addr.to_string(),
    );
    for (name, value) in &m.params {
        let name = format!(
            "spin-path-match-{}",
            name.to_ascii_lowercase().replace('_', "-")
        );
        if let Ok(name) = HeaderName::try_from(name) {
            set(name, value);
        }
    }
}

impl Server {
    async fn handle(
        &self,
        mut req: Request<Incoming>,
        client_addr: SocketAddr,
    ) -> Response<HyperOutgoingBody> {
        let path = req.uri().path().to_string();
        // Spin answers its well-known paths itself, before any route.
        if let Some(well_known) = path.strip_prefix(WELL_KNOWN_PREFIX) {
            if well_known == "health" {
                let body = http_body_util::Full::new(Bytes::from_static(b"OK"))
                    .map_err(|never| match never {})
                    .boxed_unsync();
                return Response::new(body);
            }
            return status(StatusCode::NOT_FOUND);
        }
        let Some(m) = router(&self.app).route(&path) else {
            return status(StatusCode::NOT_FOUND);
        };
        let component_id = m.route.component.clone();
        let Some(component) = self.app.components.get(&component_id) else {
            return status(StatusCode::INTERNAL_SERVER_ERROR);
        };

        // As Spin gives the component its headers as strings, a value that is not
        // UTF-8 fails the request (HTTP allows such bytes; Spin does not pass them).
        let not_text = req.headers().iter().find_map(|(name, value)| {
            std::str::from_utf8(value.as_bytes())
                .err()
                .map(|e| (name, e))
        });
        if let Some((name, e)) = not_text {
            eprintln!("[{component_id}] error processing request: header {name}: {e}");
            return status(StatusCode::INTERNAL_SERVER_ERROR);
        }
        let host = req
            .headers()
            .get(HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("localhost")
            .to_string();
        let path_and_query = req
            .uri()
            .path_and_query()
            .map(|pq| pq.as_str().to_string())
            .unwrap_or_else(|| "/".to_string());
        let full_url = format!("http://{host}{path_and_query}");
        match full_url.parse() {
            Ok(uri) => *req.uri_mut() = uri,
            Err(_) => return status(StatusCode::BAD_REQUEST),
        }
        let headers = req.headers_mut();
        headers.remove(CONNECTION);
        insert_spin_headers(headers, &m, &full_url, client_addr);

        let answer = match &component.http {
            Some(HttpHandler::Wasip2(pre)) => {
                wasip2::invoke(&self.app.engine, pre, &component.env, req).await
            }
            Some(HttpHandler::Wasip3(handler)) => wasip3::invoke(handler, req).await,
            None => Err(anyhow::anyhow!("component has no HTTP handler")),
        };
        match answer {
            Ok(response) => response,
            Err(e) => {
                eprintln!("[{component_id}] error processing request: {e:#}");
                status(StatusCode::INTERNAL_SERVER_ERROR)
            }
        }
    }
}
