"""Certificates, the bearer token and the kubeconfig of a data directory.

Why this exists: kubectl talks HTTPS and authenticates; ``orlop up`` must work on a
fresh machine with no setup.  On first start we generate a CA, a server certificate
signed by it (for localhost, the host name and the loopback addresses, plus any extra
names asked for), and a random admin token; then we write ``DIR/kubeconfig`` that
trusts the CA and carries the token.  Later starts reuse all of it, so kubeconfigs
handed out earlier keep working.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import os
import secrets
import socket
import ssl
from dataclasses import dataclass

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass
class Credentials:
    ca_cert: str          # paths
    server_cert: str
    server_key: str
    token: str            # the admin bearer token

    def ssl_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(self.server_cert, self.server_key)
        ctx.set_alpn_protocols(["http/1.1"])
        return ctx


def _write_private(path: str, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn), x509.NameAttribute(NameOID.ORGANIZATION_NAME, "orlop")])


def _make_ca(pki: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(_name("orlop-ca")).issuer_name(_name("orlop-ca"))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
            .sign(key, hashes.SHA256()))
    _write_private(os.path.join(pki, "ca.key"), _key_pem(key))
    _write_private(os.path.join(pki, "ca.crt"), cert.public_bytes(serialization.Encoding.PEM))
    return cert, key


def _load_ca(pki: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    with open(os.path.join(pki, "ca.crt"), "rb") as f:
        cert = x509.load_pem_x509_certificate(f.read())
    with open(os.path.join(pki, "ca.key"), "rb") as f:
        key = serialization.load_pem_private_key(f.read(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return cert, key


def _server_sans(extra: list[str]) -> list[x509.GeneralName]:
    names = {"localhost", socket.gethostname(), *extra}
    out: list[x509.GeneralName] = []
    for n in sorted(names):
        try:
            out.append(x509.IPAddress(ipaddress.ip_address(n)))
        except ValueError:
            out.append(x509.DNSName(n))
    for ip in ("127.0.0.1", "::1"):
        if ip not in names:
            out.append(x509.IPAddress(ipaddress.ip_address(ip)))
    return out


def _sans_of(cert: x509.Certificate) -> set[str]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    return {str(v) for v in ext.get_values_for_type(x509.DNSName)} | {
        str(v) for v in ext.get_values_for_type(x509.IPAddress)}


def _make_server(pki: str, ca: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey, extra: list[str]) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(_name("orlop-apiserver")).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=825))
            .add_extension(x509.SubjectAlternativeName(_server_sans(extra)), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(ca_key, hashes.SHA256()))
    _write_private(os.path.join(pki, "server.key"), _key_pem(key))
    _write_private(os.path.join(pki, "server.crt"), cert.public_bytes(serialization.Encoding.PEM))


def ensure_credentials(data_dir: str, extra_names: list[str] | None = None) -> Credentials:
    """Create (first start) or load (later starts) the CA, server certificate and token."""
    extra = list(extra_names or [])
    pki = os.path.join(data_dir, "pki")
    os.makedirs(pki, mode=0o700, exist_ok=True)
    if os.path.exists(os.path.join(pki, "ca.crt")):
        ca, ca_key = _load_ca(pki)
    else:
        ca, ca_key = _make_ca(pki)
    server_crt = os.path.join(pki, "server.crt")
    need_server = not os.path.exists(server_crt)
    if not need_server:
        with open(server_crt, "rb") as f:
            cur = x509.load_pem_x509_certificate(f.read())
        wanted = {str(n.value) for n in _server_sans(extra)}
        expires = cur.not_valid_after_utc
        need_server = not wanted <= _sans_of(cur) or expires < datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=30)
    if need_server:
        _make_server(pki, ca, ca_key, extra)
    token_path = os.path.join(pki, "admin.token")
    if not os.path.exists(token_path):
        _write_private(token_path, secrets.token_urlsafe(32).encode())
    with open(token_path) as f:
        token = f.read().strip()
    return Credentials(os.path.join(pki, "ca.crt"), server_crt, os.path.join(pki, "server.key"), token)


def write_kubeconfig(path: str, creds: Credentials, server_url: str, context: str = "orlop") -> None:
    with open(creds.ca_cert, "rb") as f:
        ca_data = base64.b64encode(f.read()).decode()
    cfg = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": context, "cluster": {"server": server_url, "certificate-authority-data": ca_data}}],
        "users": [{"name": "admin", "user": {"token": creds.token}}],
        "contexts": [{"name": context, "context": {"cluster": context, "user": "admin", "namespace": "default"}}],
        "current-context": context,
        "preferences": {},
    }
    tmp = path + ".tmp"
    _write_private(tmp, yaml.safe_dump(cfg, sort_keys=False).encode())
    os.replace(tmp, path)
