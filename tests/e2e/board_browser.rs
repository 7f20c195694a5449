//! The queue board in a real browser: Debian's Chromium driven by playwright-core
//! (`tests/browser/board.mjs`) against a running platform. It needs `/usr/bin/chromium`
//! (`apt-get install -y chromium`), Node.js, and `npm ci --prefix tests/browser`. Without
//! them the test says it was skipped, unless `ZENCALL_TEST_BROWSER=1` (CI sets it), when it
//! fails instead.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use zencall_core::store::api_keys::Scope;
use zencall_core::store::test_db::TestDb;
use zencall_providers::simulator::Simulator;

use crate::board::{operator_key, seed_bench_jobs};
use crate::test_app::{TestApp, test_settings};

const CHROMIUM: &str = "/usr/bin/chromium";

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

/// Why the browser test cannot run here, if it cannot.
fn missing() -> Option<String> {
    if !Path::new(CHROMIUM).exists() {
        return Some(format!(
            "{CHROMIUM} is missing (apt-get install -y chromium)"
        ));
    }
    if !browser_dir().join("node_modules/playwright-core").exists() {
        return Some("playwright-core is missing (npm ci --prefix tests/browser)".to_string());
    }
    if std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_err()
    {
        return Some("node is missing".to_string());
    }
    None
}

#[tokio::test]
async fn board_in_chromium() {
    if let Some(why) = missing() {
        assert!(
            std::env::var("ZENCALL_TEST_BROWSER").as_deref() != Ok("1"),
            "ZENCALL_TEST_BROWSER=1 but the browser test cannot run: {why}"
        );
        eprintln!("skipped the board in a browser: {why}");
        return;
    }
    let mut settings = test_settings();
    settings.board.refresh_ms = 300;
    let sim = Simulator::new(&settings.providers.simulator);
    let app = TestApp::spawn_with(
        TestDb::sqlite().await,
        settings,
        crate::test_app::simulated(&sim),
    )
    .await;
    let db = app.test_db.db.clone();
    let dead = 4;
    seed_bench_jobs(&db, 2, dead, "parcel-7Q2X").await;
    let key = operator_key(&db, Scope::Admin).await;

    let mut child = tokio::process::Command::new("node")
        .arg(browser_dir().join("board.mjs"))
        .env("BOARD_URL", &app.base)
        .env("BOARD_KEY", &key)
        .env("MARKER", "parcel-7Q2X")
        .env("DEAD", dead.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("start node");
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut said = Vec::new();
    let run = async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line == "waiting for a change" {
                seed_bench_jobs(&db, 1, 0, "late-arrival").await;
                stdin.write_all(b"go\n").await.unwrap();
            }
            said.push(line);
        }
        child.wait().await.unwrap()
    };
    let status = tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .unwrap_or_else(|_| panic!("the browser test did not finish in 120 s: {said:?}"));
    assert!(status.success(), "the browser test failed: {said:?}");
    assert_eq!(
        said.last().map(String::as_str),
        Some("board ok"),
        "{said:?}"
    );
    app.stop().await;
}
