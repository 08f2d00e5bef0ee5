//! RP-Initiated Logout 1.0: the URL that sends the browser to the
//! provider's `end_session_endpoint`.

use crate::discovery::ProviderMetadata;
use url::Url;

/// The logout URL, or `None` when the provider has no `end_session_endpoint`.
///
/// `client_id` is always sent; `id_token_hint`, `post_logout_redirect_uri`
/// and `state` when given. A query already present in the endpoint is kept,
/// except for parameters this function sets, which are replaced so that none
/// appears twice.
pub fn end_session_url(
    metadata: &ProviderMetadata,
    client_id: &str,
    id_token_hint: Option<&str>,
    post_logout_redirect_uri: Option<&Url>,
    state: Option<&str>,
) -> Option<Url> {
    let mut url = metadata.end_session_endpoint.clone()?;
    let ours: Vec<(&str, &str)> = [
        Some(("client_id", client_id)),
        id_token_hint.map(|t| ("id_token_hint", t)),
        post_logout_redirect_uri.map(|u| ("post_logout_redirect_uri", u.as_str())),
        state.map(|s| ("state", s)),
    ]
    .into_iter()
    .flatten()
    .collect();
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .into_owned()
        .filter(|(k, _)| !ours.iter().any(|(name, _)| name == k))
        .collect();
    url.set_query(None);
    url.query_pairs_mut().extend_pairs(kept).extend_pairs(ours);
    Some(url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discovery::test_support::{metadata, metadata_with};
    use std::collections::HashMap;

    fn query(url: &Url) -> Vec<(String, String)> {
        url.query_pairs().into_owned().collect()
    }

    #[test]
    fn builds_logout_url_with_all_parameters() {
        let back = Url::parse("https://app.example.com/?bye=1").unwrap();
        let url = end_session_url(
            &metadata(),
            "my-client",
            Some("a.b.c"),
            Some(&back),
            Some("xyz"),
        )
        .unwrap();
        assert!(url.as_str().starts_with("https://op.example.com/logout?"));
        let q: HashMap<_, _> = query(&url).into_iter().collect();
        assert_eq!(q["client_id"], "my-client");
        assert_eq!(q["id_token_hint"], "a.b.c");
        assert_eq!(
            q["post_logout_redirect_uri"],
            "https://app.example.com/?bye=1"
        );
        assert_eq!(q["state"], "xyz");
    }

    #[test]
    fn omits_absent_optional_parameters() {
        let url = end_session_url(&metadata(), "my-client", None, None, None).unwrap();
        assert_eq!(
            query(&url),
            vec![("client_id".to_owned(), "my-client".to_owned())]
        );
    }

    #[test]
    fn returns_none_without_end_session_endpoint() {
        let m = metadata_with(|d| {
            d.as_object_mut().unwrap().remove("end_session_endpoint");
        });
        assert_eq!(
            end_session_url(&m, "my-client", Some("t"), None, None),
            None
        );
    }

    #[test]
    fn preserves_existing_query_and_replaces_our_parameters() {
        let m = metadata_with(|d| {
            d["end_session_endpoint"] =
                "https://op.example.com/logout?tenant=acme&client_id=stale".into()
        });
        let url = end_session_url(&m, "my-client", None, None, None).unwrap();
        assert_eq!(
            query(&url),
            vec![
                ("tenant".to_owned(), "acme".to_owned()),
                ("client_id".to_owned(), "my-client".to_owned())
            ]
        );
    }
}
