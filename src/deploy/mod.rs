//! Deploy time: what the policy reads once per settings document, when the policy is loaded,
//! and refuses then, all at once and each with its path, rather than at every admission. The
//! settings hold the signature rules; each rule's signer kind, image pattern and PEM material
//! are read and checked here, as are the custom resources to inspect.

pub(crate) mod custom_resources;
pub(crate) mod image_pattern;
pub(crate) mod pem_material;
pub(crate) mod settings;
pub(crate) mod signers;
pub(crate) mod strict_fields;
