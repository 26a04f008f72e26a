#!/bin/sh
# Render /opt/bankcc/templates/*.conf ({{NAME}} placeholders) from the environment
# into $ETC_DIR, the same templates the local setup renders in common/asterisk.py.
set -eu
: "${ETC_DIR:=/etc/bankcc}" "${RUN_DIR:=/var/run/asterisk}" "${LOG_DIR:=/var/log/asterisk}"
: "${SPOOL_DIR:=/var/spool/asterisk}" "${DB_DIR:=/var/lib/asterisk}"
: "${SIP_BIND:=0.0.0.0}" "${SIP_PORT:=5060}" "${RTP_START:=10000}" "${RTP_END:=10999}"
: "${AMI_BIND:=0.0.0.0}" "${AMI_PORT:=5038}" "${AMI_USER:=bankcc}" "${AMI_PERMIT:=0.0.0.0/0.0.0.0}"
: "${AGI_HOST:=app}" "${AGI_PORT:=4573}" "${SOFTPHONE_PASSWORD:=softphone-demo}"
: "${AMI_SECRET:?AMI_SECRET must be set}"
export ETC_DIR RUN_DIR LOG_DIR SPOOL_DIR DB_DIR SIP_BIND SIP_PORT RTP_START RTP_END AMI_BIND AMI_PORT \
       AMI_USER AMI_PERMIT AMI_SECRET AGI_HOST AGI_PORT SOFTPHONE_PASSWORD
mkdir -p "$ETC_DIR" "$RUN_DIR" "$LOG_DIR" "$SPOOL_DIR" "$DB_DIR"
for template in /opt/bankcc/templates/*.conf; do
  out="$ETC_DIR/$(basename "$template")"
  cp "$template" "$out"
  for name in ETC_DIR RUN_DIR LOG_DIR SPOOL_DIR DB_DIR SIP_BIND SIP_PORT RTP_START RTP_END AMI_BIND AMI_PORT \
              AMI_USER AMI_PERMIT AMI_SECRET AGI_HOST AGI_PORT SOFTPHONE_PASSWORD; do
    value=$(printenv "$name")
    sed -i "s|{{$name}}|$value|g" "$out"
  done
  if grep -q '{{[A-Z_]*}}' "$out"; then
    echo "unfilled placeholder in $out: $(grep -o '{{[A-Z_]*}}' "$out" | head -1)" >&2
    exit 1
  fi
done
exec asterisk -C "$ETC_DIR/asterisk.conf" -f -n
