//! Real `zencall` processes that log JSON lines to stderr: every line is kept, so a test can
//! wait for one (the address of the operations endpoints, a job's log) and read them all.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// A `zencall` command with JSON logs, any free operations port, no inherited `RUST_LOG`,
/// killed when dropped.
pub fn zencall_json(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_zencall"));
    c.args(args)
        .env_remove("RUST_LOG")
        .env("ZENCALL__LOG__FORMAT", "json")
        // Tests run in parallel: each worker or scheduler takes a free operations port.
        .env("ZENCALL__OPS__PORT", "0")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    c
}

/// An HTTP client for the processes' endpoints.
pub fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

/// A spawned process and the log lines it wrote so far.
pub struct Spawned {
    /// The process (killed when this is dropped).
    pub child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Spawned {
    /// Spawns `command` (whose stderr must be piped) and starts collecting its lines.
    pub fn spawn(mut command: Command) -> Spawned {
        let mut child = command.spawn().unwrap();
        let stderr = child.stderr.take().expect("stderr is piped");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        // Reading until the end also keeps the pipe from filling up and blocking the process.
        tokio::spawn(async move {
            let mut reader = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                sink.lock().unwrap().push(line);
            }
        });
        Spawned { child, lines }
    }

    /// Every line so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// Every line so far that is a JSON object.
    pub fn json_lines(&self) -> Vec<Value> {
        self.lines()
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(Value::is_object)
            .collect()
    }

    /// Waits for a JSON line whose message is `message`; fails after `secs` or if the process
    /// exits first.
    pub async fn wait_for_message(&mut self, message: &str, secs: u64) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(line) = self
                .json_lines()
                .into_iter()
                .find(|l| l["fields"]["message"] == message)
            {
                return line;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "the process exited ({status}) before logging {message:?}:\n{}",
                    self.lines().join("\n")
                );
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "never logged {message:?}:\n{}",
                self.lines().join("\n")
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The base URL of the operations endpoints, from the line announcing them.
    pub async fn ops_url(&mut self) -> String {
        let line = self
            .wait_for_message("operations endpoints listening", 120)
            .await;
        format!("http://{}", line["fields"]["addr"].as_str().unwrap())
    }

    /// Sends SIGTERM and waits for a clean exit.
    pub async fn terminate(mut self) {
        let pid = self.child.id().unwrap().to_string();
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        assert!(status.success());
        let exit = self.child.wait().await.unwrap();
        assert!(exit.success(), "{exit}:\n{}", self.lines().join("\n"));
    }
}
