//! Connecting to NATS: credentials and TLS from config, and a service that
//! cannot reach NATS at start keeps retrying with backoff and says so.

use crate::config::NatsSettings;
use crate::shutdown::Shutdown;
use async_nats::{Client, ConnectOptions, Event};
use std::time::Duration;

async fn options(settings: &NatsSettings, service: &str) -> std::io::Result<ConnectOptions> {
    let mut opts = ConnectOptions::new()
        .name(format!("pharmforge-{service}"))
        .connection_timeout(Duration::from_secs(5))
        .max_reconnects(None::<usize>)
        // Publishes block while disconnected; a bounded buffer keeps memory flat.
        .client_capacity(16_384)
        .event_callback(|event| async move {
            match event {
                Event::Disconnected => tracing::warn!("NATS connection lost; reconnecting"),
                Event::Connected => tracing::info!("NATS connection (re)established"),
                other => tracing::debug!(event = %other, "NATS event"),
            }
        });
    if let Some(path) = &settings.creds_file {
        opts = opts.credentials_file(path).await?;
    }
    if let Some((user, pass)) = &settings.user {
        opts = opts.user_and_password(user.clone(), pass.expose().to_owned());
    }
    if let Some(token) = &settings.token {
        opts = opts.token(token.expose().to_owned());
    }
    if let Some(seed) = &settings.nkey_seed {
        opts = opts.nkey(seed.expose().to_owned());
    }
    if let Some(ca) = &settings.tls_ca {
        opts = opts.add_root_certificates(ca.into()).require_tls(true);
    }
    if let Some((cert, key)) = &settings.tls_client {
        opts = opts.add_client_certificate(cert.into(), key.into()).require_tls(true);
    }
    Ok(opts)
}

/// Connects, retrying with capped exponential backoff until it succeeds or
/// shutdown is requested (then `None`).
pub async fn connect(settings: &NatsSettings, service: &str, shutdown: &Shutdown) -> Option<Client> {
    // Credentials may be inside a URL: never log them.
    let shown = settings.shown_urls();
    let what = format!("cannot reach NATS at {shown:?}");
    let client = shutdown
        .retry(&what, || async {
            let opts = options(settings, service).await.map_err(|e| e.to_string())?;
            opts.connect(settings.urls.clone()).await.map_err(|e| {
                let mut message = e.to_string();
                for (raw, shown) in settings.urls.iter().zip(&shown) {
                    message = message.replace(raw.as_str(), shown);
                }
                message
            })
        })
        .await?;
    tracing::info!(servers = ?shown, "connected to NATS");
    Some(client)
}
