//! Names and identifiers the simulators invent: random pod-name suffixes, the Deployment
//! pod-template hash, and stable fake container and image digests. Only the suffix generator
//! is random; everything else is a pure function of its input so that re-running a reconcile
//! writes the same values.

use std::fmt::Write as _;

use serde::Serialize;

/// The alphabet Kubernetes uses for generated names: lowercase consonants and digits that
/// cannot spell words.
const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// Five random characters for `<owner>-<suffix>` pod names.
pub fn random_suffix() -> String {
    suffix_from(uuid::Uuid::new_v4().as_bytes())
}

/// Five name characters chosen by the first five bytes of `entropy`.
pub fn suffix_from(entropy: &[u8]) -> String {
    entropy
        .iter()
        .take(5)
        .map(|b| char::from(ALPHANUMS[usize::from(*b) % ALPHANUMS.len()]))
        .collect()
}

/// 32-bit FNV-1a, the hash Kubernetes uses for pod-template hashes.
pub fn fnv32a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5_u32, |hash, b| {
        (hash ^ u32::from(*b)).wrapping_mul(0x0100_0193)
    })
}

/// 64-bit FNV-1a, for digests that only need to look unique.
fn fnv64a(seed: u64, bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(0xcbf2_9ce4_8422_2325_u64 ^ seed, |hash, b| {
            (hash ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
        })
}

/// The pod-template hash of a Deployment's template: FNV-1a over its JSON form (with the
/// collision count appended, as Kubernetes does), its decimal digits mapped onto the
/// name alphabet so the result is a valid label value and name part.
pub fn template_hash<T: Serialize>(template: &T, collision_count: Option<i32>) -> String {
    let mut bytes = serde_json::to_vec(template).unwrap_or_default();
    if let Some(count) = collision_count {
        bytes.extend_from_slice(&count.to_le_bytes());
    }
    fnv32a(&bytes)
        .to_string()
        .bytes()
        .map(|b| char::from(ALPHANUMS[usize::from(b) % ALPHANUMS.len()]))
        .collect()
}

/// 64 hex digits derived from `parts`: the shape of a sha256 digest, stable for equal input.
pub fn digest(parts: &[&str]) -> String {
    let joined = parts.join("\u{0}");
    (0..4_u64).fold(String::with_capacity(64), |mut out, seed| {
        let _ = write!(out, "{:016x}", fnv64a(seed, joined.as_bytes()));
        out
    })
}

/// A pod IP in 10.244.0.0/16 derived from the pod's uid (or name), stable across reconciles.
pub fn pod_ip(key: &str) -> String {
    let hash = fnv32a(key.as_bytes());
    let third = (hash >> 8) % 256;
    let fourth = hash % 253 + 2;
    format!("10.244.{third}.{fourth}")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn suffixes_have_five_name_characters() {
        for _ in 0..50 {
            let suffix = random_suffix();
            assert_eq!(suffix.len(), 5);
            assert!(suffix.bytes().all(|b| ALPHANUMS.contains(&b)), "{suffix}");
        }
        assert_eq!(suffix_from(&[0, 1, 2, 26, 27, 99]), "bcd9b");
    }

    #[test]
    fn fnv32a_matches_reference_vectors() {
        assert_eq!(fnv32a(b""), 0x811c_9dc5);
        assert_eq!(fnv32a(b"a"), 0xe40c_292c);
        assert_eq!(fnv32a(b"foobar"), 0xbf9c_f968);
    }

    #[test]
    fn template_hash_is_stable_and_sensitive() {
        let a = serde_json::json!({"spec": {"containers": [{"name": "app", "image": "a:1"}]}});
        let b = serde_json::json!({"spec": {"containers": [{"name": "app", "image": "a:2"}]}});
        assert_eq!(template_hash(&a, None), template_hash(&a, None));
        assert_ne!(template_hash(&a, None), template_hash(&b, None));
        assert_ne!(template_hash(&a, None), template_hash(&a, Some(1)));
        let hash = template_hash(&a, None);
        assert!(!hash.is_empty() && hash.len() <= 10);
        assert!(hash.bytes().all(|b| ALPHANUMS.contains(&b)), "{hash}");
    }

    #[test]
    fn digests_look_like_sha256() {
        let d = digest(&["nginx:1.27"]);
        assert_eq!(d.len(), 64);
        assert!(d.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(d, digest(&["nginx:1.27"]));
        assert_ne!(d, digest(&["nginx:1.28"]));
    }

    #[test]
    fn pod_ips_stay_in_the_pod_network() {
        for key in ["a", "b", "uid-1234", ""] {
            let ip = pod_ip(key);
            let octets: Vec<u32> = ip.split('.').map(|o| o.parse().unwrap()).collect();
            assert_eq!(&octets[..2], &[10, 244]);
            assert!(octets[2] < 256 && (2..255).contains(&octets[3]), "{ip}");
        }
        assert_eq!(pod_ip("x"), pod_ip("x"));
    }
}
