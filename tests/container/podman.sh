# shellcheck shell=bash
# podman set up in one private directory, for the container tests and the fresh-machine test:
# nothing of the host's configuration or storage is read or written.
#
#   podman_env DIR      export the variables that point podman and the Docker CLI into DIR
#   podman_config DIR   write podman's configuration there
#
# The choices, and why:
# - runc: crun fails on hosts with hybrid cgroups (v1 controllers plus a v2 mount).
# - the cgroupfs manager: the systemd one needs a running systemd, which containers and CI
#   machines often lack.
# - ulimits the host allows. podman as root asks runc for nofile=1048576 and, having set its own
#   nproc to 32768, for nproc=32768 too; a host whose hard limits are lower (or a root without
#   CAP_SYS_RESOURCE) makes runc fail with "error setting rlimits". `default_ulimits = []` would
#   pass on podman's own limits; explicit ones say what the container gets: the host's hard
#   limits, capped at podman's own values.
# - overlay storage where the kernel has it: the Debian base images are 200 MB, and vfs copies
#   the whole tree for every layer of a build. A test's cleanup unmounts what is left under DIR.
#   PODMAN_STORAGE_DRIVER=vfs forces the slower driver that mounts nothing.

podman_env() {
	export CONTAINERS_CONF=$1/containers.conf
	export CONTAINERS_STORAGE_CONF=$1/storage.conf
	export DOCKER_HOST=unix://$1/api.sock
	export DOCKER_CONFIG=$1/docker-config
	unset DOCKER_CONTEXT DOCKER_TLS_VERIFY DOCKER_CERT_PATH
}

podman_config() {
	local dir=$1 hard_n hard_u driver=${PODMAN_STORAGE_DRIVER:-}

	hard_n=$(ulimit -Hn) hard_u=$(ulimit -Hu)
	[ "$hard_n" = unlimited ] && hard_n=1048576
	[ "$hard_u" = unlimited ] && hard_u=32768
	[ "$hard_n" -gt 1048576 ] && hard_n=1048576
	[ "$hard_u" -gt 32768 ] && hard_u=32768
	if [ -z "$driver" ]; then
		driver=vfs
		grep -qw overlay /proc/filesystems 2>/dev/null && driver=overlay
	fi
	cat >"$dir/containers.conf" <<-EOF
		[containers]
		default_ulimits = ["nofile=$hard_n:$hard_n", "nproc=$hard_u:$hard_u"]
		log_driver = "k8s-file"

		[network]
		network_backend = "cni"
		network_config_dir = "$dir/cni"

		[engine]
		runtime = "runc"
		cgroup_manager = "cgroupfs"
		events_logger = "file"
		events_logfile_path = "$dir/events.log"
		tmp_dir = "$dir/libpod"
	EOF
	cat >"$dir/storage.conf" <<-EOF
		[storage]
		driver = "$driver"
		graphroot = "$dir/storage"
		runroot = "$dir/runroot"
	EOF
	mkdir -p "$dir/cni" "$dir/docker-config"
	echo '{}' >"$dir/docker-config/config.json" # podman reads it too, for registry logins
}
