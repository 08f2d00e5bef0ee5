//! The engine's metrics (feature `metrics`): real sign-ins at the in-process
//! dev OP, with a `DebuggingRecorder` set for the test's thread (the
//! current-thread runtime runs the RP, the OP and the test there), and
//! exact counts of what each step recorded. Every label value must come
//! from the documented sets, so no sub, sid, session id, token, cookie or
//! URL can be among them.

mod support;

#[cfg(not(feature = "metrics"))]
#[test]
fn the_metrics_tests_need_the_metrics_feature() {
    support::skip_or_fail(
        "tests/metrics.rs was built without the `metrics` feature \
         (run `cargo test -p portcullis --features metrics --test metrics`)",
    );
}

#[cfg(feature = "metrics")]
mod recorded {
    use std::sync::Arc;
    use std::sync::atomic::Ordering;

    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
    use portcullis::metrics::{
        JWKS_FETCHES, JWKS_UNKNOWN_KID, LOGINS, LOGOUTS, OP_REQUEST_DURATION, OP_REQUESTS,
        REFRESHES, SESSION_CACHE, STORE_OPERATION_DURATION,
    };
    use portcullis::store::MemorySessionStore;
    use portcullis::{LogoutStorage, SessionStorage};
    use reqwest::StatusCode;

    use crate::support::Agent;
    use crate::support::rp::{
        CLIENT_SECRET, FlakyLogouts, SECRET, SignedIn, bare_client, get_with_cookie, logout_claims,
        post_logout_token, profile_status, sign_in, sign_in_as, start_env,
    };

    /// Every label a series may carry, and the values it may take.
    const VOCABULARY: &[(&str, &[&str])] = &[
        (
            "outcome",
            &[
                // logins, logouts
                "success",
                "interaction_required",
                "no_session",
                "confirmation",
                "no_pending_login",
                "callback_rejected",
                "invalid_request",
                "session_store_unavailable",
                // refreshes
                "refreshed",
                "shared",
                "invalid_grant",
                "unavailable",
                "failed",
                // store operations
                "ok",
                "error",
                // JWKS fetches
                "invalid",
            ],
        ),
        ("kind", &["rp", "local", "backchannel", "frontchannel"]),
        (
            "endpoint",
            &[
                "discovery",
                "jwks",
                "token",
                "userinfo",
                "introspection",
                "revocation",
                "par",
                "other",
            ],
        ),
        (
            "status",
            &["1xx", "2xx", "3xx", "4xx", "5xx", "timeout", "error"],
        ),
        ("trigger", &["startup", "periodic", "unknown_kid"]),
        (
            "action",
            &["refetched", "newer_keys", "rate_limited", "refetch_failed"],
        ),
        ("cache", &["session", "session_id", "store"]),
        ("result", &["hit", "miss"]),
        ("store", &["session", "logout", "refresh"]),
        (
            "operation",
            &[
                "load",
                "save",
                "destroy",
                "touch",
                "mark",
                "markers",
                "remember_jti",
                "try_lock",
                "renew",
                "unlock",
                "publish",
                "outcome",
            ],
        ),
    ];

    /// A series' labels, sorted by key.
    type Labels = Vec<(String, String)>;

    /// What was recorded between two snapshots (the debugging recorder
    /// resets counters and histograms when it is read).
    struct Delta(Vec<(String, Labels, DebugValue)>);

    impl Delta {
        fn find(&self, name: &str, labels: &[(&str, &str)]) -> Option<&DebugValue> {
            let mut wanted: Labels = labels
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
            wanted.sort();
            self.0
                .iter()
                .find(|(n, l, _)| n == name && *l == wanted)
                .map(|(_, _, value)| value)
        }

        /// The counter's increase (0 when it was never touched).
        fn counter(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
            match self.find(name, labels) {
                Some(DebugValue::Counter(n)) => *n,
                Some(other) => panic!("{name} {labels:?} is not a counter: {other:?}"),
                None => 0,
            }
        }

        /// How many values the histogram received; each must be a duration.
        fn observations(&self, name: &str, labels: &[(&str, &str)]) -> usize {
            match self.find(name, labels) {
                Some(DebugValue::Histogram(values)) => {
                    for value in values {
                        let seconds = value.into_inner();
                        assert!(
                            seconds.is_finite() && (0.0..60.0).contains(&seconds),
                            "{name} {labels:?}: {seconds}"
                        );
                    }
                    values.len()
                }
                Some(other) => panic!("{name} {labels:?} is not a histogram: {other:?}"),
                None => 0,
            }
        }

        /// The sum of a counter over every label set.
        fn total(&self, name: &str) -> u64 {
            self.0
                .iter()
                .filter(|(n, _, _)| n == name)
                .map(|(_, _, value)| match value {
                    DebugValue::Counter(n) => *n,
                    _ => 0,
                })
                .sum()
        }
    }

    /// The recorder of one test, and every label seen through it.
    struct Recorded {
        snapshotter: Snapshotter,
        labels: Vec<(String, String, String)>,
    }

    impl Recorded {
        fn new(recorder: &DebuggingRecorder) -> Self {
            Self {
                snapshotter: recorder.snapshotter(),
                labels: Vec::new(),
            }
        }

        /// What was recorded since the last call.
        fn take(&mut self) -> Delta {
            let mut delta = Vec::new();
            for (key, _, _, value) in self.snapshotter.snapshot().into_vec() {
                let name = key.key().name().to_owned();
                let mut labels: Labels = key
                    .key()
                    .labels()
                    .map(|l| (l.key().to_owned(), l.value().to_owned()))
                    .collect();
                labels.sort();
                for (k, v) in &labels {
                    self.labels.push((name.clone(), k.clone(), v.clone()));
                }
                delta.push((name, labels, value));
            }
            Delta(delta)
        }

        /// Every label seen is documented and carries no secret.
        fn assert_labels_are_safe(&self, secrets: &[&str]) {
            assert!(!self.labels.is_empty(), "nothing was recorded");
            for (name, key, value) in &self.labels {
                assert!(
                    name.starts_with("portcullis_"),
                    "a series outside the portcullis_ namespace: {name}"
                );
                let allowed = VOCABULARY
                    .iter()
                    .find(|(k, _)| k == key)
                    .unwrap_or_else(|| panic!("{name} has an undocumented label {key:?}"))
                    .1;
                assert!(
                    allowed.contains(&value.as_str()),
                    "{name}{{{key}={value:?}}} is not a documented value"
                );
                for secret in secrets {
                    assert!(
                        !value.contains(secret),
                        "{name}{{{key}}} carries a user, session or token value"
                    );
                }
            }
        }
    }

    fn secrets_of(user: &SignedIn) -> Vec<&str> {
        let mut secrets = vec![
            user.sub.as_str(),
            user.sid.as_str(),
            user.id_token.as_str(),
            user.cookie.as_str(),
            CLIENT_SECRET,
            SECRET,
        ];
        secrets.extend(user.access_token.as_deref());
        secrets.extend(user.refresh_token.as_deref());
        // The sealed session value alone (the cookie header is `name=value`).
        secrets.extend(user.cookie.split_once('=').map(|(_, value)| value));
        secrets
    }

    /// A logout token whose header names a `kid` the OP never published.
    fn token_with_unknown_kid(issuer: &str) -> String {
        let header = serde_json::json!({"alg": "RS256", "typ": "logout+jwt", "kid": "no-such-key"});
        let claims = logout_claims(issuer, Some("alice"), None);
        format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string()),
            URL_SAFE_NO_PAD.encode(b"not a signature"),
        )
    }

    #[tokio::test]
    async fn a_sign_in_its_requests_a_refresh_and_a_logout_are_counted_exactly() {
        let recorder = DebuggingRecorder::new();
        let mut recorded = Recorded::new(&recorder);
        let _local = metrics::set_default_local_recorder(&recorder);

        let env = start_env(|c, _| c, |b| b).await;
        let startup = recorded.take();
        for endpoint in ["discovery", "jwks"] {
            assert_eq!(
                startup.counter(OP_REQUESTS, &[("endpoint", endpoint), ("status", "2xx")]),
                1,
                "{endpoint}"
            );
            assert_eq!(
                startup.observations(OP_REQUEST_DURATION, &[("endpoint", endpoint)]),
                1,
                "{endpoint}"
            );
        }
        assert_eq!(
            startup.counter(
                JWKS_FETCHES,
                &[("trigger", "startup"), ("outcome", "success")]
            ),
            1
        );
        assert_eq!(startup.total(OP_REQUESTS), 2, "nothing else at startup");

        let alice = sign_in(&Agent::browser(), &env).await;
        let signed_in = recorded.take();
        assert_eq!(signed_in.counter(LOGINS, &[("outcome", "success")]), 1);
        assert_eq!(signed_in.total(LOGINS), 1);
        assert_eq!(
            signed_in.counter(OP_REQUESTS, &[("endpoint", "token"), ("status", "2xx")]),
            1
        );
        assert_eq!(
            signed_in.counter(OP_REQUESTS, &[("endpoint", "userinfo"), ("status", "2xx")]),
            1
        );
        assert_eq!(signed_in.total(OP_REQUESTS), 2);
        assert_eq!(
            signed_in.total(JWKS_FETCHES),
            0,
            "the ID token's key was known"
        );
        // The landing page decrypted the new session cookie once.
        assert_eq!(
            signed_in.counter(SESSION_CACHE, &[("cache", "session"), ("result", "miss")]),
            1
        );
        assert_eq!(
            signed_in.counter(SESSION_CACHE, &[("cache", "session"), ("result", "hit")]),
            0
        );

        for _ in 0..3 {
            assert_eq!(
                profile_status(&env.base, &alice.cookie).await,
                StatusCode::OK
            );
        }
        let repeated = recorded.take();
        assert_eq!(
            repeated.counter(SESSION_CACHE, &[("cache", "session"), ("result", "hit")]),
            3
        );
        assert_eq!(
            repeated.counter(SESSION_CACHE, &[("cache", "session"), ("result", "miss")]),
            0
        );
        assert_eq!(repeated.total(OP_REQUESTS), 0);

        let refreshed =
            get_with_cookie(&env.url("/refresh"), &alice.cookie, "application/json").await;
        assert_eq!(refreshed.status(), StatusCode::OK);
        let first = recorded.take();
        assert_eq!(first.counter(REFRESHES, &[("outcome", "refreshed")]), 1);
        assert_eq!(first.total(REFRESHES), 1);
        assert_eq!(
            first.counter(OP_REQUESTS, &[("endpoint", "token"), ("status", "2xx")]),
            1
        );
        // The same refresh token again, a moment later: the finished
        // refresh's outcome is reused, and the OP is not asked again.
        let again = get_with_cookie(&env.url("/refresh"), &alice.cookie, "application/json").await;
        assert_eq!(again.status(), StatusCode::OK);
        let second = recorded.take();
        assert_eq!(second.counter(REFRESHES, &[("outcome", "shared")]), 1);
        assert_eq!(second.total(REFRESHES), 1);
        assert_eq!(second.total(OP_REQUESTS), 0);

        let logout = bare_client()
            .get(env.url("/logout"))
            .header("cookie", &alice.cookie)
            .send()
            .await
            .expect("logout");
        assert!(logout.status().is_redirection(), "{}", logout.status());
        let logged_out = recorded.take();
        assert_eq!(
            logged_out.counter(LOGOUTS, &[("kind", "rp"), ("outcome", "success")]),
            1
        );
        assert_eq!(logged_out.total(LOGOUTS), 1);
        // A cookie session ends by a logout marker.
        assert_eq!(
            logged_out.observations(
                STORE_OPERATION_DURATION,
                &[
                    ("store", "logout"),
                    ("operation", "mark"),
                    ("outcome", "ok")
                ]
            ),
            1
        );
        assert_eq!(
            profile_status(&env.base, &alice.cookie).await,
            StatusCode::UNAUTHORIZED
        );

        // A callback nobody started is a failed login of its own kind.
        let stray = bare_client()
            .get(env.url("/callback?code=abc&state=def"))
            .header("accept", "application/json")
            .send()
            .await
            .expect("callback");
        assert_eq!(stray.status(), StatusCode::BAD_REQUEST);
        let failed = recorded.take();
        assert_eq!(
            failed.counter(LOGINS, &[("outcome", "no_pending_login")]),
            1
        );
        assert_eq!(failed.total(LOGINS), 1);

        recorded.assert_labels_are_safe(&secrets_of(&alice));
    }

    #[tokio::test]
    async fn each_kind_of_logout_and_an_unknown_kid_are_counted_by_outcome() {
        let recorder = DebuggingRecorder::new();
        let mut recorded = Recorded::new(&recorder);
        let _local = metrics::set_default_local_recorder(&recorder);
        let env = start_env(|c, _| c, |b| b).await;
        let alice = sign_in(&Agent::browser(), &env).await;
        let bob = sign_in_as(&Agent::browser(), &env.base, env.issuer(), "bob").await;
        recorded.take();

        // Another site cannot sign anyone out: it gets a confirmation page.
        let cross_site = bare_client()
            .get(env.url("/logout"))
            .header("cookie", &alice.cookie)
            .header("sec-fetch-site", "cross-site")
            .send()
            .await
            .expect("logout");
        assert_eq!(cross_site.status(), StatusCode::OK);
        let confirmation = recorded.take();
        assert_eq!(
            confirmation.counter(LOGOUTS, &[("kind", "rp"), ("outcome", "confirmation")]),
            1
        );
        assert_eq!(confirmation.total(LOGOUTS), 1);

        // Signing out without a session.
        let anonymous = bare_client()
            .get(env.url("/logout"))
            .send()
            .await
            .expect("logout");
        assert!(anonymous.status().is_redirection());
        assert_eq!(
            recorded
                .take()
                .counter(LOGOUTS, &[("kind", "rp"), ("outcome", "no_session")]),
            1
        );

        let local = get_with_cookie(&env.url("/local-logout"), &bob.cookie, "text/plain").await;
        assert_eq!(local.status(), StatusCode::OK);
        let local = recorded.take();
        assert_eq!(
            local.counter(LOGOUTS, &[("kind", "local"), ("outcome", "success")]),
            1
        );
        assert_eq!(local.total(LOGOUTS), 1);

        let mut frontchannel = url::Url::parse(&env.url("/frontchannel-logout")).expect("url");
        frontchannel
            .query_pairs_mut()
            .append_pair("iss", env.issuer())
            .append_pair("sid", &alice.sid);
        let framed = bare_client()
            .get(frontchannel)
            .send()
            .await
            .expect("frontchannel");
        assert_eq!(framed.status(), StatusCode::OK);
        let front = recorded.take();
        assert_eq!(
            front.counter(LOGOUTS, &[("kind", "frontchannel"), ("outcome", "success")]),
            1
        );
        assert_eq!(
            front.observations(
                STORE_OPERATION_DURATION,
                &[
                    ("store", "logout"),
                    ("operation", "mark"),
                    ("outcome", "ok")
                ]
            ),
            1
        );

        let token = env
            .idp
            .sign_logout_token(logout_claims(env.issuer(), Some("alice"), None));
        assert_eq!(
            post_logout_token(&env.base, &token).await.status(),
            StatusCode::OK
        );
        let back = recorded.take();
        assert_eq!(
            back.counter(LOGOUTS, &[("kind", "backchannel"), ("outcome", "success")]),
            1
        );
        for operation in ["mark", "remember_jti"] {
            assert_eq!(
                back.observations(
                    STORE_OPERATION_DURATION,
                    &[
                        ("store", "logout"),
                        ("operation", operation),
                        ("outcome", "ok")
                    ]
                ),
                1,
                "{operation}"
            );
        }
        assert_eq!(back.total(JWKS_FETCHES), 0);

        // A token naming a key the OP never published: one refetch, then
        // the rate limit turns the next one away without asking the OP.
        let forged = token_with_unknown_kid(env.issuer());
        assert_eq!(
            post_logout_token(&env.base, &forged).await.status(),
            StatusCode::BAD_REQUEST
        );
        let unknown = recorded.take();
        assert_eq!(
            unknown.counter(
                JWKS_FETCHES,
                &[("trigger", "unknown_kid"), ("outcome", "success")]
            ),
            1
        );
        assert_eq!(
            unknown.counter(JWKS_UNKNOWN_KID, &[("action", "refetched")]),
            1
        );
        assert_eq!(
            unknown.counter(OP_REQUESTS, &[("endpoint", "jwks"), ("status", "2xx")]),
            1
        );
        assert_eq!(
            unknown.counter(
                LOGOUTS,
                &[("kind", "backchannel"), ("outcome", "invalid_request")]
            ),
            1
        );
        assert_eq!(
            post_logout_token(&env.base, &forged).await.status(),
            StatusCode::BAD_REQUEST
        );
        let limited = recorded.take();
        assert_eq!(
            limited.counter(JWKS_UNKNOWN_KID, &[("action", "rate_limited")]),
            1
        );
        assert_eq!(limited.total(JWKS_FETCHES), 0);
        assert_eq!(limited.total(OP_REQUESTS), 0);

        let mut secrets = secrets_of(&alice);
        secrets.extend(secrets_of(&bob));
        recorded.assert_labels_are_safe(&secrets);
    }

    #[tokio::test]
    async fn server_side_sessions_count_store_operations_and_cache_lookups_by_outcome() {
        let recorder = DebuggingRecorder::new();
        let mut recorded = Recorded::new(&recorder);
        let _local = metrics::set_default_local_recorder(&recorder);
        let logouts = Arc::new(FlakyLogouts::default());
        let store = logouts.clone();
        let env = start_env(
            |c, _| c,
            move |b| {
                b.session_storage(SessionStorage::Store(Arc::new(
                    MemorySessionStore::default(),
                )))
                .logout_storage(LogoutStorage::Store(store))
            },
        )
        .await;
        recorded.take();

        let alice = sign_in(&Agent::browser(), &env).await;
        let signed_in = recorded.take();
        assert_eq!(signed_in.counter(LOGINS, &[("outcome", "success")]), 1);
        assert_eq!(
            signed_in.observations(
                STORE_OPERATION_DURATION,
                &[
                    ("store", "session"),
                    ("operation", "save"),
                    ("outcome", "ok")
                ]
            ),
            1
        );
        // The landing page: the id cookie and the record were decrypted,
        // the memory store answered from memory.
        for (cache, hits, misses) in [("session_id", 0, 1), ("store", 1, 0), ("session", 0, 1)] {
            assert_eq!(
                signed_in.counter(SESSION_CACHE, &[("cache", cache), ("result", "hit")]),
                hits,
                "{cache}"
            );
            assert_eq!(
                signed_in.counter(SESSION_CACHE, &[("cache", cache), ("result", "miss")]),
                misses,
                "{cache}"
            );
        }

        for _ in 0..2 {
            assert_eq!(
                profile_status(&env.base, &alice.cookie).await,
                StatusCode::OK
            );
        }
        let repeated = recorded.take();
        for cache in ["session_id", "store", "session"] {
            assert_eq!(
                repeated.counter(SESSION_CACHE, &[("cache", cache), ("result", "hit")]),
                2,
                "{cache}"
            );
            assert_eq!(
                repeated.counter(SESSION_CACHE, &[("cache", cache), ("result", "miss")]),
                0,
                "{cache}"
            );
        }

        // The logout store goes down: the markers cannot be read, the
        // request is a 503, and the failed read is timed as an error.
        logouts.all.store(true, Ordering::SeqCst);
        assert_eq!(
            profile_status(&env.base, &alice.cookie).await,
            StatusCode::SERVICE_UNAVAILABLE
        );
        let outage = recorded.take();
        assert_eq!(
            outage.observations(
                STORE_OPERATION_DURATION,
                &[
                    ("store", "logout"),
                    ("operation", "markers"),
                    ("outcome", "error")
                ]
            ),
            1
        );
        // Looked up once without I/O, once more with it.
        assert_eq!(
            outage.counter(SESSION_CACHE, &[("cache", "session"), ("result", "hit")]),
            2
        );
        let refused = bare_client()
            .get(env.url("/logout"))
            .header("cookie", &alice.cookie)
            .send()
            .await
            .expect("logout");
        assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            recorded.take().counter(
                LOGOUTS,
                &[("kind", "rp"), ("outcome", "session_store_unavailable")]
            ),
            1
        );

        logouts.all.store(false, Ordering::SeqCst);
        let logout = bare_client()
            .get(env.url("/logout"))
            .header("cookie", &alice.cookie)
            .send()
            .await
            .expect("logout");
        assert!(logout.status().is_redirection(), "{}", logout.status());
        let logged_out = recorded.take();
        assert_eq!(
            logged_out.counter(LOGOUTS, &[("kind", "rp"), ("outcome", "success")]),
            1
        );
        for (store, operation) in [("logout", "mark"), ("session", "destroy")] {
            assert_eq!(
                logged_out.observations(
                    STORE_OPERATION_DURATION,
                    &[
                        ("store", store),
                        ("operation", operation),
                        ("outcome", "ok")
                    ]
                ),
                1,
                "{store} {operation}"
            );
        }

        recorded.assert_labels_are_safe(&secrets_of(&alice));
    }
}
