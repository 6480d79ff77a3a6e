//! Paths of the workspace and of build outputs the tests run. Missing build
//! outputs panic with the command that makes them, because a test that cannot
//! find its binary has nothing useful to report.

use std::path::{Path, PathBuf};

/// The workspace root (the directory holding the root `Cargo.toml`).
pub fn workspace_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    // crates/testkit -> crates -> root
    let root = here
        .parent()
        .and_then(Path::parent)
        .expect("testkit lives two levels below the workspace root");
    root.canonicalize().unwrap_or_else(|_| root.to_path_buf())
}

/// Cargo's target directory: `$CARGO_TARGET_DIR` if set, else `<root>/target`.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => workspace_root().join(dir),
        _ => workspace_root().join("target"),
    }
}

/// `$SPIN_BIN`, when it names a runtime.
fn spin_bin() -> Option<PathBuf> {
    std::env::var_os("SPIN_BIN")
        .filter(|b| !b.is_empty())
        .map(PathBuf::from)
}

/// Whether the tests run on real Spin (`SPIN_BIN` set) rather than the devhost: for
/// the few checks of something only one of them does (docs/devhost.md lists them).
pub fn on_spin() -> bool {
    spin_bin().is_some()
}

/// The runtime the tests run: `$SPIN_BIN` if set (real `spin` or any binary
/// with the same `up` command line), else the release build of the devhost.
pub fn runtime_bin() -> PathBuf {
    if let Some(bin) = spin_bin() {
        return bin;
    }
    let bin = target_dir().join("release").join("devhost");
    assert!(
        bin.is_file(),
        "runtime binary {} not found: run `make build` (or `cargo build --release -p devhost`), \
         or set SPIN_BIN to a Spin binary",
        bin.display()
    );
    bin
}

/// The built component of the crate `crate_name`, as placed by
/// `cargo build --target wasm32-wasip2 --profile component -p <crate_name>`.
pub fn wasm_path(crate_name: &str) -> PathBuf {
    let file = format!("{}.wasm", crate_name.replace('-', "_"));
    let path = target_dir()
        .join("wasm32-wasip2")
        .join("component")
        .join(file);
    assert!(
        path.is_file(),
        "component {} not found: run `make build` \
         (or `cargo build --target wasm32-wasip2 --profile component -p {crate_name}`)",
        path.display()
    );
    path
}
