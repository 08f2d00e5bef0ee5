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
mod pages;
mod proxy;

use std::io::IsTerminal;

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
        .with_writer(std::io::stderr)
        // Colour only on a terminal: logs piped to a file or collector stay plain.
        .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none());
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

/// Why a command failed; each displays as a readable paragraph with the fix.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CliError {
    /// A port of ours is busy or cannot be bound.
    #[error("{}", describe_bind_error(*.addr, .source, .flag))]
    Port {
        /// The address that could not be bound.
        addr: std::net::SocketAddr,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
        /// The flag that picks another port.
        flag: &'static str,
    },
    /// The dev OP could not start.
    #[error("{}", describe_idp_error(.source, .flag))]
    Idp {
        /// What went wrong.
        #[source]
        source: portcullis_devidp::DevIdpError,
        /// The flag that picks another port.
        flag: &'static str,
    },
    /// The relying party could not be configured or started.
    #[error(transparent)]
    Config(#[from] portcullis::ConfigError),
    /// The proxy gate could not start or stopped.
    #[error(transparent)]
    Proxy(#[from] proxy::ProxyError),
    /// `portcullis check` could not run, or found problems.
    #[error(transparent)]
    Check(#[from] check::CheckError),
    /// Serving failed.
    #[error("the server stopped: {0}")]
    Serve(#[source] std::io::Error),
    /// The built-in default client does not parse (not expected to happen).
    #[error("the default dev OP client is invalid: {0}")]
    BadDefault(String),
    /// The system random number generator failed.
    #[error("the system random number generator failed")]
    Random,
}

impl CliError {
    pub(crate) fn port(
        addr: std::net::SocketAddr,
        source: std::io::Error,
        flag: &'static str,
    ) -> Self {
        CliError::Port { addr, source, flag }
    }

    pub(crate) fn idp(source: portcullis_devidp::DevIdpError, flag: &'static str) -> Self {
        CliError::Idp { source, flag }
    }
}

fn describe_bind_error(addr: std::net::SocketAddr, error: &std::io::Error, flag: &str) -> String {
    match error.kind() {
        std::io::ErrorKind::AddrInUse => format!(
            "cannot listen on {addr}: port {} is already in use by another program. Stop that \
             program, or pass {flag} with a free port.",
            addr.port()
        ),
        _ => format!("cannot listen on {addr}: {error}. Pass {flag} with another port."),
    }
}

fn describe_idp_error(error: &portcullis_devidp::DevIdpError, flag: &str) -> String {
    match error {
        portcullis_devidp::DevIdpError::Bind { addr, source } => format!(
            "the development OpenID Provider {}",
            describe_bind_error(*addr, source, flag)
        ),
        other => format!("the development OpenID Provider could not start: {other}"),
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
