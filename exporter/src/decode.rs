//! Decoding of directory entries (work in progress).
