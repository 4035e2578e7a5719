#!/usr/bin/env bash
# scripts/lab.d/nspawn-launch.sh NAME ROOT INDEX CONTAINERD_DIR — moves itself into a child cgroup of its own (in every
# hierarchy, so hosts do not share one cgroup and runc never writes to this machine's root cgroups),
# then becomes systemd-nspawn inside the lab namespace. Started by scripts/lab, PID recorded there.
set -euo pipefail
name=$1 root=$2 i=$3 ctrd=$4
cg=$(cat /proc/self/cgroup)   # read once: it changes as we move
while IFS=: read -r _ ctrl path; do
  case "$ctrl" in "") h=unified;; name=systemd) h=systemd;; *) h=${ctrl%%,*};; esac
  [ -d "/sys/fs/cgroup/$h" ] || continue
  d=/sys/fs/cgroup/$h${path%/}/gulab-$name
  mkdir -p "$d"
  if [ "$h" = cpuset ]; then cat "$(dirname "$d")/cpuset.cpus" >"$d/cpuset.cpus"; cat "$(dirname "$d")/cpuset.mems" >"$d/cpuset.mems"; fi
  echo $$ >"$d/cgroup.procs"
done <<<"$cg"
export SYSTEMD_SECCOMP=0 SYSTEMD_NSPAWN_API_VFS_WRITABLE=network
exec nsenter --net="/run/netns/${NS:-gulab}" systemd-nspawn --boot --register=no --keep-unit --capability=all \
  -M "$name" -D "$root" --network-bridge=br0 --resolv-conf=off --bind="$ctrd:/var/lib/containerd" --uuid="$(printf '00000000-0000-4000-8000-%012d' "$i")"
