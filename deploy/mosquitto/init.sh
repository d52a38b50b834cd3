#!/bin/sh
# One-shot init for docker-compose.yml: the broker's password file with the three service
# accounts (passwords from .env) and any device accounts already added. Device accounts
# (username = device id) are added later with
#   docker compose exec mosquitto mosquitto_passwd -b /mosquitto/config/passwd DEVICE PASSWORD
# followed by `docker compose kill -s HUP mosquitto`; the ACL lets each device use only its
# own topics, as on the local stack.
set -eu
PASSWD=/mosquitto/config/passwd
: "${MQTT_INGEST_PASSWORD:?set it in .env}"
: "${MQTT_NOTIFIER_PASSWORD:?set it in .env}"
: "${MQTT_MONITOR_PASSWORD:?set it in .env}"
touch "$PASSWD"
mosquitto_passwd -b "$PASSWD" _ingest "$MQTT_INGEST_PASSWORD"
mosquitto_passwd -b "$PASSWD" _notifier "$MQTT_NOTIFIER_PASSWORD"
mosquitto_passwd -b "$PASSWD" _monitor "$MQTT_MONITOR_PASSWORD"
chown mosquitto:mosquitto "$PASSWD"
chmod 0600 "$PASSWD"
cp /mosquitto/init/mosquitto.conf /mosquitto/config/mosquitto.conf
echo "mosquitto accounts written"
