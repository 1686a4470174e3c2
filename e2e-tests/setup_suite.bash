# Brings the signed-fixture registry up once for the whole suite and tears it down after.
setup_suite() {
  local root
  root="$(cd "$BATS_TEST_DIRNAME/.." && pwd)"
  eval "$("$root/e2e-tests/fixtures/up")"
  local runner="${KWCTL:-${KWRUN_BIN:-$root/target/host/kwrun}}"
  echo "# host: $("$runner" --version 2>/dev/null | head -n1) ($runner)" >&3
  export REPO_ROOT="$root"
}

teardown_suite() {
  # Fixtures someone brought up before the suite (fixtures/up by hand) stay up.
  if [[ -z "${KEEP_FIXTURES:-}" && -z "${FIXTURES_REUSED:-}" ]]; then
    "$REPO_ROOT/e2e-tests/fixtures/down" >/dev/null 2>&1 || true
  fi
}
