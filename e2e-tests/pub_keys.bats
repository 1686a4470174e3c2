#!/usr/bin/env bats
# Public-key signatures: given a key in the settings, an image is admitted only when that key
# signed it, and it is pinned to the digest that was verified.

setup() { load helpers; }


@test "an image signed by the configured key is admitted and pinned to the verified digest" {
  evaluate "$(settings_for "$REGISTRY/*" "$(key_a)")" "$(request pod_generated_name.json)"
  assert_accepted
  [[ "$(patched_value /spec/containers/0/image)" == "$IMAGE_SIGNED_A@$DIGEST_SIGNED_A" ]]
  [[ "$(patch | jq length)" -eq 1 ]]
}

@test "an unsigned image is rejected with field path, image and reason" {
  evaluate "$(settings_for "$REGISTRY/*" "$(key_a)")" "$(request pod_generated_name.json "$IMAGE_UNSIGNED")"
  assert_rejected
  assert_message_contains "Pod shop/web-7d9f-*: 1 image not verified: spec.containers[0].image \"$IMAGE_UNSIGNED\" failed signatures[0] (pubKeys): "
  assert_no_patch
}

@test "an image signed only by an untrusted key is rejected" {
  evaluate "$(settings_for "$REGISTRY/*" "$(key_a)")" "$(request pod_generated_name.json "$IMAGE_SIGNED_UNTRUSTED")"
  assert_rejected
  assert_message_contains "\"$IMAGE_SIGNED_UNTRUSTED\" failed signatures[0] (pubKeys)"
}

@test "two keys in one rule require both signatures" {
  local both="{\"pubKeys\": [$(pem "$KEY_A_PUB"), $(pem "$KEY_B_PUB")]}"
  evaluate "$(settings_for "$REGISTRY/*" "$both")" "$(request pod_generated_name.json "$IMAGE_SIGNED_AB")"
  assert_accepted
  [[ "$(patched_value /spec/containers/0/image)" == "$IMAGE_SIGNED_AB@$DIGEST_SIGNED_AB" ]]

  evaluate "$(settings_for "$REGISTRY/*" "$both")" "$(request pod_generated_name.json "$IMAGE_SIGNED_A")"
  assert_rejected
}

@test "key B is not key A" {
  evaluate "$(settings_for "$REGISTRY/*" "{\"pubKeys\": [$(pem "$KEY_B_PUB")]}")" "$(request pod_generated_name.json "$IMAGE_SIGNED_A")"
  assert_rejected
  evaluate "$(settings_for "$REGISTRY/*" "{\"pubKeys\": [$(pem "$KEY_B_PUB")]}")" "$(request pod_generated_name.json "$IMAGE_SIGNED_B")"
  assert_accepted
}

@test "annotations must be on the signature made by the configured key" {
  local req
  req="$(request pod_generated_name.json "$IMAGE_SIGNED_A_ANNOTATED")"
  evaluate "$(settings_for "$REGISTRY/*" "$(key_a)" '{"annotations": {"env": "prod", "team": "payments"}}')" "$req"
  assert_accepted
  [[ "$(patched_value /spec/containers/0/image)" == "$IMAGE_SIGNED_A_ANNOTATED@$DIGEST_SIGNED_A_ANNOTATED" ]]

  # env=dev exists on the image, but only on key B's signature.
  evaluate "$(settings_for "$REGISTRY/*" "$(key_a)" '{"annotations": {"env": "dev"}}')" "$req"
  assert_rejected
  evaluate "$(settings_for "$REGISTRY/*" "{\"pubKeys\": [$(pem "$KEY_B_PUB")]}" '{"annotations": {"env": "dev"}}')" "$req"
  assert_accepted

  evaluate "$(settings_for "$REGISTRY/*" "$(key_a)" '{"annotations": {"env": "staging"}}')" "$req"
  assert_rejected
}

@test "images no rule covers are admitted unchanged" {
  evaluate "$(settings_for "quay.io/acme/*" "$(key_a)")" "$(request pod_generated_name.json "$IMAGE_UNSIGNED")"
  assert_accepted
  assert_no_patch
}
