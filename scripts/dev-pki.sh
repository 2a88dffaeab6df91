#!/usr/bin/env bash
# A throw-away PKI and token issuer for trying TLS, mutual TLS and JWT on one machine
# (README "Security"). NOT for production: a hospital uses its own CA and the EMR's token
# issuer. Needs openssl and python3 (standard library only).
#
#   scripts/dev-pki.sh DIR            # CA, server cert (localhost), client cert (emr.local),
#                                     # the issuer's EC key, a cdssd config using them
#   scripts/dev-pki.sh DIR token [SCOPE]   # print a fresh ES256 token (new jti each time)
set -euo pipefail
dir=${1:?usage: scripts/dev-pki.sh DIR [token [SCOPE]]}
mkdir -p "$dir"
cd "$dir"
iss="https://emr.local/"
aud="https://cdssd.local/"

if [ "${2:-}" = token ]; then
  python3 - "$iss" "$aud" "${3:-}" <<'PY'
import base64, json, subprocess, sys, time, uuid
iss, aud, scope = sys.argv[1], sys.argv[2], sys.argv[3]
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
now = int(time.time())
claims = {"iss": iss, "aud": aud, "sub": "dev-emr", "tenant": "dev-hospital", "iat": now, "exp": now + 300,
          "jti": str(uuid.uuid4())}
if scope:
    claims["scope"] = scope
signing_input = (b64(json.dumps({"alg": "ES256", "typ": "JWT"}).encode()) + "." +
                 b64(json.dumps(claims).encode())).encode()
der = subprocess.run(["openssl", "dgst", "-sha256", "-sign", "issuer.key"], input=signing_input,
                     capture_output=True, check=True).stdout
# DER ECDSA-Sig-Value (SEQUENCE { INTEGER r, INTEGER s }) -> JWS raw r || s, 32 bytes each.
def ints(d):
    i, out = 2 if d[1] < 0x80 else 2 + (d[1] & 0x7F), []
    while i < len(d):
        n = d[i + 1]
        out.append(int.from_bytes(d[i + 2:i + 2 + n], "big"))
        i += 2 + n
    return out
r, s = ints(der)
print(signing_input.decode() + "." + b64(r.to_bytes(32, "big") + s.to_bytes(32, "big")))
PY
  exit 0
fi

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj "/CN=cdssd dev CA" \
  -keyout ca.key -out ca.crt 2>/dev/null
leaf() { # name san
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$1" -keyout "$1.key" -out "$1.csr" 2>/dev/null
  printf 'subjectAltName=%s\n' "$2" > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 -extfile "$1.ext" -out "$1.crt" 2>/dev/null
  rm -f "$1.csr" "$1.ext"
}
leaf server "DNS:localhost,IP:127.0.0.1"
leaf client "DNS:emr.local"
openssl ecparam -name prime256v1 -genkey -noout 2>/dev/null | openssl pkcs8 -topk8 -nocrypt -out issuer.key
openssl ec -in issuer.key -pubout -out issuer.pem 2>/dev/null
chmod 600 ./*.key
cat > cdssd.toml <<EOF
# cdssd with TLS, mutual TLS and JWT on every listener (scripts/dev-pki.sh; local use only).
[tls]
cert_file = "$PWD/server.crt"
key_file = "$PWD/server.key"
client_ca_file = "$PWD/ca.crt"
allowed_clients = ["emr.local"]

[auth]
mode = "jwt"

[[auth.issuers]]
issuer = "$iss"
audience = "$aud"
keys_file = "$PWD/issuer.pem"
algorithms = ["ES256"]
EOF
echo "dev PKI in $PWD: ca.crt, server.{crt,key}, client.{crt,key} (SAN emr.local), issuer.{key,pem}, cdssd.toml"
