"""netlab: real Kubernetes-style networking on one Linux machine."""
