#!/bin/sh
# Run once by the postgres image's entrypoint, when it creates the cluster: the app's own
# role `quiz` (not a superuser) with the password of the Compose secret quiz_db_password,
# and its database `quiz`. The same password is in the secret database_url.
set -eu
password="$(cat /run/secrets/quiz_db_password)"
psql -v ON_ERROR_STOP=1 --username postgres --dbname postgres \
    --set=password="$password" <<'SQL'
CREATE ROLE quiz LOGIN PASSWORD :'password';
CREATE DATABASE quiz OWNER quiz;
SQL
