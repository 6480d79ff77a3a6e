//! Entity tags of the job resource, for `ETag` and `If-None-Match`.

/// A strong ETag over `bytes`: their 128-bit XXH3 in hex, quoted. An ETag only has to
/// tell versions of one resource apart, not resist forgery, and it is computed on every
/// response, so a fast non-cryptographic hash fits.
pub fn etag_of(bytes: &[u8]) -> String {
    format!("\"{:032x}\"", xxhash_rust::xxh3::xxh3_128(bytes))
}

/// True when an `If-None-Match` header value matches `etag` (a list, `*`, or weak forms
/// compared weakly as RFC 9110 asks for `If-None-Match`).
pub fn if_none_match(header: &str, etag: &str) -> bool {
    let bare = |t: &str| t.trim().trim_start_matches("W/").to_owned();
    header.split(',').any(|candidate| {
        let candidate = candidate.trim();
        candidate == "*" || bare(candidate) == bare(etag)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::Timestamp;
    use crate::job::testing::new_job;
    use crate::resource::JobResource;

    #[test]
    fn the_etag_is_strong_stable_and_changes_with_the_resource() {
        let mut j = new_job(3);
        let a = etag_of(&JobResource::from_job(&j).to_json());
        assert_eq!(a, etag_of(&JobResource::from_job(&j).to_json()));
        assert!(a.starts_with('"') && a.ends_with('"') && a.len() == 34);
        j.start(Timestamp::from_ms(1_700_000_000_500)).unwrap();
        assert_ne!(a, etag_of(&JobResource::from_job(&j).to_json()));
    }

    #[test]
    fn if_none_match_accepts_lists_star_and_weak_forms() {
        let tag = "\"abc\"";
        assert!(if_none_match("\"abc\"", tag));
        assert!(if_none_match("\"x\", \"abc\"", tag));
        assert!(if_none_match("*", tag));
        assert!(if_none_match("W/\"abc\"", tag));
        assert!(!if_none_match("\"abd\"", tag));
    }
}
