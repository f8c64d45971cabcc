//! `certferry-export`: see the README.
#![forbid(unsafe_code)]

fn main() {
    println!("certferry-export {}", env!("CARGO_PKG_VERSION"));
}
