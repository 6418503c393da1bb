#!/usr/bin/env bash
# Brings OpenWebUI up on the UI host. openwebui.service runs it at every boot, so it is safe to rerun:
# mount the data volume (formatting it only when blank), read the secrets from SSM with the
# instance role into a root-only env file, then (re)create the container from the pinned image.
set -euo pipefail

conf_dir=/etc/openwebui
fstab=/etc/fstab

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

mount_data_volume() {
  local dev rc=0 uuid
  if mountpoint -q "$DATA_DIR"; then return 0; fi
  if ! dev="$(find_data_device)"; then
    log "data volume $DATA_VOLUME_ID is not attached; not starting without it"
    exit 1
  fi
  blkid -p "$dev" >/dev/null 2>&1 || rc=$?
  if ((rc == 2)); then # nothing on it: a new volume
    log "formatting the blank data volume $dev"
    mkfs.xfs -q -L openwebui-data "$dev"
  elif ((rc != 0)); then
    log "cannot probe $dev (blkid exit $rc); not formatting it"
    exit 1
  fi
  uuid="$(blkid -s UUID -o value "$dev")"
  mkdir -p "$DATA_DIR"
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

run_container() {
  retry docker pull --quiet "$IMAGE" >/dev/null
  seed_data_volume
  docker rm -f open-webui >/dev/null 2>&1 || true
  docker run --detach --name open-webui --restart always \
    --publish "$UI_PORT:$CONTAINER_PORT" \
    --volume "$DATA_DIR:/app/backend/data" \
    --env-file "$conf_dir/openwebui.env" \
    --health-cmd "curl -fsS http://localhost:$CONTAINER_PORT/health || exit 1" \
    --health-interval 30s --health-timeout 5s --health-retries 5 --health-start-period 3m \
    --log-opt max-size=10m --log-opt max-file=3 \
    "$IMAGE" >/dev/null
  log "container open-webui started from $IMAGE"
}

main() {
  # shellcheck source=/dev/null
  source "$conf_dir/host.conf" # IMAGE, DATA_VOLUME_ID, DATA_DIR, UI_PORT, CONTAINER_PORT
  mount_data_volume
  write_env_file
  run_container
}

# Run when executed; when sourced (the tests), only define the functions.
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  main "$@"
fi
