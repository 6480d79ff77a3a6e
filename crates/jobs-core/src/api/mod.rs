//! What the HTTP API adds to the services: the errors of a request ([`ApiError`]), the
//! RFC 9457 problems they become ([`ProblemType`] owns each type's slug, status and
//! title; [`problem`] is the one mapping), and entity tags. The services return domain
//! errors only; the intake turns them into responses through this module.

mod error;
mod etag;
mod headers;
mod problem;

pub use error::{ApiError, RequestError};
pub use etag::{etag_of, if_none_match};
pub use headers::{Headers, NOT_TEXT};
pub use problem::{PROBLEM_BASE, Problem, ProblemType, UNAVAILABLE_RETRY_AFTER_S, problem};
