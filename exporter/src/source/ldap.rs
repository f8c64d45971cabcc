//! LDAP source (work in progress).
