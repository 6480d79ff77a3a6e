//! A `wasi:http/incoming-handler@0.2.x` component: a fresh instance per
//! request, as Spin runs WASIp2 components, so no guest state survives from
//! one request to the next.

use std::sync::Arc;

use anyhow::anyhow;
use hyper::body::Incoming;
use hyper::{Request, Response};
use wasmtime::Engine;
use wasmtime_wasi_http::p2::WasiHttpView;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

use crate::host::{ComponentEnv, HostState};

/// Runs `req` on a new instance of `pre`.
pub(super) async fn invoke(
    engine: &Engine,
    pre: &ProxyPre<HostState>,
    env: &Arc<ComponentEnv>,
    req: Request<Incoming>,
) -> anyhow::Result<Response<HyperOutgoingBody>> {
    let mut store = HostState::new_store(engine, env);
    let (sender, receiver) = tokio::sync::oneshot::channel();
    let incoming = WasiHttpView::http(store.data_mut())
        .new_incoming_request(Scheme::Http, req)
        .map_err(|e| anyhow!("{e}"))?;
    let outparam = WasiHttpView::http(store.data_mut())
        .new_response_outparam(sender)
        .map_err(|e| anyhow!("{e}"))?;
    let pre = pre.clone();
    let id = env.id.clone();
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
