#!/bin/bash
# Makes the certificates the TLS tests of the debug port use, in DIR (created if missing), with the openssl CLI:
#   ca.pem               the client and server CA (ca.key)
#   server.pem/.key      CN=roamd-debug, SAN IP:127.0.0.1, IP:192.0.2.1, DNS:roamd.test (signed by ca)
#   client.pem/.key      CN=operator, SAN DNS:operator.test, clientAuth (signed by ca)
#   intruder.pem/.key    CN=intruder, clientAuth (signed by ca: trusted, but not in a names list)
#   expired.pem/.key     CN=operator, valid only in January 2020 (signed by ca)
#   other-ca.pem         another CA; stranger.pem/.key: CN=operator signed by it
#   server-expired.pem/.key  like server, valid only in January 2020 (signed by ca)
#   server.pin           base64 SHA-256 of server.pem's SubjectPublicKeyInfo (a DoT pin)
# Usage: make_certs.sh DIR
set -euo pipefail
dir=${1:?usage: make_certs.sh DIR}
mkdir -p "$dir"
cd "$dir"

key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.key" 2>/dev/null; }

ca() {  # ca NAME CN
  key "$1"
  openssl req -x509 -new -key "$1.key" -subj "/CN=$2" -days 30 -out "$1.pem" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
}

leaf() {  # leaf NAME CN ISSUER EXTENSIONS [openssl ca date options]: signed with `openssl ca` (dates can be set)
  local name=$1 cn=$2 issuer=$3 ext=$4
  shift 4
  key "$name"
  openssl req -new -key "$name.key" -subj "/CN=$cn" -out "$name.csr"
  mkdir -p "ca-$issuer"
  : > "ca-$issuer/index.txt"
  cat > "ca-$issuer/cnf" <<CNF
[ca]
default_ca = this
[this]
dir = ca-$issuer
database = ca-$issuer/index.txt
new_certs_dir = ca-$issuer
certificate = $issuer.pem
private_key = $issuer.key
default_md = sha256
policy = any
rand_serial = yes
unique_subject = no
copy_extensions = none
[any]
commonName = supplied
[ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
$ext
CNF
  openssl ca -batch -notext -config "ca-$issuer/cnf" -extensions ext -in "$name.csr" -out "$name.pem" "$@" \
    2>/dev/null
  rm -f "$name.csr"
}

client_ext='extendedKeyUsage = clientAuth'
ca ca "roamd test CA"
ca other-ca "another CA"
leaf server roamd-debug ca "extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, IP:192.0.2.1, DNS:roamd.test" -days 30
leaf client operator ca "$client_ext
subjectAltName = DNS:operator.test" -days 30
leaf intruder intruder ca "$client_ext" -days 30
leaf expired operator ca "$client_ext" -startdate 20200101000000Z -enddate 20200131000000Z
leaf stranger operator other-ca "$client_ext" -days 30
leaf server-expired roamd-debug ca "extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, IP:192.0.2.1, DNS:roamd.test" -startdate 20200101000000Z -enddate 20200131000000Z
openssl x509 -in server.pem -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary |
  openssl base64 -A > server.pin
rm -rf ca-ca ca-other-ca
