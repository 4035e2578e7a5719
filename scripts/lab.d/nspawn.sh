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
  inotify_room
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

# nspawn_start NAME...: starts only these hosts (a wiped one gets its new host key in known_hosts);
# every other host, running or killed, is left as it is.
nspawn_start() {
  local name i lo base kh=$LAB_DIR/known_hosts
  for name in "$@"; do [[ $name =~ ^lab-[0-9]+$ ]] || die "not an nspawn lab host: $name"; done
  base=$(base_rootfs nspawn "")
  netns_up
  apt_proxy_up
  touch "$kh"; cp "$kh" "$kh.tmp"
  for name in "$@"; do
    i=${name#lab-}; lo=127.0.77.$((10 + i))
    grep -v "^\[$lo\]:2200 " "$kh.tmp" >"$kh.tmp2" || true; mv "$kh.tmp2" "$kh.tmp"
    relays_kill "$name"
    host_up "$base" "$name" "$NET.$((10 + i))" "$i"
    relay_ssh "$name" "$NET.$((10 + i))" "$lo" "$kh.tmp" "$HOSTS/$name/merged/etc/ssh/ssh_host_ed25519_key.pub"
  done
  mv "$kh.tmp" "$kh"
  for name in "$@"; do i=${name#lab-}; wait_ssh "127.0.77.$((10 + i))" "$name" "$kh" 60; done
}

host_up() {   # host_up BASE NAME ADDR INDEX
  local base=$1 name=$2 addr=$3 i=$4 H=$HOSTS/$2
  if [ -n "$(host_pids "$name")" ]; then return 0; fi
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
  kubelet_ready "$M" "$H"
  local kv; kv=$(uname -r)
  mkdir -p "$M/lib/modules/$kv"
  printf '%s\n' kernel/fs/overlayfs/overlay.ko kernel/net/bridge/br_netfilter.ko kernel/drivers/net/vxlan/vxlan.ko \
    kernel/net/netfilter/nf_conntrack.ko kernel/net/bridge/bridge.ko kernel/net/ipv4/ip_tables.ko >"$M/lib/modules/$kv/modules.builtin"
  : >"$M/lib/modules/$kv/modules.order"
  chroot "$M" depmod "$kv" 2>/dev/null || true
  [ -f "$M/etc/ssh/ssh_host_ed25519_key" ] || ssh-keygen -q -t ed25519 -N '' -C "$name" -f "$M/etc/ssh/ssh_host_ed25519_key"
  authorize_key "$M"
  start_bg "nspawn-$name" bash "$REPO/scripts/lab.d/nspawn-launch.sh" "$name" "$M" "$i" "$H/containerd"
}

# The hosts share this machine's kernel and its per-user inotify limits: each host's systemd takes
# several instances, and containerd's CRI plugin fails to start without one ("failed to create
# fsnotify watcher: too many open files") once ~18 hosts run. Raised, never lowered, as kind does.
inotify_room() {
  local k want
  for k in max_user_instances:8192 max_user_watches:524288; do
    want=${k#*:}; k=/proc/sys/fs/inotify/${k%%:*}
    if [ "$(cat "$k")" -lt "$want" ]; then echo "$want" >"$k"; log "raised $k to $want (shared by every host)"; fi
  done
}

# What kubelet and containers need on an nspawn host, none of it needed (or made by groundup) on a
# real VM (issue 10): a nameserver (CoreDNS refuses to start without one; nothing answers on the
# bridge address, so lookups fail fast), /dev/kmsg (kubelet's OOM watcher; linked to /dev/console
# as kind does), the sysctl values kubelet insists on (read-only inside nspawn: files holding the
# wanted values are bind-mounted over them at boot), a real filesystem for /var/lib/containerd
# (overlayfs cannot stack on the host's overlay root; a folder on this machine's disk, bound in by
# nspawn-launch.sh, survives restarts), and a runc wrapper that clamps negative oomScoreAdj to 0
# (this machine has no CAP_SYS_RESOURCE, and runc fails with "can't get final child's PID").
kubelet_ready() {   # kubelet_ready ROOT HOSTDIR
  local M=$1 H=$2
  mkdir -p "$H/containerd"
  echo "nameserver $NET.1" >"$M/etc/resolv.conf"
  mkdir -p "$M/etc/tmpfiles.d"
  echo 'L /dev/kmsg - - - - /dev/console' >"$M/etc/tmpfiles.d/lab-kmsg.conf"
  cat >"$M/etc/systemd/system/lab-kubelet-sysctls.service" <<'UNIT'
[Unit]
Description=The sysctl values kubelet wants, over read-only /proc/sys (groundup nspawn test host)
DefaultDependencies=no
Before=sysinit.target kubelet.service
[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/sbin/lab-kubelet-sysctls
UNIT
  mkdir -p "$M/usr/local/sbin"
  cat >"$M/usr/local/sbin/lab-kubelet-sysctls" <<'SCRIPT'
#!/bin/sh
# Lab-only (scripts/lab): a writable file holding each value kubelet wants, bound over /proc/sys.
set -e
mkdir -p /run/lab-sysctl
for kv in vm/overcommit_memory=1 vm/panic_on_oom=0 kernel/panic=10 kernel/panic_on_oops=1; do
  k=${kv%%=*} f=/run/lab-sysctl/$(echo "${kv%%=*}" | tr / _)
  echo "${kv#*=}" >"$f"
  grep -q " /proc/sys/$k " /proc/self/mountinfo || mount --bind "$f" "/proc/sys/$k"
done
SCRIPT
  chmod 755 "$M/usr/local/sbin/lab-kubelet-sysctls"
  ln -sf /etc/systemd/system/lab-kubelet-sysctls.service "$M/etc/systemd/system/sysinit.target.wants/lab-kubelet-sysctls.service"
  cat >"$M/usr/local/sbin/runc" <<'WRAP'
#!/bin/bash
# Lab-only runc wrapper (scripts/lab): this machine cannot grant CAP_SYS_RESOURCE, so a negative
# oomScoreAdj in a bundle or process spec is clamped to 0; everything else goes to the real runc.
spec=() prev=
for a in "$@"; do
  case "$prev" in --bundle|-b) spec+=("$a/config.json");; --process|-p) spec+=("$a");; esac
  case "$a" in --bundle=*) spec+=("${a#--bundle=}/config.json");; --process=*) spec+=("${a#--process=}");; esac
  prev=$a
done
for f in "${spec[@]}"; do [ -f "$f" ] && sed -i -E 's/"oomScoreAdj": ?-[0-9]+/"oomScoreAdj":0/g' "$f"; done
for r in /usr/sbin/runc /usr/bin/runc; do [ -x "$r" ] && exec "$r" "$@"; done
echo "lab runc wrapper: no runc in /usr/sbin or /usr/bin" >&2; exit 127
WRAP
  chmod 755 "$M/usr/local/sbin/runc"
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
    echo ""
    echo "# Lab-only: nspawn hosts here boot with cgroup v1 and share this machine's kernel."
    echo "[kubelet]"
    echo "allow_cgroup_v1 = true"
    echo "[kube_proxy]"
    echo "conntrack_max_per_core = 0   # nf_conntrack_max cannot be set outside the initial network namespace"
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
# once, like a power cut; killing nspawn alone would orphan the container. The host is found by what
# runs (its cgroup, see host_pids), not by a pid file. Its SSH relays go too, with their
# per-connection children, so open sessions see the connection drop at once (a dead peer sends no
# reset here, and keepalives would take 45 s).
nspawn_kill() {
  local name=$1 pid c
  pid=$(host_nspawn_pid "$name")
  if [ -z "$pid" ] && [ -z "$(host_pids "$name")" ]; then log "$name is not running"; relays_kill "$name"; return 0; fi
  if [ -n "$pid" ]; then for c in $(pgrep -P "$pid"); do kill -KILL "$c" 2>/dev/null || true; done; fi
  relays_kill "$name"
  for _ in $(seq 1 50); do [ -z "$(host_pids "$name")" ] && break; kill -KILL $(host_pids "$name") 2>/dev/null || true; sleep 0.1; done
  [ -z "$(host_pids "$name")" ] || die "$name: processes still in cgroup gulab-$name after SIGKILL: $(host_pids "$name" | tr '\n' ' ')"
  # The kernel drops the host's veth once its namespace is cleaned up, which can take seconds: a
  # start before that fails with "Failed to add new veth interfaces ... File exists". Wait a
  # little, then remove it (its other end is in a dead namespace).
  for _ in $(seq 1 30); do nsenter --net="/run/netns/$NS" ip link show "vb-$name" >/dev/null 2>&1 || break; sleep 0.1; done
  nsenter --net="/run/netns/$NS" ip link del "vb-$name" 2>/dev/null || true
  rm -f "$RUN/nspawn-$name.pid"
  log "$name killed (its disk is kept; scripts/lab up starts it again)"
}
relays_kill() {   # the socat relays for NAME's sshd, found by the socket path in their command line
  local name=$1 p c
  for p in $(pgrep -f "$RUN/ssh-$name\.sock" || true); do
    for c in $(pgrep -P "$p"); do kill -KILL "$c" 2>/dev/null || true; done
    kill -KILL "$p" 2>/dev/null || true
  done
  rm -f "$RUN/relay-ssh-$name-ns.pid" "$RUN/relay-ssh-$name-host.pid"
}

# Back to the base image: the host's overlay upper layer is removed (new host key on next start).
nspawn_wipe() {
  local H=$HOSTS/$1
  if mountpoint -q "$H/merged"; then umount "$H/merged" || umount -l "$H/merged"; fi
  rm -rf "$H"
  log "$1 wiped"
}

# How many nspawn hosts the lab has: the highest lab-N that runs or has a disk.
nspawn_count() {
  local n max=0
  for n in $(running_hosts) $(ls "$HOSTS" 2>/dev/null); do
    n=${n##*-}; [ "$n" -gt "$max" ] && max=$n
  done
  echo "$max"
}

# Every host that runs (by cgroup) is killed, then the pid-file leftovers; mounts and cgroups go last.
nspawn_down() {
  local name f
  for name in $(running_hosts); do nspawn_kill "$name"; done
  for f in "$RUN"/nspawn-*.pid; do [ -e "$f" ] && stop_pid "$(basename "$f" .pid)"; done
  for f in "$HOSTS"/*/merged; do
    [ -d "$f" ] || continue
    if mountpoint -q "$f"; then umount "$f" || umount -l "$f"; fi
  done
  rm -rf "$HOSTS"
  # the per-host child cgroups made by nspawn-launch.sh
  find /sys/fs/cgroup -depth -type d -name 'gulab-*' -exec rmdir {} \; 2>/dev/null || true
}
