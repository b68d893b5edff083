#!/bin/sh
# Create the missing secret files of the Compose deployment (secrets/README.md): random
# passwords and keys, and the database URL that carries the app's database password.
# Never overwrites a file. The TLS bundle and the Slack webhook URL are yours to provide.
set -eu
cd "$(dirname "$0")/secrets"
chmod 0700 .
umask 0222
create() {  # create NAME COMMAND...: write the command's output to NAME unless it exists
    name="$1"; shift
    if [ ! -e "$name" ]; then
        "$@" > "$name"
        echo "created secrets/$name"
    fi
}
create quiz_db_password openssl rand -hex 32
create postgres_password openssl rand -hex 32
create secret_key openssl rand -hex 32
create redis_password openssl rand -hex 32
create grafana_admin_password openssl rand -hex 16
create database_url sh -c 'printf "postgresql://quiz:%s@postgres:5432/quiz" "$(cat quiz_db_password)"'
chmod 0444 quiz_db_password postgres_password secret_key redis_password \
    grafana_admin_password database_url
for missing in tls_bundle.pem alert_slack_webhook_url; do
    [ -e "$missing" ] || echo "still to provide: secrets/$missing (see secrets/README.md)"
done
