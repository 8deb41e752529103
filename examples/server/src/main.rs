//! `waotp-server`: the reference guide's REST API on the waotp library.
//!
//! ```text
//! waotp-server [--listen 127.0.0.1:3000] [--data-dir ./waotp-data] [--api-key KEY]
//!              [--default-country 62] [--redis-url redis://…] [--otp-secret-file F]
//!              [--session-store-key-file F] [--no-reveal-otp]
//!              [--webhook-url URL]... [--webhook-secret whsec_…]
//! ```
//!
//! Every flag that carries a secret also reads from the environment
//! (`WAOTP_API_KEY`, `WAOTP_REDIS_URL`, `WAOTP_OTP_SECRET_FILE`,
//! `WAOTP_SESSION_STORE_KEY_FILE`, `WAOTP_WEBHOOK_SECRET`), so it need
//! not show in `ps`.
//!
//! Sessions stored in the data dir are restored at start: linked ones
//! reconnect without a QR code. Once listening, the server prints
//! `waotp-server listening on http://ADDR` on stdout (with the real port
//! when `--listen` asked for port 0). SIGINT or SIGTERM stops it gracefully.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use waotp_server::{Limits, Settings, auth, router, serve, webhooks};

/// Command-line flags.
#[derive(Debug, Parser)]
#[command(
    name = "waotp-server",
    version,
    about = "WhatsApp OTP REST API (the reference guide's routes) on waotp"
)]
struct Args {
    /// Address to listen on. Any non-loopback address requires an API key.
    #[arg(long, default_value = "127.0.0.1:3000")]
    listen: SocketAddr,
    /// Where session credentials and OTP state live.
    #[arg(long, default_value = "./waotp-data")]
    data_dir: PathBuf,
    /// Key every request must present (`X-API-Key` or `Authorization: Bearer`).
    #[arg(long, env = "WAOTP_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// Country code of numbers written in local form (`08…`).
    #[arg(long, default_value_t = 62)]
    default_country: u16,
    /// Share OTP state, limits and sessions with other hosts through this
    /// Redis. Requires `--otp-secret-file`.
    #[arg(long, env = "WAOTP_REDIS_URL", hide_env_values = true)]
    redis_url: Option<String>,
    /// The deployment's OTP secret: a file holding at least 16 bytes as hex
    /// (as `data_dir/otp.secret`), the same on every host. Default: the data
    /// dir's own, generated once.
    #[arg(long, env = "WAOTP_OTP_SECRET_FILE")]
    otp_secret_file: Option<PathBuf>,
    /// Encrypt the session stores at rest with the key in this file (64 hex
    /// characters, e.g. `openssl rand -hex 32`). Needs a build with the
    /// `sqlcipher` feature.
    #[arg(long, env = "WAOTP_SESSION_STORE_KEY_FILE")]
    session_store_key_file: Option<PathBuf>,
    /// A budget of new chats per session per UTC day, across processes and
    /// hosts (default: none): past it, a code to a recipient the number has
    /// no chat with is 429 `ACCOUNT_LIMITED`.
    #[arg(long, env = "WAOTP_NEW_CHATS_PER_DAY")]
    new_chats_per_day: Option<u32>,
    /// POST every event, signed (Standard Webhooks), to this URL; repeat the
    /// flag for several. Needs `--webhook-secret`.
    #[arg(long, env = "WAOTP_WEBHOOK_URLS", value_delimiter = ',')]
    webhook_url: Vec<String>,
    /// The webhooks' signing secret: `whsec_` and base64 of 24 to 64 random
    /// bytes (e.g. `echo whsec_$(openssl rand -base64 32)`).
    #[arg(long, env = "WAOTP_WEBHOOK_SECRET", hide_env_values = true)]
    webhook_secret: Option<String>,
    /// Development only: with `--redis-url` and no `--otp-secret-file`, keep
    /// a generated secret in Redis (whoever reads Redis can then read codes).
    #[arg(long)]
    otp_secret_in_redis: bool,
    /// Leave the code out of `POST /api/messages/:id/otp`'s answer; verify
    /// through `POST /api/otp/verify` instead.
    #[arg(long)]
    no_reveal_otp: bool,
    /// Seconds a connection may take to send a request's headers.
    #[arg(long, default_value_t = 10)]
    header_read_timeout_secs: u64,
    /// Seconds a request may run before it is answered 503.
    #[arg(long, default_value_t = 120)]
    request_timeout_secs: u64,
    /// Requests carried out at once; more wait their turn.
    #[arg(long, default_value_t = 256)]
    max_concurrent_requests: usize,
    /// Connections open at once; more wait to be accepted.
    #[arg(long, default_value_t = 1024)]
    max_connections: usize,
    /// The simulator's WebSocket URL (sandbox builds only; loopback only).
    #[cfg(feature = "sandbox")]
    #[arg(long)]
    endpoint: Option<String>,
}

#[tokio::main]
async fn main() -> ExitCode {
    waotp::stderr_log::init_from_env("WAOTP_LOG");
    let args = Args::parse();
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("waotp-server: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    // An empty WAOTP_API_KEY means none, not a key that is the empty string.
    let api_key = args.api_key.clone().filter(|k| !k.is_empty());
    auth::check_startup(&args.listen, api_key.as_deref())?;
    let webhooks = webhook_config(&args)?;

    let mut builder = waotp::Gateway::builder()
        .data_dir(&args.data_dir)
        .default_country_code(args.default_country);
    if let Some(per_day) = args.new_chats_per_day {
        builder = builder.new_chats_per_day(per_day);
    }
    if let Some(url) = &args.redis_url {
        builder = builder
            .redis_url(url)
            .otp_secret_in_redis(args.otp_secret_in_redis);
    }
    if let Some(path) = &args.otp_secret_file {
        let secret = waotp::otp::OtpSecret::load(path).map_err(|e| {
            format!(
                "cannot read the OTP secret file {}: {e} ({})",
                path.display(),
                e.code()
            )
        })?;
        builder = builder.otp_secret(secret);
    }
    if let Some(path) = &args.session_store_key_file {
        let key = waotp::StoreKey::load(path).map_err(|e| {
            format!(
                "cannot read the session store key file {}: {e} ({})",
                path.display(),
                e.code()
            )
        })?;
        builder = builder.session_store_key(key);
    }
    #[cfg(feature = "sandbox")]
    if let Some(endpoint) = &args.endpoint {
        builder = builder.endpoint(endpoint);
    }
    // Subscribed before the stored sessions start: their `session_connected`
    // is an event the webhooks send too (the stream holds what comes while
    // the queue opens).
    let (gateway, events) = builder
        .open_with_events()
        .await
        .map_err(|e| format!("cannot open the gateway: {e} ({})", e.code()))?;
    if let Some(config) = webhooks {
        let path = args.data_dir.join(webhooks::QUEUE_FILE);
        let queue = webhooks::WebhookQueue::open(&path)?;
        webhooks::spawn(events, std::sync::Arc::new(queue), config);
    }

    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    let local = listener
        .local_addr()
        .map_err(|e| format!("cannot read the bound address: {e}"))?;
    let app = router(
        gateway.clone(),
        Settings {
            api_key,
            reveal_otp: !args.no_reveal_otp,
        },
    );
    println!("waotp-server listening on http://{local}");
    // Tests and supervisors read this line to learn the port.
    let _ = std::io::stdout().flush();

    let limits = Limits {
        header_read_timeout: Duration::from_secs(args.header_read_timeout_secs.max(1)),
        request_timeout: Duration::from_secs(args.request_timeout_secs.max(1)),
        max_concurrent_requests: args.max_concurrent_requests,
        max_connections: args.max_connections,
    };
    serve(listener, app, limits, shutdown_signal()).await;
    // Stop every session cleanly: credentials stay for the next start.
    gateway.close().await;
    Ok(())
}

/// The webhooks asked for, checked before anything starts: URLs need a
/// secret, a secret needs URLs, and every URL is http(s).
fn webhook_config(args: &Args) -> Result<Option<webhooks::WebhookConfig>, String> {
    let urls: Vec<String> = args
        .webhook_url
        .iter()
        .map(|u| u.trim().to_owned())
        .filter(|u| !u.is_empty())
        .collect();
    let secret = args.webhook_secret.as_deref().filter(|s| !s.is_empty());
    match (urls.is_empty(), secret) {
        (true, None) => Ok(None),
        (true, Some(_)) => Err("--webhook-secret without --webhook-url".into()),
        (false, None) => Err("--webhook-url needs --webhook-secret (whsec_…)".into()),
        (false, Some(secret)) => {
            if let Some(bad) = urls
                .iter()
                .find(|u| !(u.starts_with("http://") || u.starts_with("https://")))
            {
                return Err(format!("a webhook URL is http:// or https://, not {bad:?}"));
            }
            Ok(Some(webhooks::WebhookConfig {
                urls,
                secret: webhooks::WebhookSecret::parse(secret)?,
            }))
        }
    }
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                term.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
}
