#!/bin/sh
# A lab CA and a server certificate for 127.0.0.1 and localhost, with the
# extensions strict verifiers require (Python >= 3.13 sets VERIFY_X509_STRICT:
# a CA with critical basicConstraints and keyCertSign, a leaf with an
# authority key identifier and serverAuth).
set -eu
dir=$1
mkdir -p "$dir"; cd "$dir"
cat > ca.cnf <<'CNF'
[req]
distinguished_name = dn
x509_extensions = v3_ca
prompt = no
[dn]
CN = buildfleet lab CA
[v3_ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
CNF
openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -config ca.cnf \
  -keyout ca.key -out ca.crt 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout server.key -out server.csr 2>/dev/null
cat > ext.cnf <<'CNF'
subjectAltName = IP:127.0.0.1,DNS:localhost
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
CNF
openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 \
  -extfile ext.cnf -out server.crt 2>/dev/null
rm -f server.csr ext.cnf ca.cnf ca.srl
chmod 0600 ca.key server.key
