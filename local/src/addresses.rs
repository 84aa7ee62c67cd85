//! Where the local stack may listen. It serves the whole API with a published test key and
//! emulators that take published secrets, so it stays on this machine and private networks:
//! `HOST` and `LOCAL_BRIDGE_ADDRESS` must be loopback or private addresses (never `0.0.0.0`,
//! which is every interface, public ones included), and the published test API key is
//! accepted on loopback only.

use std::net::IpAddr;

/// The document's test API key: anyone may know it.
pub const PUBLISHED_API_KEY: &str = "test-api-key-123";

/// Loopback, or a private range: IPv4 10/8, 172.16/12, 192.168/16; IPv6 unique local fc00::/7
/// (and an IPv4 address mapped into IPv6, judged as itself).
pub fn is_loopback_or_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback() || v4.is_private(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_loopback_or_private(IpAddr::V4(v4)),
            None => v6.is_loopback() || (v6.segments()[0] & 0xfe00) == 0xfc00,
        },
    }
}

/// `name`'s address is loopback or private, or the reason it may not be used.
pub fn check_listen_address(name: &str, ip: IpAddr) -> Result<(), String> {
    if is_loopback_or_private(ip) {
        return Ok(());
    }
    Err(format!(
        "{name} {ip} is not a loopback or private address: the local stack serves a published \
         test key and emulators with published secrets, so it never listens on a public \
         address or on every interface (0.0.0.0, ::)"
    ))
}

/// The published test key may only be used where nobody else can reach the API.
pub fn check_api_keys(host: IpAddr, api_keys: &[String]) -> Result<(), String> {
    if host.is_loopback() || !api_keys.iter().any(|k| k == PUBLISHED_API_KEY) {
        return Ok(());
    }
    Err(format!(
        "HOST {host} is not loopback, and LOCAL_API_KEYS holds the published test key: set \
         LOCAL_API_KEYS to keys of your own to serve the stack beyond this machine"
    ))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use crate::StackConfig;

    fn config(vars: &[(&str, &str)]) -> Result<StackConfig, String> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        StackConfig::from_lookup(|name| vars.get(name).cloned())
    }

    const OWN_KEY: (&str, &str) = ("LOCAL_API_KEYS", "a-key-of-our-own-0123456789");

    #[test]
    fn host_is_loopback_or_private() {
        for ok in ["127.0.0.1", "127.0.0.2", "::1"] {
            assert!(config(&[("HOST", ok)]).is_ok(), "{ok}");
        }
        for private in ["10.1.2.3", "172.17.0.1", "192.168.1.20", "fd00::1"] {
            assert!(config(&[("HOST", private), OWN_KEY]).is_ok(), "{private}");
        }
        for public in [
            "0.0.0.0",
            "::",
            "8.8.8.8",
            "172.32.0.1",
            "2001:db8::1",
            "::ffff:8.8.8.8",
        ] {
            let err = config(&[("HOST", public), OWN_KEY]).unwrap_err();
            assert!(err.contains("HOST"), "{public}: {err}");
        }
    }

    #[test]
    fn the_bridge_address_is_loopback_or_private() {
        assert!(config(&[("LOCAL_BRIDGE_ADDRESS", "172.17.0.1")]).is_ok());
        for public in ["0.0.0.0", "203.0.113.7", "::"] {
            let err = config(&[("LOCAL_BRIDGE_ADDRESS", public)]).unwrap_err();
            assert!(err.contains("LOCAL_BRIDGE_ADDRESS"), "{public}: {err}");
        }
    }

    #[test]
    fn the_published_test_key_is_for_loopback_only() {
        assert!(
            config(&[]).is_ok(),
            "the default: loopback and the published key"
        );
        let err = config(&[("HOST", "192.168.1.20")]).unwrap_err();
        assert!(err.contains("LOCAL_API_KEYS"), "{err}");
        let listed = (
            "LOCAL_API_KEYS",
            "a-key-of-our-own-0123456789,test-api-key-123",
        );
        assert!(config(&[("HOST", "192.168.1.20"), listed]).is_err());
        assert!(config(&[("HOST", "192.168.1.20"), OWN_KEY]).is_ok());
    }
}
