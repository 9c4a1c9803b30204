//! The request id: the one every log line of a request carries, and that its
//! answer carries as `X-Request-Id`; current for the task handling the
//! request.

use std::{
    fmt,
    sync::{
        OnceLock,
        atomic::{AtomicU64, Ordering},
    },
};

use tokio::task::futures::TaskLocalFuture;

/// The header a client may set to trace its request, and that every answer carries.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The longest client-chosen request id that is kept.
const MAX_ID_LEN: usize = 64;

const HEX: &[u8; 16] = b"0123456789abcdef";

tokio::task_local! {
    /// The id of the request whose task is logging, read by [`current`].
    static CURRENT: RequestId;
}

/// A request's id: the client's `X-Request-Id` when it is 1 to 64 characters
/// of `A-Z a-z 0-9 . _ -`, else a new one. Anything else could forge parts of
/// a log line, so it is replaced, not cleaned.
#[derive(Clone, Copy)]
pub struct RequestId {
    bytes: [u8; MAX_ID_LEN],
    len: u8,
}

impl RequestId {
    /// The client's id, if it is one tollgate accepts.
    pub fn from_client(value: &[u8]) -> Option<Self> {
        let valid = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-');
        if value.is_empty() || value.len() > MAX_ID_LEN || !value.iter().all(valid) {
            return None;
        }
        let mut bytes = [0; MAX_ID_LEN];
        bytes[..value.len()].copy_from_slice(value);
        Some(Self {
            bytes,
            len: value.len() as u8,
        })
    }

    /// A new id, unique within the process and, by its random prefix, all but
    /// surely across processes and restarts: no system call, no lock.
    pub fn generate() -> Self {
        static PREFIX: OnceLock<u32> = OnceLock::new();
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let prefix = *PREFIX.get_or_init(rand::random);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        // Hex by hand: `write!` costs ten times as much through `core::fmt`.
        let mut bytes = [0; MAX_ID_LEN];
        let digits = (16 - n.leading_zeros() as usize / 4).max(8);
        let hex = |i: u32, v: u64| HEX[(v >> (4 * i) & 0xf) as usize];
        for i in 0..8 {
            bytes[7 - i] = hex(i as u32, u64::from(prefix));
        }
        for i in 0..digits {
            bytes[8 + digits - 1 - i] = hex(i as u32, n);
        }
        Self {
            bytes,
            len: (8 + digits) as u8,
        }
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII is ever stored.
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or_default()
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl RequestId {
    /// Runs `future` with this id current.
    /// (Not an `async fn`: that would keep a second copy of `future`.)
    pub fn scope<F: Future>(self, future: F) -> TaskLocalFuture<Self, F> {
        CURRENT.scope(self, future)
    }

    /// Runs `f` with this id current.
    pub fn sync_scope<R>(self, f: impl FnOnce() -> R) -> R {
        CURRENT.sync_scope(self, f)
    }
}

/// The id of the request being handled on this task, if any.
pub fn current() -> Option<RequestId> {
    CURRENT.try_with(|id| *id).ok()
}

#[cfg(test)]
mod tests {
    use super::RequestId;

    #[test]
    fn client_ids_are_kept_only_when_plain() {
        for good in ["a", "trace-me-1", "A.b_c-9", &"x".repeat(64)] {
            assert_eq!(
                RequestId::from_client(good.as_bytes()).map(|id| id.to_string()),
                Some(good.to_owned())
            );
        }
        for bad in [
            "",
            "1}:forged{status=500",
            "a b",
            "a=b",
            "a\"b",
            "é",
            &"x".repeat(65),
        ] {
            assert!(RequestId::from_client(bad.as_bytes()).is_none(), "{bad}");
        }
    }

    #[test]
    fn generated_ids_differ_and_would_be_accepted_back() {
        let a = RequestId::generate();
        let b = RequestId::generate();
        assert_ne!(a.as_str(), b.as_str());
        assert_eq!(a.as_str().len(), 16);
        assert!(RequestId::from_client(a.as_str().as_bytes()).is_some());
        let (prefix, count) = a.as_str().split_at(8);
        assert_eq!(b.as_str()[..8], *prefix, "one prefix per process");
        let next = u64::from_str_radix(count, 16).unwrap() + 1;
        assert_eq!(u64::from_str_radix(&b.as_str()[8..], 16).unwrap(), next);
    }

    #[test]
    fn an_id_is_current_only_inside_its_scope() {
        let id = RequestId::from_client(b"in-scope").unwrap();
        assert!(super::current().is_none());
        let inside = id.sync_scope(|| super::current().map(|id| id.to_string()));
        assert_eq!(inside.as_deref(), Some("in-scope"));
    }
}
