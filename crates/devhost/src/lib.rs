//! devhost: a local, Spin-compatible host for this project's `spin.toml` and
//! its spin-sdk 5.2 components, built on wasmtime. It mirrors what an app can
//! observe on Spin v4 (a fresh instance per WASIp2 HTTP request and per
//! message, a WASIp3 HTTP component's instance reused across requests, one
//! Redis message at a time per address, the `spin-*` headers, key-value,
//! outbound Redis and HTTP, variables) so a test passing here means something
//! on Spin.
//!
//! Layout:
//! - [`cli`]: the `devhost up` command line, mapped onto [`UpConfig`].
//! - [`manifest`]: `spin.toml` (v2) parsing and validation.
//! - [`template`], [`variables`]: `{{ var }}` expressions and variable values.
//! - [`runtime_config`]: `--runtime-config-file` (key-value backends).
//! - [`routes`]: HTTP route patterns and Spin's precedence.
//! - [`allowed_hosts`]: `allowed_outbound_hosts` matching.
//! - [`engine`]: the wasmtime engine and the compiled-component cache.
//! - [`app`]: loading an app: everything checked before anything listens.
//! - [`host`]: per-instance state and the host interfaces guests import.
//! - [`http_trigger`], [`redis_trigger`]: the two triggers (HTTP for WASIp2
//!   and WASIp3 components).
//! - [`logs`]: guest output, prefixed with the component id.
//!
//! The binary is a thin wrapper over [`run`], which takes an already bound
//! listener and a shutdown future, so tests can run the host in-process on
//! port 0.

pub mod allowed_hosts;
pub mod app;
pub mod blocked_networks;
pub mod cli;
pub mod engine;
pub mod host;
pub mod http_trigger;
pub mod logs;
pub mod manifest;
pub mod redis_trigger;
pub mod routes;
pub mod runtime_config;
pub mod template;
pub mod variables;

use std::future::Future;
use std::sync::Arc;

use anyhow::{Context, bail};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

pub use app::{App, UpConfig};

/// The readiness line of an app without an HTTP trigger.
pub const LISTENING_REDIS: &str = "Listening for Redis messages";

/// Runs a loaded app until `shutdown` resolves (then returns `Ok` at once,
/// abandoning work in flight, as Spin does) or a Redis subscription is lost
/// (an error). `listener` must be `Some` exactly when
/// [`App::needs_listener`].
///
/// Prints `Serving http://ADDR` plus the routes once the listener is bound
/// and every Redis subscription is live; without a listener it prints
/// [`LISTENING_REDIS`] instead.
pub async fn run(
    listener: Option<TcpListener>,
    app: App,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    if app.subscriptions.is_empty() && listener.is_none() {
        bail!("nothing to run: no HTTP or Redis trigger is selected");
    }
    let app = Arc::new(app);
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks: JoinSet<anyhow::Result<()>> = JoinSet::new();

    let mut subscribed = Vec::new();
    for sub in &app.subscriptions {
        subscribed.push(redis_trigger::subscribe(sub).await?);
    }
    for s in subscribed {
        for line in s.startup_lines() {
            logs::announce(&line);
        }
        tasks.spawn(s.run(app.clone(), stop_rx.clone()));
    }

    let http = match listener {
        Some(listener) => {
            let addr = listener
                .local_addr()
                .context("listener has no local address")?;
            for line in http_trigger::startup_lines(&app, addr) {
                logs::announce(&line);
            }
            Some(tokio::spawn(http_trigger::serve(
                listener,
                app.clone(),
                stop_rx.clone(),
            )))
        }
        None => {
            logs::announce(LISTENING_REDIS);
            None
        }
    };

    let mut failure = None;
    tokio::select! {
        _ = shutdown => {}
        Some(ended) = tasks.join_next() => {
            failure = Some(match ended {
                Ok(Ok(())) => anyhow::anyhow!("a Redis subscription ended"),
                Ok(Err(e)) => e,
                Err(e) => anyhow::anyhow!("a Redis subscription task failed: {e}"),
            });
        }
    }
    let _ = stop_tx.send(true);
    if let Some(e) = failure {
        return Err(e);
    }
    // No draining: Spin 4.0.2 exits on SIGTERM or SIGINT without answering the requests
    // in flight or finishing the Redis message in hand, and an app must be ready for
    // that (a worker's job is run again once its lease expires). docs/devhost.md.
    drop(http);
    Ok(())
}
