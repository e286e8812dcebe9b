//! The dashboard, driven in Debian's headless Chromium over WebDriver against
//! a real stack (NATS, Postgres, api, aggregator, rdkit_local, admet_ai): a
//! run submitted from the form with a pasted list, its stage bars followed to
//! 100% without a reload, a compound with its picture and percentiles, the
//! CSV download, the pipeline page, a phone-width window, no console error.
//! Screenshots of every page go to `<target>/tmp/dashboard/`. It prints the
//! figures of the closing note as JSON: transferred size of the first load,
//! first render of the runs page and of a 100,000-compound run's results
//! page, the live progress lag.

use pharmforge_tests::webdriver::{chromium_available, Browser};
use pharmforge_tests::{distinct_molecules, Stack};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);

/// A step's result, or a failure that says what the page showed and logged.
macro_rules! ok {
    ($b:expr, $step:expr) => {
        match $step {
            Ok(v) => v,
            Err(e) => {
                let _ = $b.screenshot(&out_dir().join("failure.png")).await;
                let page = $b.execute("return document.getElementById('main').innerText.slice(0, 3000)", vec![]).await;
                panic!("{e}\npage: {page:?}\nbrowser log: {:?}", $b.browser_log().await)
            }
        }
    };
}

fn out_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dashboard");
    std::fs::create_dir_all(&dir).expect("screenshot folder");
    dir
}

/// Whether Chromium and chromedriver are installed. CI installs them
/// (scripts/lib.sh): only a bare developer machine may skip.
fn browser_here() -> bool {
    if chromium_available() {
        return true;
    }
    assert!(std::env::var_os("CI").is_none(), "chromium and chromedriver are missing on CI");
    eprintln!("skipped: chromium or chromedriver not installed");
    false
}

/// Headless Chromium in a 1280 × 900 window, downloading into a folder of its own.
async fn open_browser() -> (Browser, tempfile::TempDir) {
    let downloads = tempfile::tempdir().unwrap();
    let b = Browser::start(downloads.path(), 1280, 900).await.expect("chromium starts");
    (b, downloads)
}

/// Polls `/api/v1/pipeline` until `until` holds (`what`, for the failure).
async fn wait_for_pipeline(stack: &Stack, what: &str, until: impl Fn(&Value) -> bool) {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let (_, p) = stack.get_json("/api/v1/pipeline").await;
        if until(&p) {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "never saw {what}: {p}\n{}", stack.all_logs());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn shot(b: &Browser, name: &str) {
    let path = out_dir().join(format!("{name}.png"));
    b.screenshot(&path).await.expect("screenshot");
    let png = std::fs::read(&path).expect("screenshot written");
    assert!(png.starts_with(b"\x89PNG") && png.len() > 2_000, "{name}: not a real screenshot");
}

/// No page is wider than the window: wide tables scroll inside their own box.
async fn fits_the_window(b: &Browser, page: &str) {
    let (wide, window) = {
        let v = b.execute("return [document.documentElement.scrollWidth, window.innerWidth]", vec![]).await.unwrap();
        (v[0].as_i64().unwrap(), v[1].as_i64().unwrap())
    };
    assert!(wide <= window + 1, "{page}: the page is {wide} px wide in a {window} px window");
}

/// Clicks (`keys: None`) or types into the element `css` finds, again if
/// the page redrew it in between (a live table is redrawn as results arrive).
async fn act(b: &Browser, css: &str, keys: Option<&str>) {
    let mut last = String::new();
    for _ in 0..10 {
        let done = match b.find(css).await {
            Ok(el) => match keys {
                Some(k) => b.send_keys(&el, k).await,
                None => b.click(&el).await,
            },
            Err(e) => Err(e),
        };
        match done {
            Ok(()) => return,
            Err(e) if e.contains("stale element") => last = e,
            Err(e) => panic!("{css}: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("{css}: {last}");
}

async fn no_console_errors(b: &Browser, page: &str) {
    let errors = b.console_errors().await.expect("browser log");
    assert!(errors.is_empty(), "{page}: the page logged errors: {errors:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chemist_submits_watches_and_explores_a_run_in_the_browser() {
    if !browser_here() {
        return;
    }
    let stack = Stack::start(&["rdkit_local", "admet_ai"]).await;
    // The form ticks the adapters with a replica connected: wait until both have beaten.
    wait_for_pipeline(&stack, "both adapters' heartbeats", |p| {
        let connected = |name: &str| p["adapters"].as_array().into_iter().flatten().any(|a| a["name"] == name && a["replicas_connected"] == 1);
        connected("rdkit_local") && connected("admet_ai")
    })
    .await;

    let (b, downloads) = open_browser().await;
    let base = stack.url("");

    // ---- Runs page, first load ----
    b.goto(&format!("{base}/")).await.unwrap();
    ok!(b, b.wait_for("#new-run", WAIT).await);
    ok!(b, b.wait_until("window.pharmforge && window.pharmforge.drawn.runs !== undefined", WAIT).await);
    let auth = b.text(&b.find("#auth-state").await.unwrap()).await.unwrap();
    assert_eq!(auth, "Authentication is off");
    let first_load = b
        .execute(
            "const nav = performance.getEntriesByType('navigation')[0];
             const assets = performance.getEntriesByType('resource').filter(r => !new URL(r.name).pathname.startsWith('/api/'));
             const paint = performance.getEntriesByType('paint').find(p => p.name === 'first-contentful-paint');
             return {transferred_bytes: nav.transferSize + assets.reduce((s, r) => s + r.transferSize, 0),
                     decoded_bytes: nav.decodedBodySize + assets.reduce((s, r) => s + r.decodedBodySize, 0),
                     assets: assets.map(r => new URL(r.name).pathname),
                     first_contentful_paint_ms: paint ? Math.round(paint.startTime) : null,
                     runs_drawn_ms: window.pharmforge.drawn.runs}",
            vec![],
        )
        .await
        .unwrap();
    let transferred = first_load["transferred_bytes"].as_i64().unwrap();
    assert!(transferred > 0 && transferred < 300_000, "first load transferred {transferred} bytes: {first_load}");
    // Every registered adapter is offered; those of the default route with
    // a replica are ticked, the others not (scaffolds is off the route).
    use pharmforge_core::AdapterName;
    let offered = AdapterName::ALL.len();
    ok!(b, b.wait_until(&format!("document.querySelectorAll('input[name=adapter]').length === {offered}"), WAIT).await);
    let ticked = b.execute("return [...document.querySelectorAll('input[name=adapter]')].map(i => [i.value, i.checked])", vec![]).await.unwrap();
    let running = [AdapterName::RdkitLocal, AdapterName::AdmetAi];
    let expected: Vec<Value> = AdapterName::ALL.iter().map(|a| json!([a.as_str(), a.in_default_route() && running.contains(a)])).collect();
    assert_eq!(ticked, json!(expected));
    assert_eq!(ticked[4], json!(["scaffolds", false]));
    shot(&b, "1-runs").await;

    // ---- Submit from the form: a pasted list, the first line typed ----
    let smiles = distinct_molecules(400, &["c1ccccc1", "C1CCNCC1", "c1ccncc1"]);
    let textarea = b.find("#smiles").await.unwrap();
    b.send_keys(&textarea, "CC(=O)Oc1ccccc1C(=O)O aspirin\n").await.unwrap();
    let rest: String = smiles.iter().enumerate().map(|(i, s)| format!("{s} mol-{i}\n")).collect();
    b.execute("const t = document.getElementById('smiles'); t.value += arguments[0]; t.dispatchEvent(new Event('input'));", vec![json!(rest)]).await.unwrap();
    b.click(&b.find("#new-run button[type=submit]").await.unwrap()).await.unwrap();
    let path = ok!(b, b.wait_until("location.pathname.match(/^\\/runs\\/run_[0-9a-f]{16}$/) && location.pathname", WAIT).await);
    let run_id = path.as_str().unwrap().trim_start_matches("/runs/").to_owned();
    ok!(b, b.wait_for(".stages [role=progressbar]", WAIT).await);
    // Marks this document: a reload would lose it.
    b.execute("window.__same_document = true", vec![]).await.unwrap();
    let at_landing: Vec<i64> = serde_json::from_value(
        b.execute("return [...document.querySelectorAll('.stages [role=progressbar]')].map(e => Number(e.getAttribute('aria-valuenow')))", vec![])
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(at_landing.len(), 2, "one bar per stage of the route");
    assert!(at_landing.iter().any(|p| *p < 100), "the run was already over when its page opened ({at_landing:?}): nothing to watch");
    shot(&b, "2-run-live").await;
    b.wait_until(
        "[...document.querySelectorAll('.stages [role=progressbar]')].every(e => e.getAttribute('aria-valuenow') === '100') \
         && document.querySelector('.run-summary .badge').textContent === 'completed'",
        Duration::from_secs(240),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", stack.all_logs()));
    let same = b.execute("return window.__same_document === true", vec![]).await.unwrap();
    assert_eq!(same, json!(true), "the page reloaded to show progress");
    let lags: Vec<f64> = serde_json::from_value(b.execute("return window.pharmforge.lags", vec![]).await.unwrap()).unwrap();
    assert!(!lags.is_empty(), "no live progress event reached the page");

    // The results table fills in: pictures, IDs, ADMET numbers.
    ok!(b, b.wait_until("document.querySelectorAll('table.results tbody tr').length === 50", WAIT).await);
    ok!(b, b.wait_until("[...document.querySelectorAll('img.mol')].slice(0, 5).every(i => i.complete && i.naturalWidth > 0)", WAIT).await);
    let header = b.execute("return [...document.querySelectorAll('table.results thead th')].map(t => t.textContent.trim())", vec![]).await.unwrap();
    for col in ["Structure", "ID", "Rank", "Score", "MW", "logP", "TPSA", "QED", "hERG", "AMES", "DILI", "BBB", "Solubility", "PubChem", "ChEMBL"] {
        assert!(header.as_array().unwrap().iter().any(|h| h.as_str().unwrap().starts_with(col)), "no {col} column: {header}");
    }
    // Read in one script: the table is redrawn as the last results arrive.
    let first_id = b.execute("return document.querySelector('table.results tbody tr td.c-id a').textContent", vec![]).await.unwrap();
    assert_eq!(first_id, json!("aspirin"));
    shot(&b, "3-run-done").await;

    // Sorted by logP, highest first (two presses of its header, by keyboard).
    act(&b, "th button.sort[title='Sort by logP']", Some("\u{E007}")).await;
    ok!(b, b.wait_until("document.querySelector('th[aria-sort]') && document.querySelector('th[aria-sort]').textContent.startsWith('logP')", WAIT).await);
    act(&b, "th button.sort[title='Sort by logP']", Some("\u{E007}")).await;
    ok!(b, b.wait_until("document.querySelector('th[aria-sort=descending]') !== null", WAIT).await);
    ok!(b, b.wait_until("new URLSearchParams(location.search).get('order') === 'desc'", WAIT).await);
    let (_, top) = stack.get_json(&format!("/api/v1/runs/{run_id}/results?sort=logp&order=desc&page_size=1")).await;
    let want = top["results"][0]["index"].as_i64().unwrap();
    ok!(b, b.wait_until(&format!("document.querySelector('table.results tbody tr').dataset.index === '{want}'"), WAIT).await);
    // Search by ID narrows to the one compound.
    let search = b.find("#search").await.unwrap();
    b.send_keys(&search, "aspirin").await.unwrap();
    ok!(b, b.wait_until("document.querySelectorAll('table.results tbody tr').length === 1", WAIT).await);

    // ---- The compound page ----
    act(&b, "table.results tbody tr td.c-id a", None).await;
    ok!(b, b.wait_for("svg.radial", WAIT).await);
    ok!(b, b.wait_until("document.querySelector('img.mol-large').complete && document.querySelector('img.mol-large').naturalWidth > 0", WAIT).await);
    let groups = b.execute("return [...document.querySelectorAll('.admet-group h3')].map(h => h.textContent)", vec![]).await.unwrap();
    assert_eq!(groups, json!(["Physicochemical", "Absorption", "Distribution", "Metabolism", "Excretion", "Toxicity"]));
    let percentiles =
        b.execute("return [...document.querySelectorAll('table.admet td.pct')].filter(td => /\\d+%/.test(td.textContent)).length", vec![]).await.unwrap();
    assert!(percentiles.as_i64().unwrap() >= 40, "percentiles shown: {percentiles}");
    // The radial plot's five axes are ADMET-AI's, from this compound's percentiles.
    let (_, compound) = stack.get_json(&format!("/api/v1/runs/{run_id}/results/0")).await;
    let bbb_safe = 100.0 - compound["admet"]["percentiles"]["BBB_Martins_drugbank_approved_percentile"].as_f64().unwrap();
    let label = b.execute("return document.querySelector('svg.radial .axis').textContent", vec![]).await.unwrap();
    assert_eq!(label, json!(format!("Blood-Brain Barrier Safe ({})", bbb_safe.round())));
    let trace = b.text(&b.find("#trace-id").await.unwrap()).await.unwrap();
    assert_eq!(json!(trace), compound["trace_id"]);
    // Each adapter's outcome and what produced it (the run's lockfile).
    let sources = b
        .execute(
            "return [...document.querySelectorAll('section.card')].find(s => s.querySelector('h2').textContent === 'Adapters').querySelectorAll('tbody tr')",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(sources.as_array().map(Vec::len), Some(2), "a row per adapter of the route");
    let text = b
        .execute("return [...document.querySelectorAll('section.card')].find(s => s.querySelector('h2').textContent === 'Adapters').innerText", vec![])
        .await
        .unwrap();
    assert!(text.as_str().unwrap().contains("rdkit_local 0.1.0 (RDKit"), "{text}");
    shot(&b, "4-compound").await;

    // ---- The CSV download, from the run page ----
    b.goto(&format!("{base}/runs/{run_id}")).await.unwrap();
    let csv_link = ok!(b, b.wait_for(".downloads a[download$='.csv']", WAIT).await);
    b.click(&csv_link).await.unwrap();
    let file = b.wait_for_download(downloads.path(), ".csv", WAIT).await.unwrap();
    let csv = std::fs::read_to_string(&file).unwrap();
    let mut lines = csv.lines();
    let head = lines.next().unwrap();
    assert!(head.starts_with("id,index,compound_id,smiles"), "CSV header: {head}");
    assert_eq!(lines.count(), 401, "a row per compound");
    assert!(csv.contains("aspirin,0,"), "the pasted ID is in the CSV");

    // ---- The pipeline page ----
    b.goto(&format!("{base}/pipeline")).await.unwrap();
    ok!(b, b.wait_for("tr[data-adapter=admet_ai]", WAIT).await);
    let replicas =
        b.execute("return [...document.querySelectorAll('tr[data-adapter]')].map(r => [r.dataset.adapter, r.children[1].textContent])", vec![]).await.unwrap();
    assert_eq!(replicas, json!([["rdkit_local", "1"], ["admet_ai", "1"], ["pubchem", "0"], ["chembl", "0"], ["scaffolds", "0"]]));
    shot(&b, "5-pipeline").await;
    no_console_errors(&b, "desktop pages").await;

    // ---- A phone-width window ----
    b.set_window_size(390, 844).await.unwrap();
    for (name, path, ready) in [
        ("6-phone-runs", "/".to_owned(), "table.runs"),
        ("7-phone-run", format!("/runs/{run_id}"), "table.results"),
        ("8-phone-compound", format!("/runs/{run_id}/compounds/0"), "svg.radial"),
    ] {
        b.goto(&format!("{base}{path}")).await.unwrap();
        ok!(b, b.wait_for(ready, WAIT).await);
        fits_the_window(&b, name).await;
        shot(&b, name).await;
    }
    b.set_window_size(1280, 900).await.unwrap();

    // ---- A 100,000-compound run's results page (figures) ----
    let big = big_run_like(&stack, &run_id, 100_000).await;
    b.goto(&format!("{base}/runs/{big}")).await.unwrap();
    ok!(b, b.wait_until("window.pharmforge.drawn.results !== undefined", WAIT).await);
    let big_input_order = b.execute("return window.pharmforge.drawn.results", vec![]).await.unwrap();
    b.goto(&format!("{base}/runs/{big}?sort=herg&order=desc")).await.unwrap();
    ok!(b, b.wait_until("window.pharmforge.drawn.results !== undefined", WAIT).await);
    let big_first = b.execute("return window.pharmforge.drawn.results", vec![]).await.unwrap();
    let pager = b.execute("return document.querySelector('.pager span').textContent", vec![]).await.unwrap();
    assert!(pager.as_str().unwrap().contains("100,000 compounds"), "{pager}");
    // A deep page of the same order.
    let started = std::time::Instant::now();
    act(&b, ".pager button:last-child", None).await;
    ok!(b, b.wait_until("document.querySelector('.pager span').textContent.startsWith('Page 2,000 of')", WAIT).await);
    let last_page_ms = started.elapsed().as_millis();
    shot(&b, "9-big-run").await;
    // Delete, once confirmed: back to the runs, and the run is gone.
    b.execute("window.confirm = (m) => { window.__asked = m; return true; }", vec![]).await.unwrap();
    act(&b, ".actions button.danger", None).await;
    ok!(b, b.wait_until("location.pathname === '/'", WAIT).await);
    let asked = b.execute("return window.__asked", vec![]).await.unwrap();
    assert!(asked.as_str().is_some_and(|m| m.contains(&big) && m.contains("cannot be undone")), "{asked}");
    assert_eq!(stack.get_json(&format!("/api/v1/runs/{big}")).await.0, 404);
    no_console_errors(&b, "all pages").await;

    let figures = json!({
        "first_load": first_load,
        "runs_page_first_render_ms": first_load["runs_drawn_ms"],
        "results_page_100k_first_render_ms": {"input_order": big_input_order, "sorted_by_herg_desc": big_first},
        "results_page_100k_last_page_ms": last_page_ms,
        "live_progress_lag_ms": summary(&lags),
        "screenshots": out_dir(),
    });
    println!("{}", serde_json::to_string_pretty(&figures).unwrap());
    b.quit().await.unwrap();
}

fn summary(v: &[f64]) -> Value {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let at = |q: f64| s[((s.len() - 1) as f64 * q).round() as usize];
    json!({"events": s.len(), "p50": at(0.5), "p95": at(0.95), "max": at(1.0)})
}

/// A finished run of `n` compounds made in Postgres from the results of
/// `like` (its compounds repeated, with their own indexes and scores), to
/// measure the results page of a large run without computing one.
async fn big_run_like(stack: &Stack, like: &str, n: i32) -> String {
    let pool = stack.db.pool().await;
    let big = format!("run_{:016x}", rand::random::<u64>());
    let pk: i64 = sqlx::query_scalar(
        "INSERT INTO pipeline_runs (run_id, status, pipeline_config, adapter_sequence, lockfile, total_compounds, completed_compounds, \
         stage_counts, steps_done, completed_at, results) \
         SELECT $1, 'completed', pipeline_config, adapter_sequence, lockfile, $2, $2, \
                jsonb_build_object('rdkit_local', jsonb_build_object('done', $2), 'admet_ai', jsonb_build_object('done', $2)), $2 * 2, now(), results \
         FROM pipeline_runs WHERE run_id = $3 RETURNING id",
    )
    .bind(&big)
    .bind(n)
    .bind(like)
    .fetch_one(&pool)
    .await
    .expect("the large run");
    sqlx::query(
        "INSERT INTO compound_results (run_pk, idx, compound_id, smiles, trace_id, status, step, properties, admet, pubchem, bioactivity, errors, scores, final_score, rank, admet_values, admet_model) \
         SELECT $1, g, $4 || '_' || g, c.smiles, c.trace_id, c.status, c.step, c.properties, \
                jsonb_set(c.admet, '{properties,hERG}', to_jsonb(r.herg)), c.pubchem, c.bioactivity, c.errors, c.scores, c.final_score, g + 1, \
                c.admet_values[:$5 - 1] || r.herg || c.admet_values[$5 + 1:], c.admet_model \
         FROM generate_series(0, $2 - 1) g \
         JOIN compound_results c ON c.run_pk = (SELECT id FROM pipeline_runs WHERE run_id = $3) AND c.idx = g % 400, \
         LATERAL (SELECT random() + g * 0 AS herg) r",
    )
    .bind(pk)
    .bind(n)
    .bind(like)
    .bind(&big)
    .bind(pharmforge_core::profile::admet_value_position("hERG").expect("hERG has a position") as i32 + 1)
    .execute(&pool)
    .await
    .expect("the large run's results");
    sqlx::query("INSERT INTO run_inputs (run_pk, idx, smiles, given_id) SELECT $1, idx, smiles, 'big-' || idx FROM compound_results WHERE run_pk = $1")
        .bind(pk)
        .execute(&pool)
        .await
        .expect("the large run's inputs");
    big
}

/// With `API_AUTH=jwt` the page asks for a token once, keeps it for the
/// browser session and sends it with every call: the API's (header), the
/// pictures' and the downloads' (`access_token`, which a link cannot avoid).
/// A refused token brings the question back, with the API's reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_authentication_on_the_page_asks_for_a_token_once_and_uses_it_everywhere() {
    use jsonwebtoken::{encode, EncodingKey, Header};
    if !browser_here() {
        return;
    }
    const SECRET: &str = "a-test-secret-that-is-long-enough-for-hs256!";
    let stack = Stack::start_with_env(&["rdkit_local"], &[("API_AUTH", "jwt"), ("API_JWT_HS256_SECRET", SECRET)]).await;
    let exp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 3600;
    let token = encode(&Header::default(), &json!({"sub": "alice", "exp": exp}), &EncodingKey::from_secret(SECRET.as_bytes())).unwrap();
    let created: Value = stack
        .http
        .post(stack.url("/api/v1/runs"))
        .bearer_auth(&token)
        .json(&json!({"compounds": [{"id": "ethanol", "smiles": "CCO"}, {"id": "phenol", "smiles": "Oc1ccccc1"}], "pipeline_config": {"adapters": ["rdkit_local"]}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let run_id = created["run_id"].as_str().expect("a run").to_owned();

    let (b, downloads) = open_browser().await;
    let base = stack.url("");
    b.goto(&format!("{base}/runs/{run_id}")).await.unwrap();
    let field = ok!(b, b.wait_for("#token", WAIT).await);
    assert_eq!(b.text(&b.find("#auth-state").await.unwrap()).await.unwrap(), "Not signed in");
    shot(&b, "10-sign-in").await;
    b.send_keys(&field, &format!("{token}\u{E007}")).await.unwrap();
    // The page it was asked for, with the run's pictures and downloads.
    ok!(b, b.wait_until("document.querySelectorAll('table.results tbody tr').length === 2", WAIT).await);
    ok!(b, b.wait_until("[...document.querySelectorAll('img.mol')].every(i => i.complete && i.naturalWidth > 0)", WAIT).await);
    assert!(b.text(&b.find("#auth-state").await.unwrap()).await.unwrap().starts_with("Signed in"));
    act(&b, ".downloads a[download$='.sdf']", None).await;
    let sdf = std::fs::read_to_string(b.wait_for_download(downloads.path(), ".sdf", WAIT).await.unwrap()).unwrap();
    assert_eq!(sdf.matches("$$$$").count(), 2, "{sdf}");
    // Asked once: another page of the same session needs no token.
    b.goto(&format!("{base}/pipeline")).await.unwrap();
    ok!(b, b.wait_for("tr[data-adapter=rdkit_local]", WAIT).await);
    // The API reference: every operation of the OpenAPI document, each one
    // tried from the page with the same token.
    b.goto(&format!("{base}/api/v1/docs")).await.unwrap();
    ok!(b, b.wait_for("details#listRuns", WAIT).await);
    let doc: Value = stack.http.get(stack.url("/api/v1/openapi.json")).send().await.unwrap().json().await.unwrap();
    let operations: usize =
        doc["paths"].as_object().unwrap().values().map(|item| ["get", "post", "delete"].iter().filter(|m| item.get(**m).is_some()).count()).sum();
    let shown = b.execute("return document.querySelectorAll('details.op').length", vec![]).await.unwrap();
    assert_eq!(shown.as_u64(), Some(operations as u64), "one entry per operation");
    b.execute("document.getElementById('listRuns').open = true", vec![]).await.unwrap();
    act(&b, "details#listRuns form.try button[type=submit]", None).await;
    ok!(b, b.wait_for("details#listRuns .try-out [data-status='200']", WAIT).await);
    let answer = b.execute("return document.querySelector('details#listRuns .try-out pre').textContent", vec![]).await.unwrap();
    assert!(answer.as_str().unwrap().contains(&run_id), "the token's own run is listed: {answer}");
    shot(&b, "13-api-reference").await;
    no_console_errors(&b, "signed-in pages").await;

    // A token the API refuses: asked again, with the API's reason.
    b.execute("sessionStorage.setItem('pharmforge.token', 'not.a.jwt')", vec![]).await.unwrap();
    b.goto(&format!("{base}/")).await.unwrap();
    ok!(b, b.wait_for("#token", WAIT).await);
    let reason = b.text(&ok!(b, b.wait_for("form .error", WAIT).await)).await.unwrap();
    assert!(reason.starts_with("The API refused the token"), "{reason}");
    b.quit().await.unwrap();
}

/// The operator's page and the web adapters' data: PubChem (its CID linked,
/// synonyms) and ChEMBL (its ID linked, the activity table) on a compound's
/// page; on the pipeline page, a dead letter with its reason and PubChem's
/// shared rate slowed down by its own throttling signal (Yellow: ×2).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_data_on_the_compound_page_and_dead_letters_and_rate_limits_on_the_pipeline_page() {
    use pharmforge_tests::fakes::chembl::{ChemblFaults, FakeChembl};
    use pharmforge_tests::fakes::pubchem::{FakePubchem, PubchemFaults};
    if !browser_here() {
        return;
    }
    let pubchem = FakePubchem::start(PubchemFaults::none()).await;
    let chembl = FakeChembl::start(ChemblFaults::none()).await;
    pubchem.set_throttle("Request Count status: Yellow (60%), Request Time status: Green (10%), Service status: Green (20%)");
    let mut env = pharmforge_tests::fakes::service_env(&pubchem, &chembl, Some(100));
    env.push(("PUBCHEM_SYNONYMS", "3".into()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, &**v)).collect();
    let stack = Stack::start_with_env(&["rdkit_local", "pubchem", "chembl"], &env).await;
    let smiles = distinct_molecules(30, &["c1ccccc1", "c1ccncc1"]);
    let run = stack.create_run(json!({"input_smiles": smiles, "pipeline_config": {"adapters": ["rdkit_local", "pubchem", "chembl"]}})).await;
    let run_id = run["run_id"].as_str().unwrap().to_owned();
    stack.wait_finished(&run_id, Duration::from_secs(120)).await;
    let results = stack.all_results(&run_id).await;
    let known = results
        .iter()
        .find(|r| {
            r["pubchem"]["cid"].is_i64()
                && r["bioactivity"]["molecule_chembl_id"].is_string()
                && r["bioactivity"]["activities"].as_array().is_some_and(|a| !a.is_empty())
        })
        .expect("a compound both fakes know");
    let index = known["index"].as_i64().unwrap();

    // A message no adapter can read: dead-lettered by rdkit_local, with why.
    stack.publish_unreadable("rdkit_local").await;
    wait_for_pipeline(&stack, "a dead letter", |p| p["adapters"][0]["dead_letters"]["total"] == 1).await;

    let (b, _downloads) = open_browser().await;
    let base = stack.url("");
    b.goto(&format!("{base}/runs/{run_id}/compounds/{index}")).await.unwrap();
    ok!(b, b.wait_until("[...document.querySelectorAll('section.card h2')].some(h => h.textContent === 'ChEMBL')", WAIT).await);
    let cid = known["pubchem"]["cid"].as_i64().unwrap();
    let link = b.execute(&format!("return !!document.querySelector('a[href=\"https://pubchem.ncbi.nlm.nih.gov/compound/{cid}\"]')"), vec![]).await.unwrap();
    assert_eq!(link, json!(true), "the CID links to PubChem");
    let chembl_id = known["bioactivity"]["molecule_chembl_id"].as_str().unwrap();
    let link =
        b.execute(&format!("return !!document.querySelector('a[href=\"https://www.ebi.ac.uk/chembl/explore/compound/{chembl_id}\"]')"), vec![]).await.unwrap();
    assert_eq!(link, json!(true), "the ChEMBL ID links to ChEMBL");
    let synonyms = b.execute("return [...document.querySelectorAll('ul.synonyms li')].map(li => li.textContent)", vec![]).await.unwrap();
    assert_eq!(synonyms, known["pubchem"]["synonyms"]);
    let activities = b.execute("return document.querySelectorAll('table.activities tbody tr').length", vec![]).await.unwrap();
    assert_eq!(activities.as_u64().map(|n| n as usize), known["bioactivity"]["activities"].as_array().map(Vec::len));
    shot(&b, "11-compound-web").await;
    no_console_errors(&b, "compound page").await;

    // Cancel a run still going, once confirmed (PubChem's Yellow keeps it slow).
    let slow =
        stack.create_run(json!({"input_smiles": distinct_molecules(400, &["C1CCCCC1"]), "pipeline_config": {"adapters": ["rdkit_local", "pubchem"]}})).await;
    let slow = slow["run_id"].as_str().unwrap().to_owned();
    b.goto(&format!("{base}/runs/{slow}")).await.unwrap();
    ok!(b, b.wait_for(".actions button.danger-outline", WAIT).await);
    b.execute("window.confirm = (m) => { window.__asked = m; return true; }", vec![]).await.unwrap();
    act(&b, ".actions button.danger-outline", None).await;
    ok!(b, b.wait_until("document.querySelector('.run-summary .badge').textContent === 'cancelled'", WAIT).await);
    let asked = b.execute("return window.__asked", vec![]).await.unwrap();
    assert!(asked.as_str().is_some_and(|m| m.starts_with(&format!("Cancel {slow}?"))), "{asked}");
    assert_eq!(stack.get_json(&format!("/api/v1/runs/{slow}")).await.1["status"], "cancelled");
    assert!(b.find_all(".actions button.danger-outline").await.unwrap().is_empty(), "a cancelled run offers no cancel");

    b.goto(&format!("{base}/pipeline")).await.unwrap();
    ok!(b, b.wait_for("tr[data-adapter=pubchem]", WAIT).await);
    let dead = b.execute("return document.querySelector('tr[data-adapter=rdkit_local]').lastElementChild.textContent", vec![]).await.unwrap();
    assert_eq!(dead, json!("1"));
    let (_, overview) = stack.get_json("/api/v1/pipeline").await;
    let reason = overview["adapters"][0]["dead_letters"]["recent"][0]["reason"].as_str().expect("a reason").to_owned();
    let shown = b
        .execute("return [...document.querySelectorAll('section.card')].find(s => s.querySelector('h2').textContent === 'Dead letters').innerText", vec![])
        .await
        .unwrap();
    assert!(shown.as_str().unwrap().contains(&reason), "the dead letter's reason {reason:?} is not shown: {shown}");
    let pubchem_row = b
        .execute("return [...document.querySelectorAll('th[scope=row]')].find(th => th.textContent === 'pubchem').parentElement.innerText", vec![])
        .await
        .unwrap();
    assert!(pubchem_row.as_str().unwrap().contains("×2 (Yellow)"), "{pubchem_row}");
    shot(&b, "12-pipeline-dead-letters").await;
    no_console_errors(&b, "pipeline page").await;
    b.quit().await.unwrap();
}

/// A section the page has no card of its own for (`scaffolds`) is drawn
/// from the adapter registry, under its adapter's label, as a table of its
/// fields (README, "Adding an adapter": the page follows the registry).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_section_without_a_card_of_its_own_is_shown_as_a_table_of_its_fields() {
    if !browser_here() {
        return;
    }
    let stack = Stack::start(&["rdkit_local", "scaffolds"]).await;
    let run = stack.create_run(json!({"input_smiles": ["Cc1cc(Oc2nccc(CCC)c2)ccc1"], "pipeline_config": {"adapters": ["rdkit_local", "scaffolds"]}})).await;
    let run_id = run["run_id"].as_str().unwrap().to_owned();
    assert_eq!(stack.wait_finished(&run_id, WAIT).await["status"], "completed");
    let (b, _downloads) = open_browser().await;
    b.goto(&format!("{}/runs/{run_id}/compounds/0", stack.url(""))).await.unwrap();
    let card = "[...document.querySelectorAll('section.card')].find(c => c.querySelector('h2').textContent === 'Scaffolds')";
    ok!(b, b.wait_until(&format!("!!{card}"), WAIT).await);
    let rows = b
        .execute(&format!("return [...{card}.querySelectorAll('table.kv tr')].map(r => [r.children[0].textContent, r.children[1].textContent])"), vec![])
        .await
        .unwrap();
    let mut rows: Vec<(String, String)> = serde_json::from_value(rows).unwrap();
    rows.sort();
    assert_eq!(rows[0], ("generic_scaffold".into(), "C1CCC(CC2CCCCC2)CC1".into()));
    assert!(rows[1].0 == "ring_systems" && rows[1].1.starts_with('2'), "{rows:?}");
    assert_eq!(rows[2], ("scaffold".into(), "c1ccc(Oc2ccccn2)cc1".into()));
    shot(&b, "14-compound-scaffolds").await;
    no_console_errors(&b, "the compound page with scaffolds").await;
}
