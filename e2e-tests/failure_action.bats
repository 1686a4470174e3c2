#!/usr/bin/env bats
# failureAction: warn: a new rule is rolled out with warnings instead of rejections, and never
# weakens the rules that enforce.

setup() { load helpers; }

key_b() { echo "{\"pubKeys\": [$(pem "$KEY_B_PUB")]}"; }

# rules ENFORCING_SIGNER_JSON WARN_SIGNER_JSON [TOP_LEVEL_JSON]: two rules covering the registry,
# the first enforcing (omitted when ENFORCING_SIGNER_JSON is empty), the second warn-only.
rules() {
  local enforcing="$1" warn="$2" top="${3:-{\}}"
  jq -cn --arg image "$REGISTRY/*" --argjson warn "$warn" --argjson top "$top" \
    --argjson enforcing "${enforcing:-null}" '
    {signatures: ([if $enforcing then {image: $image} + $enforcing else empty end]
      + [{image: $image, failureAction: "warn"} + $warn])} + $top'
}

@test "an image failing a warn rule is admitted with a warning naming field, image, rule and reason" {
  evaluate "$(rules "" "$(key_b)")" "$(request pod_generated_name.json)"
  assert_accepted
  assert_no_patch
  [[ "$(warnings)" == "spec.containers[0].image \"$IMAGE_SIGNED_A\" failed signatures[0] (pubKeys): "*"; admitted (failureAction: warn)" ]] || { echo "warnings: $(warnings)"; return 1; }
  [[ "$(audit_images | jq -r '."spec.containers[0].image"')" == "unmatched; failed warn-only signatures[0] (pubKeys)" ]]
}

@test "beside a passing enforcing rule the image is pinned to the enforced digest and the warn rule warns" {
  evaluate "$(rules "$(key_a)" "$(key_b)")" "$(request pod_generated_name.json)"
  assert_accepted
  [[ "$(patched_value /spec/containers/0/image)" == "$IMAGE_SIGNED_A@$DIGEST_SIGNED_A" ]]
  [[ "$(warnings)" == "spec.containers[0].image \"$IMAGE_SIGNED_A\" failed signatures[1] (pubKeys): "* ]] || { echo "warnings: $(warnings)"; return 1; }
}

@test "a passing warn rule does not rescue an image an enforcing rule refuses" {
  evaluate "$(rules "$(key_b)" "$(key_a)")" "$(request pod_generated_name.json)"
  assert_rejected
  assert_message_contains "spec.containers[0].image \"$IMAGE_SIGNED_A\" failed signatures[0] (pubKeys)"
}

@test "an image only a warn rule covers is still refused by unmatchedImages reject, and never pinned" {
  evaluate "$(rules "" "$(key_a)" '{"unmatchedImages": "reject"}')" "$(request pod_generated_name.json)"
  assert_rejected
  assert_message_contains "\"$IMAGE_SIGNED_A\": only failureAction: warn rules cover this image (unmatchedImages: reject)"

  evaluate "$(rules "" "$(key_a)")" "$(request pod_generated_name.json)"
  assert_accepted
  assert_no_patch
  [[ -z "$(warnings)" ]]
}

@test "an unknown failureAction is refused at load time" {
  evaluate "$(settings_for "$REGISTRY/*" "$(key_a)" '{"failureAction": "audit"}')" "$(request pod_generated_name.json)"
  [[ "$status" -eq 1 ]]
  [[ "$stderr" == *"signatures[0].failureAction: must be one of reject, warn, found \"audit\""* ]]
}
