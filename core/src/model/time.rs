//! Times as Unix milliseconds, the form every binding reads easily.

/// The wall clock as Unix milliseconds: what rows in a shared store (and
/// the expiries they carry) are compared against across processes and hosts.
pub(crate) fn unix_ms_now() -> u64 {
    unix_millis::to_millis(&std::time::SystemTime::now())
}

/// Serde helper: a time as Unix milliseconds.
pub(crate) mod unix_millis {
    use std::time::{SystemTime, UNIX_EPOCH};

    pub fn to_millis(t: &SystemTime) -> u64 {
        t.duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    }

    pub fn serialize<S: serde::Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(to_millis(t))
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<SystemTime, D::Error> {
        let ms = <u64 as serde::Deserialize>::deserialize(d)?;
        Ok(UNIX_EPOCH + std::time::Duration::from_millis(ms))
    }
}

/// Serde helper: an optional time as Unix milliseconds.
pub(crate) mod unix_millis_opt {
    use std::time::SystemTime;

    pub fn serialize<S: serde::Serializer>(
        t: &Option<SystemTime>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_some(&super::unix_millis::to_millis(t)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(
        d: D,
    ) -> Result<Option<SystemTime>, D::Error> {
        let ms = <Option<u64> as serde::Deserialize>::deserialize(d)?;
        Ok(ms.map(|ms| std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms)))
    }
}
