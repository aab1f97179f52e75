#!/bin/sh
# keepalived vrrp_script for fdfs-edge: exit 0 while this node's edge is ready to take traffic
# (every listener bound, cache writable, a healthy storage, not draining), 1 otherwise.
# Installed by the fdfs-edge package under /usr/share/doc/fdfs-edge/examples/; copy it to
# /etc/keepalived/ and name it in keepalived.conf's vrrp_script.
# `fdfs-edge check` gives up after 3 s; `timeout` guards against anything slower.
exec timeout 4 /usr/sbin/fdfs-edge check -c "${FDFS_EDGE_CONF:-/etc/fdfs-edge/edge.toml}" >/dev/null
