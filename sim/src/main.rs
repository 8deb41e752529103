//! `waotp-sim` binary: runs the simulator plus its JSON control API and
//! prints one JSON line with both URLs.

use std::io::Write;
use std::net::SocketAddr;

use clap::Parser;
use waotp_sim::{IdleLoad, NewChatQuota, SimConfig, Simulator, control, ensure_loopback};

/// Loopback WhatsApp Web simulator for testing.
#[derive(Parser)]
#[command(name = "waotp-sim", version)]
struct Args {
    /// WebSocket listen address (loopback only).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Control API listen address (loopback only).
    #[arg(long, default_value = "127.0.0.1:0")]
    control: SocketAddr,
    /// QR refs per registration connection (real WhatsApp: 6).
    #[arg(long, default_value_t = 6)]
    qr_refs: usize,
    /// Simulated network latency per connection, in milliseconds: the wait
    /// between the client's handshake finish and the first stanza.
    #[arg(long, default_value_t = 5)]
    latency_ms: u64,
    /// Idle load: senders whose backlog every login receives (0: none).
    #[arg(long, default_value_t = 0)]
    idle_chats: usize,
    /// Idle load: offline messages per sender.
    #[arg(long, default_value_t = 10)]
    idle_messages: usize,
    /// Idle load: bytes of text per message.
    #[arg(long, default_value_t = 2048)]
    idle_message_bytes: usize,
    /// Idle load: also send each newly paired companion a history sync of
    /// the same chats × messages × bytes, and a contact per chat in its app
    /// state (needs `--idle-chats`).
    #[arg(long)]
    idle_history: bool,
    /// Gate the linking of this account behind a passkey (repeatable): its
    /// companions must pass WhatsApp's passkey check (see `GET /passkey/{phone}`).
    #[arg(long = "passkey-number", value_name = "PHONE")]
    passkey_numbers: Vec<String>,
    /// Give every account a quota of this many new chats per cycle;
    /// messages to new chats beyond it are nacked with 475 (see
    /// `POST /accounts/{phone}/limits` to set one per account).
    #[arg(long, value_name = "N")]
    new_chat_quota: Option<u32>,
    /// The quota's cycle, in seconds.
    #[arg(long, default_value_t = 86_400, value_parser = clap::value_parser!(u64).range(1..))]
    quota_cycle_secs: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn"))
        .target(env_logger::Target::Stderr)
        .init();
    let args = Args::parse();
    ensure_loopback(&args.listen)?;
    ensure_loopback(&args.control)?;
    for phone in &args.passkey_numbers {
        anyhow::ensure!(
            phone.chars().filter(char::is_ascii_digit).count() >= 5,
            "--passkey-number {phone:?} is not a phone number"
        );
    }
    let sim = Simulator::start(SimConfig {
        listen: args.listen,
        qr_ref_count: args.qr_refs,
        latency: std::time::Duration::from_millis(args.latency_ms),
        idle_load: (args.idle_chats > 0).then_some(IdleLoad {
            chats: args.idle_chats,
            messages_per_chat: args.idle_messages,
            message_bytes: args.idle_message_bytes,
            history: args.idle_history,
        }),
        new_chat_quota: args.new_chat_quota.map(|total| NewChatQuota {
            total,
            cycle_secs: args.quota_cycle_secs,
        }),
        ..SimConfig::default()
    })
    .await?;
    for phone in &args.passkey_numbers {
        sim.require_passkey(phone);
    }
    let listener = tokio::net::TcpListener::bind(args.control).await?;
    let control_addr = listener.local_addr()?;
    let line = serde_json::json!({
        "ws": sim.ws_url(),
        "control": format!("http://{control_addr}"),
    });
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{line}")?;
    stdout.flush()?;
    drop(stdout);
    axum::serve(listener, control::router(sim)).await?;
    Ok(())
}
