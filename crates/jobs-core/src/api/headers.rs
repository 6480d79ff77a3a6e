//! A request's headers as the intake reads them: by name, any case; a value that is not
//! UTF-8 (HTTP allows bytes past ASCII) counts as present and wrong, never as missing;
//! and where the request came from, as far as the runtime's own headers say.

use crate::service::Origin;

/// What [`Headers::first`] reads a value that is not UTF-8 as (U+FFFD): acceptable to
/// none of the headers the intake reads.
pub const NOT_TEXT: &str = "\u{FFFD}";

/// The headers of one request, in the order received.
#[derive(Debug, Clone, Copy)]
pub struct Headers<'a>(pub &'a [(String, Vec<u8>)]);

impl<'a> Headers<'a> {
    /// Every value of header `name`, in the order received.
    pub fn values(self, name: &'a str) -> impl DoubleEndedIterator<Item = &'a [u8]> {
        self.0
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }

    /// The first value of `name`; one that is not UTF-8 reads as [`NOT_TEXT`], so that it
    /// is refused (an `Idempotency-Key`) or counts as sent (`Origin`, `X-Forwarded-For`).
    pub fn first(self, name: &'a str) -> Option<&'a str> {
        self.values(name)
            .next()
            .map(|v| std::str::from_utf8(v).unwrap_or(NOT_TEXT))
    }

    /// The last value of `name`, if it is text: for the headers the runtime adds after
    /// any a client sent.
    pub fn last(self, name: &'a str) -> Option<&'a str> {
        self.values(name)
            .next_back()
            .and_then(|v| std::str::from_utf8(v).ok())
    }

    /// Where the request came from: [`Origin::Loopback`] only when the runtime gave
    /// exactly one `spin-client-addr` and it is a loopback address, no proxy header says
    /// the request was forwarded, nothing says it comes from a page, and `authority` (the
    /// host the client asked for) is this machine. (Spin appends its own
    /// `spin-client-addr` to one a client sent, so a forged one makes two.)
    pub fn origin(self, authority: Option<&str>) -> Origin {
        let addrs: Vec<&[u8]> = self.values("spin-client-addr").collect();
        let forwarded = ["forwarded", "x-forwarded-for", "x-real-ip"]
            .iter()
            .any(|h| self.first(h).is_some());
        // A page of another site in a local browser reaches loopback too: a request
        // that says it comes from a page (`Origin`, `Sec-Fetch-Site` other than `none`),
        // or names a host that is not this machine (DNS rebinding), is not local.
        let from_a_page = self.first("origin").is_some()
            || self
                .first("sec-fetch-site")
                .is_some_and(|site| !site.eq_ignore_ascii_case("none"));
        let local_host = authority.is_some_and(is_loopback_host);
        let loopback = match addrs.as_slice() {
            [addr] => std::str::from_utf8(addr)
                .ok()
                .and_then(|a| a.parse::<std::net::SocketAddr>().ok())
                .is_some_and(|a| a.ip().is_loopback()),
            _ => false,
        };
        if loopback && !forwarded && !from_a_page && local_host {
            Origin::Loopback
        } else {
            Origin::Other
        }
    }
}

/// `localhost` or a loopback address, with or without a port.
fn is_loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A local request's headers (Spin's `spin-client-addr` on loopback), plus `more`.
    fn local(more: &[(&str, &[u8])]) -> Vec<(String, Vec<u8>)> {
        let mut all = vec![("spin-client-addr".to_owned(), b"127.0.0.1:5000".to_vec())];
        all.extend(more.iter().map(|(n, v)| (n.to_string(), v.to_vec())));
        all
    }

    fn origin(headers: &[(String, Vec<u8>)]) -> Origin {
        Headers(headers).origin(Some("127.0.0.1:3000"))
    }

    #[test]
    fn a_plain_local_request_is_loopback() {
        assert_eq!(origin(&local(&[])), Origin::Loopback);
        assert_eq!(
            origin(&local(&[("Sec-Fetch-Site", b"none")])),
            Origin::Loopback
        );
        assert_eq!(
            Headers(&local(&[])).origin(Some("localhost:3000")),
            Origin::Loopback
        );
    }

    #[test]
    fn forwarded_forged_from_a_page_or_another_host_is_not() {
        for more in [
            &[("X-Forwarded-For", b"203.0.113.9".as_slice())][..],
            &[("forwarded", b"for=203.0.113.9")],
            &[("origin", b"https://evil.example")],
            &[("sec-fetch-site", b"cross-site")],
            &[("spin-client-addr", b"127.0.0.1:1")],
        ] {
            assert_eq!(origin(&local(more)), Origin::Other, "{more:?}");
        }
        assert_eq!(
            Headers(&local(&[])).origin(Some("evil.example:3000")),
            Origin::Other
        );
        let remote = vec![("spin-client-addr".to_owned(), b"10.0.0.7:5000".to_vec())];
        assert_eq!(origin(&remote), Origin::Other);
    }

    #[test]
    fn a_header_that_is_not_text_counts_as_sent() {
        // As a proxy that appends to a client's X-Forwarded-For keeps the client's bytes.
        let forwarded = local(&[("x-forwarded-for", b"\x80, 203.0.113.9")]);
        assert_eq!(origin(&forwarded), Origin::Other);
        assert_eq!(origin(&local(&[("origin", b"\xff")])), Origin::Other);
        assert_eq!(
            origin(&local(&[("sec-fetch-site", b"n\xf6ne")])),
            Origin::Other
        );
        // An Idempotency-Key in Latin-1 is there, and refused, not missing.
        let keyed = local(&[("Idempotency-Key", b"caf\xe9")]);
        let key = Headers(&keyed).first("idempotency-key");
        assert_eq!(key, Some(NOT_TEXT));
        assert!(crate::service::submit::IdempotencyKey::parse(NOT_TEXT).is_err());
    }

    #[test]
    fn the_runtimes_header_is_the_last_one() {
        let headers = vec![
            ("spin-path-info".to_owned(), b"/admin/tenants".to_vec()),
            ("Spin-Path-Info".to_owned(), b"/healthz".to_vec()),
        ];
        assert_eq!(Headers(&headers).last("spin-path-info"), Some("/healthz"));
        assert_eq!(
            Headers(&headers).first("spin-path-info"),
            Some("/admin/tenants")
        );
        assert_eq!(Headers(&headers).first("nothing"), None);
    }
}
