# scripts/lab.d/nspawn.sh — the default lab kind: systemd-nspawn hosts (see scripts/lab). Sourced.
# Workarounds per ../shared/reference/test-hosts.md: nsenter (not ip netns exec), --register=no,
# SYSTEMD_SECCOMP=0, writable v1 cgroups, a child cgroup per host, modprobe of built-ins via depmod.
HOSTS=$LAB_DIR/hosts

nspawn_up() {
  local n=$1 i name addr lo
  [ "$n" -ge 1 ] && [ "$n" -le 40 ] || die "nspawn lab: N must be 1..40 (got $n)"
  ensure_pkgs debootstrap:debootstrap systemd-nspawn:systemd-container socat:socat \
    /usr/sbin/apt-cacher-ng:apt-cacher-ng ssh-keygen:openssh-client nsenter:util-linux ip:iproute2
  lab_key
  local base; base=$(base_rootfs nspawn "")
  netns_up
  apt_proxy_up
  : >"$LAB_DIR/known_hosts.tmp"
  for i in $(seq 1 "$n"); do
    name=lab-$i; addr=$NET.$((10 + i)); lo=127.0.77.$((10 + i))
    host_up "$base" "$name" "$addr" "$i"
    relay_ssh "$name" "$addr" "$lo" "$LAB_DIR/known_hosts.tmp" "$HOSTS/$name/merged/etc/ssh/ssh_host_ed25519_key.pub"
  done
  mv "$LAB_DIR/known_hosts.tmp" "$LAB_DIR/known_hosts"
  for i in $(seq 1 "$n"); do wait_ssh "127.0.77.$((10 + i))" "lab-$i" "$LAB_DIR/known_hosts" 60; done
  write_lab_inventory "$(( n < 3 ? n : 3 ))"
  log "$n nspawn hosts ready; inventory: $REPO/inventory/lab.toml (lab-1..3; further hosts are for tests)"
}

host_up() {   # host_up BASE NAME ADDR INDEX
  local base=$1 name=$2 addr=$3 i=$4 H=$HOSTS/$2
  if alive "nspawn-$name"; then return 0; fi
  mkdir -p "$H/upper" "$H/work" "$H/merged"
  mountpoint -q "$H/merged" || mount -t overlay overlay -o "lowerdir=$base,upperdir=$H/upper,workdir=$H/work" "$H/merged"
  local M=$H/merged
  echo "$name" >"$M/etc/hostname"
  printf '127.0.0.1 localhost\n127.0.1.1 %s\n::1 localhost ip6-localhost ip6-loopback\n' "$name" >"$M/etc/hosts"
  mkdir -p "$M/etc/systemd/network" "$M/etc/systemd/system/sysinit.target.wants"
  printf '[Match]\nName=host0\n[Network]\nAddress=%s/24\nGateway=%s\n' "$addr" "$NET.1" >"$M/etc/systemd/network/10-host0.network"
  cat >"$M/etc/systemd/system/cgroup-v1-rw.service" <<'UNIT'
[Unit]
Description=Remount cgroup v1 controllers read-write (groundup nspawn test host)
DefaultDependencies=no
Before=sysinit.target containerd.service
[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/sh -c 'mount -o remount,rw /sys/fs/cgroup; for c in cpu cpuacct cpuset memory devices freezer blkio pids; do umount /sys/fs/cgroup/$c; mount -t cgroup -o $c cgroup /sys/fs/cgroup/$c; done'
UNIT
  ln -sf /etc/systemd/system/cgroup-v1-rw.service "$M/etc/systemd/system/sysinit.target.wants/cgroup-v1-rw.service"
  local kv; kv=$(uname -r)
  mkdir -p "$M/lib/modules/$kv"
  printf '%s\n' kernel/fs/overlayfs/overlay.ko kernel/net/bridge/br_netfilter.ko kernel/drivers/net/vxlan/vxlan.ko \
    kernel/net/netfilter/nf_conntrack.ko kernel/net/bridge/bridge.ko kernel/net/ipv4/ip_tables.ko >"$M/lib/modules/$kv/modules.builtin"
  : >"$M/lib/modules/$kv/modules.order"
  chroot "$M" depmod "$kv" 2>/dev/null || true
  [ -f "$M/etc/ssh/ssh_host_ed25519_key" ] || ssh-keygen -q -t ed25519 -N '' -C "$name" -f "$M/etc/ssh/ssh_host_ed25519_key"
  authorize_key "$M"
  start_bg "nspawn-$name" bash "$REPO/scripts/lab.d/nspawn-launch.sh" "$name" "$M" "$i"
}

write_lab_inventory() {
  local n=$1 i roles
  {
    echo "# Written by scripts/lab up: $n systemd-nspawn Debian 12 hosts. SSH goes to loopback relays;"
    echo "# internal_address is each host's address on the lab bridge (what the cluster uses)."
    echo "[cluster]"
    echo "name = \"lab\""
    echo "kubernetes_version = \"1.36.3\""
    echo "pod_subnet = \"10.244.0.0/16\""
    echo "service_subnet = \"10.96.0.0/12\""
    echo "dns_domain = \"cluster.local\""
    echo ""
    echo "[ssh]"
    echo "user = \"root\""
    echo "port = 2200"
    echo "identity_file = \"$LAB_DIR/ssh/id_ed25519\""
    echo "known_hosts = \"$LAB_DIR/known_hosts\""
    echo ""
    echo "# The lab reaches Debian's mirror through apt-cacher-ng only, so containerd comes from Debian"
    echo "# (1.6.20 runs kubelet up to 1.36, with a warning that its CRI fallback ends in 1.37; 1.37 needs containerd 2.x)."
    echo "[container_runtime]"
    echo "source = \"os\""
    for i in $(seq 1 "$n"); do
      if [ "$i" = 1 ]; then roles='["control-plane", "etcd"]'; else roles='["worker"]'; fi
      echo ""
      echo "[[hosts]]"
      echo "name = \"lab-$i\""
      echo "address = \"127.0.77.$((10 + i))\""
      echo "internal_address = \"$NET.$((10 + i))\""
      echo "roles = $roles"
    done
  } >"$REPO/inventory/lab.toml.tmp"
  # Renamed into place: tests read it while a reset rewrites it.
  mv -f "$REPO/inventory/lab.toml.tmp" "$REPO/inventory/lab.toml"
}

# Pulls the plug: SIGKILL to the container's init (nspawn's child) ends its whole PID namespace at
# once, like a power cut; killing nspawn alone would orphan the container. Its SSH relays go too,
# with their per-connection children, so open sessions see the connection drop at once (a dead
# peer sends no reset here, and keepalives would take 45 s).
nspawn_kill() {
  local name=$1 f=$RUN/nspawn-$1.pid pid r rp c
  [ -f "$f" ] && alive "nspawn-$name" || { log "$name is not running"; return 0; }
  pid=$(cut -d' ' -f1 "$f")
  for c in $(pgrep -P "$pid"); do kill -KILL "$c" 2>/dev/null || true; done
  for r in "relay-ssh-$name-ns" "relay-ssh-$name-host"; do
    [ -f "$RUN/$r.pid" ] || continue
    rp=$(cut -d' ' -f1 "$RUN/$r.pid")
    for c in $(pgrep -P "$rp"); do kill -KILL "$c" 2>/dev/null || true; done
    stop_pid "$r"
  done
  for _ in $(seq 1 50); do alive "nspawn-$name" || break; sleep 0.1; done
  stop_pid "nspawn-$name"
  log "$name killed (its disk is kept; scripts/lab up starts it again)"
}

# Back to the base image: the host's overlay upper layer is removed (new host key on next start).
nspawn_wipe() {
  local H=$HOSTS/$1
  if mountpoint -q "$H/merged"; then umount "$H/merged" || umount -l "$H/merged"; fi
  rm -rf "$H"
  log "$1 wiped"
}

# How many nspawn hosts the lab has (the highest lab-N with a pid file).
nspawn_count() {
  local f n max=0
  for f in "$RUN"/nspawn-lab-*.pid "$HOSTS"/lab-*; do
    [ -e "$f" ] || continue
    n=$(basename "$f" .pid); n=${n##*-}
    [ "$n" -gt "$max" ] && max=$n
  done
  echo "$max"
}

nspawn_down() {
  local f name
  for f in "$RUN"/nspawn-*.pid; do
    [ -e "$f" ] || continue
    name=$(basename "$f" .pid); name=${name#nspawn-}
    stop_pid "nspawn-$name"
  done
  for f in "$HOSTS"/*/merged; do
    [ -d "$f" ] || continue
    if mountpoint -q "$f"; then umount "$f" || umount -l "$f"; fi
  done
  rm -rf "$HOSTS"
  # the per-host child cgroups made by nspawn-launch.sh
  find /sys/fs/cgroup -depth -type d -name 'gulab-*' -exec rmdir {} \; 2>/dev/null || true
}
