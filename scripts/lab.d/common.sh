# scripts/lab.d/common.sh — shared pieces of scripts/lab: logging, packages, PID files, the lab
# network namespace, the apt proxy relay and the cached base rootfs. Sourced, never run.
RUN=$LAB_DIR/run
mkdir -p "$LAB_DIR" "$RUN"
T0=$(date +%s%N)
log() { local t=$(( ($(date +%s%N) - T0) / 100000000 )); printf '[lab %d.%ds] %s\n' $((t / 10)) $((t % 10)) "$*" >&2; }
die() { echo "lab: error: $*" >&2; exit 1; }

ensure_pkgs() {   # ensure_pkgs CMD:PKG ...  installs the Debian packages whose command is missing
  local missing=() pair
  for pair in "$@"; do command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >"$LAB_DIR/apt-install.log" 2>&1 || {
    apt-get update -q >>"$LAB_DIR/apt-install.log" 2>&1
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >>"$LAB_DIR/apt-install.log" 2>&1 ||
      die "apt-get install ${missing[*]} failed; see $LAB_DIR/apt-install.log"; }
}

# A process is identified by its PID *and* its start time (field 22 of /proc/PID/stat), so a PID
# recycled after the lab's processes died (a reboot, a stopped session) is never taken for ours.
# A zombie (state Z: exited, not yet reaped by its parent) counts as gone.
starttime() { sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f20; }
running() { local st; st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1); [ -n "$st" ] && [ "$st" != Z ]; }

# start_bg NAME CMD...   start CMD in the background, recorded in $RUN/NAME.pid (no-op if alive)
start_bg() {
  local name=$1 pid; shift
  if alive "$name"; then return 0; fi
  nohup "$@" >"$RUN/$name.log" 2>&1 </dev/null 9>&- &   # 9: the lab lock, never inherited
  pid=$!
  echo "$pid $(starttime "$pid")" >"$RUN/$name.pid"
}
alive() {
  local pid st
  [ -f "$RUN/$1.pid" ] || return 1
  read -r pid st <"$RUN/$1.pid"
  [ -n "$pid" ] && [ -n "$st" ] && [ "$(starttime "$pid")" = "$st" ] && running "$pid"
}
# stop_pid NAME  ends the process recorded for NAME (TERM, then KILL after 5 s) and forgets it
stop_pid() {
  local f=$RUN/$1.pid pid
  [ -f "$f" ] || return 0
  pid=$(cut -d' ' -f1 "$f")
  if alive "$1"; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do running "$pid" || break; sleep 0.1; done
    if alive "$1"; then kill -KILL "$pid" 2>/dev/null || true; fi
  fi
  rm -f "$f"
}

lab_key() {
  mkdir -p "$LAB_DIR/ssh"; chmod 700 "$LAB_DIR/ssh"
  [ -f "$LAB_DIR/ssh/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C groundup-lab -f "$LAB_DIR/ssh/id_ed25519"
}

netns_up() {
  [ -e "/run/netns/$NS" ] || ip netns add "$NS"
  ip -n "$NS" link set lo up
  if ! ip -n "$NS" link show br0 >/dev/null 2>&1; then
    ip -n "$NS" link add br0 type bridge
    ip -n "$NS" addr add "$NET.1/24" dev br0
  fi
  ip -n "$NS" link set br0 up
}
netns_down() { if [ -e "/run/netns/$NS" ]; then ip netns del "$NS"; fi; }

# apt-cacher-ng on 127.0.0.1:3142, relayed into the namespace at $NET.1:3142 through a unix socket
apt_proxy_up() {
  local A=$LAB_DIR/acng
  mkdir -p "$A/conf" "$A/cache" "$A/log"
  if [ ! -f "$A/conf/acng.conf" ]; then cp -a /etc/apt-cacher-ng/. "$A/conf/"; fi
  echo "$MIRROR/" >"$A/conf/backends_debian"
  start_bg acng /usr/sbin/apt-cacher-ng -c "$A/conf" ForeGround=1 BindAddress=127.0.0.1 Port=3142 \
    CacheDir="$A/cache" LogDir="$A/log" PidFile="$A/pid" SocketPath="$A/sock"
  start_bg relay-acng-host socat "UNIX-LISTEN:$RUN/acng.sock,fork,unlink-early" TCP:127.0.0.1:3142
  start_bg relay-acng-ns nsenter --net="/run/netns/$NS" socat "TCP-LISTEN:3142,bind=$NET.1,reuseaddr,fork" "UNIX-CONNECT:$RUN/acng.sock"
}
relays_down() {
  local f
  for f in "$RUN"/relay-*.pid; do [ -e "$f" ] && stop_pid "$(basename "$f" .pid)"; done
  stop_pid acng
  rm -f "$RUN"/*.sock
}

# The base Debian 12 rootfs, debootstrapped once and cached as $LAB_DIR/cache/rootfs-<flavour>-v<N>.tar.
# Bump IMAGE_VERSION whenever configure_rootfs or the package list changes, so no stale image is reused.
IMAGE_VERSION=2
base_rootfs() {   # base_rootfs FLAVOUR EXTRA_PACKAGES -> prints the directory of the ready rootfs
  local flavour=$1-v$IMAGE_VERSION extra=$2 cache=$LAB_DIR/cache dir=$LAB_DIR/base-$1-v$IMAGE_VERSION
  mkdir -p "$cache"
  if [ -f "$dir/.groundup-ready" ]; then echo "$dir"; return 0; fi
  rm -rf "$dir"; mkdir -p "$dir"
  if [ -f "$cache/rootfs-$flavour.tar" ]; then
    log "unpacking cached rootfs ($flavour)"
    tar -C "$dir" -xf "$cache/rootfs-$flavour.tar"
  else
    log "debootstrap bookworm ($flavour), about 2 minutes, once"
    debootstrap --variant=minbase \
      --include=systemd,systemd-sysv,udev,dbus,openssh-server,iproute2,sudo,ca-certificates,kmod,iptables,procps,netbase,curl,gnupg,iputils-ping,less$extra \
      bookworm "$dir" "$MIRROR" >"$LAB_DIR/debootstrap-$flavour.log" 2>&1 || die "debootstrap failed; see $LAB_DIR/debootstrap-$flavour.log"
    configure_rootfs "$dir"
    tar -C "$dir" -cf "$cache/rootfs-$flavour.tar.tmp" . && mv "$cache/rootfs-$flavour.tar.tmp" "$cache/rootfs-$flavour.tar"
    log "rootfs cached: $(du -sh "$cache/rootfs-$flavour.tar" | cut -f1)"
  fi
  touch "$dir/.groundup-ready"
  echo "$dir"
}

configure_rootfs() {   # what every test host shares: users, sshd, apt proxy, no host keys
  local R=$1
  printf '127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n' >"$R/etc/hosts"
  : >"$R/etc/machine-id"; rm -f "$R/var/lib/dbus/machine-id"
  rm -f "$R"/etc/ssh/ssh_host_*
  printf 'UseDNS no\nHostKey /etc/ssh/ssh_host_ed25519_key\nPasswordAuthentication no\nPermitRootLogin prohibit-password\n' >"$R/etc/ssh/sshd_config.d/lab.conf"
  # users: root (key), ops (passwordless sudo), pwuser (sudo needs a password), ttyuser (sudo needs a tty)
  chroot "$R" useradd -m -s /bin/bash ops
  chroot "$R" useradd -m -s /bin/bash pwuser
  chroot "$R" useradd -m -s /bin/bash ttyuser
  echo 'pwuser:lab-password-not-secret' | chroot "$R" chpasswd
  echo 'ttyuser:lab-password-not-secret' | chroot "$R" chpasswd
  printf 'ops ALL=(ALL) NOPASSWD: ALL\npwuser ALL=(ALL) ALL\nDefaults:ttyuser requiretty\nttyuser ALL=(ALL) NOPASSWD: ALL\n' >"$R/etc/sudoers.d/lab"
  chmod 440 "$R/etc/sudoers.d/lab"
  chroot "$R" systemctl enable systemd-networkd >/dev/null 2>&1
  chroot "$R" systemctl mask apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer e2scrub_reap.service \
    systemd-timesyncd.service >/dev/null 2>&1 || true
  # Nothing answers DNS in the lab (lookups fail fast; apt uses the proxy by address), but Kubernetes
  # needs a nameserver line: CoreDNS refuses to start without one.
  echo "nameserver $NET.1" >"$R/etc/resolv.conf"
  rm -f "$R/etc/apt/sources.list"
  echo "deb $MIRROR bookworm main" >"$R/etc/apt/sources.list"
  echo "Acquire::http::Proxy \"http://$NET.1:3142\";" >"$R/etc/apt/apt.conf.d/01proxy"
  chroot "$R" apt-get clean; rm -rf "$R"/var/lib/apt/lists/*
}

# put the lab key into a host's root (authorized for root, ops, pwuser, ttyuser)
authorize_key() {
  local R=$1 u h
  for u in root ops pwuser ttyuser; do
    if [ $u = root ]; then h=$R/root; else h=$R/home/$u; fi
    install -d -m700 "$h/.ssh"
    install -m600 "$LAB_DIR/ssh/id_ed25519.pub" "$h/.ssh/authorized_keys"
    if [ $u != root ]; then chroot "$R" chown -R "$u:$u" "/home/$u/.ssh"; fi
  done
}

# relay_ssh NAME ADDR LO KNOWN_HOSTS_TMP PUBKEY   relays ADDR:22 (inside the namespace) to LO:2200 on
# loopback through a unix socket, and adds the host's key for [LO]:2200 to the known_hosts being built
relay_ssh() {
  local name=$1 addr=$2 lo=$3 kh=$4 pub=$5
  start_bg "relay-ssh-$name-ns" nsenter --net="/run/netns/$NS" socat "UNIX-LISTEN:$RUN/ssh-$name.sock,fork,unlink-early" "TCP:$addr:22"
  start_bg "relay-ssh-$name-host" socat "TCP-LISTEN:2200,bind=$lo,reuseaddr,fork" "UNIX-CONNECT:$RUN/ssh-$name.sock"
  echo "[$lo]:2200 $(cut -d' ' -f1,2 "$pub")" >>"$kh"
}

# wait_ssh LO NAME KNOWN_HOSTS SECONDS   bounded wait until root can log in at LO:2200 with strict host keys
# ssh_ok LO KNOWN_HOSTS   one strict-host-key login attempt as root at LO:2200
ssh_ok() {
  ssh -q -p 2200 -i "$LAB_DIR/ssh/id_ed25519" -o BatchMode=yes -o ConnectTimeout=3 \
    -o UserKnownHostsFile="$2" -o StrictHostKeyChecking=yes "root@$1" true 2>/dev/null
}
wait_ssh() {
  local lo=$1 name=$2 kh=$3 secs=$4 t0=$SECONDS
  while [ $((SECONDS - t0)) -lt "$secs" ]; do
    if ssh_ok "$lo" "$kh"; then
      log "$name: ssh ready at $lo:2200"; return 0
    fi
    sleep 0.5
  done
  die "$name: no SSH at $lo:2200 within $secs s; see $RUN/ (nspawn-$name.log, qemu-$name.log) or $LAB_DIR/vm/$name/console.log"
}

# nspawn hosts are found by what really runs, never by pid files alone (they go stale: issue 10).
# nspawn-launch.sh puts each host into a cgroup gulab-NAME in every hierarchy, and everything the
# host starts (its systemd, kubelet, containers) stays below it.
host_pids() {   # host_pids NAME -> the PIDs of every process of nspawn host NAME
  grep -l -E "/gulab-$1(/|\$)" /proc/[0-9]*/cgroup 2>/dev/null | cut -d/ -f3 || true
}
host_nspawn_pid() {   # host_nspawn_pid NAME -> the PID of systemd-nspawn for NAME (empty if none)
  local p
  for p in $(host_pids "$1"); do
    if tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -q -E "^systemd-nspawn .*-M $1 "; then echo "$p"; return 0; fi
  done
}
running_hosts() {   # the names of the nspawn hosts that have processes, one per line
  grep -h -o -E '/gulab-lab-[0-9]+(/|$)' /proc/[0-9]*/cgroup 2>/dev/null | sed -E 's#^/gulab-##; s#/$##' | sort -u -V || true
}

lab_status() {
  local f any=0 name pid n
  for name in $(running_hosts); do
    any=1; pid=$(host_nspawn_pid "$name"); n=$(host_pids "$name" | wc -l)
    if [ -n "$pid" ]; then echo "up    $name (nspawn pid $pid, $n processes)"; else echo "stray $name ($n processes without nspawn; scripts/lab down ends them)"; fi
  done
  for f in "$LAB_DIR/hosts"/lab-*; do
    [ -d "$f" ] || continue
    name=$(basename "$f")
    [ -n "$(host_pids "$name")" ] || { any=1; echo "down  $name (disk kept; scripts/lab up starts it)"; }
  done
  for f in "$RUN"/*.pid; do
    [ -e "$f" ] || continue
    case "$(basename "$f")" in nspawn-*) continue;; esac
    any=1
    if alive "$(basename "$f" .pid)"; then echo "up    $(basename "$f" .pid) (pid $(cut -d' ' -f1 "$f"))"; else echo "dead  $(basename "$f" .pid)"; fi
  done
  [ $any = 1 ] || echo "lab is down"
  if [ -e "/run/netns/$NS" ]; then echo "netns $NS present"; fi
}
