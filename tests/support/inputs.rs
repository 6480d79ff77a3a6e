//! Submission bodies, one function per job kind. The only place in the suite that knows
//! each kind's input members (docs/kinds.md, and each kind's `Input` type), so a renamed member is one edit here.

use base64::Engine as _;
use serde_json::{Value, json};

/// `{kind, input}`.
pub fn submission(kind: &str, input: Value) -> Value {
    json!({ "kind": kind, "input": input })
}

/// `echo` of `input` (a JSON object): the result is the input, as JSON.
pub fn echo(input: Value) -> Value {
    submission("echo", input)
}

/// `hash` of the UTF-8 bytes of `data` with `algorithm` (`sha256` or `blake3`), once.
pub fn hash(data: &str, algorithm: &str) -> Value {
    submission("hash", json!({ "data": data, "algorithm": algorithm }))
}

/// `sleep` for `ms` milliseconds.
pub fn sleep(ms: u64) -> Value {
    submission("sleep", json!({ "ms": ms }))
}

/// `count` (test only: needs `enable_test_kinds = true`): counts the execution in
/// Redis (see `TestApp::executions`), then waits `ms` milliseconds.
pub fn count(ms: u64) -> Value {
    submission("count", json!({ "ms": ms }))
}

/// `fail` the first `times` attempts, then succeed.
pub fn fail_times(times: u64) -> Value {
    submission("fail", json!({ "fail_times": times }))
}

/// `fail` on every attempt.
pub fn fail_always() -> Value {
    submission("fail", json!({ "always": true }))
}

/// `thumbnail` of `image` (encoded bytes, sent as standard base64) to fit in
/// `width` x `height`.
pub fn thumbnail(image: &[u8], width: u32, height: u32) -> Value {
    let data = base64::engine::general_purpose::STANDARD.encode(image);
    submission(
        "thumbnail",
        json!({ "image": data, "width": width, "height": height }),
    )
}

/// `body` with top-level members added or replaced (`max_attempts`, `delay_ms`, ...).
pub fn with(mut body: Value, members: Value) -> Value {
    let (Value::Object(target), Value::Object(extra)) = (&mut body, members) else {
        panic!("with() merges two JSON objects");
    };
    target.extend(extra);
    body
}

/// A `width` x `height` PNG with a colour gradient, made in memory.
pub fn png(width: u32, height: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(width, height, |x, y| {
        let r = (x * 255 / width.max(1)) as u8;
        let g = (y * 255 / height.max(1)) as u8;
        image::Rgb([r, g, 128])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .expect("encode a PNG in memory");
    out.into_inner()
}

/// A `width` x `height` PNG of one colour (compresses to almost nothing), in
/// `colour`: `Rgb8` or `Rgba16`.
pub fn flat_png(width: u32, height: u32, colour: image::ColorType) -> Vec<u8> {
    let img = match colour {
        image::ColorType::Rgba16 => {
            image::DynamicImage::ImageRgba16(image::ImageBuffer::new(width, height))
        }
        _ => image::DynamicImage::ImageRgb8(image::RgbImage::new(width, height)),
    };
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .expect("encode a PNG in memory");
    out.into_inner()
}

/// A `width` x 8 PNG whose colour profile (iCCP) inflates to `profile_bytes`.
pub fn png_with_inflating_profile(width: u32, profile_bytes: usize) -> Vec<u8> {
    let mut iccp = b"icc\0\0".to_vec();
    iccp.extend(testkit::hostile::zlib_of_zeros(profile_bytes));
    testkit::hostile::crafted_png(width, 8, 8, 2, &[(b"iCCP", iccp)])
}
