//! Hostile files made by hand, for the tests that check inputs are bounded before they
//! are trusted: a PNG whose header claims whatever a test needs, and zlib streams that
//! inflate a thousandfold. Shared by the domain's unit tests and the end-to-end suite.

/// A PNG file made by hand, for hostile inputs: its header says `width` x `height`,
/// `bit_depth` and `colour_type` (PNG's numbers), `extra` chunks follow, then one tiny
/// IDAT. The pixels are not there: only a header check can pass.
pub fn crafted_png(
    width: u32,
    height: u32,
    bit_depth: u8,
    colour_type: u8,
    extra: &[(&[u8; 4], Vec<u8>)],
) -> Vec<u8> {
    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend_from_slice(
            &u32::try_from(data.len())
                .expect("a chunk under 4 GiB")
                .to_be_bytes(),
        );
        let mut crc = crc32fast::Hasher::new();
        crc.update(kind);
        crc.update(data);
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        out.extend_from_slice(&crc.finalize().to_be_bytes());
    }
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[bit_depth, colour_type, 0, 0, 0]);
    chunk(&mut png, b"IHDR", &ihdr);
    for (kind, data) in extra {
        chunk(&mut png, kind, data);
    }
    chunk(&mut png, b"IDAT", &zlib_of_zeros(16));
    chunk(&mut png, b"IEND", &[]);
    png
}

/// `n` zero bytes, zlib-compressed (about a thousandth of `n`), made a MiB at a time.
pub fn zlib_of_zeros(n: usize) -> Vec<u8> {
    use std::io::Write as _;
    let block = vec![0u8; n.min(1 << 20)];
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    let mut left = n;
    while left > 0 {
        let step = left.min(block.len());
        z.write_all(&block[..step]).expect("compress in memory");
        left -= step;
    }
    z.finish().expect("compress in memory")
}
