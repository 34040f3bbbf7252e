# Sourced by the set-up scripts: refuse a secret that is empty or still a change-me placeholder.
require_secret() {
  local name="$1" value="${!1:-}"
  if [ -z "${value// }" ]; then
    echo "refusing to start: $name is empty (set it in .env)" >&2; exit 2
  fi
  case "${value,,}" in
    change-me*) echo "refusing to start: $name is still a change-me placeholder" >&2; exit 2 ;;
  esac
}
