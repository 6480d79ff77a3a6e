//! A `wasi:http/handler@0.3.0-rc-2026-03-15` component, run as Spin 4.0.2
//! runs it: through wasmtime's [`ProxyHandler`], which keeps an instance for
//! up to 128 requests, 16 at a time, and drops it after 1 s without one. So
//! guest state (globals, open stores and Redis connections) does survive from
//! one request to the next, and an app must be ready for both that and a
//! fresh instance.
//!
//! Each request is a task on an instance's event loop. The task hands the
//! response head to hyper and then stays alive until hyper is done with the
//! body, because the guest writes the body from that same event loop.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use anyhow::{anyhow, bail};
use bytes::Bytes;
use http_body_util::BodyExt;
use http_body_util::combinators::UnsyncBoxBody;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::{Request, Response};
use tokio::sync::oneshot;
use wasmtime::component::Accessor;
use wasmtime::{Engine, Store};
use wasmtime_wasi_http::handler::{HandlerState, Proxy, ProxyHandler, ProxyPre, StoreBundle};
use wasmtime_wasi_http::p2::bindings::http::types::ErrorCode as P2ErrorCode;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::p3;
use wasmtime_wasi_http::p3::bindings::ServicePre;
use wasmtime_wasi_http::p3::bindings::http::types::ErrorCode;

use crate::host::{ComponentEnv, HostState};

/// Spin 4.0.2's defaults for WASIp3 components (crates/trigger-http/src/lib.rs,
/// `DEFAULT_WASIP3_*` and `DEFAULT_IDLE_INSTANCE_TIMEOUT`).
const MAX_REQUESTS_PER_INSTANCE: usize = 128;
const MAX_CONCURRENT_REQUESTS_PER_INSTANCE: usize = 16;
const IDLE_INSTANCE_TIMEOUT: Duration = Duration::from_secs(1);
/// Spin sets no request timeout unless `--request-timeout` is given.
const REQUEST_TIMEOUT: Duration = Duration::MAX;

/// Makes the instances of one component: a store per instance, with the
/// same per-instance state as a WASIp2 request gets.
pub struct Instances {
    engine: Engine,
    env: Arc<ComponentEnv>,
}

impl HandlerState for Instances {
    type StoreData = HostState;

    fn new_store(&self, _req_id: Option<u64>) -> wasmtime::Result<StoreBundle<HostState>> {
        let store: Store<HostState> = HostState::new_store(&self.engine, &self.env);
        Ok(StoreBundle {
            store,
            write_profile: Box::new(|_| ()),
        })
    }

    fn request_timeout(&self) -> Duration {
        REQUEST_TIMEOUT
    }

    fn idle_instance_timeout(&self) -> Duration {
        IDLE_INSTANCE_TIMEOUT
    }

    fn max_instance_reuse_count(&self) -> usize {
        MAX_REQUESTS_PER_INSTANCE
    }

    fn max_instance_concurrent_reuse_count(&self) -> usize {
        MAX_CONCURRENT_REQUESTS_PER_INSTANCE
    }

    /// An instance that trapped (or failed to instantiate) is dropped; the
    /// requests it held answer 500 and the next request gets a new instance.
    fn handle_worker_error(&self, error: wasmtime::Error) {
        eprintln!(
            "[{}] instance dropped after an error: {error:#}",
            self.env.id
        );
    }
}

/// The handler of a component that exports `wasi:http/handler`.
pub(super) fn handler(
    engine: &Engine,
    env: &Arc<ComponentEnv>,
    pre: ServicePre<HostState>,
) -> ProxyHandler<Instances> {
    let instances = Instances {
        engine: engine.clone(),
        env: env.clone(),
    };
    ProxyHandler::new(instances, ProxyPre::P3(pre))
}

/// What a request's task hands back: the response, or why there is none.
type Answer = anyhow::Result<Response<HyperOutgoingBody>>;

/// Runs `req` on an instance the handler picks (reused or new).
pub(super) async fn invoke(handler: &ProxyHandler<Instances>, req: Request<Incoming>) -> Answer {
    let req = req.map(|body| body.map_err(request_body_error));
    let (request, request_io) = p3::Request::from_http(req);
    let (answer_tx, answer_rx) = oneshot::channel::<Answer>();
    handler.spawn(
        None,
        Box::new(move |accessor, proxy| {
            Box::pin(async move {
                let (body_done_tx, body_done_rx) = oneshot::channel();
                let answer = respond(accessor, proxy, request, request_io)
                    .await
                    .map(|response| {
                        response.map(|body| {
                            UntilDropped {
                                body,
                                _done: body_done_tx,
                            }
                            .map_err(to_p2_error)
                            .boxed_unsync()
                        })
                    });
                let responded = answer.is_ok();
                if answer_tx.send(answer).is_ok() && responded {
                    // Leaving now would stop the guest writing the body.
                    let _ = body_done_rx.await;
                }
            })
        }),
    );
    answer_rx
        .await
        .map_err(|_| anyhow!("the instance was dropped before it answered (see its error above)"))?
}

/// Calls the guest's `handle` and turns its response into hyper's.
async fn respond(
    accessor: &Accessor<HostState>,
    proxy: &Proxy,
    request: p3::Request,
    request_io: impl Future<Output = Result<(), ErrorCode>> + Send + 'static,
) -> anyhow::Result<Response<UnsyncBoxBody<Bytes, ErrorCode>>> {
    let Proxy::P3(service) = proxy else {
        bail!("a WASIp3 handler holds a WASIp2 instance");
    };
    let request = accessor.with(|mut access| access.data_mut().table().push(request))?;
    let response = service
        .wasi_http_handler()
        .call_handle(accessor, request)
        .await?
        .map_err(|code| anyhow!("guest returned error code {code:?}"))?;
    let response = accessor.with(|mut access| {
        let response = access.data_mut().table().delete(response)?;
        response.into_http(&mut access, request_io)
    })?;
    Ok(response)
}

fn request_body_error(e: hyper::Error) -> ErrorCode {
    ErrorCode::InternalError(Some(format!("reading the request body: {e}")))
}

/// The server's bodies carry p2 error codes; an error here only ends the
/// connection, so its text is all that matters.
fn to_p2_error(code: ErrorCode) -> P2ErrorCode {
    P2ErrorCode::InternalError(Some(format!("{code:?}")))
}

/// A response body that lets the request's task end once hyper has read it
/// to the end or given up on it: either way hyper drops it, and `_done` with it.
struct UntilDropped {
    body: UnsyncBoxBody<Bytes, ErrorCode>,
    _done: oneshot::Sender<()>,
}

impl Body for UntilDropped {
    type Data = Bytes;
    type Error = ErrorCode;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, ErrorCode>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
