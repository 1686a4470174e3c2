#!/usr/bin/env bats
# What a rule covers: every spelling under which the runtime pulls the same repository, tags and
# digests included; images no rule covers (unmatchedImages) and images skipped on purpose
# (skipImages); and patterns that could never match, refused at load time.

setup() { load helpers; }

@test "a tag rule covers the same repository by digest only: the unsigned image is verified and rejected" {
  evaluate "$(settings_for "$REGISTRY/unsigned:v1" "$(key_a)")" "$(request pod_generated_name.json "$REGISTRY/unsigned@$DIGEST_UNSIGNED")"
  assert_rejected
  assert_message_contains "\"$REGISTRY/unsigned@$DIGEST_UNSIGNED\" failed signatures[0] (pubKeys)"
}

@test "a tag glob covers tag@digest whatever the tag: rejected" {
  evaluate "$(settings_for "$REGISTRY/unsigned:v1" "$(key_a)")" "$(request pod_generated_name.json "$REGISTRY/unsigned:v2@$DIGEST_UNSIGNED")"
  assert_rejected
  assert_message_contains "failed signatures[0] (pubKeys)"
}

@test "a repository rule covers every tag of it: rejected" {
  evaluate "$(settings_for "$REGISTRY/unsigned" "$(key_a)")" "$(request pod_generated_name.json "$IMAGE_UNSIGNED")"
  assert_rejected
  assert_message_contains "failed signatures[0] (pubKeys)"
}

@test "the loopback registry under another name is the same registry: rejected" {
  evaluate "$(settings_for "$REGISTRY/*" "$(key_a)")" "$(request pod_generated_name.json "localhost:${REGISTRY##*:}/unsigned:v1")"
  assert_rejected
  assert_message_contains "failed signatures[0] (pubKeys)"
}

@test "a signed image spelled by digest under a tag rule is verified and admitted as written" {
  evaluate "$(settings_for "$REGISTRY/signed-a:v1" "$(key_a)")" "$(request pod_generated_name.json "$REGISTRY/signed-a@$DIGEST_SIGNED_A")"
  assert_accepted
  assert_no_patch
  [[ "$(audit_images | jq -r '."spec.containers[0].image"')" == "verified by signatures[0] (pubKeys): $DIGEST_SIGNED_A" ]]
}

@test "unmatchedImages reject: an image no rule covers is refused, naming it" {
  evaluate "$(settings_for "$REGISTRY/signed-a:*" "$(key_a)" '{}' '{"unmatchedImages": "reject"}')" "$(request pod_generated_name.json "$IMAGE_UNSIGNED")"
  assert_rejected
  assert_message_contains "spec.containers[0].image \"$IMAGE_UNSIGNED\": no rule covers this image (unmatchedImages: reject)"
}

@test "unmatchedImages warn: an image no rule covers is admitted with a warning naming it" {
  evaluate "$(settings_for "$REGISTRY/signed-a:*" "$(key_a)" '{}' '{"unmatchedImages": "warn"}')" "$(request pod_generated_name.json "$IMAGE_UNSIGNED")"
  assert_accepted
  assert_no_patch
  [[ "$(warnings)" == "spec.containers[0].image \"$IMAGE_UNSIGNED\": no rule covers this image; admitted unverified (unmatchedImages: warn)" ]]
}

@test "unmatchedImages accept (the default): admitted silently, recorded as unmatched in the audit annotation" {
  evaluate "$(settings_for "$REGISTRY/signed-a:*" "$(key_a)")" "$(request pod_generated_name.json "$IMAGE_UNSIGNED")"
  assert_accepted
  [[ -z "$(warnings)" ]]
  [[ "$(audit_images | jq -r '."spec.containers[0].image"')" == "unmatched" ]]
}

@test "skipImages: a skipped image is neither verified nor pinned, even when a rule covers it" {
  evaluate "$(settings_for "$REGISTRY/*" "$(key_a)" '{}' "{\"skipImages\": [\"localhost:${REGISTRY##*:}/unsigned:*\"], \"unmatchedImages\": \"reject\"}")" "$(request pod_generated_name.json "$IMAGE_UNSIGNED")"
  assert_accepted
  assert_no_patch
  [[ "$(audit_images | jq -r '."spec.containers[0].image"')" == "skipped" ]]
}

@test "skipImages must be written normalised: other spellings are refused with the form to use" {
  evaluate "$(settings_for "$REGISTRY/*" "$(key_a)" '{}' '{"skipImages": ["pause:*"]}')" "$(request pod_generated_name.json)"
  [[ "$status" -eq 1 ]]
  [[ "$stderr" == *'skipImages[0]: "pause:*" is not written fully normalised'*'write "docker.io/library/pause:*"'* ]]
}

@test "patterns no image reference can match are refused at load time, with the fix" {
  local settings
  settings=$(jq -cn --argjson signer "$(key_a)" '{signatures: [
    ({image: "ghcr.io/Acme/*"} + $signer), ({image: " ghcr.io/acme/*"} + $signer),
    ({image: "https://ghcr.io/acme/*"} + $signer), ({image: "ghcr.io/acme/"} + $signer)]}')
  evaluate "$settings" "$(request pod_generated_name.json)"
  [[ "$status" -eq 1 ]]
  [[ "$stderr" == *'signatures[0].image: "ghcr.io/Acme/*" has upper case in a repository path'*'write "ghcr.io/acme/*"'* ]]
  [[ "$stderr" == *'signatures[1].image: " ghcr.io/acme/*" has white space'* ]]
  [[ "$stderr" == *'signatures[2].image: "https://ghcr.io/acme/*" is a URL'* ]]
  [[ "$stderr" == *'signatures[3].image: "ghcr.io/acme/" ends with '"'/'"* ]]
}
