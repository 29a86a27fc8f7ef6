//! Sharding for fleets beyond one process: several deployments each reconcile a slice of the
//! objects. An object belongs to shard `hash(spec.domain) mod count`, so every object that
//! could claim one upstream template (same domain and app) lands in the same shard, and each
//! shard's claim registry sees every rival it could have. Objects of other shards never enter
//! this process's cache.

use sha2::{Digest, Sha256};

/// `index` of `count`, written `INDEX/COUNT` on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    /// Whether objects of `domain` are this shard's. Stable across versions and processes: a
    /// SHA-256 of the domain, not the standard library's randomly seeded hasher.
    pub fn owns(&self, domain: &str) -> bool {
        let digest = Sha256::digest(domain.as_bytes());
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        u64::from_be_bytes(first) % u64::from(self.count) == u64::from(self.index)
    }
}

impl std::str::FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (i, n) = s.split_once('/').ok_or("expected INDEX/COUNT, e.g. 0/2")?;
        let index: u32 = i.trim().parse().map_err(|_| "INDEX is not a number")?;
        let count: u32 = n.trim().parse().map_err(|_| "COUNT is not a number")?;
        if count == 0 || index >= count {
            return Err(format!("shard {index} of {count} does not exist"));
        }
        Ok(Shard { index, count })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_domain_has_exactly_one_shard() {
        let shards: Vec<Shard> = (0..3).map(|i| Shard { index: i, count: 3 }).collect();
        let mut per = [0; 3];
        for d in 0..300 {
            let domain = format!("d{d}.example.com");
            let owners: Vec<usize> = (0..3).filter(|&i| shards[i].owns(&domain)).collect();
            assert_eq!(owners.len(), 1, "{domain}");
            per[owners[0]] += 1;
        }
        assert!(per.iter().all(|&n| n > 70), "roughly even: {per:?}");
        assert!("1/2".parse::<Shard>().is_ok());
        assert!("2/2".parse::<Shard>().is_err());
        assert!("0/0".parse::<Shard>().is_err());
    }
}
