//! The simulator's own reader of a serialized certificate store (SST), written
//! from the published layout, not from the importer's writer: MS-OSHARED
//! 2.3.9.1 (header `version` u32 0, `fileType` "CERT"), 2.3.2.5.1 (element:
//! id u32, encodingType u32 = 1, length u32, value), 2.3.2.5.2 (end: id 0 and
//! a u64 0). Elements with id 0x20 hold a certificate; others (properties,
//! CRLs, CTLs) are skipped by their length, as zcrypto's reader does.

/// The certificates (DER) of a store, in order, or why it is not one.
pub(crate) fn certificates(sst: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let u32_at = |at: usize| -> Option<u32> {
        sst.get(at..at + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    if sst.get(..8) != Some(&[0, 0, 0, 0, b'C', b'E', b'R', b'T'][..]) {
        return Err("it does not start with the store header (version 0, \"CERT\")".into());
    }
    let mut at = 8;
    let mut out = Vec::new();
    loop {
        let id = u32_at(at).ok_or("it ends before its end marker")?;
        if id == 0 {
            if sst.get(at + 4..at + 12) != Some(&[0u8; 8][..]) {
                return Err("its end marker is not 12 zero bytes".into());
            }
            if at + 12 != sst.len() {
                return Err(format!(
                    "{} bytes follow its end marker",
                    sst.len() - at - 12
                ));
            }
            return Ok(out);
        }
        let encoding = u32_at(at + 4).ok_or("an element header is cut short")?;
        let len = u32_at(at + 8).ok_or("an element header is cut short")? as usize;
        let value = sst
            .get(at + 12..at + 12 + len)
            .ok_or("an element is longer than the store")?;
        if id == 0x20 {
            if encoding != 1 {
                return Err(format!(
                    "a certificate element has encodingType {encoding}, not 1"
                ));
            }
            out.push(value.to_vec());
        }
        at += 12 + len;
    }
}
