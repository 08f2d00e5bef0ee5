//! [`Report`]: the error type for `main`, printed as a readable paragraph.

use std::error::Error;
use std::fmt;

/// An error to return from `main`.
///
/// Rust prints the error a `main` returns with `Debug`, which for most error
/// types is a struct dump (`Missing("…")`, `Os { code: 98, … }`). A
/// `Report`'s `Debug` is its message and causes in one readable paragraph,
/// so `fn main() -> Result<(), portcullis::Report>` prints what went wrong
/// and what to do, and exits with status 1. Any error converts into it with `?`.
///
/// ```
/// fn main() -> Result<(), portcullis::Report> {
///     let port: u16 = "3000".parse()?;
///     assert_eq!(port, 3000);
///     Ok(())
/// }
/// ```
pub struct Report(Box<dyn Error + Send + Sync + 'static>);

impl Report {
    /// The message and every cause that adds something, joined by `: `.
    fn describe(&self) -> String {
        let mut text = self.0.to_string();
        let mut cause = self.0.source();
        while let Some(error) = cause {
            let more = error.to_string();
            if !more.is_empty() && !text.contains(&more) {
                text.push_str(": ");
                text.push_str(&more);
            }
            cause = error.source();
        }
        text
    }

    /// The error this report carries.
    pub fn error(&self) -> &(dyn Error + Send + Sync + 'static) {
        &*self.0
    }
}

impl<E: Error + Send + Sync + 'static> From<E> for Report {
    fn from(error: E) -> Self {
        Report(Box::new(error))
    }
}

impl fmt::Debug for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer failed")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn debug_is_the_readable_message_with_its_causes() {
        let report = Report::from(Outer(std::io::Error::other("disk on fire")));
        let shown = format!("{report:?}");
        assert_eq!(shown, "outer failed: disk on fire");
        assert!(!shown.contains("Outer("), "{shown}");
    }

    #[test]
    fn a_cause_already_in_the_message_is_not_repeated() {
        #[derive(Debug, thiserror::Error)]
        #[error("wrapped: {0}")]
        struct Says(#[source] std::io::Error);
        let report = Report::from(Says(std::io::Error::other("boom")));
        assert_eq!(format!("{report:?}"), "wrapped: boom");
    }
}
