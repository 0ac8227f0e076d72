# shellcheck shell=bash
# The Postgres extensions hosted Supabase runs and Debian does not ship (or ships older):
# supautils, pg_cron 1.6.4, pg_net, supabase_vault and pgjwt, built with PGXS against Debian's
# PostgreSQL 15 from the pinned sources (vendor.sh). Each is built once into a staging folder
# under "$STACK_DIR/build" and copied into PostgreSQL's folders whenever the installed files
# differ (an apt upgrade of postgresql-15 or postgresql-15-cron puts Debian's files back).
#
# Sourced by scripts/stack.sh. Defines: extensions_install.

_EXTENSIONS="supautils pg_cron pg_net vault pgjwt"
_PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config

# _extension_build NAME: builds NAME into $STACK_DIR/build/NAME/stage once.
_extension_build() {
  local name="$1" src work="$STACK_DIR/build/$1" log="$LOGS/build-$1.log"
  [ -f "$work/.built" ] && return 0
  src=$(vendor_dir "$name") || return 1
  rm -rf "$work" && mkdir -p "$work"
  cp -a "$src/." "$work/src"
  say "building $name with PGXS"
  # The build folder's path is mapped away so every checkout builds byte-identical files and
  # never replaces another checkout's installed copy for nothing.
  if ! (cd "$work/src" && make -j2 PG_CONFIG="$_PG_CONFIG" COPT="-ffile-prefix-map=$work/src=." >"$log" 2>&1 \
        && make install PG_CONFIG="$_PG_CONFIG" DESTDIR="$work/stage" >>"$log" 2>&1); then
    tail -n 20 "$log" >&2
    echo "stack: building $name failed; see $log" >&2
    return 1
  fi
  touch "$work/.built"
}

# _extension_copy NAME: puts every staged file in place under a new inode (copy beside it, then
# rename), so running servers, which have the old shared library mapped, keep their copy:
# rewriting a loaded .so in place crashes every cluster that uses it. Files already in place,
# byte for byte, are left alone.
_extension_copy() {
  local stage="$STACK_DIR/build/$1/stage" f tmp
  while IFS= read -r f; do
    cmp -s "$stage/$f" "/$f" && continue
    [ "$(id -u)" = 0 ] || { echo "stack: installing the $1 extension needs root" >&2; return 1; }
    mkdir -p "$(dirname "/$f")"
    tmp="/$f.lifeboat-new.$$"
    cp "$stage/$f" "$tmp" && chmod 644 "$tmp" && mv -f "$tmp" "/$f" || { rm -f "$tmp"; return 1; }
  done < <(cd "$stage" && find . -type f | sed 's|^\./||')
}

extensions_install() {
  local name
  for name in $_EXTENSIONS; do
    _extension_build "$name" || return 1
    _extension_copy "$name" || { echo "stack: could not install the $name extension" >&2; return 1; }
  done
}
