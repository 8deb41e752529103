//! The main command runs end to end: the `quickstart` example (built by
//! `cargo test` with the same features) against an in-process simulator.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use tokio::sync::mpsc::UnboundedReceiver;
use waotp_sim::{AssertionTweaks, SimConfig, Simulator};

fn example_binary(name: &str) -> PathBuf {
    // target/<profile>/deps/quickstart-<hash> → target/<profile>/examples/<name>
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).unwrap();
    let path = profile_dir.join("examples").join(name);
    assert!(
        path.exists(),
        "{} is missing: run the tests with plain `cargo test` (it builds examples)",
        path.display()
    );
    path
}

/// The running example. Killed when the test ends before it exits (a failed
/// assertion, a deadline), so no stray process outlives the test.
struct Quickstart(std::process::Child);

impl Drop for Quickstart {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// How long one run of the example may take, linking included.
const RUN_DEADLINE: Duration = Duration::from_secs(60);

/// The example's next stdout line, `None` once it closed its output (it
/// exited). Fails the test with the output so far when `deadline` passes.
async fn next_line(
    rx: &mut UnboundedReceiver<String>,
    deadline: tokio::time::Instant,
    output: &[String],
) -> Option<String> {
    match tokio::time::timeout_at(deadline, rx.recv()).await {
        Ok(line) => line,
        Err(_) => panic!(
            "quickstart still running after {RUN_DEADLINE:?}; its output so far:\n{}",
            output.join("\n")
        ),
    }
}

/// Starts the quickstart example with `args` (plus the data dir and the
/// simulator endpoint); returns the child (stdin piped) and its stdout lines.
fn spawn_quickstart(
    sim: &Simulator,
    data_dir: &std::path::Path,
    args: &[&str],
) -> (Quickstart, UnboundedReceiver<String>) {
    let mut child = Command::new(example_binary("quickstart"))
        .args(args)
        .args(["--endpoint", &sim.ws_url()])
        .arg("--data-dir")
        .arg(data_dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("quickstart starts");
    // Read its output on a thread; hand each line to the test.
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (Quickstart(child), rx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quickstart_links_sends_and_reports_delivery() {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    sim.add_number("6281234567890", true);
    let dir = tempfile::tempdir().unwrap();
    let (mut quickstart, mut rx) = spawn_quickstart(
        &sim,
        dir.path(),
        &["--session", "my-session", "--to", "081234567890"],
    );

    let deadline = tokio::time::Instant::now() + RUN_DEADLINE;
    let mut output = Vec::new();
    let mut scanned = false;
    while let Some(line) = next_line(&mut rx, deadline, &output).await {
        if let Some(qr) = line.strip_prefix("QR ")
            && !scanned
        {
            sim.scan(qr, "6281111111111", "Quickstart Phone")
                .await
                .expect("scan");
            scanned = true;
        }
        output.push(line);
    }
    let status = quickstart.0.wait().unwrap();
    let text = output.join("\n");
    assert!(status.success(), "quickstart failed:\n{text}");
    assert!(scanned, "quickstart printed no `QR ` line:\n{text}");
    assert!(text.contains("SANDBOX"), "build info is printed:\n{text}");
    assert!(text.contains("Connected as +6281111111111"), "{text}");
    assert!(
        text.contains("Status: read"),
        "delivery is reported:\n{text}"
    );
    let inbox = sim.inbox("6281234567890");
    assert_eq!(inbox.len(), 1);
    assert_eq!(inbox[0].text, "Hello from waotp!");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quickstart_otp_sends_a_code_and_verifies_what_is_typed() {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let to = "6281234567890";
    sim.add_number(to, true);
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "--session",
        "otp-demo",
        "--to",
        "081234567890",
        "--otp",
        "--company",
        "Toko Maju",
    ];
    let (mut quickstart, mut rx) = spawn_quickstart(&sim, dir.path(), &args);
    let mut stdin = quickstart.0.stdin.take().unwrap();

    let deadline = tokio::time::Instant::now() + RUN_DEADLINE;
    let mut output = Vec::new();
    let mut scanned = false;
    let mut typed = 0;
    while let Some(line) = next_line(&mut rx, deadline, &output).await {
        if let Some(qr) = line.strip_prefix("QR ")
            && !scanned
        {
            sim.scan(qr, "6281111111111", "Quickstart Phone")
                .await
                .expect("scan");
            scanned = true;
        }
        if line.starts_with("Sent OTP") {
            // First a wrong code, then the one the recipient got.
            let inbox = sim
                .wait_for_inbox(to, 1, Duration::from_secs(20))
                .await
                .unwrap();
            let text = &inbox[0].text;
            assert!(text.contains("Toko Maju"), "{text}");
            let code: String = text
                .split(|c: char| !c.is_ascii_digit())
                .find(|run| run.len() == 6)
                .expect("a 6-digit code")
                .to_owned();
            let wrong = if code == "000000" { "111111" } else { "000000" };
            writeln!(stdin, "{wrong}").unwrap();
            writeln!(stdin, "{code}").unwrap();
            stdin.flush().unwrap();
            typed += 2;
        }
        output.push(line);
    }
    let status = quickstart.0.wait().unwrap();
    let text = output.join("\n");
    assert!(status.success(), "quickstart --otp failed:\n{text}");
    assert_eq!(typed, 2, "{text}");
    assert!(
        text.contains("2 attempt(s) left"),
        "the wrong code was counted:\n{text}"
    );
    assert!(text.contains("Verified: approved"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quickstart_walks_the_operator_through_a_passkey() {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let own = "6281111110022";
    sim.add_number(own, true);
    sim.require_passkey(own);
    sim.add_number("6281234567890", true);
    let dir = tempfile::tempdir().unwrap();
    let (mut quickstart, mut rx) = spawn_quickstart(
        &sim,
        dir.path(),
        &["--session", "gated", "--to", "081234567890"],
    );

    let deadline = tokio::time::Instant::now() + RUN_DEADLINE;
    let mut output = Vec::new();
    let mut scanned = false;
    let mut answered = false;
    while let Some(line) = next_line(&mut rx, deadline, &output).await {
        if let Some(qr) = line.strip_prefix("QR ")
            && !scanned
        {
            sim.scan(qr, own, "Gated Phone").await.expect("scan");
            scanned = true;
        }
        // The snippet's last line: the operator now pastes what it printed.
        if line.trim() == "})();" && !answered {
            let options = sim
                .pending_passkey_options(own)
                .expect("the phone's side waits for a passkey");
            let assertion = sim
                .sign_passkey_assertion(own, &options, &AssertionTweaks::default())
                .unwrap();
            let stdin = quickstart.0.stdin.as_mut().unwrap();
            writeln!(stdin, "{assertion}").unwrap();
            answered = true;
        }
        output.push(line);
    }
    let status = quickstart.0.wait().unwrap();
    let text = output.join("\n");
    assert!(status.success(), "quickstart failed:\n{text}");
    assert!(
        answered,
        "quickstart never showed the passkey snippet:\n{text}"
    );
    assert!(text.contains("navigator.credentials.get"), "{text}");
    let code = sim.passkey_code(own).expect("the phone's code");
    assert!(text.contains(&format!("the phone shows {code}")), "{text}");
    assert!(text.contains(&format!("Connected as +{own}")), "{text}");
    assert_eq!(sim.inbox("6281234567890").len(), 1);
}
