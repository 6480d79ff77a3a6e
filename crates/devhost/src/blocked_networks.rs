//! `[outbound_networking] block_networks` of the runtime config, as Spin applies it: an
//! outbound HTTP request whose host *resolves* to a blocked address is refused
//! (`destination-ip-prohibited`), which no URL check can do (a public name may resolve to
//! a private address). Entries are CIDR networks or `private` (every address that is not
//! globally routable). Owns parsing and matching.
//!
//! A difference from Spin: the devhost resolves the name, checks the addresses, then lets
//! the HTTP client resolve it again to connect, so a name that changes its answer between
//! the two (DNS rebinding) can slip through here; Spin connects to the addresses it
//! checked. Outbound Redis is not checked here (Spin checks it too).

use std::net::IpAddr;

use anyhow::{Context, bail};
use ipnet::IpNet;

/// The blocked networks; empty blocks nothing.
#[derive(Debug, Clone, Default)]
pub struct BlockedNetworks {
    networks: Vec<IpNet>,
    private: bool,
}

impl BlockedNetworks {
    /// Parses `block_networks` entries.
    pub fn parse(entries: &[String]) -> anyhow::Result<BlockedNetworks> {
        let mut blocked = BlockedNetworks::default();
        for entry in entries {
            if entry == "private" {
                blocked.private = true;
                continue;
            }
            let network = entry
                .parse::<IpNet>()
                .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                .with_context(|| {
                    format!("block_networks: {entry:?} is not a CIDR network or \"private\"")
                })?;
            blocked.networks.push(network);
        }
        if blocked.networks.iter().any(|n| n.prefix_len() == 0) && !entries.is_empty() {
            bail!("block_networks: a /0 network blocks every address");
        }
        Ok(blocked)
    }

    pub fn is_empty(&self) -> bool {
        !self.private && self.networks.is_empty()
    }

    /// Whether `ip` (or the IPv4 address an IPv6 one maps) is blocked.
    pub fn is_blocked(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        (self.private && !is_global(ip)) || self.networks.iter().any(|n| n.contains(&ip))
    }
}

/// Globally routable, as `private` means it: not loopback, private, link-local, shared,
/// unique-local, unspecified, documentation or reserved.
fn is_global(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || (first == 0x2001 && v6.segments()[1] == 0x0db8))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blocked(entries: &[&str]) -> BlockedNetworks {
        BlockedNetworks::parse(&entries.iter().map(|e| e.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn networks_and_private_block_what_they_name() {
        let b = blocked(&["127.0.0.2/32", "10.0.0.0/8"]);
        assert!(b.is_blocked("127.0.0.2".parse().unwrap()));
        assert!(b.is_blocked("10.1.2.3".parse().unwrap()));
        assert!(b.is_blocked("::ffff:10.1.2.3".parse().unwrap()));
        assert!(!b.is_blocked("127.0.0.1".parse().unwrap()));
        let p = blocked(&["private"]);
        for ip in [
            "127.0.0.1",
            "169.254.169.254",
            "192.168.1.1",
            "fd00::1",
            "::1",
        ] {
            assert!(p.is_blocked(ip.parse().unwrap()), "{ip}");
        }
        assert!(!p.is_blocked("93.184.215.14".parse().unwrap()));
        assert!(blocked(&[]).is_empty());
        assert!(BlockedNetworks::parse(&["nonsense".to_string()]).is_err());
    }
}
