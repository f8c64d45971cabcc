//! Size and count limits, checked before work is done (SPEC.md §9).

/// The limits a reader enforces. The defaults are the values SPEC.md §9 gives,
/// which are maxima: a reader MAY lower them and MUST NOT raise them (the
/// verifier applies [`Limits::at_most_spec`] to whatever it is given).
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
    /// Longest line of `entries.jsonl`, in bytes, its LF included.
    pub max_entry_line_bytes: u64,
    /// Largest `bundle.json`, in bytes.
    pub max_header_bytes: u64,
    /// Most CA material objects (lines of `data/pki.jsonl`).
    pub max_pki_objects: u64,
    /// Largest CA material file, in bytes (a CRL can be large).
    pub max_pki_value_bytes: u64,
    /// Longest line of `data/pki.jsonl`, in bytes, its LF included.
    pub max_pki_line_bytes: u64,
    /// Largest uncompressed size a deflated member may declare (revision
    /// 1.4): checked before a byte is inflated.
    pub max_inflated_bytes: u64,
    /// Largest part index, in bytes (revision 1.4).
    pub max_part_index_bytes: u64,
}

impl Limits {
    /// Zip32 cannot describe a file of 4 GiB or more.
    pub const HARD_MAX_BUNDLE_BYTES: u64 = u32::MAX as u64;

    /// These limits, each lowered to SPEC.md §9's maximum where it is higher.
    #[must_use]
    pub fn at_most_spec(&self) -> Self {
        let spec = Self::default();
        Self {
            max_bundle_bytes: self.max_bundle_bytes.min(spec.max_bundle_bytes),
            max_signature_bytes: self.max_signature_bytes.min(spec.max_signature_bytes),
            max_signatures: self.max_signatures.min(spec.max_signatures),
            max_entries: self.max_entries.min(spec.max_entries),
            max_values_per_entry: self.max_values_per_entry.min(spec.max_values_per_entry),
            max_value_bytes: self.max_value_bytes.min(spec.max_value_bytes),
            max_entry_line_bytes: self.max_entry_line_bytes.min(spec.max_entry_line_bytes),
            max_header_bytes: self.max_header_bytes.min(spec.max_header_bytes),
            max_pki_objects: self.max_pki_objects.min(spec.max_pki_objects),
            max_pki_value_bytes: self.max_pki_value_bytes.min(spec.max_pki_value_bytes),
            max_pki_line_bytes: self.max_pki_line_bytes.min(spec.max_pki_line_bytes),
            max_inflated_bytes: self.max_inflated_bytes.min(spec.max_inflated_bytes),
            max_part_index_bytes: self.max_part_index_bytes.min(spec.max_part_index_bytes),
        }
    }
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
            max_pki_objects: 10_000,
            max_pki_value_bytes: 16 * 1024 * 1024,
            max_pki_line_bytes: 64 * 1024,
            max_inflated_bytes: 1024 * 1024 * 1024,
            max_part_index_bytes: 1024 * 1024,
        }
    }
}
