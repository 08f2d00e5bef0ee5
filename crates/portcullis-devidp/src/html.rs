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

/// The landing page at `/`, with the dev-only "end this user's sessions" buttons.
pub(crate) fn index_page(issuer: &str, users: &[DevUser]) -> String {
    let mut list = String::new();
    let mut buttons = String::new();
    for user in users {
        list.push_str(&format!(
            "<li><code>{}</code> — {}</li>",
            escape(&user.id),
            escape(user.display_name())
        ));
        buttons.push_str(&format!(
            "<button type=\"submit\" name=\"sub\" value=\"{id}\">End {name}'s sessions</button>\n",
            id = escape(&user.id),
            name = escape(user.display_name()),
        ));
    }
    page(
        "Development OpenID Provider",
        &format!(
            "<h1>Development OpenID Provider</h1><p>Issuer: <code>{issuer}</code></p>\
<p><a href=\"{issuer}/.well-known/openid-configuration\">Discovery document</a> · \
<a href=\"{issuer}/jwks\">JWKS</a></p><h2>Sample users</h2><ul>{list}</ul>\
<h2>Back-channel logout (dev only)</h2><p class=\"muted\">Ends every OP session of the user \
and POSTs a logout token to each client with a back-channel logout URI that the sessions \
signed into, as an OP does when a user is signed out centrally. <code>POST {issuer}/dev/end-session</code> \
with <code>sub</code> (form or query) does the same; send <code>Accept: application/json</code> \
for a JSON answer. This route is unauthenticated: it exists only in this development OP.</p>\
<form method=\"post\" action=\"{issuer}/dev/end-session\">\n{buttons}</form>",
            issuer = escape(issuer),
        ),
    )
}

/// The logged-out page of the end_session endpoint.
///
/// `frames` are front-channel logout URLs, each loaded in a hidden iframe. With
/// `continue_to` (the post-logout redirect, state included), the page offers a link
/// there and, with JavaScript, follows it once every iframe has fired `load` (or after
/// 5 s, whichever comes first).
pub(crate) fn signed_out_page(frames: &[String], continue_to: Option<&str>) -> String {
    let mut body = String::from(
        "<h1>Signed out</h1><p id=\"signed-out\">You are signed out of the development OpenID Provider.</p>",
    );
    let navigate = continue_to.is_some() && !frames.is_empty();
    if navigate {
        // Defined before the iframes, so no load event can be missed.
        body.push_str(&format!(
            "<script>var fclPending={n},fclGone=false;\
function fclContinue(){{var a=document.getElementById('continue');\
if(a&&!fclGone){{fclGone=true;window.location.replace(a.href);}}}}\
function fclLoaded(){{fclPending-=1;if(fclPending<=0)fclContinue();}}\
setTimeout(fclContinue,5000);</script>",
            n = frames.len()
        ));
    }
    if !frames.is_empty() {
        body.push_str(&format!(
            "<p class=\"muted\" id=\"frontchannel\">Signing you out of {} application(s)…</p>\n",
            frames.len()
        ));
    }
    for src in frames {
        body.push_str(&format!(
            "<iframe class=\"frontchannel-logout\" src=\"{}\" hidden width=\"0\" height=\"0\" \
title=\"Front-channel logout\"{}></iframe>\n",
            escape(src),
            if navigate {
                " onload=\"fclLoaded()\""
            } else {
                ""
            },
        ));
    }
    if let Some(target) = continue_to {
        body.push_str(&format!(
            "<p><a id=\"continue\" href=\"{}\">Continue</a></p>",
            escape(target)
        ));
    }
    page("Signed out", &body)
}

/// The answer of `POST /dev/end-session` to a browser.
pub(crate) fn sessions_ended_page(
    issuer: &str,
    sub: &str,
    sessions: usize,
    delivered: usize,
) -> String {
    page(
        "Sessions ended",
        &format!(
            "<h1>Sessions ended</h1><p id=\"sessions-ended\">Ended {sessions} OP session(s) of \
<code>{sub}</code>; {delivered} back-channel logout token(s) were accepted.</p>\
<p><a href=\"{issuer}/\">Back</a></p>",
            sub = escape(sub),
            issuer = escape(issuer),
        ),
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
    fn signed_out_page_escapes_frames_and_target_and_waits_only_when_it_must_navigate() {
        let html = signed_out_page(
            &["http://rp/fcl?iss=a&sid=\"><x>".to_owned()],
            Some("http://rp/bye?state=\"><y>"),
        );
        assert!(html.contains("src=\"http://rp/fcl?iss=a&amp;sid=&quot;&gt;&lt;x&gt;\""));
        assert!(html.contains("href=\"http://rp/bye?state=&quot;&gt;&lt;y&gt;\""));
        assert!(html.contains("onload=\"fclLoaded()\""));
        assert!(!html.contains("<x>") && !html.contains("<y>"));

        let html = signed_out_page(&["http://rp/fcl".to_owned()], None);
        assert!(html.contains("<iframe"));
        assert!(!html.contains("<script>") && !html.contains("onload"));

        let html = signed_out_page(&[], None);
        assert!(!html.contains("<iframe") && !html.contains("<script>"));
    }

    #[test]
    fn form_post_page_escapes_values() {
        let html = form_post_page("https://rp/cb?a=1&b=\"2", &[("state", "\"><x>")]);
        assert!(html.contains("action=\"https://rp/cb?a=1&amp;b=&quot;2\""));
        assert!(html.contains("value=\"&quot;&gt;&lt;x&gt;\""));
    }
}
