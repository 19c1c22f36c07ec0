"""`stack up --secure`: the local Kafka and Redis with the security a production deployment has.

Beside the plaintext listeners of the ordinary stack, the broker gets a SASL_SSL listener (SCRAM-SHA-512, the
user created when the storage is formatted) and Redis an ACL user, ``requirepass`` and a TLS port, both with a
throwaway CA and server certificate made by ``openssl``. It exists so that the security settings of every
client (see stream_app/connect.py) are exercised against real servers, not assumed.

Ports follow the ordinary stack's: SASL_SSL on KAFKA_BOOTSTRAP's port + 2 (+ 1 is the controller), TLS Redis
on REDIS_URL's port + 1. Certificates, the password and an env file with the client variables stay in
RFM_RUN_DIR/secure (mode 600); what is printed masks the password.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from stream_app.connect import mask_url
from stream_app.errors import StackError
from stream_app.settings import Settings

USER = "rfm"
MECHANISM = "SCRAM-SHA-512"
DAYS = 30


@dataclass(frozen=True)
class Layout:
    """Where the secured stack keeps its certificates and secret, and on which ports it listens."""

    folder: Path
    kafka_port: int  # the plaintext listener (KAFKA_BOOTSTRAP's port)
    redis_port: int  # the password-protected plain port (REDIS_URL's port)

    @classmethod
    def of(cls, s: Settings) -> Layout:
        from stream_app.stack.kafka import bootstrap_address
        from stream_app.stack.redis_server import address

        return cls(s.run_dir / "secure", bootstrap_address(s.kafka_bootstrap)[1], address(s.redis_url)[1])

    sasl_port = property(lambda self: self.kafka_port + 2)
    redis_tls_port = property(lambda self: self.redis_port + 1)
    ca = property(lambda self: self.folder / "ca.pem")
    ca_key = property(lambda self: self.folder / "ca.key")
    cert = property(lambda self: self.folder / "server.pem")
    key = property(lambda self: self.folder / "server.key")
    keystore = property(lambda self: self.folder / "server-keystore.pem")  # key + chain, Kafka's PEM keystore
    secret = property(lambda self: self.folder / "password")
    env_file = property(lambda self: self.folder / "client.env")
    #: present while the servers of this run folder were started with --secure (`down` removes it)
    started = property(lambda self: self.folder / "started")

    @property
    def password(self) -> str:
        return self.secret.read_text().strip()

    def redis_admin_url(self) -> str:
        """The plain port with the password: how `stack up` itself checks that Redis answers."""
        return f"redis://{USER}:{self.password}@127.0.0.1:{self.redis_port}/0"

    def client_env(self) -> dict[str, str]:
        """The variables a client exports to use the secured listeners."""
        return {
            "KAFKA_BOOTSTRAP": f"127.0.0.1:{self.sasl_port}",
            "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "KAFKA_SASL_MECHANISM": MECHANISM,
            "KAFKA_SASL_USERNAME": USER,
            "KAFKA_SASL_PASSWORD": self.password,
            "KAFKA_SSL_CAFILE": str(self.ca),
            "REDIS_URL": f"rediss://{USER}:{self.password}@127.0.0.1:{self.redis_tls_port}/0?ssl_ca_certs={self.ca}",
        }


def prepare(layout: Layout) -> None:
    """Make the CA, the server certificate (localhost, 127.0.0.1) and the password, once per run folder."""
    layout.folder.mkdir(parents=True, exist_ok=True)
    os.chmod(layout.folder, 0o700)
    if not layout.secret.exists():
        layout.secret.write_text(secrets.token_hex(16) + "\n")
        os.chmod(layout.secret, 0o600)
    if not layout.keystore.exists():
        _make_certificates(layout)
    layout.env_file.write_text("".join(f"export {k}='{v}'\n" for k, v in layout.client_env().items()))
    os.chmod(layout.env_file, 0o600)


def _make_certificates(layout: Layout) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        raise StackError("openssl not found: `stack up --secure` makes its certificates with it "
                         "(Debian: apt-get install -y openssl)")
    f = layout.folder
    ext = f / "server.ext"
    ext.write_text("basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n"
                   "extendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n"
                   "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n")
    steps = [
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(layout.ca_key),
         "-out", str(layout.ca), "-days", str(DAYS), "-subj", "/CN=rfm-stream throwaway test CA",
         "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
        [openssl, "req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(layout.key), "-out", str(f / "server.csr"),
         "-subj", "/CN=localhost"],
        [openssl, "x509", "-req", "-in", str(f / "server.csr"), "-CA", str(layout.ca), "-CAkey", str(layout.ca_key),
         "-CAcreateserial", "-out", str(layout.cert), "-days", str(DAYS), "-extfile", str(ext)],
    ]
    for argv in steps:
        out = subprocess.run(argv, capture_output=True, text=True)
        if out.returncode != 0:
            raise StackError(f"openssl failed making the test certificates: {out.stderr.strip()[-300:]}")
    for path in (layout.ca_key, layout.key):
        os.chmod(path, 0o600)
    layout.keystore.write_text(layout.key.read_text() + layout.cert.read_text() + layout.ca.read_text())
    os.chmod(layout.keystore, 0o600)


def kafka_properties(layout: Layout) -> dict[str, str]:
    """What server.properties gains: a SASL_SSL listener, SCRAM-SHA-512, the PEM keystore."""
    p = layout.kafka_port
    return {
        "listeners": f"PLAINTEXT://127.0.0.1:{p},CONTROLLER://127.0.0.1:{p + 1},SASL_SSL://127.0.0.1:{layout.sasl_port}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{p},SASL_SSL://127.0.0.1:{layout.sasl_port}",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL",
        "sasl.enabled.mechanisms": MECHANISM,
        "listener.name.sasl_ssl.sasl.enabled.mechanisms": MECHANISM,
        f"listener.name.sasl_ssl.{MECHANISM.lower()}.sasl.jaas.config":
            "org.apache.kafka.common.security.scram.ScramLoginModule required;",
        "listener.name.sasl_ssl.ssl.keystore.type": "PEM",
        "listener.name.sasl_ssl.ssl.keystore.location": str(layout.keystore),
    }


def kafka_format_args(layout: Layout) -> list[str]:
    """The SCRAM user, created when the storage is formatted (KRaft has no ZooKeeper to add it later)."""
    return ["--add-scram", f"{MECHANISM}=[name={USER},password={layout.password}]"]


def redis_args(layout: Layout) -> list[str]:
    """redis-server arguments: an ACL user and requirepass on the plain port, and a TLS port."""
    pw = layout.password
    return [
        "--requirepass", pw,
        "--user", USER, "on", f">{pw}", "~*", "&*", "+@all",
        "--tls-port", str(layout.redis_tls_port),
        "--tls-cert-file", str(layout.cert), "--tls-key-file", str(layout.key),
        "--tls-ca-cert-file", str(layout.ca), "--tls-auth-clients", "no",
    ]  # fmt: skip


def describe(layout: Layout) -> list[str]:
    """The lines `stack up --secure` prints: the variables, password masked, and the file that exports them."""
    lines = []
    for k, v in layout.client_env().items():
        if k == "KAFKA_SASL_PASSWORD":
            v = "***"
        lines.append(f"{k}={mask_url(v) if k == 'REDIS_URL' else v}")
    lines.append(f"to use them: . {layout.env_file}")
    return lines


__all__ = ["Layout", "prepare", "kafka_properties", "kafka_format_args", "redis_args", "describe", "USER"]
