//! Configuration from the environment (12-factor), with defaults that work on a
//! developer machine. Names are the operational contract (README, Running the services).

use std::borrow::Cow;
use std::str::FromStr;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
#[error("environment variable {name}={value:?} is invalid: {reason}")]
pub struct ConfigError {
    pub name: String,
    pub value: String,
    pub reason: String,
}

/// A variable's value, or `default` when unset or empty.
pub fn env_or(name: &str, default: &str) -> String {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v,
        _ => default.to_owned(),
    }
}

/// A parsed variable, or `default` when unset or empty.
pub fn env_parse<T: FromStr>(name: &str, default: T) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v.trim().parse().map_err(|e: T::Err| ConfigError { name: name.to_owned(), value: v.clone(), reason: e.to_string() }),
        _ => Ok(default),
    }
}

/// Milliseconds from the environment as a `Duration`.
pub fn env_millis(name: &str, default_ms: u64) -> Result<Duration, ConfigError> {
    env_parse(name, default_ms).map(Duration::from_millis)
}

fn non_empty(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|s| !s.trim().is_empty())
}

/// A secret value that never prints.
#[derive(Clone, Default)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: String) -> Self {
        Secret(s)
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// What every service needs to reach NATS.
#[derive(Debug, Clone)]
pub struct NatsSettings {
    /// `NATS_URL`: one or more servers, comma-separated.
    pub urls: Vec<String>,
    /// `PHARMFORGE_STREAM_PREFIX`: prefix of stream, consumer and subject names.
    pub prefix: String,
    /// `PHARMFORGE_STREAM_REPLICAS` (1..=5, default 1): how many JetStream
    /// servers keep each stream and key-value bucket (3 on a three-node
    /// cluster, so that losing a node loses nothing and stops nothing).
    pub stream_replicas: usize,
    /// `NATS_CREDS_FILE`: optional credentials file.
    pub creds_file: Option<String>,
    /// `NATS_USER` / `NATS_PASSWORD`.
    pub user: Option<(String, Secret)>,
    /// `NATS_TOKEN`.
    pub token: Option<Secret>,
    /// `NATS_NKEY_SEED`: an nkey seed to authenticate with.
    pub nkey_seed: Option<Secret>,
    /// `NATS_TLS_CA`, `NATS_TLS_CERT` + `NATS_TLS_KEY`: TLS roots and client certificate.
    pub tls_ca: Option<String>,
    pub tls_client: Option<(String, String)>,
    /// `PHARMFORGE_ACK_WAIT_MS` (30,000): JetStream's ack wait of every
    /// consumer, which every service of a stack must share.
    pub ack_wait: Duration,
}

impl NatsSettings {
    pub fn from_env() -> Result<Self, ConfigError> {
        let raw = env_or("NATS_URL", "nats://127.0.0.1:4222");
        let urls: Vec<String> = raw.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect();
        let prefix = env_or("PHARMFORGE_STREAM_PREFIX", "");
        if !prefix.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
            return Err(ConfigError {
                name: "PHARMFORGE_STREAM_PREFIX".into(),
                value: prefix,
                reason: "only letters, digits, '_' and '-' are allowed in stream and subject names".into(),
            });
        }
        let stream_replicas: usize = env_parse("PHARMFORGE_STREAM_REPLICAS", 1)?;
        if !(1..=5).contains(&stream_replicas) {
            return Err(ConfigError {
                name: "PHARMFORGE_STREAM_REPLICAS".into(),
                value: stream_replicas.to_string(),
                reason: "JetStream keeps 1 to 5 replicas of a stream".into(),
            });
        }
        let ack_wait = env_millis("PHARMFORGE_ACK_WAIT_MS", 30_000)?;
        if ack_wait < Duration::from_secs(1) {
            return Err(ConfigError {
                name: "PHARMFORGE_ACK_WAIT_MS".into(),
                value: ack_wait.as_millis().to_string(),
                reason: "at least 1000 ms: a record must be worked on and acknowledged within it".into(),
            });
        }
        let user = std::env::var("NATS_USER").ok().filter(|u| !u.is_empty()).map(|u| (u, Secret::new(std::env::var("NATS_PASSWORD").unwrap_or_default())));
        Ok(NatsSettings {
            urls,
            prefix,
            stream_replicas,
            creds_file: non_empty("NATS_CREDS_FILE"),
            user,
            token: non_empty("NATS_TOKEN").map(Secret::new),
            nkey_seed: non_empty("NATS_NKEY_SEED").map(Secret::new),
            tls_ca: non_empty("NATS_TLS_CA"),
            tls_client: non_empty("NATS_TLS_CERT").zip(non_empty("NATS_TLS_KEY")),
            ack_wait,
        })
    }
}

impl NatsSettings {
    /// The servers as they may be logged: credentials inside a URL
    /// (`nats://user:password@host`, `nats://token@host`) shown as `***`.
    pub fn shown_urls(&self) -> Vec<String> {
        self.urls.iter().map(|u| redact_url(u)).collect()
    }
}

/// A URL with its user information (before `@` in the authority) replaced by `***`.
pub fn redact_url(url: &str) -> String {
    let (scheme, rest) = match url.find("://") {
        Some(i) => url.split_at(i + 3),
        None => ("", url),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}***{}", &rest[at..]),
        None => url.to_owned(),
    }
}

/// `PHARMFORGE_NICE` (0..=19): lowers the CPU priority of every thread of
/// this process (and so of the threads it starts later, which inherit it).
/// Compute-bound adapters sharing a host with the API run niced, so that
/// reads keep their latency while batch work takes the rest of the CPU.
pub fn apply_nice_from_env() -> Result<i32, ConfigError> {
    let nice: i32 = env_parse("PHARMFORGE_NICE", 0)?;
    if !(0..=19).contains(&nice) {
        return Err(ConfigError { name: "PHARMFORGE_NICE".into(), value: nice.to_string(), reason: "expected 0 to 19".into() });
    }
    if nice == 0 {
        return Ok(0);
    }
    // Linux keeps a nice value per thread: set it on each one running now.
    let tasks = std::fs::read_dir("/proc/self/task").map_err(|e| ConfigError {
        name: "PHARMFORGE_NICE".into(),
        value: nice.to_string(),
        reason: format!("cannot list this process's threads: {e}"),
    })?;
    for task in tasks.flatten() {
        if let Some(tid) = task.file_name().to_str().and_then(|t| t.parse::<libc::id_t>().ok()) {
            // SAFETY: setpriority only reads its integer arguments.
            unsafe { libc::setpriority(libc::PRIO_PROCESS, tid, nice) };
        }
    }
    Ok(nice)
}

/// How an adapter service consumes: batch size, batches in flight, ack wait.
#[derive(Debug, Clone)]
pub struct ConsumerSettings {
    /// `ADAPTER_BATCH_SIZE`: records handed to the adapter at once.
    pub batch_size: usize,
    /// `ADAPTER_CONCURRENCY`: batches processed at the same time.
    pub concurrency: usize,
    /// `SHUTDOWN_GRACE_MS`: how long a stopping service waits for work in flight.
    pub shutdown_grace: Duration,
    /// `ADAPTER_TIMEOUT_MS`: the time limit of one adapter call. A batch that
    /// overruns is handed back and its records retried one by one; a single
    /// record that overruns is abandoned with a time-limit error.
    pub call_timeout: Duration,
    /// `ADAPTER_MAX_DELIVERIES`: deliveries of one record after which the
    /// adapter gives up on it (it crashed, overran or asked to retry every
    /// time): dead-lettered and forwarded with the adapter's error.
    pub max_deliveries: i64,
}

impl ConsumerSettings {
    /// An adapter's: `ADAPTER_BATCH_SIZE` and `ADAPTER_CONCURRENCY`, with its defaults.
    pub fn from_env(default_batch: usize, default_concurrency: usize) -> Result<Self, ConfigError> {
        Self::from_env_vars("ADAPTER_BATCH_SIZE", "ADAPTER_CONCURRENCY", default_batch, default_concurrency)
    }

    /// Batch size and concurrency from the variables named (the aggregator
    /// has its own, so that a value meant for the adapters never reaches it).
    pub fn from_env_vars(batch_var: &str, concurrency_var: &str, default_batch: usize, default_concurrency: usize) -> Result<Self, ConfigError> {
        Ok(ConsumerSettings {
            batch_size: env_parse(batch_var, default_batch)?.max(1),
            concurrency: env_parse(concurrency_var, default_concurrency)?.max(1),
            shutdown_grace: env_millis("SHUTDOWN_GRACE_MS", 20_000)?,
            call_timeout: env_millis("ADAPTER_TIMEOUT_MS", 300_000)?.max(Duration::from_millis(1)),
            // Below the consumers' max_deliver (20), so the runtime sees the
            // last attempt itself; above the web adapters' retry bound (15).
            max_deliveries: env_parse("ADAPTER_MAX_DELIVERIES", 16i64)?.clamp(1, 19),
        })
    }
}

/// An environment variable a program reads, as its `--help` lists it.
#[derive(Debug, Clone)]
pub struct EnvVar {
    pub name: Cow<'static, str>,
    /// The value used when it is unset or empty, as text; empty when there
    /// is none (the feature it configures is off, or nothing is sent).
    pub default: String,
    pub about: Cow<'static, str>,
}

impl EnvVar {
    pub fn new(name: impl Into<Cow<'static, str>>, default: impl ToString, about: impl Into<Cow<'static, str>>) -> Self {
        EnvVar { name: name.into(), default: default.to_string(), about: about.into() }
    }
}

/// What every service reads: NATS, logs, traces, metrics and probes.
pub fn service_vars() -> Vec<EnvVar> {
    vec![
        EnvVar::new("NATS_URL", "nats://127.0.0.1:4222", "NATS server(s), comma-separated"),
        EnvVar::new("PHARMFORGE_STREAM_PREFIX", "", "prefix of stream, consumer and subject names (letters, digits, '_' and '-')"),
        EnvVar::new("PHARMFORGE_STREAM_REPLICAS", 1, "JetStream servers keeping each stream and key-value bucket (1 to 5)"),
        EnvVar::new("PHARMFORGE_ACK_WAIT_MS", 30_000, "JetStream ack wait of every consumer; the same for every service of a stack"),
        EnvVar::new("NATS_CREDS_FILE", "", "NATS credentials file"),
        EnvVar::new("NATS_USER", "", "NATS user name (with NATS_PASSWORD)"),
        EnvVar::new("NATS_PASSWORD", "", "NATS password"),
        EnvVar::new("NATS_TOKEN", "", "NATS token"),
        EnvVar::new("NATS_NKEY_SEED", "", "NATS nkey seed"),
        EnvVar::new("NATS_TLS_CA", "", "PEM file of the roots NATS servers' certificates are checked against"),
        EnvVar::new("NATS_TLS_CERT", "", "client certificate for NATS (PEM, with NATS_TLS_KEY)"),
        EnvVar::new("NATS_TLS_KEY", "", "client certificate's key (PEM)"),
        EnvVar::new("RUST_LOG", "info", "log filter (tracing-subscriber's EnvFilter syntax)"),
        EnvVar::new("LOG_FORMAT", "text", "json: one JSON object a line"),
        EnvVar::new("METRICS_ADDR", "", "where /metrics, /healthz and /readyz are served (host:port); unset: not served"),
        EnvVar::new("HOSTNAME", "", "this replica's name in heartbeats (Kubernetes sets it); unset: /etc/hostname"),
        EnvVar::new("OTEL_EXPORTER_OTLP_ENDPOINT", "", "OTLP/HTTP collector for traces; unset: no traces are exported"),
        EnvVar::new("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "", "the traces endpoint itself (instead of the above + /v1/traces)"),
        EnvVar::new("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf", "http/protobuf or http/json"),
        EnvVar::new("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "", "the same, for traces only"),
        EnvVar::new("OTEL_SERVICE_NAME", "", "service name on spans; unset: the service's own"),
        EnvVar::new("OTEL_RESOURCE_ATTRIBUTES", "", "key=value,... added to every span's resource"),
        EnvVar::new("OTEL_TRACES_SAMPLER", "parentbased_always_on", "always_on, always_off, traceidratio or their parentbased_ forms"),
        EnvVar::new("OTEL_TRACES_SAMPLER_ARG", "1.0", "the ratio of the traceidratio samplers (0 to 1)"),
        EnvVar::new("OTEL_TRACES_EXPORTER", "otlp", "otlp, or none to export nothing"),
        EnvVar::new("OTEL_SDK_DISABLED", "false", "true exports nothing"),
        EnvVar::new("SHUTDOWN_GRACE_MS", 20_000, "how long a stopping service waits for work in flight"),
    ]
}

/// What a consumer of the pipeline reads besides [`service_vars`]: its batch
/// size and concurrency (under the names given, with its defaults), the
/// call time limit, the delivery bound and its CPU priority.
pub fn consumer_vars(batch_var: &'static str, concurrency_var: &'static str, default_batch: usize, default_concurrency: &str) -> Vec<EnvVar> {
    vec![
        EnvVar::new(batch_var, default_batch, "records handed over at once"),
        EnvVar::new(concurrency_var, default_concurrency, "batches in flight at the same time"),
        EnvVar::new("ADAPTER_TIMEOUT_MS", 300_000, "time limit of one call: an overrunning batch is retried record by record"),
        EnvVar::new("ADAPTER_MAX_DELIVERIES", 16, "deliveries of one record after which it is given up (1 to 19)"),
        EnvVar::new("PHARMFORGE_NICE", 0, "CPU priority 0..19 (higher yields to the API on a shared host)"),
    ]
}

/// A service's settings as read at start, or the process ends with 2 and
/// why (logged, and on stderr for whoever started it).
pub fn settings_or_exit<T, E: std::fmt::Display>(program: &str, read: Result<T, E>) -> T {
    read.unwrap_or_else(|e| {
        tracing::error!(error = %e, "invalid configuration");
        eprintln!("{program}: {e}");
        std::process::exit(2)
    })
}

/// `--help` or `-h` among the arguments: prints what the program is, how it
/// is called and every environment variable it reads with its default, and
/// exits 0. Any other argument is left to the program.
pub fn help_on_request(program: &str, about: &str, usage: &str, vars: &[EnvVar]) {
    if std::env::args().skip(1).any(|a| a == "--help" || a == "-h") {
        print!("{}", help_text(program, about, usage, vars));
        std::process::exit(0);
    }
}

/// The text [`help_on_request`] prints.
pub fn help_text(program: &str, about: &str, usage: &str, vars: &[EnvVar]) -> String {
    let mut out = format!("{program}: {about}\n\nUsage:\n{usage}\n\nEnvironment (default in brackets; [] = unset):\n");
    for v in vars {
        out += &format!("  {} [{}]\n      {}\n", v.name, v.default, v.about);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_a_nats_url_are_not_shown() {
        assert_eq!(redact_url("nats://alice:s3cret@nats.example:4222"), "nats://***@nats.example:4222");
        assert_eq!(redact_url("tls://t0ken@h:4222/x@y"), "tls://***@h:4222/x@y");
        assert_eq!(redact_url("nats://127.0.0.1:4222"), "nats://127.0.0.1:4222");
        assert_eq!(redact_url("user:pw@host:4222"), "***@host:4222");
    }

    #[test]
    fn help_lists_each_variable_with_its_default() {
        let text = help_text("p", "does things", "  p", &[EnvVar::new("A_B", 5, "five"), EnvVar::new("C_D", "", "off")]);
        assert!(text.contains("  A_B [5]\n      five\n"), "{text}");
        assert!(text.contains("  C_D []\n      off\n"), "{text}");
    }

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("hunter2".into());
        assert!(!format!("{s:?}").contains("hunter2"));
        assert_eq!(s.expose(), "hunter2");
    }
}
