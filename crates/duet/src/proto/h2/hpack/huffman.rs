//! The HPACK Huffman code (RFC 7541 §5.2, Appendix B): encoding and a
//! table-driven decoder that reads four bits at a time.
//!
//! The decoder rejects, as §5.2 requires, padding longer than 7 bits,
//! padding that is not the most significant bits of EOS (all ones), and an
//! EOS symbol inside the string.

use bytes::{BufMut, BytesMut};

use super::DecoderError;

/// `(code, length in bits)` for each symbol 0..=255 and EOS (256), the code
/// right-aligned. RFC 7541 Appendix B.
const CODES: [(u32, u8); 257] = [
    (0x1ff8, 13),     //   0
    (0x7fffd8, 23),   //   1
    (0xfffffe2, 28),  //   2
    (0xfffffe3, 28),  //   3
    (0xfffffe4, 28),  //   4
    (0xfffffe5, 28),  //   5
    (0xfffffe6, 28),  //   6
    (0xfffffe7, 28),  //   7
    (0xfffffe8, 28),  //   8
    (0xffffea, 24),   //   9
    (0x3ffffffc, 30), //  10
    (0xfffffe9, 28),  //  11
    (0xfffffea, 28),  //  12
    (0x3ffffffd, 30), //  13
    (0xfffffeb, 28),  //  14
    (0xfffffec, 28),  //  15
    (0xfffffed, 28),  //  16
    (0xfffffee, 28),  //  17
    (0xfffffef, 28),  //  18
    (0xffffff0, 28),  //  19
    (0xffffff1, 28),  //  20
    (0xffffff2, 28),  //  21
    (0x3ffffffe, 30), //  22
    (0xffffff3, 28),  //  23
    (0xffffff4, 28),  //  24
    (0xffffff5, 28),  //  25
    (0xffffff6, 28),  //  26
    (0xffffff7, 28),  //  27
    (0xffffff8, 28),  //  28
    (0xffffff9, 28),  //  29
    (0xffffffa, 28),  //  30
    (0xffffffb, 28),  //  31
    (0x14, 6),        //  32 ' '
    (0x3f8, 10),      //  33 '!'
    (0x3f9, 10),      //  34 '"'
    (0xffa, 12),      //  35 '#'
    (0x1ff9, 13),     //  36 '$'
    (0x15, 6),        //  37 '%'
    (0xf8, 8),        //  38 '&'
    (0x7fa, 11),      //  39
    (0x3fa, 10),      //  40 '('
    (0x3fb, 10),      //  41 ')'
    (0xf9, 8),        //  42 '*'
    (0x7fb, 11),      //  43 '+'
    (0xfa, 8),        //  44 ','
    (0x16, 6),        //  45 '-'
    (0x17, 6),        //  46 '.'
    (0x18, 6),        //  47 '/'
    (0x0, 5),         //  48 '0'
    (0x1, 5),         //  49 '1'
    (0x2, 5),         //  50 '2'
    (0x19, 6),        //  51 '3'
    (0x1a, 6),        //  52 '4'
    (0x1b, 6),        //  53 '5'
    (0x1c, 6),        //  54 '6'
    (0x1d, 6),        //  55 '7'
    (0x1e, 6),        //  56 '8'
    (0x1f, 6),        //  57 '9'
    (0x5c, 7),        //  58 ':'
    (0xfb, 8),        //  59 ';'
    (0x7ffc, 15),     //  60 '<'
    (0x20, 6),        //  61 '='
    (0xffb, 12),      //  62 '>'
    (0x3fc, 10),      //  63 '?'
    (0x1ffa, 13),     //  64 '@'
    (0x21, 6),        //  65 'A'
    (0x5d, 7),        //  66 'B'
    (0x5e, 7),        //  67 'C'
    (0x5f, 7),        //  68 'D'
    (0x60, 7),        //  69 'E'
    (0x61, 7),        //  70 'F'
    (0x62, 7),        //  71 'G'
    (0x63, 7),        //  72 'H'
    (0x64, 7),        //  73 'I'
    (0x65, 7),        //  74 'J'
    (0x66, 7),        //  75 'K'
    (0x67, 7),        //  76 'L'
    (0x68, 7),        //  77 'M'
    (0x69, 7),        //  78 'N'
    (0x6a, 7),        //  79 'O'
    (0x6b, 7),        //  80 'P'
    (0x6c, 7),        //  81 'Q'
    (0x6d, 7),        //  82 'R'
    (0x6e, 7),        //  83 'S'
    (0x6f, 7),        //  84 'T'
    (0x70, 7),        //  85 'U'
    (0x71, 7),        //  86 'V'
    (0x72, 7),        //  87 'W'
    (0xfc, 8),        //  88 'X'
    (0x73, 7),        //  89 'Y'
    (0xfd, 8),        //  90 'Z'
    (0x1ffb, 13),     //  91 '['
    (0x7fff0, 19),    //  92
    (0x1ffc, 13),     //  93 ']'
    (0x3ffc, 14),     //  94 '^'
    (0x22, 6),        //  95 '_'
    (0x7ffd, 15),     //  96 '`'
    (0x3, 5),         //  97 'a'
    (0x23, 6),        //  98 'b'
    (0x4, 5),         //  99 'c'
    (0x24, 6),        // 100 'd'
    (0x5, 5),         // 101 'e'
    (0x25, 6),        // 102 'f'
    (0x26, 6),        // 103 'g'
    (0x27, 6),        // 104 'h'
    (0x6, 5),         // 105 'i'
    (0x74, 7),        // 106 'j'
    (0x75, 7),        // 107 'k'
    (0x28, 6),        // 108 'l'
    (0x29, 6),        // 109 'm'
    (0x2a, 6),        // 110 'n'
    (0x7, 5),         // 111 'o'
    (0x2b, 6),        // 112 'p'
    (0x76, 7),        // 113 'q'
    (0x2c, 6),        // 114 'r'
    (0x8, 5),         // 115 's'
    (0x9, 5),         // 116 't'
    (0x2d, 6),        // 117 'u'
    (0x77, 7),        // 118 'v'
    (0x78, 7),        // 119 'w'
    (0x79, 7),        // 120 'x'
    (0x7a, 7),        // 121 'y'
    (0x7b, 7),        // 122 'z'
    (0x7ffe, 15),     // 123 '{'
    (0x7fc, 11),      // 124 '|'
    (0x3ffd, 14),     // 125 '}'
    (0x1ffd, 13),     // 126 '~'
    (0xffffffc, 28),  // 127
    (0xfffe6, 20),    // 128
    (0x3fffd2, 22),   // 129
    (0xfffe7, 20),    // 130
    (0xfffe8, 20),    // 131
    (0x3fffd3, 22),   // 132
    (0x3fffd4, 22),   // 133
    (0x3fffd5, 22),   // 134
    (0x7fffd9, 23),   // 135
    (0x3fffd6, 22),   // 136
    (0x7fffda, 23),   // 137
    (0x7fffdb, 23),   // 138
    (0x7fffdc, 23),   // 139
    (0x7fffdd, 23),   // 140
    (0x7fffde, 23),   // 141
    (0xffffeb, 24),   // 142
    (0x7fffdf, 23),   // 143
    (0xffffec, 24),   // 144
    (0xffffed, 24),   // 145
    (0x3fffd7, 22),   // 146
    (0x7fffe0, 23),   // 147
    (0xffffee, 24),   // 148
    (0x7fffe1, 23),   // 149
    (0x7fffe2, 23),   // 150
    (0x7fffe3, 23),   // 151
    (0x7fffe4, 23),   // 152
    (0x1fffdc, 21),   // 153
    (0x3fffd8, 22),   // 154
    (0x7fffe5, 23),   // 155
    (0x3fffd9, 22),   // 156
    (0x7fffe6, 23),   // 157
    (0x7fffe7, 23),   // 158
    (0xffffef, 24),   // 159
    (0x3fffda, 22),   // 160
    (0x1fffdd, 21),   // 161
    (0xfffe9, 20),    // 162
    (0x3fffdb, 22),   // 163
    (0x3fffdc, 22),   // 164
    (0x7fffe8, 23),   // 165
    (0x7fffe9, 23),   // 166
    (0x1fffde, 21),   // 167
    (0x7fffea, 23),   // 168
    (0x3fffdd, 22),   // 169
    (0x3fffde, 22),   // 170
    (0xfffff0, 24),   // 171
    (0x1fffdf, 21),   // 172
    (0x3fffdf, 22),   // 173
    (0x7fffeb, 23),   // 174
    (0x7fffec, 23),   // 175
    (0x1fffe0, 21),   // 176
    (0x1fffe1, 21),   // 177
    (0x3fffe0, 22),   // 178
    (0x1fffe2, 21),   // 179
    (0x7fffed, 23),   // 180
    (0x3fffe1, 22),   // 181
    (0x7fffee, 23),   // 182
    (0x7fffef, 23),   // 183
    (0xfffea, 20),    // 184
    (0x3fffe2, 22),   // 185
    (0x3fffe3, 22),   // 186
    (0x3fffe4, 22),   // 187
    (0x7ffff0, 23),   // 188
    (0x3fffe5, 22),   // 189
    (0x3fffe6, 22),   // 190
    (0x7ffff1, 23),   // 191
    (0x3ffffe0, 26),  // 192
    (0x3ffffe1, 26),  // 193
    (0xfffeb, 20),    // 194
    (0x7fff1, 19),    // 195
    (0x3fffe7, 22),   // 196
    (0x7ffff2, 23),   // 197
    (0x3fffe8, 22),   // 198
    (0x1ffffec, 25),  // 199
    (0x3ffffe2, 26),  // 200
    (0x3ffffe3, 26),  // 201
    (0x3ffffe4, 26),  // 202
    (0x7ffffde, 27),  // 203
    (0x7ffffdf, 27),  // 204
    (0x3ffffe5, 26),  // 205
    (0xfffff1, 24),   // 206
    (0x1ffffed, 25),  // 207
    (0x7fff2, 19),    // 208
    (0x1fffe3, 21),   // 209
    (0x3ffffe6, 26),  // 210
    (0x7ffffe0, 27),  // 211
    (0x7ffffe1, 27),  // 212
    (0x3ffffe7, 26),  // 213
    (0x7ffffe2, 27),  // 214
    (0xfffff2, 24),   // 215
    (0x1fffe4, 21),   // 216
    (0x1fffe5, 21),   // 217
    (0x3ffffe8, 26),  // 218
    (0x3ffffe9, 26),  // 219
    (0xffffffd, 28),  // 220
    (0x7ffffe3, 27),  // 221
    (0x7ffffe4, 27),  // 222
    (0x7ffffe5, 27),  // 223
    (0xfffec, 20),    // 224
    (0xfffff3, 24),   // 225
    (0xfffed, 20),    // 226
    (0x1fffe6, 21),   // 227
    (0x3fffe9, 22),   // 228
    (0x1fffe7, 21),   // 229
    (0x1fffe8, 21),   // 230
    (0x7ffff3, 23),   // 231
    (0x3fffea, 22),   // 232
    (0x3fffeb, 22),   // 233
    (0x1ffffee, 25),  // 234
    (0x1ffffef, 25),  // 235
    (0xfffff4, 24),   // 236
    (0xfffff5, 24),   // 237
    (0x3ffffea, 26),  // 238
    (0x7ffff4, 23),   // 239
    (0x3ffffeb, 26),  // 240
    (0x7ffffe6, 27),  // 241
    (0x3ffffec, 26),  // 242
    (0x3ffffed, 26),  // 243
    (0x7ffffe7, 27),  // 244
    (0x7ffffe8, 27),  // 245
    (0x7ffffe9, 27),  // 246
    (0x7ffffea, 27),  // 247
    (0x7ffffeb, 27),  // 248
    (0xffffffe, 28),  // 249
    (0x7ffffec, 27),  // 250
    (0x7ffffed, 27),  // 251
    (0x7ffffee, 27),  // 252
    (0x7ffffef, 27),  // 253
    (0x7fffff0, 27),  // 254
    (0x3ffffee, 26),  // 255
    (0x3fffffff, 30), // 256 EOS
];

/// Symbol number of EOS (RFC 7541 §5.2).
const EOS: u16 = 256;

/// Number of octets `src` takes once Huffman-encoded (padding included).
pub(super) fn encoded_len(src: &[u8]) -> usize {
    let mut bits = 0;
    for &b in src {
        bits += usize::from(code(b).1);
    }
    bits.div_ceil(8)
}

fn code(byte: u8) -> (u32, u8) {
    // `CODES` has 257 entries, so any byte value is in range.
    CODES[usize::from(byte)]
}

/// Appends the Huffman encoding of `src`, padded with the most significant
/// bits of EOS (ones), RFC 7541 §5.2: [`encoded_len`] octets.
pub(super) fn encode(src: &[u8], dst: &mut BytesMut) {
    // Fewer than 32 pending bits between symbols, so at most 31 + 30;
    // they leave four octets at a time.
    let mut acc: u64 = 0;
    let mut bits: u32 = 0;
    for &b in src {
        let (code, len) = code(b);
        acc = (acc << len) | u64::from(code);
        bits += u32::from(len);
        if bits >= 32 {
            bits -= 32;
            dst.put_u32((acc >> bits) as u32);
            acc &= (1u64 << bits) - 1;
        }
    }
    if bits > 0 {
        // 1 to 4 octets remain, the last one padded.
        let octets = bits.div_ceil(8);
        let pad = octets * 8 - bits;
        let last = ((acc << pad) | ((1u64 << pad) - 1)) as u32;
        let start = 4 - octets as usize;
        dst.put_slice(&last.to_be_bytes()[start..]);
    }
}

/// Decodes the Huffman-encoded string `src`, appending the octets to `dst`.
pub(super) fn decode(src: &[u8], dst: &mut BytesMut) -> Result<(), DecoderError> {
    dst.reserve(src.len() * 8 / 5 + 1);
    let mut state = 0u8;
    for &b in src {
        for nibble in [b >> 4, b & 0x0f] {
            let step = DECODE[usize::from(state)][usize::from(nibble)];
            if step.flags & FAIL != 0 {
                return Err(DecoderError::HuffmanEos);
            }
            if step.flags & EMIT != 0 {
                dst.put_u8(step.sym);
            }
            state = step.next;
        }
    }
    match END[usize::from(state)] {
        END_OK => Ok(()),
        END_NOT_ONES => Err(DecoderError::HuffmanPaddingNotOnes),
        _ => Err(DecoderError::HuffmanPaddingTooLong),
    }
}

/// One transition of the decoding automaton: the state after four more
/// bits, and the symbol completed on the way, if any. No code is shorter
/// than 5 bits, so four bits complete at most one symbol.
#[derive(Clone, Copy)]
struct Step {
    next: u8,
    sym: u8,
    flags: u8,
}

/// `Step::sym` is a decoded octet.
const EMIT: u8 = 1;
/// The four bits completed EOS, which must not appear (RFC 7541 §5.2).
const FAIL: u8 = 2;

/// A string may end in this state (at a symbol boundary, or in up to 7
/// bits of padding that are all ones).
const END_OK: u8 = 0;
/// Ending here leaves padding that is not all ones.
const END_NOT_ONES: u8 = 1;
/// Ending here leaves padding of more than 7 bits.
const END_TOO_LONG: u8 = 2;

/// A node of the code tree: its two children, each an internal node index
/// or `LEAF | symbol`. The code is complete, so its 257 leaves need exactly
/// 256 internal nodes, node 0 being the root.
struct Tree {
    children: [[u16; 2]; 256],
    depth: [u8; 256],
    all_ones: [bool; 256],
}

const LEAF: u16 = 0x8000;

const fn build_tree() -> Tree {
    let mut t = Tree {
        children: [[0; 2]; 256],
        depth: [0; 256],
        all_ones: [true; 256],
    };
    let mut next_free = 1;
    let mut sym = 0;
    while sym < CODES.len() {
        let (code, len) = CODES[sym];
        let mut node = 0;
        let mut i = len;
        while i > 0 {
            i -= 1;
            let bit = ((code >> i) & 1) as usize;
            if i == 0 {
                t.children[node][bit] = LEAF | sym as u16;
            } else if t.children[node][bit] == 0 {
                t.children[node][bit] = next_free as u16;
                t.depth[next_free] = t.depth[node] + 1;
                t.all_ones[next_free] = t.all_ones[node] && bit == 1;
                node = next_free;
                next_free += 1;
            } else {
                node = t.children[node][bit] as usize;
            }
        }
        sym += 1;
    }
    t
}

const TREE: Tree = build_tree();

const fn build_decode() -> [[Step; 16]; 256] {
    let mut table = [[Step {
        next: 0,
        sym: 0,
        flags: 0,
    }; 16]; 256];
    let mut state = 0;
    while state < 256 {
        let mut nibble = 0;
        while nibble < 16 {
            let mut node = state;
            let mut step = Step {
                next: 0,
                sym: 0,
                flags: 0,
            };
            let mut i = 4;
            while i > 0 {
                i -= 1;
                let bit = (nibble >> i) & 1;
                let child = TREE.children[node][bit];
                if child & LEAF != 0 {
                    let sym = child & !LEAF;
                    if sym == EOS {
                        step.flags = FAIL;
                        break;
                    }
                    step.sym = sym as u8;
                    step.flags = EMIT;
                    node = 0;
                } else {
                    node = child as usize;
                }
            }
            step.next = node as u8;
            table[state][nibble] = step;
            nibble += 1;
        }
        state += 1;
    }
    table
}

static DECODE: [[Step; 16]; 256] = build_decode();

const fn build_end() -> [u8; 256] {
    let mut end = [END_OK; 256];
    let mut node = 1;
    while node < 256 {
        end[node] = if !TREE.all_ones[node] {
            END_NOT_ONES
        } else if TREE.depth[node] > 7 {
            END_TOO_LONG
        } else {
            END_OK
        };
        node += 1;
    }
    end
}

static END: [u8; 256] = build_end();

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(s: &[u8]) -> Vec<u8> {
        let mut dst = BytesMut::new();
        encode(s, &mut dst);
        assert_eq!(dst.len(), encoded_len(s));
        dst.to_vec()
    }

    fn dec(s: &[u8]) -> Result<Vec<u8>, DecoderError> {
        let mut dst = BytesMut::new();
        decode(s, &mut dst).map(|()| dst.to_vec())
    }

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// The table is a canonical, complete prefix code: codes of each length
    /// are consecutive in symbol order and the Kraft sum is exactly one. A
    /// typo in any entry breaks one of these.
    #[test]
    fn code_table_is_canonical_and_complete() {
        let mut order: Vec<usize> = (0..CODES.len()).collect();
        order.sort_by_key(|&s| (CODES[s].1, s));
        let mut next = 0u64;
        let mut prev_len = CODES[order[0]].1;
        for &s in &order {
            let (code, len) = CODES[s];
            next <<= len - prev_len;
            prev_len = len;
            assert_eq!(u64::from(code), next, "symbol {s}");
            next += 1;
        }
        assert_eq!(next, 1 << 30, "Kraft sum is not one");
        assert_eq!(CODES[256], (0x3fff_ffff, 30));
        // Every internal node was used (the tree is full).
        for node in 0..256 {
            for bit in 0..2 {
                assert_ne!(TREE.children[node][bit], 0, "node {node}");
            }
        }
    }

    /// RFC 7541 Appendix C.4 and C.6 Huffman strings.
    #[test]
    fn appendix_c_strings() {
        let cases: [(&str, &[u8]); 10] = [
            ("f1e3 c2e5 f23a 6ba0 ab90 f4ff", b"www.example.com"),
            ("a8eb 1064 9cbf", b"no-cache"),
            ("25a8 49e9 5ba9 7d7f", b"custom-key"),
            ("25a8 49e9 5bb8 e8b4 bf", b"custom-value"),
            ("6402", b"302"),
            ("aec3 771a 4b", b"private"),
            (
                "d07a be94 1054 d444 a820 0595 040b 8166 e082 a62d 1bff",
                b"Mon, 21 Oct 2013 20:13:21 GMT",
            ),
            (
                "9d29 ad17 1863 c78f 0b97 c8e9 ae82 ae43 d3",
                b"https://www.example.com",
            ),
            ("640e ff", b"307"),
            (
                "94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 \
                 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07",
                b"foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1",
            ),
        ];
        for (encoded, plain) in cases {
            assert_eq!(enc(plain), hex(encoded), "{:?}", plain);
            assert_eq!(dec(&hex(encoded)).unwrap(), plain);
        }
    }

    #[test]
    fn every_octet_round_trips() {
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(dec(&enc(&all)).unwrap(), all);
        for b in 0..=255u8 {
            assert_eq!(dec(&enc(&[b, b, b])).unwrap(), [b, b, b]);
        }
        assert_eq!(dec(&[]).unwrap(), b"");
        // Longer strings, of every length modulo 8.
        for len in (63usize..=71).chain([1000]) {
            let v: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
            assert_eq!(dec(&enc(&v)).unwrap(), v, "{len} octets");
        }
    }

    #[test]
    fn padding_longer_than_seven_bits_is_rejected() {
        // "0" is 00000; then 11 bits of ones: a padding of 11 bits.
        assert_eq!(dec(&[0x07, 0xff]), Err(DecoderError::HuffmanPaddingTooLong));
        // A whole octet of ones and nothing else.
        assert_eq!(dec(&[0xff]), Err(DecoderError::HuffmanPaddingTooLong));
        // Up to seven bits are fine: 'a' (5 bits) + 3 bits of padding...
        assert_eq!(dec(&[0x1f]).unwrap(), b"a");
        // ...and "abb" (5 + 6 + 6 = 17 bits) + 7 bits of padding.
        assert_eq!(enc(b"abb"), [0x1c, 0x71, 0xff]);
        assert_eq!(dec(&[0x1c, 0x71, 0xff]).unwrap(), b"abb");
    }

    #[test]
    fn padding_not_ones_is_rejected() {
        // 'a' = 00011, padded with 000 instead of 111.
        assert_eq!(dec(&[0x18]), Err(DecoderError::HuffmanPaddingNotOnes));
        // 'a' then 110: padding with a zero bit.
        assert_eq!(dec(&[0x1e]), Err(DecoderError::HuffmanPaddingNotOnes));
    }

    #[test]
    fn eos_in_string_is_rejected() {
        // EOS is 30 ones; padded with two more ones.
        assert_eq!(
            dec(&[0xff, 0xff, 0xff, 0xff]),
            Err(DecoderError::HuffmanEos)
        );
        // A symbol, then EOS.
        assert_eq!(
            dec(&[0x1f, 0xff, 0xff, 0xff, 0xff]),
            Err(DecoderError::HuffmanEos)
        );
    }
}
