#!/usr/bin/env bats
# Keyless signatures (certificates from the local Fulcio-style CA, logged in the local Rekor-style
# transparency log): exact identities, URL prefixes and GitHub Actions workflows.

setup() { load helpers; }

keyless() { jq -cn --arg i "$1" --arg s "$2" '{keyless: [{issuer: $i, subject: $s}]}'; }
prefix() { jq -cn --arg i "$1" --arg p "$2" '{keylessPrefix: [{issuer: $i, urlPrefix: $p}]}'; }
gha() { jq -cn --arg o "$1" --arg r "${2:-}" '{githubActions: ({owner: $o} + (if $r == "" then {} else {repo: $r} end))}'; }

@test "keyless: the exact issuer and email subject admit the image, pinned" {
  evaluate "$(settings_for "$REGISTRY/*" "$(keyless "$KEYLESS_ISSUER" "$KEYLESS_EMAIL")" '{}' "$(fulcio)")" "$(request pod_generated_name.json "$IMAGE_KEYLESS_EMAIL")"
  assert_accepted
  [[ "$(patched_value /spec/containers/0/image)" == "$IMAGE_KEYLESS_EMAIL@$DIGEST_KEYLESS_EMAIL" ]]
}

@test "keyless: another subject or issuer is rejected" {
  evaluate "$(settings_for "$REGISTRY/*" "$(keyless "$KEYLESS_ISSUER" "mallory@example.com")" '{}' "$(fulcio)")" "$(request pod_generated_name.json "$IMAGE_KEYLESS_EMAIL")"
  assert_rejected
  assert_message_contains "failed signatures[0] (keyless)"
  evaluate "$(settings_for "$REGISTRY/*" "$(keyless "https://other-issuer.test" "$KEYLESS_EMAIL")" '{}' "$(fulcio)")" "$(request pod_generated_name.json "$IMAGE_KEYLESS_EMAIL")"
  assert_rejected
}

@test "keyless: a key-signed image has no keyless identity" {
  evaluate "$(settings_for "$REGISTRY/*" "$(keyless "$KEYLESS_ISSUER" "$KEYLESS_EMAIL")" '{}' "$(fulcio)")" "$(request pod_generated_name.json "$IMAGE_SIGNED_A")"
  assert_rejected
}

@test "keylessPrefix: a subject under the prefix is admitted" {
  evaluate "$(settings_for "$REGISTRY/*" "$(prefix "$KEYLESS_ISSUER" "$KEYLESS_URL_PREFIX")" '{}' "$(fulcio)")" "$(request pod_generated_name.json "$IMAGE_KEYLESS_URI")"
  assert_accepted
  [[ "$(patched_value /spec/containers/0/image)" == "$IMAGE_KEYLESS_URI@$DIGEST_KEYLESS_URI" ]]
}

@test "keylessPrefix: a subject that only shares the string prefix is rejected" {
  # https://github.com/acme-evil/... starts with https://github.com/acme but is not under it.
  evaluate "$(settings_for "$REGISTRY/*" "$(prefix "$KEYLESS_ISSUER" "$KEYLESS_URL_PREFIX")" '{}' "$(fulcio)")" "$(request pod_generated_name.json "$IMAGE_KEYLESS_EVIL")"
  assert_rejected
  assert_message_contains "failed signatures[0] (keylessPrefix)"
}

@test "keylessPrefix: the established policy's url_prefix spelling works too" {
  local settings
  settings=$(jq -cn --arg img "$REGISTRY/*" --arg i "$KEYLESS_ISSUER" --arg p "$KEYLESS_URL_PREFIX" --argjson top "$(fulcio)" \
    '{signatures: [{image: $img, keylessPrefix: [{issuer: $i, url_prefix: $p}]}]} + $top')
  evaluate "$settings" "$(request pod_generated_name.json "$IMAGE_KEYLESS_URI")"
  assert_accepted
}

@test "githubActions: the right owner and repository are admitted" {
  evaluate "$(settings_for "$REGISTRY/*" "$(gha "$GHA_OWNER" "$GHA_REPO")" '{}' "$(fulcio)")" "$(request pod_generated_name.json "$IMAGE_GHA")"
  assert_accepted
  [[ "$(patched_value /spec/containers/0/image)" == "$IMAGE_GHA@$DIGEST_GHA" ]]
  evaluate "$(settings_for "$REGISTRY/*" "$(gha "$GHA_OWNER")" '{}' "$(fulcio)")" "$(request pod_generated_name.json "$IMAGE_GHA")"
  assert_accepted
}

@test "githubActions: a wrong repository or owner is rejected" {
  evaluate "$(settings_for "$REGISTRY/*" "$(gha "$GHA_OWNER" "$GHA_REPO")" '{}' "$(fulcio)")" "$(request pod_generated_name.json "$IMAGE_GHA_OTHER")"
  assert_rejected
  assert_message_contains "failed signatures[0] (githubActions)"
  evaluate "$(settings_for "$REGISTRY/*" "$(gha "someone-else")" '{}' "$(fulcio)")" "$(request pod_generated_name.json "$IMAGE_GHA")"
  assert_rejected
}

@test "keyless: a P-384 leaf (ECDSA over SHA-384) is admitted, pinned" {
  evaluate "$(settings_for "$REGISTRY/*" "$(keyless "$KEYLESS_ISSUER" "$KEYLESS_EMAIL")" '{}' "$(fulcio)")" "$(request pod_generated_name.json "$IMAGE_KEYLESS_P384")"
  assert_accepted
  [[ "$(patched_value /spec/containers/0/image)" == "$IMAGE_KEYLESS_P384@$DIGEST_KEYLESS_P384" ]]
}

@test "keyless: the right identity from a CA the host trusts but fulcioCertificateChain does not is rejected with the chain reason" {
  evaluate "$(settings_for "$REGISTRY/*" "$(keyless "$KEYLESS_ISSUER" "$KEYLESS_EMAIL")" '{}' "$(fulcio)")" "$(request pod_generated_name.json "$IMAGE_KEYLESS_OTHER_CA")"
  assert_rejected
  assert_message_contains "failed signatures[0] (keyless)"
  assert_message_contains "does not chain to fulcioCertificateChain"
  assert_no_patch
}

@test "keyless: the other CA's leaf is admitted when fulcioCertificateChain is that CA's chain" {
  evaluate "$(settings_for "$REGISTRY/*" "$(keyless "$KEYLESS_ISSUER" "$KEYLESS_EMAIL")" '{}' "$(fulcio "$KEYLESS_OTHER_CHAIN_PEM")")" "$(request pod_generated_name.json "$IMAGE_KEYLESS_OTHER_CA")"
  assert_accepted
  [[ "$(patched_value /spec/containers/0/image)" == "$IMAGE_KEYLESS_OTHER_CA@$DIGEST_KEYLESS_OTHER_CA" ]]
  # And the fixtures' own leaves are then the ones refused.
  evaluate "$(settings_for "$REGISTRY/*" "$(keyless "$KEYLESS_ISSUER" "$KEYLESS_EMAIL")" '{}' "$(fulcio "$KEYLESS_OTHER_CHAIN_PEM")")" "$(request pod_generated_name.json "$IMAGE_KEYLESS_EMAIL")"
  assert_rejected
  assert_message_contains "does not chain to fulcioCertificateChain"
}
