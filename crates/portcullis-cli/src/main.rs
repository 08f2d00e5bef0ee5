//! The `portcullis` binary.
//!
//! - `portcullis demo`: the development OpenID Provider plus a demo app
//!   protected by Portcullis, with no configuration.
//! - `portcullis idp`: the development OpenID Provider on its own.
//! - `portcullis proxy`: the gate in front of any application.
//! - `portcullis check`: diagnoses a configuration against the real OP.
#![forbid(unsafe_code)]

mod check;
mod demo;
mod idp;
mod proxy;

use clap::{Parser, Subcommand};

/// OpenID Connect sign-in for web services.
#[derive(Debug, Parser)]
#[command(name = "portcullis", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the dev OpenID Provider and a demo app protected by Portcullis.
    Demo(demo::DemoArgs),
    /// Run the development OpenID Provider (dev-only, never in production).
    Idp(idp::IdpArgs),
    /// Protect any application: a reverse proxy and auth_request endpoint
    /// (reads the environment; `--config file.toml` adds a file under it).
    Proxy(proxy::ProxyArgs),
    /// Diagnose the configuration (library or proxy) against the OP, stores and secrets.
    Check(check::CheckArgs),
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let logs = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,portcullis_devidp=warn".into()),
        )
        .with_writer(std::io::stderr);
    if matches!(cli.command, Command::Proxy(_)) && proxy::json_logs() {
        logs.json().init();
    } else {
        logs.init();
    }
    let result = match cli.command {
        Command::Demo(args) => demo::run(args).await,
        Command::Idp(args) => idp::run(args).await,
        Command::Proxy(args) => proxy::run(args).await.map_err(Into::into),
        Command::Check(args) => check::run(args).await.map_err(Into::into),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("portcullis: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Waits for Ctrl-C or SIGTERM.
pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
