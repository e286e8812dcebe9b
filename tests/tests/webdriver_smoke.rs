//! The WebDriver client against a real headless Chromium: a tiny page served
//! here, typed into, clicked, downloaded from, logged to and photographed.
//! Skips when Chromium or chromedriver is not installed.

use axum::http::header;
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use axum::Router;
use pharmforge_tests::webdriver::{chromium_available, Browser};
use serde_json::json;
use std::time::{Duration, Instant};

const PAGE: &str = r#"<!doctype html>
<html>
<head>
<meta charset="utf-8">
<title>WebDriver smoke</title>
<link rel="icon" href="data:,">
</head>
<body>
<input id="name" type="text" value="placeholder">
<button id="greet" onclick="document.getElementById('out').textContent = 'Hello, ' + document.getElementById('name').value + '!'">Greet</button>
<div id="out"></div>
<a id="dl" href="/download">Download the report</a>
<button id="fail" onclick="console.error('smoke-console-error', 42)">Fail</button>
<ul><li class="item">one</li><li class="item">two</li><li class="item">three</li></ul>
<script>console.log('page loaded');</script>
</body>
</html>"#;

const REPORT: &str = "compound,score\naspirin,0.93\n";

async fn serve() -> u16 {
    let router = Router::new().route("/", get(|| async { Html(PAGE) })).route(
        "/download",
        get(|| async {
            ([(header::CONTENT_TYPE, "text/plain; charset=utf-8"), (header::CONTENT_DISPOSITION, "attachment; filename=\"report.txt\"")], REPORT)
                .into_response()
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    port
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drives_headless_chromium() {
    if !chromium_available() {
        println!("skipped: Chromium or chromedriver not installed (CHROMIUM_BIN, CHROMEDRIVER_BIN)");
        return;
    }
    let started = Instant::now();
    let port = serve().await;
    let base = format!("http://127.0.0.1:{port}");
    let work = tempfile::tempdir().expect("temp dir");
    let downloads = work.path().join("downloads");
    std::fs::create_dir(&downloads).expect("downloads dir");

    let browser = Browser::start(&downloads, 1024, 768).await.expect("start the browser");
    let t_start = started.elapsed();
    let timeout = Duration::from_secs(5);

    browser.goto(&format!("{base}/")).await.expect("goto");
    assert_eq!(browser.title().await.unwrap(), "WebDriver smoke");
    assert_eq!(browser.current_url().await.unwrap(), format!("{base}/"));

    // Errors carry WebDriver's error code.
    let missing = browser.find("#no-such-thing").await.unwrap_err();
    assert!(missing.contains("no such element"), "{missing}");
    assert!(browser.wait_for("#no-such-thing", Duration::from_millis(300)).await.is_err());

    // Type, click, read.
    let input = browser.wait_for("#name", timeout).await.expect("input");
    assert_eq!(browser.attribute(&input, "type").await.unwrap().as_deref(), Some("text"));
    assert_eq!(browser.attribute(&input, "data-nothing").await.unwrap(), None);
    browser.clear(&input).await.expect("clear");
    browser.send_keys(&input, "Ada Lovelace").await.expect("type");
    assert_eq!(browser.property(&input, "value").await.unwrap(), json!("Ada Lovelace"));
    browser.click(&browser.find("#greet").await.unwrap()).await.expect("click");
    let out = browser.find("#out").await.unwrap();
    assert_eq!(browser.text(&out).await.unwrap(), "Hello, Ada Lovelace!");
    let seen = browser
        .wait_until("document.getElementById('out').textContent.includes('Ada') && document.getElementById('out').textContent", timeout)
        .await
        .expect("wait_until");
    assert_eq!(seen, json!("Hello, Ada Lovelace!"));
    let err = browser.wait_until("window.neverSet", Duration::from_millis(300)).await.unwrap_err();
    assert!(err.contains("window.neverSet"), "{err}");

    let items = browser.find_all("li.item").await.unwrap();
    assert_eq!(items.len(), 3);
    assert_eq!(browser.text(&items[2]).await.unwrap(), "three");
    // Elements go into scripts and come back out.
    let tag = browser.execute("return arguments[0].tagName + arguments[1]", vec![items[0].to_json(), json!("!")]).await.unwrap();
    assert_eq!(tag, json!("LI!"));

    // console.log is INFO, not an error; console.error is SEVERE.
    let log = browser.browser_log().await.expect("browser log");
    assert!(log.iter().any(|e| e.level == "INFO" && e.message.contains("page loaded")), "{log:?}");
    assert!(log.iter().all(|e| e.level != "SEVERE"), "{log:?}");
    browser.click(&browser.find("#fail").await.unwrap()).await.unwrap();
    let errors = browser.console_errors().await.expect("console errors");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].message.contains("smoke-console-error"), "{errors:?}");

    // Download.
    browser.click(&browser.find("#dl").await.unwrap()).await.expect("click the download link");
    let file = browser.wait_for_download(&downloads, ".txt", Duration::from_secs(10)).await.expect("download");
    assert_eq!(file.file_name().unwrap(), "report.txt");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), REPORT);

    // Screenshot, after a resize.
    browser.set_window_size(800, 600).await.expect("resize");
    assert_eq!(browser.execute("return window.outerWidth", vec![]).await.unwrap(), json!(800));
    let shot = work.path().join("page.png");
    browser.screenshot(&shot).await.expect("screenshot");
    let png = std::fs::read(&shot).unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG: {:?}", &png[..png.len().min(16)]);
    assert!(png.len() > 1000, "PNG of {} bytes", png.len());

    browser.quit().await.expect("quit");
    println!("webdriver smoke: browser up in {t_start:?}, whole test {:?}", started.elapsed());
}

/// Dropping a browser without `quit` still ends Chromium and chromedriver.
#[tokio::test]
async fn drop_cleans_up() {
    if !chromium_available() {
        println!("skipped: Chromium or chromedriver not installed");
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let browser = Browser::start(dir.path(), 400, 300).await.expect("start the browser");
    browser.goto("about:blank").await.unwrap();
    assert!(!browser.session_id().is_empty());
    let pid = browser.capabilities()["goog:processID"].as_u64().expect("goog:processID");
    let alive =
        || std::fs::read_to_string(format!("/proc/{pid}/status")).is_ok_and(|s| s.lines().any(|l| l.starts_with("State:") && !l.contains("Z (zombie)")));
    assert!(alive(), "Chromium {pid} not running");
    let dropping = Instant::now();
    drop(browser);
    assert!(dropping.elapsed() < Duration::from_secs(5), "drop took {:?}", dropping.elapsed());
    let deadline = Instant::now() + Duration::from_secs(5);
    while alive() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!alive(), "Chromium {pid} still running after the browser was dropped");
}
