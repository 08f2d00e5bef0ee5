//! The few HTML pages the dev OP serves. Everything interpolated is HTML-escaped.

use crate::DevUser;

/// Escapes text for use in HTML element content and double-quoted attribute values.
pub(crate) fn escape(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    for c in input.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            '`' => out.push_str("&#x60;"),
            _ => out.push(c),
        }
    }
    out
}

const BANNER: &str = "Development OpenID Provider — not for production";

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{title}</title><style>\
body{{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;color:#222}}\
.banner{{background:#fff3cd;border:1px solid #e0c060;padding:.5rem .75rem;border-radius:4px;font-size:.9rem}}\
button{{display:block;width:100%;margin:.5rem 0;padding:.75rem;font-size:1rem;cursor:pointer}}\
button.hint{{outline:3px solid #36c}}.muted{{color:#666;font-size:.85rem}}\
</style></head><body><p class=\"banner\" role=\"note\">{BANNER}</p>\n{body}\n</body></html>\n",
        title = escape(title),
    )
}

/// An error page shown instead of redirecting (unknown client, bad redirect URI, ...).
pub(crate) fn error_page(title: &str, detail: &str) -> String {
    page(
        title,
        &format!(
            "<h1>{}</h1><p id=\"error\">{}</p>",
            escape(title),
            escape(detail)
        ),
    )
}

/// The sign-in page: one `button[name=user][value=<id>]` per sample user.
pub(crate) fn sign_in_page(
    action: &str,
    cancel_action: &str,
    handle: &str,
    client_id: &str,
    users: &[DevUser],
    login_hint: Option<&str>,
) -> String {
    let mut buttons = String::new();
    for user in users {
        let hinted = login_hint.is_some_and(|h| {
            h == user.id || user.claims.get("email").and_then(|e| e.as_str()) == Some(h)
        });
        let email = user
            .claims
            .get("email")
            .and_then(|e| e.as_str())
            .map(|e| format!(" <span class=\"muted\">({})</span>", escape(e)))
            .unwrap_or_default();
        buttons.push_str(&format!(
            "<button type=\"submit\" name=\"user\" value=\"{id}\"{extra}>Sign in as {name}{email}</button>\n",
            id = escape(&user.id),
            name = escape(user.display_name()),
            extra = if hinted { " class=\"hint\" autofocus" } else { "" },
        ));
    }
    let hint = login_hint
        .map(|h| {
            format!(
                "<p class=\"muted\">Login hint: <span id=\"login-hint\">{}</span></p>",
                escape(h)
            )
        })
        .unwrap_or_default();
    page(
        "Sign in — Development OpenID Provider",
        &format!(
            "<h1>Sign in</h1><p><strong>{client}</strong> asks you to sign in. \
Pick a sample user; there are no passwords.</p>{hint}\
<form method=\"post\" action=\"{action}\">\
<input type=\"hidden\" name=\"request\" value=\"{handle}\">\n{buttons}</form>\
<form method=\"post\" action=\"{cancel}\"><input type=\"hidden\" name=\"request\" value=\"{handle}\">\
<button type=\"submit\" name=\"cancel\" value=\"1\" class=\"muted\">Cancel</button></form>",
            client = escape(client_id),
            action = escape(action),
            cancel = escape(cancel_action),
            handle = escape(handle),
        ),
    )
}

/// The `form_post` response page (OAuth 2.0 Form Post Response Mode).
pub(crate) fn form_post_page(redirect_uri: &str, params: &[(&str, &str)]) -> String {
    let mut inputs = String::new();
    for (name, value) in params {
        inputs.push_str(&format!(
            "<input type=\"hidden\" name=\"{}\" value=\"{}\">\n",
            escape(name),
            escape(value)
        ));
    }
    page(
        "Submit this form",
        &format!(
            "<form method=\"post\" action=\"{action}\">\n{inputs}\
<noscript><p>JavaScript is off: press the button to continue.</p></noscript>\
<button type=\"submit\">Continue</button></form>\
<script>document.forms[0].submit();</script>",
            action = escape(redirect_uri),
        ),
    )
}

/// The landing page at `/`.
pub(crate) fn index_page(issuer: &str, users: &[DevUser]) -> String {
    let mut list = String::new();
    for user in users {
        list.push_str(&format!(
            "<li><code>{}</code> — {}</li>",
            escape(&user.id),
            escape(user.display_name())
        ));
    }
    page(
        "Development OpenID Provider",
        &format!(
            "<h1>Development OpenID Provider</h1><p>Issuer: <code>{issuer}</code></p>\
<p><a href=\"{issuer}/.well-known/openid-configuration\">Discovery document</a> · \
<a href=\"{issuer}/jwks\">JWKS</a></p><h2>Sample users</h2><ul>{list}</ul>",
            issuer = escape(issuer),
        ),
    )
}

/// Shown after logout when there is no post-logout redirect URI.
pub(crate) fn signed_out_page() -> String {
    page(
        "Signed out",
        "<h1>Signed out</h1><p id=\"signed-out\">You are signed out of the development OpenID Provider.</p>",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_neutralises_markup_and_attribute_breakouts() {
        assert_eq!(
            escape(r#"<script>"x"&'y'`"#),
            "&lt;script&gt;&quot;x&quot;&amp;&#x27;y&#x27;&#x60;"
        );
    }

    #[test]
    fn sign_in_page_escapes_hostile_login_hint_and_user_fields() {
        let user = DevUser::new(
            "\"><img src=x>",
            serde_json::from_str(r#"{"name":"<b>x</b>"}"#).unwrap(),
        );
        let html = sign_in_page(
            "/a",
            "/c",
            "h",
            "<client>",
            &[user],
            Some("\"><script>alert(1)</script>"),
        );
        assert!(!html.contains("<script>alert"));
        assert!(!html.contains("<img"));
        assert!(!html.contains("<b>x"));
        assert!(!html.contains("<client>"));
    }

    #[test]
    fn form_post_page_escapes_values() {
        let html = form_post_page("https://rp/cb?a=1&b=\"2", &[("state", "\"><x>")]);
        assert!(html.contains("action=\"https://rp/cb?a=1&amp;b=&quot;2\""));
        assert!(html.contains("value=\"&quot;&gt;&lt;x&gt;\""));
    }
}
