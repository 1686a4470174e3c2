//! `kubewarden/crypto/v1/is_certificate_trusted`, answered as kwctl and policy-server answer
//! it (policy-evaluator `callback_handler/crypto.rs`, webpki `verify_for_usage`): the last
//! certificate of `cert_chain` is the trust anchor, the others intermediates, any key usage;
//! `not_after` (RFC 3339) is the **time at which the chain is verified** (absent: now), and at
//! that time the certificate and the intermediates must be valid. The anchor's own validity is
//! not checked (webpki does not). Policies ask about a Fulcio certificate at its notBefore:
//! it lives ten minutes, so "now" would reject every genuine keyless signature.
//!
//! One difference, stated rather than hidden: without a chain kwctl verifies against
//! Mozilla's roots; kwrun has none, so it answers "not trusted" with kwctl's reason.

use std::cmp::Ordering;

use chrono::{DateTime, Utc};
use openssl::asn1::{Asn1Time, Asn1TimeRef};
use openssl::stack::Stack;
use openssl::x509::store::X509StoreBuilder;
use openssl::x509::verify::X509VerifyFlags;
use openssl::x509::{X509Ref, X509StoreContext, X509};

use kubewarden_policy_sdk::host_capabilities::crypto::{Certificate, CertificateEncoding};
pub use kubewarden_policy_sdk::host_capabilities::crypto_v1::{
    CertificateVerificationRequest, CertificateVerificationResponse,
};

/// kwctl's reasons, word for word: policies may quote or match them.
pub const CERTIFICATE_USED_AFTER_EXPIRATION: &str =
    "Certificate is being used after its expiration date";
pub const CERTIFICATE_USED_BEFORE_VALIDITY: &str =
    "Certificate is being used before its validity date";
pub const CERTIFICATE_NOT_TRUSTED_BY_CHAIN: &str =
    "Certificate is not trusted by the provided cert chain";

/// Answers one request; `Err` only when the request itself is malformed.
pub fn is_certificate_trusted(payload: &[u8], now: DateTime<Utc>) -> Result<Vec<u8>, String> {
    let request: CertificateVerificationRequest = serde_json::from_slice(payload)
        .map_err(|e| format!("invalid certificate verification request: {e}"))?;
    let verdict = judge(&request, now)?;
    let response = match verdict {
        Ok(()) => CertificateVerificationResponse {
            trusted: true,
            reason: String::new(),
        },
        Err(reason) => CertificateVerificationResponse {
            trusted: false,
            reason: reason.to_string(),
        },
    };
    serde_json::to_vec(&response).map_err(|e| e.to_string())
}

/// Outer `Err`: malformed request. Inner `Err`: the reason it is not trusted.
fn judge(
    request: &CertificateVerificationRequest,
    now: DateTime<Utc>,
) -> Result<Result<(), &'static str>, String> {
    let cert = parse(&request.cert).map_err(|e| format!("cert: {e}"))?;
    let chain = request
        .cert_chain
        .iter()
        .flatten()
        .enumerate()
        .map(|(i, c)| parse(c).map_err(|e| format!("cert_chain[{i}]: {e}")))
        .collect::<Result<Vec<X509>, String>>()?;
    // kwctl's own wording for an unparsable time.
    let verification_time = match request.not_after.as_deref() {
        Some(text) => DateTime::parse_from_rfc3339(text)
            .map_err(|_| "Timestamp not_after is not in RFC3339 format".to_string())?
            .timestamp(),
        None => now.timestamp(),
    };
    let at = asn1_time(verification_time)?;

    // webpki checks the certificate's own validity before it looks for an issuer.
    if let Err(reason) = valid_at(&cert, &at)? {
        return Ok(Err(reason));
    }
    let Some((anchor, intermediates)) = chain.split_last() else {
        return Ok(Err(CERTIFICATE_NOT_TRUSTED_BY_CHAIN));
    };
    let path = match chain_to(&cert, anchor, intermediates).map_err(|e| format!("openssl: {e}"))? {
        Some(path) => path,
        None => return Ok(Err(CERTIFICATE_NOT_TRUSTED_BY_CHAIN)),
    };
    // The intermediates the path went through; the anchor (last) is trusted at any time.
    for ca in path.iter().skip(1).take(path.len().saturating_sub(2)) {
        if let Err(reason) = valid_at(ca, &at)? {
            return Ok(Err(reason));
        }
    }
    Ok(Ok(()))
}

fn valid_at(cert: &X509Ref, at: &Asn1TimeRef) -> Result<Result<(), &'static str>, String> {
    if before(at, cert.not_before())? {
        return Ok(Err(CERTIFICATE_USED_BEFORE_VALIDITY));
    }
    if before(cert.not_after(), at)? {
        return Ok(Err(CERTIFICATE_USED_AFTER_EXPIRATION));
    }
    Ok(Ok(()))
}

/// The path from `cert` to `anchor` (leaf first, anchor last) through `intermediates`, with
/// every signature verified, or `None` when there is none. `anchor` is trusted whether or
/// not it is self-signed, as webpki trusts any anchor it is given; times are the caller's.
fn chain_to(
    cert: &X509,
    anchor: &X509,
    intermediates: &[X509],
) -> Result<Option<Vec<X509>>, openssl::error::ErrorStack> {
    let mut store = X509StoreBuilder::new()?;
    store.add_cert(anchor.clone())?;
    store.set_flags(X509VerifyFlags::NO_CHECK_TIME | X509VerifyFlags::PARTIAL_CHAIN)?;
    let store = store.build();
    let mut untrusted = Stack::new()?;
    for intermediate in intermediates {
        untrusted.push(intermediate.clone())?;
    }
    let mut context = X509StoreContext::new()?;
    context.init(&store, cert, &untrusted, |ctx| {
        if !ctx.verify_cert()? {
            return Ok(None);
        }
        Ok(ctx
            .chain()
            .map(|path| path.iter().map(X509Ref::to_owned).collect()))
    })
}

fn parse(cert: &Certificate) -> Result<X509, String> {
    match cert.encoding {
        CertificateEncoding::Pem => X509::from_pem(&cert.data),
        CertificateEncoding::Der => X509::from_der(&cert.data),
    }
    .map_err(|e| format!("cannot parse {:?} certificate: {e}", cert.encoding))
}

fn asn1_time(unix: i64) -> Result<Asn1Time, String> {
    Asn1Time::from_unix(unix).map_err(|e| format!("time {unix} out of range: {e}"))
}

fn before(a: &Asn1TimeRef, b: &Asn1TimeRef) -> Result<bool, String> {
    a.compare(b)
        .map(|o| o == Ordering::Less)
        .map_err(|e| format!("cannot compare certificate times: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use openssl::ec::{EcGroup, EcKey};
    use openssl::hash::MessageDigest;
    use openssl::nid::Nid;
    use openssl::pkey::{PKey, Private};
    use openssl::x509::extension::BasicConstraints;
    use openssl::x509::X509NameBuilder;
    use serde_json::{json, Value};

    fn key() -> PKey<Private> {
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
        PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap()
    }

    /// A certificate for `cn` valid over `window` (unix seconds), signed by `issuer` or
    /// self-signed.
    fn cert(
        cn: &str,
        key: &PKey<Private>,
        issuer: Option<(&X509, &PKey<Private>)>,
        ca: bool,
        window: (i64, i64),
    ) -> X509 {
        let mut name = X509NameBuilder::new().unwrap();
        name.append_entry_by_text("CN", cn).unwrap();
        let name = name.build();
        let mut builder = X509::builder().unwrap();
        builder.set_version(2).unwrap();
        builder.set_subject_name(&name).unwrap();
        builder
            .set_issuer_name(issuer.map_or(&name, |(c, _)| c.subject_name()))
            .unwrap();
        builder.set_pubkey(key).unwrap();
        builder
            .set_not_before(&Asn1Time::from_unix(window.0).unwrap())
            .unwrap();
        builder
            .set_not_after(&Asn1Time::from_unix(window.1).unwrap())
            .unwrap();
        if ca {
            builder
                .append_extension(BasicConstraints::new().critical().ca().build().unwrap())
                .unwrap();
        }
        builder
            .sign(issuer.map_or(key, |(_, k)| k), MessageDigest::sha256())
            .unwrap();
        builder.build()
    }

    fn pem(cert: &X509) -> Value {
        json!({"encoding": "Pem", "data": cert.to_pem().unwrap()})
    }

    fn answer(request: &Value, now: i64) -> CertificateVerificationResponse {
        let bytes = is_certificate_trusted(
            request.to_string().as_bytes(),
            DateTime::from_timestamp(now, 0).unwrap(),
        )
        .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    const MINUTE: i64 = 60;
    const DAY: i64 = 86_400;
    const NOW: i64 = 1_750_000_000;

    fn rfc3339(unix: i64) -> String {
        DateTime::from_timestamp(unix, 0).unwrap().to_rfc3339()
    }

    /// Root, intermediate and leaf over the given windows, and an unrelated root.
    struct Pki {
        root: X509,
        intermediate: X509,
        leaf: X509,
        other_root: X509,
    }

    fn pki(root: (i64, i64), intermediate: (i64, i64), leaf: (i64, i64)) -> Pki {
        let (root_key, int_key, leaf_key, other_key) = (key(), key(), key(), key());
        let root = cert("root", &root_key, None, true, root);
        let intermediate = cert(
            "intermediate",
            &int_key,
            Some((&root, &root_key)),
            true,
            intermediate,
        );
        let leaf = cert(
            "leaf",
            &leaf_key,
            Some((&intermediate, &int_key)),
            false,
            leaf,
        );
        let other_root = cert("other", &other_key, None, true, (NOW - DAY, NOW + DAY));
        Pki {
            root,
            intermediate,
            leaf,
            other_root,
        }
    }

    /// CAs valid around NOW; the leaf over [NOW - 1 day, NOW + 10 days].
    fn usual() -> Pki {
        pki(
            (NOW - 100 * DAY, NOW + 100 * DAY),
            (NOW - 50 * DAY, NOW + 50 * DAY),
            (NOW - DAY, NOW + 10 * DAY),
        )
    }

    /// A Fulcio-like leaf: ten minutes long, over half an hour before NOW.
    fn fulcio() -> Pki {
        pki(
            (NOW - 100 * DAY, NOW + 100 * DAY),
            (NOW - 50 * DAY, NOW + 50 * DAY),
            (NOW - 30 * MINUTE, NOW - 20 * MINUTE),
        )
    }

    fn chain(p: &Pki) -> Value {
        json!([pem(&p.intermediate), pem(&p.root)])
    }

    #[test]
    fn answers_as_kwctl_does() {
        let trusted = "";
        let (u, f) = (usual(), fulcio());
        let expired_root = pki(
            (NOW - 100 * DAY, NOW - 60 * DAY),
            (NOW - 70 * DAY, NOW + 50 * DAY),
            (NOW - DAY, NOW + 10 * DAY),
        );
        let expired_intermediate = pki(
            (NOW - 100 * DAY, NOW + 100 * DAY),
            (NOW - 50 * DAY, NOW - 2 * DAY),
            (NOW - 3 * DAY, NOW + 10 * DAY),
        );
        let der = json!({"encoding": "Der", "data": u.leaf.to_der().unwrap()});
        let cases: Vec<(&str, Value, i64, &str)> = vec![
            (
                "leaf through intermediate to root, now",
                json!({"cert": pem(&u.leaf), "cert_chain": chain(&u), "not_after": null}),
                NOW,
                trusted,
            ),
            (
                "DER leaf",
                json!({"cert": der, "cert_chain": chain(&u), "not_after": null}),
                NOW,
                trusted,
            ),
            (
                "not_after is the verification time, not a minimum expiry",
                json!({"cert": pem(&u.leaf), "cert_chain": chain(&u), "not_after": rfc3339(NOW + 5 * DAY)}),
                NOW,
                trusted,
            ),
            (
                "not_after with an offset",
                json!({"cert": pem(&u.leaf), "cert_chain": chain(&u), "not_after": "2025-06-15T17:06:40+02:00"}),
                NOW,
                trusted,
            ),
            (
                "expired Fulcio leaf, checked at its notBefore",
                json!({"cert": pem(&f.leaf), "cert_chain": chain(&f), "not_after": rfc3339(NOW - 30 * MINUTE)}),
                NOW,
                trusted,
            ),
            (
                "expired Fulcio leaf, checked now",
                json!({"cert": pem(&f.leaf), "cert_chain": chain(&f), "not_after": null}),
                NOW,
                CERTIFICATE_USED_AFTER_EXPIRATION,
            ),
            (
                "expired Fulcio leaf, checked a second before its notBefore",
                json!({"cert": pem(&f.leaf), "cert_chain": chain(&f), "not_after": rfc3339(NOW - 30 * MINUTE - 1)}),
                NOW,
                CERTIFICATE_USED_BEFORE_VALIDITY,
            ),
            (
                "verification time after the leaf's expiry",
                json!({"cert": pem(&u.leaf), "cert_chain": chain(&u), "not_after": "2099-01-01T00:00:00Z"}),
                NOW,
                CERTIFICATE_USED_AFTER_EXPIRATION,
            ),
            (
                "now before the leaf's notBefore",
                json!({"cert": pem(&u.leaf), "cert_chain": chain(&u), "not_after": null}),
                NOW - 2 * DAY,
                CERTIFICATE_USED_BEFORE_VALIDITY,
            ),
            (
                "an intermediate expired at the verification time",
                json!({"cert": pem(&expired_intermediate.leaf), "cert_chain": chain(&expired_intermediate), "not_after": null}),
                NOW,
                CERTIFICATE_USED_AFTER_EXPIRATION,
            ),
            (
                "the root's validity is not checked",
                json!({"cert": pem(&expired_root.leaf), "cert_chain": chain(&expired_root), "not_after": null}),
                NOW,
                trusted,
            ),
            (
                "another root",
                json!({"cert": pem(&u.leaf), "cert_chain": [pem(&u.intermediate), pem(&u.other_root)], "not_after": null}),
                NOW,
                CERTIFICATE_NOT_TRUSTED_BY_CHAIN,
            ),
            (
                "the intermediate missing",
                json!({"cert": pem(&u.leaf), "cert_chain": [pem(&u.root)], "not_after": null}),
                NOW,
                CERTIFICATE_NOT_TRUSTED_BY_CHAIN,
            ),
            (
                "the intermediate as the anchor",
                json!({"cert": pem(&u.leaf), "cert_chain": [pem(&u.intermediate)], "not_after": null}),
                NOW,
                trusted,
            ),
            (
                "another PKI's chain",
                json!({"cert": pem(&u.leaf), "cert_chain": chain(&f), "not_after": null}),
                NOW,
                CERTIFICATE_NOT_TRUSTED_BY_CHAIN,
            ),
            (
                "an empty chain",
                json!({"cert": pem(&u.leaf), "cert_chain": [], "not_after": null}),
                NOW,
                CERTIFICATE_NOT_TRUSTED_BY_CHAIN,
            ),
            (
                "no chain (kwrun has no Mozilla roots)",
                json!({"cert": pem(&u.leaf), "cert_chain": null, "not_after": null}),
                NOW,
                CERTIFICATE_NOT_TRUSTED_BY_CHAIN,
            ),
        ];
        for (case, request, now, reason) in cases {
            let response = answer(&request, now);
            assert_eq!(
                response,
                CertificateVerificationResponse {
                    trusted: reason.is_empty(),
                    reason: reason.to_string()
                },
                "{case}"
            );
        }
    }

    #[test]
    fn malformed_requests_are_errors() {
        let now = DateTime::from_timestamp(NOW, 0).unwrap();
        assert!(is_certificate_trusted(b"{}", now)
            .unwrap_err()
            .contains("invalid certificate verification request"));
        let bad = json!({"cert": {"encoding": "Pem", "data": [1, 2, 3]}, "not_after": null});
        assert!(is_certificate_trusted(bad.to_string().as_bytes(), now)
            .unwrap_err()
            .starts_with("cert: cannot parse"));
        let p = usual();
        let bad_time = json!({"cert": pem(&p.leaf), "not_after": "tomorrow"});
        assert_eq!(
            is_certificate_trusted(bad_time.to_string().as_bytes(), now).unwrap_err(),
            "Timestamp not_after is not in RFC3339 format"
        );
    }
}
