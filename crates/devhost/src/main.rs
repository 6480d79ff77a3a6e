//! `devhost up`: parse arguments, load the app, bind the listener if an HTTP
//! trigger is selected, run until SIGINT/SIGTERM. Errors are printed once and
//! map to exit status 1; a clean shutdown exits 0.

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use devhost::cli::{Cli, Command, DEFAULT_LISTEN};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("Error: failed to start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(up(cli));
    // Whatever still runs (a request or message in hand) is abandoned, as Spin does.
    runtime.shutdown_background();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn up(cli: Cli) -> anyhow::Result<()> {
    let Command::Up(args) = cli.command;
    let config = args.config();
    let app = devhost::App::load(&config)?;
    let listener = if app.needs_listener() {
        let listen = args.listen.as_deref().unwrap_or(DEFAULT_LISTEN);
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("failed to listen on {listen}"))?;
        Some(listener)
    } else if args.listen.is_some() {
        // Spin's `--listen` belongs to its HTTP trigger: with none selected, Spin stops
        // on it as an unknown argument. Doing the same keeps scripts honest.
        anyhow::bail!("unexpected argument '--listen': no HTTP trigger runs in this app");
    } else {
        None
    };
    devhost::run(listener, app, shutdown_signal()).await
}

/// Resolves on the first SIGINT or SIGTERM.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        // Without signal handlers the default action (exit) still applies.
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}
