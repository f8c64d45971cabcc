//! The state database's schema (SQL) and its version.

/// Schema version kept in `PRAGMA user_version`. Version 1 databases are
/// upgraded in place (the schema only adds tables).
pub(super) const SCHEMA_VERSION: i64 = 2;

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS imports (
    id             INTEGER PRIMARY KEY,
    source         TEXT    NOT NULL,
    sequence       INTEGER NOT NULL,
    bundle_sha256  TEXT    NOT NULL UNIQUE,
    created        TEXT    NOT NULL,
    expires        TEXT    NOT NULL,
    imported_at    TEXT    NOT NULL,
    review_sha256  TEXT,
    signers        TEXT    NOT NULL,   -- JSON: [{name, role, key_id}]
    entries        INTEGER NOT NULL,   -- recipients rows of this import
    values_written INTEGER NOT NULL,   -- recipient_values rows of this import
    UNIQUE (source, sequence)
);
CREATE TABLE IF NOT EXISTS sources (
    id            TEXT    PRIMARY KEY,
    last_sequence INTEGER NOT NULL,
    last_sha256   TEXT    NOT NULL,
    last_created  TEXT    NOT NULL,
    last_import   INTEGER NOT NULL REFERENCES imports(id)
);
CREATE TABLE IF NOT EXISTS recipients (
    import    INTEGER NOT NULL REFERENCES imports(id),
    entry_key TEXT    NOT NULL,   -- objectGUID, else the lowercased DN
    kind      TEXT    NOT NULL,
    label     TEXT    NOT NULL,
    dn        TEXT    NOT NULL,
    PRIMARY KEY (import, entry_key)
);
CREATE TABLE IF NOT EXISTS recipient_addresses (
    import    INTEGER NOT NULL,
    entry_key TEXT    NOT NULL,
    address   TEXT    NOT NULL,   -- SMTP address, lowercased
    PRIMARY KEY (import, entry_key, address),
    FOREIGN KEY (import, entry_key) REFERENCES recipients(import, entry_key)
);
CREATE INDEX IF NOT EXISTS recipient_addresses_by_address ON recipient_addresses(address);
CREATE TABLE IF NOT EXISTS recipient_values (
    import       INTEGER NOT NULL,
    entry_key    TEXT    NOT NULL,
    attribute    TEXT    NOT NULL,   -- userCertificate | userSMIMECertificate
    position     INTEGER NOT NULL,   -- order within the attribute, from 1
    value_sha256 TEXT    NOT NULL,
    cert_sha256  TEXT,
    cert_sha1    TEXT,               -- uppercase, as Exchange shows thumbprints
    subject      TEXT,
    issuer       TEXT,
    not_after    TEXT,
    PRIMARY KEY (import, entry_key, attribute, position),
    FOREIGN KEY (import, entry_key) REFERENCES recipients(import, entry_key)
);
CREATE INDEX IF NOT EXISTS recipient_values_by_sha1 ON recipient_values(cert_sha1);
CREATE INDEX IF NOT EXISTS recipient_values_by_sha256 ON recipient_values(cert_sha256);
CREATE TABLE IF NOT EXISTS journal (
    id             INTEGER PRIMARY KEY,
    run            TEXT    NOT NULL,   -- the apply run (UUID)
    tenant         TEXT    NOT NULL,
    bundle_sha256  TEXT    NOT NULL,
    source         TEXT    NOT NULL,
    sequence       INTEGER NOT NULL,
    entry_key      TEXT    NOT NULL,
    label          TEXT    NOT NULL,
    kind           TEXT    NOT NULL,   -- mailbox | mail-user | mail-contact
    identity       TEXT    NOT NULL,   -- the Set-* Identity (for a new contact: its address)
    create_contact INTEGER NOT NULL,   -- 1: New-MailContact comes first
    changes        TEXT    NOT NULL,   -- JSON: the attribute changes (value hashes)
    audit_log      TEXT    NOT NULL,   -- the audit log its outcome line goes to
    started_at     TEXT    NOT NULL,
    outcome        TEXT,               -- NULL while in doubt
    finished_at    TEXT
);
CREATE INDEX IF NOT EXISTS journal_in_doubt ON journal(tenant) WHERE outcome IS NULL;
CREATE TABLE IF NOT EXISTS tenant_write_forms (
    tenant     TEXT PRIMARY KEY,
    write_form TEXT NOT NULL,   -- data-base64 | data-integers | base64
    proven_at  TEXT NOT NULL,
    recipient  TEXT NOT NULL    -- the recipient whose write read back identical
);
";
