#!/usr/bin/env sh
# Writes ./secrets beside docker-compose.yml: random passwords for the database roles, the JWT key,
# the database URLs and PgBouncer's user list made from them (so they agree), and the Twilio auth
# token (from TWILIO_AUTH_TOKEN, or asked for). A file that is already there is kept: run it again
# after adding a secret, never to rotate one (README, "Production").
set -eu
cd "$(dirname "$0")/../.."
umask 077
mkdir -p secrets
# The folder is the owner's alone; its files are readable by the containers' own users, which
# compose mounts them for (one file at a time, so the folder's mode does not stop them).
chmod 700 secrets

put() {  # put NAME VALUE: write secrets/NAME unless it exists
  if [ ! -e "secrets/$1" ]; then
    printf '%s\n' "$2" > "secrets/$1"
    chmod 644 "secrets/$1"
    echo "wrote secrets/$1"
  fi
}
random() { openssl rand -hex 32; }

put postgres_password "$(random)"
put renewals_owner_password "$(random)"
put renewals_app_password "$(random)"
put temporal_db_password "$(random)"
put jwt_secret "$(random)"
owner=$(cat secrets/renewals_owner_password)
app=$(cat secrets/renewals_app_password)
put owner_database_url "postgresql://renewals_owner:${owner}@postgres:5432/renewals"
put database_url "postgresql://renewals_app:${app}@pgbouncer:6432/renewals"
put pgbouncer_userlist "\"renewals_app\" \"${app}\""
if [ ! -e secrets/twilio_auth_token ]; then
  token=${TWILIO_AUTH_TOKEN:-}
  if [ -z "$token" ]; then
    printf 'Twilio auth token (Twilio console, Account info): '
    stty -echo 2>/dev/null || true
    read -r token
    stty echo 2>/dev/null || true
    echo
  fi
  put twilio_auth_token "$token"
fi
