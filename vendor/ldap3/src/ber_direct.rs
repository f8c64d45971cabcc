//! certferry addition (see vendor/README.md): `lber::parse::parse_tag` without nom.
//!
//! `decode_inner` parses every LDAP message the server sends with this function
//! instead of lber's nom combinators, which cost about twice as much per search
//! result entry. It returns exactly what `lber::parse::parse_tag` (lber 0.5.1)
//! returns for every input, quirks included:
//!
//! - the tag number is the low five bits of the first octet (no high-tag form);
//! - a long-form length folds its octets into a `u64`, keeping the low 64 bits;
//!   the indefinite form (`0x80`) therefore reads as length 0;
//! - running out of input anywhere, also inside an enclosing element whose
//!   length was complete, is `Incomplete`; there are no other errors on 64-bit
//!   targets (a length that does not fit `usize` is `Failure`, as in lber).
//!
//! The exporter's test `vendored_ber_parser` compares the two on generated and
//! mutated encodings. Only `Incomplete` versus other errors is compared for
//! failures: that is all `decode_inner` looks at.

use lber::IResult;
use lber::common::TagClass;
use lber::structure::{PL, StructureTag};
use nom::Needed;
use nom::error::{Error, ErrorKind};

/// Parses one BER element into a [`StructureTag`], as `lber::parse::parse_tag`.
pub fn parse_tag(input: &[u8]) -> IResult<&[u8], StructureTag> {
    let (&identifier, rest) = input.split_first().ok_or(INCOMPLETE)?;
    let (&first_length, mut rest) = rest.split_first().ok_or(INCOMPLETE)?;
    let len = if first_length < 0x80 {
        usize::from(first_length)
    } else {
        let octets = usize::from(first_length - 0x80);
        if rest.len() < octets {
            return Err(INCOMPLETE);
        }
        let (number, after) = rest.split_at(octets);
        rest = after;
        let value = number.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
        usize::try_from(value)
            .map_err(|_| nom::Err::Failure(Error::new(rest, ErrorKind::TooLarge)))?
    };
    if rest.len() < len {
        return Err(INCOMPLETE);
    }
    let (mut content, rest) = rest.split_at(len);
    let class = match identifier >> 6 {
        0 => TagClass::Universal,
        1 => TagClass::Application,
        2 => TagClass::Context,
        _ => TagClass::Private,
    };
    let payload = if identifier & 0x20 == 0 {
        PL::P(content.to_vec())
    } else {
        let mut children = Vec::with_capacity(count_children(content));
        while !content.is_empty() {
            let (after, child) = parse_tag(content)?;
            content = after;
            children.push(child);
        }
        PL::C(children)
    };
    Ok((
        rest,
        StructureTag {
            class,
            id: u64::from(identifier & 0x1f),
            payload,
        },
    ))
}

const INCOMPLETE: nom::Err<Error<&[u8]>> = nom::Err::Incomplete(Needed::Unknown);

/// How many complete elements `content` starts with: the capacity to give the
/// children's vector, so that it is allocated once. Only a size hint; stops at
/// the first element that does not fit.
fn count_children(mut content: &[u8]) -> usize {
    let mut count = 0;
    while let [_, first_length, after @ ..] = content {
        let (len, after) = if *first_length < 0x80 {
            (usize::from(*first_length), after)
        } else {
            let octets = usize::from(first_length - 0x80);
            if octets > 8 || after.len() < octets {
                break;
            }
            let (number, after) = after.split_at(octets);
            let value = number.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
            match usize::try_from(value) {
                Ok(len) => (len, after),
                Err(_) => break,
            }
        };
        if after.len() < len {
            break;
        }
        content = &after[len..];
        count += 1;
    }
    count
}
