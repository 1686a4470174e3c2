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
