//! The command line: `devhost up`, shaped like `spin up`.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::app::UpConfig;

/// A local Spin-compatible host for this project.
#[derive(Debug, Parser)]
#[command(name = "devhost", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the application (like `spin up`).
    Up(UpArgs),
}

/// The arguments of `devhost up`.
#[derive(Debug, clap::Args)]
pub struct UpArgs {
    /// The manifest, or a directory containing `spin.toml`.
    #[arg(
        short = 'f',
        long = "from",
        alias = "file",
        default_value = "spin.toml"
    )]
    pub manifest: PathBuf,
    /// The address the HTTP trigger listens on (`127.0.0.1:0` picks a port;
    /// default `127.0.0.1:3000`). Refused when no HTTP trigger runs, as Spin
    /// refuses it.
    #[arg(long)]
    pub listen: Option<String>,
    /// A runtime config file (key-value store backends).
    #[arg(long = "runtime-config-file")]
    pub runtime_config_file: Option<PathBuf>,
    /// Sets an application variable: NAME=VALUE (repeatable; wins over
    /// SPIN_VARIABLE_NAME and the manifest default).
    #[arg(long = "variable", value_parser = crate::variables::parse_cli_variable)]
    pub variables: Vec<(String, String)>,
    /// Runs only this component and the triggers that use it (repeatable).
    #[arg(long = "component-id")]
    pub component_ids: Vec<String>,
}

/// Where the HTTP trigger listens unless `--listen` says.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:3000";

impl UpArgs {
    /// The configuration these arguments describe.
    pub fn config(&self) -> UpConfig {
        let manifest = if self.manifest.is_dir() {
            self.manifest.join("spin.toml")
        } else {
            self.manifest.clone()
        };
        UpConfig {
            manifest,
            runtime_config: self.runtime_config_file.clone(),
            variables: self.variables.clone(),
            component_ids: self.component_ids.clone(),
            env: None,
        }
    }
}
