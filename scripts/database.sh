# Sourced by run-local.sh and test.sh: `ensure_database VAR NAME` leaves in
# VAR (exported) the URL of a MySQL or MariaDB server that answers, with the
# database NAME in its path.
#
# A URL already in VAR is used as it is, and must answer. Otherwise the
# default, root on 127.0.0.1:3306, is used when a server answers there; when
# none does, one is started: `docker compose up -d db` when a Docker engine
# answers, else a private server of the MariaDB or MySQL binaries installed
# here (data in target/database/, on 127.0.0.1:${PRIVATE_DATABASE_PORT:-3307},
# stopped by `stop_database` when the calling script ends). With neither, it
# says which command installs one and fails.

database_answers() {
  local hostport="${1#*://}"
  hostport="${hostport#*@}"
  hostport="${hostport%%/*}"
  local host="${hostport%%:*}" port="${hostport##*:}"
  [ "$port" = "$host" ] && port=3306
  (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null
}

ensure_database() {
  local var=$1 name=$2 given="${!1:-}" url
  if [ -n "$given" ]; then
    database_answers "$given" || {
      echo "No database answers at $var=$given." >&2
      return 1
    }
    export "$var=$given"
    return 0
  fi
  url="mysql://root@127.0.0.1:3306/$name"
  if ! database_answers "$url"; then
    if docker info >/dev/null 2>&1; then
      url=$(start_compose_database "$name") || return 1
    elif database_server >/dev/null; then
      start_private_database "$name" || return 1
      url="mysql://root@127.0.0.1:$private_database_port/$name"
    else
      cat >&2 <<'EOF'
No MySQL or MariaDB answers on 127.0.0.1:3306, no Docker engine runs, and no
MariaDB or MySQL server is installed. Install one, then run this again:
  Debian, Ubuntu:  sudo apt-get install mariadb-server
  macOS:           brew install mariadb
or set DATABASE_URL (TEST_DATABASE_URL for the tests) to a server of yours.
EOF
      return 1
    fi
  fi
  export "$var=$url"
}

start_compose_database() {
  local env_file=.env
  [ -f "$env_file" ] || env_file=.env.example
  echo "Nothing answers on 127.0.0.1:3306: starting MySQL with 'docker compose up -d db' ($env_file)..." >&2
  docker compose --env-file "$env_file" up -d --wait db >&2 || return 1
  local password
  password=$(sed -n 's/^MYSQL_ROOT_PASSWORD=//p' "$env_file")
  printf 'mysql://root:%s@127.0.0.1:3306/%s\n' "$password" "$1"
}

database_server() {
  command -v mariadbd || command -v mysqld || ls /usr/sbin/mariadbd /usr/sbin/mysqld 2>/dev/null | head -n 1
}

start_private_database() {
  local server dir data user
  server=$(database_server)
  dir="$PWD/target/database"
  data="$dir/data"
  user=$(id -un)
  private_database_port="${PRIVATE_DATABASE_PORT:-3307}"
  mkdir -p "$dir"
  if [ ! -d "$data/mysql" ]; then
    echo "Nothing answers on 127.0.0.1:3306: creating a private server in target/database/ ($server)..." >&2
    if command -v mariadb-install-db >/dev/null; then
      mariadb-install-db --no-defaults --datadir="$data" --user="$user" \
        --auth-root-authentication-method=normal --skip-test-db >"$dir/install.log" 2>&1
    else
      "$server" --no-defaults --initialize-insecure --datadir="$data" --user="$user" >"$dir/install.log" 2>&1
    fi || {
      cat "$dir/install.log" >&2
      return 1
    }
  fi
  echo "Starting the private database server on 127.0.0.1:$private_database_port..." >&2
  "$server" --no-defaults --datadir="$data" --user="$user" --bind-address=127.0.0.1 \
    --port="$private_database_port" --socket="$dir/server.sock" --pid-file="$dir/server.pid" \
    --character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci >"$dir/server.log" 2>&1 &
  private_database_pid=$!
  local client
  client=$(command -v mariadb || command -v mysql)
  for _ in $(seq 1 120); do
    if "$client" --socket="$dir/server.sock" -uroot -e 'SELECT 1' >/dev/null 2>&1; then
      # Root without a password over TCP from 127.0.0.1, as on a fresh
      # developer install; the server listens on the loopback only.
      "$client" --socket="$dir/server.sock" -uroot -e \
        "CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY ''; GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION; CREATE DATABASE IF NOT EXISTS \`$1\`;"
      return 0
    fi
    kill -0 "$private_database_pid" 2>/dev/null || break
    sleep 0.5
  done
  echo "The private database server did not start (target/database/server.log):" >&2
  tail -n 20 "$dir/server.log" >&2
  return 1
}

stop_database() {
  [ -n "${private_database_pid:-}" ] || return 0
  kill "$private_database_pid" 2>/dev/null || true
  wait "$private_database_pid" 2>/dev/null || true
  private_database_pid=
}

# Runs the mariadb (or mysql) client against the server of URL, with the
# remaining arguments.
database_client() {
  local rest="${1#*://}"
  shift
  local credentials="" hostport="${rest%%/*}"
  if [[ "$hostport" == *@* ]]; then
    credentials="${hostport%@*}"
    hostport="${hostport##*@}"
  fi
  local user="${credentials%%:*}" password=""
  [[ "$credentials" == *:* ]] && password="${credentials#*:}"
  local host="${hostport%%:*}" port="${hostport##*:}"
  [ "$port" = "$host" ] && port=3306
  local client
  client=$(command -v mariadb || command -v mysql) || {
    echo "No mariadb or mysql client is installed." >&2
    return 1
  }
  MYSQL_PWD="$password" "$client" --protocol=tcp -h"$host" -P"$port" -u"${user:-root}" "$@"
}
