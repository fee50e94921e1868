#!/usr/bin/env bash
# Writes a package's /usr/share/doc (copyright, changelog.gz) and, for upgrade-agent, its man page (from --help).
#   package-doc.sh ROOT VERSION COPYRIGHT_FILES LICENSE_TEXTS     (upgrade-agent)
#   package-doc.sh --node ROOT NODE_VERSION                       (upgrade-agent-node)
# Called by scripts/package.sh, with SOURCE_DATE_EPOCH set.
set -euo pipefail
cd "$(dirname "$0")/.."

maint='upgrade-agent maintainers <maintainers@users.noreply.h-seed-e82d7735.example>'
rev=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
when=$(date -R -u -d "@$SOURCE_DATE_EPOCH")

changelog() { # PACKAGE VERSION WHAT DOC_DIR
  printf '%s (%s) unstable; urgency=medium\n\n  * %s\n\n -- %s  %s\n' "$1" "$2" "$3" "$maint" "$when" \
    | gzip -9n >"$4/changelog.gz"
  chmod 0644 "$4/changelog.gz"
}

if [ "$1" = --node ]; then
  root=$2 version=$3
  doc=$root/usr/share/doc/upgrade-agent-node
  changelog upgrade-agent-node "$version" "Node.js $version, from the machine that built upgrade-agent ($rev)." "$doc"
  {
    printf 'Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\nUpstream-Name: Node.js\n\n'
    printf 'Files: *\nCopyright: Node.js contributors and the authors of its bundled dependencies\nLicense: MIT and others\n'
    if [ -f /usr/share/doc/nodejs/LICENSE ]; then
      sed 's/^/ /; s/^ $/ ./' /usr/share/doc/nodejs/LICENSE
    else
      printf ' The Node.js licence, with those of its bundled dependencies, is the LICENSE file of\n the Node.js release %s.\n' "$version"
    fi
  } >"$doc/copyright"
  chmod 0644 "$doc/copyright"
  exit 0
fi

root=$1 version=$2 files=$3 texts=$4
doc=$root/usr/share/doc/upgrade-agent
changelog upgrade-agent "$version" "Built from the upgrade-agent repository at $rev." "$doc"
{
  printf 'Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\nUpstream-Name: upgrade-agent\n\n'
  printf 'Files: *\nCopyright: upgrade-agent maintainers\nLicense: MIT\n\n'
  cat "$files"
  printf 'License: MIT\n Permission is hereby granted, free of charge, to any person obtaining a copy of this\n'
  printf ' software and associated documentation files, to deal in the Software without restriction,\n'
  printf ' subject to the conditions of the MIT licence (the texts below).\n\n'
  printf 'Comment: the licence texts of the bundled node modules, as they ship them:\n'
  sed 's/^/ /; s/^ $/ ./' "$texts"
} >"$doc/copyright"
chmod 0644 "$doc/copyright"

# The man page: the command's own --help, verbatim (it is the reference; the README has the details).
help=$(node dist/src/cli/upgradectl.js --help | sed 's/\\/\\\\/g; s/^\./\\\&./; s/^'"'"'/\\\&'"'"'/')
{
  printf '.TH UPGRADECTL 1 "%s" "upgrade-agent %s" "User Commands"\n' "$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%d)" "$version"
  printf '.SH NAME\nupgradectl \\- on-device image upgrade agent and publisher tools\n'
  printf '.SH SYNOPSIS\n.nf\n%s\n.fi\n' "$help"
  printf '.SH DESCRIPTION\nThe service is \\fBupgradectl daemon\\fR (upgrade-agent.service); \\fBupgradectl confirm\\fR runs at every boot\n'
  printf '(upgrade-agent-confirm.service). Configuration: /etc/upgrade-agent/config.json; an example is in\n'
  printf '/usr/share/doc/upgrade-agent/examples/config.json, every key in /usr/share/doc/upgrade-agent/docs/configuration.md.\n'
  printf '.SH SEE ALSO\n/usr/share/doc/upgrade-agent/README.md\n'
} | gzip -9n >"$root/usr/share/man/man1/upgradectl.1.gz"
chmod 0644 "$root/usr/share/man/man1/upgradectl.1.gz"
