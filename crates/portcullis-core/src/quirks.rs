//! Claims some providers send with the wrong JSON type, made standard.
//!
//! OpenID Connect Core §5.1 defines `email_verified` and
//! `phone_number_verified` as booleans. Amazon Cognito's userinfo, older
//! Google ID tokens, JumpCloud, and custom claims mapped from string user
//! attributes (Okta, Auth0 Actions, Keycloak user-attribute mappers) send
//! them as the strings `"true"` and `"false"`.
//! A check such as `claim_equals("email_verified", true)` would then refuse
//! a verified user, and a naive `is_some()` would accept `"false"`.
//!
//! [`normalize_claims`] turns exactly those two strings (in any letter case)
//! into booleans and leaves every other value alone: a string such as
//! `"yes"` stays a string, so it matches neither `true` nor `false`.

use serde_json::{Map, Value};

/// The claims that Core §5.1 defines as booleans and providers send as strings.
pub const BOOLEAN_CLAIMS: &[&str] = &["email_verified", "phone_number_verified"];

/// Turns `"true"` / `"false"` in [`BOOLEAN_CLAIMS`] into JSON booleans.
pub fn normalize_claims(claims: &mut Map<String, Value>) {
    for name in BOOLEAN_CLAIMS {
        if let Some(value) = claims.get_mut(*name)
            && let Some(text) = value.as_str()
        {
            if text.eq_ignore_ascii_case("true") {
                *value = Value::Bool(true);
            } else if text.eq_ignore_ascii_case("false") {
                *value = Value::Bool(false);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn normalized(value: Value) -> Value {
        let Value::Object(mut map) = value else {
            panic!("an object");
        };
        normalize_claims(&mut map);
        Value::Object(map)
    }

    #[test]
    fn string_booleans_of_the_verified_claims_become_booleans() {
        let claims = normalized(json!({
            "email_verified": "true",
            "phone_number_verified": "FALSE",
        }));
        assert_eq!(claims["email_verified"], json!(true));
        assert_eq!(claims["phone_number_verified"], json!(false));
    }

    #[test]
    fn other_values_and_other_claims_are_left_alone() {
        let claims = normalized(json!({
            "email_verified": "yes",
            "custom_verified": "true",
            "name": "true",
        }));
        assert_eq!(claims["email_verified"], json!("yes"));
        assert_eq!(claims["custom_verified"], json!("true"));
        assert_eq!(claims["name"], json!("true"));
        let claims = normalized(json!({ "email_verified": true }));
        assert_eq!(claims["email_verified"], json!(true));
    }
}
