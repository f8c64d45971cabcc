//! Certificate inspection (work in progress).
