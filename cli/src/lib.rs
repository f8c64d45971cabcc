//! What both certferry programs share at their edges, kept in one place so
//! the two cannot drift apart: passwords ([`secret`]: a file, an environment
//! variable or a prompt, never the command line; never printed), crash-safe
//! output ([`output`]: temp file, fsync, rename, fsync the folder),
//! durations ([`duration`]) and a quiet stop when standard output's reader
//! goes away ([`pipe`]).

#![forbid(unsafe_code)]

pub mod duration;
pub mod output;
pub mod pipe;
pub mod secret;
