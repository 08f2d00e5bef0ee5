//! `portcullis proxy`: the gate in front of `UPSTREAM` (see the
//! `portcullis-proxy` crate and `docs/proxy.md`).

use std::path::PathBuf;

use portcullis_proxy::{ProxyConfig, Source};

/// Arguments of `portcullis proxy`.
#[derive(Debug, clap::Args)]
pub struct ProxyArgs {
    /// A TOML file with the options (the environment wins over it).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// Whether logs should be JSON (`LOG_FORMAT=json`, read before the config file).
pub fn json_logs() -> bool {
    std::env::var("LOG_FORMAT").is_ok_and(|v| v.trim().eq_ignore_ascii_case("json"))
}

/// Why the gate stopped or never started.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// The configuration is unusable.
    #[error("{0}")]
    Config(#[from] portcullis_proxy::ConfigError),
    /// The gate could not start.
    #[error("{0}")]
    Start(#[from] portcullis_proxy::StartError),
}

/// Runs the gate until SIGTERM or Ctrl-C, then drains in-flight requests.
pub async fn run(args: ProxyArgs) -> Result<(), ProxyError> {
    let source = Source::from_env_and_file(args.config.as_deref())?;
    let (config, builder) = ProxyConfig::load(&source)?;
    let running = portcullis_proxy::start(config, builder).await?;
    eprintln!("portcullis proxy: listening on {}", running.addr());
    if let Some(addr) = running.metrics_addr() {
        eprintln!("portcullis proxy: health and metrics on http://{addr}/metrics");
    }
    running.run_until(crate::shutdown_signal()).await;
    eprintln!("portcullis proxy: stopped");
    Ok(())
}
