//! The demo's page frame (the look of Portcullis' own error pages), HTML
//! escaping and readable times.

use axum::response::Html;

/// A page with `title` as its heading and `body` (already HTML) below it.
pub(crate) fn page(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title><style>{}{EXTRA_STYLE}</style></head><body><main><h1>{title}</h1>{body}\
         </main></body></html>",
        portcullis::error::PAGE_STYLE,
        title = escape(title),
    ))
}

const EXTRA_STYLE: &str = ".notice{background:#e9f6ec;border-radius:6px;padding:.6rem .9rem}\
h3{font-size:.95rem;margin-bottom:.2rem}.steps li{margin-bottom:.4rem}details{margin-top:.8rem}";

/// Escapes text for HTML.
pub(crate) fn escape(text: &str) -> String {
    portcullis::error::escape_html(text)
}

/// A unix time as an HTTP date with how far it is from `now`:
/// `Wed, 02 Dec 2026 10:00:00 GMT (in 59 min)`.
pub(crate) fn readable_time(secs: u64, now: u64) -> String {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs);
    format!("{} ({})", httpdate::fmt_http_date(at), relative(secs, now))
}

fn relative(secs: u64, now: u64) -> String {
    let (delta, future) = if secs >= now {
        (secs - now, true)
    } else {
        (now - secs, false)
    };
    let amount = match delta {
        0..=59 => format!("{delta} s"),
        60..=3599 => format!("{} min", delta / 60),
        3600..=86_399 => format!("{} h {} min", delta / 3600, delta % 3600 / 60),
        86_400..=172_799 => "1 day".to_owned(),
        _ => format!("{} days", delta / 86_400),
    };
    if delta == 0 {
        "now".to_owned()
    } else if future {
        format!("in {amount}")
    } else {
        format!("{amount} ago")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_readable_and_relative() {
        assert_eq!(
            readable_time(1_796_205_600, 1_796_205_600 - 3540),
            "Wed, 02 Dec 2026 10:00:00 GMT (in 59 min)"
        );
        assert_eq!(relative(100, 100), "now");
        assert_eq!(relative(100, 130), "30 s ago");
        assert_eq!(relative(100_000, 100), "in 1 day");
        assert_eq!(relative(7300, 100), "in 2 h 0 min");
    }

    #[test]
    fn pages_escape_their_title() {
        let Html(html) = page("<b>", "body");
        assert!(
            html.contains("&lt;b&gt;") && !html.contains("<b>"),
            "{html}"
        );
    }
}
