//! Settings of a deployment, parsed from Spin variables (or anything that maps a name to
//! a string) with defaults and range checks. No Spin imports: the component passes a
//! lookup closure.

use thiserror::Error;

/// The largest `max_body_bytes` a deployment may set: 32 MiB, what a worker reads of
/// inputs stored apart at once (`worker::INPUT_BYTES_AT_ONCE` is this), so one input
/// always fits in a read. The intake holds a body a few times over while it checks it, and
/// a hosted Spin instance has 128 MiB.
pub const MAX_BODY_BYTES: usize = 32 << 20;

/// The longest `job_ttl_seconds`: 100 years. An idempotency key expires with its job
/// through Redis's `SET … PX`, which refuses more than about 292 million years in ms, and
/// a "keep forever" of `u64::MAX` made every submission with a key fail.
pub const MAX_JOB_TTL_SECONDS: u64 = 100 * 365 * 24 * 3_600;

/// The longest `lease_ms`: one day. A job that reports no progress for that long is
/// better taken over; and a lease deadline stays a number Redis keeps exactly.
pub const MAX_LEASE_MS: u64 = 24 * 3_600_000;

/// The longest `drain_budget_ms`: one hour, past any platform's request time limit. The
/// watch for work due later expires through `SET … PX` with what is left of the budget,
/// which Redis refuses past about 292 million years: a larger budget only warned.
pub const MAX_DRAIN_BUDGET_MS: u64 = 3_600_000;

/// What `body_timeout_ms` may be: from 100 ms to 10 minutes.
pub const BODY_TIMEOUT_RANGE: std::ops::RangeInclusive<u64> = 100..=600_000;

/// Every setting, valid once built. The names of the Spin variables are the field names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Redis for the queue, leases, indexes and doorbell: `redis://` or `rediss://`.
    /// Default `redis://127.0.0.1:6379`.
    pub redis_address: String,
    /// The pub/sub channel the worker's trigger listens on (the doorbell). Default `jobs`.
    pub queue_channel: String,
    /// Largest accepted request body in bytes; larger is `413`. Default 1 MiB, which also
    /// keeps records under the 1 MB value limit of hosted key-value stores; at most
    /// [`MAX_BODY_BYTES`].
    pub max_body_bytes: usize,
    /// How long a request body may take to arrive, in ms: a client that sends it slower
    /// (one byte at a time, say) gets a `400` and the instance's memory back. Default
    /// 30000, range [`BODY_TIMEOUT_RANGE`].
    pub body_timeout_ms: u64,
    /// `max_attempts` of a submission that does not give one. Default 3, range 1..=25.
    pub default_max_attempts: u32,
    /// How long a claim lasts without a heartbeat before another worker may take the job.
    /// Default 30000, at least 1000 (shorter would expire between two progress reports),
    /// at most [`MAX_LEASE_MS`].
    pub lease_ms: u64,
    /// How long one worker instance keeps claiming jobs per doorbell before it re-rings
    /// and returns. Default 2000, at most [`MAX_DRAIN_BUDGET_MS`].
    pub drain_budget_ms: u64,
    /// How many runs of waiting kinds (`sleep`; see `Kind::waits`) one worker instance
    /// keeps going side by side. Default 8, range 1..=256.
    pub worker_concurrency: usize,
    /// How long finished jobs, results and idempotency keys are kept. Default 86400
    /// (one day), at least 1.
    pub job_ttl_seconds: u64,
    /// A secret that allows the operator drain endpoint, or `None` (empty variable) to
    /// disable it.
    pub drain_token: Option<String>,
    /// Offers the test-only kinds (`count`, which counts its executions in Redis) when
    /// `true`. Default `false`: production rejects them as unknown kinds.
    pub enable_test_kinds: bool,
    /// Every route but `/healthz` needs an API key (variable `auth`, `on` or `off`).
    /// Default `on`; `off` serves every request as the tenant `default`, for local
    /// experiments only.
    pub auth: bool,
    /// A secret that allows the admin API (`/admin/...`: tenants and API keys), or `None`
    /// (empty variable) to hide it.
    pub admin_token: Option<String>,
    /// Serves keyless requests from the runtime's own machine as the tenant `default`
    /// while no `admin_token` is set (variable `local_mode`, `on` or `off`; default `on`,
    /// README "Local mode"). A deployment whose proxies connect over loopback (a service
    /// mesh's sidecar, `kubectl port-forward`) sets `off`.
    pub local_mode: bool,
    /// Most jobs one tenant may have queued (waiting, delayed or waiting to retry) when
    /// its own settings say nothing. Default 100000, at least 1.
    pub max_queued_jobs: u64,
    /// Allows `callback_url`s over plain `http` and to internal hosts (loopback,
    /// private addresses): for local development and tests only. Default `false`.
    pub webhook_allow_insecure: bool,
    /// The delays before each delivery attempt of a webhook (as many attempts as
    /// entries). Default the Standard Webhooks example, `0s,5s,5m,30m,2h,5h,10h,10h`.
    pub webhook_retry_schedule: crate::webhook::Schedule,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            redis_address: "redis://127.0.0.1:6379".to_owned(),
            queue_channel: "jobs".to_owned(),
            max_body_bytes: 1_048_576,
            body_timeout_ms: 30_000,
            default_max_attempts: 3,
            lease_ms: 30_000,
            drain_budget_ms: 2_000,
            worker_concurrency: 8,
            job_ttl_seconds: 86_400,
            drain_token: None,
            enable_test_kinds: false,
            auth: true,
            admin_token: None,
            local_mode: true,
            max_queued_jobs: 100_000,
            webhook_allow_insecure: false,
            webhook_retry_schedule: crate::webhook::Schedule::default(),
        }
    }
}

/// A setting that could not be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConfigError {
    /// The variable `name` was set to `value`, which is not allowed because `reason`.
    #[error("invalid setting {name} = {value:?}: {reason}")]
    Invalid {
        name: &'static str,
        value: String,
        reason: String,
    },
}

/// The valid range of the numeric settings, in one place for the checks and the docs.
pub const MAX_ATTEMPTS_RANGE: std::ops::RangeInclusive<u32> = 1..=25;
pub const WORKER_CONCURRENCY_RANGE: std::ops::RangeInclusive<usize> = 1..=256;

impl Settings {
    /// Reads every setting through `lookup` (a Spin variable getter, an env reader, a
    /// map in tests). A missing variable takes its default; a variable set to something
    /// unusable is an error naming it, never a silent default.
    pub fn from_lookup<F>(lookup: F) -> Result<Settings, ConfigError>
    where
        F: Fn(&str) -> Option<String>,
    {
        let d = Settings::default();
        let get = |name: &'static str| lookup(name).map(|v| (name, v));

        let redis_address = match get("redis_address") {
            None => d.redis_address,
            Some((name, raw)) => {
                let v = raw.trim();
                let ok = ["redis://", "rediss://"]
                    .iter()
                    .any(|p| v.len() > p.len() && v.starts_with(p));
                if !ok {
                    return Err(invalid(
                        name,
                        &raw,
                        "must be a URL starting with redis:// or rediss://",
                    ));
                }
                v.to_owned()
            }
        };

        let queue_channel = match get("queue_channel") {
            None => d.queue_channel,
            Some((name, raw)) => {
                let v = raw.trim();
                if v.is_empty() {
                    return Err(invalid(name, &raw, "must not be empty"));
                }
                v.to_owned()
            }
        };

        let max_body_bytes = number(get("max_body_bytes"), d.max_body_bytes, 1..=MAX_BODY_BYTES)?;
        let body_timeout_ms = number(
            get("body_timeout_ms"),
            d.body_timeout_ms,
            BODY_TIMEOUT_RANGE,
        )?;
        let default_max_attempts = number(
            get("default_max_attempts"),
            d.default_max_attempts,
            MAX_ATTEMPTS_RANGE,
        )?;
        let lease_ms = number(get("lease_ms"), d.lease_ms, 1_000..=MAX_LEASE_MS)?;
        let drain_budget_ms = number(
            get("drain_budget_ms"),
            d.drain_budget_ms,
            0..=MAX_DRAIN_BUDGET_MS,
        )?;
        let worker_concurrency = number(
            get("worker_concurrency"),
            d.worker_concurrency,
            WORKER_CONCURRENCY_RANGE,
        )?;
        let job_ttl_seconds = number(
            get("job_ttl_seconds"),
            d.job_ttl_seconds,
            1..=MAX_JOB_TTL_SECONDS,
        )?;
        let drain_token = lookup("drain_token").filter(|t| !t.is_empty());
        let admin_token = lookup("admin_token").filter(|t| !t.is_empty());
        let auth = switch(get("auth"), d.auth, ["on", "off"])?;
        let local_mode = switch(get("local_mode"), d.local_mode, ["on", "off"])?;
        let max_queued_jobs = number(get("max_queued_jobs"), d.max_queued_jobs, 1..=u64::MAX)?;
        let webhook_allow_insecure = switch(
            get("webhook_allow_insecure"),
            d.webhook_allow_insecure,
            ["true", "false"],
        )?;
        let webhook_retry_schedule = match get("webhook_retry_schedule") {
            None => d.webhook_retry_schedule,
            Some((name, raw)) => crate::webhook::Schedule::parse(&raw)
                .map_err(|reason| invalid(name, &raw, reason))?,
        };
        let enable_test_kinds = switch(
            get("enable_test_kinds"),
            d.enable_test_kinds,
            ["true", "false"],
        )?;

        Ok(Settings {
            redis_address,
            queue_channel,
            max_body_bytes,
            body_timeout_ms,
            default_max_attempts,
            lease_ms,
            drain_budget_ms,
            worker_concurrency,
            job_ttl_seconds,
            drain_token,
            enable_test_kinds,
            auth,
            admin_token,
            local_mode,
            max_queued_jobs,
            webhook_allow_insecure,
            webhook_retry_schedule,
        })
    }
}

fn invalid(name: &'static str, value: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        name,
        value: value.to_owned(),
        reason: reason.into(),
    }
}

/// Parses a setting that is one of two words, `[yes, no]`, or returns `default` when unset
/// or empty (each such default is the safe or usual one: `auth` on, test kinds off).
fn switch(
    found: Option<(&'static str, String)>,
    default: bool,
    [yes, no]: [&str; 2],
) -> Result<bool, ConfigError> {
    let Some((name, raw)) = found else {
        return Ok(default);
    };
    match raw.trim() {
        "" => Ok(default),
        word if word == yes => Ok(true),
        word if word == no => Ok(false),
        _ => Err(invalid(name, &raw, format!("must be {yes} or {no}"))),
    }
}

/// Parses an unsigned decimal setting within `range`, or returns `default` when unset.
fn number<T>(
    found: Option<(&'static str, String)>,
    default: T,
    range: std::ops::RangeInclusive<T>,
) -> Result<T, ConfigError>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy + Bounded,
{
    let Some((name, raw)) = found else {
        return Ok(default);
    };
    let describe = || {
        if *range.end() == T::MAX {
            format!("must be a whole number of at least {}", range.start())
        } else {
            format!(
                "must be a whole number from {} to {}",
                range.start(),
                range.end()
            )
        }
    };
    match raw.trim().parse::<T>() {
        Ok(n) if range.contains(&n) => Ok(n),
        _ => Err(invalid(name, &raw, describe())),
    }
}

/// The largest value of an integer type, so a range ending there reads "at least N".
trait Bounded {
    const MAX: Self;
}
impl Bounded for u32 {
    const MAX: Self = u32::MAX;
}
impl Bounded for u64 {
    const MAX: Self = u64::MAX;
}
impl Bounded for usize {
    const MAX: Self = usize::MAX;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn from(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn no_variables_give_the_documented_defaults() {
        let s = from(&[]).unwrap();
        assert_eq!(s.redis_address, "redis://127.0.0.1:6379");
        assert_eq!(s.queue_channel, "jobs");
        assert_eq!(s.max_body_bytes, 1_048_576);
        assert_eq!(s.body_timeout_ms, 30_000);
        assert_eq!(s.default_max_attempts, 3);
        assert_eq!(s.lease_ms, 30_000);
        assert_eq!(s.drain_budget_ms, 2_000);
        assert_eq!(s.job_ttl_seconds, 86_400);
        assert_eq!(s.drain_token, None);
        assert!(!s.enable_test_kinds);
        assert_eq!(s, Settings::default());
    }

    #[test]
    fn every_variable_is_read_by_its_name() {
        let s = from(&[
            ("redis_address", "rediss://cache:6380"),
            ("queue_channel", "jobs-test"),
            ("max_body_bytes", "2048"),
            ("body_timeout_ms", "1500"),
            ("default_max_attempts", "25"),
            ("lease_ms", "1000"),
            ("drain_budget_ms", "0"),
            ("worker_concurrency", "3"),
            ("job_ttl_seconds", "1"),
            ("drain_token", "s3cret"),
            ("enable_test_kinds", "true"),
            ("auth", "off"),
            ("admin_token", "adm1n"),
            ("local_mode", "off"),
            ("max_queued_jobs", "7"),
            ("webhook_allow_insecure", "true"),
            ("webhook_retry_schedule", "0,1s"),
        ])
        .unwrap();
        assert_eq!(
            s,
            Settings {
                redis_address: "rediss://cache:6380".into(),
                queue_channel: "jobs-test".into(),
                max_body_bytes: 2048,
                body_timeout_ms: 1500,
                default_max_attempts: 25,
                lease_ms: 1000,
                drain_budget_ms: 0,
                worker_concurrency: 3,
                job_ttl_seconds: 1,
                drain_token: Some("s3cret".into()),
                enable_test_kinds: true,
                auth: false,
                admin_token: Some("adm1n".into()),
                local_mode: false,
                max_queued_jobs: 7,
                webhook_allow_insecure: true,
                webhook_retry_schedule: crate::webhook::Schedule::parse("0,1000").unwrap(),
            }
        );
    }

    #[test]
    fn test_kinds_are_off_unless_the_variable_says_true() {
        assert!(
            !from(&[("enable_test_kinds", "")])
                .unwrap()
                .enable_test_kinds
        );
        assert!(
            !from(&[("enable_test_kinds", "false")])
                .unwrap()
                .enable_test_kinds
        );
        assert!(
            from(&[("enable_test_kinds", " true ")])
                .unwrap()
                .enable_test_kinds
        );
    }

    #[test]
    fn an_empty_drain_token_means_none() {
        assert_eq!(from(&[("drain_token", "")]).unwrap().drain_token, None);
    }

    #[test]
    fn bad_values_are_errors_that_name_the_variable_and_value() {
        let cases: &[(&str, &str)] = &[
            ("redis_address", "http://x"),
            ("redis_address", "redis://"),
            ("queue_channel", "  "),
            ("max_body_bytes", "0"),
            ("max_body_bytes", "lots"),
            ("max_body_bytes", "33554433"),
            ("body_timeout_ms", "99"),
            ("body_timeout_ms", "600001"),
            ("default_max_attempts", "0"),
            ("default_max_attempts", "26"),
            ("default_max_attempts", "-1"),
            ("lease_ms", "999"),
            ("lease_ms", "86400001"),
            ("drain_budget_ms", "1.5"),
            ("drain_budget_ms", "3600001"),
            ("worker_concurrency", "0"),
            ("worker_concurrency", "257"),
            ("job_ttl_seconds", "0"),
            ("job_ttl_seconds", "99999999999999999999999"),
            ("enable_test_kinds", "yes"),
        ];
        for &(name, value) in cases {
            let err = from(&[(name, value)]).expect_err(&format!("{name}={value:?} accepted"));
            let ConfigError::Invalid {
                name: n, value: v, ..
            } = &err;
            assert_eq!((*n, v.as_str()), (name, value));
            let msg = err.to_string();
            assert!(msg.contains(name) && msg.contains("must"), "{msg}");
        }
    }

    #[test]
    fn range_messages_say_what_is_allowed() {
        let err = from(&[("default_max_attempts", "30")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid setting default_max_attempts = \"30\": must be a whole number from 1 to 25"
        );
        let err = from(&[("lease_ms", "5")]).unwrap_err();
        assert!(
            err.to_string()
                .ends_with("must be a whole number from 1000 to 86400000"),
            "{err}"
        );
        let err = from(&[("max_body_bytes", "1073741824")]).unwrap_err();
        assert!(
            err.to_string()
                .ends_with("must be a whole number from 1 to 33554432"),
            "{err}"
        );
        let err = from(&[("job_ttl_seconds", "18446744073709551615")]).unwrap_err();
        assert!(
            err.to_string()
                .ends_with("must be a whole number from 1 to 3153600000"),
            "{err}"
        );
        let largest = from(&[("max_body_bytes", "33554432")]).unwrap();
        assert_eq!(largest.max_body_bytes, MAX_BODY_BYTES);
    }
}
