//! Support for the end-to-end suite: the app as a black box over HTTP.
//!
//! Every test gets its own `redis-server` and its own runtime process (the devhost, or
//! real Spin through `SPIN_BIN`) running the repository's real `spin.toml` and `.wasm`
//! components, with the key-value store moved onto that same Redis by a runtime config
//! file. Tests therefore share nothing and run in parallel. Nothing here may depend on
//! `jobs-core` or the components: the suite checks the contract, not the code.
//!
//! Layout:
//! - [`app`]: [`spawn_app`] / [`spawn_app_with`] and [`TestApp`], one typed helper per
//!   endpoint plus [`TestApp::wait_for_status`].
//! - [`reply`]: [`Reply`], an HTTP response read in full, and [`Problem`], an RFC 9457
//!   problem document checked for its required members.
//! - [`resource`]: [`Job`] and [`Page`], the job resource and a listing page as the
//!   tests read them, and [`Snapshot`], what "nothing was stored" is compared on.
//! - [`inputs`]: submission bodies per job kind: the one place that knows each kind's
//!   input fields.
//! - [`fleet`]: more runtime processes on one app (a worker per `--component-id`
//!   process), the test's view of its Redis, and many requests at once.

pub mod app;
pub mod fleet;
pub mod inputs;
pub mod reply;
pub mod resource;
pub mod webhooks;

pub use app::{
    AppSpec, Client, Store, TEST_ADMIN_TOKEN, TestApp, check_receipt, spawn_app, spawn_app_with,
    spawn_app_with_spec,
};
pub use reply::{Problem, Reply};
pub use resource::{Job, Page, Snapshot};

use std::time::Duration;

/// How long a quick job (echo, hash, a short sleep, a small thumbnail) may take from
/// submission to a final state on a busy 2-core machine.
pub const JOB_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a job with retries may take: backoff with full jitter between attempts.
pub const RETRY_TIMEOUT: Duration = Duration::from_secs(90);
