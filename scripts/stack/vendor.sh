# shellcheck shell=bash
# Supabase's own sources at pinned releases, used like a package cache: the archive from
# ../shared/vendor when it is there (its sha256 checked), otherwise the same tag fetched from
# GitHub with its commit checked, then `git archive` of the same paths. Nothing here is copied
# into this repository; archives are unpacked under "$STACK_DIR/vendor".
#
# Sourced by scripts/stack.sh. Defines: vendor_dir NAME (prints the unpacked folder).

# name|archive|repository|tag|commit|sha256 of the archive|paths taken by git archive
_VENDOR_PINS='
postgres|supabase-postgres-15.8.1.004-migrations.tar.gz|supabase/postgres|15.8.1.004|d4709ba1ca6e5881f65265578f8fec124bb34bd0|8c6fc184711f7633b3ffe95046e6d508624c6abedac3d5dd9fa8e0ede364b58f|migrations ansible/files/postgresql_config ansible/files/postgresql_extension_custom_scripts
auth|supabase-auth-v2.196.0-migrations.tar.gz|supabase/auth|v2.196.0|0204331ca41a5b49f076b6fa3dc6c0d20b996590|806e4b4ada41329135c9693b3840ca27e523d6060e77b8e5d5ca80bce722f2be|migrations
supautils|supabase-supautils-v3.4.0.tar.gz|supabase/supautils|v3.4.0|7e8cfb7ec62a674a7bb28cbbf78b9612838b8468|5d1468736d432e56b685a998ec6f0636c3d381497e50ea4960f2a73eb8a24362|
pg_cron|pg_cron-v1.6.4.tar.gz|citusdata/pg_cron|v1.6.4|9490f9cc9803f75105f2f7d89839a998f011f8d8|4e798bead5eb799e625c067f434b4efa762a31bdb9065a1d13020b923d055ccd|
pgjwt|pgjwt-f3d82fd.tar.gz|michelp/pgjwt|f3d82fd30151e754e19ce5d6a06c71c20689ce3d|f3d82fd30151e754e19ce5d6a06c71c20689ce3d|f24eb9ecd99324b8639e271891a8108bcc37e58c32d794433278a281794e014d|
pg_net|supabase-pg_net-v0.20.5.tar.gz|supabase/pg_net|v0.20.5|a8299b11182ea5c974f5e89ae83e70e9e44e9e8f|f70ec7198035193c2e62339356067e3b04f29fec36a28e28fc5d3842619c0cca|
vault|supabase-vault-v0.3.1.tar.gz|supabase/vault|v0.3.1|6e0cd916242d922a646e4d611cc215e09dd429f4|e2d1b917ab080ea00f247ae791061c13634cbc6063473ba46315ead9d4e54710|
storage|supabase-storage-v1.70.6.tar.gz|supabase/storage|v1.70.6|4fa61fba9371c4bd40cbb81509f07bcb3af21683|833a6b6eaaa2964412ba23e9da02c766c4445c84f429bed0550035925b345896|
'

_vendor_pin() {
  local line
  line=$(printf '%s\n' "$_VENDOR_PINS" | grep "^$1|") || { echo "vendor: unknown source '$1'" >&2; return 1; }
  printf '%s\n' "$line"
}

# The shared folder beside the project (../shared from the repository root), if any.
_vendor_shared() { printf '%s/../shared/vendor' "$ROOT"; }

# _vendor_fetch ARCHIVE REPO TAG COMMIT PATHS: the same archive from GitHub, commit checked.
_vendor_fetch() {
  local archive="$1" repo="$2" tag="$3" commit="$4" paths="$5" tmp got prefix
  command -v git >/dev/null || { echo "vendor: git is needed to fetch $repo" >&2; return 1; }
  tmp=$(mktemp -d)
  echo "vendor: fetching $repo at $tag" >&2
  git -C "$tmp" init -q && git -C "$tmp" fetch -q --depth 1 "https://github.com/$repo.git" "$tag" \
    || { rm -rf "$tmp"; echo "vendor: could not fetch $repo $tag (no ../shared/vendor/$archive and no network)" >&2; return 1; }
  got=$(git -C "$tmp" rev-parse FETCH_HEAD)
  if [ "$got" != "$commit" ]; then
    rm -rf "$tmp"
    echo "vendor: $repo $tag resolves to $got, not the pinned $commit: refusing it" >&2
    return 1
  fi
  prefix="$(_vendor_folder "$archive")/"
  # shellcheck disable=SC2086
  git -C "$tmp" archive --format=tar.gz --prefix="$prefix" "$got" $paths >"$STACK_DIR/vendor/$archive"
  rm -rf "$tmp"
}

# The folder an archive unpacks to: its name without ".tar.gz" and a "-migrations" suffix
# (archives of only some paths are named so, but keep the repository's prefix).
_vendor_folder() { local f="${1%.tar.gz}"; printf '%s\n' "${f%-migrations}"; }

# vendor_dir NAME: unpacks the pinned source once and prints its folder.
vendor_dir() {
  local pin name archive repo tag commit sha paths src dest
  pin=$(_vendor_pin "$1") || return 1
  IFS='|' read -r name archive repo tag commit sha paths <<<"$pin"
  dest="$STACK_DIR/vendor/$(_vendor_folder "$archive")"
  if [ ! -f "$dest/.unpacked" ]; then
    mkdir -p "$STACK_DIR/vendor"
    src="$(_vendor_shared)/$archive"
    if [ -f "$src" ]; then
      if [ "$(sha256sum "$src" | cut -d' ' -f1)" != "$sha" ]; then
        echo "vendor: $src does not have the pinned sha256 $sha: refusing it" >&2
        return 1
      fi
    else
      src="$STACK_DIR/vendor/$archive"
      [ -f "$src" ] || _vendor_fetch "$archive" "$repo" "$tag" "$commit" "$paths" || return 1
    fi
    rm -rf "$dest"
    tar -xzf "$src" -C "$STACK_DIR/vendor" || { echo "vendor: could not unpack $src" >&2; return 1; }
    [ -d "$dest" ] || { echo "vendor: $src did not unpack to ${dest##*/}" >&2; return 1; }
    touch "$dest/.unpacked"
  fi
  printf '%s\n' "$dest"
}
