/// mimalloc: every record is decoded and re-encoded here, thousands a second
/// on a cache-warm run, where glibc's malloc spent more time than the
/// adapter's own work (chunk consolidation on the records' buffers).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() {
    // One request per compound at ~5/s: small batches, two in flight. Enough
    // to keep the shared rate limit busy, few enough that what one replica
    // has pulled (2 × batch × concurrency) is done well within the ack wait
    // even when replicas share the rate; more would only get redelivered.
    // While the cache answers everything, batches grow (webclient::batch_size).
    pharmforge_webclient::serve::<pharmforge_pubchem::Pubchem>("the pubchem adapter: names, identifiers and properties from PubChem PUG-REST", 8, 2).await;
}
