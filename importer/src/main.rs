//! `certferry-import`: see the README.
#![forbid(unsafe_code)]

fn main() {
    println!("certferry-import {}", env!("CARGO_PKG_VERSION"));
}
