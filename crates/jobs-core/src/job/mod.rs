//! The job record and its vocabulary: ids, tenants, statuses, timestamps, progress,
//! errors, inputs, and the state machine that is the only way a record changes status.
//!
//! Pure values: no I/O, no clock (callers pass `now`), no Spin.

mod error;
mod id;
mod input;
mod record;
mod status;
mod tenant;
#[cfg(test)]
pub(crate) mod testing;
#[cfg(test)]
mod tests;
mod time;

pub use error::{ErrorInfo, ErrorType};
pub use id::{InvalidJobId, JobId};
pub use input::{INLINE_INPUT_MAX, JobInput, unreadable_input};
pub use record::{Job, Progress, Refusal, TransitionError};
pub use status::Status;
pub use tenant::{InvalidTenant, Tenant};
pub use time::{InvalidTimestamp, Timestamp};
