//! Shutdown as a value passed in: a watch channel that flips once, on SIGTERM
//! or Ctrl-C (or when a test asks), so every loop can stop pulling and finish
//! what it holds.

use tokio::sync::watch;

#[derive(Clone)]
pub struct Shutdown {
    rx: watch::Receiver<bool>,
}

#[derive(Clone)]
pub struct ShutdownTrigger {
    tx: std::sync::Arc<watch::Sender<bool>>,
}

impl ShutdownTrigger {
    pub fn trigger(&self) {
        let _ = self.tx.send(true);
    }
}

impl Shutdown {
    /// Runs `attempt` until it succeeds, waiting 200 ms, 400 ms, … up to
    /// 10 s between failures, each logged as "`what`; retrying"; `None` once
    /// shutdown begins. For start-up steps that must wait for a dependency
    /// (NATS, Postgres, JetStream set-up) rather than crash.
    pub async fn retry<T, E, F, Fut>(&self, what: &str, mut attempt: F) -> Option<T>
    where
        E: std::fmt::Display,
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, E>>,
    {
        let mut delay = std::time::Duration::from_millis(200);
        loop {
            match attempt().await {
                Ok(v) => return Some(v),
                Err(e) => tracing::warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "{what}; retrying"),
            }
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = self.wait() => return None,
            }
            delay = (delay * 2).min(std::time::Duration::from_secs(10));
        }
    }

    pub fn new() -> (ShutdownTrigger, Shutdown) {
        let (tx, rx) = watch::channel(false);
        (ShutdownTrigger { tx: std::sync::Arc::new(tx) }, Shutdown { rx })
    }

    /// A shutdown that fires on SIGTERM or Ctrl-C.
    pub fn on_signals() -> Shutdown {
        let (trigger, shutdown) = Shutdown::new();
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!("shutdown signal received: stopping intake, finishing work in flight");
            trigger.trigger();
        });
        shutdown
    }

    pub fn is_triggered(&self) -> bool {
        *self.rx.borrow()
    }

    /// Resolves once shutdown has been triggered.
    pub async fn wait(&self) {
        let mut rx = self.rx.clone();
        let _ = rx.wait_for(|v| *v).await;
    }
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("installing the SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
