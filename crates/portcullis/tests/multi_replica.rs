//! Two replicas of the `basic` example behind one `BASE_URL`, sharing one
//! real Redis (127.0.0.1:6379): a session made on B works on A, and a
//! back-channel logout delivered to B ends it on A within a second. Run with
//! Redis sessions, and again with cookie sessions plus a Redis logout store.
//! The case lives in `support/contract.rs`, shared with `actix_basic`.

#[path = "support/contract.rs"]
mod contract;
mod support;

use contract::{REDIS, back_channel_logout_reaches_the_other_replica, redis_available};

#[tokio::test]
async fn with_redis_sessions_a_back_channel_logout_on_one_replica_ends_the_session_on_the_other() {
    if !redis_available() {
        return;
    }
    back_channel_logout_reaches_the_other_replica("basic", &[("SESSION_STORE", REDIS)]).await;
}

#[tokio::test]
async fn with_cookie_sessions_and_a_redis_logout_store_a_back_channel_logout_reaches_every_replica()
{
    if !redis_available() {
        return;
    }
    back_channel_logout_reaches_the_other_replica(
        "basic",
        &[("SESSION_STORE", "cookie"), ("LOGOUT_STORE", REDIS)],
    )
    .await;
}
