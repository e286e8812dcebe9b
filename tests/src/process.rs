//! A service binary as a test runs it, and what /proc says of processes
//! (memory, CPU) for the benchmarks.

use crate::binary;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One running service binary; killed when dropped.
pub struct Service {
    pub name: String,
    child: Child,
    log: PathBuf,
}

impl Service {
    pub fn spawn(binary_name: &str, env: &[(String, String)], log_dir: &Path) -> Self {
        let log = log_dir.join(format!("{binary_name}-{:08x}.log", rand::random::<u32>()));
        let mut cmd = Command::new(binary(binary_name));
        cmd.env_clear();
        for key in ["PATH", "HOME", "LD_LIBRARY_PATH"] {
            if let Ok(v) = std::env::var(key) {
                cmd.env(key, v);
            }
        }
        cmd.env("RUST_LOG", std::env::var("TEST_RUST_LOG").unwrap_or_else(|_| "info".into()));
        // Logs go to a file (or the terminal with TEST_LOG): no colour codes.
        cmd.env("NO_COLOR", "1");
        for (k, v) in env {
            cmd.env(k, v);
        }
        if std::env::var("TEST_LOG").is_ok() {
            cmd.stdout(Stdio::inherit()).stderr(Stdio::inherit());
        } else {
            let file = std::fs::File::create(&log).expect("log file");
            cmd.stdout(Stdio::null()).stderr(file);
        }
        let child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {binary_name}: {e}"));
        Service { name: binary_name.to_owned(), child, log }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM and waits up to `timeout` for the process to exit.
    pub fn terminate(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// Resident set size in kB, from /proc.
    pub fn rss_kb(&self) -> Option<u64> {
        rss_kb(self.pid())
    }
}

pub fn rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find(|l| l.starts_with("VmRSS:"))?.split_whitespace().nth(1)?.parse().ok()
}

/// Peak resident set size in kB (VmHWM), from /proc.
pub fn peak_rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find(|l| l.starts_with("VmHWM:"))?.split_whitespace().nth(1)?.parse().ok()
}

/// Resets a process's peak RSS (VmHWM) to its current RSS, so that the next
/// `peak_rss_kb` is the peak of what follows.
pub fn reset_peak_rss(pid: u32) {
    let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
}

/// CPU time (user + system) a process has used, in seconds, from /proc.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) in parentheses.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// CPU seconds the whole machine has spent busy (every core's user, nice,
/// system, irq, softirq and steal time, from /proc/stat): with a process's
/// own, what the rest (Postgres' backends, which come and go) cost.
pub fn machine_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let cpu = stat.lines().find(|l| l.starts_with("cpu "))?;
    let ticks: Vec<f64> = cpu.split_whitespace().skip(1).filter_map(|t| t.parse().ok()).collect();
    // user nice system idle iowait irq softirq steal
    let busy: f64 = [0, 1, 2, 5, 6, 7].iter().filter_map(|&i| ticks.get(i)).sum();
    Some(busy / 100.0)
}

/// CPU seconds of every process whose command name is `comm` (e.g. all of
/// Postgres' backends).
pub fn cpu_seconds_of_all(comm: &str) -> f64 {
    let Ok(dir) = std::fs::read_dir("/proc") else { return 0.0 };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == comm))
        .filter_map(cpu_seconds)
        .sum()
}

/// CPU seconds per process between two [`Stack::cpu_snapshot`]s, rounded to
/// 10 ms: where a phase's time went.
pub fn cpu_delta(before: &[(String, f64)], after: &[(String, f64)]) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    for ((name, a), (_, b)) in before.iter().zip(after) {
        m.insert(name.clone(), serde_json::json!(((b - a) * 100.0).round() / 100.0));
    }
    serde_json::Value::Object(m)
}

impl Drop for Service {
    fn drop(&mut self) {
        self.kill();
    }
}
