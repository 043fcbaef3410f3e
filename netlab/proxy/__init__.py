"""Pure rule renderers, one module per kube-proxy mode."""
