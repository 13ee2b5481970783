# Sourced by the CI scripts. need COMMAND DEBIAN-PACKAGE...: installs the packages from Debian when
# the command is missing.
need() {
  local command=$1
  shift
  if ! command -v "$command" >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "$@" >/dev/null
  fi
}
