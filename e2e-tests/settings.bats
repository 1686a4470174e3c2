#!/usr/bin/env bats
# Settings: mistakes are refused when the policy is loaded, all at once, each with its path.

setup() { load helpers; }

@test "invalid settings are refused with every problem and its path" {
  local settings
  settings=$(jq -cn --rawfile key "$KEY_A_PUB" '{signatures: [
      {image: "*", keyless: []},
      {image: "*", pubKeys: [$key], anotations: {env: "prod"}},
      {image: "*", keylessPrefix: [{issuer: "i", urlPrefix: "gh.com/x"}]}
    ]}')
  evaluate "$settings" "$(request pod_generated_name.json)"
  [[ "$status" -eq 1 ]]
  [[ "$stderr" == *"Provided settings are not valid: "* ]]
  [[ "$stderr" == *"signatures[0].keyless: must not be empty"* ]]
  [[ "$stderr" == *"signatures[1].anotations: unknown field"* ]]
  [[ "$stderr" == *"signatures[2].keylessPrefix[0].urlPrefix: \"gh.com/x\" is not an absolute https URL"* ]]
  [[ -z "$output" ]]
}

@test "a rule with two signer kinds is refused" {
  local settings
  settings=$(jq -cn --rawfile key "$KEY_A_PUB" '{signatures: [{image: "*", pubKeys: [$key], githubActions: {owner: "acme"}}]}')
  evaluate "$settings" "$(request pod_generated_name.json)"
  [[ "$status" -eq 1 ]]
  [[ "$stderr" == *"signatures[0]: has pubKeys and githubActions: a rule takes exactly one signer kind"* ]]
}

@test "a mangled public key is refused at load time" {
  local settings
  settings=$(jq -cn --rawfile key "$KEY_A_PUB" '{signatures: [{image: "*", pubKeys: [$key | sub("MF"; "MG")]}]}')
  evaluate "$settings" "$(request pod_generated_name.json)"
  [[ "$status" -eq 1 ]]
  [[ "$stderr" == *"signatures[0].pubKeys[0]: not a PEM \"PUBLIC KEY\""* ]]
}

@test "metadata declares exactly the host capabilities the policy calls" {
  [[ "$(declared_capabilities | sort | tr '\n' ' ')" == "crypto/v1/is_certificate_trusted oci/v1/oci_manifest oci/v2/verify " ]]
  run --separate-stderr "${KWRUN_BIN:-$REPO_ROOT/target/host/kwrun}" annotate -m "$REPO_ROOT/metadata.yml" -o "$BATS_TEST_TMPDIR/annotated.wasm" "$REPO_ROOT/policy.wasm"
  [[ "$status" -eq 0 ]] || { echo "$stderr"; return 1; }
  [[ "$stderr" != *"host capabilities"* ]] || { echo "$stderr"; return 1; }
}

@test "a host capability the run does not allow is denied, and the policy says what it could not prove" {
  skip_before_kwctl 1.36.0 "--allowed-host-capabilities appeared in kwctl 1.36"
  ALLOWED_CAPABILITIES="oci/v2/verify" evaluate "$(settings_for "$REGISTRY/*" "$(jq -cn --arg i "$KEYLESS_ISSUER" --arg s "$KEYLESS_EMAIL" '{keyless: [{issuer: $i, subject: $s}]}')" '{}' "$(fulcio)")" "$(request pod_generated_name.json "$IMAGE_KEYLESS_EMAIL")"
  assert_rejected
  assert_message_contains "the host trusted the signature, but its signature manifest could not be read"
  assert_message_contains "Policy has not been granted access to the 'oci/v1/oci_manifest' host capability"
}
