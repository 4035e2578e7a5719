# scripts/lab.d/vm.sh — the `vm` lab kind: Debian 12 VMs under QEMU, with their own kernel,
# cgroup v2, modprobe and sysctls, for the checks nspawn cannot carry. TCG (software emulation)
# unless KVM really works: /dev/kvm usable, not the kvm_pvm paravirtual kind, vmx/svm present, and
# a probe boot that prints "Linux version" within 20 s. Sourced.
#
# Each VM: a qcow2 overlay on one cached base image, a tap on the lab bridge (10.77.0.10N), and a
# small "seed" disk (/dev/vdb) with its own SSH host key, hostname and address, applied by a
# oneshot unit before sshd starts — so the lab writes known_hosts before first boot, as for nspawn.
# SSH is relayed to 127.0.79.1N:2200. Writes $LAB_DIR/vm/inventory.toml.
VMD=$LAB_DIR/vm

vm_up() {
  local n=$1 i name addr lo accel
  [ "$n" -ge 1 ] && [ "$n" -le 9 ] || die "vm lab: N must be 1..9 (got $n)"
  ensure_pkgs debootstrap:debootstrap socat:socat /usr/sbin/apt-cacher-ng:apt-cacher-ng ssh-keygen:openssh-client \
    qemu-img:qemu-utils mkfs.ext4:e2fsprogs
  command -v qemu-system-x86_64 >/dev/null || install_qemu
  lab_key
  mkdir -p "$VMD"
  vm_image
  accel=$(pick_accel)
  log "accelerator: $accel"
  netns_up
  apt_proxy_up
  : >"$LAB_DIR/known_hosts.vm.tmp"
  for i in $(seq 1 "$n"); do
    name=vm-$i; addr=$NET.$((100 + i)); lo=127.0.79.$((10 + i))
    vm_boot "$name" "$addr" "$i" "$accel"
    relay_ssh "$name" "$addr" "$lo" "$LAB_DIR/known_hosts.vm.tmp" "$VMD/$name/seed/ssh_host_ed25519_key.pub"
  done
  mv "$LAB_DIR/known_hosts.vm.tmp" "$LAB_DIR/known_hosts.vm"
  for i in $(seq 1 "$n"); do vm_wait "vm-$i" "$NET.$((100 + i))" "$i" "$accel" 300; done   # TCG boots are slow
  {
    echo "# Written by scripts/lab up $n --kind vm: QEMU Debian 12 VMs ($accel)."
    printf '[cluster]\nname = "labvm"\nkubernetes_version = "1.36.3"\n\n'
    printf '[ssh]\nuser = "root"\nport = 2200\nidentity_file = "%s"\nknown_hosts = "%s"\n' "$LAB_DIR/ssh/id_ed25519" "$LAB_DIR/known_hosts.vm"
    for i in $(seq 1 "$n"); do
      if [ "$i" = 1 ]; then r='["control-plane", "etcd"]'; else r='["worker"]'; fi
      printf '\n[[hosts]]\nname = "vm-%d"\naddress = "127.0.79.%d"\ninternal_address = "%s"\nroles = %s\n' "$i" $((10 + i)) "$NET.$((100 + i))" "$r"
    done
  } >"$VMD/inventory.toml"
  log "$n VMs ready; inventory: $VMD/inventory.toml"
}

install_qemu() {   # qemu-system-x86 from bookworm-backports (matching the backports qemu-utils); /etc/apt untouched
  local A=$LAB_DIR/apt
  mkdir -p "$A/sources.list.d"
  cp /etc/apt/sources.list.d/* "$A/sources.list.d/" 2>/dev/null || true
  echo "deb $MIRROR bookworm-backports main" >"$A/sources.list.d/backports.list"
  log "installing qemu-system-x86 from bookworm-backports"
  { apt-get -o Dir::Etc::SourceParts="$A/sources.list.d" update -q &&
    DEBIAN_FRONTEND=noninteractive apt-get -o Dir::Etc::SourceParts="$A/sources.list.d" install -y -q -t bookworm-backports qemu-system-x86; } \
    >"$LAB_DIR/apt-qemu.log" 2>&1 || die "could not install qemu-system-x86; see $LAB_DIR/apt-qemu.log"
}

vm_image() {   # $VMD/base-v$IMAGE_VERSION.qcow2 + kernel/initrd, from the cached vm rootfs
  [ -f "$VMD/base-v$IMAGE_VERSION.qcow2" ] && return 0
  local R; R=$(base_rootfs vm ",linux-image-amd64,initramfs-tools,e2fsprogs")
  printf '/dev/vda / ext4 defaults,errors=remount-ro 0 1\n' >"$R/etc/fstab"
  cat >"$R/etc/systemd/system/lab-seed.service" <<'UNIT'
[Unit]
Description=Apply the lab seed disk (host key, hostname, address)
DefaultDependencies=no
Before=ssh.service systemd-networkd.service network-pre.target
Wants=network-pre.target
[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/sh -c 'mkdir -p /run/seed && mount -o ro /dev/vdb /run/seed && install -m600 /run/seed/ssh_host_ed25519_key /etc/ssh/ && install -m644 /run/seed/ssh_host_ed25519_key.pub /etc/ssh/ && cp /run/seed/hostname /etc/hostname && hostname -F /etc/hostname && mkdir -p /etc/systemd/network && cp /run/seed/10-eth0.network /etc/systemd/network/ && printf "127.0.0.1 localhost\\n127.0.1.1 %%s\\n" "$(cat /etc/hostname)" > /etc/hosts; umount /run/seed'
[Install]
WantedBy=sysinit.target
UNIT
  chroot "$R" systemctl enable lab-seed.service >/dev/null 2>&1
  cp "$R"/boot/vmlinuz-* "$VMD/vmlinuz"; cp "$R"/boot/initrd.img-* "$VMD/initrd.img"
  authorize_key "$R"
  truncate -s 4G "$VMD/base.raw"
  mkfs.ext4 -q -F -L root -E lazy_itable_init=0,lazy_journal_init=0 -d "$R" "$VMD/base.raw"
  qemu-img convert -O qcow2 "$VMD/base.raw" "$VMD/base-v$IMAGE_VERSION.qcow2"; rm -f "$VMD/base.raw"
  rm -rf "$R"
  log "VM image built: $(du -h "$VMD/base-v$IMAGE_VERSION.qcow2" | cut -f1)"
}

pick_accel() {
  if [ -c /dev/kvm ] && [ -r /dev/kvm ] && [ -w /dev/kvm ] && [ ! -d /sys/module/kvm_pvm ] && grep -qwE 'vmx|svm' /proc/cpuinfo; then
    rm -f "$VMD/probe.console"
    qemu-system-x86_64 -accel kvm -cpu host -m 512 -display none -monitor none -no-reboot -nic none \
      -serial "file:$VMD/probe.console" -kernel "$VMD/vmlinuz" -append "console=ttyS0 panic=-1" \
      -pidfile "$VMD/probe.pid" -daemonize 2>/dev/null || true
    local ok=0
    for _ in $(seq 1 40); do grep -q "Linux version" "$VMD/probe.console" 2>/dev/null && { ok=1; break; }; sleep 0.5; done
    [ -f "$VMD/probe.pid" ] && kill "$(cat "$VMD/probe.pid")" 2>/dev/null; rm -f "$VMD/probe.pid"
    if [ $ok = 1 ]; then echo kvm; return; fi
  fi
  echo tcg
}

vm_boot() {   # vm_boot NAME ADDR INDEX ACCEL
  local name=$1 addr=$2 i=$3 accel=$4 D=$VMD/$1 ac
  if alive "qemu-$name"; then return 0; fi
  mkdir -p "$D/seed"
  [ -f "$D/seed/ssh_host_ed25519_key" ] || ssh-keygen -q -t ed25519 -N '' -C "$name" -f "$D/seed/ssh_host_ed25519_key"
  echo "$name" >"$D/seed/hostname"
  printf '[Match]\nName=eth0\n[Network]\nAddress=%s/24\nGateway=%s\n' "$addr" "$NET.1" >"$D/seed/10-eth0.network"
  rm -f "$D/seed.img"; truncate -s 4M "$D/seed.img"; mkfs.ext4 -q -F -d "$D/seed" "$D/seed.img"
  [ -f "$D/disk-v$IMAGE_VERSION.qcow2" ] || qemu-img create -q -f qcow2 -F qcow2 -b "$VMD/base-v$IMAGE_VERSION.qcow2" "$D/disk-v$IMAGE_VERSION.qcow2"
  ip -n "$NS" link show "tap$i" >/dev/null 2>&1 || ip -n "$NS" tuntap add dev "tap$i" mode tap
  ip -n "$NS" link set "tap$i" master br0 up
  if [ "$accel" = kvm ]; then ac="-accel kvm -cpu host"; else ac="-accel tcg,thread=multi,tb-size=256 -cpu max"; fi
  # shellcheck disable=SC2086
  start_bg "qemu-$name" nsenter --net="/run/netns/$NS" qemu-system-x86_64 -name "$name" $ac -m "${VM_MEM:-2048}" -smp "${VM_CPUS:-2}" \
    -uuid "$(printf '00000000-0000-4000-8000-1000000000%02d' "$i")" -display none -monitor none -no-reboot \
    -serial "file:$D/console.log" -kernel "$VMD/vmlinuz" -initrd "$VMD/initrd.img" \
    -append "root=/dev/vda rw console=ttyS0 net.ifnames=0 panic=-1" \
    -drive "file=$D/disk-v$IMAGE_VERSION.qcow2,if=virtio,format=qcow2,cache=unsafe" -drive "file=$D/seed.img,if=virtio,format=raw,readonly=on" \
    -netdev "tap,id=n0,ifname=tap$i,script=no,downscript=no" -device "virtio-net-pci,netdev=n0,mac=52:54:00:77:00:0$i"
}

# vm_wait NAME ADDR INDEX ACCEL SECS: until SSH answers. A VM that was still shutting down when
# `up` ran (a reboot: QEMU runs with -no-reboot and exits) is booted again as soon as QEMU is gone,
# instead of waiting for an SSH that will never come.
vm_wait() {
  local name=$1 addr=$2 i=$3 accel=$4 secs=$5 lo=127.0.79.$((10 + $3)) t0=$SECONDS
  while [ $((SECONDS - t0)) -lt "$secs" ]; do
    if ! alive "qemu-$name"; then
      log "$name: QEMU had exited (a reboot); booting it again"
      vm_boot "$name" "$addr" "$i" "$accel"
    fi
    if ssh_ok "$lo" "$LAB_DIR/known_hosts.vm"; then
      log "$name: ssh ready at $lo:2200"; return 0
    fi
    sleep 1
  done
  die "$name: no SSH at $lo:2200 within $secs s; see $RUN/qemu-$name.log or $VMD/$name/console.log"
}

vm_down() {
  local f
  for f in "$RUN"/qemu-*.pid; do [ -e "$f" ] && stop_pid "$(basename "$f" .pid)"; done
  rm -rf "${VMD:?}"/vm-* "$VMD/inventory.toml"
  return 0
}
