//! An HTTP response read in full, and the RFC 9457 problem document every error must be.

use serde_json::Value;

/// A response with its body already read, so assertions can look at it more than once
/// and print it when they fail.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The request line that produced this reply ("POST /jobs"), for failure messages.
    pub request: String,
    pub status: u16,
    /// Header names lower-cased, in the order received.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The media type of the body without parameters, lower-cased ("application/json").
    pub fn media_type(&self) -> Option<String> {
        self.header("content-type").map(|ct| {
            ct.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
    }

    /// The body as text (lossy), for messages and text results.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON; panics with the reply if it is not.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body of {self} is not JSON ({e})"))
    }

    /// Panics with the whole reply unless the status is `status`.
    #[track_caller]
    pub fn expect_status(&self, status: u16) -> &Reply {
        assert_eq!(self.status, status, "unexpected status from {self}");
        self
    }

    /// Checks that this reply is an RFC 9457 problem with `status` and returns it.
    ///
    /// Required: status line `status`, media type `application/problem+json`, and the
    /// members `type` (string), `title` (non-empty string), `status` (equal to the status
    /// line) and `detail` (non-empty string).
    #[track_caller]
    pub fn expect_problem(&self, status: u16) -> Problem {
        self.expect_status(status);
        assert_eq!(
            self.media_type().as_deref(),
            Some("application/problem+json"),
            "an error must be application/problem+json: {self}"
        );
        let doc = self.json();
        let text = |member: &str| -> String {
            match doc.get(member) {
                Some(Value::String(s)) => s.clone(),
                other => {
                    panic!("problem member {member:?} must be a string, got {other:?}: {self}")
                }
            }
        };
        let problem = Problem {
            kind: text("type"),
            title: text("title"),
            detail: text("detail"),
            status: doc
                .get("status")
                .and_then(Value::as_u64)
                .unwrap_or_else(|| panic!("problem member \"status\" must be a number: {self}")),
        };
        assert_eq!(
            problem.status,
            u64::from(status),
            "problem status member: {self}"
        );
        assert!(
            !problem.title.trim().is_empty(),
            "problem title is empty: {self}"
        );
        assert!(
            !problem.detail.trim().is_empty(),
            "problem detail is empty: {self}"
        );
        assert!(
            !problem.kind.trim().is_empty(),
            "problem type is empty: {self}"
        );
        problem
    }

    /// [`Reply::expect_problem`], and the problem `type` is the documented one for this
    /// error: a URI ending in `/{slug}` (docs/problems.md lists the slugs).
    #[track_caller]
    pub fn expect_problem_type(&self, status: u16, slug: &str) -> Problem {
        let problem = self.expect_problem(status);
        assert!(
            problem.kind.ends_with(&format!("/{slug}")),
            "problem type should end in /{slug}: {self}"
        );
        problem
    }
}

impl std::fmt::Display for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} -> {}", self.request, self.status)?;
        for (name, value) in &self.headers {
            write!(f, "\n  {name}: {value}")?;
        }
        let text = self.text();
        let shown: String = text.chars().take(2000).collect();
        write!(f, "\n  body ({} bytes): {shown}", self.body.len())
    }
}

/// The members of an RFC 9457 problem document the contract requires.
#[derive(Debug, Clone)]
pub struct Problem {
    /// The `type` member (a URI reference).
    pub kind: String,
    pub title: String,
    pub status: u64,
    pub detail: String,
}
