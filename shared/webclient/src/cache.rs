//! The shared response cache: a JetStream key-value bucket whose entries
//! expire after a TTL, read and written by every replica.

use async_nats::jetstream::kv::Store;
use serde_json::value::RawValue;
use serde_json::Value;

#[derive(Clone)]
pub struct SharedCache {
    kv: Store,
    /// The `service` label of its metrics (the bucket's name until `named`).
    service: std::sync::Arc<str>,
}

impl SharedCache {
    /// One server's copy, no byte limit (tests and benchmarks).
    pub async fn open(js: &async_nats::jetstream::Context, bucket: &str, ttl: std::time::Duration) -> Result<Self, async_nats::Error> {
        Self::open_with(js, bucket, ttl, 1, 0).await
    }

    /// Kept on `replicas` servers, at most `max_bytes` (0: no limit), the
    /// oldest entries dropped first when full.
    pub async fn open_with(
        js: &async_nats::jetstream::Context,
        bucket: &str,
        ttl: std::time::Duration,
        replicas: usize,
        max_bytes: i64,
    ) -> Result<Self, async_nats::Error> {
        Ok(SharedCache { kv: crate::key_value(js, bucket, ttl, replicas, max_bytes).await?, service: bucket.into() })
    }

    /// Labels this cache's metrics with `service` (`pubchem`, `chembl`).
    pub fn named(mut self, service: &str) -> Self {
        self.service = service.into();
        self
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

    /// A cached section as JSON text, marked `"cache_hit": true`, without
    /// parsing it into a tree: the marker is appended as the object's last
    /// member (entries are stored without one; an older entry's
    /// `"cache_hit": false` is overridden, as JSON readers and Postgres keep
    /// the last of duplicate keys). Anything but a JSON object is a miss, and
    /// so is a cache that cannot be read.
    /// Counted in `pharmforge_cache_lookups_total{service}` and, when found,
    /// `pharmforge_cache_hits_total{service}`.
    pub async fn get_hit(&self, key: &str) -> Option<Box<RawValue>> {
        metrics::counter!("pharmforge_cache_lookups_total", "service" => self.service.to_string()).increment(1);
        let hit = self.read(key).await;
        if hit.is_some() {
            metrics::counter!("pharmforge_cache_hits_total", "service" => self.service.to_string()).increment(1);
        }
        hit
    }

    async fn read(&self, key: &str) -> Option<Box<RawValue>> {
        let bytes = match self.kv.get(Self::key(key)).await {
            Ok(Some(bytes)) => bytes,
            Ok(None) => return None,
            Err(e) => {
                tracing::warn!(error = %e, "cache read failed; treating as a miss");
                return None;
            }
        };
        mark_cache_hit(std::str::from_utf8(&bytes).ok()?)
    }

    /// Stores a section (without its `cache_hit` member); a failure only
    /// costs a future request.
    pub async fn put(&self, key: &str, value: &Value) {
        let bytes = match value.get("cache_hit") {
            Some(_) => {
                let mut v = value.clone();
                v.as_object_mut().map(|o| o.remove("cache_hit"));
                serde_json::to_vec(&v)
            }
            None => serde_json::to_vec(value),
        };
        let Ok(bytes) = bytes else { return };
        if let Err(e) = self.kv.put(Self::key(key), bytes.into()).await {
            tracing::warn!(error = %e, "cache write failed");
        }
    }
}

/// `text` (a JSON object) with `"cache_hit": true` appended as its last
/// member; `None` when `text` is not a JSON object.
fn mark_cache_hit(text: &str) -> Option<Box<RawValue>> {
    let body = text.trim().strip_suffix('}')?;
    if !body.starts_with('{') {
        return None;
    }
    let separator = if body.trim_end() == "{" { "" } else { "," };
    RawValue::from_string(format!("{body}{separator}\"cache_hit\":true}}")).ok()
}

#[cfg(test)]
mod tests {
    use super::mark_cache_hit;
    use serde_json::{json, Value};

    fn marked(text: &str) -> Option<Value> {
        mark_cache_hit(text).map(|raw| serde_json::from_str(raw.get()).unwrap())
    }

    #[test]
    fn a_cached_section_is_marked_as_a_hit_without_being_rebuilt() {
        assert_eq!(marked(r#"{"cid":2244,"note":"x}"}"#), Some(json!({"cid": 2244, "note": "x}", "cache_hit": true})));
        assert_eq!(marked("{ }"), Some(json!({"cache_hit": true})));
        // Entries stored with a `cache_hit: false` (older versions) read as hits.
        assert_eq!(marked(r#"{"cid":1,"cache_hit":false}"#).unwrap()["cache_hit"], json!(true));
        for not_an_object in ["[1]", "\"}\"", "", "{\"a\":", "null"] {
            assert_eq!(marked(not_an_object), None, "{not_an_object}");
        }
    }
}
