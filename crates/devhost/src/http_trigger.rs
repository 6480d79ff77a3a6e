//! The HTTP trigger: a hyper 1 server on the given listener that routes each
//! request, adds Spin's `spin-*` headers, and runs it on a fresh instance of
//! the route's component through `wasi:http/incoming-handler`. A trap or a
//! handler that never answers is a 500; the server keeps serving.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::header::{CONNECTION, HOST, HeaderName, HeaderValue};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::watch;
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

use crate::app::{App, LoadedComponent};
use crate::host::HostState;
use crate::routes::{RouteMatch, Router};

/// Paths under this prefix are the host's, not the app's.
const WELL_KNOWN_PREFIX: &str = "/.well-known/spin/";

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
        let _ = stream.set_nodelay(true);
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

        match invoke(&self.app, component, req).await {
            Ok(response) => response,
            Err(e) => {
                eprintln!("[{component_id}] error processing request: {e:#}");
                status(StatusCode::INTERNAL_SERVER_ERROR)
            }
        }
    }
}

async fn invoke(
    app: &App,
    component: &LoadedComponent,
    req: Request<Incoming>,
) -> anyhow::Result<Response<HyperOutgoingBody>> {
    let pre: &ProxyPre<HostState> = component
        .http
        .as_ref()
        .context("component has no HTTP handler")?;
    let mut store = HostState::new_store(&app.engine, &component.env);
    let (sender, receiver) = tokio::sync::oneshot::channel();
    let incoming = store
        .data_mut()
        .http()
        .new_incoming_request(Scheme::Http, req)
        .map_err(|e| anyhow!("{e}"))?;
    let outparam = store
        .data_mut()
        .http()
        .new_response_outparam(sender)
        .map_err(|e| anyhow!("{e}"))?;
    let pre = pre.clone();
    let id = component.env.id.clone();
    // The guest runs in its own task so it can keep streaming the body after
    // the head of the response is handed to hyper.
    let task = tokio::spawn(async move {
        let result = async {
            let proxy = pre.instantiate_async(&mut store).await?;
            proxy
                .wasi_http_incoming_handler()
                .call_handle(&mut store, incoming, outparam)
                .await
        }
        .await;
        result.map_err(anyhow::Error::from)
    });
    match receiver.await {
        Ok(Ok(response)) => {
            // Errors after the head was sent can only be logged.
            tokio::spawn(async move {
                if let Ok(Err(e)) = task.await {
                    eprintln!("[{id}] guest failed after responding: {e:#}");
                }
            });
            Ok(response)
        }
        Ok(Err(code)) => Err(anyhow!("guest returned error code {code:?}")),
        Err(_) => match task.await {
            Ok(Ok(())) => Err(anyhow!("guest never set a response")),
            Ok(Err(e)) => Err(e.context("guest trapped")),
            Err(e) => Err(anyhow!("guest task failed: {e}")),
        },
    }
}
