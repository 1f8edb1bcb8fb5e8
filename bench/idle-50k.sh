#!/bin/bash
# 50,000 idle proxied sessions on one machine (issue 6): postern with 8 workers, 3 fake backends,
# 3 load generators. Each process stays under a 20,000-descriptor hard limit; three client
# addresses and three backend ports keep every address pair under Linux's 28,000 ephemeral ports.
#   bash bench/idle-50k.sh            (after npm run build; needs cc and libssl-dev)
#   PER=5000 HOLD=2 bash bench/idle-50k.sh   (a smaller run)
set -u
REPO=$(cd "$(dirname "$0")/.." && pwd); PER=${PER:-16667}; WORKERS=${WORKERS:-8}
D=$(mktemp -d /tmp/postern-idle50k.XXXX); cd $D
cc -O2 -o loadgen $REPO/bench/loadgen.c -lssl -lcrypto && cc -O2 -o fake-backend $REPO/bench/fake-backend.c || exit 2
B=$((30000 + RANDOM % 2000)); PP=$((B+10)); AP=$((B+11))
for i in 0 1 2; do ./fake-backend $((B+i)) > fb$i.log 2>&1 & echo $! >> fb.pids; done
: > users
for i in 0 1 2; do p=$(printf "\\x$(printf %x $((97+i)))"); for n in $(seq 0 999); do printf "u%s%04d:{PLAIN}pw%04d::::::proxy=y host=127.0.0.1 port=%d\n" $p $n $n $((B+i)) >> users; done; done
cat > cfg.yaml <<Y
process: { workers: $WORKERS }
log: { level: warn }
listen:
  - { protocol: imap, address: 127.0.0.1, port: $PP, tls: none }
  - { protocol: imap, address: 127.0.0.2, port: $PP, tls: none }
  - { protocol: imap, address: 127.0.0.3, port: $PP, tls: none }
login_trusted_networks: [127.0.0.0/8]
limits: { max_connections: 60000 }
auth: { failure_delay: 0, passdb: [{ driver: passwd-file, args: $D/users }] }
Y
node $REPO/bin/postern.js serve -c cfg.yaml > postern.log 2>&1 & PPID_=$!
sleep 3
pids() { echo $PPID_ $(pgrep -P $PPID_); }
rss() { local s=0; for p in $(pids); do s=$((s + $(awk '/^VmRSS/ {print $2}' /proc/$p/status))); done; echo $s; }
fds() { for p in $(pids); do ls /proc/$p/fd | wc -l; done | tr '\n' ' '; }
# Warm-up: every worker runs its login path before memory is read.
./loadgen --mode login --port $PP --conns 20 --duration 3 --warmup 0 --users 1000 --user-prefix ua > /dev/null 2>&1
sleep 1
R0=$(rss); echo "processes: $(pids | wc -w); RSS before: $R0 KiB"
T0=$(date +%s.%N)
for i in 0 1 2; do
  p=$(printf "\\x$(printf %x $((97+i)))")
  mkfifo in$i
  (./loadgen --mode idle --host 127.0.0.$((i+1)) --port $PP --sessions $PER --conns 100 --timeout 300 --users 1000 --user-prefix u$p < in$i > lg$i.out 2>&1) &
  exec {fd}>in$i; eval "FD$i=$fd"
done
for i in 0 1 2; do
  for t in $(seq 1 600); do grep -q '"event":"ready"' lg$i.out 2>/dev/null && break; sleep 0.5; done
done
T1=$(date +%s.%N)
grep -h '"event":"ready"' lg*.out
sleep 3
R1=$(rss); echo "RSS after: $R1 KiB; descriptors per process: $(fds)"
READY=$(grep -h '"event":"ready"' lg*.out | grep -o '"sessions":[0-9]*' | cut -d: -f2 | awk '{s += $1} END {print s}')
awk -v n="$READY" -v t0="$T0" -v t1="$T1" -v r0="$R0" -v r1="$R1" 'BEGIN {printf "sessions: %d in %.1f s; per session: %.2f KiB RSS\n", n, t1 - t0, (r1 - r0) / n}'
sleep ${HOLD:-10}
exec {FD0}>&- {FD1}>&- {FD2}>&-
for t in $(seq 1 60); do [ "$(cat lg*.out | grep -c '"event":"result"')" -ge 3 ] && break; sleep 0.5; done
grep -h '"event":"result"' lg*.out | grep -o '"sessions":[0-9]*,"dropped":[0-9]*'
grep -c '"level":[45]0' postern.log | sed 's/^/postern warn+error lines: /'
grep '"level":[45]0' postern.log | head -3
kill $PPID_; sleep 2; for p in $(cat fb.pids); do kill $p; done
cd /; rm -rf "$D"
