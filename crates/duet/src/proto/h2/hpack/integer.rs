//! Integer representation with an N-bit prefix (RFC 7541 §5.1).

use bytes::{BufMut, BytesMut};

use super::DecoderError;

/// Largest integer the decoder accepts. Every HPACK integer is an index, a
/// string length or a table size; none can sensibly exceed `u32::MAX`,
/// and bounding it bounds the number of continuation octets (at most 5).
const MAX_INT: u64 = u32::MAX as u64;

/// Appends `value` with a `prefix_bits`-bit prefix (1..=8); `flags` holds
/// the representation's pattern in the bits above the prefix.
#[inline]
pub(super) fn encode(value: usize, prefix_bits: u8, flags: u8, dst: &mut BytesMut) {
    let max_prefix = usize::from(0xffu8 >> (8 - prefix_bits));
    if value < max_prefix {
        // Most indices and string lengths fit the prefix: one octet.
        dst.put_u8(flags | value as u8);
    } else {
        encode_continued(value - max_prefix, flags | max_prefix as u8, dst);
    }
}

/// The prefix octet `first` (all prefix bits set), then `rest` in 7-bit
/// groups, least significant first (RFC 7541 §5.1).
#[inline(never)]
fn encode_continued(mut rest: usize, first: u8, dst: &mut BytesMut) {
    dst.put_u8(first);
    while rest >= 0x80 {
        dst.put_u8(0x80 | (rest & 0x7f) as u8);
        rest >>= 7;
    }
    dst.put_u8(rest as u8);
}

/// Decodes an integer with a `prefix_bits`-bit prefix (1..=8) that starts
/// at `block[*pos]`, advancing `*pos` past it. The bits above the prefix
/// are ignored (the caller has read them).
pub(super) fn decode(
    block: &[u8],
    pos: &mut usize,
    prefix_bits: u8,
) -> Result<usize, DecoderError> {
    let max_prefix = 0xffu8 >> (8 - prefix_bits);
    let first = *block.get(*pos).ok_or(DecoderError::IntegerTruncated)? & max_prefix;
    *pos += 1;
    if first < max_prefix {
        return Ok(usize::from(first));
    }
    let mut value = u64::from(max_prefix);
    let mut shift = 0u32;
    loop {
        let byte = *block.get(*pos).ok_or(DecoderError::IntegerTruncated)?;
        *pos += 1;
        value += u64::from(byte & 0x7f) << shift;
        if value > MAX_INT {
            return Err(DecoderError::IntegerOverflow);
        }
        if byte & 0x80 == 0 {
            return usize::try_from(value).map_err(|_| DecoderError::IntegerOverflow);
        }
        shift += 7;
        if shift > 28 {
            // A sixth continuation octet: more than 35 bits, or padding
            // with zero-valued octets; neither is a sane encoding.
            return Err(DecoderError::IntegerOverflow);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(value: usize, prefix: u8) -> Vec<u8> {
        let mut dst = BytesMut::new();
        encode(value, prefix, 0, &mut dst);
        dst.to_vec()
    }

    fn dec(block: &[u8], prefix: u8) -> Result<(usize, usize), DecoderError> {
        let mut pos = 0;
        decode(block, &mut pos, prefix).map(|v| (v, pos))
    }

    /// RFC 7541 Appendix C.1.1–C.1.3.
    #[test]
    fn appendix_c1() {
        assert_eq!(enc(10, 5), [0x0a]);
        assert_eq!(dec(&[0xea], 5), Ok((10, 1)));
        assert_eq!(enc(1337, 5), [0x1f, 0x9a, 0x0a]);
        assert_eq!(dec(&[0xff, 0x9a, 0x0a], 5), Ok((1337, 3)));
        assert_eq!(enc(42, 8), [0x2a]);
        assert_eq!(dec(&[0x2a], 8), Ok((42, 1)));
    }

    #[test]
    fn flags_are_kept_and_ignored() {
        let mut dst = BytesMut::new();
        encode(3, 6, 0x40, &mut dst);
        assert_eq!(&dst[..], [0x43]);
        assert_eq!(dec(&[0x43], 6), Ok((3, 1)));
    }

    #[test]
    fn boundaries_round_trip() {
        for prefix in 1..=8u8 {
            let max_prefix = (1usize << prefix) - 1;
            for v in [
                0,
                1,
                max_prefix - 1,
                max_prefix,
                max_prefix + 1,
                max_prefix + 127,
                max_prefix + 128,
                4096,
                65_535,
                1 << 24,
                u32::MAX as usize,
            ] {
                let bytes = enc(v, prefix);
                assert_eq!(dec(&bytes, prefix), Ok((v, bytes.len())), "{v} {prefix}");
            }
        }
    }

    #[test]
    fn truncated() {
        assert_eq!(dec(&[], 5), Err(DecoderError::IntegerTruncated));
        assert_eq!(dec(&[0x1f], 5), Err(DecoderError::IntegerTruncated));
        assert_eq!(dec(&[0x1f, 0x9a], 5), Err(DecoderError::IntegerTruncated));
    }

    #[test]
    fn overflow() {
        // Ten continuation octets.
        let mut long = vec![0xff];
        long.extend_from_slice(&[0xff; 10]);
        long.push(0x01);
        assert_eq!(dec(&long, 7), Err(DecoderError::IntegerOverflow));
        // 2^32: just past the limit (0x7f + 0xffff_ff81 in 5 octets).
        let big = [0x7f, 0x81, 0xff, 0xff, 0xff, 0x0f];
        assert_eq!(dec(&big, 7), Err(DecoderError::IntegerOverflow));
        assert_eq!(
            dec(&[0x7f, 0x80, 0xff, 0xff, 0xff, 0x0f], 7),
            Ok((u32::MAX as usize, 6))
        );
        // Zero-valued continuation octets cannot go on forever.
        let mut zeros = vec![0x7f];
        zeros.extend_from_slice(&[0x80; 20]);
        zeros.push(0x00);
        assert_eq!(dec(&zeros, 7), Err(DecoderError::IntegerOverflow));
    }
}
