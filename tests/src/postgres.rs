//! Postgres for a test: a fresh database in the machine's server, or a
//! private cluster of its own for tests that restart Postgres.

use crate::free_port;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// A fresh Postgres database, dropped at the end.
pub struct TestDatabase {
    pub name: String,
    admin_url: String,
}

impl TestDatabase {
    pub fn admin_url() -> String {
        std::env::var("PHARMFORGE_TEST_PG_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
    }

    pub async fn create() -> Self {
        Self::create_on(&Self::admin_url()).await
    }

    /// A fresh database on the server at `admin_url`.
    pub async fn create_on(admin_url: &str) -> Self {
        let admin_url = admin_url.to_owned();
        let name = format!("pf_test_{:016x}", rand::random::<u64>());
        let mut conn =
            <sqlx::PgConnection as sqlx::Connection>::connect(&admin_url).await.unwrap_or_else(|e| panic!("cannot reach Postgres at {admin_url}: {e}"));
        sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut conn).await.expect("create database");
        TestDatabase { name, admin_url }
    }

    pub fn url(&self) -> String {
        match self.admin_url.rfind('/') {
            Some(i) => format!("{}/{}", &self.admin_url[..i], self.name),
            None => panic!("unexpected Postgres URL {}", self.admin_url),
        }
    }

    pub async fn pool(&self) -> sqlx::PgPool {
        sqlx::postgres::PgPoolOptions::new().max_connections(4).connect(&self.url()).await.expect("connect to test db")
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let (admin, name) = (self.admin_url.clone(), self.name.clone());
        // Drop needs an async connection: do it on a thread of its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            rt.block_on(async {
                let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin).await.ok()?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut conn).await.ok()
            })
        })
        .join();
    }
}

/// A private Postgres cluster on a random port, for tests that restart
/// Postgres itself. Made with the server binaries of the machine's PostgreSQL
/// (`/usr/lib/postgresql/<version>/bin`), run as the `postgres` user when the
/// tests run as root (Postgres refuses to run as root).
pub struct PgServer {
    dir: tempfile::TempDir,
    bin: PathBuf,
    pub port: u16,
}

impl PgServer {
    pub fn start() -> Self {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()
            .and_then(|d| {
                let mut versions: Vec<PathBuf> = d.filter_map(|e| Some(e.ok()?.path().join("bin"))).filter(|p| p.join("pg_ctl").exists()).collect();
                versions.sort();
                versions.pop()
            })
            .expect("PostgreSQL server binaries under /usr/lib/postgresql/*/bin (Debian package postgresql)");
        let dir = tempfile::Builder::new().prefix("pf-pg-").tempdir().expect("temp dir");
        let server = PgServer { dir, bin, port: free_port() };
        if server.as_root() {
            let status = Command::new("chown").arg("-R").arg("postgres").arg(server.dir.path()).status().expect("chown");
            assert!(status.success(), "chown to postgres");
        }
        let data = server.dir.path().join("data");
        let ok =
            server.command("initdb").arg("-D").arg(&data).args(["-U", "postgres", "--auth=trust", "--no-sync"]).stdout(Stdio::null()).status().expect("initdb");
        assert!(ok.success(), "initdb failed");
        server.pg_ctl("start");
        server
    }

    fn as_root(&self) -> bool {
        Command::new("id").arg("-u").output().map(|o| o.stdout.trim_ascii() == b"0").unwrap_or(false)
    }

    fn command(&self, tool: &str) -> Command {
        let path = self.bin.join(tool);
        if self.as_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        }
    }

    fn pg_ctl(&self, action: &str) {
        let data = self.dir.path().join("data");
        let log = self.dir.path().join("server.log");
        let options = format!("-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=off", self.port, self.dir.path().display());
        let mut c = self.command("pg_ctl");
        c.arg("-D").arg(&data).arg("-l").arg(&log).args(["-w", "-t", "60", "-m", "fast", "-o", &options, action]);
        let ok = c.stdout(Stdio::null()).status().expect("pg_ctl");
        assert!(ok.success(), "pg_ctl {action} failed: {}", std::fs::read_to_string(&log).unwrap_or_default());
    }

    pub fn admin_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Fast shutdown (every connection is cut), then start again.
    pub fn stop(&self) {
        self.pg_ctl("stop");
    }

    pub fn start_again(&self) {
        self.pg_ctl("start");
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        let _ = self.command("pg_ctl").arg("-D").arg(&data).args(["-m", "immediate", "stop"]).stdout(Stdio::null()).stderr(Stdio::null()).status();
    }
}
