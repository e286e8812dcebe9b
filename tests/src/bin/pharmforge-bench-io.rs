//! The data in/out benchmark; prints one JSON object.
//!
//! ```text
//! cargo build --release --bins && cargo run --release -p pharmforge-tests --bin pharmforge-bench-io
//! ```
//!
//! * `upload`: the time from the first byte of `POST /runs` to its 201 for a
//!   100,000-row CSV (with IDs and a data column), a 100,000-record SD file
//!   and a 1,000,000-row CSV, each into a fresh API process, with the API's
//!   peak RSS (the 1,000,000-row CSV must stay under 250 MB).
//! * `export`: a finished 100,000-compound run with every section of
//!   rdkit_local and admet_ai (`BENCH_IO_SEED_COMPOUNDS`, 200 ChEMBL
//!   compounds, really run, then copied in Postgres to 100,000), exported as
//!   CSV, SD file and JSON lines: rows/s, MB, and the API's peak RSS while
//!   exporting (target: CSV at least 50,000 rows/s, RSS under 150 MB).
//! * `sse`: `BENCH_IO_LISTENERS` (1,000) Server-Sent Events listeners on one
//!   running run of `BENCH_IO_SSE_COMPOUNDS` (30,000) through rdkit_local:
//!   how late each event is (received minus the run's `updated_at`, p50/p99;
//!   target p99 < 1 s), events per listener, the API's peak RSS.
//! * `depict`: `/depict` of `BENCH_IO_DEPICTIONS` (3,000) distinct drug-like
//!   SMILES (nothing cached), 8 at a time: SVGs/s and SVGs per CPU-second of
//!   the API (target at least 1,000 per core).
//!
//! * `rescore`: finished runs of 10,000 and 100,000 compounds (copied as
//!   for `export`; `BENCH_IO_RESCORE_SIZES`) rescored under a weighted
//!   mean, a geometric mean and a Pareto profile: seconds per rescore
//!   (target: under 3 s at 100,000) and the API's peak RSS.
//!
//! `BENCH_IO_ONLY=upload,export,...` runs some phases only;
//! `BENCH_IO_EXPORT_FORMATS=csv,csv,csv` exports in those formats only.

use pharmforge_tests::Stack;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn mb(kb: u64) -> f64 {
    round3(kb as f64 / 1024.0)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// The ChEMBL reference compounds (drug-like), cycled to `n`.
fn chembl(n: usize) -> Vec<String> {
    let all: Vec<String> = pharmforge_tests::reference::load("chembl_cmet_1017.rdkit.jsonl").iter().map(|m| m["smiles"].as_str().unwrap().to_owned()).collect();
    all.iter().cycle().take(n).cloned().collect()
}

fn api_pid(stack: &mut Stack) -> u32 {
    stack.service("pharmforge-api").pid()
}

/// Posts a body to `/runs` and times it to the 201.
async fn post_timed(stack: &mut Stack, content_type: &str, body: Vec<u8>) -> Value {
    let pid = api_pid(stack);
    pharmforge_tests::reset_peak_rss(pid);
    let bytes = body.len();
    let started = Instant::now();
    let r = stack.http.post(stack.url("/api/v1/runs?adapters=rdkit_local")).header("content-type", content_type).body(body).send().await.unwrap();
    let status = r.status().as_u16();
    let answer: Value = r.json().await.unwrap_or(Value::Null);
    let seconds = started.elapsed().as_secs_f64();
    assert_eq!(status, 201, "{answer}");
    let total = answer["compounds"]["total"].as_f64().unwrap_or(0.0);
    json!({
        "bytes_mb": round3(bytes as f64 / 1048576.0),
        "compounds": total,
        "seconds_to_201": round3(seconds),
        "compounds_per_s": (total / seconds).round(),
        "api_peak_rss_mb": mb(pharmforge_tests::peak_rss_kb(pid).unwrap_or(0)),
    })
}

async fn upload() -> Value {
    // No adapters: what is measured is the upload, not the run.
    let mut stack = Stack::start_with_env(&[], &[("API_MAX_UPLOAD_BYTES", "4294967296")]).await;
    let smiles = chembl(1_000_000);
    let csv = |n: usize| {
        let mut out = String::from("id,smiles,pIC50\n");
        for (i, s) in smiles.iter().take(n).enumerate() {
            out.push_str(&format!("CPD-{i:07},{s},{}.{}\n", 4 + i % 5, i % 10));
        }
        out.into_bytes()
    };
    let mut report = serde_json::Map::new();
    report.insert("csv_100k".into(), post_timed(&mut stack, "text/csv", csv(100_000)).await);
    eprintln!("upload csv_100k: {}", report["csv_100k"]);
    // An SD file of the same compounds, each with 2D coordinates and two data items.
    let records: Vec<String> =
        smiles.iter().take(1017).map(|s| pharmforge_chem::sd_record_2d(s, "TITLE", &[("pIC50", "6.5"), ("vendor", "Enamine")]).unwrap()).collect();
    let mut sdf = String::new();
    for i in 0..100_000 {
        sdf.push_str(&records[i % records.len()].replacen("TITLE", &format!("CPD-{i:07}"), 1));
    }
    report.insert("sdf_100k".into(), post_timed(&mut stack, "chemical/x-mdl-sdfile", sdf.into_bytes()).await);
    eprintln!("upload sdf_100k: {}", report["sdf_100k"]);
    report.insert("csv_1m".into(), post_timed(&mut stack, "text/csv", csv(1_000_000)).await);
    eprintln!("upload csv_1m: {}", report["csv_1m"]);
    Value::Object(report)
}

/// A finished run of `total` compounds with every section of rdkit_local
/// and admet_ai: `seed` compounds really run, their rows copied.
async fn big_finished_run(stack: &Stack, seed: usize, total: usize) -> String {
    let compounds: Vec<Value> = chembl(seed).into_iter().enumerate().map(|(i, s)| json!({"id": format!("CPD-{i:07}"), "smiles": s})).collect();
    let run = stack.create_run(json!({"compounds": compounds, "pipeline_config": {"adapters": ["rdkit_local", "admet_ai"]}})).await;
    let run_id = run["run_id"].as_str().unwrap().to_owned();
    let done = stack.wait_finished(&run_id, Duration::from_secs(600)).await;
    assert_eq!(done["status"], "completed");
    let pool = stack.db.pool().await;
    let pk: i64 = sqlx::query_scalar("SELECT id FROM pipeline_runs WHERE run_id = $1").bind(&run_id).fetch_one(&pool).await.unwrap();
    let seed = seed as i32;
    sqlx::query(
        "INSERT INTO run_inputs (run_pk, idx, smiles, given_id, properties) \
         SELECT $1, g, i.smiles, 'CPD-' || lpad(g::text, 7, '0'), i.properties FROM generate_series($3::int, $2::int - 1) g \
         JOIN run_inputs i ON i.run_pk = $1 AND i.idx = g % $3",
    )
    .bind(pk)
    .bind(total as i32)
    .bind(seed)
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO compound_results (run_pk, idx, compound_id, smiles, trace_id, status, step, properties, admet, pubchem, bioactivity, errors, scores, final_score, rank, admet_values, admet_model) \
         SELECT $1, g, $4 || '_' || g, c.smiles, c.trace_id, c.status, c.step, c.properties, c.admet, c.pubchem, c.bioactivity, c.errors, c.scores, c.final_score, NULL, \
                c.admet_values, c.admet_model \
         FROM generate_series($3::int, $2::int - 1) g JOIN compound_results c ON c.run_pk = $1 AND c.idx = g % $3",
    )
    .bind(pk)
    .bind(total as i32)
    .bind(seed)
    .bind(&run_id)
    .execute(&pool)
    .await
    .unwrap();
    // Statistics first: planned from the old ones (the seed run alone) the
    // rank update below rescans the run once per row.
    sqlx::query("ANALYZE compound_results").execute(&pool).await.unwrap();
    // Ranks over all of them, as a finished run has them.
    sqlx::query(
        "UPDATE compound_results c SET rank = r.rank, rank_order = r.rank FROM \
         (SELECT idx, row_number() OVER (ORDER BY final_score DESC NULLS LAST, idx) AS rank FROM compound_results WHERE run_pk = $1 AND final_score IS NOT NULL) r \
         WHERE c.run_pk = $1 AND c.idx = r.idx",
    )
    .bind(pk)
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query("UPDATE pipeline_runs SET total_compounds = $2, completed_compounds = $2 WHERE id = $1")
        .bind(pk)
        .bind(total as i32)
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("VACUUM ANALYZE compound_results").execute(&pool).await.unwrap();
    run_id
}

async fn export() -> Value {
    let mut stack = Stack::start(&["rdkit_local", "admet_ai"]).await;
    let total = env_usize("BENCH_IO_EXPORT_COMPOUNDS", 100_000);
    let run_id = big_finished_run(&stack, env_usize("BENCH_IO_SEED_COMPOUNDS", 200), total).await;
    let pid = api_pid(&mut stack);
    let mut report = serde_json::Map::new();
    // What an export reads: the results' table, in line and out of line.
    let (heap, toast): (i64, i64) = sqlx::query_as(
        "SELECT pg_relation_size(c.oid), COALESCE(pg_total_relation_size(NULLIF(c.reltoastrelid, 0)), 0) FROM pg_class c WHERE c.relname = 'compound_results'",
    )
    .fetch_one(&stack.db.pool().await)
    .await
    .unwrap();
    let sizes: Value = sqlx::query_scalar(
        "SELECT jsonb_build_object('row', avg(pg_column_size(c.*)), 'properties', avg(pg_column_size(properties)), 'admet', avg(pg_column_size(admet)), \
             'admet_values', avg(pg_column_size(admet_values)), 'scores', avg(pg_column_size(scores)), 'errors', avg(pg_column_size(errors))) \
         FROM (SELECT * FROM compound_results LIMIT 2000) c",
    )
    .fetch_one(&stack.db.pool().await)
    .await
    .unwrap();
    let table = json!({"heap_mb": round3(heap as f64 / 1048576.0), "toast_mb": round3(toast as f64 / 1048576.0), "stored_bytes_per_row": sizes});
    eprintln!("export: the results table: {table}");
    report.insert("table".into(), table);
    // `BENCH_IO_EXPORT_FORMATS=csv,csv` repeats one (for A/B runs and profiles).
    let formats = std::env::var("BENCH_IO_EXPORT_FORMATS").unwrap_or_else(|_| "csv,jsonl,sdf".into());
    for (n, format) in formats.split(',').map(str::trim).filter(|f| !f.is_empty()).enumerate() {
        pharmforge_tests::reset_peak_rss(pid);
        let cpu_before = pharmforge_tests::cpu_seconds(pid).unwrap_or(0.0);
        let machine_before = pharmforge_tests::machine_cpu_seconds().unwrap_or(0.0);
        let own_before = pharmforge_tests::cpu_seconds(std::process::id()).unwrap_or(0.0);
        let started = Instant::now();
        let mut r =
            stack.http.get(stack.url(&format!("/api/v1/runs/{run_id}/export?format={format}"))).timeout(Duration::from_secs(3600)).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let (mut bytes, mut lines) = (0usize, 0usize);
        while let Some(chunk) = r.chunk().await.unwrap() {
            bytes += chunk.len();
            lines += chunk.iter().filter(|b| **b == b'\n').count();
        }
        let seconds = started.elapsed().as_secs_f64();
        let api_cpu = pharmforge_tests::cpu_seconds(pid).unwrap_or(0.0) - cpu_before;
        let own_cpu = pharmforge_tests::cpu_seconds(std::process::id()).unwrap_or(0.0) - own_before;
        let machine_cpu = pharmforge_tests::machine_cpu_seconds().unwrap_or(0.0) - machine_before;
        let entry = json!({
            "rows": total,
            "seconds": round3(seconds),
            "rows_per_s": (total as f64 / seconds).round(),
            "mb": round3(bytes as f64 / 1048576.0),
            "lines": lines,
            "api_cpu_s": round3(api_cpu),
            // Postgres, mostly (the machine's busy time less the API's and
            // this client's).
            "others_cpu_s": round3(machine_cpu - api_cpu - own_cpu),
            "client_cpu_s": round3(own_cpu),
            "api_peak_rss_mb": mb(pharmforge_tests::peak_rss_kb(pid).unwrap_or(0)),
        });
        eprintln!("export {format}: {entry}");
        let name = if report.contains_key(format) { format!("{format}_{}", n + 1) } else { format.to_owned() };
        report.insert(name, entry);
    }
    Value::Object(report)
}

/// Rescoring finished runs of 10,000 and 100,000 compounds (copied as for
/// `export`) under a weighted mean, a geometric mean and a Pareto profile:
/// the time of `POST /runs/{id}/rescore` (target: under 3 s at 100,000)
/// and the API's peak RSS while it works.
async fn rescore() -> Value {
    let mut stack = Stack::start(&["rdkit_local", "admet_ai"]).await;
    let sizes: Vec<usize> =
        std::env::var("BENCH_IO_RESCORE_SIZES").unwrap_or_else(|_| "10000,100000".into()).split(',').filter_map(|n| n.trim().parse().ok()).collect();
    let pid = api_pid(&mut stack);
    let mut report = serde_json::Map::new();
    for total in sizes {
        let run_id = big_finished_run(&stack, env_usize("BENCH_IO_SEED_COMPOUNDS", 200), total).await;
        let mut by_profile = serde_json::Map::new();
        for (name, scoring) in [
            ("weighted_mean (default, 6 objectives)", json!("default")),
            ("geometric_mean (oral_drug_like, 8 objectives)", json!("oral_drug_like")),
            (
                "pareto (3 objectives)",
                json!({"method": "pareto", "objectives": [
                    {"name": "qed", "value": "properties.qed", "transform": {"type": "identity"}},
                    {"name": "hERG", "value": "admet.hERG", "transform": {"type": "reverse_sigmoid", "low": 0.2, "high": 0.8, "k": 0.25}},
                    {"name": "solubility", "value": "admet.Solubility_AqSolDB", "transform": {"type": "sigmoid", "low": -6, "high": -2, "k": 0.5}},
                ]}),
            ),
        ] {
            let rss_before = pharmforge_tests::rss_kb(pid).unwrap_or(0);
            pharmforge_tests::reset_peak_rss(pid);
            let started = Instant::now();
            let r = stack
                .http
                .post(stack.url(&format!("/api/v1/runs/{run_id}/rescore")))
                .json(&json!({"scoring": scoring}))
                .timeout(Duration::from_secs(600))
                .send()
                .await
                .unwrap();
            let seconds = started.elapsed().as_secs_f64();
            let status = r.status();
            let body: Value = r.json().await.unwrap();
            assert_eq!(status, 200, "{body}");
            assert_eq!(body["rescored"]["compounds"].as_u64(), Some(total as u64));
            let entry = json!({
                "seconds": round3(seconds),
                "ranked": body["rescored"]["ranked"],
                "api_rss_before_mb": mb(rss_before),
                "api_peak_rss_mb": mb(pharmforge_tests::peak_rss_kb(pid).unwrap_or(0)),
            });
            eprintln!("rescore {total} {name}: {entry}");
            by_profile.insert(name.into(), entry);
        }
        report.insert(total.to_string(), Value::Object(by_profile));
        let pool = stack.db.pool().await;
        sqlx::query("DELETE FROM pipeline_runs WHERE run_id = $1").bind(&run_id).execute(&pool).await.unwrap();
    }
    Value::Object(report)
}

/// Reads one listener's events, noting how late each came.
async fn listen(http: reqwest::Client, url: String, lags: Arc<std::sync::Mutex<Vec<f64>>>, shed: Arc<std::sync::atomic::AtomicUsize>) -> usize {
    // A connection the API sheds (503 when more requests than
    // API_MAX_IN_FLIGHT arrive at once) retries, as an EventSource does.
    let mut r = loop {
        let r = http.get(&url).timeout(Duration::from_secs(3600)).send().await.unwrap();
        if r.status() != 503 {
            break r;
        }
        shed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(r.status(), 200);
    let (mut buf, mut events) = (String::new(), 0);
    while let Some(chunk) = r.chunk().await.unwrap() {
        let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs_f64();
        buf.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buf.find("\n\n") {
            let frame: String = buf.drain(..end + 2).collect();
            let Some(data) = frame.lines().find_map(|l| l.strip_prefix("data: ")) else { continue };
            let v: Value = serde_json::from_str(data).unwrap();
            if let Some(at) = v["updated_at"].as_str().and_then(chrono_seconds) {
                lags.lock().unwrap().push(now - at);
            }
            events += 1;
        }
    }
    events
}

/// Seconds since the epoch of an RFC 3339 UTC timestamp (`...Z`).
fn chrono_seconds(t: &str) -> Option<f64> {
    let (date, time) = t.trim_end_matches('Z').split_once('T')?;
    let mut d = date.split('-').map(|x| x.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let mut hms = time.split(':');
    let (h, min, s) = (hms.next()?.parse::<i64>().ok()?, hms.next()?.parse::<i64>().ok()?, hms.next()?.parse::<f64>().ok()?);
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((days * 86_400 + h * 3600 + min * 60) as f64 + s)
}

async fn sse() -> Value {
    let mut stack = Stack::start(&["rdkit_local"]).await;
    let listeners = env_usize("BENCH_IO_LISTENERS", 1000);
    let n = env_usize("BENCH_IO_SSE_COMPOUNDS", 30_000);
    let smiles = pharmforge_tests::distinct_molecules(n, &["c1ccccc1", "C1CCNCC1", "c1ccncc1"]);
    let pid = api_pid(&mut stack);
    let run = stack.create_run(json!({"input_smiles": smiles, "pipeline_config": {"adapters": ["rdkit_local"]}})).await;
    let run_id = run["run_id"].as_str().unwrap().to_owned();
    pharmforge_tests::reset_peak_rss(pid);
    let lags = Arc::new(std::sync::Mutex::new(Vec::new()));
    let http = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
    let started = Instant::now();
    let shed = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let tasks: Vec<_> =
        (0..listeners).map(|_| tokio::spawn(listen(http.clone(), stack.url(&format!("/api/v1/runs/{run_id}/events")), lags.clone(), shed.clone()))).collect();
    let mut events = Vec::new();
    for t in tasks {
        events.push(t.await.unwrap());
    }
    let seconds = started.elapsed().as_secs_f64();
    let mut lags = lags.lock().unwrap().clone();
    lags.sort_by(f64::total_cmp);
    events.sort();
    json!({
        "listeners": listeners,
        "compounds": n,
        "run_seconds": round3(seconds),
        "events_per_listener": {"min": events[0], "median": events[events.len() / 2], "max": events[events.len() - 1]},
        "connects_shed_503_then_retried": shed.load(std::sync::atomic::Ordering::Relaxed),
        "event_lag_s": {"p50": round3(percentile(&lags, 0.5)), "p99": round3(percentile(&lags, 0.99)), "max": round3(*lags.last().unwrap_or(&f64::NAN))},
        "api_peak_rss_mb": mb(pharmforge_tests::peak_rss_kb(pid).unwrap_or(0)),
    })
}

async fn depict() -> Value {
    let mut stack = Stack::start(&[]).await;
    let n = env_usize("BENCH_IO_DEPICTIONS", 3000);
    let all: Vec<String> = pharmforge_tests::reference::load("chembl_cmet_1017.rdkit.jsonl").iter().map(|m| m["smiles"].as_str().unwrap().to_owned()).collect();
    // Distinct structures (nothing cached): the reference compounds at three sizes.
    let asks: Vec<String> = (0..n).map(|i| format!("/api/v1/depict?smiles={}&width={}", urlencode(&all[i % all.len()]), 300 + (i / all.len()) * 10)).collect();
    let pid = api_pid(&mut stack);
    let cpu_before = pharmforge_tests::cpu_seconds(pid).unwrap_or(0.0);
    let started = Instant::now();
    let asks = Arc::new(asks);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let workers: Vec<_> = (0..8)
        .map(|_| {
            let (http, asks, next, base) = (stack.http.clone(), asks.clone(), next.clone(), stack.url(""));
            tokio::spawn(async move {
                let mut bytes = 0;
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(path) = asks.get(i) else { return bytes };
                    let r = http.get(format!("{base}{path}")).send().await.unwrap();
                    assert_eq!(r.status(), 200, "{path}");
                    bytes += r.bytes().await.unwrap().len();
                }
            })
        })
        .collect();
    let mut bytes = 0;
    for w in workers {
        bytes += w.await.unwrap();
    }
    let seconds = started.elapsed().as_secs_f64();
    let cpu = pharmforge_tests::cpu_seconds(pid).unwrap_or(0.0) - cpu_before;
    // And in one thread of this process, the drawing alone.
    let started = Instant::now();
    let alone = 500.min(all.len());
    for s in all.iter().take(alone) {
        pharmforge_chem::depict_svg(s, 300, 200).unwrap();
    }
    let in_process = alone as f64 / started.elapsed().as_secs_f64();
    json!({
        "svgs": n,
        "seconds": round3(seconds),
        "svgs_per_s": (n as f64 / seconds).round(),
        "api_cpu_s": round3(cpu),
        "svgs_per_api_cpu_s": (n as f64 / cpu).round(),
        "mean_svg_kb": round3(bytes as f64 / n as f64 / 1024.0),
        "in_process_svgs_per_s_one_core": in_process.round(),
    })
}

fn urlencode(s: &str) -> String {
    s.bytes().map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}

#[tokio::main]
async fn main() {
    let only = std::env::var("BENCH_IO_ONLY").unwrap_or_default();
    let wanted = |phase: &str| only.is_empty() || only.split(',').any(|p| p == phase);
    let mut report = serde_json::Map::new();
    if wanted("depict") {
        report.insert("depict".into(), depict().await);
        eprintln!("depict: {}", report["depict"]);
    }
    if wanted("upload") {
        report.insert("upload".into(), upload().await);
    }
    if wanted("export") {
        report.insert("export".into(), export().await);
    }
    if wanted("rescore") {
        report.insert("rescore".into(), rescore().await);
    }
    if wanted("sse") {
        report.insert("sse".into(), sse().await);
        eprintln!("sse: {}", report["sse"]);
    }
    println!("{}", serde_json::to_string_pretty(&Value::Object(report)).unwrap());
}
