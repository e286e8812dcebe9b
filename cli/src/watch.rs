//! Following a run through its event stream until it ends: reconnecting
//! with `Last-Event-ID` when the connection drops, and showing each event as
//! progress bars (a person at a terminal) or as one JSON line (a script, or
//! `--json`).

use crate::client::Client;
use crate::error::CliError;
use crate::models::{Run, RunStatus};
use crate::sse::{SseEvent, SseParser};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
use std::fmt;
use std::io::{IsTerminal, Read, Write};
use std::time::Duration;

/// Reconnections in a row without an event in between before giving up.
const MAX_RECONNECTS: u32 = 5;
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// Follows `run_id` until its final event; returns how it ended.
pub fn watch(client: &Client, run_id: &str, view: &mut View) -> Result<RunStatus, CliError> {
    let mut last_id: Option<String> = None;
    let mut server_retry: Option<Duration> = None;
    let mut failures = 0u32;
    loop {
        let outcome =
            client.events(run_id, last_id.as_deref()).and_then(|response| follow(client, response, view, &mut last_id, &mut server_retry, &mut failures));
        let error = match outcome {
            Ok(Some(status)) => return Ok(status),
            // The server went away cleanly before the end (a restart, a proxy's limit).
            Ok(None) => CliError::Protocol("the event stream closed before the run ended".into()),
            Err(e) if e.is_transient() => e,
            Err(e) => return Err(e),
        };
        failures += 1;
        if failures > MAX_RECONNECTS {
            return Err(error);
        }
        let delay = backoff(server_retry.unwrap_or(FIRST_BACKOFF), failures);
        view.note(&format!("{error}; reconnecting in {:.1} s ({failures}/{MAX_RECONNECTS})", delay.as_secs_f64()));
        std::thread::sleep(delay);
    }
}

/// The delay before reconnection number `attempt` (from 1): doubling from
/// `base`, at most [`MAX_BACKOFF`].
pub fn backoff(base: Duration, attempt: u32) -> Duration {
    base.saturating_mul(1 << attempt.saturating_sub(1).min(16)).min(MAX_BACKOFF)
}

/// Reads one connection's events; `Some(status)` at the final event, `None`
/// if the stream ends without one.
fn follow(
    client: &Client,
    mut response: reqwest::blocking::Response,
    view: &mut View,
    last_id: &mut Option<String>,
    server_retry: &mut Option<Duration>,
    failures: &mut u32,
) -> Result<Option<RunStatus>, CliError> {
    let mut parser = SseParser::new();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = response.read(&mut buf).map_err(|e| client.stream_error(e))?;
        if n == 0 {
            return Ok(None);
        }
        let events = parser.feed(&buf[..n]);
        if let Some(ms) = parser.retry_ms() {
            *server_retry = Some(Duration::from_millis(ms));
        }
        for event in events {
            *failures = 0;
            if event.id.is_some() {
                last_id.clone_from(&event.id);
            }
            if let Some(status) = view.event(&event)? {
                return Ok(Some(status));
            }
        }
    }
}

/// The run status a final event's name announces.
pub fn final_status(event_name: &str) -> Option<RunStatus> {
    match event_name {
        "completed" | "failed" | "cancelled" => Some(RunStatus::parse(event_name)),
        _ => None,
    }
}

/// How events are shown.
pub enum View {
    Bars(Bars),
    JsonLines,
}

impl View {
    /// Bars when a person watches stderr, JSON lines otherwise or when asked.
    pub fn choose(json: bool) -> View {
        if json || !std::io::stderr().is_terminal() {
            View::JsonLines
        } else {
            View::Bars(Bars::new())
        }
    }

    /// Shows one event; the run's status when it is the final one.
    fn event(&mut self, event: &SseEvent) -> Result<Option<RunStatus>, CliError> {
        let done = final_status(&event.event);
        match self {
            View::JsonLines => {
                let line = json_line(event);
                let mut out = std::io::stdout().lock();
                writeln!(out, "{line}").and_then(|()| out.flush()).map_err(CliError::io("writing to stdout"))?;
            }
            View::Bars(bars) => {
                if event.event == "progress" || done.is_some() {
                    if let Ok(run) = serde_json::from_str::<Run>(&event.data) {
                        bars.update(&run);
                        if let Some(status) = &done {
                            bars.finish(&run, status);
                        }
                    }
                }
            }
        }
        Ok(done)
    }

    /// A message for the person watching, above the bars when there are some.
    pub fn note(&self, message: &str) {
        match self {
            View::Bars(bars) => bars.multi.suspend(|| eprintln!("{message}")),
            View::JsonLines => eprintln!("{message}"),
        }
    }
}

/// `{"event": name, "id": id, "data": data}`, the data embedded as the JSON
/// it is (or as a string when it is not JSON).
pub fn json_line(event: &SseEvent) -> String {
    let data = serde_json::from_str::<&serde_json::value::RawValue>(&event.data)
        .map(|raw| raw.get().to_owned())
        .unwrap_or_else(|_| serde_json::Value::String(event.data.clone()).to_string());
    format!(
        "{{\"event\":{},\"id\":{},\"data\":{}}}",
        serde_json::Value::String(event.event.clone()),
        event.id.as_ref().map_or("null".into(), |id| serde_json::Value::String(id.clone()).to_string()),
        data
    )
}

/// One bar per stage and one for the run, on stderr.
pub struct Bars {
    multi: MultiProgress,
    overall: ProgressBar,
    stages: Vec<(String, ProgressBar)>,
}

const PREFIX_WIDTH: usize = 12;

impl Bars {
    pub fn new() -> Self {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let overall = multi.add(ProgressBar::new(0).with_style(style("{prefix:>12.bold} [{bar:30.green/white}] {pos}/{len} compounds  {msg}")));
        overall.set_prefix("run");
        Bars { multi, overall, stages: Vec::new() }
    }

    fn update(&mut self, run: &Run) {
        let total = run.compounds.total;
        self.overall.set_length(total);
        self.overall.set_position(run.compounds.completed + run.compounds.failed);
        self.overall.set_message(overall_message(run));
        for (name, counts) in &run.stages.0 {
            let bar = match self.stages.iter().find(|(n, _)| n == name) {
                Some((_, bar)) => bar.clone(),
                None => {
                    let bar =
                        self.multi.add(ProgressBar::new(total).with_style(style("{prefix:>12} [{bar:30.cyan/white}] {pos}/{len} {rate:>9} {eta:>10} {msg}")));
                    bar.set_prefix(crate::table::truncate(name, PREFIX_WIDTH));
                    self.stages.push((name.clone(), bar.clone()));
                    bar
                }
            };
            bar.set_length(total);
            bar.set_position(counts.finished());
            let mut notes = Vec::new();
            if counts.failed > 0 {
                notes.push(format!("{} failed", counts.failed));
            }
            if counts.skipped > 0 {
                notes.push(format!("{} skipped", counts.skipped));
            }
            bar.set_message(notes.join(", "));
        }
    }

    fn finish(&mut self, run: &Run, status: &RunStatus) {
        for bar in self.stages.iter().map(|(_, b)| b).chain([&self.overall]) {
            if *status == RunStatus::Completed {
                bar.finish();
            } else {
                bar.abandon();
            }
        }
        let mut line =
            format!("run {} {status}: {} of {} compounds completed, {} failed", run.run_id, run.compounds.completed, run.compounds.total, run.compounds.failed);
        if let Some(message) = &run.error_message {
            line.push_str(&format!(" ({message})"));
        }
        // Below the finished bars, which stay on screen.
        eprintln!("{line}");
    }
}

impl Default for Bars {
    fn default() -> Self {
        Self::new()
    }
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
        .with_key("rate", |s: &ProgressState, w: &mut dyn fmt::Write| {
            let _ = w.write_str(&rate(s.pos(), s.per_sec()));
        })
        .with_key("eta", |s: &ProgressState, w: &mut dyn fmt::Write| {
            let _ = w.write_str(&eta(s.pos(), s.len(), s.per_sec()));
        })
}

/// Compounds per second; blank before a stage has passed any (indicatif's
/// own key prints every digit of the float and "0/s" for a stage not started).
pub fn rate(pos: u64, per_sec: f64) -> String {
    match per_sec {
        r if pos == 0 || !r.is_finite() || r < 0.05 => String::new(),
        r if r < 10.0 => format!("{r:.1}/s"),
        r => format!("{r:.0}/s"),
    }
}

/// Time left at the current rate; blank when done or not yet moving.
pub fn eta(pos: u64, len: Option<u64>, per_sec: f64) -> String {
    let left = len.unwrap_or(0).saturating_sub(pos);
    if left == 0 || pos == 0 || !per_sec.is_finite() || per_sec < 0.05 {
        return String::new();
    }
    let secs = (left as f64 / per_sec).ceil() as u64;
    let text = match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m{:02}s", s / 60, s % 60),
        s => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
    };
    format!("ETA {text}")
}

/// The overall line's words: status, percentage, failures so far.
pub fn overall_message(run: &Run) -> String {
    let mut msg = format!("{} · {:.1}%", run.status, run.progress * 100.0);
    if run.compounds.failed > 0 {
        msg.push_str(&format!(" · {} failed", run.compounds.failed));
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines_embed_json_data_as_it_is() {
        let e = SseEvent { event: "progress".into(), data: r#"{"run_id":"r","progress":0.5}"#.into(), id: Some("4".into()) };
        assert_eq!(json_line(&e), r#"{"event":"progress","id":"4","data":{"run_id":"r","progress":0.5}}"#);
        let e = SseEvent { event: "message".into(), data: "not \"json\"".into(), id: None };
        assert_eq!(json_line(&e), r#"{"event":"message","id":null,"data":"not \"json\""}"#);
    }

    #[test]
    fn only_terminal_events_end_the_watch() {
        assert_eq!(final_status("completed"), Some(RunStatus::Completed));
        assert_eq!(final_status("failed"), Some(RunStatus::Failed));
        assert_eq!(final_status("cancelled"), Some(RunStatus::Cancelled));
        assert_eq!(final_status("progress"), None);
        assert_eq!(final_status("message"), None);
    }

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let b = |n| backoff(Duration::from_millis(500), n).as_millis();
        assert_eq!([b(1), b(2), b(3), b(4), b(5), b(6)], [500, 1000, 2000, 4000, 8000, 10000]);
        assert_eq!(backoff(Duration::from_secs(3600), 1), MAX_BACKOFF);
    }

    #[test]
    fn rates_and_etas_are_short_and_blank_until_a_stage_moves() {
        assert_eq!(rate(0, 0.0), "");
        assert_eq!(rate(130, 139.483956102653), "139/s");
        assert_eq!(rate(3, 2.25), "2.2/s");
        assert_eq!(eta(0, Some(100), 0.0), "");
        assert_eq!(eta(100, Some(100), 50.0), "");
        assert_eq!(eta(10, Some(100), 2.0), "ETA 45s");
        assert_eq!(eta(130, Some(60_000), 139.5), "ETA 7m10s");
        assert_eq!(eta(1, Some(1_000_000), 100.0), "ETA 2h46m");
    }

    #[test]
    fn the_overall_line_says_status_percentage_and_failures() {
        let mut run = Run { status: RunStatus::Running, progress: 0.4242, ..Run::default() };
        assert_eq!(overall_message(&run), "running · 42.4%");
        run.compounds.failed = 2;
        assert_eq!(overall_message(&run), "running · 42.4% · 2 failed");
    }
}
