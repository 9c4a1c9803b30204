//! The signing algorithms tollgate's tokens use.

use std::{fmt, str::FromStr};

/// The algorithms access tokens may be signed with (`TOLLGATE_JWT_ALG`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SigningAlg {
    /// RSASSA-PKCS1-v1_5 with SHA-256; generated keys are 2048-bit.
    RS256,
    /// ECDSA on P-256 with SHA-256.
    ES256,
    /// Ed25519.
    EdDSA,
    /// HMAC-SHA256 with a shared secret: only tollgate can verify.
    HS256,
}

impl SigningAlg {
    pub const ALL: [SigningAlg; 4] = [Self::RS256, Self::ES256, Self::EdDSA, Self::HS256];

    /// The JOSE `alg` name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RS256 => "RS256",
            Self::ES256 => "ES256",
            Self::EdDSA => "EdDSA",
            Self::HS256 => "HS256",
        }
    }

    pub fn is_asymmetric(self) -> bool {
        self != Self::HS256
    }
}

impl fmt::Display for SigningAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SigningAlg {
    type Err = String;

    /// Exact JOSE names only: `alg` is case-sensitive (RFC 7515 §4.1.1).
    fn from_str(value: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|alg| alg.as_str() == value)
            .ok_or_else(|| format!("`{value}` is not one of RS256, ES256, EdDSA, HS256"))
    }
}
