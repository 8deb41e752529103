//! Overhead of `Gateway::send_otp` over a bare whatsapp-rust `send_message`.
//!
//! ```text
//! cargo build --release -p waotp-sim
//! cargo bench -p waotp --features sandbox --bench send_overhead -- 2000
//! ```
//!
//! Argument: measured sends per path (2000).
//!
//! One linked session, the simulator as a separate process. Each round sends
//! one message both ways to the same recipient, in alternating order so that
//! drift (caches, the simulator's load) weighs on both alike:
//!
//! * bare: `Client::send_text` (`send_message` of a text message) of a text as long as the OTP message, on
//!   the session's own client (`Session::whatsapp_client`);
//! * `send_otp`: phone normalisation, the cached on-WhatsApp check, code
//!   generation, HMAC, the store write, the template, delivery tracking, and
//!   the same `send_message` underneath.
//!
//! Between rounds the bench waits until the simulator holds both messages and
//! the OTP message is reported delivered, so receipt bookkeeping of one round
//! (ack and receipt handling, the OTP store's delivery writes) does not land
//! inside the next round's timings: the figure is the latency of the call.
//!
//! Limits and pacing are off (`Limits::none()`): pacing is a deliberate wait,
//! not overhead. Recipients rotate so Signal sessions and the on-WhatsApp
//! cache are warm for both paths after the warm-up. Run once with the SQLite
//! store (the default for a data dir) and once with the memory store.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Sim, link, percentile};
use waotp::otp::{Limits, MemoryStore, OtpConfig};
use waotp::{DeliveryStatus, Gateway, OtpRequest};
use whatsapp_rust::Jid;

const RECIPIENTS: usize = 20;
const WARM_UP_ROUNDS: usize = 3;

struct Figures {
    bare: Vec<Duration>,
    otp: Vec<Duration>,
}

fn recipient(i: usize) -> String {
    format!("628120{i:07}")
}

/// A text as long as the default OTP message, so both paths encrypt and
/// send the same number of bytes.
async fn same_length_text(sim: &Sim, to: &str) -> String {
    let texts = sim.inbox(to).await;
    let sent = texts.last().expect("the warm-up OTP reached the inbox");
    sent.chars()
        .map(|c| if c.is_ascii_digit() { '7' } else { c })
        .collect()
}

async fn measure(sim: &Sim, store: &str, rounds: usize) -> Figures {
    let dir = tempfile::tempdir().unwrap();
    let mut config = OtpConfig::default();
    config.limits = Limits::none();
    let mut builder = Gateway::builder()
        .data_dir(dir.path())
        .endpoint(&sim.ws)
        .otp_config(config);
    if store == "memory" {
        builder = builder.otp_store(Arc::new(MemoryStore::new()));
    }
    let gw = builder.open().await.unwrap();
    let own = if store == "memory" {
        "6281199000001"
    } else {
        "6281199000002"
    };
    let (session, _) = link(&gw, sim, "bench", own).await;
    let request = OtpRequest::new("PT. Contoh Bench");

    let bare_send = async |to: &str, text: &str| {
        let client = session.whatsapp_client().unwrap();
        let started = Instant::now();
        client
            .send_text(Jid::pn(to), text)
            .await
            .expect("bare send");
        started.elapsed()
    };
    let otp_send = async |to: &str| {
        let started = Instant::now();
        let sent = gw.send_otp("bench", to, &request).await.expect("send_otp");
        (started.elapsed(), sent.message_id.expect("a message id"))
    };
    // Waits until `to` holds `count` messages and `otp_message` is delivered.
    let settle = async |to: &str, count: usize, otp_message: &str| {
        let deadline = Instant::now() + common::STEP;
        while sim.inbox(to).await.len() < count {
            assert!(Instant::now() < deadline, "{to} never got {count} messages");
        }
        gw.wait_message_status(otp_message, common::STEP, |s| {
            matches!(s, DeliveryStatus::Delivered | DeliveryStatus::Read)
        })
        .await
        .expect("the OTP message is delivered");
    };

    // Warm-up: Signal sessions, device lists, the on-WhatsApp cache, the
    // store's pages, for every recipient and both paths.
    for _ in 0..WARM_UP_ROUNDS {
        for i in 0..RECIPIENTS {
            otp_send(&recipient(i)).await;
        }
    }
    for i in 0..RECIPIENTS {
        let deadline = Instant::now() + common::STEP;
        while sim.inbox(&recipient(i)).await.len() < WARM_UP_ROUNDS {
            assert!(Instant::now() < deadline, "warm-up OTPs never arrived");
        }
    }
    let text = same_length_text(sim, &recipient(0)).await;
    for _ in 0..WARM_UP_ROUNDS {
        for i in 0..RECIPIENTS {
            bare_send(&recipient(i), &text).await;
        }
    }

    let mut figures = Figures {
        bare: Vec::with_capacity(rounds),
        otp: Vec::with_capacity(rounds),
    };
    let mut inbox_counts = [2 * WARM_UP_ROUNDS; RECIPIENTS];
    for round in 0..rounds {
        let to = recipient(round % RECIPIENTS);
        let (bare, (otp, message_id)) = if round % 2 == 0 {
            let bare = bare_send(&to, &text).await;
            (bare, otp_send(&to).await)
        } else {
            let otp = otp_send(&to).await;
            (bare_send(&to, &text).await, otp)
        };
        figures.bare.push(bare);
        figures.otp.push(otp);
        inbox_counts[round % RECIPIENTS] += 2;
        settle(&to, inbox_counts[round % RECIPIENTS], &message_id).await;
    }
    gw.close().await;
    figures
}

fn mean(d: &[Duration]) -> Duration {
    d.iter().sum::<Duration>() / d.len() as u32
}

fn report(store: &str, mut f: Figures) {
    // Round by round, so drift cancels; the median ignores scheduler hiccups.
    let mut paired: Vec<f64> = f
        .otp
        .iter()
        .zip(&f.bare)
        .map(|(o, b)| o.as_secs_f64() * 1e6 - b.as_secs_f64() * 1e6)
        .collect();
    paired.sort_by(f64::total_cmp);
    let paired_median = paired[paired.len() / 2];
    f.bare.sort();
    f.otp.sort();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let line = |name: &str, d: &[Duration]| {
        println!(
            "  {name:<9} mean {:>7.1} µs   p50 {:>7.1} µs   p99 {:>7.1} µs",
            us(mean(d)),
            us(percentile(d, 0.5)),
            us(percentile(d, 0.99))
        )
    };
    println!("{store} OTP store, {} sends per path:", f.bare.len());
    line("bare", &f.bare);
    line("send_otp", &f.otp);
    let over = |a: Duration, b: Duration| (us(a) / us(b) - 1.0) * 100.0;
    println!(
        "  overhead of send_otp: mean {:+.1} % ({:+.1} µs), p50 {:+.1} %",
        over(mean(&f.otp), mean(&f.bare)),
        us(mean(&f.otp)) - us(mean(&f.bare)),
        over(percentile(&f.otp, 0.5), percentile(&f.bare, 0.5)),
    );
    println!(
        "  median of round-by-round differences: {paired_median:+.1} µs ({:+.1} % of the bare p50)",
        paired_median / us(percentile(&f.bare, 0.5)) * 100.0
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let rounds = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(2000usize)
        .max(1);
    let sim = Sim::start();
    for i in 0..RECIPIENTS {
        sim.add_registered(&recipient(i)).await;
    }
    for store in ["sqlite", "memory"] {
        let figures = measure(&sim, store, rounds).await;
        report(store, figures);
    }
}
