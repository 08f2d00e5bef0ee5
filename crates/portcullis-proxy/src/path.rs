//! The normalised request path that skip-auth and authorization rules see.
//!
//! Rules are matched against the path only (never the query or fragment),
//! percent-decoded once, with `;` parameters removed from each segment, empty
//! segments collapsed and dot segments resolved (never above the root).
//! Whatever an upstream might read differently from us makes the path
//! *ambiguous*: a percent-encoded `/`, `\` or `;`, what is still
//! percent-encoded after one decoding (double encoding), a backslash, a
//! control character, bytes that are not UTF-8, or `;` parameters. An
//! ambiguous path never skips authentication, and every authorization rule
//! applies to it: a trick can only ever make the gate stricter.

use percent_encoding::percent_decode_str;

/// A request path as the rules see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NormalPath {
    /// The normalised path, starting with `/`.
    pub path: String,
    /// Whether an upstream could read the raw path differently.
    pub ambiguous: bool,
}

impl NormalPath {
    /// The strictest reading: no skip-auth rule, every authorization rule.
    pub fn unknown() -> Self {
        Self {
            path: "/".to_owned(),
            ambiguous: true,
        }
    }
}

/// Normalises the path of a request target (anything from `?` or `#` on is
/// cut off first).
pub fn normalise(target: &str) -> NormalPath {
    let raw = target.split(['?', '#']).next().unwrap_or_default();
    let mut ambiguous = !raw.starts_with('/');
    let lower = raw.to_ascii_lowercase();
    if lower.contains("%2f")
        || lower.contains("%5c")
        || lower.contains("%3b")
        || lower.contains("%00")
    {
        ambiguous = true;
    }
    let decoded_bytes: Vec<u8> = percent_decode_str(raw).collect();
    let decoded = match String::from_utf8(decoded_bytes) {
        Ok(text) => text,
        Err(error) => {
            ambiguous = true;
            String::from_utf8_lossy(error.as_bytes()).into_owned()
        }
    };
    if still_encoded(&decoded) || decoded.chars().any(|c| c == '\\' || c.is_control()) {
        ambiguous = true;
    }
    // A backslash is a separator to some servers: read it as one (stricter).
    let decoded = decoded.replace('\\', "/");
    let mut segments: Vec<&str> = Vec::new();
    for segment in decoded.split('/') {
        let segment = match segment.split_once(';') {
            Some((name, _params)) => {
                ambiguous = true;
                name
            }
            None => segment,
        };
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            name => segments.push(name),
        }
    }
    let mut path = String::with_capacity(decoded.len() + 1);
    for segment in &segments {
        path.push('/');
        path.push_str(segment);
    }
    let trailing = decoded.ends_with('/')
        || decoded.ends_with("/.")
        || decoded.ends_with("/..")
        || (decoded.ends_with(';') && !segments.is_empty());
    if path.is_empty() || (trailing && !path.ends_with('/')) {
        path.push('/');
    }
    NormalPath { path, ambiguous }
}

/// Whether `%XX` (two hex digits) is still in the text.
fn still_encoded(text: &str) -> bool {
    text.as_bytes()
        .windows(3)
        .any(|w| w[0] == b'%' && w[1].is_ascii_hexdigit() && w[2].is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(path: &str) -> String {
        let n = normalise(path);
        assert!(!n.ambiguous, "{path} should not be ambiguous");
        n.path
    }

    fn strict(path: &str) -> String {
        let n = normalise(path);
        assert!(n.ambiguous, "{path} should be ambiguous");
        n.path
    }

    #[test]
    fn dot_segments_are_resolved_never_above_the_root() {
        assert_eq!(plain("/public/../private"), "/private");
        assert_eq!(plain("/public/./x"), "/public/x");
        assert_eq!(plain("/../../etc"), "/etc");
        assert_eq!(plain("/a/b/.."), "/a/");
        assert_eq!(plain("//public//x"), "/public/x");
        assert_eq!(plain("/"), "/");
    }

    #[test]
    fn percent_decoding_is_done_exactly_once() {
        assert_eq!(plain("/public/%2e%2e/private"), "/private");
        assert_eq!(plain("/public/%2E%2E/private"), "/private");
        assert_eq!(plain("/p%75blic/x"), "/public/x");
        // Double encoding decodes to %2e, which is still encoded: ambiguous.
        assert_eq!(
            strict("/public/%252e%252e/private"),
            "/public/%2e%2e/private"
        );
    }

    #[test]
    fn encoded_separators_and_parameters_are_ambiguous() {
        assert_eq!(strict("/public%2F..%2Fprivate"), "/private");
        assert_eq!(strict("/public/..%5Cprivate"), "/private");
        assert_eq!(strict("/public/..;/private"), "/private");
        assert_eq!(strict("/public;x=1/../private"), "/private");
        assert_eq!(strict("/private;.css"), "/private");
        assert_eq!(strict("/public\\..\\private"), "/private");
        strict("/a%00b");
        strict("/a%ffb");
        strict("relative");
    }

    #[test]
    fn query_and_fragment_are_never_part_of_the_path() {
        assert_eq!(plain("/private?/public/"), "/private");
        assert_eq!(plain("/private#/public/"), "/private");
        assert_eq!(plain("/private?x=/public/../"), "/private");
    }
}
