//! `jti`s seen within their tokens' lifetime: a token is good for one call.

use std::{
    collections::{BTreeMap, HashMap},
    sync::Mutex,
};

use super::Refusal;

/// Bounded: entries leave when their token expires; a full cache refuses new tokens
/// (fail closed) rather than forgetting unexpired ones.
pub(super) struct ReplayCache {
    max: usize,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// (issuer, jti) → expiry.
    seen: HashMap<(String, String), u64>,
    /// expiry → keys expiring then, for pruning in order.
    by_expiry: BTreeMap<u64, Vec<(String, String)>>,
}

impl ReplayCache {
    pub(super) fn new(max: usize) -> Self {
        Self { max, inner: Mutex::new(Inner::default()) }
    }

    /// Record the first use of `jti`; a second use before `expires` is a replay.
    pub(super) fn first_use(&self, iss: &str, jti: &str, expires: u64, now: u64) -> Result<(), Refusal> {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        // Forget what has expired.
        let live = g.by_expiry.split_off(&now);
        let dead = std::mem::replace(&mut g.by_expiry, live);
        for key in dead.into_values().flatten() {
            g.seen.remove(&key);
        }
        let key = (iss.to_string(), jti.to_string());
        if g.seen.contains_key(&key) {
            return Err(Refusal::Replayed);
        }
        if g.seen.len() >= self.max {
            return Err(Refusal::ReplayCacheFull);
        }
        g.seen.insert(key.clone(), expires);
        g.by_expiry.entry(expires).or_default().push(key);
        Ok(())
    }
}
