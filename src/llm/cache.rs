//! Optional cache of validated drafts keyed by the prompt hash (which covers
//! the de-identified prompt, the template, the schema, the model and the
//! sampling parameters), with a time-to-live and a bounded size.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

#[derive(Debug)]
struct Entry<V> {
    stored: Instant,
    value: V,
}

/// A small TTL cache; `ttl == 0` or `capacity == 0` disables it.
#[derive(Debug)]
pub struct TtlCache<V> {
    ttl: Duration,
    capacity: usize,
    map: Mutex<HashMap<String, Entry<V>>>,
}

impl<V: Clone> TtlCache<V> {
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        Self { ttl, capacity, map: Mutex::new(HashMap::new()) }
    }

    pub fn enabled(&self) -> bool {
        !self.ttl.is_zero() && self.capacity > 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry<V>>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The value stored under `key` if it is younger than the TTL at `now`.
    pub fn get(&self, key: &str, now: Instant) -> Option<V> {
        if !self.enabled() {
            return None;
        }
        let mut map = self.lock();
        match map.get(key) {
            Some(e) if now.saturating_duration_since(e.stored) < self.ttl => Some(e.value.clone()),
            Some(_) => {
                map.remove(key);
                None
            }
            None => None,
        }
    }

    /// Store `value`; when full, expired entries go first, then the oldest.
    pub fn put(&self, key: String, value: V, now: Instant) {
        if !self.enabled() {
            return;
        }
        let mut map = self.lock();
        if map.len() >= self.capacity && !map.contains_key(&key) {
            let ttl = self.ttl;
            map.retain(|_, e| now.saturating_duration_since(e.stored) < ttl);
            if map.len() >= self.capacity {
                if let Some(oldest) = map.iter().min_by_key(|(_, e)| e.stored).map(|(k, _)| k.clone()) {
                    map.remove(&oldest);
                }
            }
        }
        map.insert(key, Entry { stored: now, value });
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
