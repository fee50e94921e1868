#!/usr/bin/env bash
# Builds the Debian packages from the built project (dist/) with dpkg-deb: upgrade-agent, and upgrade-agent-node (a Node.js for Debian 12).
#   scripts/package.sh [OUT_DIR]      (default: .cache/package; npm run package builds dist/ first)
# Offline: production node_modules are a copy of node_modules pruned by `npm prune --omit=dev --offline`.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mkdir -p "${1:-.cache/package}" && cd "${1:-.cache/package}" && pwd)
work=$out/work
rm -rf "$work"
mkdir -p "$work"

version=$(node -p 'require("./package.json").version')
# Reproducible: file times and the changelog date are the last commit's.
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
export SOURCE_DATE_EPOCH
[ -f dist/src/cli/upgradectl.js ] || { echo "package: dist/ is missing: run npm run build first" >&2; exit 1; }

# --- production node_modules ---------------------------------------------------------------------------------------
prod=$work/prod
mkdir -p "$prod"
cp package.json package-lock.json "$prod/"
# node_modules/. : a worktree's node_modules may be a symlink to the main one.
mkdir -p "$prod/node_modules"
cp -a node_modules/. "$prod/node_modules/"
(cd "$prod" && npm prune --omit=dev --offline --ignore-scripts --no-audit --no-fund >/dev/null)
rm -rf "$prod/node_modules/.bin" "$prod/node_modules/.package-lock.json" "$prod/node_modules/.ua-lock-sha"
# better-sqlite3 needs only its JavaScript and the built addon (not the SQLite sources, objects or the test extension).
b3=$prod/node_modules/better-sqlite3
find "$b3/build" -mindepth 1 -maxdepth 1 ! -name Release -exec rm -rf {} +
find "$b3/build/Release" -mindepth 1 -maxdepth 1 ! -name better_sqlite3.node -exec rm -rf {} +
rm -rf "$b3/deps" "$b3/src" "$b3/binding.gyp"
strip --strip-unneeded --remove-section=.comment --remove-section=.note "$b3/build/Release/better_sqlite3.node"
# What a runtime never reads, and what lintian rightly objects to in /usr/lib: docs, sources maps, type declarations,
# licence files (their texts go into the copyright file), dotfiles, executable bits on data.
licenses=$work/licenses.txt
: >"$licenses"
for pj in $(find "$prod/node_modules" -name package.json -path '*/node_modules/*/package.json' -not -path '*/node_modules/*/node_modules/*/*/package.json' | sort); do
  d=$(dirname "$pj")
  name=$(node -p "require('$pj').name ?? ''")
  if [ -z "$name" ] || [ "$(basename "$d")" != "$(basename "$name")" ]; then continue; fi
  lic=$(node -p "(l => typeof l === 'string' ? l : (l && l.type) || 'see upstream')(require('$pj').license)")
  printf 'Files: usr/lib/upgrade-agent/node_modules/%s/*\nCopyright: the %s authors\nLicense: %s\n\n' "$name" "$name" "$lic" >>"$work/copyright-files"
  # Licences that Debian ships in /usr/share/common-licenses are referred to there, not copied.
  case $lic in Apache-2.0 | GPL* | LGPL* | MPL-2.0) continue ;; esac
  for f in "$d"/LICENSE* "$d"/LICENCE* "$d"/license*; do
    [ -f "$f" ] && { printf '%s (%s):\n' "$name" "${f##*/}"; sed 's/^/ /; s/^ $/ ./' "$f"; printf '\n'; } >>"$licenses"
  done
done
find "$prod/node_modules" \( -iname 'LICENSE*' -o -iname 'LICENCE*' -o -iname '*.md' -o -iname '*.markdown' -o -name '*.map' \
  -o -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' -o -name '.*' -o -iname 'CHANGELOG*' -o -iname 'AUTHORS*' \
  -o -name '*.html' -o -name '*.sh' \) -type f -delete
find "$prod/node_modules" -depth -type d \( -name test -o -name tests -o -name benchmarks -o -name docs -o -name '.*' \) -exec rm -rf {} +
find "$prod/node_modules" -type f -exec chmod 0644 {} +
find "$prod/node_modules" -type d -empty -delete

# --- upgrade-agent ---------------------------------------------------------------------------------------------------
root=$work/upgrade-agent
lib=$root/usr/lib/upgrade-agent
doc=$root/usr/share/doc/upgrade-agent
mkdir -p "$lib" "$root/usr/bin" "$root/usr/lib/systemd/system" "$root/usr/lib/systemd/catalog" \
  "$root/usr/share/initramfs-tools/hooks" "$root/usr/share/initramfs-tools/scripts/local-bottom" \
  "$root/usr/share/upgrade-agent/grub.d" "$doc/examples" "$root/usr/share/man/man1" "$root/DEBIAN"
cp -a dist/src "$lib/dist-src"
mkdir -p "$lib/dist" && mv "$lib/dist-src" "$lib/dist/src"
find "$lib/dist" -name '*.map' -delete
find "$lib/dist" -type f -exec chmod 0644 {} +
# /usr/bin/upgradectl runs it with the chosen node: no `#!/usr/bin/env node` (the line stays, so line numbers do).
sed -i '1s|^#!.*|// Run by /usr/bin/upgradectl.|' "$lib/dist/src/cli/upgradectl.js"
node -e 'const p=require("./package.json"); process.stdout.write(JSON.stringify({name:p.name,version:p.version,type:p.type,license:p.license},null,2)+"\n")' >"$lib/package.json"
mv "$prod/node_modules" "$lib/node_modules"
install -m 0755 packaging/upgradectl "$root/usr/bin/upgradectl"
install -m 0644 systemd/upgrade-agent.service systemd/upgrade-agent-confirm.service "$root/usr/lib/systemd/system/"
install -m 0644 systemd/upgrade-agent.catalog "$root/usr/lib/systemd/catalog/"
install -m 0755 initramfs-hooks/hooks/upgrade-agent "$root/usr/share/initramfs-tools/hooks/upgrade-agent"
install -m 0755 initramfs-hooks/scripts/local-bottom/upgrade-agent "$root/usr/share/initramfs-tools/scripts/local-bottom/upgrade-agent"
install -m 0755 grub.d/09_upgrade_agent "$root/usr/share/upgrade-agent/grub.d/09_upgrade_agent"
install -m 0644 packaging/config.example.json "$doc/examples/config.json"
install -m 0644 packaging/server.example.json "$doc/examples/server.json"
install -m 0644 README.md "$doc/README.md"
mkdir -p "$doc/docs" && install -m 0644 docs/*.md "$doc/docs/"
bash scripts/package-doc.sh "$root" "$version" "$work/copyright-files" "$licenses"
install -m 0755 packaging/deb/postinst packaging/deb/prerm packaging/deb/postrm "$root/DEBIAN/"
install -m 0644 packaging/deb/triggers "$root/DEBIAN/triggers"
mkdir -p "$root/usr/share/lintian/overrides"
install -m 0644 packaging/deb/lintian-overrides "$root/usr/share/lintian/overrides/upgrade-agent"

build_deb() { # ROOT CONTROL_TEMPLATE VERSION
  local r=$1 size
  find "$r" -path "$r/DEBIAN" -prune -o -type f -print0 | (cd "$r" && sed -z "s|^$r/||" | xargs -0 md5sum) >"$r/DEBIAN/md5sums"
  chmod 0644 "$r/DEBIAN/md5sums"
  size=$(du -sk --exclude=DEBIAN "$r" | cut -f1)
  sed "s/@VERSION@/$3/; s/@SIZE@/$size/" "$2" >"$r/DEBIAN/control"
  find "$r" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
  dpkg-deb --root-owner-group -Zxz --build "$r" "$out" >&2
}
rm -f "$out"/upgrade-agent_*.deb "$out"/upgrade-agent-node_*.deb
build_deb "$root" packaging/deb/control.in "$version"

# --- upgrade-agent-node: the build machine's Node.js, for Debian 12 (whose nodejs is 18) -----------------------------
node_bin=$(readlink -f "$(command -v node)")
node_version=$(node -p process.versions.node)
if ldd "$node_bin" | grep -q libnode; then
  echo "package: $node_bin links libnode (a distribution's shared build): no upgrade-agent-node" >&2
else
  nroot=$work/upgrade-agent-node
  mkdir -p "$nroot/usr/lib/upgrade-agent/node/bin" "$nroot/usr/share/doc/upgrade-agent-node" "$nroot/DEBIAN"
  install -m 0755 "$node_bin" "$nroot/usr/lib/upgrade-agent/node/bin/node"
  # .dynsym stays (addons link against node's symbols); only the debugging symbol table goes.
  strip --strip-unneeded "$nroot/usr/lib/upgrade-agent/node/bin/node"
  bash scripts/package-doc.sh --node "$nroot" "$node_version"
  mkdir -p "$nroot/usr/share/lintian/overrides"
  install -m 0644 packaging/deb/node-lintian-overrides "$nroot/usr/share/lintian/overrides/upgrade-agent-node"
  build_deb "$nroot" packaging/deb/node-control.in "$node_version"
fi
ls "$out"/*.deb
