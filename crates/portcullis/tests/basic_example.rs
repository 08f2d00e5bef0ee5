//! The `basic` example's contract, checked against the built example binary
//! (cargo builds examples before running integration tests): configured only
//! by environment variables; `/` public, `/profile` protected (302 for
//! browsers, 401 JSON for APIs, claims JSON when signed in), and the
//! middleware's `/login`, `/callback`, `/logout`, back- and front-channel
//! logout. The cases live in `support/contract.rs`, shared with the
//! actix-web `actix_basic` example (`crates/portcullis-actix/tests/contract.rs`).

#[path = "support/contract.rs"]
mod contract;
mod support;

#[tokio::test]
async fn basic_example_honours_its_contract() {
    contract::contract_against_dev_op("basic").await;
}

#[tokio::test]
async fn basic_example_honours_its_contract_against_oidc_provider() {
    contract::contract_against_oidc_provider("basic").await;
}
