#!/usr/bin/env bash
# `make install`: the release binary, its man pages and shell completions, the systemd unit, the default config
# (only when none is there yet), the example configs, the demo's scenarios, the Grafana and Prometheus files and
# the docs, under DESTDIR + PREFIX.
#
#   PREFIX      default /usr/local (the .deb uses /usr)
#   DESTDIR     a staging root (default: none, the live system)
#   SYSCONFDIR  default /etc: `qballoon run` reads /etc/qballoon/qballoon.toml whatever the prefix
#   UNITDIR     default PREFIX/lib/systemd/system (systemd reads /usr/local/lib/systemd/system too)
#   BINARY      default .build/release/qballoon (`make release`)
#   MANUALS     a folder of generated man pages (default: made here with argument-parser's generate-manual)
#   CONFFILE    always|if-missing (default if-missing: an edited config is never replaced)
# `scripts/install.sh --uninstall` (make uninstall) takes it all away again but the config in SYSCONFDIR.
set -euo pipefail
cd "$(dirname "$0")/.."

PREFIX="${PREFIX:-/usr/local}"
DESTDIR="${DESTDIR:-}"
SYSCONFDIR="${SYSCONFDIR:-/etc}"
UNITDIR="${UNITDIR:-$PREFIX/lib/systemd/system}"
BINARY="${BINARY:-.build/release/qballoon}"
CONFFILE="${CONFFILE:-if-missing}"
SHARE="$PREFIX/share"
root="$DESTDIR"
log() { echo "install: $*"; }

if [ "${1:-}" = --uninstall ]; then
    rm -f "$root$PREFIX/bin/qballoon" "$root$SHARE/man/man1/"qballoon.*1.gz \
        "$root$SHARE/bash-completion/completions/qballoon" "$root$SHARE/zsh/vendor-completions/_qballoon" \
        "$root$SHARE/zsh/site-functions/_qballoon" \
        "$root$SHARE/fish/vendor_completions.d/qballoon.fish" "$root$UNITDIR/qballoon.service"
    rm -rf "$root$SHARE/qballoon" "$root$SHARE/doc/qballoon"
    log "removed qballoon from ${root:-}$PREFIX (kept $root$SYSCONFDIR/qballoon/qballoon.toml)"
    exit 0
fi

[ -x "$BINARY" ] || { echo "install: no binary at $BINARY: run \`make release\` first" >&2; exit 1; }

# The binary.
install -d "$root$PREFIX/bin"
install -m 0755 "$BINARY" "$root$PREFIX/bin/qballoon"

# Man pages, one per subcommand, made from the same help text `qballoon help` prints.
manuals="${MANUALS:-}"
if [ -z "$manuals" ]; then
    manuals="$(mktemp -d)"
    trap 'rm -rf "$manuals"' EXIT
    scripts/make-manuals.sh "$manuals"
fi
install -d "$root$SHARE/man/man1"
for page in "$manuals"/*.1; do
    gzip -9nc "$page" >"$root$SHARE/man/man1/$(basename "$page").gz"
    chmod 0644 "$root$SHARE/man/man1/$(basename "$page").gz"
done

# Completions, where each shell's own loader looks: bash-completion's and fish's folders under any prefix (both
# search every XDG data dir), zsh's vendor folder for packages (/usr) and site-functions for a local prefix (both
# in Debian's default $fpath).
zsh_dir="$SHARE/zsh/site-functions"
[ "$PREFIX" = /usr ] && zsh_dir="$SHARE/zsh/vendor-completions"
install -d "$root$SHARE/bash-completion/completions" "$root$zsh_dir" "$root$SHARE/fish/vendor_completions.d"
"$BINARY" --generate-completion-script bash >"$root$SHARE/bash-completion/completions/qballoon"
"$BINARY" --generate-completion-script zsh >"$root$zsh_dir/_qballoon"
"$BINARY" --generate-completion-script fish >"$root$SHARE/fish/vendor_completions.d/qballoon.fish"
chmod 0644 "$root$SHARE/bash-completion/completions/qballoon" "$root$zsh_dir/_qballoon" \
    "$root$SHARE/fish/vendor_completions.d/qballoon.fish"

# The systemd unit, pointing at this prefix's binary.
install -d "$root$UNITDIR"
sed "s|/usr/bin/qballoon|$PREFIX/bin/qballoon|g; s|/usr/share/doc/qballoon|$SHARE/doc/qballoon|g" \
    contrib/systemd/qballoon.service >"$root$UNITDIR/qballoon.service"
chmod 0644 "$root$UNITDIR/qballoon.service"

# The config: a commented default that watches and changes nothing.
install -d "$root$SYSCONFDIR/qballoon"
config="$root$SYSCONFDIR/qballoon/qballoon.toml"
if [ "$CONFFILE" = always ] || [ ! -e "$config" ]; then
    install -m 0644 contrib/qballoon.toml "$config"
else
    log "kept $config (the default is in $SHARE/qballoon/qballoon.toml)"
fi

# Where the default config's decision log goes (systemd's LogsDirectory= makes it too; `qballoon run` by hand needs it).
install -d -m 0750 "$root/var/log/qballoon"

# Shared files: the policies, the demo's scenarios, the recorded shape traces (`qballoon fleet` draws from them),
# dashboards and alerts, the default config for reference.
install -d "$root$SHARE/qballoon/configs" "$root$SHARE/qballoon/scenarios" "$root$SHARE/qballoon/traces" \
    "$root$SHARE/qballoon/grafana" "$root$SHARE/qballoon/prometheus"
install -m 0644 Configs/*.toml "$root$SHARE/qballoon/configs/"
install -m 0644 Fixtures/scenarios/*.json Fixtures/scenarios/README.md "$root$SHARE/qballoon/scenarios/"
install -m 0644 Fixtures/traces/*.trace Fixtures/traces/README.md "$root$SHARE/qballoon/traces/"
install -m 0644 contrib/grafana/qballoon.json "$root$SHARE/qballoon/grafana/"
install -m 0644 contrib/prometheus/alerts.yml "$root$SHARE/qballoon/prometheus/"
install -m 0644 contrib/qballoon.toml "$root$SHARE/qballoon/qballoon.toml"

# Docs.
install -d "$root$SHARE/doc/qballoon"
install -m 0644 README.md POLICY.md SECURITY.md "$root$SHARE/doc/qballoon/"

log "installed qballoon $("$BINARY" --version | head -1 | sed 's/^qballoon //') under ${root:-/}${root:+ }($PREFIX)"
