//! What the store's tests share.

use pharmforge_store::MIGRATOR;
use sqlx::PgPool;

/// A new database of its own on the test Postgres (`PHARMFORGE_TEST_PG_URL`),
/// migrated.
pub async fn fresh_pool() -> PgPool {
    let admin = std::env::var("PHARMFORGE_TEST_PG_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let name = format!("pf_store_{:016x}", rand::random::<u64>());
    let admin_pool = PgPool::connect(&admin).await.expect("Postgres reachable");
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&admin_pool).await.unwrap();
    let url = format!("{}/{name}", &admin[..admin.rfind('/').unwrap()]);
    let pool = PgPool::connect(&url).await.unwrap();
    MIGRATOR.run(&pool).await.unwrap();
    pool
}
