//! The `actix_basic` example honours the `basic` example's contract: the
//! very cases `crates/portcullis/tests/basic_example.rs` runs against the
//! axum example, against the dev OP and against `oidc-provider`, and the
//! multi-replica case of `multi_replica.rs` (two replicas, one Redis).
//! `cargo test` builds the example first (with `--test contract` alone, run
//! `cargo build -p portcullis-actix --example actix_basic` before).

#[path = "../../portcullis/tests/support/contract.rs"]
mod contract;
#[path = "../../portcullis/tests/support/mod.rs"]
mod support;

#[tokio::test]
async fn actix_basic_honours_the_basic_contract() {
    contract::contract_against_dev_op("actix_basic").await;
}

#[tokio::test]
async fn actix_basic_honours_the_basic_contract_against_oidc_provider() {
    contract::contract_against_oidc_provider("actix_basic").await;
}

#[tokio::test]
async fn actix_basic_replicas_share_redis_sessions_and_back_channel_logouts() {
    if !contract::redis_available() {
        return;
    }
    contract::back_channel_logout_reaches_the_other_replica(
        "actix_basic",
        &[("SESSION_STORE", contract::REDIS)],
    )
    .await;
}

#[tokio::test]
async fn actix_basic_replicas_with_cookie_sessions_share_a_redis_logout_store() {
    if !contract::redis_available() {
        return;
    }
    contract::back_channel_logout_reaches_the_other_replica(
        "actix_basic",
        &[
            ("SESSION_STORE", "cookie"),
            ("LOGOUT_STORE", contract::REDIS),
        ],
    )
    .await;
}
