"""A self-signed certificate for the lab's API server, made with openssl (argv, no shell)."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence

from netlab.errors import NetlabError
from netlab.kernel.run import require_tool


def self_signed(cert: str, key: str, names: Sequence[str], ips: Sequence[str],
                subject: str = "/CN=kube-apiserver") -> None:
    """CERT and KEY (mode 0600) for SUBJECT with NAMES and IPS as its alt names."""
    alt = ",".join([*(f"DNS:{n}" for n in names), *(f"IP:{ip}" for ip in ips)])
    argv = [require_tool("openssl"), "req", "-x509", "-newkey", "ec", "-pkeyopt",
            "ec_paramgen_curve:prime256v1", "-nodes", "-days", "365", "-subj",
            subject, "-addext", f"subjectAltName={alt}", "-keyout", key,
            "-out", cert]
    r = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=60)
    if r.returncode != 0:
        raise NetlabError(f"openssl could not make the certificate {subject}: "
                          f"{r.stderr.strip().splitlines()[-1] if r.stderr.strip() else ''}")
