//! The real `waotp-server` binary as a child process, for the tests that
//! need a process (a restart, a kill): started on a free loopback port
//! against the simulator, with the test's own flags and environment.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The binary cargo built for these tests.
pub const BIN: &str = env!("CARGO_BIN_EXE_waotp-server");
/// How long the server may take to print its address, or to stop.
pub const STEP: Duration = Duration::from_secs(30);

/// A running server binary; killed if the test ends without stopping it.
pub struct ServerProcess {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
}

impl ServerProcess {
    /// Starts the binary on `data_dir` against the simulator at `ws_url`,
    /// with `args` and `env` besides, and waits for its "listening" line.
    pub fn start(
        data_dir: &Path,
        ws_url: &str,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> ServerProcess {
        let mut command = Command::new(BIN);
        command
            .args([
                "--listen",
                "127.0.0.1:0",
                "--endpoint",
                ws_url,
                "--data-dir",
            ])
            .arg(data_dir)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("the server binary starts");
        let stdout = child.stdout.take().unwrap();
        // Read the first line on a thread, so a server that never prints
        // fails the test at the deadline instead of hanging it.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx
            .recv_timeout(STEP)
            .unwrap_or_else(|_| panic!("waotp-server printed nothing within {STEP:?}"));
        let base = line
            .trim()
            .strip_prefix("waotp-server listening on ")
            .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
            .to_owned();
        ServerProcess { child, base }
    }

    /// Stops it with SIGTERM (a graceful stop) and waits for it to exit.
    #[allow(dead_code)] // not every test file stops gracefully
    pub fn stop(mut self) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(status.success(), "kill -TERM {pid}");
        let deadline = Instant::now() + STEP;
        loop {
            if let Some(exit) = self.child.try_wait().unwrap() {
                assert!(exit.success(), "the server exited with {exit}");
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the server did not exit within {STEP:?} of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL: no graceful stop, as a crash.
    #[allow(dead_code)] // not every test file kills
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
