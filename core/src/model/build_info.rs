//! What kind of build this is.

use std::fmt;

/// Facts about the compiled library, for logs and bug reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuildInfo {
    /// waotp's version.
    pub version: &'static str,
    /// The pinned whatsapp-rust version.
    pub whatsapp_rust_version: &'static str,
    /// True when built with the `sandbox` feature: certificate-chain checks are
    /// skipped and only loopback endpoints (the simulator) are accepted.
    pub sandbox: bool,
}

/// Describes this build.
pub fn build_info() -> BuildInfo {
    BuildInfo {
        version: env!("CARGO_PKG_VERSION"),
        whatsapp_rust_version: "0.7.0",
        sandbox: cfg!(feature = "sandbox"),
    }
}

impl fmt::Display for BuildInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "waotp {} (whatsapp-rust {}){}",
            self.version,
            self.whatsapp_rust_version,
            if self.sandbox {
                " SANDBOX BUILD: loopback endpoints only, certificate chain not verified"
            } else {
                ""
            }
        )
    }
}
