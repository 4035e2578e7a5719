# scripts/lab.d/sshd.sh — the `ssh` lab kind: N bare sshd endpoints on loopback addresses
# 127.0.78.x:2200, each its own sshd process with its own host key, sharing this machine's filesystem.
# For fan-out tests and benchmarks only (no systemd, no package manager). Logins are as the
# unprivileged user `gulab` (made here, removed by `down`), whose empty home keeps this machine's own
# dotfiles out of every measurement. Sourced.
SSHD_DIR=$LAB_DIR/sshd

sshd_addr() { echo "127.0.78.$(( $1 + 1 ))"; }

sshd_up() {
  local n=$1 i a
  [ "$n" -ge 1 ] && [ "$n" -le 240 ] || die "ssh lab: N must be 1..240 (got $n)"
  ensure_pkgs /usr/sbin/sshd:openssh-server ssh-keygen:openssh-client
  lab_key
  mkdir -p "$SSHD_DIR/home" /run/sshd
  if ! id gulab >/dev/null 2>&1; then
    useradd --system --no-create-home --home-dir "$SSHD_DIR/home" --shell /bin/bash --password "*" gulab
    touch "$SSHD_DIR/.made-user"
  fi
  chown gulab: "$SSHD_DIR/home"
  install -m644 "$LAB_DIR/ssh/id_ed25519.pub" "$SSHD_DIR/authorized_keys"   # read by sshd as gulab
  [ -f "$SSHD_DIR/host_key" ] || ssh-keygen -q -t ed25519 -N '' -C lab-sshd -f "$SSHD_DIR/host_key"
  cat >"$SSHD_DIR/sshd_config" <<CFG
Port 2200
HostKey $SSHD_DIR/host_key
AuthorizedKeysFile $SSHD_DIR/authorized_keys
StrictModes no
AllowUsers gulab
PermitRootLogin no
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
UseDNS no
MaxStartups 500:30:1000
MaxSessions 50
PrintMotd no
CFG
  : >"$LAB_DIR/known_hosts.sshd.tmp"
  for i in $(seq 1 "$n"); do
    a=$(sshd_addr "$i")
    start_bg "sshd-$i" /usr/sbin/sshd -D -e -f "$SSHD_DIR/sshd_config" -o "ListenAddress=$a:2200" -o "PidFile=none"
    echo "[$a]:2200 $(cut -d' ' -f1,2 "$SSHD_DIR/host_key.pub")" >>"$LAB_DIR/known_hosts.sshd.tmp"
  done
  mv "$LAB_DIR/known_hosts.sshd.tmp" "$LAB_DIR/known_hosts.sshd"
  for i in $(seq 1 "$n"); do   # ready when it accepts TCP (bounded: 10 s per endpoint)
    a=$(sshd_addr "$i")
    for _ in $(seq 1 100); do timeout 1 bash -c "exec 3<>/dev/tcp/$a/2200" 2>/dev/null && break; sleep 0.1; done
  done
  ssh -q -p 2200 -i "$LAB_DIR/ssh/id_ed25519" -o BatchMode=yes -o ConnectTimeout=5 \
    -o UserKnownHostsFile="$LAB_DIR/known_hosts.sshd" "gulab@$(sshd_addr "$n")" true || die "sshd endpoint $n does not accept the lab key"
  {
    echo "# Written by scripts/lab up $n --kind ssh: bare sshd endpoints for fan-out tests and benchmarks."
    printf '[cluster]\nname = "fanout"\nkubernetes_version = "1.36.3"\npod_subnet = "10.0.0.0/8"\nservice_subnet = "172.16.0.0/16"\n\n'
    printf '[ssh]\nuser = "gulab"\nsudo = false\nport = 2200\nidentity_file = "%s"\nknown_hosts = "%s"\n' "$LAB_DIR/ssh/id_ed25519" "$LAB_DIR/known_hosts.sshd"
    for i in $(seq 1 "$n"); do
      if [ "$i" = 1 ]; then r='["control-plane", "worker"]'; else r='["worker"]'; fi
      printf '\n[[hosts]]\nname = "ep-%d"\naddress = "%s"\nroles = %s\n' "$i" "$(sshd_addr "$i")" "$r"
    done
  } >"$SSHD_DIR/inventory.toml"
  log "$n sshd endpoints ready; inventory: $SSHD_DIR/inventory.toml"
}

sshd_down() {
  local f
  local f name pid kids=()
  # The per-connection sshd processes a listener forked would outlive it: end them first, while
  # their listener is alive to reap them, then the listeners.
  for f in "$RUN"/sshd-*.pid; do
    name=$(basename "$f" .pid)
    if [ -e "$f" ] && alive "$name"; then pid=$(cut -d' ' -f1 "$f"); kids+=($(pgrep -P "$pid" || true)); fi
  done
  if [ ${#kids[@]} -gt 0 ]; then kill -TERM "${kids[@]}" 2>/dev/null || true; sleep 0.5; fi
  for f in "$RUN"/sshd-*.pid; do [ -e "$f" ] && stop_pid "$(basename "$f" .pid)"; done
  if [ -f "$SSHD_DIR/.made-user" ]; then
    for _ in $(seq 1 50); do pgrep -u gulab >/dev/null || break; sleep 0.1; done
    userdel gulab 2>/dev/null || log "could not remove user gulab (still has processes?)"
    rm -f "$SSHD_DIR/.made-user"
  fi
  return 0
}
