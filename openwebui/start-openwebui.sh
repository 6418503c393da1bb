#!/usr/bin/env bash
# Brings OpenWebUI up on the UI host; its systemd units call it at every boot, so it is safe to rerun.
# openwebui.service:
#   prepare: mount the data volume (formatting it only when blank), read the secrets from SSM with the
#            instance role into a root-only env file, pull the pinned image.
#   run:     the container in the foreground, so systemd (not docker) starts and restarts it, and only
#            while the data volume is mounted. It listens on 127.0.0.1 only.
#   stop:    stop the container.
# openwebui-proxy.service (nginx in front, the only way in):
#   proxy-prepare: read CloudFront's origin secret from SSM and write nginx's configuration.
#   proxy:         nginx in the foreground.
set -euo pipefail

conf_dir=/etc/openwebui
fstab=/etc/fstab
data_label=openwebui # mkfs.xfs takes at most 12 characters

# To stderr: functions whose stdout is captured (a device path, a secret) log too.
log() { printf '%s openwebui-start: %s\n' "$(date -Is)" "$*" >&2; }

retry() {
  local attempt
  for attempt in 1 2 3 4 5 6 7 8 9 10; do
    if "$@"; then return 0; fi
    log "attempt $attempt failed: $1 $2; retrying"
    sleep $((attempt * 3))
  done
  return 1
}

imds() {
  local token
  token="$(curl -fsS -X PUT http://169.254.169.254/latest/api/token -H 'X-aws-ec2-metadata-token-ttl-seconds: 300')"
  curl -fsS -H "X-aws-ec2-metadata-token: $token" "http://169.254.169.254/latest/$1"
}

find_data_device() {
  # Nitro instances name NVMe devices by attach order; the by-id link carries the volume id.
  local by_id="/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_${DATA_VOLUME_ID//-/}"
  local attempt dev
  # The attachment is made after the instance exists, and while a replaced host is stopped.
  for attempt in $(seq 1 360); do
    for dev in "$by_id" /dev/sdf /dev/xvdf; do
      if [[ -b "$dev" ]]; then
        readlink -f "$dev"
        return 0
      fi
    done
    if ((attempt % 12 == 0)); then log "waiting for data volume $DATA_VOLUME_ID"; fi
    sleep 5
  done
  return 1
}

# Prints what the device holds: "xfs" or "blank". Fails (and says why) for anything else, so a
# device that holds anything, or could not be read, is never formatted.
probe_data_device() {
  local dev="$1" signatures found type rc=0 data
  # wipefs finds signatures anywhere, e.g. a GPT's backup in the last sector, which blkid -p misses
  # once the first sectors are zeroed. It fails on a device it cannot open.
  if ! signatures="$(wipefs --no-act --noheadings --output TYPE,OFFSET "$dev" | xargs)"; then
    log "cannot read $dev; not formatting it"
    return 1
  fi
  found="$(blkid -p -o export "$dev")" || rc=$?
  if ((rc == 0)); then
    type="$(sed -n 's/^TYPE=//p' <<<"$found")"
    if [[ "$type" == xfs ]]; then
      echo xfs
      return 0
    fi
    log "$dev holds ${type:-a partition table or other signature} ($(tr '\n' ' ' <<<"$found")), not an xfs data volume; not touching it"
    return 1
  fi
  if ((rc != 2)) || [[ -n "$signatures" ]]; then
    log "$dev holds ${signatures:-what blkid cannot probe (exit $rc)}; not formatting it"
    return 1
  fi
  # Blank is zeros to the end: an xfs whose first MiB was zeroed keeps data further on. Read once, at
  # the first boot (~3 min for 20 GiB of gp3). cmp prints a difference; the zeros' end goes to stderr.
  rc=0
  data="$(cmp "$dev" /dev/zero)" || rc=$?
  if ((rc == 1)) && [[ -z "$data" ]]; then
    echo blank
    return 0
  fi
  log "$dev holds data blkid and wipefs do not recognise or cannot be read (${data:-cmp exit $rc}); not formatting it"
  return 1
}

mount_data_volume() {
  local dev content uuid
  if mountpoint -q "$DATA_DIR"; then return 0; fi
  if ! dev="$(find_data_device)"; then
    log "data volume $DATA_VOLUME_ID is not attached; not starting without it"
    exit 1
  fi
  content="$(probe_data_device "$dev")" || exit 1
  if [[ "$content" == blank ]]; then
    log "formatting the blank data volume $dev"
    mkfs.xfs -q -L "$data_label" "$dev"
  fi
  uuid="$(blkid -p -s UUID -o value "$dev")"
  mkdir -p "$DATA_DIR"
  # nofail: a lost volume must not drop the host into emergency mode (Session Manager stays
  # reachable); openwebui.service's RequiresMountsFor= keeps the UI off the root disk.
  if ! grep -q "^UUID=$uuid " "$fstab"; then
    printf 'UUID=%s %s xfs defaults,nofail,x-systemd.device-timeout=30s 0 2\n' "$uuid" "$DATA_DIR" >>"$fstab"
    systemctl daemon-reload
  fi
  mount "$DATA_DIR"
  log "data volume $dev mounted on $DATA_DIR"
}

read_parameter() {
  aws ssm get-parameter --region "$1" --with-decryption --name "$2" --query Parameter.Value --output text
}

write_env_file() {
  local region name parameter value
  region="$(retry imds meta-data/placement/region)"
  umask 077
  {
    cat "$conf_dir/public.env"
    while IFS='=' read -r name parameter; do
      [[ -n "$name" ]] || continue
      value="$(retry read_parameter "$region" "$parameter")"
      printf '%s=%s\n' "$name" "$value"
    done <"$conf_dir/secret-parameters"
  } >"$conf_dir/openwebui.env.new"
  mv "$conf_dir/openwebui.env.new" "$conf_dir/openwebui.env"
  log "environment written (secrets read from SSM)"
}

seed_data_volume() {
  # The image keeps its model caches (embeddings, whisper, tiktoken) under /app/backend/data,
  # which the bind mount hides: copy what is missing, as docker does for a new named volume,
  # never overwriting what is there (offline mode cannot download them again).
  docker run --rm --entrypoint sh --volume "$DATA_DIR:/seed" "$IMAGE" \
    -c 'tar -C /app/backend/data -cf - . | tar -C /seed -xf - --skip-old-files'
  log "data volume seeded from $IMAGE (existing files kept)"
}

write_proxy_config() {
  local region secret state_dir="${RUNTIME_DIRECTORY:-/run/openwebui-proxy}"
  region="$(retry imds meta-data/placement/region)"
  secret="$(retry read_parameter "$region" "$ORIGIN_SECRET_PARAMETER")"
  # It goes inside a quoted nginx string: letters and digits only, as the stack generates it.
  if [[ ! "$secret" =~ ^[A-Za-z0-9]{32,}$ ]]; then
    log "the origin secret in $ORIGIN_SECRET_PARAMETER is not 32+ letters and digits; not starting the proxy"
    exit 1
  fi
  umask 077
  # shellcheck disable=SC2016 # nginx variables, not shell ones
  printf 'map $http_x_origin_verify $origin_verified {\n    default 0;\n    "%s" 1;\n}\n' "$secret" \
    >"$conf_dir/origin-secret.conf.new"
  mv "$conf_dir/origin-secret.conf.new" "$conf_dir/origin-secret.conf"
  sed -e "s|@STATE_DIR@|$state_dir|g" -e "s|@CONF_DIR@|$conf_dir|g" \
    -e "s|@LISTEN@|$UI_PORT|g" -e "s|@CONTAINER_PORT@|$CONTAINER_PORT|g" \
    "$conf_dir/nginx.conf.in" >"$conf_dir/nginx.conf"
  nginx -t -q -e stderr -c "$conf_dir/nginx.conf"
  log "proxy configuration written (origin secret read from SSM)"
}

prepare() {
  mount_data_volume
  write_env_file
  # systemd reruns this before every restart: a registry outage must not keep a cached image down.
  retry docker pull --quiet "$IMAGE" >/dev/null || docker image inspect "$IMAGE" >/dev/null
  seed_data_volume
  docker rm -f open-webui >/dev/null 2>&1 || true
}

run_container() {
  # The last guard: systemd orders the unit after the mount, and this refuses the root disk anyway.
  if ! mountpoint -q "$DATA_DIR"; then
    log "$DATA_DIR is not mounted; not starting OpenWebUI on the root disk"
    exit 1
  fi
  log "starting open-webui from $IMAGE"
  # No docker restart policy: after a reboot docker would start it before the volume is mounted.
  exec docker run --rm --name open-webui --restart no \
    --publish "127.0.0.1:$CONTAINER_PORT:$CONTAINER_PORT" \
    --volume "$DATA_DIR:/app/backend/data" \
    --env-file "$conf_dir/openwebui.env" \
    --health-cmd "curl -fsS http://localhost:$CONTAINER_PORT/health || exit 1" \
    --health-interval 30s --health-timeout 5s --health-retries 5 --health-start-period 3m \
    --log-opt max-size=10m --log-opt max-file=3 \
    "$IMAGE"
}

main() {
  # shellcheck source=/dev/null
  source "$conf_dir/host.conf" # IMAGE, DATA_VOLUME_ID, DATA_DIR, UI_PORT, CONTAINER_PORT, ORIGIN_SECRET_PARAMETER
  case "${1:-}" in
    prepare) prepare ;;
    run) run_container ;;
    stop) docker stop --time 30 open-webui >/dev/null 2>&1 || true ;;
    proxy-prepare) write_proxy_config ;;
    proxy) exec nginx -e stderr -c "$conf_dir/nginx.conf" -g 'daemon off;' ;;
    *)
      log "usage: openwebui-start prepare|run|stop|proxy-prepare|proxy"
      exit 2
      ;;
  esac
}

# Run when executed; when sourced (the tests), only define the functions.
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  main "$@"
fi
