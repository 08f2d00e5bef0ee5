//! `actix_basic` honours the `basic` example's `GET /api/me` contract: the
//! very cases of `crates/portcullis/tests/api_me_contract.rs` (which also
//! runs them against `basic` from this test binary).

#[path = "../../portcullis/tests/api_me_contract.rs"]
mod api_me_contract;

#[tokio::test]
async fn actix_basic_api_me_honours_the_basic_contract() {
    api_me_contract::check_api_me_contract(&api_me_contract::example_binary("actix_basic")).await;
}
