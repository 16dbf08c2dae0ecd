# shellcheck shell=bash
# Sourced by tests/container/run, after its own checks: docker/Dockerfile and
# docker/Dockerfile.scratch built unchanged with `docker build` (the Docker CLI's classic builder
# against podman's API), from base images with the names their FROM lines use, made here with no
# registry (tests/container/base-images, cached outside the source tree), then run as their
# comments tell users to:
#
#   dockerfile        the example image: build stage without test tools, baton one static file,
#                     HEALTHCHECK kept; serve, `kill -s HUP` rollout, `exec baton ctl status`,
#                     the HEALTHCHECK command, `stop` draining with exit status 0
#   scratch-listen    Dockerfile.scratch over an app image whose unmodified app calls
#                     server.listen(PORT), run with -e BATON_NODE_CLUSTER=1 as the comment says
#   scratch-fd        Dockerfile.scratch over an app image whose app takes fd 3 (LISTEN_FDS)
#
# Uses run's helpers and state: d, pass, fail, skip, note, indent, wait_for, pick_port,
# http_get (on $PORT), logs_have, show_logs, CONTAINERS, $T, $TAG, $ROOT.

DF_DEBIAN=docker.io/library/debian:12
DF_NODE=docker.io/library/node:20-bookworm-slim
DF_EXAMPLE=localhost/baton-example:$TAG

# The classic builder: the one podman's API serves (BuildKit needs its own daemon).
dbuild() {
	DOCKER_BUILDKIT=0 d 900 build -q "$@"
}

# df_run NAME IMAGE [docker run options...]: `docker run -d` with the image's port 8080
# published on a free port of 127.0.0.1; true once GET / answers 200.
df_run() {
	local name=$1 image=$2 out try
	shift 2

	CONTAINERS+=("$name")
	for try in 1 2 3; do
		PORT=$(pick_port) || { note "no free port"; return 1; }
		out=$(d 60 run -d --name "$name" -p "127.0.0.1:$PORT:8080" "$@" "$image" 2>&1) && break
		note "docker run: $out"
		case $out in *"address already in use"*) ;; *) return 1 ;; esac
		d 30 rm -f "$name" >/dev/null 2>&1
		[ "$try" = 3 ] && return 1
	done
	wait_for 60 http_get >/dev/null || { note "no HTTP 200 on 127.0.0.1:$PORT within 60 s"; return 1; }
}

# df_lifecycle LABEL NAME IMAGE: what the Dockerfiles' comments promise, on a running container:
# a rollout on `docker kill -s HUP`, `docker exec NAME baton ctl status`, the image's own
# HEALTHCHECK command, and `docker stop` draining the workers with exit status 0.
df_lifecycle() {
	local label=$1 name=$2 image=$3 out rc hc status t0 took

	if d 20 kill -s HUP "$name" >/dev/null && wait_for 60 logs_have "$name" "rollout of generation 2 complete" &&
		http_get >/dev/null; then
		pass "$label: docker kill -s HUP -> 'rollout of generation 2 complete', still serving"
	else
		show_logs "$name"
		fail "$label: no completed rollout within 60 s of docker kill -s HUP"
	fi
	out=$(d 30 exec "$name" baton ctl status 2>&1)
	rc=$?
	if [ $rc = 0 ] && echo "$out" | awk '$1 ~ /^[0-9]+$/ && $3 == "ready"' | grep -q .; then
		pass "$label: docker exec baton ctl status (ready workers listed)"
	else
		indent <<<"$out"
		fail "$label: docker exec baton ctl status exited $rc"
	fi
	# The HEALTHCHECK as the image declares it: ["CMD", argv...], run the way the engine runs it.
	# Read with podman itself: its Docker API (4.3) leaves Healthcheck out of `docker inspect`,
	# though the image, built in Docker's format through that API, keeps it.
	hc=$(timeout -k 5 20 podman image inspect \
		-f '{{range $i, $a := .HealthCheck.Test}}{{if $i}}{{$a}}{{"\n"}}{{end}}{{end}}' "$image" 2>/dev/null)
	if [ -z "$hc" ]; then
		fail "$label: the image has no HEALTHCHECK (was it built in OCI format?)"
	else
		mapfile -t hc_argv <<<"$hc"
		if out=$(d 30 exec "$name" "${hc_argv[@]}" 2>&1); then
			pass "$label: the HEALTHCHECK (${hc_argv[*]}) exits 0"
		else
			indent <<<"$out"
			fail "$label: the HEALTHCHECK (${hc_argv[*]}) failed"
		fi
	fi
	# -t 10: Docker's own default. podman's API gives a container StopTimeout 0 unless told.
	t0=$(now_ms)
	d 40 stop -t 10 "$name" >/dev/null 2>&1
	took=$(($(now_ms) - t0))
	status=$(d 20 inspect -f '{{.State.ExitCode}}' "$name" 2>&1)
	if [ "$status" = 0 ] && [ "$took" -lt 10000 ] && logs_have "$name" "received SIGTERM"; then
		pass "$label: docker stop -t 10 drains and exits 0 in ${took} ms"
	else
		show_logs "$name"
		fail "$label: docker stop -t 10 (container status $status, ${took} ms)"
	fi
}

df_base_images() {
	local tars out

	tars=$("$ROOT/tests/container/base-images") || return 1
	mapfile -t tars <<<"$tars"
	out=$(d 600 import --change 'CMD ["bash"]' "${tars[0]}" "$DF_DEBIAN" 2>&1) || { echo "$out"; return 1; }
	out=$(d 600 import --change 'CMD ["node"]' \
		--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
		"${tars[1]}" "$DF_NODE" 2>&1) || { echo "$out"; return 1; }
}

# Packages of the build stage that `make static` does not need: the test suite's tools.
DF_TEST_TOOLS="libcmocka-dev wrk nodejs systemd podman docker.io"

df_example() {
	local out pkgs tool extra="" f

	if ! out=$(dbuild -f docker/Dockerfile -t "$DF_EXAMPLE" . 2>&1); then
		echo "$out" | tail -n 30 | indent
		fail "dockerfile: docker build -f docker/Dockerfile ."
		return
	fi
	pass "dockerfile: docker build -f docker/Dockerfile . (FROM $DF_DEBIAN, $DF_NODE)"

	# The build stage again (every layer cached): which packages did it install?
	if out=$(dbuild -f docker/Dockerfile --target build -t "$DF_EXAMPLE-build" . 2>&1) &&
		pkgs=$(d 60 run --rm "$DF_EXAMPLE-build" dpkg-query -W -f '${Package}\n' 2>&1); then
		for tool in $DF_TEST_TOOLS; do
			grep -qx "$tool" <<<"$pkgs" && extra="$extra $tool"
		done
		if [ -z "$extra" ] && grep -qx libc6-dev <<<"$pkgs" && grep -qx make <<<"$pkgs"; then
			pass "dockerfile: the build stage installed gcc, libc6-dev, make and the libraries, no test tools"
		else
			fail "dockerfile: the build stage's packages include:${extra:- (libc6-dev or make missing)}"
		fi
	else
		indent <<<"$out"
		fail "dockerfile: the build stage's package list"
	fi

	# baton in the final image: one statically linked file.
	f=$T/baton-from-image
	CONTAINERS+=("baton-df-copy-$TAG")
	if d 60 create --name "baton-df-copy-$TAG" "$DF_EXAMPLE" >/dev/null 2>&1 &&
		d 60 cp "baton-df-copy-$TAG:/usr/bin/baton" "$f" >/dev/null 2>&1 &&
		! readelf -l "$f" | grep -q INTERP && ! readelf -d "$f" 2>/dev/null | grep -q NEEDED; then
		pass "dockerfile: /usr/bin/baton in the image is one static file ($(stat -c %s "$f") bytes)"
	else
		fail "dockerfile: /usr/bin/baton in the image is missing or dynamically linked"
	fi
	d 30 rm -f "baton-df-copy-$TAG" >/dev/null 2>&1

	if df_run "baton-df-example-$TAG" "$DF_EXAMPLE"; then
		pass "dockerfile: docker run -d -p 127.0.0.1:$PORT:8080 serves ($(http_get))"
		df_lifecycle dockerfile "baton-df-example-$TAG" "$DF_EXAMPLE"
	else
		show_logs "baton-df-example-$TAG"
		fail "dockerfile: the example image did not serve"
	fi
}

# df_scratch LABEL APP [docker run options...]: an app image (FROM node:20-bookworm-slim, the
# app as /app/server.js, WORKDIR /app, CMD ["node", "server.js"]: the shape of most Node app
# images), then Dockerfile.scratch over it, run with the options given.
df_scratch() {
	local label=$1 app=$2 out ctx=$T/app-$1 image=localhost/baton-app-$1:$TAG
	shift 2

	mkdir -p "$ctx" && cp "$app" "$ctx/server.js" || return 1
	cat >"$ctx/Dockerfile" <<-EOF
		FROM $DF_NODE
		WORKDIR /app
		COPY server.js .
		ENV PORT=8080
		USER node
		EXPOSE 8080
		CMD ["node", "server.js"]
	EOF
	if ! out=$(dbuild -t "$image" "$ctx" 2>&1) ||
		! out=$(dbuild -f docker/Dockerfile.scratch --build-arg "APP_IMAGE=$image" \
			-t "$image-baton" . 2>&1); then
		echo "$out" | tail -n 30 | indent
		fail "$label: docker build -f docker/Dockerfile.scratch --build-arg APP_IMAGE=$image"
		return
	fi
	pass "$label: docker build -f docker/Dockerfile.scratch --build-arg APP_IMAGE=$image"
	if df_run "baton-df-$label-$TAG" "$image-baton" "$@"; then
		pass "$label: docker run -d ${*:+$* }serves ($(http_get))"
		df_lifecycle "$label" "baton-df-$label-$TAG" "$image-baton"
	else
		show_logs "baton-df-$label-$TAG"
		fail "$label: the app image with baton added did not serve"
	fi
}

df_all() {
	local out

	if [ "$NETMODE" != publish ]; then
		skip "dockerfiles: the Dockerfiles' images listen on 8080 and need port publishing"
		return
	fi
	if ! command -v debootstrap >/dev/null 2>&1; then
		skip "dockerfiles: debootstrap is not installed (scripts/install-deps --container)"
		return
	fi
	if ! out=$(df_base_images 2>&1); then
		indent <<<"$out"
		fail "dockerfiles: the base images $DF_DEBIAN and $DF_NODE"
		return
	fi
	pass "dockerfiles: $DF_DEBIAN and $DF_NODE made locally and imported"
	df_example
	df_scratch scratch-listen "$ROOT/tests/apps/plain.js" -e BATON_NODE_CLUSTER=1
	df_scratch scratch-fd "$ROOT/tests/apps/http_fd.js"
}
