# scripts/lab.d/vm.sh — the `vm` lab kind (QEMU). Sourced.
vm_up() { die "--kind vm is not built yet (tracked in the spine issue's note); use the default nspawn kind"; }
vm_down() { :; }
