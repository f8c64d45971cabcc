//! Arbitrary bytes as an attribute value: `cert::decode_value` (X.509, CMS/PKCS#7
//! in DER and BER, certificate inspection) and `cert::find_private_key_material`
//! must return, never panic, whatever the input.
#![no_main]

use certferry_format::cert;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let decoded = cert::decode_value(data);
    // Touch what an exporter records, so nothing is optimised away.
    for c in &decoded.certificates {
        std::hint::black_box((&c.subject, &c.issuer, &c.serial, c.key_bits));
    }
    std::hint::black_box(cert::find_private_key_material(data));
});
