//! Inbound verification under a burst, against the simulator: 1,000 texts
//! reach the linked number, 100 of them carrying a pending verification's
//! token. How fast does waotp read them (whatsapp-rust decrypting each, the
//! session scanning it for a token, the store applying it)?
//!
//! ```text
//! cargo build --release -p waotp-sim
//! cargo bench -p waotp --features sandbox --bench inbound
//! ```
//!
//! Arguments: texts (1000), of which with a token (100).
//!
//! The texts are sent while the session is stopped, so they wait on the
//! server and arrive as one offline backlog when it connects again: the
//! figure is waotp's reading speed, not the simulator's sending speed.
//! Reported: the times from the gateway's open to the connection and to
//! the first and last approval, texts read per second over that whole time
//! (the login included, so a lower bound), and the approvals (all must
//! arrive).

mod common;

use std::time::{Duration, Instant};

use common::{Sim, link};
use waotp::otp::{Limits, OtpConfig};
use waotp::{Event, Gateway, InboundRequest, SenderPool, VerifyMethod};

const NUMBER: &str = "6281199100001";

fn user(i: usize) -> String {
    format!("628150{i:07}")
}

async fn open(sim: &Sim, dir: &std::path::Path) -> Gateway {
    let mut config = OtpConfig::default();
    config.limits = Limits::none();
    Gateway::builder()
        .data_dir(dir)
        .endpoint(&sim.ws)
        .otp_config(config)
        .open()
        .await
        .unwrap()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let texts = args.first().copied().unwrap_or(1000);
    let tokens = args.get(1).copied().unwrap_or(100).min(texts);

    let sim = Sim::start();
    // One sender per token; the other texts come from 50 more users.
    for i in 0..tokens + 50 {
        sim.add_registered(&user(i)).await;
    }
    let dir = tempfile::tempdir().unwrap();
    let gw = open(&sim, dir.path()).await;
    link(&gw, &sim, "shop", NUMBER).await;
    let mut started = Vec::with_capacity(tokens);
    for _ in 0..tokens {
        let v = gw
            .start_inbound_verification(&SenderPool::of(["shop"]), &InboundRequest::new())
            .await
            .unwrap();
        started.push(v);
    }
    gw.close().await;

    // The burst, queued on the server while the session is away: every
    // tenth text (or so) carries a token.
    let every = (texts / tokens.max(1)).max(1);
    let (mut sent_tokens, mut filler) = (0, 0);
    for n in 0..texts {
        let (from, text) = if n % every == every - 1 && sent_tokens < tokens {
            sent_tokens += 1;
            (user(sent_tokens - 1), started[sent_tokens - 1].text.clone())
        } else {
            filler += 1;
            (
                user(tokens + filler % 50),
                format!("Halo, pesanan saya nomor {n} sudah sampai? Terima kasih banyak"),
            )
        };
        sim.post(
            "/send",
            serde_json::json!({ "from": from, "to": NUMBER, "text": text }),
        )
        .await;
    }
    assert_eq!(sent_tokens, tokens, "every token went out");

    // Timed from the open: the backlog arrives during the login, before
    // the session reports it is connected.
    let reopened = Instant::now();
    let gw = open(&sim, dir.path()).await;
    let mut events = gw.events();
    let mut approved = 0;
    let mut connected = None;
    let mut first = None;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
    while approved < tokens {
        match tokio::time::timeout_at(deadline, events.next()).await {
            Ok(Some(Event::OtpVerified {
                method: VerifyMethod::Inbound,
                ..
            })) => {
                approved += 1;
                first.get_or_insert_with(|| reopened.elapsed());
            }
            Ok(Some(Event::Connected { .. })) => {
                connected.get_or_insert_with(|| reopened.elapsed());
            }
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => break,
        }
    }
    let done = reopened.elapsed();
    let mut still_pending = 0;
    for v in &started {
        let status = gw
            .inbound_verification_status(&v.verification_id)
            .await
            .unwrap();
        still_pending += usize::from(!status.is_approved());
    }
    // This process's figures: the verifications started in the first one.
    let conversion = gw.stats().sessions["shop"].conversion.last_hour;
    println!("inbound: {texts} texts in an offline backlog, {tokens} with a token");
    let secs = |d: Option<Duration>| d.map_or(f64::NAN, |d| d.as_secs_f64());
    println!(
        "  connected            {:.3} s after the gateway opened",
        secs(connected)
    );
    println!(
        "  first approval       {:.3} s after the gateway opened",
        secs(first)
    );
    println!(
        "  last approval        {:.3} s after the gateway opened",
        done.as_secs_f64()
    );
    println!(
        "  texts read           {:.0} per second (all {texts} within the time from the open to the last approval, login included)",
        texts as f64 / done.as_secs_f64()
    );
    println!("  approvals            {approved} of {tokens} (still pending: {still_pending})");
    println!(
        "  conversion, 1 h      started {}, approved inbound {}, rate {:?}",
        conversion.started, conversion.approved_inbound, conversion.rate
    );
    gw.close().await;
    assert_eq!(still_pending, 0, "every token approved its verification");
}
