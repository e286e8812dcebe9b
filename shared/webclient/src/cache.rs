//! The shared response cache: a JetStream key-value bucket whose entries
//! expire after a TTL, read and written by every replica.

use async_nats::jetstream::kv::Store;
use serde_json::Value;

#[derive(Clone)]
pub struct SharedCache {
    kv: Store,
}

impl SharedCache {
    pub async fn open(
        js: &async_nats::jetstream::Context,
        bucket: &str,
        ttl: std::time::Duration,
    ) -> Result<Self, async_nats::Error> {
        Ok(SharedCache { kv: crate::key_value(js, bucket, ttl).await? })
    }

    /// A key the bucket accepts: InChIKeys are used as they are; anything else
    /// (a compound without an InChIKey) is hashed.
    pub fn key(raw: &str) -> String {
        if !raw.is_empty() && raw.len() <= 200 && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            raw.to_owned()
        } else {
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            raw.hash(&mut h);
            format!("h_{:016x}_{}", h.finish(), raw.len())
        }
    }

    /// The cached value, if any. A cache that cannot be read is a miss.
    pub async fn get(&self, key: &str) -> Option<Value> {
        match self.kv.get(Self::key(key)).await {
            Ok(Some(bytes)) => serde_json::from_slice(&bytes).ok(),
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(error = %e, "cache read failed; treating as a miss");
                None
            }
        }
    }

    /// Stores a value; a failure only costs a future request.
    pub async fn put(&self, key: &str, value: &Value) {
        let Ok(bytes) = serde_json::to_vec(value) else { return };
        if let Err(e) = self.kv.put(Self::key(key), bytes.into()).await {
            tracing::warn!(error = %e, "cache write failed");
        }
    }
}
