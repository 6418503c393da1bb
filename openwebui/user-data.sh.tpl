#!/bin/bash
# First boot of the OpenWebUI host. Rendered by components/chat_ui_host.py; see openwebui/user_data.py.
# It holds no secret (EC2 keeps user data in plain text): the host reads the API key, the admin
# password, WEBUI_SECRET_KEY and CloudFront's origin secret from SSM with its instance role, at every
# boot (openwebui.service, openwebui-proxy.service).
set -euo pipefail
exec >>/var/log/openwebui-setup.log 2>&1
echo "$(date -Is) user data: start"

# The network may not be up yet (the Elastic IP is attached while this runs): retry, don't give up.
# wipefs (util-linux, in AL2023's default AMI) is what tells a blank data volume from a used one.
for attempt in 1 2 3 4 5 6 7 8 9 10; do
  command -v docker >/dev/null 2>&1 && command -v nginx >/dev/null 2>&1 && command -v wipefs >/dev/null 2>&1 && break
  dnf install -y -q docker nginx util-linux && break
  echo "$(date -Is) user data: dnf install docker nginx util-linux failed (attempt $attempt); retrying"
  sleep $((attempt * 6))
done
for tool in docker nginx wipefs; do
  command -v "$tool" >/dev/null 2>&1 || { echo "$(date -Is) user data: $tool could not be installed"; exit 1; }
done
systemctl enable --now docker

install -d -m 0700 /etc/openwebui

cat >/etc/openwebui/host.conf <<'CONF'
IMAGE={{ image }}
DATA_VOLUME_ID={{ data_volume_id }}
DATA_DIR=/srv/openwebui
UI_PORT={{ ui_port }}
CONTAINER_PORT={{ container_port }}
ORIGIN_SECRET_PARAMETER={{ origin_secret_parameter }}
CONF

cat >/etc/openwebui/public.env <<'ENV'
{{ public_env }}
ENV

# NAME=SSM parameter name; the values are read at boot, never written here.
cat >/etc/openwebui/secret-parameters <<'PARAMETERS'
{{ secret_parameters }}
PARAMETERS

cat >/usr/local/sbin/openwebui-start <<'SCRIPT'
{{ start_script }}
SCRIPT
chmod 0755 /usr/local/sbin/openwebui-start

# nginx's configuration; openwebui-start fills in the ports, paths and the origin secret.
cat >/etc/openwebui/nginx.conf.in <<'NGINX'
{{ nginx_conf }}
NGINX

# Systemd runs the container (no docker restart policy), after the data volume is mounted.
cat >/etc/systemd/system/openwebui.service <<'UNIT'
{{ openwebui_unit }}
UNIT

cat >/etc/systemd/system/openwebui-proxy.service <<'UNIT'
{{ proxy_unit }}
UNIT

systemctl daemon-reload
systemctl enable openwebui.service openwebui-proxy.service
systemctl start --no-block openwebui.service openwebui-proxy.service

for _ in $(seq 1 60); do
  if curl -fsS "http://127.0.0.1:{{ container_port }}/health" >/dev/null 2>&1; then
    echo "$(date -Is) user data: OpenWebUI is healthy"
    exit 0
  fi
  sleep 10
done
echo "$(date -Is) user data: OpenWebUI not healthy yet; see journalctl -u openwebui"
