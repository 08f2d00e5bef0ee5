//! The library's `tracing` spans: every built-in route runs in a
//! `portcullis.route` span, a refresh in `portcullis.refresh`, and every
//! call to the OP in `portcullis.op_call` with its status and latency. None
//! of them carries a token, a code or a secret.

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};

use support::Agent;
use support::rp::{CLIENT_SECRET, SECRET, get_with_cookie, sign_in, start_env};

/// Everything the subscriber writes, shared with the test.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(
            &self
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
        .into_owned()
    }
}

#[tokio::test]
async fn routes_refreshes_and_op_calls_are_traced_without_secrets() {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .with_env_filter("portcullis=debug")
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();

    let env = start_env(|c, _| c, |b| b).await;
    let alice = sign_in(&Agent::browser(), &env).await;
    let refreshed = get_with_cookie(&env.url("/refresh"), &alice.cookie, "application/json").await;
    assert!(refreshed.status().is_success());

    let logs = captured.text();
    for needle in [
        "portcullis.route{route=Login}",
        "portcullis.route{route=Callback}",
        "portcullis.refresh",
        "portcullis.op_call{method=Post url=",
        "status=200",
        "latency_ms=",
    ] {
        assert!(logs.contains(needle), "no {needle:?} in the logs:\n{logs}");
    }
    let mut secrets = vec![
        alice.id_token.as_str(),
        alice.cookie.as_str(),
        CLIENT_SECRET,
        SECRET,
    ];
    secrets.extend(alice.access_token.as_deref());
    secrets.extend(alice.refresh_token.as_deref());
    for secret in secrets {
        assert!(!logs.contains(secret), "a secret reached the logs");
    }
}
