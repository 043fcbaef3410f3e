"""LoadBalancer addresses: MetalLB's allocation and layer-2 announcement (pure), and the
speaker that answers ARP in a node."""
