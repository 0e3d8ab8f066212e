//! The zip container of a TorchScript archive: CRC-32, raw DEFLATE (torch writes its `code/`
//! records deflated) and the subset of zip torch writes (stored and deflated records, zip64).

pub fn crc32(data: &[u8]) -> u32 {
    let mut table = [0u32; 256];
    for i in 0..256u32 {
        let mut c = i;
        for _ in 0..8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
        }
        table[i as usize] = c;
    }
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc = table[((crc ^ b as u32) & 0xFF) as usize] ^ (crc >> 8);
    }
    crc ^ 0xFFFF_FFFF
}

/// RFC 1951 raw DEFLATE decoder (puff-style canonical Huffman decoding). torch writes its
/// `code/` records DEFLATED (miniz), so reading the TorchScript source needs it.
pub mod inflate {
    struct Bits<'a> {
        d: &'a [u8],
        pos: usize,
        buf: u32,
        cnt: u32,
    }

    impl<'a> Bits<'a> {
        fn need(&mut self, n: u32) -> Result<u32, String> {
            while self.cnt < n {
                let b = *self.d.get(self.pos).ok_or("deflate stream truncated")?;
                self.pos += 1;
                self.buf |= (b as u32) << self.cnt;
                self.cnt += 8;
            }
            let v = if n == 0 {
                0
            } else {
                self.buf & ((1u32 << n) - 1)
            };
            self.buf = if n >= 32 { 0 } else { self.buf >> n };
            self.cnt -= n;
            Ok(v)
        }
    }

    struct Huff {
        count: [u16; 16],
        sym: Vec<u16>,
    }

    fn build(lengths: &[u8]) -> Result<Huff, String> {
        let mut count = [0u16; 16];
        for &l in lengths {
            count[l as usize] += 1;
        }
        let mut left: i32 = 1;
        for &c in &count[1..16] {
            left <<= 1;
            left -= c as i32;
            if left < 0 {
                return Err("over-subscribed Huffman code".into());
            }
        }
        let mut offs = [0u16; 16];
        for len in 1..15 {
            offs[len + 1] = offs[len] + count[len];
        }
        let mut sym = vec![0u16; lengths.len()];
        for (s, &l) in lengths.iter().enumerate() {
            if l != 0 {
                sym[offs[l as usize] as usize] = s as u16;
                offs[l as usize] += 1;
            }
        }
        count[0] = 0;
        Ok(Huff { count, sym })
    }

    fn decode(b: &mut Bits, h: &Huff) -> Result<u16, String> {
        let (mut code, mut first, mut index) = (0i32, 0i32, 0i32);
        for len in 1..16 {
            code |= b.need(1)? as i32;
            let count = h.count[len] as i32;
            if code - count < first {
                return h
                    .sym
                    .get((index + (code - first)) as usize)
                    .copied()
                    .ok_or_else(|| "bad Huffman code".to_string());
            }
            index += count;
            first += count;
            first <<= 1;
            code <<= 1;
        }
        Err("invalid Huffman code".into())
    }

    const LBASE: [u16; 29] = [
        3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115,
        131, 163, 195, 227, 258,
    ];
    const LEXT: [u8; 29] = [
        0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
    ];
    const DBASE: [u16; 30] = [
        1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537,
        2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577,
    ];
    const DEXT: [u8; 30] = [
        0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12,
        13, 13,
    ];

    fn codes(
        b: &mut Bits,
        out: &mut Vec<u8>,
        lc: &Huff,
        dc: &Huff,
        limit: usize,
    ) -> Result<(), String> {
        loop {
            let s = decode(b, lc)?;
            if s < 256 {
                out.push(s as u8);
            } else if s == 256 {
                return Ok(());
            } else {
                let i = (s - 257) as usize;
                if i >= 29 {
                    return Err("bad length symbol".into());
                }
                let len = LBASE[i] as usize + b.need(LEXT[i] as u32)? as usize;
                let ds = decode(b, dc)? as usize;
                if ds >= 30 {
                    return Err("bad distance symbol".into());
                }
                let dist = DBASE[ds] as usize + b.need(DEXT[ds] as u32)? as usize;
                if dist > out.len() {
                    return Err("distance too far back".into());
                }
                let start = out.len() - dist;
                for k in 0..len {
                    let v = out[start + k];
                    out.push(v);
                }
            }
            if out.len() > limit {
                return Err("inflated data larger than declared".into());
            }
        }
    }

    /// Inflate a raw deflate stream; `limit` is the declared uncompressed size.
    pub fn inflate(data: &[u8], limit: usize) -> Result<Vec<u8>, String> {
        let mut b = Bits {
            d: data,
            pos: 0,
            buf: 0,
            cnt: 0,
        };
        let mut out = Vec::with_capacity(limit);
        loop {
            let last = b.need(1)?;
            match b.need(2)? {
                0 => {
                    b.buf = 0;
                    b.cnt = 0;
                    let p = b.pos;
                    if p + 4 > data.len() {
                        return Err("stored block truncated".into());
                    }
                    let len = u16::from_le_bytes([data[p], data[p + 1]]) as usize;
                    let nlen = u16::from_le_bytes([data[p + 2], data[p + 3]]) as usize;
                    if len != (!nlen & 0xFFFF) {
                        return Err("stored block length check failed".into());
                    }
                    let s = p + 4;
                    if s + len > data.len() {
                        return Err("stored block truncated".into());
                    }
                    out.extend_from_slice(&data[s..s + len]);
                    b.pos = s + len;
                }
                1 => {
                    let mut l = [0u8; 288];
                    for (i, v) in l.iter_mut().enumerate() {
                        *v = match i {
                            0..=143 => 8,
                            144..=255 => 9,
                            256..=279 => 7,
                            _ => 8,
                        };
                    }
                    let lc = build(&l)?;
                    let dc = build(&[5u8; 30])?;
                    codes(&mut b, &mut out, &lc, &dc, limit)?;
                }
                2 => {
                    let nlen = b.need(5)? as usize + 257;
                    let ndist = b.need(5)? as usize + 1;
                    let ncode = b.need(4)? as usize + 4;
                    if nlen > 286 || ndist > 30 {
                        return Err("bad dynamic block counts".into());
                    }
                    const ORDER: [usize; 19] = [
                        16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15,
                    ];
                    let mut cl = [0u8; 19];
                    for &o in ORDER.iter().take(ncode) {
                        cl[o] = b.need(3)? as u8;
                    }
                    let clc = build(&cl)?;
                    let mut lens = vec![0u8; nlen + ndist];
                    let mut i = 0;
                    while i < nlen + ndist {
                        let s = decode(&mut b, &clc)?;
                        if s < 16 {
                            lens[i] = s as u8;
                            i += 1;
                        } else {
                            let (v, rep) = match s {
                                16 => {
                                    if i == 0 {
                                        return Err("repeat with no previous length".into());
                                    }
                                    (lens[i - 1], 3 + b.need(2)? as usize)
                                }
                                17 => (0, 3 + b.need(3)? as usize),
                                _ => (0, 11 + b.need(7)? as usize),
                            };
                            if i + rep > nlen + ndist {
                                return Err("too many code lengths".into());
                            }
                            for _ in 0..rep {
                                lens[i] = v;
                                i += 1;
                            }
                        }
                    }
                    let lc = build(&lens[..nlen])?;
                    let dc = build(&lens[nlen..])?;
                    codes(&mut b, &mut out, &lc, &dc, limit)?;
                }
                _ => return Err("invalid deflate block type 3".into()),
            }
            if last == 1 {
                return Ok(out);
            }
        }
    }
}

use super::{malformed, R};

#[derive(Debug, Clone)]
pub struct Entry {
    pub name: String,
    /// 0 = STORED, 8 = DEFLATED
    pub method: u16,
    pub crc: u32,
    pub compressed_size: u64,
    pub size: u64,
    /// where the record's bytes start (after the local header and its own extra field)
    pub data_offset: u64,
}

pub struct Zip {
    pub bytes: Vec<u8>,
    pub entries: Vec<Entry>,
}

fn u16_at(b: &[u8], o: usize) -> R<u16> {
    match b.get(o..o + 2) {
        Some(s) => Ok(u16::from_le_bytes([s[0], s[1]])),
        None => malformed("zip structure runs past the end of the file"),
    }
}
fn u32_at(b: &[u8], o: usize) -> R<u32> {
    match b.get(o..o + 4) {
        Some(s) => Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]])),
        None => malformed("zip structure runs past the end of the file"),
    }
}
fn u64_at(b: &[u8], o: usize) -> R<u64> {
    match b.get(o..o + 8) {
        Some(s) => Ok(u64::from_le_bytes(s.try_into().unwrap())),
        None => malformed("zip structure runs past the end of the file"),
    }
}

impl Zip {
    pub fn parse(bytes: Vec<u8>) -> R<Zip> {
        let b = &bytes;
        if b.len() < 22 {
            return malformed("file too short for a zip archive");
        }
        // end of central directory record: the last PK\x05\x06 within 64 KiB + 22 of the end
        let lo = b.len().saturating_sub(22 + 65535);
        let mut eocd = None;
        let mut i = b.len() - 22;
        loop {
            if u32_at(b, i)? == 0x0605_4B50 {
                eocd = Some(i);
                break;
            }
            if i == lo {
                break;
            }
            i -= 1;
        }
        let eocd = match eocd {
            Some(e) => e,
            None => return malformed("no zip end-of-central-directory record (not a zip file)"),
        };
        let mut n = u16_at(b, eocd + 10)? as u64;
        let mut cd_size = u32_at(b, eocd + 12)? as u64;
        let mut cd_off = u32_at(b, eocd + 16)? as u64;
        if n == 0xFFFF || cd_size == 0xFFFF_FFFF || cd_off == 0xFFFF_FFFF {
            // zip64: locator just before the EOCD
            if eocd < 20 || u32_at(b, eocd - 20)? != 0x0706_4B50 {
                return malformed("zip64 sizes without a zip64 locator");
            }
            let z = u64_at(b, eocd - 20 + 8)? as usize;
            if u32_at(b, z)? != 0x0606_4B50 {
                return malformed("zip64 end record missing");
            }
            n = u64_at(b, z + 32)?;
            cd_size = u64_at(b, z + 40)?;
            cd_off = u64_at(b, z + 48)?;
        }
        if cd_off.saturating_add(cd_size) > b.len() as u64 {
            return malformed("central directory outside the file");
        }
        let mut entries = Vec::with_capacity(n as usize);
        let mut o = cd_off as usize;
        for _ in 0..n {
            if u32_at(b, o)? != 0x0201_4B50 {
                return malformed(format!("bad central directory entry at byte {o}"));
            }
            let flags = u16_at(b, o + 8)?;
            let method = u16_at(b, o + 10)?;
            let crc = u32_at(b, o + 16)?;
            let mut csize = u32_at(b, o + 20)? as u64;
            let mut usize_ = u32_at(b, o + 24)? as u64;
            let nl = u16_at(b, o + 28)? as usize;
            let el = u16_at(b, o + 30)? as usize;
            let cl = u16_at(b, o + 32)? as usize;
            let mut hoff = u32_at(b, o + 42)? as u64;
            let name = match b.get(o + 46..o + 46 + nl) {
                Some(s) => String::from_utf8_lossy(s).into_owned(),
                None => return malformed("entry name outside the file"),
            };
            // zip64 extended information in the central extra field
            let mut e = o + 46 + nl;
            let eend = e + el;
            while e + 4 <= eend {
                let id = u16_at(b, e)?;
                let sz = u16_at(b, e + 2)? as usize;
                if id == 0x0001 {
                    let mut p = e + 4;
                    if usize_ == 0xFFFF_FFFF {
                        usize_ = u64_at(b, p)?;
                        p += 8;
                    }
                    if csize == 0xFFFF_FFFF {
                        csize = u64_at(b, p)?;
                        p += 8;
                    }
                    if hoff == 0xFFFF_FFFF {
                        hoff = u64_at(b, p)?;
                    }
                }
                e += 4 + sz;
            }
            if flags & 1 != 0 {
                return malformed(format!("entry {name} is encrypted"));
            }
            let h = hoff as usize;
            if u32_at(b, h)? != 0x0403_4B50 {
                return malformed(format!("bad local header for {name}"));
            }
            // the local extra field differs from the central one (torch pads it to align data)
            let lnl = u16_at(b, h + 26)? as usize;
            let lel = u16_at(b, h + 28)? as usize;
            let data_offset = (h + 30 + lnl + lel) as u64;
            if data_offset + csize > b.len() as u64 {
                return malformed(format!("entry {name} runs past the end of the file"));
            }
            entries.push(Entry {
                name,
                method,
                crc,
                compressed_size: csize,
                size: usize_,
                data_offset,
            });
            o += 46 + nl + el + cl;
        }
        Ok(Zip { bytes, entries })
    }

    pub fn entry(&self, name: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.name == name)
    }

    /// The bytes of a record (borrowed when STORED, inflated when DEFLATED); CRC-checked.
    pub fn read(&self, name: &str) -> R<std::borrow::Cow<'_, [u8]>> {
        let e = match self.entry(name) {
            Some(e) => e,
            None => return malformed(format!("record {name} missing")),
        };
        let raw = &self.bytes[e.data_offset as usize..(e.data_offset + e.compressed_size) as usize];
        let data: std::borrow::Cow<[u8]> = match e.method {
            0 => {
                if e.size != e.compressed_size {
                    return malformed(format!("stored record {name} has two sizes"));
                }
                std::borrow::Cow::Borrowed(raw)
            }
            8 => match inflate::inflate(raw, e.size as usize) {
                Ok(v) => std::borrow::Cow::Owned(v),
                Err(m) => return malformed(format!("record {name}: {m}")),
            },
            m => return malformed(format!("record {name} uses zip compression method {m} (only STORED and DEFLATE occur in torch archives)")),
        };
        if data.len() as u64 != e.size {
            return malformed(format!(
                "record {name}: {} bytes, central directory says {}",
                data.len(),
                e.size
            ));
        }
        if crc32(&data) != e.crc {
            return malformed(format!("record {name}: CRC mismatch (corrupt file)"));
        }
        Ok(data)
    }
}
