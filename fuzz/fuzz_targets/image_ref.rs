//! Image references: parsing never panics; normalising is idempotent (the normalised and
//! canonical spellings parse back to themselves); pinning keeps the name; a rule pattern covers
//! an image's normalised spelling exactly when it covers the image as written.
#![no_main]

use libfuzzer_sys::fuzz_target;
use verify_image_signatures::{ImagePattern, ImageRef, CoverageSpellings};

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
    let normalised = image.pulled();
    let again = ImageRef::parse(&normalised).expect("a normalised reference parses");
    assert_eq!(again.pulled(), normalised);
    let canonical = ImageRef::parse(&image.coverage_reference()).expect("a canonical reference parses");
    assert_eq!(canonical.coverage_reference(), image.coverage_reference());
    assert_eq!(again.coverage_repository(), image.coverage_repository());

    let pinned = ImageRef::parse(&image.pinned_to(DIGEST)).expect("a pinned reference parses");
    assert_eq!(pinned.digest(), Some(DIGEST));
    assert_eq!(pinned.coverage_repository(), image.coverage_repository());

    if let Ok(pattern) = ImagePattern::parse(pattern) {
        let as_written = pattern.covers(&CoverageSpellings::of(&image));
        let as_normalised = pattern.covers(&CoverageSpellings::of(&again));
        assert_eq!(as_written, as_normalised, "{written:?} vs {normalised:?}");
    }
});
