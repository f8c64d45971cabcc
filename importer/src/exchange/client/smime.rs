//! The organisation's S/MIME configuration: reading and replacing the
//! "virtual certificate collection" that Exchange Online validates S/MIME
//! certificates against (`Get-SmimeConfig`, `Set-SmimeConfig
//! -SMIMECertificateIssuingCA`, a byte array holding an SST).
//!
//! What `Get-SmimeConfig` answers for the collection is not documented; it is
//! read in every form a byte array takes elsewhere (exchange/bytes.rs), and
//! its absence is reported as such, never taken for an empty collection.

use serde_json::json;

use super::super::bytes;
use super::super::error::ExoError;
use super::cmdlets::{cmdlet_body, params};
use super::transport::protocol;
use super::{ExoClient, WriteReceipt};

/// The tenant's issuing-CA collection as `Get-SmimeConfig` showed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IssuingCaCollection {
    /// The answer has no `SMIMECertificateIssuingCA` member: the service does
    /// not show the collection, so what an upload replaces is unknown.
    NotShown,
    /// The member is `null` or empty: no collection was uploaded.
    Empty,
    /// The SST bytes.
    Store(Vec<u8>),
}

const MEMBER: &str = "SMIMECertificateIssuingCA";

impl ExoClient {
    /// `Get-SmimeConfig`: the issuing-CA collection.
    pub async fn get_smime_issuing_ca(&self) -> Result<IssuingCaCollection, ExoError> {
        let cmdlet = "Get-SmimeConfig";
        let body = cmdlet_body(cmdlet, params([]));
        let reply = self
            .invoke(&self.inner.invoke_url, &body)
            .await
            .map_err(|e| e.context(cmdlet))?;
        let rid = reply.request_id;
        let [config] = reply.value.as_slice() else {
            return Err(protocol(
                format!(
                    "{cmdlet}: {} configurations in the answer, expected one",
                    reply.value.len()
                ),
                &rid,
            ));
        };
        match config.get(MEMBER) {
            None => Ok(IssuingCaCollection::NotShown),
            Some(v) if v.is_null() => Ok(IssuingCaCollection::Empty),
            Some(v) if v.as_array().is_some_and(Vec::is_empty) => Ok(IssuingCaCollection::Empty),
            Some(v) => {
                // One byte array in any form; a bare array of numbers is the
                // byte[] itself (JSON numbers), which `bytes::decode` reads
                // only inside {"Data": …}.
                let wrapped;
                let v = if v.as_array().is_some_and(|a| a.iter().all(|n| n.is_u64())) {
                    wrapped = json!({ "Data": v });
                    &wrapped
                } else {
                    v
                };
                let (sst, _) = bytes::decode(v)
                    .map_err(|e| protocol(format!("{cmdlet}: {MEMBER}: {e}"), &rid))?;
                Ok(if sst.is_empty() {
                    IssuingCaCollection::Empty
                } else {
                    IssuingCaCollection::Store(sst)
                })
            }
        }
    }

    /// `Set-SmimeConfig -SMIMECertificateIssuingCA`: replaces the whole
    /// collection with `sst`, in the client's write form. Safe to repeat (the
    /// same store replaces the same store), so it is retried like a read.
    pub async fn set_smime_issuing_ca(&self, sst: &[u8]) -> Result<WriteReceipt, ExoError> {
        let cmdlet = "Set-SmimeConfig";
        let body = cmdlet_body(
            cmdlet,
            params([(MEMBER, self.inner.write_form.encode(sst))]),
        );
        let reply = self
            .invoke(&self.inner.invoke_url, &body)
            .await
            .map_err(|e| e.context(cmdlet))?;
        Ok(WriteReceipt {
            request_id: reply.request_id,
            warnings: reply.warnings,
            attempts: reply.attempts,
            ambiguous_failures: 0,
            confirmed_by_read_back: None,
        })
    }
}
