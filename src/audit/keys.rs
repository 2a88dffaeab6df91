//! Encryption of the stored requests (AES-256-GCM) and the pseudonymous
//! encounter id (HMAC-SHA-256), keyed from one file.
//!
//! Key file (TOML, mode 0600, kept apart from the database and its backups):
//!
//! ```toml
//! pseudonym_key = "<64 hex>"   # never rotated: it links an encounter's decisions
//! current = "k2"               # the key new records are sealed with
//! [keys]                       # every key still needed to read older records
//! k1 = "<64 hex>"
//! k2 = "<64 hex>"
//! ```
//!
//! Each sealed record stores the id of its key, so rotation is: add a key,
//! point `current` at it, restart; old records stay readable while their key
//! is listed. No key material ever appears in an error or a log.

use std::{collections::BTreeMap, io::Write, path::Path};

use ring::{aead, hmac, rand::SecureRandom};
use serde::Deserialize;

use super::AuditError;

/// A sealed payload: key id, 96-bit nonce, ciphertext with its tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    pub key_id: String,
    pub nonce: Vec<u8>,
    pub ciphertext: Vec<u8>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    pseudonym_key: String,
    current: String,
    keys: BTreeMap<String, String>,
}

/// The keys in force.
pub struct KeyRing {
    current: String,
    keys: BTreeMap<String, aead::LessSafeKey>,
    pseudonym: hmac::Key,
    rng: ring::rand::SystemRandom,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing").field("current", &self.current).field("keys", &self.keys.len()).finish()
    }
}

fn key_bytes(path: &Path, name: &str, hex_text: &str) -> Result<Vec<u8>, AuditError> {
    let bytes = hex::decode(hex_text.trim())
        .map_err(|_| AuditError::Key(format!("{}: `{name}` is not hexadecimal", path.display())))?;
    if bytes.len() != 32 {
        return Err(AuditError::Key(format!("{}: `{name}` must be 32 bytes (64 hex digits)", path.display())));
    }
    Ok(bytes)
}

impl KeyRing {
    /// Read the key file; with `create`, write a fresh one (0600) when it does not exist.
    pub fn load(path: &Path, create: bool) -> Result<Self, AuditError> {
        if create && !path.exists() {
            Self::generate(path)?;
            tracing::warn!(path = %path.display(), "Created a new audit key file; back it up apart from the database.");
        }
        let text = std::fs::read_to_string(path)
            .map_err(|e| AuditError::Key(format!("cannot read key file {}: {e}", path.display())))?;
        let file: KeyFile =
            toml::from_str(&text).map_err(|e| AuditError::Key(format!("{}: {}", path.display(), e.message())))?;
        let mut keys = BTreeMap::new();
        for (id, hex_text) in &file.keys {
            if id.is_empty()
                || id.len() > 32
                || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(AuditError::Key(format!(
                    "{}: key id `{id}` must be 1-32 of [A-Za-z0-9_-]",
                    path.display()
                )));
            }
            let raw = key_bytes(path, id, hex_text)?;
            let unbound = aead::UnboundKey::new(&aead::AES_256_GCM, &raw)
                .map_err(|_| AuditError::Key(format!("{}: key `{id}` rejected", path.display())))?;
            keys.insert(id.clone(), aead::LessSafeKey::new(unbound));
        }
        if !keys.contains_key(&file.current) {
            return Err(AuditError::Key(format!(
                "{}: current = \"{}\" is not in [keys]",
                path.display(),
                file.current
            )));
        }
        let pseudonym = hmac::Key::new(hmac::HMAC_SHA256, &key_bytes(path, "pseudonym_key", &file.pseudonym_key)?);
        Ok(Self { current: file.current, keys, pseudonym, rng: ring::rand::SystemRandom::new() })
    }

    /// Write a new key file with random keys (fails if it exists).
    pub fn generate(path: &Path) -> Result<(), AuditError> {
        let rng = ring::rand::SystemRandom::new();
        let random = || {
            let mut b = [0u8; 32];
            rng.fill(&mut b).map(|_| hex::encode(b)).map_err(|_| AuditError::Key("no system randomness".into()))
        };
        let text = format!(
            "# cdssd audit keys (README: \"Audit\"). Keep secret and backed up apart from the database.\n\
             # pseudonym_key links an encounter's decisions: never change it.\n\
             # Rotation: add a key under [keys], point `current` at it, restart; keep old keys to read old records.\n\
             pseudonym_key = \"{}\"\ncurrent = \"k1\"\n\n[keys]\nk1 = \"{}\"\n",
            random()?,
            random()?
        );
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| AuditError::Key(format!("cannot create {}: {e}", dir.display())))?;
        }
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| AuditError::Key(format!("cannot create key file {}: {e}", path.display())))?;
        f.write_all(text.as_bytes())
            .and_then(|_| f.sync_all())
            .map_err(|e| AuditError::Key(format!("cannot write key file {}: {e}", path.display())))
    }

    /// The id of the key new records are sealed with.
    pub fn current_id(&self) -> &str {
        &self.current
    }

    /// Seal `plain`, bound to `aad` (the record id), with the current key.
    pub fn seal(&self, aad: &str, plain: &[u8]) -> Result<Sealed, AuditError> {
        let key = &self.keys[&self.current];
        let mut nonce = [0u8; 12];
        self.rng.fill(&mut nonce).map_err(|_| AuditError::Key("no system randomness".into()))?;
        let mut buf = plain.to_vec();
        key.seal_in_place_append_tag(
            aead::Nonce::assume_unique_for_key(nonce),
            aead::Aad::from(aad.as_bytes()),
            &mut buf,
        )
        .map_err(|_| AuditError::Key("encryption failed".into()))?;
        Ok(Sealed { key_id: self.current.clone(), nonce: nonce.to_vec(), ciphertext: buf })
    }

    /// Open a sealed payload (its key must still be listed; the tag and `aad` must match).
    pub fn open(&self, aad: &str, sealed: &Sealed) -> Result<Vec<u8>, AuditError> {
        let key = self
            .keys
            .get(&sealed.key_id)
            .ok_or_else(|| AuditError::Key(format!("key `{}` is not in the key file", sealed.key_id)))?;
        let nonce: [u8; 12] =
            sealed.nonce.as_slice().try_into().map_err(|_| AuditError::Key("stored nonce is not 96 bits".into()))?;
        let mut buf = sealed.ciphertext.clone();
        let plain = key
            .open_in_place(aead::Nonce::assume_unique_for_key(nonce), aead::Aad::from(aad.as_bytes()), &mut buf)
            .map_err(|_| AuditError::Key(format!("record {aad} does not decrypt (wrong key or altered)")))?;
        Ok(plain.to_vec())
    }

    /// The pseudonymous id of an EMR identifier: HMAC-SHA-256, first 16 bytes in hex.
    pub fn pseudonym(&self, id: &str) -> String {
        hex::encode(&hmac::sign(&self.pseudonym, id.as_bytes()).as_ref()[..16])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_opens_rotates_and_refuses_tampering() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.toml");
        let ring = KeyRing::load(&path, true).unwrap();
        let s = ring.seal("d1", b"request bytes").unwrap();
        assert_ne!(s.ciphertext[..13], b"request bytes"[..]);
        assert_eq!(ring.open("d1", &s).unwrap(), b"request bytes");
        assert!(ring.open("d2", &s).is_err(), "bound to its record id");
        let mut t = s.clone();
        t.ciphertext[0] ^= 1;
        assert!(ring.open("d1", &t).is_err(), "tag checked");
        // Rotation: add k2, make it current; k1 records still open, new ones use k2.
        let text = std::fs::read_to_string(&path).unwrap().replace("current = \"k1\"", "current = \"k2\"")
            + format!("k2 = \"{}\"\n", "ab".repeat(32)).as_str();
        std::fs::write(&path, text).unwrap();
        let rotated = KeyRing::load(&path, false).unwrap();
        assert_eq!(rotated.open("d1", &s).unwrap(), b"request bytes");
        assert_eq!(rotated.seal("d3", b"x").unwrap().key_id, "k2");
        assert_eq!(rotated.pseudonym("E1"), ring.pseudonym("E1"), "pseudonyms survive rotation");
        assert_ne!(ring.pseudonym("E1"), ring.pseudonym("E2"));
        assert_eq!(ring.pseudonym("E1").len(), 32);
    }

    #[test]
    fn bad_key_files_are_named_errors_without_key_material() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.toml");
        std::fs::write(&path, "pseudonym_key = \"zz\"\ncurrent = \"k1\"\n[keys]\nk1 = \"00\"\n").unwrap();
        let e = KeyRing::load(&path, false).unwrap_err().to_string();
        assert!(e.contains("32 bytes") || e.contains("hexadecimal"), "{e}");
        std::fs::write(
            &path,
            format!("pseudonym_key = \"{0}\"\ncurrent = \"k9\"\n[keys]\nk1 = \"{0}\"\n", "11".repeat(32)),
        )
        .unwrap();
        let e = KeyRing::load(&path, false).unwrap_err().to_string();
        assert!(e.contains("k9") && !e.contains("1111"), "{e}");
    }
}
