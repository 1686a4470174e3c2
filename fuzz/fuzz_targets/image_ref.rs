//! Image references: parsing never panics; normalising is idempotent (the pulled and
//! canonical spellings parse back to themselves); pinning keeps the name; a rule pattern covers
//! an image's pulled spelling exactly when it covers the image as written.
#![no_main]

use libfuzzer_sys::fuzz_target;
use verify_image_signatures::{CoverageSpellings, ImagePattern, ImageRef};

const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // The first line is a rule pattern, the rest the image.
    let (pattern, written) = text.split_once('\n').unwrap_or(("*", text));
    let Ok(image) = ImageRef::parse(written) else {
        return;
    };
    let pulled = image.pulled();
    let again = ImageRef::parse(&pulled).expect("a pulled reference parses");
    assert_eq!(again.pulled(), pulled);
    let coverage =
        ImageRef::parse(&image.coverage_reference()).expect("a coverage spelling parses");
    assert_eq!(coverage.coverage_reference(), image.coverage_reference());
    assert_eq!(again.coverage_repository(), image.coverage_repository());

    let pinned = ImageRef::parse(&image.pinned_to(DIGEST)).expect("a pinned reference parses");
    assert_eq!(pinned.digest(), Some(DIGEST));
    assert_eq!(pinned.coverage_repository(), image.coverage_repository());

    if let Ok(pattern) = ImagePattern::parse(pattern) {
        let as_written = pattern.covers(&CoverageSpellings::of(&image));
        let as_normalised = pattern.covers(&CoverageSpellings::of(&again));
        assert_eq!(as_written, as_normalised, "{written:?} vs {pulled:?}");
    }
});
