# The policy-server leg brings the same signed-fixture registry up as the main suite
# (../setup_suite.bash) and names its host: the policy-server binary, not KWCTL or kwrun.
setup_suite() {
  local root
  root="$(cd "$BATS_TEST_DIRNAME/../.." && pwd)"
  eval "$("$root/e2e-tests/fixtures/up")"
  export REPO_ROOT="$root"
  local server="${POLICY_SERVER:-$root/../shared/tools/policy-server/1.36.0-beta.1/policy-server}" version="not found"
  [[ -x "$server" ]] && version=$("$server" --version 2>/dev/null | head -n1)
  echo "# host: $version ($server)" >&3
}

teardown_suite() {
  # Fixtures someone brought up before the suite (fixtures/up by hand) stay up.
  if [[ -z "${KEEP_FIXTURES:-}" && -z "${FIXTURES_REUSED:-}" ]]; then
    "$REPO_ROOT/e2e-tests/fixtures/down" >/dev/null 2>&1 || true
  fi
}
