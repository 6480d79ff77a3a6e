//! `wasi:http/outgoing-handler` policy: a request goes out only if its
//! `scheme://host:port` is in the component's `allowed_outbound_hosts`;
//! otherwise the guest gets `HTTP-request-denied`, as on Spin.

use std::sync::Arc;

use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

use crate::allowed_hosts::AllowedHosts;

/// Per-instance hooks; cheap to build (two `Arc`s).
pub struct OutboundHooks {
    component: Arc<str>,
    allowed: Arc<AllowedHosts>,
}

impl OutboundHooks {
    pub fn new(component: String, allowed: Arc<AllowedHosts>) -> OutboundHooks {
        OutboundHooks {
            component: component.into(),
            allowed,
        }
    }
}

type Io = Box<dyn Future<Output = Result<(), Error>> + Send>;

impl WasiHttpHooks for OutboundHooks {
    fn send_request(
        &mut self,
        request: hyper::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Io,
    ) -> Box<dyn Future<Output = Result<(hyper::Response<WasiBody>, Io), Error>> + Send> {
        drop(fut);
        let uri = request.uri();
        let scheme = uri.scheme_str().unwrap_or("http").to_string();
        let host = uri.host().unwrap_or("").to_string();
        let port = uri.port_u16();
        if !self.allowed.allows(&scheme, &host, port) {
            let target = match port {
                Some(port) => format!("{scheme}://{host}:{port}"),
                None => format!("{scheme}://{host}"),
            };
            eprintln!(
                "[{}] outbound HTTP to {target} is not allowed by allowed_outbound_hosts",
                self.component
            );
            return Box::new(async { Err(Error::HttpRequestDenied) });
        }
        Box::new(async move {
            use http_body_util::BodyExt;
            let (response, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            Ok((response.map(BodyExt::boxed_unsync), Box::new(io) as Io))
        })
    }
}
