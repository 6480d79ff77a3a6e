//! `wasi:http/outgoing-handler` policy: a request goes out only if its
//! `scheme://host:port` is in the component's `allowed_outbound_hosts`;
//! otherwise the guest gets `HTTP-request-denied`, as on Spin.

use std::sync::Arc;

use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

use crate::allowed_hosts::AllowedHosts;
use crate::blocked_networks::BlockedNetworks;

/// Per-instance hooks; cheap to build (two `Arc`s).
pub struct OutboundHooks {
    component: Arc<str>,
    allowed: Arc<AllowedHosts>,
    blocked: Arc<BlockedNetworks>,
}

impl OutboundHooks {
    pub fn new(
        component: String,
        allowed: Arc<AllowedHosts>,
        blocked: Arc<BlockedNetworks>,
    ) -> OutboundHooks {
        OutboundHooks {
            component: component.into(),
            allowed,
            blocked,
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
        let blocked = self.blocked.clone();
        let component = self.component.clone();
        let target = format!(
            "{host}:{}",
            port.unwrap_or(if scheme == "https" { 443 } else { 80 })
        );
        Box::new(async move {
            use http_body_util::BodyExt;
            if !blocked.is_empty() {
                // As Spin: what the name resolves to must not be in block_networks.
                let host = target.rsplit_once(':').map_or(target.as_str(), |(h, _)| h);
                let host = host.trim_start_matches('[').trim_end_matches(']');
                let addrs: Vec<std::net::SocketAddr> = match host.parse::<std::net::IpAddr>() {
                    Ok(ip) => vec![std::net::SocketAddr::new(ip, 0)],
                    Err(_) => tokio::net::lookup_host(target.as_str())
                        .await
                        .map_err(|_| Error::DestinationNotFound)?
                        .collect(),
                };
                if addrs.iter().any(|a| blocked.is_blocked(a.ip())) {
                    eprintln!(
                        "[{component}] outbound HTTP to {target} is refused by block_networks"
                    );
                    return Err(Error::DestinationIpProhibited);
                }
            }
            let (response, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            Ok((response.map(BodyExt::boxed_unsync), Box::new(io) as Io))
        })
    }
}
