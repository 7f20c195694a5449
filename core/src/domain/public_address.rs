//! Which IP addresses a customer-supplied URL (an outbound webhook endpoint) may reach.
//!
//! Guards against server-side request forgery: a customer must not make our servers call
//! loopback, private networks, link-local addresses (among them the cloud metadata service at
//! 169.254.169.254), carrier-grade NAT, multicast, or any other special-purpose range. IPv6
//! addresses that embed an IPv4 address (IPv4-mapped, IPv4-compatible, IPv4-translated, NAT64
//! `64:ff9b::/96`, 6to4 `2002::/16`) are judged by the IPv4 address they embed, so that
//! `::ffff:127.0.0.1` is as refused as `127.0.0.1`. Pure functions, no I/O: resolving names is the
//! caller's business.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Whether `ip` is an ordinary, globally reachable unicast address that a customer URL may reach.
///
/// False for every unspecified, loopback, private, shared (CGNAT), link-local, documentation,
/// benchmarking, protocol-assignment, multicast, reserved or broadcast address, in IPv4 and IPv6,
/// and for IPv6 addresses that embed such an IPv4 address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

/// Whether a customer URL may reach `ip`: always when `allow_private` is set (development, tests),
/// otherwise only when [`is_public`].
pub fn is_allowed(ip: IpAddr, allow_private: bool) -> bool {
    allow_private || is_public(ip)
}

/// [`is_public`] for IPv4.
fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    let special = a == 0 // 0.0.0.0/8, "this network" (0.0.0.0 reaches the local host)
        || a == 10 // 10.0.0.0/8, private
        || a == 127 // 127.0.0.0/8, loopback
        || (a == 100 && (64..=127).contains(&b)) // 100.64.0.0/10, shared address space (CGNAT)
        || (a == 169 && b == 254) // 169.254.0.0/16, link-local (cloud metadata)
        || (a == 172 && (16..=31).contains(&b)) // 172.16.0.0/12, private
        || (a == 192 && b == 0 && c == 0) // 192.0.0.0/24, IETF protocol assignments
        || (a == 192 && b == 0 && c == 2) // 192.0.2.0/24, documentation (TEST-NET-1)
        || (a == 192 && b == 168) // 192.168.0.0/16, private
        || (a == 198 && (b == 18 || b == 19)) // 198.18.0.0/15, benchmarking
        || (a == 198 && b == 51 && c == 100) // 198.51.100.0/24, documentation (TEST-NET-2)
        || (a == 203 && b == 0 && c == 113) // 203.0.113.0/24, documentation (TEST-NET-3)
        || a >= 224; // 224.0.0.0/4 multicast, 240.0.0.0/4 reserved, 255.255.255.255 broadcast
    !special
}

/// [`is_public`] for IPv6.
fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(embedded) = embedded_v4(ip) {
        return is_public_v4(embedded);
    }
    let s = ip.segments();
    let special = ip.is_unspecified() // ::
        || ip.is_loopback() // ::1
        || (s[0] & 0xfe00) == 0xfc00 // fc00::/7, unique local
        || (s[0] & 0xffc0) == 0xfe80 // fe80::/10, link-local
        || (s[0] & 0xffc0) == 0xfec0 // fec0::/10, site-local (deprecated)
        || (s[0] & 0xff00) == 0xff00 // ff00::/8, multicast
        || (s[0] == 0x2001 && s[1] == 0x0db8) // 2001:db8::/32, documentation
        || (s[0] == 0x0100 && s[1] == 0 && s[2] == 0 && s[3] == 0) // 100::/64, discard
        || (s[0] == 0x0064 && s[1] == 0xff9b && s[2] == 0x0001); // 64:ff9b:1::/48, local NAT64
    !special
}

/// The IPv4 address embedded in `ip`, for the forms that carry one: IPv4-mapped `::ffff:a.b.c.d`,
/// IPv4-compatible `::a.b.c.d` (deprecated), IPv4-translated `::ffff:0:a.b.c.d`, NAT64
/// `64:ff9b::a.b.c.d` and 6to4 `2002:AABB:CCDD::/48`.
///
/// `::` and `::1` are left out, so that they are judged as IPv6 addresses.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let last_two = |high: u16, low: u16| {
        let [a, b] = high.to_be_bytes();
        let [c, d] = low.to_be_bytes();
        Ipv4Addr::new(a, b, c, d)
    };
    if ip.is_unspecified() || ip.is_loopback() {
        return None;
    }
    match s {
        // ::ffff:a.b.c.d (mapped) and ::a.b.c.d (compatible)
        [0, 0, 0, 0, 0, 0xffff | 0, high, low] => Some(last_two(high, low)),
        // ::ffff:0:a.b.c.d (translated)
        [0, 0, 0, 0, 0xffff, 0, high, low] => Some(last_two(high, low)),
        // 64:ff9b::/96 (NAT64 well-known prefix)
        [0x0064, 0xff9b, 0, 0, 0, 0, high, low] => Some(last_two(high, low)),
        // 2002::/16 (6to4): the IPv4 address is in bits 16 to 47
        [0x2002, high, low, ..] => Some(last_two(high, low)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn public(text: &str) -> bool {
        is_public(text.parse::<IpAddr>().unwrap())
    }

    fn assert_public(addresses: &[&str]) {
        for address in addresses {
            assert!(public(address), "{address} should be public");
        }
    }

    fn assert_not_public(addresses: &[&str]) {
        for address in addresses {
            assert!(!public(address), "{address} should not be public");
        }
    }

    #[test]
    fn real_public_addresses_are_public() {
        assert_public(&[
            "8.8.8.8",
            "1.1.1.1",
            "9.9.9.9",
            "93.184.216.34",
            "2606:4700:4700::1111",
            "2001:4860:4860::8888",
            "2a00:1450:4007:80e::200e",
        ]);
    }

    #[test]
    fn ipv4_unspecified_and_this_network_are_not_public() {
        assert_not_public(&["0.0.0.0", "0.1.2.3", "0.255.255.255"]);
        assert_public(&["1.0.0.0"]);
    }

    #[test]
    fn ipv4_loopback_is_not_public() {
        assert_not_public(&["127.0.0.1", "127.0.0.0", "127.255.255.255", "127.1.2.3"]);
        assert_public(&["126.255.255.255", "128.0.0.0"]);
    }

    #[test]
    fn ipv4_private_ranges_are_not_public() {
        assert_not_public(&["10.0.0.0", "10.0.0.5", "10.255.255.255"]);
        assert_public(&["9.255.255.255", "11.0.0.0"]);
        assert_not_public(&["172.16.0.0", "172.20.1.1", "172.31.255.255"]);
        assert_public(&["172.15.255.255", "172.32.0.0"]);
        assert_not_public(&["192.168.0.0", "192.168.1.1", "192.168.255.255"]);
        assert_public(&["192.167.255.255", "192.169.0.0"]);
    }

    #[test]
    fn carrier_grade_nat_is_not_public() {
        assert_not_public(&["100.64.0.0", "100.100.100.100", "100.127.255.255"]);
        assert_public(&["100.63.255.255", "100.128.0.0"]);
    }

    #[test]
    fn link_local_and_cloud_metadata_are_not_public() {
        assert_not_public(&["169.254.169.254", "169.254.0.0", "169.254.255.255"]);
        assert_public(&["169.253.255.255", "169.255.0.0"]);
    }

    #[test]
    fn ietf_documentation_and_benchmarking_ranges_are_not_public() {
        assert_not_public(&["192.0.0.0", "192.0.0.8", "192.0.0.255"]);
        assert_public(&["192.0.1.0"]);
        assert_not_public(&["192.0.2.0", "192.0.2.1", "192.0.2.255"]);
        assert_not_public(&["198.51.100.0", "198.51.100.7", "198.51.100.255"]);
        assert_public(&["198.51.99.255", "198.51.101.0"]);
        assert_not_public(&["203.0.113.0", "203.0.113.9", "203.0.113.255"]);
        assert_public(&["203.0.112.255", "203.0.114.0"]);
        assert_not_public(&["198.18.0.0", "198.19.255.255"]);
        assert_public(&["198.17.255.255", "198.20.0.0"]);
    }

    #[test]
    fn multicast_reserved_and_broadcast_are_not_public() {
        assert_not_public(&[
            "224.0.0.0",
            "224.0.0.251",
            "239.255.255.255",
            "240.0.0.0",
            "250.1.2.3",
            "255.255.255.255",
        ]);
        assert_public(&["223.255.255.255"]);
    }

    #[test]
    fn ipv6_special_ranges_are_not_public() {
        assert_not_public(&[
            "::",
            "::1",
            "fc00::",
            "fd12:3456:789a::1",
            "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            "fe80::",
            "fe80::1",
            "febf:ffff::1",
            "fec0::1",
            "feff::1",
            "ff00::",
            "ff02::1",
            "ff0e::101",
            "2001:db8::",
            "2001:db8:ffff::1",
            "100::",
            "100::ffff:ffff:ffff:ffff",
            "64:ff9b:1::1",
        ]);
        assert_public(&["fbff::1", "2001:db9::1", "2001:db7::1", "100:0:0:1::"]);
    }

    #[test]
    fn ipv6_forms_embedding_ipv4_are_judged_by_the_ipv4_address() {
        assert_not_public(&[
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:0.0.0.0",
            "::127.0.0.1",
            "::10.1.2.3",
            "::ffff:0:127.0.0.1",
            "64:ff9b::a00:1",
            "64:ff9b::7f00:1",
            "64:ff9b::169.254.169.254",
            "2002:7f00:1::",
            "2002:a00:1::1",
            "2002:c0a8:101::",
        ]);
        assert_public(&[
            "::ffff:8.8.8.8",
            "::8.8.8.8",
            "::ffff:0:1.1.1.1",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ]);
    }

    #[test]
    fn allowing_private_networks_allows_everything() {
        for text in ["127.0.0.1", "10.0.0.5", "::1", "8.8.8.8", "fe80::1"] {
            let ip: IpAddr = text.parse().unwrap();
            assert!(is_allowed(ip, true), "{text}");
            assert_eq!(is_allowed(ip, false), is_public(ip), "{text}");
        }
        assert!(!is_allowed("127.0.0.1".parse().unwrap(), false));
        assert!(is_allowed("1.1.1.1".parse().unwrap(), false));
    }
}
