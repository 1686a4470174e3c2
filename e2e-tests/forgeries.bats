#!/usr/bin/env bats
# Forged signatures: what an attacker who can push images and signatures, but holds no trusted
# private key, can make. Each must be rejected by whichever host runs the suite: kwrun drops
# the forged layers itself; kwctl trusts them, and the policy's own questions to the host
# (is this certificate's key the one that signed a layer naming this digest, with these
# annotations?) reject them (see README "What is verified, and by whom").

setup() { load helpers; }

keyless() { jq -cn --arg i "$KEYLESS_ISSUER" --arg s "$KEYLESS_EMAIL" '{keyless: [{issuer: $i, subject: $s}]}'; }
prefix() { jq -cn --arg i "$KEYLESS_ISSUER" --arg p "$KEYLESS_URL_PREFIX" '{keylessPrefix: [{issuer: $i, urlPrefix: $p}]}'; }
gha() { jq -cn --arg o "$GHA_OWNER" --arg r "$GHA_REPO" '{githubActions: {owner: $o, repo: $r}}'; }
# certs [REQUIRE_REKOR_BUNDLE=true]: a certificates rule for CERT_PEM and its chain.
certs() {
  jq -cn --rawfile cert "$CERT_PEM" --argjson chain "$(pem_list "$CERT_CHAIN_PEM")" --argjson rekor "${1:-true}" '
    {certificates: [$cert], certificateChain: $chain, requireRekorBundle: $rekor}'
}

# kwrun names the forged layer's fault when it drops the layer; under kwctl the rejection
# comes from the policy's questions and is worded by them.
FORGED_SIGNATURE="signature its certificate's key did not make"
assert_forged_layer_named() {
  if host_is_kwrun; then assert_message_contains "$FORGED_SIGNATURE"; fi
}

@test "forged keyless signature (copied certificate and bundle, garbage signature): rejected" {
  evaluate "$(settings_for "$REGISTRY/*" "$(keyless)" '{}' "$(fulcio)")" "$(request pod_generated_name.json "$IMAGE_FORGED_KEYLESS_EMAIL")"
  assert_rejected
  assert_message_contains "failed signatures[0] (keyless)"
  assert_forged_layer_named
  assert_no_patch
}

@test "forged keyless signature carrying the required annotations: rejected" {
  evaluate "$(settings_for "$REGISTRY/*" "$(keyless)" "{\"annotations\": $ANNOTATIONS_JSON}" "$(fulcio)")" "$(request pod_generated_name.json "$IMAGE_FORGED_KEYLESS_EMAIL")"
  assert_rejected
  assert_forged_layer_named
}

@test "forged keylessPrefix signature: rejected" {
  evaluate "$(settings_for "$REGISTRY/*" "$(prefix)" '{}' "$(fulcio)")" "$(request pod_generated_name.json "$IMAGE_FORGED_KEYLESS_URI")"
  assert_rejected
  assert_message_contains "failed signatures[0] (keylessPrefix)"
  assert_forged_layer_named
}

@test "forged githubActions signature: rejected" {
  evaluate "$(settings_for "$REGISTRY/*" "$(gha)" '{}' "$(fulcio)")" "$(request pod_generated_name.json "$IMAGE_FORGED_GHA")"
  assert_rejected
  assert_message_contains "failed signatures[0] (githubActions)"
  assert_forged_layer_named
}

@test "a genuine layer copied beside a forged one does not help: rejected" {
  evaluate "$(settings_for "$REGISTRY/*" "$(keyless)" '{}' "$(fulcio)")" "$(request pod_generated_name.json "$IMAGE_FORGED_BESIDE_GENUINE")"
  assert_rejected
  assert_forged_layer_named
}

@test "requireRekorBundle: a real signature with a bundle copied from an older one is rejected" {
  evaluate "$(settings_for "$REGISTRY/*" "$(certs)")" "$(request pod_generated_name.json "$IMAGE_CERT_COPIED_BUNDLE")"
  assert_rejected
  assert_message_contains "failed signatures[0] (certificates)"
  # kwrun drops the layer itself; on kwctl the policy finds no layer logged as itself.
  if host_is_kwrun; then
    assert_message_contains "Rekor bundle logs another payload"
  else
    assert_message_contains "no layer of its signature manifest carries a Rekor bundle that logs that layer's signature by the certificate's key"
  fi
}

@test "annotations on a layer nobody signed: rejected under certificates + certificateChain + annotations" {
  # CERT_PEM's genuine signature has no annotations; the layer beside it that has them carries
  # no certificate, no bundle and a garbage signature.
  for rekor in true false; do
    evaluate "$(settings_for "$REGISTRY/*" "$(certs "$rekor")" "{\"annotations\": $ANNOTATIONS_JSON}")" \
      "$(request pod_generated_name.json "$IMAGE_CERT_ANNOTATIONS_UNSIGNED_LAYER")"
    assert_rejected
    assert_message_contains "failed signatures[0] (certificates)"
    assert_no_patch
  done
}

@test "annotations on a layer nobody signed: the genuine signature still admits the image without annotations" {
  evaluate "$(settings_for "$REGISTRY/*" "$(certs)")" "$(request pod_generated_name.json "$IMAGE_CERT_ANNOTATIONS_UNSIGNED_LAYER")"
  assert_accepted
  [[ "$(patched_value /spec/containers/0/image)" == "$IMAGE_CERT_ANNOTATIONS_UNSIGNED_LAYER@$DIGEST_CERT_ANNOTATIONS_UNSIGNED_LAYER" ]]
}

@test "the genuine signatures the forgeries copied from still pass" {
  evaluate "$(settings_for "$REGISTRY/*" "$(keyless)" '{}' "$(fulcio)")" "$(request pod_generated_name.json "$IMAGE_KEYLESS_EMAIL")"
  assert_accepted
  evaluate "$(settings_for "$REGISTRY/*" "$(prefix)" '{}' "$(fulcio)")" "$(request pod_generated_name.json "$IMAGE_KEYLESS_URI")"
  assert_accepted
  evaluate "$(settings_for "$REGISTRY/*" "$(gha)" '{}' "$(fulcio)")" "$(request pod_generated_name.json "$IMAGE_GHA")"
  assert_accepted
  evaluate "$(settings_for "$REGISTRY/*" "$(certs)")" "$(request pod_generated_name.json "$IMAGE_CERT_BUNDLE")"
  assert_accepted
  [[ "$(patched_value /spec/containers/0/image)" == "$IMAGE_CERT_BUNDLE@$DIGEST_CERT_BUNDLE" ]]
}
