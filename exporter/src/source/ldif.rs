//! LDIF source (work in progress).
