//! Outbound `wasi:http` policy, for both the p2 `outgoing-handler` and the p3
//! `client`: a request goes out only if its `scheme://host:port` is in the
//! component's `allowed_outbound_hosts` (else `HTTP-request-denied`), and only
//! if its host does not resolve into `block_networks` (else
//! `destination-IP-prohibited`), as on Spin. The policy is written once
//! ([`OutboundHooks::admit`], [`Target::check_networks`]); each WASI version
//! only maps its refusals onto its own error codes.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::BodyExt;
use http_body_util::combinators::UnsyncBoxBody;
use wasmtime_wasi::TrappableError;
use wasmtime_wasi_http::p2::bindings::http::types::ErrorCode as P2ErrorCode;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::p2::types::{HostFutureIncomingResponse, OutgoingRequestConfig};
use wasmtime_wasi_http::p2::{self, HttpResult};
use wasmtime_wasi_http::p3::bindings::http::types::ErrorCode as P3ErrorCode;
use wasmtime_wasi_http::p3::{self, RequestOptions};

use crate::allowed_hosts::AllowedHosts;
use crate::blocked_networks::BlockedNetworks;

/// Per-instance hooks; cheap to build (two `Arc`s).
pub struct OutboundHooks {
    component: Arc<str>,
    allowed: Arc<AllowedHosts>,
    blocked: Arc<BlockedNetworks>,
}

/// Why a request may not go out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    /// Not in `allowed_outbound_hosts`.
    NotAllowed,
    /// The name does not resolve (so its addresses cannot be checked).
    NotFound,
    /// The name resolves into `block_networks`.
    Blocked,
}

impl Refusal {
    fn p2(self) -> P2ErrorCode {
        match self {
            Refusal::NotAllowed => P2ErrorCode::HttpRequestDenied,
            Refusal::NotFound => P2ErrorCode::DestinationNotFound,
            Refusal::Blocked => P2ErrorCode::DestinationIpProhibited,
        }
    }

    fn p3(self) -> P3ErrorCode {
        match self {
            Refusal::NotAllowed => P3ErrorCode::HttpRequestDenied,
            Refusal::NotFound => P3ErrorCode::DestinationNotFound,
            Refusal::Blocked => P3ErrorCode::DestinationIpProhibited,
        }
    }
}

/// An admitted request's `host:port`, still to be checked against
/// `block_networks` (which needs a DNS lookup, so it runs in the request's
/// future).
struct Target {
    component: Arc<str>,
    blocked: Arc<BlockedNetworks>,
    /// `host:port`, the port defaulted from the scheme.
    authority: String,
    host: String,
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

    /// Checks `uri` against `allowed_outbound_hosts`, logging a refusal.
    fn admit(&self, uri: &hyper::Uri) -> Result<Target, Refusal> {
        let scheme = uri.scheme_str().unwrap_or("http");
        let host = uri.host().unwrap_or("");
        let port = uri.port_u16();
        if !self.allowed.allows(scheme, host, port) {
            let target = match port {
                Some(port) => format!("{scheme}://{host}:{port}"),
                None => format!("{scheme}://{host}"),
            };
            eprintln!(
                "[{}] outbound HTTP to {target} is not allowed by allowed_outbound_hosts",
                self.component
            );
            return Err(Refusal::NotAllowed);
        }
        let port = port.unwrap_or(if scheme == "https" { 443 } else { 80 });
        Ok(Target {
            component: self.component.clone(),
            blocked: self.blocked.clone(),
            authority: format!("{host}:{port}"),
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string(),
        })
    }
}

impl Target {
    /// As Spin: what the name resolves to must not be in `block_networks`.
    async fn check_networks(&self) -> Result<(), Refusal> {
        if self.blocked.is_empty() {
            return Ok(());
        }
        let addrs: Vec<SocketAddr> = match self.host.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, 0)],
            Err(_) => tokio::net::lookup_host(self.authority.as_str())
                .await
                .map_err(|_| Refusal::NotFound)?
                .collect(),
        };
        if addrs.iter().any(|a| self.blocked.is_blocked(a.ip())) {
            eprintln!(
                "[{}] outbound HTTP to {} is refused by block_networks",
                self.component, self.authority
            );
            return Err(Refusal::Blocked);
        }
        Ok(())
    }
}

impl p2::WasiHttpHooks for OutboundHooks {
    fn send_request(
        &mut self,
        request: hyper::Request<HyperOutgoingBody>,
        config: OutgoingRequestConfig,
    ) -> HttpResult<HostFutureIncomingResponse> {
        // As Spin, a refusal is the outcome of the response future, not of `handle`.
        let target = match self.admit(request.uri()) {
            Ok(target) => target,
            Err(refusal) => return Ok(HostFutureIncomingResponse::ready(Ok(Err(refusal.p2())))),
        };
        let handle = wasmtime_wasi::runtime::spawn(async move {
            if let Err(refusal) = target.check_networks().await {
                return Ok(Err(refusal.p2()));
            }
            Ok(p2::default_send_request_handler(request, config).await)
        });
        Ok(HostFutureIncomingResponse::pending(handle))
    }
}

/// The body type of the p3 hooks (requests and responses alike).
type P3Body = UnsyncBoxBody<Bytes, P3ErrorCode>;
/// What the p3 hooks report the request's or response's I/O outcome through.
type P3Io = Box<dyn Future<Output = Result<(), P3ErrorCode>> + Send>;
type P3Sent = Result<(hyper::Response<P3Body>, P3Io), TrappableError<P3ErrorCode>>;

impl p3::WasiHttpHooks for OutboundHooks {
    fn send_request(
        &mut self,
        request: hyper::Request<P3Body>,
        options: Option<RequestOptions>,
        fut: P3Io,
    ) -> Box<dyn Future<Output = P3Sent> + Send> {
        // What the guest reports about consuming the response has nowhere to go.
        drop(fut);
        let admitted = self.admit(request.uri());
        Box::new(async move {
            let target = admitted.map_err(Refusal::p3)?;
            target.check_networks().await.map_err(Refusal::p3)?;
            let (response, io) = p3::default_send_request(request, options).await?;
            Ok((response.map(BodyExt::boxed_unsync), Box::new(io) as P3Io))
        })
    }
}
