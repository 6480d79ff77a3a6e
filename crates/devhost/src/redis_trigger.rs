//! The Redis trigger: one pub/sub connection per distinct address, SUBSCRIBEd
//! to every channel the selected triggers name; each message goes to a fresh
//! instance of each component on its channel via
//! `fermyon:spin/inbound-redis#handle-message`. Messages from one address are
//! handled one at a time; a handler error or trap is logged and the next
//! message handled. Losing the connection ends the trigger with an error (as
//! Spin does, there is no reconnect), and so does a host call that panics on
//! Spin ([`SpinPanic`]).

use std::sync::Arc;

use anyhow::{Context, anyhow, bail};
use futures::StreamExt;
use tokio::sync::watch;

use crate::app::{App, RedisSubscription};
use crate::host::{HostState, SpinPanic};

mod bindings {
    wasmtime::component::bindgen!({
        path: "wit",
        world: "devhost:host/redis-handler",
        exports: { default: async },
    });
}

pub use bindings::RedisHandlerPre;

/// A live subscription: every channel of `sub` is subscribed on return.
pub struct Subscribed {
    sub: RedisSubscription,
    pubsub: redis::aio::PubSub,
}

/// Connects to `sub.address` and subscribes to its channels.
pub async fn subscribe(sub: &RedisSubscription) -> anyhow::Result<Subscribed> {
    let address = &sub.address;
    let client = redis::Client::open(address.as_str())
        .with_context(|| format!("invalid Redis trigger address {address:?}"))?;
    let mut pubsub = client
        .get_async_pubsub()
        .await
        .with_context(|| format!("Redis trigger failed to connect to {address}"))?;
    for channel in sub.channels.keys() {
        pubsub.subscribe(channel).await.with_context(|| {
            format!("Redis trigger failed to subscribe to channel {channel:?} on {address}")
        })?;
    }
    Ok(Subscribed {
        sub: sub.clone(),
        pubsub,
    })
}

impl Subscribed {
    /// The lines Spin prints for a subscription.
    pub fn startup_lines(&self) -> Vec<String> {
        let address = &self.sub.address;
        let mut lines = vec![format!("Active Channels on {address}:")];
        for (channel, components) in &self.sub.channels {
            lines.push(format!("\t{address}/{channel}: [{}]", components.join(",")));
        }
        lines
    }

    /// Handles messages until `stop` turns true (the message in hand is
    /// finished first) or the connection is lost (an error).
    pub async fn run(self, app: Arc<App>, mut stop: watch::Receiver<bool>) -> anyhow::Result<()> {
        let Subscribed { sub, pubsub } = self;
        let mut messages = pubsub.into_on_message();
        loop {
            let msg = tokio::select! {
                msg = messages.next() => msg,
                _ = crate::http_trigger::stopped(&mut stop) => return Ok(()),
            };
            let Some(msg) = msg else {
                bail!("disconnected from Redis at {}", sub.address);
            };
            let channel = msg.get_channel_name().to_string();
            let Some(components) = sub.channels.get(&channel) else {
                eprintln!("devhost: message from unexpected channel {channel:?}");
                continue;
            };
            let payload = msg.get_payload_bytes().to_vec();
            let calls = components.iter().map(|id| {
                let app = app.clone();
                let payload = payload.clone();
                let channel = channel.clone();
                async move {
                    let result = dispatch(&app, id, payload).await;
                    if let Err(e) = &result {
                        eprintln!("[{id}] Redis handler failed on channel {channel:?}: {e:#}");
                    }
                    result
                }
            });
            let results = futures::future::join_all(calls).await;
            // Spin's Redis trigger does not survive a panic in its host: neither do we.
            if let Some(Err(e)) = results
                .into_iter()
                .find(|r| r.as_ref().is_err_and(SpinPanic::is_in))
            {
                return Err(e.context("A trigger exited unexpectedly"));
            }
        }
    }
}

async fn dispatch(app: &App, component_id: &str, payload: Vec<u8>) -> anyhow::Result<()> {
    let component = app
        .components
        .get(component_id)
        .with_context(|| format!("component {component_id:?} is not loaded"))?;
    let pre = component
        .redis
        .as_ref()
        .context("component has no Redis handler")?;
    let mut store = HostState::new_store(&app.engine, &component.env);
    let handler = pre
        .instantiate_async(&mut store)
        .await
        .map_err(anyhow::Error::from)?;
    let result = handler
        .fermyon_spin_inbound_redis()
        .call_handle_message(&mut store, &payload)
        .await
        .map_err(anyhow::Error::from)
        .context("guest trapped")?;
    result.map_err(|e| anyhow!("handler returned an error ({e:?})"))
}
