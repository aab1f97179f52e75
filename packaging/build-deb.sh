#!/usr/bin/env bash
# Builds the project's Debian packages into build/deb/ with dpkg-deb and hand-written control files.
#
#   packaging/build-deb.sh            (what `make deb` runs, after the release build and `make module`)
#
# Why dpkg-deb rather than cargo-deb: one of the three packages is an nginx module built by `make module`,
# not a cargo binary, and all three need Debian maintainer scripts written the way Debian's own packages
# have them (dh_nginx's module links, adduser, deb-systemd-helper); a small script keeps every installed
# path visible in one place and needs nothing beyond dpkg-dev.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PKG_DIR=$ROOT/packaging
OUT=$ROOT/build/deb
STAGE=$ROOT/build/deb-stage
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
MODULE_SO=${MODULE_SO:-$ROOT/build/modules/ngx_http_fastdfs_module.so}

die() { echo "build-deb: $*" >&2; exit 1; }

VERSION=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version *= *"\(.*\)"/\1/p' Cargo.toml)
[ -n "$VERSION" ] || die "no [workspace.package] version in Cargo.toml"
ARCH=$(dpkg --print-architecture)
# Who answers for the packages a site builds; set DEB_MAINTAINER to your team's address.
MAINTAINER=${DEB_MAINTAINER:-fastdfs-rs developers <fastdfs-rs@example.org>}
# The nginx ABI the module was built against: the virtual package Debian's nginx provides (nginx-abi-X-Y).
# Read from the nginx installed on the build machine, whose source tree (nginx-dev) the module was built with.
NGINX_ABI=$(dpkg-query -W -f='${Provides}' nginx 2>/dev/null | tr ',' '\n' | grep -o 'nginx-abi-[^ ]*' | head -1) ||
	true
[ -n "$NGINX_ABI" ] || die "the installed nginx package provides no nginx-abi-* (is Debian's nginx installed?)"

for f in "$TARGET_DIR/release/fdfs-edge" "$TARGET_DIR/release/fdfs" "$MODULE_SO"; do
	[ -f "$f" ] || die "$f is missing: run 'make deb' (it builds the release binaries and the module first)"
done

rm -rf "$STAGE" && mkdir -p "$STAGE" "$OUT"
rm -f "$OUT"/*.deb

# shlibs:Depends of the given ELF files, as dpkg-shlibdeps computes it (it wants a debian/control beside it).
shlib_depends() {
	local tmp
	tmp=$(mktemp -d)
	mkdir -p "$tmp/debian"
	printf 'Source: fastdfs-rs\n\nPackage: x\nArchitecture: any\n' >"$tmp/debian/control"
	local abs=()
	for f in "$@"; do abs+=("$(realpath "$f")"); done
	(cd "$tmp" && dpkg-shlibdeps -O "${abs[@]}" 2>/dev/null) | sed -n 's/^shlibs:Depends=//p'
	rm -rf "$tmp"
}

# install_bin SRC DEST: a stripped copy, as dh_strip leaves binaries in Debian packages.
install_bin() {
	install -D -m 0755 "$1" "$2"
	strip --strip-unneeded --remove-section=.comment --remove-section=.note "$2"
}

# install_doc PKG ROOT: copyright and changelog where Debian policy puts them.
install_doc() {
	local doc="$2/usr/share/doc/$1"
	install -D -m 0644 "$PKG_DIR/copyright" "$doc/copyright"
	sed -e "s/@VERSION@/$VERSION/" -e "s/@PACKAGE@/$1/" -e "s|@MAINTAINER@|$MAINTAINER|" "$PKG_DIR/changelog" |
		gzip -9n >"$doc/changelog.gz"
	chmod 0644 "$doc/changelog.gz"
}

# finish PKG ROOT DEPENDS: control file (with Installed-Size), md5sums, maintainer scripts, then the .deb.
finish() {
	local pkg=$1 root=$2 depends=$3
	mkdir -p "$root/DEBIAN"
	for s in preinst postinst prerm postrm conffiles; do
		[ -f "$PKG_DIR/$pkg/$s" ] || continue
		if [ "$s" = conffiles ]; then
			install -m 0644 "$PKG_DIR/$pkg/$s" "$root/DEBIAN/$s"
		else
			install -m 0755 "$PKG_DIR/$pkg/$s" "$root/DEBIAN/$s"
		fi
	done
	(cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z |
		xargs -0r md5sum >DEBIAN/md5sums)
	chmod 0644 "$root/DEBIAN/md5sums"
	local size
	size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
	sed -e "s/@VERSION@/$VERSION/" -e "s/@ARCH@/$ARCH/" -e "s/@DEPENDS@/$depends/" -e "s|@MAINTAINER@|$MAINTAINER|" \
		-e "s/@SIZE@/$size/" "$PKG_DIR/$pkg/control" >"$root/DEBIAN/control"
	dpkg-deb --root-owner-group -Zxz --build "$root" "$OUT/${pkg}_${VERSION}_${ARCH}.deb" >/dev/null
	echo "build-deb: $OUT/${pkg}_${VERSION}_${ARCH}.deb"
}

# Files are staged with the umask Debian expects (0644 files, 0755 directories).
umask 022

build_module() {
	local pkg=libnginx-mod-http-fastdfs root=$STAGE/libnginx-mod-http-fastdfs
	install -D -m 0644 "$MODULE_SO" "$root/usr/lib/nginx/modules/ngx_http_fastdfs_module.so"
	strip --strip-unneeded --remove-section=.comment --remove-section=.note \
		"$root/usr/lib/nginx/modules/ngx_http_fastdfs_module.so"
	install -D -m 0644 "$PKG_DIR/$pkg/mod-http-fastdfs.conf" \
		"$root/usr/share/nginx/modules-available/mod-http-fastdfs.conf"
	local ex="$root/usr/share/doc/$pkg/examples"
	install -D -m 0644 nginx-conf/storage/mod_fastdfs.conf "$ex/mod_fastdfs.conf"
	install -D -m 0644 nginx-conf/storage/http.conf "$ex/http.conf"
	install -D -m 0644 nginx-conf/storage/nginx.conf "$ex/nginx.conf"
	install -D -m 0644 "$PKG_DIR/$pkg/storage-location.conf" "$ex/storage-location.conf"
	install_doc "$pkg" "$root"
	finish "$pkg" "$root" "$NGINX_ABI, $(shlib_depends "$root/usr/lib/nginx/modules/ngx_http_fastdfs_module.so")"
}

build_tools() {
	local pkg=fdfs-tools root=$STAGE/fdfs-tools
	install_bin "$TARGET_DIR/release/fdfs" "$root/usr/bin/fdfs"
	"$root/usr/bin/fdfs" generate-docs "$STAGE/fdfs-docs" >/dev/null
	local f
	for f in "$STAGE"/fdfs-docs/man/*.1; do
		mkdir -p "$root/usr/share/man/man1"
		gzip -9n <"$f" >"$root/usr/share/man/man1/$(basename "$f").gz"
	done
	install -D -m 0644 "$STAGE/fdfs-docs/completions/fdfs.bash" "$root/usr/share/bash-completion/completions/fdfs"
	install -D -m 0644 "$STAGE/fdfs-docs/completions/_fdfs" "$root/usr/share/zsh/vendor-completions/_fdfs"
	install -D -m 0644 "$STAGE/fdfs-docs/completions/fdfs.fish" \
		"$root/usr/share/fish/vendor_completions.d/fdfs.fish"
	install_doc "$pkg" "$root"
	finish "$pkg" "$root" "$(shlib_depends "$root/usr/bin/fdfs")"
}

build_edge() {
	local pkg=fdfs-edge root=$STAGE/fdfs-edge
	install_bin "$TARGET_DIR/release/fdfs-edge" "$root/usr/sbin/fdfs-edge"
	install -D -m 0644 edge-proxy/deploy/edge.toml "$root/etc/fdfs-edge/edge.toml"
	install -D -m 0644 "$PKG_DIR/$pkg/fdfs-edge.service" "$root/lib/systemd/system/fdfs-edge.service"
	install -D -m 0644 "$PKG_DIR/$pkg/fdfs-edge.logrotate" "$root/etc/logrotate.d/fdfs-edge"
	mkdir -p "$root/usr/share/man/man8"
	gzip -9n <"$PKG_DIR/$pkg/fdfs-edge.8" >"$root/usr/share/man/man8/fdfs-edge.8.gz"
	local ex="$root/usr/share/doc/$pkg/examples"
	install -D -m 0644 edge-proxy/deploy/keepalived.conf "$ex/keepalived.conf"
	install -D -m 0755 edge-proxy/deploy/check_fdfs_edge.sh "$ex/check_fdfs_edge.sh"
	install -D -m 0644 edge-proxy/README.md "$root/usr/share/doc/$pkg/README.md"
	install_doc "$pkg" "$root"
	finish "$pkg" "$root" "adduser, $(shlib_depends "$root/usr/sbin/fdfs-edge")"
}

build_module
build_tools
build_edge
