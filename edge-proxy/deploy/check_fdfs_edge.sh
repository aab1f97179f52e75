#!/bin/sh
# keepalived vrrp_script for fdfs-edge (keepalived.conf names it twice):
#   check_fdfs_edge.sh alive  exit 0 while the edge process answers /healthz within 1 s (a crashed
#                             or hung edge fails: keepalived's FAULT check)
#   check_fdfs_edge.sh ready  exit 0 while the edge is ready to take traffic (every listener bound,
#                             cache writable, a healthy storage, not draining): the priority check
# Installed by the fdfs-edge package under /usr/share/doc/fdfs-edge/examples/; copy it to
# /etc/keepalived/ (root-owned, not writable by others: enable_script_security).
# FDFS_EDGE_BIN and FDFS_EDGE_CONF (in keepalived's environment) override the binary and the
# configuration. `timeout` guards against anything slower than the check's own deadline.
bin=${FDFS_EDGE_BIN:-/usr/sbin/fdfs-edge}
conf=${FDFS_EDGE_CONF:-/etc/fdfs-edge/edge.toml}
case "${1:-ready}" in
alive) exec timeout 2 "$bin" check --alive --timeout 1s -c "$conf" >/dev/null ;;
ready) exec timeout 4 "$bin" check --timeout 3s -c "$conf" >/dev/null ;;
*)
	echo "usage: $0 [alive|ready]" >&2
	exit 2
	;;
esac
