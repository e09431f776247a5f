#!/usr/bin/env bash
# Makes the certificates RaftTLS's tests, raftkv's TLS tests and transport-bench's TLS runs use:
#
#   ca.pem                 the cluster's certificate authority (its key is thrown away)
#   node-{1,2,3}.pem/.key  node certificates signed by it, for client and server use, naming
#                          node-N, localhost and 127.0.0.1 (so dialing 127.0.0.1 verifies)
#   renewed-1.pem/.key     a second certificate for node 1 from a second authority, renewed-ca.pem,
#                          for the reload test
#   other-ca.pem, rogue.pem/.key   an authority nobody trusts and a certificate from it
#   expired.pem/.key       signed by ca.pem, but valid only in 2020
#   outsider.pem/.key      signed by ca.pem, naming only "outsider" (for allow-list refusals)
#
# Everything but expired.pem is valid for 100 years. Usage: scripts/make-test-certificates.sh [DIR]
# (default: Tests/RaftTLSTests/Fixtures). Needs the openssl command.
set -euo pipefail
out=${1:-"$(cd "$(dirname "$0")/.." && pwd)/Tests/RaftTLSTests/Fixtures"}
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
days=36500

authority() { # name subject
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days "$days" \
        -subj "/CN=$2" -keyout "$work/$1.key" -out "$out/$1.pem" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
}

# leaf NAME CA SUBJECT SAN [openssl-ca date options...]
leaf() {
    local name=$1 ca=$2 subject=$3 san=$4
    shift 4
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$subject" \
        -keyout "$out/$name.key" -out "$work/$name.csr" 2>/dev/null
    cat >"$work/$name.ext" <<EXT
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth,clientAuth
subjectAltName=$san
EXT
    mkdir -p "$work/db-$name"
    : >"$work/db-$name/index.txt"
    cat >"$work/$name.cnf" <<CNF
[ ca ]
default_ca = leaf
[ leaf ]
database = $work/db-$name/index.txt
new_certs_dir = $work/db-$name
certificate = $out/$ca.pem
private_key = $work/$ca.key
default_md = sha256
policy = anything
email_in_dn = no
copy_extensions = none
unique_subject = no
rand_serial = yes
[ anything ]
commonName = supplied
CNF
    openssl ca -batch -notext -config "$work/$name.cnf" -in "$work/$name.csr" -out "$out/$name.pem" \
        -extfile "$work/$name.ext" "$@" 2>/dev/null
}

authority ca "swift-raft test CA"
authority renewed-ca "swift-raft test CA (renewed)"
authority other-ca "an authority nobody trusts"
for n in 1 2 3; do
    leaf "node-$n" ca "node-$n" "DNS:node-$n,DNS:localhost,IP:127.0.0.1" -days "$days"
done
leaf renewed-1 renewed-ca node-1 "DNS:node-1,DNS:localhost,IP:127.0.0.1" -days "$days"
leaf rogue other-ca node-1 "DNS:node-1,DNS:localhost,IP:127.0.0.1" -days "$days"
leaf expired ca node-1 "DNS:node-1,DNS:localhost,IP:127.0.0.1" -startdate 20200101000000Z -enddate 20201231000000Z
leaf outsider ca outsider "DNS:outsider" -days "$days"
echo "certificates written to $out"
