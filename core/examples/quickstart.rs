//! The main command: link a WhatsApp account, send a test message, report its
//! delivery.
//!
//! ```text
//! cargo run --release -p waotp --example quickstart -- --session my-session --to 08123456789
//! ```
//!
//! Prints the QR code in the terminal (and each raw QR payload on a line of its
//! own starting with `QR `), waits for the phone to scan it, sends a test
//! message and prints its delivery status as it changes. A sandbox build
//! (`--features sandbox`) also takes `--endpoint ws://127.0.0.1:PORT/ws/chat`
//! to talk to the `waotp-sim` simulator.
//!
//! With `--otp` it sends a one-time password instead (`--company` names the
//! sender in the message), then asks for the code at the prompt and verifies it:
//!
//! ```text
//! cargo run --release -p waotp --example quickstart -- --session my-session --to 08123456789 --otp
//! ```

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use waotp::{DeliveryStatus, Event, Gateway, SessionState};

#[derive(Parser, Debug)]
#[command(about = "Link a WhatsApp account and send a test message with waotp")]
struct Args {
    /// Session id (letters, digits, `_` and `-`).
    #[arg(long, default_value = "my-session")]
    session: String,
    /// Recipient phone number (`08…` local form, or with country code).
    #[arg(long)]
    to: String,
    /// Where credentials are kept.
    #[arg(long, default_value = "./waotp-data")]
    data_dir: String,
    /// Text to send.
    #[arg(long, default_value = "Hello from waotp!")]
    text: String,
    /// How long to wait for the phone to scan, in seconds.
    #[arg(long, default_value_t = 180)]
    link_timeout: u64,
    /// Send a one-time password, then verify the code typed at the prompt.
    #[arg(long)]
    otp: bool,
    /// Company named in the OTP message.
    #[arg(long, default_value = "PT. Contoh")]
    company: String,
    /// Simulator endpoint (sandbox builds only).
    #[arg(long)]
    endpoint: Option<String>,
}

#[tokio::main]
async fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let args = Args::parse();
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error [{}]: {e}", e.code());
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> waotp::Result<()> {
    println!("{}", waotp::build_info());
    let mut builder = Gateway::builder().data_dir(&args.data_dir);
    if let Some(endpoint) = &args.endpoint {
        builder = builder.endpoint(endpoint);
    }
    let gateway = builder.open().await?;
    // Subscribe before creating the session so its first QR is not missed.
    let mut events = gateway.events();
    let session = gateway.create_session(Some(&args.session)).await?;

    if session.status().state != SessionState::Connected {
        println!("Scan the QR code with WhatsApp → Linked devices → Link a device.");
        if let Ok(qr) = session.qr().await {
            show_qr(qr.raw(), &qr.terminal()?);
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(args.link_timeout);
        loop {
            let event = tokio::time::timeout_at(deadline, events.next())
                .await
                .map_err(|_| waotp::Error::Timeout("the phone to scan the QR code".into()))?;
            match event {
                Some(Event::QrUpdated { session: s, qr, .. }) if s == args.session => {
                    let rendered = session
                        .qr()
                        .await
                        .and_then(|q| q.terminal())
                        .unwrap_or_default();
                    show_qr(&qr, &rendered);
                }
                Some(Event::PasskeyRequired {
                    session: s,
                    snippet,
                    ..
                }) if s == args.session => {
                    answer_passkey(&session, &snippet).await?;
                }
                Some(Event::PasskeyConfirmation { session: s, code }) if s == args.session => {
                    println!("WhatsApp accepted the passkey; the phone shows {code}.");
                }
                Some(Event::PasskeyFailed {
                    session: s, reason, ..
                }) if s == args.session => {
                    println!("The passkey step failed ({reason}); scan the new QR code.");
                }
                Some(Event::Connected { session: s, .. }) if s == args.session => break,
                Some(Event::QrExpired { session: s }) if s == args.session => {
                    return Err(waotp::Error::Timeout(
                        "a scan: every QR code expired".into(),
                    ));
                }
                Some(Event::LoggedOut { session: s, reason }) if s == args.session => {
                    return Err(waotp::Error::LoggedOut(format!("{s} ({reason})")));
                }
                Some(_) => {}
                None => return Err(waotp::Error::Closed),
            }
        }
    }
    let status = session.wait_connected(Duration::from_secs(30)).await?;
    match &status.user {
        Some(user) => println!(
            "Connected as +{} ({})",
            user.phone,
            user.name.as_deref().unwrap_or("no name")
        ),
        None => println!("Connected"),
    }

    let to = gateway.normalize_phone(&args.to)?;
    if args.otp {
        let result = send_and_verify_otp(&gateway, &args, &to).await;
        gateway.close().await;
        return result;
    }
    if !session.is_on_whatsapp(&to).await? {
        return Err(waotp::Error::NotOnWhatsapp(to));
    }
    let sent = session.send_text(&to, &args.text, None).await?;
    println!("Sent message {} to +{}", sent.id, sent.to);

    // Report each status until the message is read, fails, or we stop waiting.
    let mut last = String::new();
    let deadline = Duration::from_secs(60);
    let outcome = gateway
        .wait_message_status(&sent.id, deadline, |status| {
            let name = status.as_str().to_owned();
            if name != last {
                println!("Status: {name}");
                last = name;
            }
            status.is_final()
        })
        .await;
    match outcome {
        Ok(record) => {
            if let DeliveryStatus::Failed { reason } = &record.status {
                println!("Failed: {reason}");
            }
        }
        Err(waotp::Error::Timeout(_)) => {
            println!(
                "Status: {} (no further receipt within {deadline:?})",
                gateway.message_status(&sent.id).await?.status.as_str()
            );
        }
        Err(e) => return Err(e),
    }
    gateway.close().await;
    Ok(())
}

/// Sends an OTP, reads the code from stdin, verifies it, and reports.
async fn send_and_verify_otp(gateway: &Gateway, args: &Args, to: &str) -> waotp::Result<()> {
    let sent = gateway
        .send_otp(
            &args.session,
            to,
            &waotp::OtpRequest::new(args.company.clone()),
        )
        .await?;
    println!(
        "Sent OTP {} in message {} to +{}",
        sent.verification_id,
        sent.message_id.as_deref().unwrap_or("?"),
        sent.to
    );
    loop {
        print!("Enter the code: ");
        let _ = std::io::stdout().flush();
        let Some(code) = read_line().await? else {
            return Err(waotp::Error::InvalidArgument("no code entered".into()));
        };
        match gateway.verify_otp(to, &code).await? {
            waotp::VerifyOutcome::Approved => {
                println!("Verified: approved");
                return Ok(());
            }
            waotp::VerifyOutcome::Invalid { attempts_left } if attempts_left > 0 => {
                println!("Wrong code; {attempts_left} attempt(s) left");
            }
            other => {
                println!("Verification ended: {}", other.as_str());
                return Err(waotp::Error::InvalidArgument(format!(
                    "verification {}",
                    other.as_str()
                )));
            }
        }
    }
}

/// Shows the operator how to answer WhatsApp's passkey request and hands
/// the answer in (see the README, "Accounts that ask for a passkey").
async fn answer_passkey(session: &waotp::Session, snippet: &str) -> waotp::Result<()> {
    println!("WhatsApp asks for this account's passkey before it links the device.");
    println!("Open https://web.whatsapp.com in a browser that has the passkey, open the");
    println!(
        "console (F12 → Console), paste the snippet below, then paste the line it prints here."
    );
    println!("{snippet}");
    print!("Passkey result: ");
    let _ = std::io::stdout().flush();
    let Some(assertion) = read_line().await? else {
        return Err(waotp::Error::InvalidArgument(
            "no passkey result entered".into(),
        ));
    };
    match session.submit_passkey_assertion(&assertion).await {
        Ok(()) => println!("Passkey sent; finishing the link."),
        // The session links again by itself after a refusal: show the new QR.
        Err(e) => println!("The passkey was not accepted ({}): {e}", e.code()),
    }
    Ok(())
}

/// One line from stdin, trimmed; `None` at the end of input.
async fn read_line() -> waotp::Result<Option<String>> {
    // Reading stdin blocks; keep it off the async workers.
    let (n, line) = tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).map(|n| (n, line))
    })
    .await
    .map_err(|e| waotp::Error::InvalidArgument(format!("reading stdin: {e}")))??;
    Ok((n > 0).then(|| line.trim().to_owned()))
}

fn show_qr(raw: &str, rendered: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{rendered}");
    let _ = writeln!(out, "QR {raw}");
    let _ = out.flush();
}
