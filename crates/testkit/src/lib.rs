//! Test support shared by the devhost's integration tests and the end-to-end
//! suite. It owns processes and paths, never assertions about the app: it must
//! not depend on the devhost, jobs-core or any component crate, so the same
//! helpers drive the devhost or real Spin (`SPIN_BIN`).
//!
//! Layout:
//! - [`paths`]: where the workspace, the runtime binary and built `.wasm` files are.
//! - [`wait`]: [`wait_until`], the one way tests wait for something to become true.
//! - [`redis_server`]: [`RedisServer`], a throwaway `redis-server` per test.
//! - [`app`]: [`App`], the runtime (`devhost up` or `spin up`) as a child process.
//! - [`stack`]: [`Stack`], a Redis and the runtime config that puts the app's store on it.
//! - [`hostile`]: hand-made hostile files (PNG headers, zlib bombs) for input-bound tests.

pub mod app;
pub mod hostile;
pub mod paths;
pub mod redis_server;
pub mod stack;
pub mod wait;

pub use app::{App, AppOptions};
pub use paths::{on_spin, runtime_bin, target_dir, wasm_path, workspace_root};
pub use redis_server::{RedisOptions, RedisServer, free_port};
pub use stack::{KvStore, Stack, StackOptions, kv_on_redis};
pub use wait::{wait_until, wait_until_seen};
