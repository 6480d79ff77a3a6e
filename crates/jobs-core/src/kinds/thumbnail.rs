//! `thumbnail`: an image (PNG, JPEG or WebP, base64) resized to fit a box. The flagship
//! kind: real CPU work whose result a user can see.

use std::io::Cursor;

use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::codecs::webp::WebPEncoder;
use image::imageops::FilterType;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::kind::{File, InvalidInput, JobKind, Output, RunContext, RunError, Running};

/// Input: `{"image": base64 of a PNG, JPEG or WebP file, "width": 1..=2048, "height":
/// 1..=2048, "format"?: "png" | "jpeg" | "webp"}`.
///
/// The image is scaled to the largest size that fits `width` x `height` keeping its
/// aspect ratio (each side rounded to the nearest pixel, at least 1). It is **never
/// enlarged**: an image that already fits keeps its size and is only re-encoded, since
/// upscaling adds bytes and no detail. The output format defaults to JPEG for JPEG input
/// and PNG otherwise (PNG keeps WebP's transparency and losslessness; WebP output is
/// lossless, the only WebP encoder the `image` crate has).
///
/// Intake checks the magic bytes and decodes the header (format, dimensions up to
/// 8192 x 8192, and pixels that fit [`DECODE_BUDGET`] once decoded) but not the pixels,
/// which would put real CPU work on the request path; a file whose body is corrupt behind
/// a good header fails at run time, permanently.
///
/// Memory is bounded at both ends. Reading the header may inflate metadata (a PNG's
/// colour profile is compressed, and a few hundred KiB can inflate to gigabytes), so it
/// gets [`HEADER_BUDGET`] (the `png` decoder stops inflating a profile there and goes on
/// without it); decoding gets [`DECODE_BUDGET`], so that one job stays well
/// under 128 MiB (the memory a hosted Spin instance has): the decoded source, the resized
/// copy (at most 2048 x 2048), a colour conversion for the encoder and the file.
pub struct Thumbnail;

/// The largest source image accepted, per side.
pub const MAX_SOURCE_SIDE: u32 = 8192;
/// Most bytes the header check may allocate (metadata such as a colour profile).
pub const HEADER_BUDGET: u64 = 4 << 20;
/// Most bytes the decoded source may take: 4096 x 4096 RGB, or about 3500 x 3500 RGBA.
pub const DECODE_BUDGET: u64 = 48 << 20;
/// Most bytes a filtered resize may use for its intermediate image (see [`shrink`]).
pub const RESAMPLE_BUDGET: u64 = 16 << 20;
/// The largest box, per side.
pub const MAX_BOX_SIDE: u64 = 2048;
/// JPEG output quality: visually clean at thumbnail sizes, about a third of quality 100.
const JPEG_QUALITY: u8 = 85;

/// The image formats read and written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Png,
    Jpeg,
    WebP,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Png => "image/png",
            Format::Jpeg => "image/jpeg",
            Format::WebP => "image/webp",
        }
    }

    fn image_format(self) -> ImageFormat {
        match self {
            Format::Png => ImageFormat::Png,
            Format::Jpeg => ImageFormat::Jpeg,
            Format::WebP => ImageFormat::WebP,
        }
    }

    /// Recognises a file by its first bytes.
    pub fn sniff(bytes: &[u8]) -> Option<Format> {
        if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(Format::Png)
        } else if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
            Some(Format::Jpeg)
        } else if bytes.len() >= 12 && bytes.starts_with(b"RIFF") && &bytes[8..12] == b"WEBP" {
            Some(Format::WebP)
        } else {
            None
        }
    }
}

/// The input of `thumbnail`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ThumbnailInput {
    /// Base64 of a PNG, JPEG or WebP file, at most 8192 pixels a side.
    #[schemars(
        regex(pattern = super::BASE64_PATTERN),
        extend("contentEncoding" = "base64", "contentMediaType" = "image/*")
    )]
    pub image: String,
    /// The width of the box to fit, in pixels.
    #[schemars(range(min = 1, max = MAX_BOX_SIDE))]
    pub width: u64,
    /// The height of the box to fit, in pixels.
    #[schemars(range(min = 1, max = MAX_BOX_SIDE))]
    pub height: u64,
    /// The output format; by default JPEG for JPEG, PNG otherwise.
    pub format: Option<Format>,
}

/// What [`inspect`] learnt from an input: the file, and its header.
struct Params {
    image: Vec<u8>,
    source: Format,
    source_size: (u32, u32),
    target: Format,
    box_size: (u32, u32),
}

/// The limits of the decode at run time.
fn limits() -> Limits {
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SOURCE_SIDE);
    limits.max_image_height = Some(MAX_SOURCE_SIDE);
    limits.max_alloc = Some(DECODE_BUDGET);
    limits
}

/// The limits of the header check: memory only, so that an oversized image gets the
/// clearer messages of [`parse`] rather than the decoder's "size exceeds limit".
fn header_limits() -> Limits {
    let mut limits = Limits::no_limits();
    limits.max_alloc = Some(HEADER_BUDGET);
    limits
}

fn reader(bytes: &[u8], format: Format, limits: Limits) -> ImageReader<Cursor<&[u8]>> {
    let mut reader = ImageReader::new(Cursor::new(bytes));
    reader.set_format(format.image_format());
    reader.limits(limits);
    reader
}

/// Reads the file's header within [`HEADER_BUDGET`]: everything but the pixels.
fn inspect(input: &ThumbnailInput) -> Result<Params, InvalidInput> {
    let width = super::in_range("width", input.width, 1..=MAX_BOX_SIDE)?;
    let height = super::in_range("height", input.height, 1..=MAX_BOX_SIDE)?;
    let image = super::decode_base64(&input.image)
        .map_err(|e| InvalidInput::field("image", format!("is not valid base64 ({e})")))?;
    let source = Format::sniff(&image).ok_or_else(|| {
        InvalidInput::field(
            "image",
            "is not a PNG, JPEG or WebP file (by its first bytes)",
        )
    })?;
    let header = reader(&image, source, header_limits())
        .into_decoder()
        .map_err(|e| match e {
            image::ImageError::Limits(_) => InvalidInput::field(
                "image",
                format!(
                    "has metadata (such as a colour profile) over {} MiB once inflated",
                    HEADER_BUDGET >> 20
                ),
            ),
            e => InvalidInput::field("image", format!("has an unreadable header ({e})")),
        })?;
    let (w, h) = header.dimensions();
    let decoded = header.total_bytes();
    let colour = header.color_type();
    drop(header);
    if w == 0 || h == 0 {
        return Err(InvalidInput::field("image", "has no pixels"));
    }
    if w > MAX_SOURCE_SIDE || h > MAX_SOURCE_SIDE {
        return Err(InvalidInput::field(
            "image",
            format!("is {w}x{h}; at most {MAX_SOURCE_SIDE}x{MAX_SOURCE_SIDE} is accepted"),
        ));
    }
    if decoded > DECODE_BUDGET {
        return Err(InvalidInput::field(
            "image",
            format!(
                "is {w}x{h} {:?}, {} MiB once decoded; at most {} MiB is accepted \
                 (4096x4096 RGB, or about 3500x3500 RGBA)",
                colour,
                decoded.div_ceil(1 << 20),
                DECODE_BUDGET >> 20
            ),
        ));
    }
    let target = input.format.unwrap_or(match source {
        Format::Jpeg => Format::Jpeg,
        Format::Png | Format::WebP => Format::Png,
    });
    Ok(Params {
        image,
        source,
        source_size: (w, h),
        target,
        // Both are at most 2048, checked above.
        box_size: (width as u32, height as u32),
    })
}

/// The size of an image `(w, h)` scaled to fit `(bw, bh)` keeping its aspect ratio,
/// never enlarged, each side rounded to nearest and at least 1.
pub fn fit((w, h): (u32, u32), (bw, bh): (u32, u32)) -> (u32, u32) {
    if w <= bw && h <= bh {
        return (w, h);
    }
    let (w, h, bw, bh) = (u64::from(w), u64::from(h), u64::from(bw), u64::from(bh));
    // Width binds when w/h >= bw/bh; compare in integers.
    let (nw, nh) = if w * bh >= h * bw {
        (bw, (2 * h * bw + w) / (2 * w))
    } else {
        ((2 * w * bh + h) / (2 * h), bh)
    };
    // Both are at most the box side, itself a u32.
    (nw.max(1) as u32, nh.max(1) as u32)
}

/// `image` at `(nw, nh)`; the source is dropped as soon as the copy exists, so it and the
/// encoder's buffers are never alive together.
///
/// A filtered resize (triangle) is the better picture, but `image` makes it through an
/// intermediate of 16 bytes per pixel (source width x target height); past
/// [`RESAMPLE_BUDGET`], and for reductions of half or more, where area averaging looks
/// as good and touches each source pixel once, the integer area average is used instead.
fn shrink(image: DynamicImage, (nw, nh): (u32, u32)) -> DynamicImage {
    let (w, h) = (image.width(), image.height());
    if (nw, nh) == (w, h) {
        return image;
    }
    let intermediate = u64::from(w) * u64::from(nh) * 16;
    if u64::from(nw) * 2 <= u64::from(w) || intermediate > RESAMPLE_BUDGET {
        image.thumbnail_exact(nw, nh)
    } else {
        image.resize_exact(nw, nh, FilterType::Triangle)
    }
}

fn encode(image: &DynamicImage, format: Format) -> Result<Vec<u8>, image::ImageError> {
    let mut bytes = Vec::new();
    // `write_with_encoder` converts colour types the encoder cannot take (alpha for
    // JPEG, 16-bit for WebP).
    match format {
        Format::Png => image.write_with_encoder(PngEncoder::new(&mut bytes))?,
        Format::Jpeg => {
            image.write_with_encoder(JpegEncoder::new_with_quality(&mut bytes, JPEG_QUALITY))?
        }
        Format::WebP => image.write_with_encoder(WebPEncoder::new_lossless(&mut bytes))?,
    }
    Ok(bytes)
}

impl JobKind for Thumbnail {
    const NAME: &'static str = "thumbnail";
    type Input = ThumbnailInput;
    type Result = File;
    const RESULT_MEDIA_TYPES: &'static [&'static str] = &["image/png", "image/jpeg", "image/webp"];

    fn check(&self, input: &ThumbnailInput) -> Result<(), InvalidInput> {
        inspect(input).map(drop)
    }

    fn run<'a>(&'a self, input: ThumbnailInput, ctx: &'a mut dyn RunContext) -> Running<'a> {
        Box::pin(async move {
            let p = inspect(&input).map_err(|e| RunError::Permanent(e.to_string()))?;
            drop(input);
            let image = reader(&p.image, p.source, limits())
                .decode()
                .map_err(|e| RunError::Permanent(format!("the image could not be decoded: {e}")))?;
            ctx.progress(30, Some("decoded"))?;

            let image = shrink(image, fit(p.source_size, p.box_size));
            ctx.progress(60, Some("resized"))?;

            let bytes = encode(&image, p.target).map_err(|e| {
                RunError::Permanent(format!("the thumbnail could not be encoded: {e}"))
            })?;
            // Not needed while the result is stored.
            drop(image);
            ctx.progress(90, Some("encoded"))?;

            Ok(Output {
                content_type: p.target.content_type().to_owned(),
                bytes,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kind::Kind;
    use crate::kind::testing::{TestContext, finish};
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use image::{GrayImage, Rgb, RgbImage, Rgba, RgbaImage};
    use serde_json::Value;
    use serde_json::json;

    fn gradient(w: u32, h: u32) -> DynamicImage {
        DynamicImage::ImageRgb8(RgbImage::from_fn(w, h, |x, y| {
            Rgb([(x * 255 / w) as u8, (y * 255 / h) as u8, 128])
        }))
    }

    fn file(image: &DynamicImage, format: Format) -> Vec<u8> {
        encode(image, format).unwrap()
    }

    fn input(bytes: &[u8], w: u32, h: u32) -> Value {
        json!({"image": STANDARD.encode(bytes), "width": w, "height": h})
    }

    fn run_ok(input: &Value) -> (Output, DynamicImage, TestContext) {
        assert_eq!(Thumbnail.validate(input), Ok(()));
        let mut ctx = TestContext::new();
        let out = finish(Kind::run(&Thumbnail, input, &mut ctx)).unwrap();
        let decoded = image::load_from_memory(&out.bytes).unwrap();
        (out, decoded, ctx)
    }

    #[test]
    fn a_png_is_shrunk_to_fit_the_box_keeping_its_ratio() {
        let png = file(&gradient(300, 200), Format::Png);
        let (out, thumb, ctx) = run_ok(&input(&png, 100, 100));
        assert_eq!(out.content_type, "image/png");
        assert_eq!(Format::sniff(&out.bytes), Some(Format::Png));
        assert_eq!((thumb.width(), thumb.height()), (100, 67));
        assert_eq!(ctx.percents(), [30, 60, 90]);
        assert_eq!(
            ctx.reports
                .iter()
                .map(|r| r.1.as_deref().unwrap())
                .collect::<Vec<_>>(),
            ["decoded", "resized", "encoded"]
        );
    }

    #[test]
    fn a_tall_image_is_bound_by_the_height() {
        let png = file(&gradient(200, 300), Format::Png);
        let (_, thumb, _) = run_ok(&input(&png, 100, 100));
        assert_eq!((thumb.width(), thumb.height()), (67, 100));
    }

    #[test]
    fn a_jpeg_stays_a_jpeg_and_a_webp_becomes_a_png_by_default() {
        let img = gradient(300, 200);
        let (out, thumb, _) = run_ok(&input(&file(&img, Format::Jpeg), 150, 150));
        assert_eq!(out.content_type, "image/jpeg");
        assert_eq!(Format::sniff(&out.bytes), Some(Format::Jpeg));
        assert_eq!((thumb.width(), thumb.height()), (150, 100));

        let (out, thumb, _) = run_ok(&input(&file(&img, Format::WebP), 100, 100));
        assert_eq!(out.content_type, "image/png");
        assert_eq!((thumb.width(), thumb.height()), (100, 67));
    }

    #[test]
    fn the_output_format_can_be_chosen() {
        let png = file(&gradient(300, 200), Format::Png);
        for (name, format) in [
            ("png", Format::Png),
            ("jpeg", Format::Jpeg),
            ("webp", Format::WebP),
        ] {
            let mut i = input(&png, 60, 60);
            i["format"] = json!(name);
            let (out, thumb, _) = run_ok(&i);
            assert_eq!(out.content_type, format.content_type());
            assert_eq!(Format::sniff(&out.bytes), Some(format));
            assert_eq!((thumb.width(), thumb.height()), (60, 40));
        }
    }

    #[test]
    fn transparency_survives_png_and_is_dropped_for_jpeg() {
        let rgba = DynamicImage::ImageRgba8(RgbaImage::from_pixel(40, 40, Rgba([255, 0, 0, 100])));
        let png = file(&rgba, Format::Png);
        let (_, thumb, _) = run_ok(&input(&png, 20, 20));
        assert!(thumb.color().has_alpha());
        let mut i = input(&png, 20, 20);
        i["format"] = json!("jpeg");
        let (_, thumb, _) = run_ok(&i);
        assert!(!thumb.color().has_alpha());
    }

    #[test]
    fn an_image_that_already_fits_is_not_enlarged() {
        let png = file(&gradient(30, 20), Format::Png);
        let (_, thumb, _) = run_ok(&input(&png, 100, 100));
        assert_eq!((thumb.width(), thumb.height()), (30, 20));
    }

    #[test]
    fn fit_rounds_to_nearest_and_keeps_at_least_one_pixel() {
        assert_eq!(fit((300, 200), (100, 100)), (100, 67));
        assert_eq!(fit((200, 300), (100, 100)), (67, 100));
        assert_eq!(fit((1000, 1), (10, 10)), (10, 1));
        assert_eq!(fit((8192, 1), (1, 1)), (1, 1));
        assert_eq!(fit((8192, 8192), (2048, 1)), (1, 1));
        assert_eq!(fit((100, 100), (100, 100)), (100, 100));
        assert_eq!(fit((101, 100), (100, 100)), (100, 99));
    }

    #[test]
    fn cancelling_stops_the_thumbnail() {
        let png = file(&gradient(300, 200), Format::Png);
        let mut ctx = TestContext::new().cancelled_after(1);
        let err = finish(Kind::run(&Thumbnail, &input(&png, 10, 10), &mut ctx)).unwrap_err();
        assert_eq!(err, RunError::Cancelled);
    }

    #[test]
    fn thumbnail_refuses_bad_input_classes() {
        let png = file(&gradient(30, 20), Format::Png);
        let gif = b"GIF89a\x01\x00\x01\x00\x00\x00\x00;".to_vec();
        let truncated_header = png[..20].to_vec();
        let wide = file(
            &DynamicImage::ImageLuma8(GrayImage::new(8193, 1)),
            Format::Png,
        );
        let cases: Vec<(Value, &str, &str)> = vec![
            (json!("x"), "", "must be a JSON object"),
            (json!({"width": 10, "height": 10}), "image", "is required"),
            (
                json!({"image": "%%%", "width": 10, "height": 10}),
                "image",
                "base64",
            ),
            (
                input(b"hello world, not an image", 10, 10),
                "image",
                "is not a PNG",
            ),
            (input(&gif, 10, 10), "image", "is not a PNG"),
            (
                input(&truncated_header, 10, 10),
                "image",
                "unreadable header",
            ),
            (input(&wide, 10, 10), "image", "8193x1"),
            (input(&png, 0, 10), "width", "from 1 to 2048"),
            (input(&png, 10, 2049), "height", "from 1 to 2048"),
            (
                json!({"image": STANDARD.encode(&png), "width": 10}),
                "height",
                "is required",
            ),
            (
                json!({"image": STANDARD.encode(&png), "width": 10, "height": 10, "format": "gif"}),
                "format",
                "must be",
            ),
            (
                json!({"image": STANDARD.encode(&png), "width": 10, "height": 10, "quality": 9}),
                "quality",
                "unknown field",
            ),
        ];
        for (i, field, words) in cases {
            let err = Thumbnail.validate(&i).unwrap_err();
            assert_eq!(err.field.as_deref().unwrap_or(""), field, "{err}");
            assert!(err.reason.contains(words), "{err}");
        }
    }

    #[test]
    fn a_body_corrupt_behind_a_good_header_fails_permanently_at_run_time() {
        let png = file(&gradient(300, 200), Format::Png);
        let broken = &png[..png.len() / 2];
        let i = input(broken, 10, 10);
        assert_eq!(Thumbnail.validate(&i), Ok(()));
        let err = finish(Kind::run(&Thumbnail, &i, &mut TestContext::new())).unwrap_err();
        assert!(matches!(err, RunError::Permanent(m) if m.contains("decoded")));
    }

    #[test]
    fn an_image_over_the_decode_budget_is_refused_at_intake_naming_its_size() {
        // 8192 x 8192 RGBA at 16 bits: 512 MiB once decoded, from a file of a few bytes.
        let png = testkit::hostile::crafted_png(8192, 8192, 16, 6, &[]);

        let err = Thumbnail.validate(&input(&png, 100, 100)).unwrap_err();

        assert_eq!(err.field.as_deref(), Some("image"), "{err}");
        assert!(err.reason.contains("512 MiB once decoded"), "{err}");
    }

    #[test]
    fn an_image_at_the_decode_budget_is_accepted() {
        let png = testkit::hostile::crafted_png(4096, 4096, 8, 2, &[]);
        assert_eq!(Thumbnail.validate(&input(&png, 100, 100)), Ok(()));
    }
}
