//! The `facelens-server` command line: serve (default), print the OpenAPI document, check the
//! configuration, provision models, run a loopback load test.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::config::Config;
use crate::loadtest::{self, Endpoint};

#[derive(Debug, Parser)]
#[command(
    name = "facelens-server",
    version,
    about = "facelens over HTTP: embedding, attributes and matching"
)]
struct Cli {
    /// TOML configuration file (also `FACELENS_CONFIG`); `FACELENS_*` variables override it.
    #[arg(long, global = true, env = "FACELENS_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the API (the default).
    Serve,
    /// Print the OpenAPI document.
    Openapi,
    /// Validate the configuration and print it (tokens redacted).
    CheckConfig,
    /// Fetch, convert and verify the models (for container images).
    FetchModels,
    /// Load-test a server on this machine.
    Loadtest {
        /// Server base URL (loopback only).
        #[arg(long, default_value = "http://127.0.0.1:8750")]
        url: String,
        /// Bearer token.
        #[arg(long, env = "FACELENS_TOKEN")]
        token: Option<String>,
        /// Image to send.
        #[arg(long)]
        image: PathBuf,
        /// Route to load.
        #[arg(long, value_enum, default_value = "faces")]
        endpoint: Endpoint,
        /// Concurrency levels.
        #[arg(long, value_delimiter = ',', default_value = "1,2,4,8")]
        concurrency: Vec<usize>,
        /// Seconds per level.
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
    },
}

/// Runs the command line; returns the process exit code.
#[must_use]
pub fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!(
                "error: {}",
                facelens_core::gallery::redact_secrets(&format!("{e:#}"))
            );
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("facelens-http")
        .build()
        .context("cannot start the async runtime")
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let load = || Config::load(cli.config.as_deref());
    match cli.command.unwrap_or(Command::Serve) {
        Command::Openapi => println!("{}", crate::openapi::json()),
        Command::CheckConfig => {
            let mut c = load()?;
            c.tokens = c.tokens.iter().map(|_| "<redacted>".to_owned()).collect();
            if c.upstream_token.is_some() {
                c.upstream_token = Some("<redacted>".into());
            }
            c.gallery = c
                .gallery
                .map(|g| facelens_core::gallery::redact_secrets(&g));
            println!("{}", toml::to_string_pretty(&c)?);
        }
        Command::FetchModels => {
            let c = load()?;
            let store = facelens_core::provision::ModelStore::new(
                facelens_core::provision::resolve_models_dir(c.models_dir.as_deref()),
            );
            store.ensure(&mut |e| eprintln!("{e:?}"))?;
            eprintln!("models ready in {}", store.dir().display());
        }
        Command::Serve => {
            let config = load()?;
            let addr = config.listen_addr()?;
            runtime()?.block_on(async move {
                let listener = tokio::net::TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("cannot listen on {addr}"))?;
                // The bound address: with port 0 the OS picked one, and this line says which.
                let bound = listener.local_addr().unwrap_or(addr);
                tracing::info!(
                    "facelens-server {} listening on {bound} as role `{}`{}",
                    env!("CARGO_PKG_VERSION"),
                    config.role.name(),
                    if config.tls_cert.is_some() {
                        " (TLS)"
                    } else {
                        ""
                    }
                );
                let shutdown = async {
                    let _ = tokio::signal::ctrl_c().await;
                };
                crate::serve(config, listener, shutdown).await?;
                anyhow::Ok(())
            })?;
        }
        Command::Loadtest {
            url,
            token,
            image,
            endpoint,
            concurrency,
            seconds,
        } => {
            let bytes = std::fs::read(&image)
                .with_context(|| format!("cannot read {}", image.display()))?;
            let levels = runtime()?.block_on(loadtest::run(
                &url,
                token.as_deref(),
                endpoint,
                bytes,
                &concurrency,
                seconds,
            ));
            let levels = levels.map_err(anyhow::Error::msg)?;
            println!("{}", loadtest::table(&levels));
        }
    }
    Ok(())
}
