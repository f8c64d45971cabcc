//! Size and count limits, checked before work is done (SPEC.md §9).

/// The limits a reader enforces. The defaults are the values SPEC.md §9 gives;
/// a reader MAY lower them, and MUST NOT raise a limit beyond the hard ceilings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest bundle file accepted, in bytes.
    pub max_bundle_bytes: u64,
    /// Largest signature file accepted, in bytes.
    pub max_signature_bytes: usize,
    /// Most signature files considered.
    pub max_signatures: usize,
    /// Most entries (directory objects) in one bundle.
    pub max_entries: u64,
    /// Most attribute values in one entry (both attributes together).
    pub max_values_per_entry: usize,
    /// Largest attribute value, in bytes.
    pub max_value_bytes: u64,
    /// Longest line of `entries.jsonl`, in bytes (without its LF).
    pub max_entry_line_bytes: u64,
    /// Largest `bundle.json`, in bytes.
    pub max_header_bytes: u64,
}

impl Limits {
    /// Zip32 cannot describe a file of 4 GiB or more.
    pub const HARD_MAX_BUNDLE_BYTES: u64 = u32::MAX as u64;
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_bundle_bytes: 2 * 1024 * 1024 * 1024,
            max_signature_bytes: 16 * 1024,
            max_signatures: 16,
            max_entries: 2_000_000,
            max_values_per_entry: 256,
            max_value_bytes: 256 * 1024,
            max_entry_line_bytes: 1024 * 1024,
            max_header_bytes: 64 * 1024,
        }
    }
}
