//! Each subcommand: a request or two and what to print. Data (run ids,
//! tables, JSON) goes to stdout; progress, warnings and notes to stderr, so
//! `pharmforge submit x.smi | xargs ...` and redirections get only the data.

use crate::cli::{Cli, Command, ExportArgs, SortOrder, SubmitArgs};
use crate::client::Client;
use crate::error::{exit, CliError};
use crate::formats::{self, ExportFormat};
use crate::models::{CompoundResult, Profiles, Run, RunsPage};
use crate::table::{self, Align, Table};
use crate::watch::{self, View};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use reqwest::blocking::Body;
use serde_json::value::RawValue;
use std::fs::File;
use std::io::{BufRead, BufReader, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

/// Runs the command; its exit status (see [`crate::error::exit`]).
pub fn run(cli: Cli) -> Result<i32, CliError> {
    let client = Client::new(&cli.url, cli.token)?;
    let json = cli.json;
    match cli.command {
        Command::Submit(args) => submit(&client, args, json),
        Command::Watch { run } => {
            let status = watch::watch(&client, &run, &mut View::choose(json))?;
            Ok(status.exit_code())
        }
        Command::Export(args) => export(&client, args).map(|()| exit::COMPLETED),
        Command::List { status, page, page_size } => {
            let mut query = vec![("page", page.to_string()), ("page_size", page_size.to_string())];
            if let Some(s) = status {
                query.push(("status", s.as_str().to_owned()));
            }
            let body = client.get(&["runs"], &query)?;
            if json {
                return print_raw(&body);
            }
            let page: RunsPage = parse(&body, "the list of runs")?;
            print(&runs_table(&page))?;
            Ok(exit::COMPLETED)
        }
        Command::Show { run } => {
            let body = client.get(&["runs", &run], &[])?;
            if json {
                return print_raw(&body);
            }
            print(&run_details(&parse(&body, "the run")?))?;
            Ok(exit::COMPLETED)
        }
        Command::Results { run, sort, limit } => results(&client, &run, sort, limit, json),
        Command::Rescore { run, scoring } => rescore(&client, &run, &scoring, json),
        Command::Profiles => {
            let body = client.get(&["scoring", "profiles"], &[])?;
            if json {
                return print_raw(&body);
            }
            let listed: Profiles = parse(&body, "the scoring profiles")?;
            let mut out = String::new();
            for p in &listed.profiles {
                let default = if p.name == listed.default { " (default)" } else { "" };
                out.push_str(&format!("{}{default}\n  {}\n", p.name, p.description));
            }
            print(&out)?;
            Ok(exit::COMPLETED)
        }
        Command::Cancel { run } => {
            let body = client.post(&["runs", &run, "cancel"])?;
            if json {
                return print_raw(&body);
            }
            let run: Run = parse(&body, "the run")?;
            print(&format!("run {} {}\n", run.run_id, run.status))?;
            Ok(exit::COMPLETED)
        }
        Command::Delete { run } => {
            client.delete(&["runs", &run])?;
            if !json {
                print(&format!("run {run} deleted\n"))?;
            }
            Ok(exit::COMPLETED)
        }
    }
}

fn submit(client: &Client, args: SubmitArgs, json: bool) -> Result<i32, CliError> {
    let (body, format, gzipped, upload_bar) = if args.file.as_os_str() == "-" {
        let format = args.format.ok_or_else(|| CliError::Usage("reading compounds from stdin (-): say which format with --format smi|csv|sdf".into()))?;
        let mut stdin = BufReader::with_capacity(64 * 1024, std::io::stdin());
        let gzipped = formats::is_gzip(stdin.fill_buf().map_err(CliError::io("reading stdin"))?);
        (Body::new(stdin), format, gzipped, None)
    } else {
        let path = &args.file;
        let from_name = formats::input_from_name(path);
        let format = args.format.or(from_name.map(|(f, _)| f)).ok_or_else(|| {
            CliError::Usage(format!("cannot tell the format of {} from its name (.smi, .csv, .sdf, optionally .gz): give --format", path.display()))
        })?;
        let file = File::open(path).map_err(CliError::io(format!("cannot open {}", path.display())))?;
        let len = file.metadata().map_err(CliError::io(format!("cannot read {}", path.display())))?.len();
        let mut head = [0u8; 2];
        let gzipped = match from_name {
            Some((_, gz)) => gz,
            None => (&file).read(&mut head).is_ok_and(|n| formats::is_gzip(&head[..n])),
        };
        let file = reopen_if_read(file, path, from_name.is_none())?;
        // Bytes sent, for a person waiting on a large upload.
        let bar = upload_progress(len, json);
        let body = match &bar {
            Some(bar) => Body::sized(bar.wrap_read(file), len),
            None => Body::sized(file, len),
        };
        (body, format, gzipped, bar)
    };
    let mut query = Vec::new();
    if !args.adapters.is_empty() {
        query.push(("adapters", args.adapters.join(",")));
    }
    if let Some(p) = args.priority {
        query.push(("priority", p.as_str().to_owned()));
    }
    if let Some(s) = &args.scoring {
        query.push(("scoring", s.clone()));
    }
    if let Some(c) = &args.smiles_column {
        query.push(("smiles_column", c.clone()));
    }
    if let Some(c) = &args.id_column {
        query.push(("id_column", c.clone()));
    }
    let answer = client.upload(body, format, gzipped, &query);
    if let Some(bar) = upload_bar {
        bar.finish_and_clear();
    }
    let answer = answer?;
    let run: Run = parse(&answer, "the new run")?;
    if json {
        print_raw(&answer)?;
    } else {
        print(&format!("{}\n", run.run_id))?;
    }
    if !(args.watch || args.output.is_some()) {
        return Ok(exit::COMPLETED);
    }
    let status = watch::watch(client, &run.run_id, &mut View::choose(json))?;
    if let Some(output) = args.output {
        // A failed or cancelled run's results so far are still worth having.
        export(client, ExportArgs { run: run.run_id.clone(), output, format: None, sort: SortOrder::Index })?;
    }
    Ok(status.exit_code())
}

/// `rescore RUN SCORING`: a built-in's name, or a file holding a profile
/// (JSON); a name that is also a file's is read as the file.
fn rescore(client: &Client, run: &str, scoring: &str, json: bool) -> Result<i32, CliError> {
    let path = Path::new(scoring);
    let profile = if path.is_file() {
        let text = std::fs::read_to_string(path).map_err(CliError::io(format!("cannot read {}", path.display())))?;
        serde_json::from_str::<serde_json::Value>(&text).map_err(|e| CliError::Usage(format!("{} is not JSON: {e}", path.display())))?
    } else {
        serde_json::Value::String(scoring.to_owned())
    };
    let body = client.post_json(&["runs", run, "rescore"], &serde_json::json!({"scoring": profile}))?;
    if json {
        return print_raw(&body);
    }
    let answer: serde_json::Value = parse(&body, "the rescored run")?;
    let r = &answer["rescored"];
    print(&format!(
        "run {run} rescored: {} of {} compounds ranked in {} s\n",
        r["ranked"].as_u64().unwrap_or(0),
        r["compounds"].as_u64().unwrap_or(0),
        r["seconds"].as_f64().unwrap_or(0.0)
    ))?;
    Ok(exit::COMPLETED)
}

/// `file` from its start: a file whose first bytes were read to look for
/// gzip's magic number is opened again.
fn reopen_if_read(file: File, path: &Path, was_read: bool) -> Result<File, CliError> {
    if !was_read {
        return Ok(file);
    }
    File::open(path).map_err(CliError::io(format!("cannot open {}", path.display())))
}

fn upload_progress(len: u64, json: bool) -> Option<ProgressBar> {
    if json || !std::io::stderr().is_terminal() || len < 1 << 20 {
        return None;
    }
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template("uploading [{bar:30.cyan/white}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}")
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style.progress_chars("=> "));
    Some(bar)
}

fn export(client: &Client, args: ExportArgs) -> Result<(), CliError> {
    let to_stdout = args.output.as_os_str() == "-";
    let format = match (args.format, ExportFormat::from_name(&args.output)) {
        (Some(f), _) | (None, Some(f)) => f,
        (None, None) if to_stdout => ExportFormat::Csv,
        (None, None) => {
            return Err(CliError::Usage(format!("cannot tell the export format from {} (.csv, .sdf, .jsonl): give --format", args.output.display())))
        }
    };
    let mut response = client.export(&args.run, format, args.sort == SortOrder::Rank)?;
    let run_status = response.headers().get("x-run-status").and_then(|v| v.to_str().ok()).unwrap_or("");
    if run_status == "running" || run_status == "pending" {
        eprintln!("warning: run {} is still {run_status}: the export holds only the results so far", args.run);
    }
    if to_stdout {
        let mut out = std::io::stdout().lock();
        copy_body(client, &mut response, &mut out, "writing to stdout")?;
        return out.flush().map_err(CliError::io("writing to stdout"));
    }
    // Written beside the target and renamed when complete: a broken
    // connection never leaves a file that looks like a whole export.
    let part = part_path(&args.output);
    let written = (|| {
        let file = File::create(&part).map_err(CliError::io(format!("cannot create {}", part.display())))?;
        let mut writer = std::io::BufWriter::with_capacity(256 * 1024, file);
        let n = copy_body(client, &mut response, &mut writer, &format!("writing {}", part.display()))?;
        let file = writer.into_inner().map_err(|e| CliError::Io { context: format!("writing {}", part.display()), source: e.into_error() })?;
        file.sync_all().map_err(CliError::io(format!("writing {}", part.display())))?;
        std::fs::rename(&part, &args.output).map_err(CliError::io(format!("cannot move {} to {}", part.display(), args.output.display())))?;
        Ok(n)
    })();
    match written {
        Ok(n) => {
            eprintln!("wrote {} ({} bytes)", args.output.display(), n);
            Ok(())
        }
        Err(e) => {
            let _ = std::fs::remove_file(&part);
            Err(e)
        }
    }
}

fn part_path(output: &Path) -> PathBuf {
    let mut name = output.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".part");
    output.with_file_name(name)
}

/// Copies a response body, telling a broken connection from a failed write.
fn copy_body(client: &Client, body: &mut impl Read, out: &mut impl Write, writing: &str) -> Result<u64, CliError> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        let n = body.read(&mut buf).map_err(|e| client.stream_error(e))?;
        if n == 0 {
            return Ok(total);
        }
        out.write_all(&buf[..n]).map_err(CliError::io(writing))?;
        total += n as u64;
    }
}

fn results(client: &Client, run: &str, sort: SortOrder, limit: u64, json: bool) -> Result<i32, CliError> {
    let page_size = limit.min(100);
    let mut rows: Vec<Box<RawValue>> = Vec::new();
    let mut total = 0;
    for page in 1.. {
        let mut query = vec![("page", page.to_string()), ("page_size", page_size.to_string())];
        if sort == SortOrder::Rank {
            query.push(("sort", "rank".into()));
        }
        let body = client.get(&["runs", run, "results"], &query)?;
        let batch: crate::models::ResultsPage = parse(&body, "the results")?;
        total = batch.total;
        let got = batch.results.len();
        rows.extend(batch.results);
        if got == 0 || rows.len() as u64 >= limit {
            break;
        }
    }
    rows.truncate(limit as usize);
    if json {
        // Each result as the API sent it (a `Value` would sort its keys).
        let results: Vec<&str> = rows.iter().map(|r| r.get()).collect();
        print(&format!("{{\"results\":[{}],\"total\":{total}}}\n", results.join(",")))?;
        return Ok(exit::COMPLETED);
    }
    let results: Vec<CompoundResult> = rows.iter().map(|r| parse(r.get().as_bytes(), "a result")).collect::<Result<_, _>>()?;
    let mut text = results_table(&results);
    text.push_str(&format!("{} of {} results\n", results.len(), total));
    print(&text)?;
    Ok(exit::COMPLETED)
}

/// Runs: id, status, priority, progress, compounds, created.
pub fn runs_table(page: &RunsPage) -> String {
    let mut t = Table::new(&[
        ("RUN ID", Align::Left),
        ("STATUS", Align::Left),
        ("PRIORITY", Align::Left),
        ("PROGRESS", Align::Right),
        ("COMPOUNDS", Align::Right),
        ("CREATED", Align::Left),
    ]);
    for r in &page.runs {
        t.row(vec![
            r.run_id.clone(),
            r.status.to_string(),
            r.priority.clone().unwrap_or_default(),
            format!("{:.1}%", r.progress * 100.0),
            compounds_cell(r),
            r.created_at.as_deref().map(table::timestamp).unwrap_or_default(),
        ]);
    }
    let pages = page.total.div_ceil(page.page_size.max(1)).max(1);
    let mut out = if t.is_empty() { String::from("no runs\n") } else { t.render() };
    let runs = if page.total == 1 { "run" } else { "runs" };
    out.push_str(&format!("page {} of {pages} ({} {runs})\n", page.page, page.total));
    out
}

fn compounds_cell(r: &Run) -> String {
    let mut cell = format!("{}/{}", r.compounds.completed, r.compounds.total);
    if r.compounds.failed > 0 {
        cell.push_str(&format!(" ({} failed)", r.compounds.failed));
    }
    cell
}

/// One run: its fields, then a line per stage.
pub fn run_details(run: &Run) -> String {
    let mut out = String::new();
    let mut field = |name: &str, value: String| out.push_str(&format!("{name:<10} {value}\n"));
    field("run", run.run_id.clone());
    field("status", format!("{} ({:.1}%)", run.status, run.progress * 100.0));
    if let Some(p) = &run.priority {
        field("priority", p.clone());
    }
    if let Some(u) = &run.user_id {
        field("user", u.clone());
    }
    if let Some(t) = &run.created_at {
        field("created", table::timestamp(t));
    }
    if let Some(t) = &run.completed_at {
        field("finished", table::timestamp(t));
    }
    field("compounds", format!("{} completed, {} failed, of {}", run.compounds.completed, run.compounds.failed, run.compounds.total));
    if let Some(e) = &run.error_message {
        field("error", e.clone());
    }
    if let Some(current) = run.scoring_history.last() {
        let profile = &current["profile"];
        let shown = match current["name"].as_str() {
            Some(name) => name.to_owned(),
            None => format!("{} of {} objectives", profile["method"].as_str().unwrap_or("weighted_mean"), profile["objectives"].as_array().map_or(0, Vec::len)),
        };
        let times = run.scoring_history.len();
        field("scoring", if times > 1 { format!("{shown} (rescored {} times)", times - 1) } else { shown });
    }
    if !run.stages.0.is_empty() {
        let mut t =
            Table::new(&[("STAGE", Align::Left), ("DONE", Align::Right), ("FAILED", Align::Right), ("SKIPPED", Align::Right), ("PENDING", Align::Right)]);
        for (name, c) in &run.stages.0 {
            t.row(vec![name.clone(), c.done.to_string(), c.failed.to_string(), c.skipped.to_string(), c.pending.to_string()]);
        }
        out.push('\n');
        out.push_str(&t.render());
    }
    out
}

/// Properties worth a column when the results have them: `(field, header, decimals)`.
const KEY_PROPERTIES: [(&str, &str, usize); 3] = [("molecular_weight", "MW", 2), ("logp", "LOGP", 2), ("qed", "QED", 3)];
const SMILES_WIDTH: usize = 40;

/// Results: index, id, SMILES (cut), status, score, rank and the key
/// properties any of them has.
pub fn results_table(results: &[CompoundResult]) -> String {
    let property = |r: &CompoundResult, key: &str| r.properties.as_ref().and_then(|p| p.get(key)).and_then(|v| v.as_f64());
    let shown: Vec<_> = KEY_PROPERTIES.iter().filter(|(key, _, _)| results.iter().any(|r| property(r, key).is_some())).collect();
    let mut columns =
        vec![("INDEX", Align::Right), ("ID", Align::Left), ("SMILES", Align::Left), ("STATUS", Align::Left), ("SCORE", Align::Right), ("RANK", Align::Right)];
    columns.extend(shown.iter().map(|(_, header, _)| (*header, Align::Right)));
    let mut t = Table::new(&columns);
    for r in results {
        let mut row = vec![
            r.index.to_string(),
            r.id.clone().unwrap_or_else(|| r.compound_id.clone()),
            table::truncate(&r.smiles, SMILES_WIDTH),
            r.status.clone(),
            r.final_score.map(|s| table::number(s, 3)).unwrap_or_default(),
            r.rank.map(|k| k.to_string()).unwrap_or_default(),
        ];
        row.extend(shown.iter().map(|(key, _, decimals)| property(r, key).map(|v| table::number(v, *decimals)).unwrap_or_default()));
        t.row(row);
    }
    if t.is_empty() {
        return "no results yet\n".into();
    }
    t.render()
}

fn parse<'a, T: serde::Deserialize<'a>>(body: &'a [u8], what: &str) -> Result<T, CliError> {
    serde_json::from_slice(body).map_err(|e| CliError::Protocol(format!("the API's answer is not {what} as expected: {e}")))
}

fn print(text: &str) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes()).and_then(|()| out.flush()).map_err(CliError::io("writing to stdout"))
}

/// The API's JSON as it came, on one line.
fn print_raw(body: &[u8]) -> Result<i32, CliError> {
    let text = String::from_utf8_lossy(body);
    print(&format!("{}\n", text.trim_end()))?;
    Ok(exit::COMPLETED)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(json: &str) -> Run {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn the_runs_table_has_one_line_per_run_and_a_page_line() {
        let page = RunsPage {
            runs: vec![run(r#"{"run_id": "3f1c", "status": "running", "priority": "high", "progress": 0.5,
                    "compounds": {"total": 10, "completed": 4, "failed": 1},
                    "created_at": "2026-11-29T21:08:21.123456Z"}"#)],
            total: 41,
            page: 2,
            page_size: 20,
        };
        assert_eq!(
            runs_table(&page),
            "RUN ID  STATUS   PRIORITY  PROGRESS        COMPOUNDS  CREATED\n\
             3f1c    running  high         50.0%  4/10 (1 failed)  2026-11-29 21:08:21\n\
             page 2 of 3 (41 runs)\n"
        );
    }

    #[test]
    fn the_results_table_shows_key_properties_only_when_present() {
        let rows: Vec<CompoundResult> = serde_json::from_str(
            r#"[{"id": "ethanol", "compound_id": "c0", "index": 0, "smiles": "CCO", "status": "completed",
                 "properties": {"molecular_weight": 46.069, "qed": 0.40680, "tpsa": 20.23}, "final_score": 0.5, "rank": 1},
                {"compound_id": "c1", "index": 1, "smiles": "CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC", "status": "failed",
                 "properties": null, "final_score": null, "rank": null}]"#,
        )
        .unwrap();
        assert_eq!(
            results_table(&rows),
            "INDEX  ID       SMILES                                    STATUS     SCORE  RANK     MW    QED\n\
             \x20   0  ethanol  CCO                                       completed    0.5     1  46.07  0.407\n\
             \x20   1  c1       CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC…  failed\n"
        );
    }

    #[test]
    fn details_list_the_stages_in_run_order() {
        let r = run(r#"{"run_id": "r1", "status": "failed", "progress": 1.0, "priority": "normal",
                "compounds": {"total": 2, "completed": 1, "failed": 1}, "error_message": "boom",
                "stages": {"rdkit_local": {"pending": 0, "done": 1, "failed": 1, "skipped": 0},
                           "admet_ai": {"pending": 0, "done": 1, "failed": 0, "skipped": 1}}}"#);
        let text = run_details(&r);
        assert!(text.starts_with("run        r1\nstatus     failed (100.0%)\n"), "{text}");
        assert!(text.contains("error      boom\n"), "{text}");
        let stages = text.split_once("\n\n").unwrap().1;
        assert_eq!(
            stages,
            "STAGE        DONE  FAILED  SKIPPED  PENDING\n\
             rdkit_local     1       1        0        0\n\
             admet_ai        1       0        1        0\n"
        );
    }

    #[test]
    fn an_export_is_written_beside_its_target_first() {
        assert_eq!(part_path(Path::new("out/x.csv")), Path::new("out/x.csv.part"));
    }
}
