#!/usr/bin/env bats
# minimumMatches: N of the listed signers must have signed (release approvals, key rotation);
# each signer is its own host call and a rejection says how many of how many passed.

setup() { load helpers; }

# keys N PEM_FILE...: a pubKeys signer of these keys with minimumMatches N.
keys() {
  local minimum="$1" key
  shift
  local pems=()
  for key in "$@"; do pems+=("$(pem "$key")"); done
  local list
  list=$(IFS=,; echo "${pems[*]}")
  echo "{\"minimumMatches\": $minimum, \"pubKeys\": [$list]}"
}

@test "2 of 3 keys: an image signed by two is admitted and pinned" {
  evaluate "$(settings_for "$REGISTRY/*" "$(keys 2 "$KEY_A_PUB" "$KEY_B_PUB" "$KEY_UNTRUSTED_PUB")")" "$(request pod_generated_name.json "$IMAGE_SIGNED_AB")"
  assert_accepted
  [[ "$(patched_value /spec/containers/0/image)" == "$IMAGE_SIGNED_AB@$DIGEST_SIGNED_AB" ]]
}

@test "2 of 3 keys: an image signed by one is rejected, saying how many of how many passed and which" {
  evaluate "$(settings_for "$REGISTRY/*" "$(keys 2 "$KEY_A_PUB" "$KEY_B_PUB" "$KEY_UNTRUSTED_PUB")")" "$(request pod_generated_name.json "$IMAGE_SIGNED_A")"
  assert_rejected
  assert_message_contains "\"$IMAGE_SIGNED_A\" failed signatures[0] (pubKeys): 1 of 3 signers passed, 2 required (minimumMatches); passed: pubKeys[0]; pubKeys[1] failed: "
  assert_message_contains "; pubKeys[2] failed: "
}

@test "key rotation: 1 of the old and the new key admits images signed by either" {
  local rotation
  rotation="$(keys 1 "$KEY_B_PUB" "$KEY_A_PUB")"
  evaluate "$(settings_for "$REGISTRY/*" "$rotation")" "$(request pod_generated_name.json "$IMAGE_SIGNED_A")"
  assert_accepted
  [[ "$(patched_value /spec/containers/0/image)" == "$IMAGE_SIGNED_A@$DIGEST_SIGNED_A" ]]
  evaluate "$(settings_for "$REGISTRY/*" "$rotation")" "$(request pod_generated_name.json "$IMAGE_SIGNED_B")"
  assert_accepted
  evaluate "$(settings_for "$REGISTRY/*" "$rotation")" "$(request pod_generated_name.json "$IMAGE_SIGNED_UNTRUSTED")"
  assert_rejected
  assert_message_contains "0 of 2 signers passed, 1 required (minimumMatches)"
}

@test "1 of 2 keyless identities: the identity that signed is proven like any keyless signature" {
  local settings
  settings=$(jq -cn --arg img "$REGISTRY/*" --arg i "$KEYLESS_ISSUER" --arg s "$KEYLESS_EMAIL" --argjson top "$(fulcio)" \
    '{signatures: [{image: $img, minimumMatches: 1, keyless: [{issuer: $i, subject: "mallory@example.com"}, {issuer: $i, subject: $s}]}]} + $top')
  evaluate "$settings" "$(request pod_generated_name.json "$IMAGE_KEYLESS_EMAIL")"
  assert_accepted
  [[ "$(patched_value /spec/containers/0/image)" == "$IMAGE_KEYLESS_EMAIL@$DIGEST_KEYLESS_EMAIL" ]]
  # A forged layer carrying the genuine certificate does not count as that identity's signature.
  evaluate "$settings" "$(request pod_generated_name.json "$IMAGE_FORGED_KEYLESS_EMAIL")"
  assert_rejected
  assert_message_contains "0 of 2 signers passed, 1 required (minimumMatches)"
}

@test "a quorum larger than the list is refused at load time" {
  evaluate "$(settings_for "$REGISTRY/*" "$(keys 3 "$KEY_A_PUB" "$KEY_B_PUB")")" "$(request pod_generated_name.json)"
  [[ "$status" -eq 1 ]]
  [[ "$stderr" == *"signatures[0].minimumMatches: is 3, but signatures[0].pubKeys lists 2 signers: it could never be met"* ]]
}

@test "one key listed twice cannot make a quorum of one signature: refused at load time" {
  evaluate "$(settings_for "$REGISTRY/*" "$(keys 2 "$KEY_A_PUB" "$KEY_A_PUB")")" "$(request pod_generated_name.json "$IMAGE_SIGNED_A")"
  [[ "$status" -eq 1 ]]
  [[ "$stderr" == *"signatures[0].pubKeys[1]: one signature could satisfy both this and pubKeys[0], so with minimumMatches it would count twice"* ]]
}
