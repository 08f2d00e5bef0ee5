//! The `actix_basic` example honours the `basic` example's contract: the
//! very cases `crates/portcullis/tests/basic_example.rs` runs against the
//! axum example, against the dev OP and against `oidc-provider`.
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
