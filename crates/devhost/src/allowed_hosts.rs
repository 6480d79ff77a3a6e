//! `allowed_outbound_hosts`: which `scheme://host:port` a component may reach
//! over outbound HTTP and Redis. Patterns are `scheme://host[:port]` where
//! scheme may be `*`, host may be `*` or `*.suffix`, and port may be `*`, a
//! number or a `low..high` range; a missing port means the scheme's default.
//! Owns matching only.

use anyhow::{Context, bail};

/// The parsed `allowed_outbound_hosts` of one component.
#[derive(Debug, Clone, Default)]
pub struct AllowedHosts {
    patterns: Vec<Pattern>,
}

#[derive(Debug, Clone)]
struct Pattern {
    scheme: Option<String>,
    host: HostPattern,
    port: PortPattern,
}

#[derive(Debug, Clone)]
enum HostPattern {
    Any,
    Suffix(String),
    Exact(String),
}

#[derive(Debug, Clone)]
enum PortPattern {
    Any,
    Range(u16, u16),
    /// No port given: the default port of the scheme being checked.
    SchemeDefault,
}

/// The default port of a URL scheme, if it has a well-known one.
fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        "redis" | "rediss" => Some(6379),
        "mysql" => Some(3306),
        "postgres" => Some(5432),
        "mqtt" => Some(1883),
        _ => None,
    }
}

/// Splits `scheme://host[:port][/rest]`.
fn split_url(text: &str) -> anyhow::Result<(&str, &str, Option<&str>)> {
    let Some((scheme, rest)) = text.split_once("://") else {
        bail!("{text:?} has no scheme (expected scheme://host[:port])");
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    // Drop credentials (`user:pass@`).
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    if authority.is_empty() {
        bail!("{text:?} has no host");
    }
    // Bracketed IPv6 literal.
    if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']').context("unterminated IPv6 address")?;
        let port = after.strip_prefix(':');
        return Ok((scheme, host, port));
    }
    Ok(match authority.rsplit_once(':') {
        Some((host, port)) => (scheme, host, Some(port)),
        None => (scheme, authority, None),
    })
}

impl AllowedHosts {
    /// Parses the (already expanded) entries. `*://*:*` and friends allow
    /// everything; an unparseable entry is an error naming it.
    pub fn parse(entries: &[String]) -> anyhow::Result<AllowedHosts> {
        let mut patterns = Vec::new();
        for entry in entries {
            if entry == "insecure:allow-all" {
                patterns.push(Pattern {
                    scheme: None,
                    host: HostPattern::Any,
                    port: PortPattern::Any,
                });
                continue;
            }
            let (scheme, host, port) = split_url(entry)
                .with_context(|| format!("invalid allowed_outbound_hosts entry {entry:?}"))?;
            let scheme = (scheme != "*").then(|| scheme.to_ascii_lowercase());
            let host = if host == "*" {
                HostPattern::Any
            } else if let Some(suffix) = host.strip_prefix("*.") {
                HostPattern::Suffix(format!(".{}", suffix.to_ascii_lowercase()))
            } else {
                HostPattern::Exact(host.to_ascii_lowercase())
            };
            let port = match port {
                None => PortPattern::SchemeDefault,
                Some("*") => PortPattern::Any,
                Some(p) => match p.split_once("..") {
                    Some((lo, hi)) => PortPattern::Range(
                        lo.parse()
                            .with_context(|| format!("invalid port in {entry:?}"))?,
                        hi.parse()
                            .with_context(|| format!("invalid port in {entry:?}"))?,
                    ),
                    None => {
                        let n = p
                            .parse()
                            .with_context(|| format!("invalid port in {entry:?}"))?;
                        PortPattern::Range(n, n)
                    }
                },
            };
            patterns.push(Pattern { scheme, host, port });
        }
        Ok(AllowedHosts { patterns })
    }

    /// Whether `scheme://host:port` may be reached.
    pub fn allows(&self, scheme: &str, host: &str, port: Option<u16>) -> bool {
        let scheme = scheme.to_ascii_lowercase();
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        let port = port.or_else(|| default_port(&scheme));
        self.patterns.iter().any(|p| {
            let scheme_ok = p.scheme.as_ref().is_none_or(|s| *s == scheme);
            let host_ok = match &p.host {
                HostPattern::Any => true,
                HostPattern::Suffix(suffix) => host.ends_with(suffix.as_str()),
                HostPattern::Exact(exact) => *exact == host,
            };
            let port_ok = match (&p.port, port) {
                (PortPattern::Any, _) => true,
                (PortPattern::Range(lo, hi), Some(port)) => (*lo..=*hi).contains(&port),
                (PortPattern::SchemeDefault, Some(port)) => default_port(&scheme) == Some(port),
                (_, None) => false,
            };
            scheme_ok && host_ok && port_ok
        })
    }

    /// Whether a URL such as `redis://127.0.0.1:6379/0` may be reached.
    pub fn allows_url(&self, url: &str) -> bool {
        let Ok((scheme, host, port)) = split_url(url) else {
            return false;
        };
        let port = match port {
            None => None,
            Some(p) => match p.parse() {
                Ok(p) => Some(p),
                Err(_) => return false,
            },
        };
        self.allows(scheme, host, port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(entries: &[&str]) -> AllowedHosts {
        AllowedHosts::parse(&entries.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn nothing_is_allowed_by_default() {
        assert!(!allowed(&[]).allows_url("redis://127.0.0.1:6379"));
    }

    #[test]
    fn an_exact_redis_address_allows_only_itself() {
        let a = allowed(&["redis://127.0.0.1:6379"]);
        assert!(a.allows_url("redis://127.0.0.1:6379"));
        assert!(a.allows_url("redis://127.0.0.1"));
        assert!(a.allows_url("redis://127.0.0.1:6379/2"));
        assert!(!a.allows_url("redis://127.0.0.1:6380"));
        assert!(!a.allows_url("redis://localhost:6379"));
        assert!(!a.allows_url("http://127.0.0.1:6379"));
    }

    #[test]
    fn wildcards_allow_any_host_port_or_scheme() {
        assert!(allowed(&["redis://*:*"]).allows_url("redis://10.0.0.1:7000"));
        assert!(allowed(&["*://*:*"]).allows_url("http://example.com"));
        assert!(allowed(&["http://*.example.com"]).allows_url("http://api.example.com/x"));
        assert!(!allowed(&["http://*.example.com"]).allows_url("http://example.org"));
        assert!(allowed(&["http://localhost:8000..9000"]).allows_url("http://localhost:8080/"));
    }

    #[test]
    fn a_missing_port_means_the_default_port() {
        let a = allowed(&["https://example.com"]);
        assert!(a.allows_url("https://example.com/path"));
        assert!(!a.allows_url("https://example.com:8443/path"));
    }

    #[test]
    fn credentials_in_a_url_are_ignored_for_matching() {
        assert!(allowed(&["redis://db:6379"]).allows_url("redis://user:secret@db:6379/0"));
    }

    #[test]
    fn an_entry_without_a_scheme_is_refused() {
        assert!(AllowedHosts::parse(&["example.com".to_string()]).is_err());
    }
}
