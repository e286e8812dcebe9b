/// mimalloc: every record is decoded and re-encoded here, thousands a second
/// on a cache-warm run, where glibc's malloc spent more time than the
/// adapter's own work (chunk consolidation on the records' buffers).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() {
    // Batches of compounds share requests (`__in` filters): bigger batches,
    // fewer requests per compound. While the cache answers everything,
    // batches grow further (webclient::batch_size).
    pharmforge_webclient::serve::<pharmforge_chembl::Chembl>("the chembl adapter: bioactivity from the ChEMBL web services", 25, 2).await;
}
