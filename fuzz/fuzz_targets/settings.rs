//! Settings validation on arbitrary JSON: never a panic, and valid settings always hold a rule
//! (an empty `signatures` is refused, so no configuration verifies nothing).
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use verify_image_signatures::Settings;

fuzz_target!(|data: &[u8]| {
    let Ok(document) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    match Settings::parse(&document) {
        Ok(settings) => assert!(!settings.rules.is_empty()),
        Err(errors) => assert!(!errors.to_string().is_empty()),
    }
});
